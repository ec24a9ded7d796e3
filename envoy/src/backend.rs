//! Signature arithmetic in Envoy (BoringSSL) through its `verify_signature`
//! foreign function, ring where Envoy cannot.
//!
//! `verify_signature` (envoy `source/extensions/common/wasm/foreign.cc`)
//! takes a small protobuf `{1 hash_function, 2 public_key (DER SPKI),
//! 3 signature, 4 text}` and answers `{1 bool result, 2 string error}`. It
//! verifies RSA PKCS#1 v1.5 and ECDSA on P-256, P-384 and P-521 (DER
//! signatures: the JWS `r||s` form is converted here). ES512 is Envoy's
//! alone in the shipped module (ring has no P-521 and the core's `p521`
//! feature is left out): without a working `verify_signature` the filter
//! refuses ES512 tokens (`alg_not_allowed`). It answers false for valid PSS signatures (BoringSSL's
//! default padding) and has no Ed25519: PS* and EdDSA go to ring, always,
//! and a `false` from Envoy is final: there is no fallback to another
//! backend. Key and algorithm checks stay in the core; this only does
//! arithmetic on a key the core already matched to the token's `alg`.

use edgeward::keys::{Curve, KeyMaterial};
use edgeward::{Algorithm, PublicKey, RingBackend, SignatureBackend};
use std::cell::{Cell, RefCell};

/// A verifier for one signature: the foreign function, or a test double.
pub trait Foreign {
    /// `verify_signature(args)`; `None` when the host has no such function
    /// or it failed.
    fn call(&self, args: &[u8]) -> Option<Vec<u8>>;
}

/// Envoy's foreign function, through the proxy-wasm ABI.
pub struct EnvoyForeign;

impl Foreign for EnvoyForeign {
    fn call(&self, args: &[u8]) -> Option<Vec<u8>> {
        #[cfg(target_arch = "wasm32")]
        {
            proxy_wasm::hostcalls::call_foreign_function("verify_signature", Some(args))
                .ok()
                .flatten()
        }
        #[cfg(not(target_arch = "wasm32"))]
        {
            let _ = args;
            None
        }
    }
}

/// Envoy's BoringSSL for RS* and ES*, ring for the rest.
pub struct EnvoyBackend<F: Foreign = EnvoyForeign> {
    foreign: F,
    /// False: ring for everything (no foreign function, a failed self-test,
    /// or `crypto = "ring"`).
    native: bool,
    /// Whether Envoy passed the ES512 known-answer test (checked apart from
    /// RS256/ES256, so an Envoy without P-521 still verifies the rest).
    es512: Cell<bool>,
    /// Key material → DER SPKI, built once per key.
    spki: RefCell<Vec<(KeyMaterial, Vec<u8>)>>,
}

impl<F: Foreign> EnvoyBackend<F> {
    /// A backend on `foreign`; `native` false means ring only.
    pub fn new(foreign: F, native: bool) -> Self {
        EnvoyBackend {
            foreign,
            native,
            es512: Cell::new(false),
            spki: RefCell::new(Vec::new()),
        }
    }

    /// Whether Envoy does the RS*/ES* arithmetic.
    pub fn is_native(&self) -> bool {
        self.native
    }

    fn spki_of(&self, key: &PublicKey) -> Option<Vec<u8>> {
        let mut cache = self.spki.borrow_mut();
        if let Some((_, der)) = cache.iter().find(|(m, _)| *m == key.material) {
            return Some(der.clone());
        }
        let der = spki(&key.material)?;
        if cache.len() >= 64 {
            cache.clear();
        }
        cache.push((key.material.clone(), der.clone()));
        Some(der)
    }

    /// Envoy's verdict, or `None` when the call itself failed.
    fn foreign_verify(
        &self,
        hash: &str,
        spki: &[u8],
        signature: &[u8],
        text: &[u8],
    ) -> Option<bool> {
        let mut args = Vec::with_capacity(spki.len() + signature.len() + text.len() + 32);
        proto_bytes(&mut args, 1, hash.as_bytes());
        proto_bytes(&mut args, 2, spki);
        proto_bytes(&mut args, 3, signature);
        proto_bytes(&mut args, 4, text);
        let out = self.foreign.call(&args)?;
        parse_result(&out)
    }

