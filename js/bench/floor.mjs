// edgeward's uncached `gate.verify()` against its floor: `node:crypto`'s
// verify alone on the same key and the same signing inputs, in one Node
// process (BENCHMARKS.md, "npm package (Node)", "Against node:crypto").
//
//   node bench/floor.mjs [--quick] [--json FILE] [--against DIR] [ALG...]
//
// Tokens reach the gate as a server's request hands them over (a slice of
// the Authorization header's value, see asReceived).
// Batches alternate between the contenders (edgeward, node:crypto, and with
// `--against DIR` another build of the package, e.g. an older commit's
// js/ directory), so load from other processes falls on all of them alike.
// Each batch is timed twice: wall clock and this process's CPU time
// (process.cpuUsage, user + system); on a shared machine the CPU time is
// the steadier of the two. Per contender: the median µs per verification
// and the interquartile range over the batches; the ratio is the median of
// the per-round ratios (edgeward batch / node:crypto batch of the same
// round). Every token is new to the gate (one gate per algorithm, fewer
// tokens than either verdict cache holds, so nothing is evicted).

import crypto from "node:crypto";
import { writeFileSync } from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { createGate } from "../lib/node.js";

const args = process.argv.slice(2);
const quick = args.includes("--quick");
const opt = (name) => (args.includes(name) ? args[args.indexOf(name) + 1] : null);
const jsonOut = opt("--json");
const against = opt("--against");
const ROUNDS = quick ? 11 : 31;
const PER_BATCH = quick ? 40 : 60;
const WARM = 3;

const ISSUER = "https://idp.example.com/";
const AUD = "api://orders";
const NOW = Math.floor(Date.now() / 1000);
const b64 = (b) => Buffer.from(b).toString("base64url");

const pairs = {
  rsa: crypto.generateKeyPairSync("rsa", { modulusLength: 2048 }),
  ec: crypto.generateKeyPairSync("ec", { namedCurve: "P-256" }),
  ed: crypto.generateKeyPairSync("ed25519"),
};
const ALL = [
  { alg: "RS256", kp: "rsa", hash: "sha256", opts: {} },
  { alg: "PS256", kp: "rsa", hash: "sha256", opts: { padding: crypto.constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 } },
  { alg: "ES256", kp: "ec", hash: "sha256", opts: { dsaEncoding: "ieee-p1363" } },
  { alg: "EdDSA", kp: "ed", hash: null, opts: {} },
];
const named = args.filter((a) => ALL.some((x) => x.alg === a));
const ALGS = named.length ? ALL.filter((a) => named.includes(a.alg)) : ALL;
const jwks = {
  keys: ALL.map(({ alg, kp }) => ({ ...pairs[kp].publicKey.export({ format: "jwk" }), kid: alg.toLowerCase(), alg, use: "sig" })),
};

// The same claims as bench/run.mjs.
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

// A token as a server hands it over: the Authorization header's value
// decoded from the request's bytes, the token sliced from it. (mint()'s
// template string is a rope: the first use of each would flatten it, about
// 1 µs for 700 characters, which no request's token costs.)
const asReceived = (token) => Buffer.from(`Bearer ${token}`, "latin1").toString("latin1").slice(7);

const config = {
  issuers: [{ issuer: ISSUER, jwks_uri: "https://idp.example.com/jwks", audiences: [AUD] }],
  routes: [{ path: "/orders/**", scopes: { any: ["orders:read"] } }],
};
const fetchJwks = async () => new Response(JSON.stringify(jwks), { headers: { "cache-control": "max-age=3600" } });

const builds = { edgeward: createGate };
if (against) {
  const url = pathToFileURL(path.resolve(against, "lib/node.js")).href;
  builds.against = (await import(url)).createGate;
}

const quartiles = (xs) => {
  const s = [...xs].sort((x, y) => x - y);
  const q = (f) => s[Math.round(f * (s.length - 1))];
  return { median: q(0.5), q1: q(0.25), q3: q(0.75) };
};

