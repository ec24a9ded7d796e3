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
// the gate / key set, verify one token (JWKS over HTTP from this process).

import crypto from "node:crypto";
import { execFile, execFileSync } from "node:child_process";
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

/**
 * Median (and best) µs/op per contender over BATCHES batches of `perBatch`
 * ops, after one warm-up batch. Contenders run one after the other, each
 * for all its batches: interleaving them would put jose's thread-pool
 * round trips right after long synchronous stretches, which made jose
 * measurably slower (up to 1.5x) than it is on its own.
 */
async function measure(contenders, perBatch) {
  const out = {};
  for (const [name, run] of Object.entries(contenders)) {
    const times = [];
    let next = 0;
    for (let b = -1; b < BATCHES; b++) {
      const t0 = performance.now();
      for (let k = 0; k < perBatch; k++) await run(next++);
      if (b >= 0) times.push(((performance.now() - t0) * 1000) / perBatch);
    }
    times.sort((x, y) => x - y);
    out[name] = { median: times[times.length >> 1], min: times[0] };
  }
  return out;
}

// Warm-up: every code path (wasm tiers up from its baseline compiler, JS
// from the interpreter) before anything is timed.
{
  const JWKS = jose.createLocalJWKSet(jwks);
  for (const crypto of ["auto", "wasm"]) {
    const g = createGate(config, { fetch: fetchJwks, crypto });
    for (const a of ALGS) {
      for (let i = 0; i < (quick ? 40 : 150); i++) {
        const t = mint(a);
        await g.verify(t);
        await jose.jwtVerify(t, JWKS, { issuer: ISSUER, audience: AUD, algorithms: [a.alg] });
      }
    }
  }
}

const results = [];
for (const a of ALGS) {
  const total = PER_BATCH * (BATCHES + 1);
  const gNative = createGate(config, { fetch: fetchJwks });
  const gWasm = createGate(config, { fetch: fetchJwks, crypto: "wasm" });
  await gNative.verify(mint(a));
  await gWasm.verify(mint(a));
  const JWKS = jose.createLocalJWKSet(jwks);
  const opts = { issuer: ISSUER, audience: AUD, algorithms: [a.alg] };
  await jose.jwtVerify(mint(a), JWKS, opts);

  // Every token is new to the gate that verifies it.
  const fresh = () => Array.from({ length: total }, () => mint(a));
  const [tn, tw, tj] = [fresh(), fresh(), fresh()];
  // The floor: node:crypto's verify alone on the same signing inputs.
  const pub = crypto.createPublicKey({ key: jwks.keys.find((k) => k.alg === a.alg), format: "jwk" });
  const raw = tj.map((t) => {
    const dot = t.lastIndexOf(".");
    return [Buffer.from(t.slice(0, dot)), Buffer.from(t.slice(dot + 1), "base64url")];
  });
  const u = await measure(
    {
      jose: (i) => jose.jwtVerify(tj[i], JWKS, opts),
      edgeward: (i) => gNative.verify(tn[i]),
      edgewardWasm: (i) => gWasm.verify(tw[i]),
      nodeVerify: (i) => crypto.verify(a.hash, raw[i][0], { key: pub, ...a.opts }, raw[i][1]),
    },
    PER_BATCH,
  );
  const one = tn[0];
  const req = { method: "GET", path: "/orders/7", headers: { authorization: `Bearer ${one}`, accept: "application/json", "user-agent": "bench" } };
  const rj = await measure({ jose: () => jose.jwtVerify(one, JWKS, opts) }, PER_BATCH * 2);
  const re = await measure({ edgeward: () => gNative.verify(one), check: () => gNative.check(req) }, REPEAT_BATCH);
  const r = {
    alg: a.alg,
    joseUncached: u.jose,
    ewUncached: u.edgeward,
    ewWasmUncached: u.edgewardWasm,
    nodeVerify: u.nodeVerify,
    joseRepeated: rj.jose,
    ewRepeated: re.edgeward,
    ewCheckRepeated: re.check,
  };
  results.push(r);
  const f = (x, d = 1) => x.median.toFixed(d);
  console.error(
    `${a.alg}: uncached jose ${f(r.joseUncached)} µs, edgeward ${f(r.ewUncached)} µs (${(r.ewUncached.median / r.joseUncached.median).toFixed(2)}x; wasm ring ${f(r.ewWasmUncached)}); ` +
      `repeated jose ${f(r.joseRepeated)} µs, edgeward ${f(r.ewRepeated, 2)} µs (${(r.joseRepeated.median / r.ewRepeated.median).toFixed(0)}x faster); check ${f(r.ewCheckRepeated, 2)} µs`,
  );
}

