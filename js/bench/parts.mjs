// Where edgeward's uncached gate.verify() time goes, against node:crypto's
// verify alone (BENCHMARKS.md, "npm package (Node)", "Against node:crypto").
//
//   node bench/parts.mjs [RS256|PS256|ES256]
//
// In one process, batches interleaved, wall µs per call, median
// (interquartile range) of 3 x 25 batches of 60:
//   floor        node:crypto verify alone (Buffers, as bench/run.mjs)
//   gate         gate.verify(token), every token new
//   wasmReal     the binding alone, as gate.js calls it: the token written
//                into wasm memory (encodeInto), verifyInput: the core, with
//                node:crypto verifying through native.js
//   wasmFakeSig  the same with a verifier that answers "valid" without
//                verifying: the core and the bridge without the signature
//   frontKey     the front cache's lookup of a new token (its last 24
//                characters into a Map), as gate.js does
//   parseFreeze  JSON.parse of the binding's answer and the frozen
//                identity built from it, as gate.js does
// gate - wasmReal - parseFreeze is the rest of the JS wrapper (the async
// call, the front cache, the clock).
import crypto from "node:crypto";
import * as bindings from "../dist/edgeward.js";
import { createGate } from "../lib/node.js";
import { nodeVerifier } from "../lib/native.js";
const ISSUER = "https://idp.example.com/", AUD = "api://orders", NOW = Math.floor(Date.now() / 1000);
const b64 = (b) => Buffer.from(b).toString("base64url");
const rsa = crypto.generateKeyPairSync("rsa", { modulusLength: 2048 });
const alg = process.argv[2] || "RS256";
const OPTS = { RS256: {}, PS256: { padding: crypto.constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 }, ES256: { dsaEncoding: "ieee-p1363" } }[alg];
const pair = alg === "ES256" ? crypto.generateKeyPairSync("ec", { namedCurve: "P-256" }) : null;
const keyPair = () => pair ?? rsa;
const jwks = { keys: [{ ...keyPair().publicKey.export({ format: "jwk" }), kid: "rs256", alg, use: "sig" }] };
let serial = 0;
function mint() {
  const h = b64(JSON.stringify({ alg, kid: "rs256", typ: "at+jwt" }));
  const p = b64(JSON.stringify({ iss: ISSUER, aud: AUD, sub: `user-${serial}`, scope: "orders:read orders:write", iat: NOW - 10, exp: NOW + 3600, jti: `t-${serial++}`, client_id: "bench" }));
  // As a server hands a token over (floor.mjs, asReceived): a slice of the
  // header's value, not the rope a template string makes.
  const token = `${h}.${p}.${b64(crypto.sign("sha256", Buffer.from(`${h}.${p}`), { key: keyPair().privateKey, ...OPTS }))}`;
  return Buffer.from(`Bearer ${token}`, "latin1").toString("latin1").slice(7);
}
const config = { issuers: [{ issuer: ISSUER, jwks_uri: "https://idp.example.com/jwks", audiences: [AUD] }] };
const real = nodeVerifier(crypto);
// Asks for the JWK once (as native.js does for a new key), then says "valid".
const fake = { ...real, verify: (i, slot, jwk) => (jwk === undefined && !fake.seen ? 2 : ((fake.seen = true), 1)) };
const memory = bindings.initSync({ module: new Uint8Array() }).memory;
const enc = new TextEncoder();
function raw(nv) {
  const w = new bindings.WasmGate(JSON.stringify(config), nv);
  const out = w.verify(mint(), NOW); const f = JSON.parse(out.slice(1));
  w.ingest(f.issuer, f.url, 1, f.flight, 200, "cache-control\nmax-age=600", enc.encode(JSON.stringify(jwks)), NOW);
  return w;
}
// As gate.js: the token's UTF-8 at the start of the input buffer.
const call = (w, t) => { const need = Math.max(t.length * 3, 8192); const ptr = w.inputBuffer(need); const { written } = enc.encodeInto(t, new Uint8Array(memory.buffer, ptr, need)); return w.verifyInput(written, NOW); };
const sample = call(raw(real), mint());
// As gate.js (verifiedIdentity): the V answer's array into the frozen identity.
const freezeJson = (v) => { Object.freeze(v); for (const k in v) { const x = v[k]; if (x !== null && typeof x === "object") freezeJson(x); } return v; };
const identityOf = (a) => Object.freeze({ kind: a[1], subject: a[2], issuer: a[3], tenant: a[4], scopes: Object.freeze(a[5]), roles: Object.freeze(a[6]), permissions: Object.freeze(a[7]), expiresAt: a[8], claims: freezeJson(a[9]) });
const pub = crypto.createPublicKey({ key: jwks.keys[0], format: "jwk" });
const N = 60, B = 25;
const front = new Map(Array.from({ length: 2048 }, (_, i) => [`${i}`.padStart(24, "k"), { token: "", until: 0 }]));
let wR, wF, g;
const c = {
  floor: () => { const t = mint(); const d = t.lastIndexOf("."); const m = Buffer.from(t.slice(0, d)), s = Buffer.from(t.slice(d + 1), "base64url"); return () => crypto.verify("sha256", m, { key: pub, ...OPTS }, s); },
  gate: () => { const t = mint(); return () => g.verify(t); },
  wasmReal: () => { const t = mint(); return () => call(wR, t); },
  wasmFakeSig: () => { const t = mint(); return () => call(wF, t); },
  frontKey: () => { const t = mint(); return () => front.get(t.slice(-24)); },
  parseFreeze: () => { const s = sample + ""; return () => identityOf(JSON.parse(s.slice(1))); },
};
const res = Object.fromEntries(Object.keys(c).map((k) => [k, []]));
for (let rep = 0; rep < 3; rep++) {
  wR = raw(real); wF = raw(fake); g = createGate(config, { fetch: async () => new Response(JSON.stringify(jwks), { headers: { "cache-control": "max-age=600" } }) }); await g.verify(mint());
  for (let b = -3; b < B; b++) for (const [k, mk] of Object.entries(c)) {
    const fns = Array.from({ length: N }, mk);
    const t0 = performance.now();
    for (const f of fns) await f();
    if (b >= 0) res[k].push(((performance.now() - t0) * 1000) / N);
  }
}
const st = (a) => { a.sort((x, y) => x - y); const q = (f) => a[Math.round(f * (a.length - 1))]; return `${q(0.5).toFixed(2)} (${q(0.25).toFixed(2)}-${q(0.75).toFixed(2)})`; };
for (const [k, v] of Object.entries(res)) console.log(k.padEnd(12), st(v));