// Warm-up: every path compiled and tiered up before anything is timed.
for (const a of ALGS) {
  for (const make of Object.values(builds)) {
    const g = make(config, { fetch: fetchJwks });
    for (let i = 0; i < (quick ? 100 : 300); i++) await g.verify(mint(a));
  }
}

const results = [];
for (const a of ALGS) {
  const total = PER_BATCH * (ROUNDS + WARM);
  const pub = crypto.createPublicKey({ key: jwks.keys.find((k) => k.alg === a.alg), format: "jwk" });
  const contenders = {};
  for (const [name, make] of Object.entries(builds)) {
    const g = make(config, { fetch: fetchJwks });
    await g.verify(mint(a)); // keys fetched
    const tokens = Array.from({ length: total }, () => asReceived(mint(a)));
    contenders[name] = (i) => g.verify(tokens[i]);
  }
  // The floor, as bench/run.mjs measures it: the signing input and the
  // signature as Buffers, a fresh options object per call.
  const raw = Array.from({ length: total }, () => {
    const t = mint(a);
    const dot = t.lastIndexOf(".");
    return [Buffer.from(t.slice(0, dot)), Buffer.from(t.slice(dot + 1), "base64url")];
  });
  contenders.nodeVerify = (i) => crypto.verify(a.hash, raw[i][0], { key: pub, ...a.opts }, raw[i][1]);

  const wall = Object.fromEntries(Object.keys(contenders).map((k) => [k, []]));
  const cpu = Object.fromEntries(Object.keys(contenders).map((k) => [k, []]));
  let next = 0;
  for (let round = -WARM; round < ROUNDS; round++) {
    const start = next;
    for (const [name, run] of Object.entries(contenders)) {
      const c0 = process.cpuUsage();
      const t0 = performance.now();
      for (let k = start; k < start + PER_BATCH; k++) await run(k);
      const t1 = performance.now();
      const c1 = process.cpuUsage(c0);
      if (round >= 0) {
        wall[name].push(((t1 - t0) * 1000) / PER_BATCH);
        cpu[name].push((c1.user + c1.system) / PER_BATCH);
      }
    }
    next += PER_BATCH;
  }
  const ratios = (m, name) => quartiles(m[name].map((x, i) => x / m.nodeVerify[i]));
  const r = { alg: a.alg, wall: {}, cpu: {} };
  for (const name of Object.keys(contenders)) {
    r.wall[name] = quartiles(wall[name]);
    r.cpu[name] = quartiles(cpu[name]);
    if (name !== "nodeVerify") {
      r.wall[`${name}Ratio`] = ratios(wall, name);
      r.cpu[`${name}Ratio`] = ratios(cpu, name);
    }
  }
  results.push(r);
}

const fmt = (q, d = 1) => `${q.median.toFixed(d)} (${q.q1.toFixed(d)}–${q.q3.toFixed(d)})`;
const cols = Object.keys(builds);
const lines = [
  `Node ${process.version}; µs per verification, median (interquartile range) of ${ROUNDS} interleaved rounds of ${PER_BATCH}; ratio: median of the per-round ratios to node:crypto.`,
  "",
  `| alg | clock | \`node:crypto\` verify | ${cols.map((c) => `${c} | ${c} / node:crypto`).join(" | ")} |`,
  `|---|---|---:|${cols.map(() => "---:|---:").join("|")}|`,
];
for (const r of results) {
  for (const clock of ["cpu", "wall"]) {
    const m = r[clock];
    lines.push(
      `| ${r.alg} | ${clock} | ${fmt(m.nodeVerify)} | ${cols.map((c) => `${fmt(m[c])} | **${fmt(m[`${c}Ratio`], 2)}**`).join(" | ")} |`,
    );
  }
}
console.log(lines.join("\n"));
if (jsonOut) writeFileSync(jsonOut, JSON.stringify({ node: process.version, rounds: ROUNDS, perBatch: PER_BATCH, against, results }, null, 2) + "\n");
