// edgeward (the npm package) vs jose, in one Node process, on the same
// tokens. Results go to BENCHMARKS.md ("npm package (Node)").
//
//   node bench/run.mjs [--quick] [--json FILE]
//
// Per algorithm (RS256, PS256, ES256, EdDSA), µs per verification, the
// median of time-boxed batches:
//   uncached   every token new: edgeward `gate.verify` (default config, caches
//              on, so this includes filling them) vs jose `jwtVerify` with a
//              `createLocalJWKSet` (keys imported once, as after
//              `createRemoteJWKSet`'s first fetch). edgeward with node:crypto
//              (the default in Node) and with ring in wasm (`crypto: "wasm"`).
//   repeated   one token verified again and again (edgeward's verdict cache;
//              jose verifies each time: it has no cache).
//   check      edgeward `gate.check(request)` with a repeated token (route
//              policy per request).
// Cold start: a fresh `node` process per sample: import the package, create
// the gate / key set, verify one token (keys from memory, no network).

import crypto from "node:crypto";
import { execFileSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import os from "node:os";
import { fileURLToPath } from "node:url";
import * as jose from "jose";
import { createGate } from "../lib/node.js";

const args = process.argv.slice(2);
const quick = args.includes("--quick");
const jsonOut = args.includes("--json") ? args[args.indexOf("--json") + 1] : null;
const BATCHES = quick ? 7 : 21;
const PER_BATCH = quick ? 20 : 50;
const REPEAT_BATCH = 2000;
const COLD_SAMPLES = quick ? 5 : 15;

const ISSUER = "https://idp.example.com/";
const JWKS_URI = "https://idp.example.com/jwks";
const AUD = "api://orders";
const NOW = Math.floor(Date.now() / 1000);
const b64 = (b) => Buffer.from(b).toString("base64url");

const pairs = {
  rsa: crypto.generateKeyPairSync("rsa", { modulusLength: 2048 }),
  ec: crypto.generateKeyPairSync("ec", { namedCurve: "P-256" }),
  ed: crypto.generateKeyPairSync("ed25519"),
};
const ALGS = [
  { alg: "RS256", kp: "rsa", hash: "sha256", opts: {} },
  { alg: "PS256", kp: "rsa", hash: "sha256", opts: { padding: crypto.constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 } },
  { alg: "ES256", kp: "ec", hash: "sha256", opts: { dsaEncoding: "ieee-p1363" } },
  { alg: "EdDSA", kp: "ed", hash: null, opts: {} },
];
const jwks = {
  keys: ALGS.map(({ alg, kp }) => ({ ...pairs[kp].publicKey.export({ format: "jwk" }), kid: alg.toLowerCase(), alg, use: "sig" })),
};

let serial = 0;
function mint(a) {
  const header = b64(JSON.stringify({ alg: a.alg, kid: a.alg.toLowerCase(), typ: "at+jwt" }));
  const payload = b64(
    JSON.stringify({
      iss: ISSUER,
      aud: AUD,
      sub: `user-${serial}`,
      scope: "orders:read orders:write",
      iat: NOW - 10,
      exp: NOW + 3600,
      jti: `t-${serial++}`,
      client_id: "bench",
    }),
  );
  const input = `${header}.${payload}`;
  const sig = crypto.sign(a.hash, Buffer.from(input), { key: pairs[a.kp].privateKey, ...a.opts });
  return `${input}.${b64(sig)}`;
}

const config = {
  issuers: [{ issuer: ISSUER, jwks_uri: JWKS_URI, audiences: [AUD] }],
  routes: [{ path: "/orders/**", scopes: { any: ["orders:read"] } }],
};
const fetchJwks = async () => new Response(JSON.stringify(jwks), { headers: { "cache-control": "max-age=3600" } });

/** Median µs/op over batches; `run(i)` performs op i (async). */
async function measure(run, perBatch) {
  const times = [];
  let i = 0;
  for (let w = 0; w < perBatch; w++) await run(i++); // warm-up batch
  for (let b = 0; b < BATCHES; b++) {
    const t0 = performance.now();
    for (let k = 0; k < perBatch; k++) await run(i++);
    times.push(((performance.now() - t0) * 1000) / perBatch);
  }
  times.sort((x, y) => x - y);
  return { median: times[times.length >> 1], min: times[0] };
}

const results = [];
for (const a of ALGS) {
  const total = PER_BATCH * (BATCHES + 1);
  const tokens = Array.from({ length: total * 3 }, () => mint(a));
  const gNative = createGate(config, { fetch: fetchJwks });
  const gWasm = createGate(config, { fetch: fetchJwks, crypto: "wasm" });
  await gNative.verify(mint(a));
  await gWasm.verify(mint(a));
  const JWKS = jose.createLocalJWKSet(jwks);
  const opts = { issuer: ISSUER, audience: AUD, algorithms: [a.alg] };
  await jose.jwtVerify(mint(a), JWKS, opts);

  const slice = (n) => tokens.slice(n * total, (n + 1) * total);
  const [tn, tw, tj] = [slice(0), slice(1), slice(2)];
  const r = { alg: a.alg };
  r.joseUncached = await measure((i) => jose.jwtVerify(tj[i], JWKS, opts), PER_BATCH);
  r.ewUncached = await measure((i) => gNative.verify(tn[i]), PER_BATCH);
  r.ewWasmUncached = await measure((i) => gWasm.verify(tw[i]), PER_BATCH);
  const one = tn[0];
  r.joseRepeated = await measure(() => jose.jwtVerify(one, JWKS, opts), PER_BATCH * 4);
  r.ewRepeated = await measure(() => gNative.verify(one), REPEAT_BATCH);
  const req = { method: "GET", path: "/orders/7", headers: { authorization: `Bearer ${one}`, accept: "application/json", "user-agent": "bench" } };
  r.ewCheckRepeated = await measure(() => gNative.check(req), REPEAT_BATCH);
  results.push(r);
  console.error(
    `${a.alg}: uncached jose ${r.joseUncached.median.toFixed(1)} µs, edgeward ${r.ewUncached.median.toFixed(1)} µs (wasm ring ${r.ewWasmUncached.median.toFixed(1)}); ` +
      `repeated jose ${r.joseRepeated.median.toFixed(1)} µs, edgeward ${r.ewRepeated.median.toFixed(2)} µs; check ${r.ewCheckRepeated.median.toFixed(2)} µs`,
  );
}

// Cold start: fresh processes.
const here = fileURLToPath(new URL(".", import.meta.url));
const coldToken = mint(ALGS[0]);
const coldScript = (which) => `
const t0 = performance.now();
const jwks = ${JSON.stringify(jwks)};
const token = ${JSON.stringify(coldToken)};
${
  which === "edgeward"
    ? `const { createGate } = await import(${JSON.stringify(new URL("../lib/node.js", import.meta.url).href)});
const t1 = performance.now();
const gate = createGate(${JSON.stringify(config)}, { fetch: async () => new Response(JSON.stringify(jwks)) });
await gate.verify(token);`
    : `const jose = await import("jose");
const t1 = performance.now();
const JWKS = jose.createLocalJWKSet(jwks);
await jose.jwtVerify(token, JWKS, { issuer: ${JSON.stringify(ISSUER)}, audience: ${JSON.stringify(AUD)}, algorithms: ["RS256"] });`
}
const t2 = performance.now();
console.log(JSON.stringify({ importMs: t1 - t0, totalMs: t2 - t0 }));`;
const cold = {};
for (const which of ["edgeward", "jose"]) {
  const samples = [];
  for (let i = 0; i < COLD_SAMPLES; i++) {
    const out = execFileSync(process.execPath, ["--input-type=module", "-e", coldScript(which)], { cwd: here, encoding: "utf8" });
    samples.push(JSON.parse(out));
  }
  const med = (k) => samples.map((s) => s[k]).sort((x, y) => x - y)[samples.length >> 1];
  cold[which] = { importMs: med("importMs"), totalMs: med("totalMs") };
  console.error(`cold ${which}: import ${cold[which].importMs.toFixed(1)} ms, import + first verify ${cold[which].totalMs.toFixed(1)} ms`);
}

const out = {
  node: process.version,
  cpu: os.cpus()[0]?.model,
  jose: JSON.parse(execFileSync(process.execPath, ["-p", "JSON.stringify(require('jose/package.json').version)"], { cwd: here, encoding: "utf8" })),
  batches: BATCHES,
  perBatch: PER_BATCH,
  results,
  cold,
};
if (jsonOut) writeFileSync(jsonOut, JSON.stringify(out, null, 2) + "\n");
console.log(JSON.stringify(out, null, 2));
