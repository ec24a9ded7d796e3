//! Signature backends.
//!
//! The reference backend is [`RingBackend`]: ring behind jsonwebtoken's
//! [`CryptoProvider`] interface ([`RING_PROVIDER`]), compiled into the module
//! so it runs in every host. A host with faster native crypto (Node's
//! `crypto.verify`, Envoy's `verify_signature`) implements
//! [`SignatureBackend`] instead. Key and algorithm checks never live in a
//! backend: the core has already matched the key to the header's `alg` before
//! a backend sees it, so a backend only does arithmetic.
//!
//! ES512 is the exception to "ring": ring has no P-521, so the reference
//! backend verifies it with RustCrypto's `p521`, behind the `p521` cargo
//! feature (on by default). A build without it (the wasm hosts, whose native
//! crypto verifies ES512) reports ES512 as unsupported
//! ([`SignatureBackend::supports`]) and the gate refuses such tokens.

use crate::keys::{Algorithm, Curve, KeyMaterial, PublicKey};
use jsonwebtoken::crypto::{CryptoProvider, JwtSigner, JwtVerifier, KeyUtils};
use jsonwebtoken::errors::{ErrorKind, Result as JwtResult};
use jsonwebtoken::Algorithm as JwtAlgorithm;
use jsonwebtoken::{DecodingKey, EncodingKey};
use ring::signature as sig;

/// Verifies one signature over `message` with an already-vetted key.
///
/// Implementations must be exact: true only for a valid signature in the
/// JWS encoding of `alg` (PKCS#1 v1.5 / PSS with salt = hash length for RSA,
/// the fixed-width `r||s` form for ECDSA, RFC 8032 for Ed25519).
pub trait SignatureBackend {
    /// A short name for logs and `explain` output.
    fn name(&self) -> &'static str;
    /// True when `signature` is a valid `alg` signature of `message` by `key`.
    fn verify(&self, alg: Algorithm, key: &PublicKey, message: &[u8], signature: &[u8]) -> bool;

    /// Whether this backend can verify `alg` at all. The gate refuses a
    /// token whose `alg` it cannot (`alg_not_allowed`, "not supported by
    /// this build") instead of calling [`verify`](Self::verify). By default
    /// what [`RingBackend`] verifies: a backend that falls back to it for
    /// some algorithms need not say more.
    fn supports(&self, alg: Algorithm) -> bool {
        RingBackend.supports(alg)
    }

    /// Whether a two-phase check ([`crate::Gate::check_deferring`]) hands
    /// this verification to the host instead of calling
    /// [`verify`](Self::verify): for a host whose fastest verifier answers
    /// later (WebCrypto's promise) while its synchronous one is slow or not
    /// loaded yet. Never asked by [`crate::Gate::check`] or
    /// [`crate::Gate::verify`], so a synchronous backend pays nothing for it.
    fn defers(&self, alg: Algorithm, key: &PublicKey) -> bool {
        let _ = (alg, key);
        false
    }

    /// SHA-256 of an opaque token, compared with the configured API-token
    /// hashes. A host with faster native hashing than wasm-compiled ring may
    /// supply it. (JWTs are named in the verdict caches by a keyed hash,
    /// [`crate::cache::TokenKeyer`], not by this.)
    fn sha256(&self, token: &str) -> [u8; 32] {
        crate::cache::digest(token)
    }
}

/// The reference backend: ring (reached the way jsonwebtoken's provider
/// API would), and RustCrypto's `p521` for ES512 with the `p521` feature.
/// ES256/ES384 need the `ring-ecdsa` feature; without it they never verify
/// (and [`SignatureBackend::supports`] says so).
#[derive(Clone, Copy, Debug, Default)]
pub struct RingBackend;

