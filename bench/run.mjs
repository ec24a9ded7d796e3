// edgeward (wasm32-unknown-unknown, via wasm-bindgen) vs jose on Node, in one
// process, on the same tokens. Build the module first (scripts/bench.sh does):
//
//   cargo build --release --target wasm32-unknown-unknown   (in bench/wasm)
//   wasm-bindgen --target nodejs --out-dir bench/pkg ...wasm
//
// Usage: node bench/run.mjs [--quick] [--json FILE]
// Env: BENCH_BATCHES (default 41), BENCH_BATCH_MS (default 10), BENCH_TOKENS
// (distinct tokens per algorithm, default 256).
//
// Per algorithm, µs/op medians of time-boxed batches:
//   edgeward uncached   BenchGate.check on a gate with [cache] capacity = 0,
//                       cycling through distinct tokens (every check verifies)
//   edgeward cache hit  BenchGate.check on a default gate, one token repeated
//   jose 6              importJWK once; jwtVerify(issuer, audience, algorithms,
//                       typ, clockTolerance) + the route's scope check, cycling
//                       the same distinct tokens (jose 6 verifies with WebCrypto)
//   jose 5              the same with jose 5.x, whose Node build verifies with
//                       node:crypto KeyObjects
//   parse only / signature only: pieces of edgeward's uncached check, in wasm
//   node:crypto verify  crypto.verify alone: the native-crypto floor

import crypto from "node:crypto";
import { createRequire } from "node:module";
import { writeFileSync } from "node:fs";
import os from "node:os";
import * as jose6 from "jose";
import * as jose5 from "jose5";

const require = createRequire(import.meta.url);
const { BenchGate } = require("./pkg/edgeward_bench_wasm.js");
const joseVersion = (name) => require(`${name}/package.json`).version;

const args = process.argv.slice(2);
const quick = args.includes("--quick");
const jsonOut = args.includes("--json") ? args[args.indexOf("--json") + 1] : null;
const env = (k, d) => (process.env[k] ? Number(process.env[k]) : d);
const BATCHES = env("BENCH_BATCHES", quick ? 7 : 41);
const BATCH_MS = env("BENCH_BATCH_MS", quick ? 5 : 10);
const TOKENS = env("BENCH_TOKENS", quick ? 32 : 256);
const INFLIGHT = env("BENCH_INFLIGHT", 32);

const ISSUER = "https://idp.example.com/";
const JWKS_URI = "https://idp.example.com/.well-known/jwks.json";
const PATH = "/orders/42";
const NOW = Math.floor(Date.now() / 1000);

const config = (capacity) =>
  JSON.stringify({
    issuers: [{ issuer: ISSUER, jwks_uri: JWKS_URI, audiences: ["api"], typ: "at+jwt" }],
    ...(capacity === undefined ? {} : { cache: { capacity } }),
    routes: [
      { path: "/health", access: "anonymous" },
      { path: "/orders/**", scopes: { any: ["orders:read", "orders:admin"] } },
    ],
  });

// ------------------------------------------------------------------ keys

const rsa = crypto.generateKeyPairSync("rsa", { modulusLength: 2048 });
const p256 = crypto.generateKeyPairSync("ec", { namedCurve: "P-256" });
const p384 = crypto.generateKeyPairSync("ec", { namedCurve: "P-384" });
const ed = crypto.generateKeyPairSync("ed25519");

const ALGS = [
  { alg: "RS256", kid: "rsa-0", pair: rsa, node: { algorithm: "sha256", padding: crypto.constants.RSA_PKCS1_PADDING } },
  { alg: "PS256", kid: "rsa-0", pair: rsa, node: { algorithm: "sha256", padding: crypto.constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 } },
  { alg: "ES256", kid: "p256-0", pair: p256, node: { algorithm: "sha256", dsaEncoding: "ieee-p1363" } },
  { alg: "ES384", kid: "p384-0", pair: p384, node: { algorithm: "sha384", dsaEncoding: "ieee-p1363" } },
  { alg: "EdDSA", kid: "ed-0", pair: ed, node: { algorithm: null } },
];