// Cold start: a fresh `node` per sample, timed inside it from before the
// import to the first verified token. Keys come over HTTP from a JWKS server
// in this process for both (edgeward's fetch, jose's createRemoteJWKSet), so
// both pay for loading fetch (undici) and one request.
const here = fileURLToPath(new URL(".", import.meta.url));
const coldToken = mint(ALGS[0]);
const http = await import("node:http");
const jwksServer = http.createServer((req, res) => {
  res.setHeader("content-type", "application/json");
  res.setHeader("cache-control", "max-age=600");
  res.end(JSON.stringify(jwks));
});
await new Promise((r) => jwksServer.listen(0, "127.0.0.1", r));
const localIssuer = `http://127.0.0.1:${jwksServer.address().port}`;
const coldConfig = { issuers: [{ issuer: ISSUER, jwks_uri: `${localIssuer}/jwks`, audiences: [AUD] }] };
const coldScript = (which) => `
const t0 = performance.now();
const token = ${JSON.stringify(coldToken)};
${
  which === "edgeward"
    ? `const { createGate } = await import(${JSON.stringify(new URL("../lib/node.js", import.meta.url).href)});
const t1 = performance.now();
const gate = createGate(${JSON.stringify(coldConfig)});
await gate.verify(token);`
    : `const jose = await import("jose");
const t1 = performance.now();
const JWKS = jose.createRemoteJWKSet(new URL(${JSON.stringify(`${localIssuer}/jwks`)}));
await jose.jwtVerify(token, JWKS, { issuer: ${JSON.stringify(ISSUER)}, audience: ${JSON.stringify(AUD)}, algorithms: ["RS256"] });`
}
const t2 = performance.now();
console.log(JSON.stringify({ importMs: t1 - t0, totalMs: t2 - t0 }));`;
const run = (args) =>
  new Promise((resolve, reject) => {
    execFile(process.execPath, args, { cwd: here, encoding: "utf8" }, (err, stdout) => (err ? reject(err) : resolve(stdout)));
  });
const cold = { edgeward: [], jose: [] };
for (let i = 0; i < COLD_SAMPLES; i++) {
  for (const which of ["edgeward", "jose"]) {
    cold[which].push(JSON.parse(await run(["--input-type=module", "-e", coldScript(which)])));
  }
}
jwksServer.close();
for (const which of ["edgeward", "jose"]) {
  const samples = cold[which];
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

// The tables for BENCHMARKS.md.
const f = (x, d = 1) => x.median.toFixed(d);
const lines = [
  `Node ${out.node}, jose ${out.jose}; median µs per verification of ${BATCHES} batches of ${PER_BATCH} (repeated: ${REPEAT_BATCH}).`,
  "",
  "| alg | jose uncached | edgeward uncached | edgeward / jose | edgeward, `crypto: \"wasm\"` | `node:crypto` verify alone | jose repeated token | edgeward repeated token | jose / edgeward | edgeward `check()` repeated |",
  "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
  ...results.map(
    (r) =>
      `| ${r.alg} | ${f(r.joseUncached)} | ${f(r.ewUncached)} | **${(r.ewUncached.median / r.joseUncached.median).toFixed(2)}x** | ${f(r.ewWasmUncached)} | ${f(r.nodeVerify)} | ${f(r.joseRepeated)} | ${f(r.ewRepeated, 2)} | **${(r.joseRepeated.median / r.ewRepeated.median).toFixed(0)}x** | ${f(r.ewCheckRepeated, 2)} |`,
  ),
  "",
  "| cold start (fresh `node`, median of " + COLD_SAMPLES + ") | import | import + create + first verify (JWKS over HTTP) |",
  "|---|---:|---:|",
  `| edgeward | ${cold.edgeward.importMs.toFixed(1)} ms | ${cold.edgeward.totalMs.toFixed(1)} ms |`,
  `| jose | ${cold.jose.importMs.toFixed(1)} ms | ${cold.jose.totalMs.toFixed(1)} ms |`,
];
console.log(lines.join("\n"));