impl SignatureBackend for RingBackend {
    fn name(&self) -> &'static str {
        "ring"
    }

    fn verify(&self, alg: Algorithm, key: &PublicKey, message: &[u8], signature: &[u8]) -> bool {
        // Straight to ring: no verifier object, no key or signature copies,
        // and no reference to RING_PROVIDER, whose signer would otherwise
        // ride along (RSA, ECDSA and Ed25519 signing, key generation) in
        // every verify-only host module.
        match alg.to_jsonwebtoken() {
            Some(alg) => ring_verify(alg, key.decoding_key(), message, signature),
            None => es512_verify(key, message, signature),
        }
    }

    fn supports(&self, alg: Algorithm) -> bool {
        let es512 = cfg!(feature = "p521");
        let ring_ecdsa = cfg!(feature = "ring-ecdsa");
        match alg {
            Algorithm::ES512 => es512,
            Algorithm::ES256 | Algorithm::ES384 => ring_ecdsa,
            _ => true,
        }
    }
}

/// ES512: ECDSA on P-521 with SHA-512, the signature in the fixed-width
/// `r || s` form (66 bytes each). `p521` checks the point is on the curve,
/// `r` and `s` are in `1..n`; like ring for ES256/ES384, a high `s` is
/// accepted (JWS does not require low-S).
#[cfg(feature = "p521")]
fn es512_verify(key: &PublicKey, message: &[u8], signature: &[u8]) -> bool {
    use p521::ecdsa::signature::Verifier;
    use p521::ecdsa::{Signature, VerifyingKey};
    let KeyMaterial::Ec {
        curve: Curve::P521,
        x,
        y,
    } = &key.material
    else {
        return false;
    };
    let mut point = Vec::with_capacity(1 + x.len() + y.len());
    point.push(0x04);
    point.extend_from_slice(x);
    point.extend_from_slice(y);
    let (Ok(key), Ok(signature)) = (
        VerifyingKey::from_sec1_bytes(&point),
        Signature::from_slice(signature),
    ) else {
        return false;
    };
    key.verify(message, &signature).is_ok()
}

/// Without the `p521` feature nothing verifies as ES512 (and
/// [`RingBackend::supports`] says so, so the gate never asks).
#[cfg(not(feature = "p521"))]
fn es512_verify(_: &PublicKey, _: &[u8], _: &[u8]) -> bool {
    false
}

/// A JWS ECDSA signature (the fixed-width `r || s` of RFC 7518 §3.4, `width`
/// bytes each) as the ASN.1 DER `Ecdsa-Sig-Value` that native verifiers
/// (node:crypto with a key object, Envoy's `verify_signature`) take. `None`
/// unless the signature is exactly `2 * width` bytes, for a curve's width
/// (1 to 66 bytes: P-521's is the largest).
///
/// ```
/// let der = edgeward::crypto::ecdsa_der(&[0, 1, 0x80, 2], 2).unwrap();
/// assert_eq!(der, [0x30, 8, 0x02, 1, 1, 0x02, 3, 0, 0x80, 2]);
/// assert!(edgeward::crypto::ecdsa_der(&[1, 2, 3], 2).is_none());
/// ```
pub fn ecdsa_der(sig: &[u8], width: usize) -> Option<Vec<u8>> {
    if !(1..=66).contains(&width) || sig.len() != 2 * width {
        return None;
    }
    // An unsigned big-endian integer: leading zeros dropped (one kept for
    // zero), a zero byte added when the top bit is set.
    let int = |b: &[u8], out: &mut Vec<u8>| {
        let first = b.iter().position(|&x| x != 0).unwrap_or(b.len() - 1);
        let b = &b[first..];
        let pad = usize::from(b[0] & 0x80 != 0);
        out.push(0x02);
        out.push((b.len() + pad) as u8);
        if pad == 1 {
            out.push(0);
        }
        out.extend_from_slice(b);
    };
    let mut body = Vec::with_capacity(2 * width + 6);
    int(&sig[..width], &mut body);
    int(&sig[width..], &mut body);
    // At most 2 * (2 + 67) = 138 bytes: a one-byte long form past 127.
    let mut out = Vec::with_capacity(body.len() + 3);
    out.push(0x30);
    if body.len() >= 0x80 {
        out.push(0x81);
    }
    out.push(body.len() as u8);
    out.extend_from_slice(&body);
    Some(out)
}