const jwkOf = (pair, kid) => ({ ...pair.publicKey.export({ format: "jwk" }), kid, use: "sig" });
const JWKS = new TextEncoder().encode(
  JSON.stringify({
    keys: [jwkOf(rsa, "rsa-0"), jwkOf(p256, "p256-0"), jwkOf(p384, "p384-0"), jwkOf(ed, "ed-0")],
  }),
);

async function mint({ alg, kid, pair }, n) {
  return new jose6.SignJWT({
    client_id: "web-app",
    scope: "openid profile orders:read orders:write",
    roles: ["customer"],
  })
    .setProtectedHeader({ alg, typ: "at+jwt", kid })
    .setIssuer(ISSUER)
    .setSubject("user-1234")
    .setAudience(["api", "https://api.example.com"])
    .setExpirationTime(NOW + 3600)
    .setIssuedAt(NOW - 60)
    .setNotBefore(NOW - 60)
    .setJti(`token-${String(n).padStart(8, "0")}`)
    .sign(pair.privateKey);
}

// ------------------------------------------------------------------ harness

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

// One timed batch of `iters` operations fn(start), fn(start + 1), ...; fn is
// sync or async (awaited when it returns a promise). Returns µs/op.
async function batch(fn, iters, start) {
  const t0 = performance.now();
  for (let i = 0; i < iters; i++) {
    const r = fn(start + i);
    if (r instanceof Promise) await r;
  }
  return ((performance.now() - t0) * 1000) / iters;
}

// Iterations for a batch of about BATCH_MS (doubles as warm-up, JIT included).
async function calibrate(fn) {
  let iters = 1;
  for (;;) {
    const ms = ((await batch(fn, iters, 0)) * iters) / 1000;
    if (ms >= BATCH_MS) return iters;
    const grow = ms <= 0 ? 16 : Math.min(16, Math.max(1.1, (BATCH_MS / ms) * 1.1));
    iters = Math.max(iters + 1, Math.ceil(iters * grow));
  }
}

const stats = (samples, iters) => ({
  median: median(samples),
  min: Math.min(...samples),
  iters: iters * samples.length,
});

async function bench(fn) {
  const iters = await calibrate(fn);
  const samples = [];
  for (let b = 0; b < BATCHES; b++) samples.push(await batch(fn, iters, (b + 1) * iters));
  return stats(samples, iters);
}

// Several functions, batches interleaved round by round so that load from
// other processes falls on all alike. ratios[k] is the median over rounds of
// fns[k]'s time divided by fns[0]'s.
async function benchInterleaved(fns) {
  const iters = [];
  for (const fn of fns) iters.push(await calibrate(fn));
  const samples = fns.map(() => []);
  const ratios = fns.map(() => []);
  for (let b = 0; b < BATCHES; b++) {
    for (let k = 0; k < fns.length; k++) {
      samples[k].push(await batch(fns[k], iters[k], (b + 1) * iters[k]));
    }
    for (let k = 1; k < fns.length; k++) ratios[k].push(samples[0][b] / samples[k][b]);
  }
  return { stats: samples.map((s, k) => stats(s, iters[k])), ratios: ratios.map((r) => (r.length ? median(r) : 1)) };
}

function check(ok, what) {
  if (!ok) throw new Error(`benchmark self-check failed: ${what}`);
}

// ------------------------------------------------------------------ run

const TOKENS_BY_ALG = new Map();
for (const a of ALGS) {
  process.stderr.write(`${a.alg}: minting ${TOKENS} tokens ...\n`);
  const tokens = [];
  for (let n = 0; n < TOKENS; n++) tokens.push(await mint(a, n));
  TOKENS_BY_ALG.set(a.alg, tokens);
}

// Warm-up: V8 runs wasm on its baseline compiler (Liftoff) first and tiers
// hot functions up to TurboFan; run every path for a while before measuring
// so no algorithm is timed on baseline code.
{
  const g = new BenchGate(config(0), PATH, false);
  g.ingest(JWKS, NOW);
  const h = new BenchGate(config(undefined), PATH, false);
  h.ingest(JWKS, NOW);
  const until = performance.now() + (quick ? 300 : 1500);
  let n = 0;
  while (performance.now() < until) {
    for (const a of ALGS) {
      if (a.alg === "ES384" && n % 8) continue;
      const t = TOKENS_BY_ALG.get(a.alg)[n % TOKENS];
      check(g.check(t, NOW) === 200 && h.check(t, NOW) === 200, "warm-up");
      g.check_anonymous(t, NOW);
      g.parse_only(t);
      g.digest_only(t);
    }
    n++;
  }
  process.stderr.write(`warm-up: ${n} rounds\n`);
  g.free();
  h.free();
}