    /// A known-answer test: a valid RS256 and ES256 signature must verify
    /// and altered ones must not. Run at configure time; a backend that
    /// fails it is not used. ES512 is tested too, but only decides whether
    /// Envoy verifies ES512.
    pub fn self_test(&self) -> Result<(), String> {
        let vectors = crate::selftest::vectors();
        self.es512.set(true);
        let mut es512 = vectors
            .iter()
            .filter(|v| v.alg == Algorithm::ES512)
            .peekable();
        let es512_ok = es512.peek().is_some()
            && es512.all(|v| {
                self.native_verify(v.alg, &v.key, &v.message, &v.signature) == Some(v.valid)
            });
        self.es512.set(es512_ok);
        for v in vectors.iter().filter(|v| v.alg != Algorithm::ES512) {
            let got = self.native_verify(v.alg, &v.key, &v.message, &v.signature);
            if got != Some(v.valid) {
                return Err(format!(
                    "verify_signature answered {got:?} for a {} {} signature",
                    if v.valid { "valid" } else { "altered" },
                    edgeward::keys::alg_name(v.alg)
                ));
            }
        }
        Ok(())
    }

    /// Envoy's answer for `alg`, or `None` where it cannot (or failed).
    pub fn native_verify(
        &self,
        alg: Algorithm,
        key: &PublicKey,
        message: &[u8],
        signature: &[u8],
    ) -> Option<bool> {
        let (hash, ec_width) = match alg {
            Algorithm::RS256 => ("sha256", 0),
            Algorithm::RS384 => ("sha384", 0),
            Algorithm::RS512 => ("sha512", 0),
            Algorithm::ES256 => ("sha256", 32),
            Algorithm::ES384 => ("sha384", 48),
            Algorithm::ES512 if self.es512.get() => ("sha512", 66),
            _ => return None,
        };
        let spki = self.spki_of(key)?;
        if ec_width > 0 {
            // Not r || s of this curve's width: no signature of this key.
            let Some(der) = edgeward::crypto::ecdsa_der(signature, ec_width) else {
                return Some(false);
            };
            self.foreign_verify(hash, &spki, &der, message)
        } else {
            self.foreign_verify(hash, &spki, signature, message)
        }
    }
}

impl<F: Foreign> SignatureBackend for EnvoyBackend<F> {
    fn name(&self) -> &'static str {
        if self.native {
            "envoy"
        } else {
            "ring"
        }
    }

    fn verify(&self, alg: Algorithm, key: &PublicKey, message: &[u8], signature: &[u8]) -> bool {
        if self.native {
            if let Some(ok) = self.native_verify(alg, key, message, signature) {
                return ok;
            }
            // A failed call (not a `false`) or an algorithm Envoy does not
            // do: ring decides. A `false` never reaches here.
        }
        RingBackend.verify(alg, key, message, signature)
    }

    fn supports(&self, alg: Algorithm) -> bool {
        // ES256/ES384 are Envoy's when ring's ECDSA is not built in (the
        // shipped filter); ES512 is Envoy's alone, after its own self-test.
        let envoys = match alg {
            Algorithm::ES256 | Algorithm::ES384 => self.native,
            Algorithm::ES512 => self.native && self.es512.get(),
            _ => false,
        };
        RingBackend.supports(alg) || envoys
    }
}

/// A length-delimited protobuf field.
fn proto_bytes(out: &mut Vec<u8>, field: u8, data: &[u8]) {
    out.push(field << 3 | 2);
    let mut n = data.len();
    loop {
        let b = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(b);
            break;
        }
        out.push(b | 0x80);
    }
    out.extend_from_slice(data);
}

/// `{1 bool result, 2 string error}` → the result; `None` when malformed.
fn parse_result(mut b: &[u8]) -> Option<bool> {
    let mut result = false;
    while let Some((&tag, rest)) = b.split_first() {
        b = rest;
        let (value, rest) = varint(b)?;
        match tag {
            0x08 => {
                result = value != 0;
                b = rest;
            }
            t if t & 7 == 2 => {
                let len = usize::try_from(value).ok()?;
                b = rest.get(len..)?;
            }
            _ => return None,
        }
    }
    Some(result)
}

fn varint(b: &[u8]) -> Option<(u64, &[u8])> {
    let mut v = 0u64;
    for (i, &byte) in b.iter().enumerate().take(10) {
        v |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return Some((v, &b[i + 1..]));
        }
    }
    None
}