/// A signature a two-phase check hands to the host
/// ([`crate::Gate::check_deferring`]): verify `signature` over `message` with
/// `key` as `alg`, exactly as [`SignatureBackend::verify`] would, then
/// answer it ([`SignatureCheck::answer`]) in the same request's next check.
/// The key has passed every check of the core (`alg` allowed for the issuer
/// and for the key, `use`, `key_ops`, size): only the arithmetic is left.
#[derive(Clone, Debug)]
pub struct SignatureCheck {
    /// The token's `alg`.
    pub alg: Algorithm,
    /// The key to verify with.
    pub key: PublicKey,
    /// The JWS signing input (`header.payload`, as sent).
    pub message: Vec<u8>,
    /// The decoded signature (for ECDSA the JWS `r || s`, unchecked width).
    pub signature: Vec<u8>,
}

impl SignatureCheck {
    /// The host's result for this check, to pass to the next
    /// [`crate::Gate::check_deferring`] of the same request.
    pub fn answer(self, valid: bool) -> SignatureAnswer {
        SignatureAnswer { check: self, valid }
    }
}

/// A [`SignatureCheck`] with its result. The gate uses it only for that
/// exact verification (alg, key material, message and signature all equal);
/// any other signature of the check is verified by the backend, at once.
#[derive(Clone, Debug)]
pub struct SignatureAnswer {
    check: SignatureCheck,
    valid: bool,
}

impl SignatureAnswer {
    /// The result for this verification, when the answer is for it.
    pub(crate) fn for_(
        &self,
        alg: Algorithm,
        key: &PublicKey,
        message: &[u8],
        signature: &[u8],
    ) -> Option<bool> {
        let c = &self.check;
        (c.alg == alg
            && c.key.material == key.material
            && c.message == message
            && c.signature == signature)
            .then_some(self.valid)
    }
}

/// Runs one verification through a jsonwebtoken [`CryptoProvider`] without
/// touching jsonwebtoken's process-wide default (the core holds no globals).
/// False for ES512, which jsonwebtoken does not know.
pub fn verify_with_provider(
    provider: &CryptoProvider,
    alg: Algorithm,
    key: &DecodingKey,
    message: &[u8],
    signature: &[u8],
) -> bool {
    let Some(alg) = alg.to_jsonwebtoken() else {
        return false;
    };
    match (provider.verifier_factory)(&alg, key) {
        Ok(verifier) => verifier.verify(message, &signature.to_vec()).is_ok(),
        Err(_) => false,
    }
}

/// jsonwebtoken's provider interface implemented on ring: RS256/384/512,
/// PS256/384/512, ES256, ES384 (fixed-width signatures only; with the
/// `ring-ecdsa` feature, on by default), EdDSA (Ed25519) and HS256/384/512
/// (jsonwebtoken has no ES512: [`sign`] and [`RingBackend`] do it).
///
/// Install it as jsonwebtoken's process default where `jsonwebtoken::encode`
/// or `decode` are used directly (the CLI does, to mint tokens):
///
/// ```
/// let _ = edgeward::crypto::RING_PROVIDER.install_default();
/// ```
pub static RING_PROVIDER: CryptoProvider = CryptoProvider {
    signer_factory: ring_signer,
    verifier_factory: ring_verifier,
    key_utils: KeyUtils::new_unimplemented(),
};

