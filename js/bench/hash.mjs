// The core's token SHA-256 (verdict-cache key) in Node: ring in wasm vs a
// call out to node:crypto (crypto.hash, createHash), on ~800-byte RS256
// tokens. µs per call, median of 15 rounds:
//   wasm verify hit   WasmGate.verify on a repeated token (the core's
//                     verdict cache, no JS cache in front): mostly the hash
//   check hit         WasmGate.check with that token (route policy too)
//   uncached verify   a new token each time (signature by node:crypto)
//   js sha256 alone   the verifier's sha256(view, out) called from JS
//
//   node bench/hash.mjs
import crypto from "node:crypto";
import { readFileSync } from "node:fs";
import * as bindings from "../dist/edgeward.js";
import { nodeVerifier } from "../lib/native.js";
bindings.initSync({ module: readFileSync(new URL("../dist/edgeward_bg.wasm", import.meta.url)) });

const ISSUER = "https://idp.example.com/", JWKS_URI = "https://idp.example.com/jwks", AUD = "api://orders";
const NOW = Math.floor(Date.now() / 1000);
const b64 = (b) => Buffer.from(b).toString("base64url");
const kp = crypto.generateKeyPairSync("rsa", { modulusLength: 2048 });
const jwks = { keys: [{ ...kp.publicKey.export({ format: "jwk" }), kid: "rs256", alg: "RS256", use: "sig" }] };
let serial = 0;
function mint() {
  const h = b64(JSON.stringify({ alg: "RS256", kid: "rs256", typ: "at+jwt" }));
  const p = b64(JSON.stringify({ iss: ISSUER, aud: AUD, sub: `user-${serial}`, scope: "orders:read orders:write", iat: NOW - 10, exp: NOW + 3600, jti: `t-${serial++}`, client_id: "bench", pad: "x".repeat(110) }));
  const input = `${h}.${p}`;
  return `${input}.${b64(crypto.sign("sha256", Buffer.from(input), kp.privateKey))}`;
}
const config = JSON.stringify({ issuers: [{ issuer: ISSUER, jwks_uri: JWKS_URI, audiences: [AUD] }], routes: [{ path: "/orders/**", scopes: { any: ["orders:read"] } }] });
const body = new TextEncoder().encode(JSON.stringify(jwks));
const tok = mint();
console.log("token bytes", tok.length);

function gate(v) {
  const w = new bindings.WasmGate(config, v);
  const k = JSON.parse(w.verify(mint(), NOW).slice(1));
  w.ingest(ISSUER, k.url, 1, k.flight, 200, "cache-control\nmax-age=600", body, NOW);
  return w;
}
const c = crypto;
const variants = {
  ring: nodeVerifier(c, { sha256: false }),
  "crypto.hash": nodeVerifier(c),
  createHash: nodeVerifier(c, { sha256: "createHash" }),
};
function median(a) { a.sort((x, y) => x - y); return a[a.length >> 1]; }
function time(fn, n) { const t = process.hrtime.bigint(); for (let i = 0; i < n; i++) fn(i); return Number(process.hrtime.bigint() - t) / 1e3 / n; }
const hdrs = `authorization\nBearer ${tok}\nhost\napi.example.com`;
const uncached = Array.from({ length: 20000 }, mint);
const res = {};
for (const [name, v] of Object.entries(variants)) res[name] = { hit: [], check: [], uncached: [], raw: [] };
let u = 0;
for (let round = 0; round < 15; round++) {
  for (const [name, v] of Object.entries(variants)) {
    const w = gate(v);
    w.verify(tok, NOW);
    res[name].hit.push(time(() => w.verify(tok, NOW), 5000));
    res[name].check.push(time(() => w.check("GET", "/orders/1", hdrs, NOW), 5000));
    const base = u; u += 300;
    res[name].uncached.push(time((i) => w.verify(uncached[(base + i) % uncached.length], NOW), 300));
    w.free();
  }
  const view = new TextEncoder().encode(tok);
  const out = new Uint8Array(32);
  res["crypto.hash"].raw.push(time(() => variants["crypto.hash"].sha256(view, out), 20000));
  res.createHash.raw.push(time(() => variants.createHash.sha256(view, out), 20000));
}
for (const [name, r] of Object.entries(res)) {
  console.log(name.padEnd(12), "wasm verify hit", median(r.hit).toFixed(2), "check hit", median(r.check).toFixed(2), "uncached verify", median(r.uncached).toFixed(2), r.raw.length ? "js sha256 alone " + median(r.raw).toFixed(2) : "");
}
