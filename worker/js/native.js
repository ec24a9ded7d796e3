// Native signature arithmetic for the edgeward Worker (see src/native.rs).
//
// workerd's node:crypto (BoringSSL, reached through `nodejs_compat`) verifies
// synchronously, which is what the core's SignatureBackend needs, and runs
// 5-10x faster than ring compiled to wasm. Key and algorithm checks never
// happen here: the core has matched the key to the token's alg before asking.
// Anything this file cannot do answers -2 and the core's ring backend does it.

// node:crypto is loaded on first need, not when this module is evaluated:
// in a new isolate, workerd builds its Node modules then, ~5 ms of CPU that
// the first verdict need not wait for (src/native.rs). `undefined` until
// tried, then the module, or null when the runtime has none.
let nodeCrypto;

// Loads node:crypto now if it is not yet; whether it is there.
export function nativeLoad() {
  if (nodeCrypto === undefined) {
    try {
      const c = globalThis.process?.getBuiltinModule?.("node:crypto");
      nodeCrypto = c && typeof c.verify === "function" && typeof c.createPublicKey === "function" ? c : null;
    } catch {
      nodeCrypto = null;
    }
  }
  return nodeCrypto !== null;
}

// Slot -> KeyObject (src/native.rs numbers the slots and loads a key into
// its slot before it verifies with it).
const keys = [];

// Loads a public JWK (only its public members are used) into `slot`: 1, or
// 0 when node:crypto refuses it (ring then verifies with this key), or -3
// when node:crypto is not loaded yet.
export function nativeAddKey(slot, jwkJson) {
  if (nodeCrypto === undefined) return -3;
  keys[slot] = undefined;
  if (nodeCrypto === null) return 0;
  try {
    const j = JSON.parse(jwkJson);
    const jwk =
      j.kty === "RSA" ? { kty: "RSA", n: j.n, e: j.e }
      : j.kty === "EC" ? { kty: "EC", crv: j.crv, x: j.x, y: j.y }
      : j.kty === "OKP" ? { kty: "OKP", crv: j.crv, x: j.x }
      : null;
    if (!jwk) return 0;
    keys[slot] = nodeCrypto.createPublicKey({ key: jwk, format: "jwk" });
    return 1;
  } catch {
    return 0;
  }
}

const HASHES = [null, "sha256", "sha384", "sha512"];

// 1: valid; 0: invalid; -2: cannot (ring verifies). `hash` indexes HASHES
// (null: Ed25519); ECDSA signatures come as DER (src/native.rs made them
// from r || s).
export function nativeVerify(hash, slot, msg, sig) {
  const key = keys[slot];
  if (nodeCrypto == null || key === undefined) return -2;
  try {
    return nodeCrypto.verify(HASHES[hash], msg, key, sig) ? 1 : 0;
  } catch {
    return -2;
  }
}
