//! Signature backends.
//!
//! The reference backend is [`RingBackend`]: ring behind jsonwebtoken's
//! [`CryptoProvider`] interface ([`RING_PROVIDER`]), compiled into the module
//! so it runs in every host. A host with faster native crypto (Node's
//! `crypto.verify`, Envoy's `verify_signature`) implements
//! [`SignatureBackend`] instead. Key and algorithm checks never live in a
//! backend: the core has already matched the key to the header's `alg` before
//! a backend sees it, so a backend only does arithmetic.

use crate::keys::{KeyMaterial, PublicKey};
use jsonwebtoken::crypto::{CryptoProvider, JwtSigner, JwtVerifier, KeyUtils};
use jsonwebtoken::errors::{ErrorKind, Result as JwtResult};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey};
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

    /// SHA-256 of a token: the verdict-cache key and the API-token hash. A
    /// host with faster native hashing than wasm-compiled ring may supply it.
    fn sha256(&self, token: &str) -> [u8; 32] {
        crate::cache::digest(token)
    }
}

/// The reference backend: ring, reached through jsonwebtoken's provider API.
/// ES256/ES384 need the `ring-ecdsa` feature; without it they never verify.
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
        ring_verify(alg, key.decoding_key(), message, signature)
    }
}

/// Runs one verification through a jsonwebtoken [`CryptoProvider`] without
/// touching jsonwebtoken's process-wide default (the core holds no globals).
pub fn verify_with_provider(
    provider: &CryptoProvider,
    alg: Algorithm,
    key: &DecodingKey,
    message: &[u8],
    signature: &[u8],
) -> bool {
    match (provider.verifier_factory)(&alg, key) {
        Ok(verifier) => verifier.verify(message, &signature.to_vec()).is_ok(),
        Err(_) => false,
    }
}

/// jsonwebtoken's provider interface implemented on ring: RS256/384/512,
/// PS256/384/512, ES256, ES384 (fixed-width signatures only; with the
/// `ring-ecdsa` feature, on by default), EdDSA (Ed25519) and HS256/384/512.
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

fn verification_alg(alg: Algorithm) -> Option<&'static dyn sig::VerificationAlgorithm> {
    Some(match alg {
        Algorithm::RS256 => &sig::RSA_PKCS1_2048_8192_SHA256,
        Algorithm::RS384 => &sig::RSA_PKCS1_2048_8192_SHA384,
        Algorithm::RS512 => &sig::RSA_PKCS1_2048_8192_SHA512,
        Algorithm::PS256 => &sig::RSA_PSS_2048_8192_SHA256,
        Algorithm::PS384 => &sig::RSA_PSS_2048_8192_SHA384,
        Algorithm::PS512 => &sig::RSA_PSS_2048_8192_SHA512,
        #[cfg(feature = "ring-ecdsa")]
        Algorithm::ES256 => &sig::ECDSA_P256_SHA256_FIXED,
        #[cfg(feature = "ring-ecdsa")]
        Algorithm::ES384 => &sig::ECDSA_P384_SHA384_FIXED,
        Algorithm::EdDSA => &sig::ED25519,
        _ => return None,
    })
}

fn rsa_params(alg: Algorithm) -> Option<&'static sig::RsaParameters> {
    Some(match alg {
        Algorithm::RS256 => &sig::RSA_PKCS1_2048_8192_SHA256,
        Algorithm::RS384 => &sig::RSA_PKCS1_2048_8192_SHA384,
        Algorithm::RS512 => &sig::RSA_PKCS1_2048_8192_SHA512,
        Algorithm::PS256 => &sig::RSA_PSS_2048_8192_SHA256,
        Algorithm::PS384 => &sig::RSA_PSS_2048_8192_SHA384,
        Algorithm::PS512 => &sig::RSA_PSS_2048_8192_SHA512,
        _ => return None,
    })
}

fn hmac_alg(alg: Algorithm) -> Option<ring::hmac::Algorithm> {
    match alg {
        Algorithm::HS256 => Some(ring::hmac::HMAC_SHA256),
        Algorithm::HS384 => Some(ring::hmac::HMAC_SHA384),
        Algorithm::HS512 => Some(ring::hmac::HMAC_SHA512),
        _ => None,
    }
}

struct RingVerifier {
    alg: Algorithm,
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
fn ring_verify(alg: Algorithm, key: &DecodingKey, msg: &[u8], signature: &[u8]) -> bool {
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
    fn algorithm(&self) -> Algorithm {
        self.alg
    }
}

fn ring_verifier(alg: &Algorithm, key: &DecodingKey) -> JwtResult<Box<dyn JwtVerifier>> {
    if key.family() != alg.family() {
        return Err(ErrorKind::InvalidAlgorithm.into());
    }
    Ok(Box::new(RingVerifier {
        alg: *alg,
        key: key.clone(),
    }))
}

struct RingSigner {
    alg: Algorithm,
    key: EncodingKey,
}

impl signature::Signer<Vec<u8>> for RingSigner {
    fn try_sign(&self, msg: &[u8]) -> Result<Vec<u8>, signature::Error> {
        sign(self.alg, self.key.as_bytes(), msg).ok_or_else(signature::Error::new)
    }
}

impl JwtSigner for RingSigner {
    fn algorithm(&self) -> Algorithm {
        self.alg
    }
}

fn ring_signer(alg: &Algorithm, key: &EncodingKey) -> JwtResult<Box<dyn JwtSigner>> {
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
    let rng = ring::rand::SystemRandom::new();
    if let Some(h) = hmac_alg(alg) {
        return Some(
            ring::hmac::sign(&ring::hmac::Key::new(h, der), msg)
                .as_ref()
                .to_vec(),
        );
    }
    let rsa_padding: Option<&'static dyn sig::RsaEncoding> = match alg {
        Algorithm::RS256 => Some(&sig::RSA_PKCS1_SHA256),
        Algorithm::RS384 => Some(&sig::RSA_PKCS1_SHA384),
        Algorithm::RS512 => Some(&sig::RSA_PKCS1_SHA512),
        Algorithm::PS256 => Some(&sig::RSA_PSS_SHA256),
        Algorithm::PS384 => Some(&sig::RSA_PSS_SHA384),
        Algorithm::PS512 => Some(&sig::RSA_PSS_SHA512),
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
        Algorithm::ES256 | Algorithm::ES384 => {
            let signing = if alg == Algorithm::ES256 {
                &sig::ECDSA_P256_SHA256_FIXED_SIGNING
            } else {
                &sig::ECDSA_P384_SHA384_FIXED_SIGNING
            };
            let pair = sig::EcdsaKeyPair::from_pkcs8(signing, der, &rng).ok()?;
            Some(pair.sign(&rng, msg).ok()?.as_ref().to_vec())
        }
        Algorithm::EdDSA => {
            let pair = sig::Ed25519KeyPair::from_pkcs8_maybe_unchecked(der).ok()?;
            Some(pair.sign(msg).as_ref().to_vec())
        }
        _ => None,
    }
}

/// Whether `key`'s type and curve can verify `alg` at all (the strict checks
/// on `alg`, `use` and `key_ops` live in [`PublicKey::usable_for`]).
pub(crate) fn key_family_fits(alg: Algorithm, key: &KeyMaterial) -> bool {
    use crate::keys::Curve;
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
        ) | (Algorithm::EdDSA, KeyMaterial::Ed25519 { .. })
            | (
                Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512,
                KeyMaterial::Hmac { .. }
            )
    )
}