fn verification_alg(alg: JwtAlgorithm) -> Option<&'static dyn sig::VerificationAlgorithm> {
    Some(match alg {
        JwtAlgorithm::RS256 => &sig::RSA_PKCS1_2048_8192_SHA256,
        JwtAlgorithm::RS384 => &sig::RSA_PKCS1_2048_8192_SHA384,
        JwtAlgorithm::RS512 => &sig::RSA_PKCS1_2048_8192_SHA512,
        JwtAlgorithm::PS256 => &sig::RSA_PSS_2048_8192_SHA256,
        JwtAlgorithm::PS384 => &sig::RSA_PSS_2048_8192_SHA384,
        JwtAlgorithm::PS512 => &sig::RSA_PSS_2048_8192_SHA512,
        #[cfg(feature = "ring-ecdsa")]
        JwtAlgorithm::ES256 => &sig::ECDSA_P256_SHA256_FIXED,
        #[cfg(feature = "ring-ecdsa")]
        JwtAlgorithm::ES384 => &sig::ECDSA_P384_SHA384_FIXED,
        JwtAlgorithm::EdDSA => &sig::ED25519,
        _ => return None,
    })
}

fn rsa_params(alg: JwtAlgorithm) -> Option<&'static sig::RsaParameters> {
    Some(match alg {
        JwtAlgorithm::RS256 => &sig::RSA_PKCS1_2048_8192_SHA256,
        JwtAlgorithm::RS384 => &sig::RSA_PKCS1_2048_8192_SHA384,
        JwtAlgorithm::RS512 => &sig::RSA_PKCS1_2048_8192_SHA512,
        JwtAlgorithm::PS256 => &sig::RSA_PSS_2048_8192_SHA256,
        JwtAlgorithm::PS384 => &sig::RSA_PSS_2048_8192_SHA384,
        JwtAlgorithm::PS512 => &sig::RSA_PSS_2048_8192_SHA512,
        _ => return None,
    })
}

fn hmac_alg(alg: JwtAlgorithm) -> Option<ring::hmac::Algorithm> {
    match alg {
        JwtAlgorithm::HS256 => Some(ring::hmac::HMAC_SHA256),
        JwtAlgorithm::HS384 => Some(ring::hmac::HMAC_SHA384),
        JwtAlgorithm::HS512 => Some(ring::hmac::HMAC_SHA512),
        _ => None,
    }
}

struct RingVerifier {
    alg: JwtAlgorithm,
    key: DecodingKey,
}

impl signature::Verifier<Vec<u8>> for RingVerifier {
    fn verify(&self, msg: &[u8], signature: &Vec<u8>) -> Result<(), signature::Error> {
        if ring_verify(self.alg, &self.key, msg, signature) {
            Ok(())
        } else {
            Err(signature::Error::new())
        }
    }
}

/// One verification on ring; false for a key of the wrong family.
fn ring_verify(alg: JwtAlgorithm, key: &DecodingKey, msg: &[u8], signature: &[u8]) -> bool {
    if key.family() != alg.family() {
        return false;
    }
    if let Some(h) = hmac_alg(alg) {
        return match key.try_get_as_bytes() {
            Ok(secret) => {
                ring::hmac::verify(&ring::hmac::Key::new(h, secret), msg, signature).is_ok()
            }
            Err(_) => false,
        };
    }
    let Some(v) = verification_alg(alg) else {
        return false;
    };
    match key.kind() {
        jsonwebtoken::DecodingKeyKind::RsaModulusExponent { n, e } => match rsa_params(alg) {
            Some(p) => sig::RsaPublicKeyComponents { n, e }
                .verify(p, msg, signature)
                .is_ok(),
            None => false,
        },
        jsonwebtoken::DecodingKeyKind::SecretOrDer(bytes) => sig::UnparsedPublicKey::new(v, bytes)
            .verify(msg, signature)
            .is_ok(),
    }
}

impl JwtVerifier for RingVerifier {
    fn algorithm(&self) -> JwtAlgorithm {
        self.alg
    }
}

