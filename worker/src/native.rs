//! A [`SignatureBackend`] on workerd's native crypto.
//!
//! Ring compiled to wasm is the reference and runs everywhere, but bignum
//! arithmetic in wasm is 5-10x slower than BoringSSL. With `nodejs_compat`
//! workerd offers a synchronous `node:crypto.verify`, which this backend uses
//! for RS256/384/512, ES256/384/512 and EdDSA. WebCrypto (`crypto.subtle`,
//! in every workerd) answers later, through a promise: the backend
//! [`defers`](SignatureBackend::defers) to it, in the core's two-phase
//! check (src/lib.rs `fetch_fast`, [`start_web`]), what node:crypto cannot
//! or not yet: RSA-PSS (workerd's node:crypto does not do PSS padding), a
//! new isolate's first verdicts, and everything without `nodejs_compat`.
//! HMAC, and what a synchronous check (the path that waits for keys) meets
//! before node:crypto is loaded, go to ring. ES512 is node:crypto's alone
//! there (ring has no P-521 and the Worker leaves the core's `p521` feature
//! off): without `nodejs_compat` ES512 tokens are refused
//! (`alg_not_allowed`). Key and algorithm checks stay in the core: a backend
//! only does arithmetic on a key the core already matched to the token's
//! `alg`.
//!
//! node:crypto is loaded on first need (js/native.js): loading it costs a new
//! isolate ~5 ms of CPU. Until it is loaded ([`load`], which the Worker runs
//! right after its first verdict), WebCrypto verifies on the synchronous
//! path; a synchronous check verifies with ring where ring is quick in wasm,
//! and loads node:crypto at once for ES384 (~8x slower there) and ES512.

use edgeward::crypto::ecdsa_der;
use edgeward::keys::KeyMaterial;
use edgeward::{Algorithm, PublicKey, RingBackend, SignatureBackend};
use std::cell::RefCell;
use wasm_bindgen::prelude::*;

/// A key's native key object: loaded in JS slot `index` of js/native.js.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Slot {
    /// Not loaded yet (node:crypto was not when the key was first used).
    Unloaded,
    /// Loaded: verify natively.
    Native,
    /// node:crypto refused the key: ring verifies with it.
    Ring,
}

/// At most this many keys have a native key object (a key set rotates
/// slowly); past it the slots are reused from the first.
const MAX_SLOTS: usize = 64;

thread_local! {
    /// Key material → its slot (the index in js/native.js's key objects),
    /// compared by the material itself, exactly. A key is loaded into its
    /// slot before any verification uses that slot, so a reused slot never
    /// verifies with the key it held before.
    static SLOTS: RefCell<Vec<(KeyMaterial, Slot, bool)>> = const { RefCell::new(Vec::new()) };
    /// Whether node:crypto was tried ([`load`]) and is there: `None` until
    /// tried.
    static NODE: std::cell::Cell<Option<bool>> = const { std::cell::Cell::new(None) };
}

/// The slot of `key` and its state, a new one when the key has none.
fn slot_of(key: &PublicKey) -> (u32, Slot) {
    SLOTS.with(|t| {
        let mut t = t.borrow_mut();
        if let Some(i) = t.iter().position(|(m, _, _)| *m == key.material) {
            return (i as u32, t[i].1);
        }
        if t.len() >= MAX_SLOTS {
            t.clear();
        }
        t.push((key.material.clone(), Slot::Unloaded, false));
        ((t.len() - 1) as u32, Slot::Unloaded)
    })
}

fn set_slot(index: u32, state: Slot) {
    SLOTS.with(|t| {
        if let Some(e) = t.borrow_mut().get_mut(index as usize) {
            e.1 = state;
        }
    });
}

