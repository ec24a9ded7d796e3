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

// RFC 7638 thumbprint -> KeyObject. Bounded: a key set rotates slowly.
const keys = new Map();
const MAX_KEYS = 64;

// Loads a public JWK (only its public members are used). False when
// node:crypto refuses it; the caller then uses ring for this key.
export function nativeAddKey(thumbprint, jwkJson) {
  try {
    const j = JSON.parse(jwkJson);
    const jwk =
      j.kty === "RSA" ? { kty: "RSA", n: j.n, e: j.e }
      : j.kty === "EC" ? { kty: "EC", crv: j.crv, x: j.x, y: j.y }
      : j.kty === "OKP" ? { kty: "OKP", crv: j.crv, x: j.x }
      : null;
    if (!jwk) return false;
    if (keys.size >= MAX_KEYS) keys.clear();
    keys.set(thumbprint, nodeCrypto.createPublicKey({ key: jwk, format: "jwk" }));
    return true;
  } catch {
    return false;
  }
}

// A fixed-width ECDSA signature (r || s, RFC 7518 §3.4) as DER, which is
// what workerd's node:crypto takes with a KeyObject. Only exact widths.
function fixedToDer(sig, width) {
  const int = (b) => {
    let i = 0;
    while (i < b.length - 1 && b[i] === 0) i++;
    b = b.subarray(i);
    const pad = b[0] & 0x80 ? 1 : 0;
    const out = new Uint8Array(2 + pad + b.length);
    out[0] = 0x02;
    out[1] = b.length + pad;
    out.set(b, 2 + pad);
    return out;
  };
  const r = int(sig.subarray(0, width));
  const s = int(sig.subarray(width));
  const len = r.length + s.length;
  const head = len < 128 ? [0x30, len] : [0x30, 0x81, len];
  const out = new Uint8Array(head.length + len);
  out.set(head, 0);
  out.set(r, head.length);
  out.set(s, head.length + r.length);
  return out;
}

// 1: valid; 0: invalid; -1: key not loaded (call nativeAddKey); -2: cannot
// (use ring); -3: node:crypto not loaded yet (nativeLoad). `hash` is "sha256"/"sha384"/"sha512" or "" for Ed25519;
// `ecWidth` is the byte width of r and s for ECDSA, else 0.
export function nativeVerify(hash, thumbprint, ecWidth, msg, sig) {
  if (nodeCrypto === undefined) return -3;
  if (nodeCrypto === null) return -2;
  const key = keys.get(thumbprint);
  if (key === undefined) return -1;
  try {
    if (ecWidth > 0) {
      if (sig.length !== 2 * ecWidth) return 0;
      return nodeCrypto.verify(hash, msg, key, fixedToDer(sig, ecWidth)) ? 1 : 0;
    }
    return nodeCrypto.verify(hash === "" ? null : hash, msg, key, sig) ? 1 : 0;
  } catch {
    return -2;
  }
}
