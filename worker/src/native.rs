//! A [`SignatureBackend`] on workerd's native crypto.
//!
//! Ring compiled to wasm is the reference and runs everywhere, but bignum
//! arithmetic in wasm is 5-10x slower than BoringSSL. With `nodejs_compat`
//! workerd offers a synchronous `node:crypto.verify`, which this backend uses
//! for RS256/384/512, ES256/384/512 and EdDSA. PS* (workerd's node:crypto
//! does not do PSS padding), HMAC, and anything the host refuses go to ring.
//! ES512 is node:crypto's alone (ring has no P-521 and the Worker leaves the
//! core's `p521` feature off): without `nodejs_compat` ES512 tokens are
//! refused (`alg_not_allowed`). Key and algorithm checks stay in the core: a
//! backend only does arithmetic on a key the core already matched to the
//! token's `alg`.
//!
//! node:crypto is loaded on first need (js/native.js): loading it costs a new
//! isolate ~5 ms of CPU. Until it is loaded ([`load`], which the Worker runs
//! right after its first verdict), ring verifies the algorithms it does
//! quickly in wasm; ES384 (~8x slower there) and ES512 (not in ring) load
//! node:crypto at once.

use edgeward::keys::KeyMaterial;
use edgeward::{Algorithm, PublicKey, RingBackend, SignatureBackend};
use std::cell::RefCell;
use wasm_bindgen::prelude::*;

thread_local! {
    /// Key material → its RFC 7638 thumbprint (the name of its native key
    /// object), so the SHA-256 is not redone per verification. Compared by
    /// the material itself, exactly; a handful of entries.
    static THUMBPRINTS: RefCell<Vec<(KeyMaterial, String)>> = const { RefCell::new(Vec::new()) };
}

fn thumbprint(key: &PublicKey) -> String {
    THUMBPRINTS.with(|t| {
        let mut t = t.borrow_mut();
        if let Some((_, tp)) = t.iter().find(|(m, _)| *m == key.material) {
            return tp.clone();
        }
        let tp = key.thumbprint();
        if t.len() >= 32 {
            t.clear();
        }
        t.push((key.material.clone(), tp.clone()));
        tp
    })
}

#[wasm_bindgen(module = "/js/native.js")]
extern "C" {
    #[wasm_bindgen(js_name = nativeLoad)]
    fn native_load() -> bool;
    #[wasm_bindgen(js_name = nativeAddKey)]
    fn native_add_key(thumbprint: &str, jwk: &str) -> bool;
    #[wasm_bindgen(js_name = nativeVerify)]
    fn native_verify(hash: &str, thumbprint: &str, ec_width: u32, msg: &[u8], sig: &[u8]) -> i32;
}

/// node:crypto where it can, ring where it cannot.
#[derive(Clone, Copy, Debug)]
pub struct NativeBackend {
    native: bool,
}

impl NativeBackend {
    /// Loads node:crypto now (the Worker needs the `nodejs_compat` flag);
    /// ring only when there is none.
    pub fn detect() -> NativeBackend {
        NativeBackend { native: load() }
    }

    /// node:crypto once it is loaded ([`load`]), ring until then: nothing
    /// is loaded here.
    pub fn deferred() -> NativeBackend {
        NativeBackend { native: true }
    }
}

/// Loads node:crypto if it is not yet (once per isolate; later calls are
/// free); whether it is there.
pub fn load() -> bool {
    native_load()
}

/// What verifies signatures once node:crypto is loaded (loads it), for the log.
pub fn in_use() -> &'static str {
    if load() {
        "node:crypto"
    } else {
        "ring"
    }
}

fn params(alg: Algorithm) -> Option<(&'static str, u32)> {
    Some(match alg {
        Algorithm::RS256 => ("sha256", 0),
        Algorithm::RS384 => ("sha384", 0),
        Algorithm::RS512 => ("sha512", 0),
        Algorithm::ES256 => ("sha256", 32),
        Algorithm::ES384 => ("sha384", 48),
        Algorithm::ES512 => ("sha512", 66),
        Algorithm::EdDSA => ("", 0),
        _ => return None,
    })
}

impl SignatureBackend for NativeBackend {
    fn name(&self) -> &'static str {
        if self.native {
            "node:crypto"
        } else {
            "ring"
        }
    }

    fn verify(&self, alg: Algorithm, key: &PublicKey, message: &[u8], signature: &[u8]) -> bool {
        let Some((hash, width)) = params(alg).filter(|_| self.native) else {
            return RingBackend.verify(alg, key, message, signature);
        };
        let thumbprint = thumbprint(key);
        let mut answer = native_verify(hash, &thumbprint, width, message, signature);
        if answer == -3 {
            // Not loaded yet (a new isolate's first verdicts): ring where it
            // is quick in wasm, else load node:crypto now.
            if alg != Algorithm::ES384 && RingBackend.supports(alg) {
                return RingBackend.verify(alg, key, message, signature);
            }
            native_load();
            answer = native_verify(hash, &thumbprint, width, message, signature);
        }
        if answer == -1 {
            answer = if native_add_key(&thumbprint, &key.to_jwk().to_string()) {
                native_verify(hash, &thumbprint, width, message, signature)
            } else {
                -2
            };
        }
        match answer {
            1 => true,
            0 => false,
            _ => RingBackend.verify(alg, key, message, signature),
        }
    }

    fn supports(&self, alg: Algorithm) -> bool {
        // An alg only node:crypto verifies (ES512) loads it now, so that a
        // runtime without it refuses the token as unsupported.
        RingBackend.supports(alg) || (self.native && params(alg).is_some() && load())
    }
}

/// Test builds only: one Wycheproof vector through this backend and through
/// ring, after the core's own key checks. Bit 0: this backend's answer; bit
/// 1: ring's; 4: whether node:crypto answered (no fallback); 8: the core
/// refuses the key or the alg for it (no backend runs); 16: ring cannot
/// verify the alg (ES512: bit 1 means nothing); 32: neither can this backend
/// (the gate would refuse the token); -1: bad input.
#[cfg(feature = "test-vectors")]
#[wasm_bindgen(js_name = testVerify)]
pub fn test_verify(alg: &str, jwk: &str, msg: &[u8], sig: &[u8]) -> i32 {
    let Some(alg) = edgeward::keys::parse_alg(alg) else {
        return -1;
    };
    let Ok(v) = serde_json::from_str::<serde_json::Value>(jwk) else {
        return -1;
    };
    let key = match edgeward::keys::parse_jwk(&v) {
        Ok(k) if k.usable_for(alg).is_ok() => k,
        _ => return 8,
    };
    let backend = NativeBackend::detect();
    if !backend.supports(alg) {
        return 32 | 16;
    }
    let native = backend.verify(alg, &key, msg, sig);
    let ring = RingBackend.verify(alg, &key, msg, sig);
    let answered = match params(alg).filter(|_| backend.native) {
        Some((hash, width)) => {
            let tp = thumbprint(&key);
            native_verify(hash, &tp, width, msg, sig) >= 0
        }
        None => false,
    };
    i32::from(native)
        | (i32::from(ring) << 1)
        | (i32::from(answered) << 2)
        | (i32::from(!RingBackend.supports(alg)) << 4)
}