/// A key's public numbers as js/native.js `jwkOf` takes them: the type
/// (1 RSA: `n`, `e`; 2, 3, 4 EC on P-256, P-384, P-521: `x`, `y`; 5
/// Ed25519: `x`; 9 none, for an HMAC secret, which never leaves the core)
/// and two byte strings. JS writes the JWK: base64url there costs a new
/// isolate nothing to compile, where serde's writer in wasm does.
fn raw(material: &KeyMaterial) -> (u32, &[u8], &[u8]) {
    match material {
        KeyMaterial::Rsa { n, e } => (1, n, e),
        KeyMaterial::Ec { curve, x, y } => {
            let kind = match curve {
                edgeward::keys::Curve::P256 => 2,
                edgeward::keys::Curve::P384 => 3,
                edgeward::keys::Curve::P521 => 4,
            };
            (kind, x, y)
        }
        KeyMaterial::Ed25519 { x } => (5, x, &[]),
        KeyMaterial::Hmac { .. } => (9, &[], &[]),
    }
}

/// Loads `key` into slot `index`: Native, Ring (refused), or `None` when
/// node:crypto is not loaded.
fn load_slot(index: u32, key: &PublicKey) -> Option<Slot> {
    let (kind, a, b) = raw(&key.material);
    let state = match native_add_key(index, kind, a, b) {
        1 => Slot::Native,
        -3 => return None,
        _ => Slot::Ring,
    };
    set_slot(index, state);
    Some(state)
}

#[wasm_bindgen(module = "/js/native.js")]
extern "C" {
    #[wasm_bindgen(js_name = nativeLoad)]
    fn native_load() -> bool;
    #[wasm_bindgen(js_name = nativeAddKey)]
    fn native_add_key(slot: u32, kind: u32, a: &[u8], b: &[u8]) -> i32;
    #[wasm_bindgen(js_name = nativeVerify)]
    fn native_verify(hash: u32, slot: u32, msg: &[u8], sig: &[u8]) -> i32;
    #[wasm_bindgen(js_name = webVerify)]
    fn web_verify(
        alg: &str,
        slot: u32,
        kind: u32,
        a: &[u8],
        b: &[u8],
        msg: &[u8],
        sig: &[u8],
    ) -> js_sys::Promise;
    /// `{check, verdict}`: what src/lib.rs `fetch_fast` answers js/entry.mjs
    /// for a check waiting on WebCrypto.
    pub fn awaiting(check: u32, verdict: &js_sys::Promise) -> JsValue;
}

/// A deferred signature ([`SignatureBackend::defers`]) handed to WebCrypto.
pub enum Web {
    /// Its answer, with no arithmetic to do: an ECDSA signature of the wrong
    /// width verifies with no key.
    Now(bool),
    /// js/native.js `webVerify`'s verdict: a promise of 1, 0 or -1
    /// (WebCrypto cannot: the synchronous backend verifies), never rejected.
    Started(js_sys::Promise),
}

/// Starts verifying `c` with WebCrypto: the key goes by its slot, and as
/// its numbers ([`raw`]) only the first time WebCrypto sees it in that slot.
pub fn start_web(c: &edgeward::SignatureCheck) -> Web {
    if let Some((_, width)) = params(c.alg).filter(|(_, w)| *w > 0) {
        if c.signature.len() != 2 * width {
            return Web::Now(false);
        }
    }
    let (slot, _) = slot_of(&c.key);
    let handed = SLOTS.with(|t| std::mem::replace(&mut t.borrow_mut()[slot as usize].2, true));
    // Kind 0 with no numbers: the slot's key as handed before.
    let (kind, a, b) = if handed {
        (0, &[][..], &[][..])
    } else {
        raw(&c.key.material)
    };
    Web::Started(web_verify(
        edgeward::keys::alg_name(c.alg),
        slot,
        kind,
        a,
        b,
        &c.message,
        &c.signature,
    ))
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
    let there = native_load();
    NODE.with(|n| n.set(Some(there)));
    there
}

/// What verifies signatures once node:crypto is loaded (loads it), for the
/// log: node:crypto (RSA-PSS still WebCrypto's), or WebCrypto alone.
pub fn in_use() -> &'static str {
    if load() {
        "node:crypto"
    } else {
        "webcrypto"
    }
}