/// DER: tag, length, contents.
fn der(tag: u8, contents: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let n = contents.len();
    if n < 0x80 {
        out.push(n as u8);
    } else {
        let bytes = n.to_be_bytes();
        let skip = bytes.iter().take_while(|&&b| b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
    out.extend_from_slice(contents);
    out
}

/// A DER INTEGER from unsigned big-endian bytes.
fn der_uint(bytes: &[u8]) -> Vec<u8> {
    let start = bytes.iter().take_while(|&&b| b == 0).count();
    let mut v = Vec::with_capacity(bytes.len() + 1);
    if start == bytes.len() {
        v.push(0);
    } else {
        if bytes[start] & 0x80 != 0 {
            v.push(0);
        }
        v.extend_from_slice(&bytes[start..]);
    }
    der(0x02, &v)
}

const OID_RSA: &[u8] = &[
    0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01,
];
const OID_EC: &[u8] = &[0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
const OID_P256: &[u8] = &[0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
const OID_P384: &[u8] = &[0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22];
const OID_P521: &[u8] = &[0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x23];

/// The RSA `RSAPublicKey` (PKCS#1) of `n`, `e`.
pub fn rsa_public_key(n: &[u8], e: &[u8]) -> Vec<u8> {
    let mut body = der_uint(n);
    body.extend(der_uint(e));
    der(0x30, &body)
}

/// A `SubjectPublicKeyInfo` for RSA and EC keys; `None` for others.
pub fn spki(m: &KeyMaterial) -> Option<Vec<u8>> {
    let (alg_id, point) = match m {
        KeyMaterial::Rsa { n, e } => {
            let mut id = OID_RSA.to_vec();
            id.extend([0x05, 0x00]);
            (der(0x30, &id), rsa_public_key(n, e))
        }
        KeyMaterial::Ec { curve, x, y } => {
            let mut id = OID_EC.to_vec();
            id.extend_from_slice(match curve {
                Curve::P256 => OID_P256,
                Curve::P384 => OID_P384,
                Curve::P521 => OID_P521,
            });
            let mut point = vec![0x04];
            point.extend_from_slice(x);
            point.extend_from_slice(y);
            (der(0x30, &id), point)
        }
        _ => return None,
    };
    let mut bits = vec![0x00];
    bits.extend(point);
    let mut body = alg_id;
    body.extend(der(0x03, &bits));
    Some(der(0x30, &body))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ring::signature as sig;

    /// A stand-in for Envoy: ring over the same DER inputs Envoy would get.
    struct RingAsEnvoy;

    impl Foreign for RingAsEnvoy {
        fn call(&self, args: &[u8]) -> Option<Vec<u8>> {
            let mut fields: Vec<&[u8]> = Vec::new();
            let mut b = args;
            while let Some((_, rest)) = b.split_first() {
                let (len, rest) = varint(rest)?;
                fields.push(&rest[..len as usize]);
                b = &rest[len as usize..];
            }
            let [hash, spki, signature, text] = fields[..] else {
                return None;
            };
            // Unwrap the SPKI: the BIT STRING's contents after the unused-bits byte.
            let inner = &spki[spki.len() - spki_payload_len(spki)..];
            let alg: &dyn sig::VerificationAlgorithm = match (hash, inner.first()) {
                (b"sha256", Some(0x04)) => &sig::ECDSA_P256_SHA256_ASN1,
                (b"sha384", Some(0x04)) => &sig::ECDSA_P384_SHA384_ASN1,
                (b"sha256", _) => &sig::RSA_PKCS1_2048_8192_SHA256,
                (b"sha384", _) => &sig::RSA_PKCS1_2048_8192_SHA384,
                (b"sha512", _) => &sig::RSA_PKCS1_2048_8192_SHA512,
                _ => return None,
            };
            let ok = sig::UnparsedPublicKey::new(alg, inner)
                .verify(text, signature)
                .is_ok();
            Some(vec![0x08, u8::from(ok)])
        }
    }

    /// Length of the public key bytes at the end of a SPKI we built.
    fn spki_payload_len(spki: &[u8]) -> usize {
        // The last element is the BIT STRING: find its header by scanning
        // for 0x03 followed by a length that reaches the end.
        for i in (0..spki.len()).rev() {
            if spki[i] != 0x03 {
                continue;
            }
            let (len, hdr) = match spki.get(i + 1) {
                Some(&l) if l < 0x80 => (l as usize, 2),
                Some(&0x81) => (spki[i + 2] as usize, 3),
                Some(&0x82) => ((spki[i + 2] as usize) << 8 | spki[i + 3] as usize, 4),
                _ => continue,
            };
            if i + hdr + len == spki.len() && spki.get(i + hdr) == Some(&0) {
                return len - 1;
            }
        }
        panic!("no BIT STRING at the end");
    }

    #[test]
    fn known_answers_pass_through_the_der_encodings() {
        let b = EnvoyBackend::new(RingAsEnvoy, true);
        b.self_test().unwrap();
    }

    #[test]
    fn a_backend_that_says_yes_to_everything_fails_the_self_test() {
        struct Yes;
        impl Foreign for Yes {
            fn call(&self, _: &[u8]) -> Option<Vec<u8>> {
                Some(vec![0x08, 1])
            }
        }
        assert!(EnvoyBackend::new(Yes, true).self_test().is_err());
        struct Absent;
        impl Foreign for Absent {
            fn call(&self, _: &[u8]) -> Option<Vec<u8>> {
                None
            }
        }
        assert!(EnvoyBackend::new(Absent, true).self_test().is_err());
    }

    #[test]
    fn es512_is_envoys_only_after_its_own_known_answer() {
        // The stand-in has no P-521: RS256 and ES256 pass, ES512 is not
        // claimed, and ES512 calls never reach it.
        let b = EnvoyBackend::new(RingAsEnvoy, true);
        b.self_test().unwrap();
        assert!(!b.es512.get());
        assert_eq!(
            b.supports(Algorithm::ES512),
            RingBackend.supports(Algorithm::ES512)
        );
        let v = crate::selftest::vectors()
            .into_iter()
            .find(|v| v.alg == Algorithm::ES512)
            .unwrap();
        assert_eq!(
            b.native_verify(v.alg, &v.key, &v.message, &v.signature),
            None
        );
        // An Envoy that says yes to every ES512 call fails the ES512
        // known answer (the altered signature) and is not used for it.
        struct YesToSha512;
        impl Foreign for YesToSha512 {
            fn call(&self, args: &[u8]) -> Option<Vec<u8>> {
                if args.windows(6).any(|w| w == b"sha512") {
                    Some(vec![0x08, 1])
                } else {
                    RingAsEnvoy.call(args)
                }
            }
        }
        let b = EnvoyBackend::new(YesToSha512, true);
        b.self_test().unwrap();
        assert!(!b.es512.get());
    }

    #[test]
    fn es256_and_es384_are_envoys_when_ring_has_no_ecdsa() {
        // The shipped filter is built without the core's ring-ecdsa: then
        // only verify_signature does ES256/ES384, and the gate must still
        // take them (it asks `supports` before verifying).
        let native = EnvoyBackend::new(RingAsEnvoy, true);
        let ring_only = EnvoyBackend::new(RingAsEnvoy, false);
        for alg in [Algorithm::ES256, Algorithm::ES384] {
            assert!(native.supports(alg), "{alg:?}");
            assert_eq!(
                ring_only.supports(alg),
                RingBackend.supports(alg),
                "{alg:?}"
            );
        }
        assert!(native.supports(Algorithm::RS256) && native.supports(Algorithm::EdDSA));
    }

    #[test]
    fn integers_and_lengths() {
        assert_eq!(der_uint(&[0, 0, 5]), [2, 1, 5]);
        assert_eq!(der_uint(&[0x80]), [2, 2, 0, 0x80]);
        assert_eq!(der_uint(&[0, 0]), [2, 1, 0]);
        assert_eq!(&der(4, &[0; 200])[..3], &[4, 0x81, 200]);
        assert_eq!(&der(4, &[0; 300])[..4], &[4, 0x82, 1, 44]);
        assert_eq!(parse_result(&[0x08, 1, 0x12, 2, b'o', b'k']), Some(true));
        assert_eq!(parse_result(&[0x12, 1, b'x']), Some(false));
        assert_eq!(parse_result(&[0x08]), None);
    }
}
