//! Signing keys: generation, PEM armor, public JWKs and key ids.

use crate::util::{b64url, io_reason};
use crate::{outln, CliError, CliResult, KeygenArgs};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use edgeward::keys::{alg_name, parse_alg, Curve, KeyMaterial};
use edgeward::{Algorithm, PublicKey};
use ring::signature::{self as sig, KeyPair};
use serde_json::{json, Value};
use std::path::Path;

pub const EXAMPLES: &str = "\
Examples:
  edgeward keygen --alg ES256 --out keys/
  edgeward keygen --alg RS256 --bits 3072 --kid 2024-06 --out keys/rsa
  edgeward keygen --alg EdDSA --out keys/ed --force

Writes DIR/private.pem (PKCS#8, mode 0600) and DIR/jwks.json (the public key
with kid, alg and use=sig). Serve jwks.json, or pass it to
`edgeward check --jwks DIR/jwks.json`; sign with `edgeward mint --key DIR/private.pem`.";

/// A private key ready to sign, with its public half.
pub struct SigningKey {
    /// The algorithm it signs.
    pub alg: Algorithm,
    /// PKCS#8 (or, for RSA, PKCS#1) DER.
    pub der: Vec<u8>,
    /// The public numbers.
    pub public: KeyMaterial,
}

impl SigningKey {
    /// Loads DER and checks it fits `alg` (or infers the algorithm).
    pub fn from_der(der: Vec<u8>, alg: Option<Algorithm>) -> Result<SigningKey, String> {
        let (public, inferred) = public_of(&der)?;
        let alg = alg.unwrap_or(inferred);
        let key = PublicKey::from_material(public.clone());
        if key.usable_for(alg).is_err() {
            return Err(format!(
                "a {} key cannot sign {}",
                describe(&public),
                alg_name(alg)
            ));
        }
        Ok(SigningKey { alg, der, public })
    }

    /// Signs `msg`.
    pub fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, String> {
        edgeward::crypto::sign(self.alg, &self.der, msg)
            .ok_or_else(|| format!("signing with the {} key failed", alg_name(self.alg)))
    }

    /// The public JWK with kid, alg and use=sig.
    pub fn jwk(&self, kid: &str) -> Value {
        public_jwk(&self.public, self.alg, kid)
    }

    /// The default key id: a short RFC 7638 thumbprint.
    pub fn thumbprint_kid(&self) -> String {
        thumbprint_kid(&self.public)
    }
}

/// The public JWK of `material` (built with the core's `PublicKey::to_jwk`).
pub fn public_jwk(material: &KeyMaterial, alg: Algorithm, kid: &str) -> Value {
    let mut key = PublicKey::from_material(material.clone());
    key.kid = Some(kid.to_owned());
    key.alg = Some(alg);
    key.usage = Some("sig".into());
    key.to_jwk()
}

/// `P-256 EC`, `2048-bit RSA`, `Ed25519`.
pub fn describe(m: &KeyMaterial) -> String {
    match m {
        KeyMaterial::Rsa { n, .. } => format!("{}-bit RSA", n.len() * 8),
        KeyMaterial::Ec { curve, .. } => format!("{} EC", curve.name()),
        KeyMaterial::Ed25519 { .. } => "Ed25519".into(),
        KeyMaterial::Hmac { .. } => "HMAC".into(),
    }
}