const results = [];
for (const a of ALGS) {
  const tokens = TOKENS_BY_ALG.get(a.alg);
  const pick = (i) => tokens[i % tokens.length];

  const uncached = new BenchGate(config(0), PATH, false);
  check(uncached.check(tokens[0], NOW) === 0, "first check asks for keys");
  check(uncached.ingest(JWKS, NOW) === 4, "4 keys ingested");
  const cached = new BenchGate(config(undefined), PATH, false);
  cached.ingest(JWKS, NOW);
  for (const t of tokens) check(uncached.check(t, NOW) === 200, `${a.alg} allowed`);
  const bad = tokens[0].slice(0, -6) + (tokens[0].endsWith("AAAAAA") ? "BBBBBB" : "AAAAAA");
  check(uncached.check(bad, NOW) !== 200, "a bad signature is refused");

  const verifyOpts = {
    issuer: ISSUER,
    audience: "api",
    algorithms: [a.alg],
    typ: "at+jwt",
    clockTolerance: 60,
  };
  const routeScope = (payload) => {
    const scopes = typeof payload.scope === "string" ? payload.scope.split(" ") : [];
    if (!scopes.includes("orders:read") && !scopes.includes("orders:admin")) {
      throw new Error("insufficient_scope");
    }
  };
  const jwk = a.pair.publicKey.export({ format: "jwk" });
  const key6 = await jose6.importJWK(jwk, a.alg);
  const key5 = await jose5.importJWK(jwk, a.alg);
  for (const [jose, key] of [[jose6, key6], [jose5, key5]]) {
    const { payload } = await jose.jwtVerify(tokens[0], key, verifyOpts);
    routeScope(payload);
    await jose.jwtVerify(bad, key, verifyOpts).then(
      () => check(false, "jose refuses a bad signature"),
      () => {},
    );
  }

  const signed = tokens.map((t) => {
    const [h, p, sig] = t.split(".");
    return [Buffer.from(`${h}.${p}`), Buffer.from(sig, "base64url")];
  });
  const nodeKey = { key: a.pair.publicKey, ...a.node };
  delete nodeKey.algorithm;
  const nodeVerify = (i) => {
    const [m, sig] = signed[i % signed.length];
    return crypto.verify(a.node.algorithm, m, nodeKey, sig);
  };
  check(nodeVerify(0), "node:crypto verifies");
  for (const t of tokens) uncached.prepare(t);
  check(uncached.verify_prepared(0), "wasm signature verifies");
  const coreOnly = new BenchGate(config(0), PATH, true);
  coreOnly.ingest(JWKS, NOW);
  check(coreOnly.check(bad, NOW) === 200, "the no-op backend passes every signature");

  const r = { alg: a.alg };
  const ewUncached = (i) => {
    if (uncached.check(pick(i), NOW) !== 200) throw new Error("denied");
  };
  const viaJose6 = async (i) => {
    const { payload } = await jose6.jwtVerify(pick(i), key6, verifyOpts);
    routeScope(payload);
  };
  const viaJose5 = async (i) => {
    const { payload } = await jose5.jwtVerify(pick(i), key5, verifyOpts);
    routeScope(payload);
  };
  process.stderr.write(`${a.alg}: edgeward-wasm uncached, jose ${joseVersion("jose")}, jose ${joseVersion("jose5")} (interleaved)\n`);
  const ewCore = (i) => {
    if (coreOnly.check(pick(i), NOW) !== 200) throw new Error("denied");
  };
  const ewSig = (i) => {
    if (!uncached.verify_prepared(i)) throw new Error("sig");
  };
  const inter = await benchInterleaved([ewUncached, viaJose6, viaJose5, ewCore, ewSig]);
  [r.ewUncached, r.jose6, r.jose5, r.ewCore, r.ewSig] = inter.stats;
  // edgeward time / jose time, per round.
  [, r.ratio6, r.ratio5] = inter.ratios;
  process.stderr.write(`${a.alg}: edgeward-wasm cache hit\n`);
  cached.check(tokens[0], NOW);
  r.ewHit = await bench(() => {
    if (cached.check(tokens[0], NOW) !== 200) throw new Error("denied");
  });
  // jose's crypto runs off the main thread (WebCrypto / node:crypto callbacks
  // on libuv's pool), so its throughput with requests in flight is better than
  // its one-at-a-time latency. edgeward-wasm is synchronous: its throughput on
  // one thread is 1 / latency.
  process.stderr.write(`${a.alg}: jose ${joseVersion("jose")}, ${INFLIGHT} in flight\n`);
  const par = await bench(async (i) => {
    const all = [];
    for (let k = 0; k < INFLIGHT; k++) {
      all.push(jose6.jwtVerify(pick(i * INFLIGHT + k), key6, verifyOpts).then((v) => routeScope(v.payload)));
    }
    await Promise.all(all);
  });
  r.jose6Par = { median: par.median / INFLIGHT, min: par.min / INFLIGHT, iters: par.iters * INFLIGHT };
  process.stderr.write(`${a.alg}: pieces\n`);
  r.ewAnon = await bench((i) => {
    if (uncached.check_anonymous(pick(i), NOW) !== 200) throw new Error("anonymous");
  });
  r.ewDigest = await bench((i) => uncached.digest_only(pick(i)));
  r.ewParse = await bench((i) => {
    if (!uncached.parse_only(pick(i))) throw new Error("parse");
  });
  r.ewSetup = await bench(() => {
    if (uncached.verify_prepared_short()) throw new Error("short signature accepted");
  });
  r.node = await bench((i) => {
    if (!nodeVerify(i)) throw new Error("node");
  });
  uncached.free();
  coreOnly.free();
  cached.free();
  results.push(r);
}