fn ring_verifier(alg: &JwtAlgorithm, key: &DecodingKey) -> JwtResult<Box<dyn JwtVerifier>> {
    if key.family() != alg.family() {
        return Err(ErrorKind::InvalidAlgorithm.into());
    }
    Ok(Box::new(RingVerifier {
        alg: *alg,
        key: key.clone(),
    }))
}

struct RingSigner {
    alg: JwtAlgorithm,
    key: EncodingKey,
}

impl signature::Signer<Vec<u8>> for RingSigner {
    fn try_sign(&self, msg: &[u8]) -> Result<Vec<u8>, signature::Error> {
        sign_ring(self.alg, self.key.as_bytes(), msg).ok_or_else(signature::Error::new)
    }
}

impl JwtSigner for RingSigner {
    fn algorithm(&self) -> JwtAlgorithm {
        self.alg
    }
}

fn ring_signer(alg: &JwtAlgorithm, key: &EncodingKey) -> JwtResult<Box<dyn JwtSigner>> {
    if key.family() != alg.family() {
        return Err(ErrorKind::InvalidAlgorithm.into());
    }
    Ok(Box::new(RingSigner {
        alg: *alg,
        key: key.clone(),
    }))
}

/// Signs `msg` with a private key in DER (PKCS#8 for every algorithm; PKCS#1
/// is accepted for RSA) or, for HMAC, the raw secret. `None` when the key does
/// not parse for `alg`. Used by the CLI and tests to mint tokens.
pub fn sign(alg: Algorithm, der: &[u8], msg: &[u8]) -> Option<Vec<u8>> {
    match alg.to_jsonwebtoken() {
        Some(alg) => sign_ring(alg, der, msg),
        None => es512_sign(der, msg),
    }
}

/// ES512 from a PKCS#8 P-521 key: the 132-byte `r || s`.
#[cfg(feature = "p521")]
fn es512_sign(der: &[u8], msg: &[u8]) -> Option<Vec<u8>> {
    use p521::ecdsa::signature::Signer;
    use p521::ecdsa::{Signature, SigningKey};
    use p521::pkcs8::DecodePrivateKey;
    let key = SigningKey::from_pkcs8_der(der).ok()?;
    let signature: Signature = key.try_sign(msg).ok()?;
    Some(signature.to_bytes().to_vec())
}

#[cfg(not(feature = "p521"))]
fn es512_sign(_: &[u8], _: &[u8]) -> Option<Vec<u8>> {
    None
}

fn sign_ring(alg: JwtAlgorithm, der: &[u8], msg: &[u8]) -> Option<Vec<u8>> {
    let rng = ring::rand::SystemRandom::new();
    if let Some(h) = hmac_alg(alg) {
        return Some(
            ring::hmac::sign(&ring::hmac::Key::new(h, der), msg)
                .as_ref()
                .to_vec(),
        );
    }
    let rsa_padding: Option<&'static dyn sig::RsaEncoding> = match alg {
        JwtAlgorithm::RS256 => Some(&sig::RSA_PKCS1_SHA256),
        JwtAlgorithm::RS384 => Some(&sig::RSA_PKCS1_SHA384),
        JwtAlgorithm::RS512 => Some(&sig::RSA_PKCS1_SHA512),
        JwtAlgorithm::PS256 => Some(&sig::RSA_PSS_SHA256),
        JwtAlgorithm::PS384 => Some(&sig::RSA_PSS_SHA384),
        JwtAlgorithm::PS512 => Some(&sig::RSA_PSS_SHA512),
        _ => None,
    };
    if let Some(padding) = rsa_padding {
        let pair = sig::RsaKeyPair::from_pkcs8(der)
            .or_else(|_| sig::RsaKeyPair::from_der(der))
            .ok()?;
        let mut out = vec![0; pair.public().modulus_len()];
        pair.sign(padding, &rng, msg, &mut out).ok()?;
        return Some(out);
    }
    match alg {
        #[cfg(feature = "ring-ecdsa")]
        JwtAlgorithm::ES256 | JwtAlgorithm::ES384 => {
            let signing = if alg == JwtAlgorithm::ES256 {
                &sig::ECDSA_P256_SHA256_FIXED_SIGNING
            } else {
                &sig::ECDSA_P384_SHA384_FIXED_SIGNING
            };
            let pair = sig::EcdsaKeyPair::from_pkcs8(signing, der, &rng).ok()?;
            Some(pair.sign(&rng, msg).ok()?.as_ref().to_vec())
        }
        JwtAlgorithm::EdDSA => {
            let pair = sig::Ed25519KeyPair::from_pkcs8_maybe_unchecked(der).ok()?;
            Some(pair.sign(msg).as_ref().to_vec())
        }
        _ => None,
    }
}