/// The hash (js/native.js HASHES: 0 none, 1 SHA-256, 2 SHA-384, 3 SHA-512)
/// and, for ECDSA, the width of `r` and `s`.
fn params(alg: Algorithm) -> Option<(u32, usize)> {
    Some(match alg {
        Algorithm::RS256 => (1, 0),
        Algorithm::RS384 => (2, 0),
        Algorithm::RS512 => (3, 0),
        Algorithm::ES256 => (1, 32),
        Algorithm::ES384 => (2, 48),
        Algorithm::ES512 => (3, 66),
        Algorithm::EdDSA => (0, 0),
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
        let (slot, mut state) = slot_of(key);
        if state == Slot::Unloaded {
            state = match load_slot(slot, key) {
                Some(s) => s,
                // Not loaded yet (a new isolate's first verdicts): ring where
                // it is quick in wasm, else load node:crypto now.
                None if alg != Algorithm::ES384 && RingBackend.supports(alg) => Slot::Ring,
                None => {
                    load();
                    load_slot(slot, key).unwrap_or(Slot::Ring)
                }
            };
        }
        if state != Slot::Native {
            return RingBackend.verify(alg, key, message, signature);
        }
        let answer = if width > 0 {
            match ecdsa_der(signature, width) {
                Some(der) => native_verify(hash, slot, message, &der),
                // Not r || s of this curve's width: no signature of this key.
                None => 0,
            }
        } else {
            native_verify(hash, slot, message, signature)
        };
        match answer {
            1 => true,
            0 => false,
            _ => RingBackend.verify(alg, key, message, signature),
        }
    }

    /// WebCrypto (js/native.js `webVerify`, in two phases: src/lib.rs
    /// [`crate::fetch_fast`]) where it beats the synchronous choice: RSA-PSS
    /// always (node:crypto has no PSS: ring would), the other asymmetric
    /// algs while node:crypto is not loaded (a new isolate's first
    /// verdicts, where ring runs at first-request wasm speed) or not there
    /// (no `nodejs_compat`). HMAC never reaches a backend's `defers`.
    fn defers(&self, alg: Algorithm, _: &PublicKey) -> bool {
        match alg {
            Algorithm::PS256 | Algorithm::PS384 | Algorithm::PS512 => true,
            Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512 => false,
            _ => !self.native || NODE.with(|n| n.get()) != Some(true),
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
            let (slot, state) = slot_of(&key);
            // A signature of the wrong width is refused here, by this
            // backend, before any arithmetic.
            let der = if width > 0 {
                ecdsa_der(sig, width)
            } else {
                Some(sig.to_vec())
            };
            state == Slot::Native && der.is_none_or(|der| native_verify(hash, slot, msg, &der) >= 0)
        }
        None => false,
    };
    i32::from(native)
        | (i32::from(ring) << 1)
        | (i32::from(answered) << 2)
        | (i32::from(!RingBackend.supports(alg)) << 4)
}

/// Test builds only: one Wycheproof vector through the WebCrypto path a
/// deferred check takes ([`start_web`]), after
/// the core's own key checks: a promise of 1 (valid), 0 (invalid), -1
/// (WebCrypto cannot: the synchronous backend would verify), or 8 (the core
/// refuses the key or the alg for it).
#[cfg(feature = "test-vectors")]
#[wasm_bindgen(js_name = testWebVerify)]
pub fn test_web_verify(alg: &str, jwk: &str, msg: &[u8], sig: &[u8]) -> js_sys::Promise {
    let now = |v: i32| js_sys::Promise::resolve(&JsValue::from(v));
    let Some(alg) = edgeward::keys::parse_alg(alg) else {
        return now(-1);
    };
    let key = match serde_json::from_str::<serde_json::Value>(jwk)
        .ok()
        .map(|v| edgeward::keys::parse_jwk(&v))
    {
        Some(Ok(k)) if k.usable_for(alg).is_ok() => k,
        Some(_) => return now(8),
        None => return now(-1),
    };
    let check = edgeward::SignatureCheck {
        alg,
        key,
        message: msg.to_vec(),
        signature: sig.to_vec(),
    };
    match start_web(&check) {
        Web::Now(valid) => now(i32::from(valid)),
        Web::Started(verdict) => verdict,
    }
}
