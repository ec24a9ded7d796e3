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

// Bytes (a view of wasm memory, read at once) -> base64url, no padding.
function b64u(bytes) {
  let s = "";
  for (let i = 0; i < bytes.length; i++) s += String.fromCharCode(bytes[i]);
  return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

const CURVES = [null, null, "P-256", "P-384", "P-521"];

// A public key's JWK from its numbers as src/native.rs `raw` hands them:
// `kind` 1 RSA (a = n, b = e), 2 to 4 EC on CURVES[kind] (a = x, b = y),
// 5 Ed25519 (a = x); null for anything else.
function jwkOf(kind, a, b) {
  if (kind === 1) return { kty: "RSA", n: b64u(a), e: b64u(b) };
  if (kind >= 2 && kind <= 4) return { kty: "EC", crv: CURVES[kind], x: b64u(a), y: b64u(b) };
  if (kind === 5) return { kty: "OKP", crv: "Ed25519", x: b64u(a) };
  return null;
}

// Loads a public key (its numbers, as jwkOf takes them) into `slot`: 1, or
// 0 when node:crypto refuses it (ring then verifies with this key), or -3
// when node:crypto is not loaded yet.
export function nativeAddKey(slot, kind, a, b) {
  if (nodeCrypto === undefined) return -3;
  keys[slot] = undefined;
  if (nodeCrypto === null) return 0;
  try {
    const jwk = jwkOf(kind, a, b);
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

// WebCrypto (crypto.subtle, native in every workerd, no compatibility flag)
// for the signatures the core hands over in two phases (src/native.rs
// `defers`): a new isolate's first ones, before node:crypto is loaded (ring
// at a new isolate's wasm speed costs milliseconds), RSA-PSS (node:crypto
// in workerd has no PSS padding), and all of them without `nodejs_compat`.
// Key checks are the core's, as above; only arithmetic happens here.

// alg -> [import parameters, verify parameters].
const WEB = {
  RS256: [{ name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" }, { name: "RSASSA-PKCS1-v1_5" }],
  RS384: [{ name: "RSASSA-PKCS1-v1_5", hash: "SHA-384" }, { name: "RSASSA-PKCS1-v1_5" }],
  RS512: [{ name: "RSASSA-PKCS1-v1_5", hash: "SHA-512" }, { name: "RSASSA-PKCS1-v1_5" }],
  // JWS (RFC 7518 §3.5): the salt is as long as the hash.
  PS256: [{ name: "RSA-PSS", hash: "SHA-256" }, { name: "RSA-PSS", saltLength: 32 }],
  PS384: [{ name: "RSA-PSS", hash: "SHA-384" }, { name: "RSA-PSS", saltLength: 48 }],
  PS512: [{ name: "RSA-PSS", hash: "SHA-512" }, { name: "RSA-PSS", saltLength: 64 }],
  // WebCrypto's ECDSA signature is JWS's fixed-width r || s (src/native.rs
  // refuses any other width before asking).
  ES256: [{ name: "ECDSA", namedCurve: "P-256" }, { name: "ECDSA", hash: "SHA-256" }],
  ES384: [{ name: "ECDSA", namedCurve: "P-384" }, { name: "ECDSA", hash: "SHA-384" }],
  ES512: [{ name: "ECDSA", namedCurve: "P-521" }, { name: "ECDSA", hash: "SHA-512" }],
  EdDSA: [{ name: "Ed25519" }, { name: "Ed25519" }],
};

// Slot -> its public JWK (only the public members) and, per alg, the
// promise of its CryptoKey (WebCrypto binds an RSA key to one hash).
const webJwk = [];
const webKeys = [];

// What src/lib.rs fetchFast answers for a check waiting on WebCrypto: the
// check's number and the verdict, for js/entry.mjs to await and hand back.
export function awaiting(check, verdict) {
  return { check, verdict };
}

// Starts verifying `sig` over `msg` with the key in `slot` as `alg`; a key's
// numbers (`kind`, `a`, `b` as jwkOf takes them; kind 0 when this slot's key
// was handed over before) replace the slot's key. A promise of 1 (valid), 0
// (invalid) or -1 (WebCrypto cannot: the core's synchronous backend then
// verifies), never rejected.
export function webVerify(alg, slot, kind, a, b, msg, sig) {
  const params = WEB[alg];
  if (params === undefined) return Promise.resolve(-1);
  // Views of wasm memory, which the next call may reuse: copied (or read)
  // before the first await.
  msg = msg.slice();
  sig = sig.slice();
  try {
    if (kind !== 0) {
      // Cleared first: a key that cannot be read leaves nothing of the
      // slot's previous key behind (-1 below).
      webJwk[slot] = null;
      webKeys[slot] = new Map();
      webJwk[slot] = jwkOf(kind, a, b);
    }
    const key = webJwk[slot];
    if (key == null) return Promise.resolve(-1);
    let imported = webKeys[slot].get(alg);
    if (imported === undefined) {
      imported = crypto.subtle.importKey("jwk", key, params[0], false, ["verify"]);
      webKeys[slot].set(alg, imported);
      // A refused key stays refused (-1 below) for this slot and alg.
      imported.catch(() => {});
    }
    return imported
      .then((k) => crypto.subtle.verify(params[1], k, sig, msg))
      .then((ok) => (ok ? 1 : 0), () => -1);
  } catch {
    return Promise.resolve(-1);
  }
}