/// The first 16 characters of the RFC 7638 SHA-256 thumbprint.
pub fn thumbprint_kid(m: &KeyMaterial) -> String {
    // Required members only, in lexicographic order, no whitespace.
    let canonical = match m {
        KeyMaterial::Rsa { n, e } => {
            format!(r#"{{"e":"{}","kty":"RSA","n":"{}"}}"#, b64url(e), b64url(n))
        }
        KeyMaterial::Ec { curve, x, y } => format!(
            r#"{{"crv":"{}","kty":"EC","x":"{}","y":"{}"}}"#,
            curve.name(),
            b64url(x),
            b64url(y)
        ),
        KeyMaterial::Ed25519 { x } => {
            format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{}"}}"#, b64url(x))
        }
        KeyMaterial::Hmac { .. } => String::new(),
    };
    let digest = ring::digest::digest(&ring::digest::SHA256, canonical.as_bytes());
    b64url(digest.as_ref())[..16].to_string()
}

/// The public numbers of a private key, and the algorithm it most likely
/// signs (RS256 for RSA).
fn public_of(der: &[u8]) -> Result<(KeyMaterial, Algorithm), String> {
    let rng = ring::rand::SystemRandom::new();
    for (signing, curve, alg, len) in [
        (
            &sig::ECDSA_P256_SHA256_FIXED_SIGNING,
            Curve::P256,
            Algorithm::ES256,
            32,
        ),
        (
            &sig::ECDSA_P384_SHA384_FIXED_SIGNING,
            Curve::P384,
            Algorithm::ES384,
            48,
        ),
    ] {
        if let Ok(pair) = sig::EcdsaKeyPair::from_pkcs8(signing, der, &rng) {
            let point = pair.public_key().as_ref();
            if point.len() != 1 + 2 * len {
                return Err("unexpected EC public key encoding".into());
            }
            let material = KeyMaterial::Ec {
                curve,
                x: point[1..1 + len].to_vec(),
                y: point[1 + len..].to_vec(),
            };
            return Ok((material, alg));
        }
    }
    if let Some(material) = p521_public(der) {
        return Ok((material, Algorithm::ES512));
    }
    if let Ok(pair) = sig::Ed25519KeyPair::from_pkcs8_maybe_unchecked(der) {
        let x = pair.public_key().as_ref().to_vec();
        return Ok((KeyMaterial::Ed25519 { x }, Algorithm::EdDSA));
    }
    match sig::RsaKeyPair::from_pkcs8(der).or_else(|_| sig::RsaKeyPair::from_der(der)) {
        Ok(pair) => {
            let c = sig::RsaPublicKeyComponents::<Vec<u8>>::from(pair.public());
            Ok((KeyMaterial::Rsa { n: c.n, e: c.e }, Algorithm::RS256))
        }
        Err(e) => Err(format!(
            "not a usable P-256, P-384, P-521, Ed25519 or RSA (2048-8192 bit) private key ({e})"
        )),
    }
}

/// The public point of a PKCS#8 P-521 key (ring has no P-521).
fn p521_public(der: &[u8]) -> Option<KeyMaterial> {
    use p521::pkcs8::DecodePrivateKey;
    let key = p521::ecdsa::SigningKey::from_pkcs8_der(der).ok()?;
    let point = key.verifying_key().to_sec1_point(false);
    let point = point.as_bytes();
    let len = Curve::P521.coordinate_len();
    if point.len() != 1 + 2 * len {
        return None;
    }
    Some(KeyMaterial::Ec {
        curve: Curve::P521,
        x: point[1..1 + len].to_vec(),
        y: point[1 + len..].to_vec(),
    })
}

/// A new PKCS#8 P-521 key: a uniformly random scalar in `1..n` from the
/// system RNG (66 bytes with the top 7 bits cleared, redrawn when out of
/// range).
fn generate_p521(rng: &dyn ring::rand::SecureRandom) -> CliResult<Vec<u8>> {
    use p521::pkcs8::EncodePrivateKey;
    let failed = || CliError::from("key generation failed");
    for _ in 0..64 {
        let mut bytes = [0u8; 66];
        rng.fill(&mut bytes).map_err(|_| failed())?;
        bytes[0] &= 0x01;
        if let Ok(key) = p521::ecdsa::SigningKey::from_slice(&bytes) {
            return Ok(key
                .to_pkcs8_der()
                .map_err(|_| failed())?
                .as_bytes()
                .to_vec());
        }
    }
    Err(failed())
}

/// Generates a PKCS#8 private key for `alg`.
pub fn generate(alg: Algorithm, rsa_bits: usize) -> CliResult<SigningKey> {
    let rng = ring::rand::SystemRandom::new();
    let failed = |_| CliError::from("key generation failed");
    let der = match alg {
        Algorithm::ES256 => {
            sig::EcdsaKeyPair::generate_pkcs8(&sig::ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
                .map_err(failed)?
                .as_ref()
                .to_vec()
        }
        Algorithm::ES384 => {
            sig::EcdsaKeyPair::generate_pkcs8(&sig::ECDSA_P384_SHA384_FIXED_SIGNING, &rng)
                .map_err(failed)?
                .as_ref()
                .to_vec()
        }
        Algorithm::ES512 => generate_p521(&rng)?,
        Algorithm::EdDSA => {
            let v2 = sig::Ed25519KeyPair::generate_pkcs8(&rng).map_err(failed)?;
            ed25519_v1(v2.as_ref()).ok_or_else(|| CliError::from("key generation failed"))?
        }
        Algorithm::RS256
        | Algorithm::RS384
        | Algorithm::RS512
        | Algorithm::PS256
        | Algorithm::PS384
        | Algorithm::PS512 => {
            use rsa::pkcs8::EncodePrivateKey;
            if ![2048, 3072, 4096].contains(&rsa_bits) {
                return Err(CliError::at("--bits", "use 2048, 3072 or 4096"));
            }
            let key = rsa::RsaPrivateKey::new(&mut rand_core::OsRng, rsa_bits)
                .map_err(|e| CliError(format!("RSA key generation failed: {e}")))?;
            key.to_pkcs8_der()
                .map_err(|e| CliError(format!("RSA key encoding failed: {e}")))?
                .as_bytes()
                .to_vec()
        }
        other => {
            return Err(CliError::at(
                "--alg",
                format!(
                    "{} keys are not generated; use RS256 PS256 ES256 ES384 ES512 or EdDSA",
                    alg_name(other)
                ),
            ))
        }
    };
    SigningKey::from_der(der, Some(alg)).map_err(CliError)
}

/// ring writes Ed25519 keys as PKCS#8 v2 (RFC 5958, with the public key),
/// which OpenSSL (and so Node) does not read; RFC 8410's v1 form holds just
/// the seed and is read everywhere, ring included.
fn ed25519_v1(v2: &[u8]) -> Option<Vec<u8>> {
    const V2_PREFIX: &[u8] = &[
        0x30, 0x51, 0x02, 0x01, 0x01, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04,
        0x20,
    ];
    const V1_PREFIX: &[u8] = &[
        0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04,
        0x20,
    ];
    let seed = v2.strip_prefix(V2_PREFIX)?.get(..32)?;
    let mut out = V1_PREFIX.to_vec();
    out.extend_from_slice(seed);
    Some(out)
}

/// Parses an algorithm name for a signing key (no HMAC, no `none`).
pub fn signing_alg(flag: &str, name: &str) -> CliResult<Algorithm> {
    match parse_alg(name) {
        Some(Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512) | None => Err(CliError::at(
            flag,
            format!(
                "unknown or unsupported algorithm \"{name}\"; use RS256 RS384 RS512 PS256 PS384 PS512 ES256 ES384 ES512 or EdDSA"
            ),
        )),
        Some(a) => Ok(a),
    }
}

/// PEM armor with 64-character lines.
pub fn pem_encode(label: &str, der: &[u8]) -> String {
    let b64 = STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(chunk));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// The DER inside the first PEM block of a private key.
pub fn pem_decode_private(text: &str) -> Result<Vec<u8>, String> {
    let begin = text
        .find("-----BEGIN ")
        .ok_or("not a PEM file (no -----BEGIN line)")?;
    let rest = &text[begin + 11..];
    let label_end = rest.find("-----").ok_or("malformed PEM header")?;
    let label = &rest[..label_end];
    match label {
        "PRIVATE KEY" | "RSA PRIVATE KEY" => {}
        "EC PRIVATE KEY" => {
            return Err("SEC1 \"EC PRIVATE KEY\" is not supported; convert it to PKCS#8 with `openssl pkcs8 -topk8 -nocrypt -in KEY`".into())
        }
        "ENCRYPTED PRIVATE KEY" => {
            return Err("encrypted keys are not supported; decrypt with `openssl pkcs8 -nocrypt -in KEY`".into())
        }
        other => return Err(format!("a \"{other}\" PEM block is not a private key")),
    }
    let body = &rest[label_end + 5..];
    let end = body
        .find(&format!("-----END {label}-----"))
        .ok_or("PEM block has no END line")?;
    let b64: String = body[..end]
        .chars()
        .filter(|c| !c.is_ascii_whitespace())
        .collect();
    STANDARD
        .decode(b64)
        .map_err(|_| "PEM body is not base64".to_string())
}

/// Writes `contents` to `path`, private to the user on Unix.
pub fn write_private(path: &Path, contents: &[u8]) -> CliResult {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts
        .open(path)
        .map_err(|e| CliError::at(path.display(), io_reason(&e)))?;
    f.write_all(contents)
        .map_err(|e| CliError::at(path.display(), io_reason(&e)))
}

/// `edgeward keygen`.
pub fn run_keygen(a: KeygenArgs) -> CliResult {
    let alg = signing_alg("--alg", &a.alg)?;
    let priv_path = a.out.join("private.pem");
    let jwks_path = a.out.join("jwks.json");
    if priv_path.exists() && !a.force {
        return Err(CliError::at(
            priv_path.display(),
            "already exists; pass --force to replace it",
        ));
    }
    if let Some(kid) = &a.kid {
        if kid.is_empty() || kid.len() > 256 || kid.chars().any(|c| c.is_control()) {
            return Err(CliError::at("--kid", "must be 1-256 printable characters"));
        }
    }
    let key = generate(alg, a.bits)?;
    let kid = a.kid.clone().unwrap_or_else(|| key.thumbprint_kid());
    std::fs::create_dir_all(&a.out)
        .map_err(|e| CliError::at(format!("--out {}", a.out.display()), io_reason(&e)))?;
    write_private(&priv_path, pem_encode("PRIVATE KEY", &key.der).as_bytes())?;
    let jwks = json!({ "keys": [key.jwk(&kid)] });
    let text = serde_json::to_string_pretty(&jwks).unwrap_or_default() + "\n";
    std::fs::write(&jwks_path, text)
        .map_err(|e| CliError::at(jwks_path.display(), io_reason(&e)))?;
    outln!("{} {} key, kid {kid}", alg_name(alg), describe(&key.public));
    outln!("  private key  {}", priv_path.display());
    outln!("  public JWKS  {}", jwks_path.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pem_round_trip_and_refusals() {
        let der = vec![1u8, 2, 3, 250, 251];
        let pem = pem_encode("PRIVATE KEY", &der);
        assert_eq!(pem_decode_private(&pem).unwrap(), der);
        assert!(pem_decode_private("hello").is_err());
        let ec = pem_encode("EC PRIVATE KEY", &der);
        assert!(pem_decode_private(&ec).unwrap_err().contains("PKCS#8"));
        let public = pem_encode("PUBLIC KEY", &der);
        assert!(pem_decode_private(&public)
            .unwrap_err()
            .contains("not a private key"));
    }

    #[test]
    fn generated_keys_sign_and_fit() {
        for alg in [
            Algorithm::ES256,
            Algorithm::ES384,
            Algorithm::ES512,
            Algorithm::EdDSA,
        ] {
            let key = generate(alg, 2048).unwrap();
            let again = SigningKey::from_der(key.der.clone(), None).unwrap();
            assert_eq!(again.alg, alg);
            assert_eq!(again.thumbprint_kid(), key.thumbprint_kid());
            let jwk = key.jwk("k");
            assert_eq!(jwk["alg"], alg_name(alg));
            assert_eq!(jwk["use"], "sig");
            assert!(jwk.get("d").is_none());
            assert!(key.sign(b"msg").is_ok());
        }
        let ec = generate(Algorithm::ES256, 2048).unwrap();
        assert!(SigningKey::from_der(ec.der, Some(Algorithm::EdDSA)).is_err());
    }
}