// ------------------------------------------------------------------ report

const f = (x) => (x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2));
const j6 = joseVersion("jose");
const j5 = joseVersion("jose5");
console.log();
console.log(
  `### wasm on Node ${process.version}: edgeward vs jose (median µs/op, ${BATCHES} batches, ${TOKENS} distinct tokens per alg)`,
);
console.log();
console.log(
  `| alg | edgeward-wasm uncached | edgeward-wasm cache hit | jose ${j6} (WebCrypto) | edgeward / jose ${j6} | jose ${j5} (node:crypto) | edgeward / jose ${j5} | cache hit / jose ${j6} | jose ${j6}, ${INFLIGHT} in flight (µs/op amortized) |`,
);
console.log("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
for (const r of results) {
  console.log(
    `| ${r.alg} | ${f(r.ewUncached.median)} | ${f(r.ewHit.median)} | ${f(r.jose6.median)} | ${r.ratio6.toFixed(2)}x | ${f(r.jose5.median)} | ${r.ratio5.toFixed(2)}x | ${(r.ewHit.median / r.jose6.median).toFixed(3)}x | ${f(r.jose6Par.median)} |`,
  );
}
console.log();
console.log("### wasm: where edgeward's uncached check goes (median µs/op)");
console.log();
console.log(
  "| alg | anonymous-route check (bridge + route + decision) | SHA-256 of token | jws::parse | signature only (ring in wasm) | of which ring key setup | core alone (no-op backend) | full check | signature + core alone | node:crypto verify alone | ring-in-wasm / node:crypto |",
);
console.log("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
for (const r of results) {
  console.log(
    `| ${r.alg} | ${f(r.ewAnon.median)} | ${f(r.ewDigest.median)} | ${f(r.ewParse.median)} | ${f(r.ewSig.median)} | ${f(r.ewSetup.median)} | ${f(r.ewCore.median)} | ${f(r.ewUncached.median)} | ${f(r.ewSig.median + r.ewCore.median)} | ${f(r.node.median)} | ${(r.ewSig.median / r.node.median).toFixed(1)}x |`,
  );
}
if (jsonOut) {
  writeFileSync(
    jsonOut,
    JSON.stringify(
      {
        node: process.version,
        cpu: os.cpus()[0]?.model,
        jose: { [j6]: "jose", [j5]: "jose5" },
        batches: BATCHES,
        batchMs: BATCH_MS,
        tokens: TOKENS,
        results,
      },
      null,
      2,
    ),
  );
}