/// Whether `key`'s type and curve can verify `alg` at all (the strict checks
/// on `alg`, `use` and `key_ops` live in [`PublicKey::usable_for`]).
pub(crate) fn key_family_fits(alg: Algorithm, key: &KeyMaterial) -> bool {
    matches!(
        (alg, key),
        (
            Algorithm::RS256
                | Algorithm::RS384
                | Algorithm::RS512
                | Algorithm::PS256
                | Algorithm::PS384
                | Algorithm::PS512,
            KeyMaterial::Rsa { .. }
        ) | (
            Algorithm::ES256,
            KeyMaterial::Ec {
                curve: Curve::P256,
                ..
            }
        ) | (
            Algorithm::ES384,
            KeyMaterial::Ec {
                curve: Curve::P384,
                ..
            }
        ) | (
            Algorithm::ES512,
            KeyMaterial::Ec {
                curve: Curve::P521,
                ..
            }
        ) | (Algorithm::EdDSA, KeyMaterial::Ed25519 { .. })
            | (
                Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512,
                KeyMaterial::Hmac { .. }
            )
    )
}

#[cfg(test)]
mod tests {
    use super::ecdsa_der;

    /// DER the long way: tag, a short or long-form length, contents.
    fn der(tag: u8, contents: &[u8]) -> Vec<u8> {
        let mut out = vec![tag];
        match contents.len() {
            n if n < 0x80 => out.push(n as u8),
            n => out.extend([0x81, n as u8]),
        }
        out.extend_from_slice(contents);
        out
    }

    fn uint(b: &[u8]) -> Vec<u8> {
        let mut v: Vec<u8> = b.iter().copied().skip_while(|&x| x == 0).collect();
        if v.first().is_none_or(|&x| x & 0x80 != 0) {
            v.insert(0, 0);
        }
        der(0x02, &v)
    }

    #[test]
    fn ecdsa_der_is_the_asn1_sig_value_of_r_and_s() {
        let mut seed = 0x2545_F491_4F6C_DD1Du64;
        for width in [32usize, 48, 66] {
            for case in 0..200 {
                let mut sig: Vec<u8> = (0..2 * width)
                    .map(|_| {
                        seed ^= seed << 13;
                        seed ^= seed >> 7;
                        seed ^= seed << 17;
                        seed as u8
                    })
                    .collect();
                // Leading zeros, zero halves and top bits set, in turn.
                match case % 5 {
                    0 => sig[..3].fill(0),
                    1 => sig[width..width + 2].fill(0),
                    2 => sig[..width].fill(0),
                    3 => sig[0] |= 0x80,
                    _ => sig[width] |= 0x80,
                }
                let mut body = uint(&sig[..width]);
                body.extend(uint(&sig[width..]));
                assert_eq!(
                    ecdsa_der(&sig, width),
                    Some(der(0x30, &body)),
                    "width {width}"
                );
            }
            assert_eq!(ecdsa_der(&vec![1; 2 * width - 1], width), None);
            assert_eq!(ecdsa_der(&vec![1; 2 * width + 1], width), None);
        }
        assert_eq!(ecdsa_der(&[], 0), None);
        assert_eq!(ecdsa_der(&[1; 134], 67), None);
    }
}
