// Which Ed25519 is faster where: node:crypto vs ring in wasm, in the
// runtime that runs this (node, deno run -A, bun), next to jose. Why
// `crypto: "auto"` leaves EdDSA to ring in Node only (lib/node.js).
//
//   node bench/eddsa.mjs; deno run -A bench/eddsa.mjs; bun bench/eddsa.mjs
import crypto from "node:crypto";
import * as jose from "jose";
import { createGate, runtime } from "../lib/node.js";

const kp = crypto.generateKeyPairSync("ed25519");
const b64 = (x) => Buffer.from(x).toString("base64url");
const now = Math.floor(Date.now() / 1000);
let n = 0;
const mint = () => {
  const h = b64(JSON.stringify({ alg: "EdDSA", kid: "k", typ: "at+jwt" }));
  const p = b64(JSON.stringify({ iss: "https://i/", aud: "a", exp: now + 3600, iat: now - 10, sub: `user-${n}`, jti: `j${n++}`, scope: "orders:read orders:write" }));
  return `${h}.${p}.${b64(crypto.sign(null, Buffer.from(`${h}.${p}`), kp.privateKey))}`;
};
const jwks = { keys: [{ ...kp.publicKey.export({ format: "jwk" }), kid: "k", alg: "EdDSA", use: "sig" }] };
const config = { issuers: [{ issuer: "https://i/", jwks_uri: "https://i/jwks", audiences: ["a"] }] };
const fetch = async () => new Response(JSON.stringify(jwks));
const contenders = {
  "node:crypto": createGate(config, { fetch, crypto: "native" }),
  "ring (wasm)": createGate(config, { fetch, crypto: "wasm" }),
};
const JWKS = jose.createLocalJWKSet(jwks);
const opts = { issuer: "https://i/", audience: "a", algorithms: ["EdDSA"] };
const N = 300;
const BATCHES = 9;
const out = {};
for (const [name, g] of Object.entries(contenders)) {
  const run = (t) => g.verify(t);
  out[name] = await time(run);
}
out.jose = await time((t) => jose.jwtVerify(t, JWKS, opts));

async function time(run) {
  const ts = [];
  for (let b = -1; b < BATCHES; b++) {
    const toks = Array.from({ length: N }, mint);
    const t0 = performance.now();
    for (const t of toks) await run(t);
    if (b >= 0) ts.push(((performance.now() - t0) * 1000) / N);
  }
  return ts.sort((x, y) => x - y)[BATCHES >> 1];
}
console.log(
  `${runtime.name}: EdDSA uncached verify, median µs: ` +
    Object.entries(out).map(([k, v]) => `${k} ${v.toFixed(1)}`).join(", ") +
    `; crypto: "auto" uses ${runtime.nativeAlgorithms().includes("EdDSA") ? "node:crypto" : "ring"}`,
);
