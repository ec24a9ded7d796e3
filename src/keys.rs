//! JSON Web Keys: parsing a key set into verification keys, and deciding
//! whether a key may verify a given `alg`.
//!
//! A key set from an IdP often holds keys we cannot or must not use
//! (encryption keys, X25519, symmetric `oct` keys, short RSA moduli). Those
//! are skipped with a reason, never fatal: one odd key must not take down
//! verification for the rest.

use crate::crypto::key_family_fits;
use crate::json::parse_strict;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::DecodingKey;
use serde_json::Value;
use std::fmt;

/// Nesting bound for key sets (a JWKS is `{"keys":[{...,"x5c":[..]}]}`).
const JWKS_MAX_DEPTH: usize = 8;
/// RSA moduli under this many bits are refused (RFC 7518 §3.3 requires 2048).
pub const MIN_RSA_BITS: usize = 2048;
const MAX_RSA_BITS: usize = 8192;

/// An elliptic curve the core verifies on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Curve {
    /// NIST P-256 (ES256).
    P256,
    /// NIST P-384 (ES384).
    P384,
    /// NIST P-521 (ES512).
    P521,
}

impl Curve {
    /// The JWK `crv` name.
    pub fn name(self) -> &'static str {
        match self {
            Curve::P256 => "P-256",
            Curve::P384 => "P-384",
            Curve::P521 => "P-521",
        }
    }

    /// Bytes in one coordinate (and in each of `r` and `s` of a JWS
    /// signature): 32, 48, 66.
    pub fn coordinate_len(self) -> usize {
        match self {
            Curve::P256 => 32,
            Curve::P384 => 48,
            Curve::P521 => 66,
        }
    }
}

/// The public numbers of a key, decoded once when the key set is ingested.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeyMaterial {
    /// RSA modulus and exponent, big-endian, leading zeros stripped.
    Rsa {
        /// Modulus.
        n: Vec<u8>,
        /// Public exponent.
        e: Vec<u8>,
    },
    /// An EC point as its affine coordinates.
    Ec {
        /// The curve.
        curve: Curve,
        /// Affine x.
        x: Vec<u8>,
        /// Affine y.
        y: Vec<u8>,
    },
    /// An Ed25519 public key.
    Ed25519 {
        /// The 32-byte public key.
        x: Vec<u8>,
    },
    /// An HMAC secret. Only ever built from configuration, never from a JWKS.
    Hmac {
        /// The secret.
        secret: Vec<u8>,
    },
}

/// A verification key with the JWK metadata that restricts its use.
#[derive(Clone)]
pub struct PublicKey {
    /// `kid`, when the key set gave one.
    pub kid: Option<String>,
    /// `alg` the key is bound to, when the key set said.
    pub alg: Option<Algorithm>,
    /// `use` (`sig` or `enc`), when present.
    pub usage: Option<String>,
    /// `key_ops`, when present.
    pub key_ops: Option<Vec<String>>,
    /// The decoded public numbers.
    pub material: KeyMaterial,
    decoding: DecodingKey,
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Public numbers are not secret, but they are noise in logs.
        f.debug_struct("PublicKey")
            .field("kid", &self.kid)
            .field("kty", &self.kty())
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

/// Why a key cannot verify a token's `alg`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyMismatch {
    /// Key type or curve does not fit the algorithm (RSA key for ES256, ...).
    Type,
    /// The key is bound to another `alg`.
    Alg,
    /// `use` is not `sig`.
    Use,
    /// `key_ops` does not include `verify`.
    Ops,
}

impl fmt::Display for KeyMismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            KeyMismatch::Type => "key type or curve does not fit the token's alg",
            KeyMismatch::Alg => "key is bound to a different alg",
            KeyMismatch::Use => "key use is not \"sig\"",
            KeyMismatch::Ops => "key_ops does not include \"verify\"",
        })
    }
}

impl PublicKey {
    /// Builds a key from decoded material; the JWK metadata starts empty.
    pub fn from_material(material: KeyMaterial) -> Self {
        let decoding = match &material {
            KeyMaterial::Rsa { n, e } => DecodingKey::from_rsa_raw_components(n, e),
            KeyMaterial::Ec { x, y, .. } => {
                let mut point = Vec::with_capacity(1 + x.len() + y.len());
                point.push(0x04);
                point.extend_from_slice(x);
                point.extend_from_slice(y);
                DecodingKey::from_ec_der(&point)
            }
            KeyMaterial::Ed25519 { x } => DecodingKey::from_ed_der(x),
            KeyMaterial::Hmac { secret } => DecodingKey::from_secret(secret),
        };
        PublicKey {
            kid: None,
            alg: None,
            usage: None,
            key_ops: None,
            material,
            decoding,
        }
    }

    /// The key in jsonwebtoken's form, built once at ingest.
    pub fn decoding_key(&self) -> &DecodingKey {
        &self.decoding
    }

    /// The RFC 7638 JWK thumbprint (SHA-256, base64url): a stable name for
    /// the key material, e.g. for a host's cache of native key objects.
    ///
    /// ```
    /// use edgeward::keys::{KeyMaterial, PublicKey};
    /// let k = PublicKey::from_material(KeyMaterial::Ed25519 { x: vec![0; 32] });
    /// assert_eq!(k.thumbprint().len(), 43);
    /// ```
    pub fn thumbprint(&self) -> String {
        let b64 = |b: &[u8]| URL_SAFE_NO_PAD.encode(b);
        // Members in lexicographic order, no whitespace (RFC 7638 §3).
        let canonical = match &self.material {
            KeyMaterial::Rsa { n, e } => {
                format!(r#"{{"e":"{}","kty":"RSA","n":"{}"}}"#, b64(e), b64(n))
            }
            KeyMaterial::Ec { curve, x, y } => {
                format!(
                    r#"{{"crv":"{}","kty":"EC","x":"{}","y":"{}"}}"#,
                    curve.name(),
                    b64(x),
                    b64(y)
                )
            }
            KeyMaterial::Ed25519 { x } => {
                format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{}"}}"#, b64(x))
            }
            KeyMaterial::Hmac { secret } => {
                let digest = ring::digest::digest(&ring::digest::SHA256, secret);
                format!(r#"{{"k":"{}","kty":"oct"}}"#, b64(digest.as_ref()))
            }
        };
        b64(ring::digest::digest(&ring::digest::SHA256, canonical.as_bytes()).as_ref())
    }

    /// The JWK `kty` of this key.
    pub fn kty(&self) -> &'static str {
        match self.material {
            KeyMaterial::Rsa { .. } => "RSA",
            KeyMaterial::Ec { .. } => "EC",
            KeyMaterial::Ed25519 { .. } => "OKP",
            KeyMaterial::Hmac { .. } => "oct",
        }
    }

    /// Checks that this key may verify a token signed with `alg`: type and
    /// curve, a bound `alg`, `use` and `key_ops` must all agree. This is the
    /// algorithm-confusion guard; backends rely on it.
    pub fn usable_for(&self, alg: Algorithm) -> Result<(), KeyMismatch> {
        if !key_family_fits(alg, &self.material) {
            return Err(KeyMismatch::Type);
        }
        if self.alg.is_some_and(|a| a != alg) {
            return Err(KeyMismatch::Alg);
        }
        if self.usage.as_deref().is_some_and(|u| u != "sig") {
            return Err(KeyMismatch::Use);
        }
        if let Some(ops) = &self.key_ops {
            if !ops.iter().any(|o| o == "verify") {
                return Err(KeyMismatch::Ops);
            }
        }
        Ok(())
    }

    /// The public JWK (no private members), e.g. for a host's native crypto
    /// (`crypto.createPublicKey({ key, format: "jwk" })`) or a snapshot.
    pub fn to_jwk(&self) -> Value {
        let b64 = |b: &[u8]| Value::String(URL_SAFE_NO_PAD.encode(b));
        let mut jwk = serde_json::Map::new();
        jwk.insert("kty".into(), self.kty().into());
        match &self.material {
            KeyMaterial::Rsa { n, e } => {
                jwk.insert("n".into(), b64(n));
                jwk.insert("e".into(), b64(e));
            }
            KeyMaterial::Ec { curve, x, y } => {
                jwk.insert("crv".into(), curve.name().into());
                jwk.insert("x".into(), b64(x));
                jwk.insert("y".into(), b64(y));
            }
            KeyMaterial::Ed25519 { x } => {
                jwk.insert("crv".into(), "Ed25519".into());
                jwk.insert("x".into(), b64(x));
            }
            // Secrets are never written out.
            KeyMaterial::Hmac { .. } => {}
        }
        if let Some(kid) = &self.kid {
            jwk.insert("kid".into(), kid.clone().into());
        }
        if let Some(alg) = self.alg {
            jwk.insert("alg".into(), alg_name(alg).into());
        }
        if let Some(u) = &self.usage {
            jwk.insert("use".into(), u.clone().into());
        }
        if let Some(ops) = &self.key_ops {
            jwk.insert("key_ops".into(), ops.clone().into());
        }
        Value::Object(jwk)
    }
}

/// A JWS signature algorithm (RFC 7518 §3.1; EdDSA of RFC 8037 with
/// Ed25519). The core's own list rather than jsonwebtoken's, which has no
/// ES512; [`Algorithm::to_jsonwebtoken`] maps to it where its key or
/// provider types are used.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Algorithm {
    /// HMAC with SHA-256.
    HS256,
    /// HMAC with SHA-384.
    HS384,
    /// HMAC with SHA-512.
    HS512,
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    RS256,
    /// RSASSA-PKCS1-v1_5 with SHA-384.
    RS384,
    /// RSASSA-PKCS1-v1_5 with SHA-512.
    RS512,
    /// RSASSA-PSS with SHA-256 (MGF1 SHA-256, 32-byte salt).
    PS256,
    /// RSASSA-PSS with SHA-384 (MGF1 SHA-384, 48-byte salt).
    PS384,
    /// RSASSA-PSS with SHA-512 (MGF1 SHA-512, 64-byte salt).
    PS512,
    /// ECDSA on P-256 with SHA-256.
    ES256,
    /// ECDSA on P-384 with SHA-384.
    ES384,
    /// ECDSA on P-521 with SHA-512.
    ES512,
    /// Ed25519.
    EdDSA,
}

impl Algorithm {
    /// Every algorithm, in the order of the JWA table.
    pub const ALL: [Algorithm; 13] = [
        Algorithm::HS256,
        Algorithm::HS384,
        Algorithm::HS512,
        Algorithm::RS256,
        Algorithm::RS384,
        Algorithm::RS512,
        Algorithm::PS256,
        Algorithm::PS384,
        Algorithm::PS512,
        Algorithm::ES256,
        Algorithm::ES384,
        Algorithm::ES512,
        Algorithm::EdDSA,
    ];

    /// jsonwebtoken's value for this algorithm; `None` for ES512, which it
    /// does not have.
    pub fn to_jsonwebtoken(self) -> Option<jsonwebtoken::Algorithm> {
        use jsonwebtoken::Algorithm as J;
        Some(match self {
            Algorithm::HS256 => J::HS256,
            Algorithm::HS384 => J::HS384,
            Algorithm::HS512 => J::HS512,
            Algorithm::RS256 => J::RS256,
            Algorithm::RS384 => J::RS384,
            Algorithm::RS512 => J::RS512,
            Algorithm::PS256 => J::PS256,
            Algorithm::PS384 => J::PS384,
            Algorithm::PS512 => J::PS512,
            Algorithm::ES256 => J::ES256,
            Algorithm::ES384 => J::ES384,
            Algorithm::ES512 => return None,
            Algorithm::EdDSA => J::EdDSA,
        })
    }
}

/// The JWA name of `alg` (`"RS256"`, `"EdDSA"`, ...).
pub fn alg_name(alg: Algorithm) -> &'static str {
    match alg {
        Algorithm::HS256 => "HS256",
        Algorithm::HS384 => "HS384",
        Algorithm::HS512 => "HS512",
        Algorithm::RS256 => "RS256",
        Algorithm::RS384 => "RS384",
        Algorithm::RS512 => "RS512",
        Algorithm::PS256 => "PS256",
        Algorithm::PS384 => "PS384",
        Algorithm::PS512 => "PS512",
        Algorithm::ES256 => "ES256",
        Algorithm::ES384 => "ES384",
        Algorithm::ES512 => "ES512",
        Algorithm::EdDSA => "EdDSA",
    }
}

/// Parses a JWA algorithm name, exactly (no case folding, no `none`).
pub fn parse_alg(name: &str) -> Option<Algorithm> {
    Algorithm::ALL.into_iter().find(|a| alg_name(*a) == name)
}

/// A key in a set that was not loaded, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SkippedKey {
    /// Position in the `keys` array.
    pub index: usize,
    /// Its `kid`, when it had a readable one.
    pub kid: Option<String>,
    /// Why it was skipped.
    pub reason: String,
}

/// A parsed key set.
#[derive(Clone, Debug, Default)]
pub struct KeySet {
    /// Keys usable for verification.
    pub keys: Vec<PublicKey>,
    /// Keys that were skipped, with reasons.
    pub skipped: Vec<SkippedKey>,
}

/// Parses a JWKS document (`{"keys":[...]}`). Fails only when the document
/// itself is unreadable; unusable keys are reported in [`KeySet::skipped`].
///
/// ```
/// let set = edgeward::keys::parse_jwks(br#"{"keys":[{"kty":"oct","k":"c2VjcmV0"}]}"#).unwrap();
/// assert!(set.keys.is_empty());
/// assert_eq!(set.skipped.len(), 1);
/// ```
pub fn parse_jwks(body: &[u8]) -> Result<KeySet, String> {
    let doc = parse_strict(body, JWKS_MAX_DEPTH).map_err(|e| format!("not valid JSON: {e}"))?;
    let keys = doc
        .get("keys")
        .and_then(Value::as_array)
        .ok_or("no \"keys\" array")?;
    let mut set = KeySet::default();
    for (index, jwk) in keys.iter().enumerate() {
        match parse_jwk(jwk) {
            Ok(key) => set.keys.push(key),
            Err(reason) => set.skipped.push(SkippedKey {
                index,
                kid: jwk.get("kid").and_then(Value::as_str).map(str::to_owned),
                reason,
            }),
        }
    }
    Ok(set)
}

fn member<'a>(jwk: &'a Value, name: &str) -> Result<Option<&'a str>, String> {
    match jwk.get(name) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(format!("\"{name}\" is not a string")),
    }
}

fn b64_member(jwk: &Value, name: &str) -> Result<Vec<u8>, String> {
    let s = member(jwk, name)?.ok_or_else(|| format!("missing \"{name}\""))?;
    URL_SAFE_NO_PAD
        .decode(s)
        .map_err(|_| format!("\"{name}\" is not base64url"))
}

fn strip_leading_zeros(mut b: Vec<u8>) -> Vec<u8> {
    let zeros = b.iter().take_while(|&&x| x == 0).count();
    b.drain(..zeros);
    b
}

/// Parses one public JWK for signature verification.
pub fn parse_jwk(jwk: &Value) -> Result<PublicKey, String> {
    if !jwk.is_object() {
        return Err("not a JSON object".into());
    }
    let kty = member(jwk, "kty")?.ok_or("missing \"kty\"")?;
    let material = match kty {
        "RSA" => {
            let n = strip_leading_zeros(b64_member(jwk, "n")?);
            let e = strip_leading_zeros(b64_member(jwk, "e")?);
            // n has no leading zero octets left, so only its first octet has leading zero bits.
            let bits = n
                .first()
                .map_or(0, |b| n.len() * 8 - b.leading_zeros() as usize);
            if bits < MIN_RSA_BITS {
                return Err(format!("RSA key of {bits} bits (minimum {MIN_RSA_BITS})"));
            }
            if bits > MAX_RSA_BITS {
                return Err(format!("RSA key of {bits} bits (maximum {MAX_RSA_BITS})"));
            }
            // e = 1 makes the signature equal its padded message (OpenSSL
            // verifies such forgeries; ring refuses): odd, at least 3, under
            // 2^32, checked here before any backend sees the key.
            if e.is_empty() || e.len() > 4 || e[e.len() - 1] & 1 == 0 || e == [1] {
                return Err("RSA exponent is not an odd number from 3 to 2^32".into());
            }
            KeyMaterial::Rsa { n, e }
        }
        "EC" => {
            let curve = match member(jwk, "crv")?.ok_or("missing \"crv\"")? {
                "P-256" => Curve::P256,
                "P-384" => Curve::P384,
                "P-521" => Curve::P521,
                other => return Err(format!("unsupported EC curve \"{other}\"")),
            };
            let len = curve.coordinate_len();
            let x = b64_member(jwk, "x")?;
            let y = b64_member(jwk, "y")?;
            if x.len() != len || y.len() != len {
                return Err("EC coordinates have the wrong length for the curve".into());
            }
            KeyMaterial::Ec { curve, x, y }
        }
        "OKP" => {
            match member(jwk, "crv")?.ok_or("missing \"crv\"")? {
                "Ed25519" => {}
                other => return Err(format!("unsupported OKP curve \"{other}\"")),
            }
            let x = b64_member(jwk, "x")?;
            if x.len() != 32 {
                return Err("Ed25519 key is not 32 bytes".into());
            }
            KeyMaterial::Ed25519 { x }
        }
        "oct" => return Err("symmetric keys are never taken from a key set".into()),
        other => return Err(format!("unsupported kty \"{other}\"")),
    };
    let mut key = PublicKey::from_material(material);
    key.kid = member(jwk, "kid")?.map(str::to_owned);
    key.usage = member(jwk, "use")?.map(str::to_owned);
    if let Some(alg) = member(jwk, "alg")? {
        let parsed = parse_alg(alg).ok_or_else(|| format!("unsupported alg \"{alg}\""))?;
        if !key_family_fits(parsed, &key.material) {
            return Err(format!("alg \"{alg}\" does not fit kty \"{kty}\""));
        }
        key.alg = Some(parsed);
    }
    if let Some(ops) = jwk.get("key_ops") {
        let ops = ops
            .as_array()
            .and_then(|a| a.iter().map(|o| o.as_str().map(str::to_owned)).collect())
            .ok_or("\"key_ops\" is not an array of strings")?;
        key.key_ops = Some(ops);
    }
    if key.usable_for_any() {
        Ok(key)
    } else {
        Err("key is not usable for signature verification (use/key_ops)".into())
    }
}

impl PublicKey {
    fn usable_for_any(&self) -> bool {
        self.usage.as_deref().is_none_or(|u| u == "sig")
            && self
                .key_ops
                .as_ref()
                .is_none_or(|ops| ops.iter().any(|o| o == "verify"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn b64(b: &[u8]) -> String {
        URL_SAFE_NO_PAD.encode(b)
    }

    fn rsa_jwk(bits: usize) -> Value {
        let mut n = vec![0xC5u8; bits / 8];
        n[0] = 0xC5;
        json!({"kty":"RSA","n": b64(&n),"e":"AQAB","kid":"r"})
    }

    #[test]
    fn rsa_size_bounds() {
        assert!(parse_jwk(&rsa_jwk(2048)).is_ok());
        let err = parse_jwk(&rsa_jwk(1024)).unwrap_err();
        assert!(err.contains("1024 bits"), "{err}");
        assert!(parse_jwk(&rsa_jwk(16384)).is_err());
        // A leading zero octet does not make a 1024-bit key look bigger.
        let mut n = vec![0u8; 129];
        n[1] = 0xff;
        let jwk = json!({"kty":"RSA","n": b64(&n),"e":"AQAB"});
        assert!(parse_jwk(&jwk).unwrap_err().contains("bits"));
    }

    #[test]
    fn even_or_huge_exponent_is_refused() {
        let mut jwk = rsa_jwk(2048);
        jwk["e"] = b64(&[2]).into();
        assert!(parse_jwk(&jwk).is_err());
        jwk["e"] = b64(&[1, 0, 0, 0, 1]).into();
        assert!(parse_jwk(&jwk).is_err());
        jwk["e"] = b64(&[1]).into();
        assert!(parse_jwk(&jwk).is_err());
        jwk["e"] = b64(&[0, 1]).into();
        assert!(parse_jwk(&jwk).is_err());
        jwk["e"] = b64(&[3]).into();
        assert!(parse_jwk(&jwk).is_ok());
    }

    #[test]
    fn set_skips_bad_keys_and_keeps_good_ones() {
        let doc = json!({"keys":[
            rsa_jwk(2048),
            {"kty":"oct","k":"c2VjcmV0","kid":"h"},
            {"kty":"OKP","crv":"X25519","x": b64(&[1;32]),"kid":"x"},
            {"kty":"EC","crv":"P-256","x": b64(&[1;32]),"y": b64(&[2;31]),"kid":"short"},
            {"kty":"RSA","n": b64(&[0xC5;256]),"e":"AQAB","use":"enc","kid":"enc"},
            {"kty":"OKP","crv":"Ed25519","x": b64(&[7;32]),"kid":"ed","key_ops":["verify"]},
            "not an object",
        ]});
        let set = parse_jwks(doc.to_string().as_bytes()).unwrap();
        let kids: Vec<_> = set.keys.iter().map(|k| k.kid.clone().unwrap()).collect();
        assert_eq!(kids, ["r", "ed"]);
        let skipped: Vec<_> = set.skipped.iter().map(|s| s.index).collect();
        assert_eq!(skipped, [1, 2, 3, 4, 6]);
    }

    #[test]
    fn document_errors() {
        assert!(parse_jwks(b"[]").unwrap_err().contains("keys"));
        assert!(parse_jwks(b"{").unwrap_err().contains("JSON"));
        assert!(parse_jwks(br#"{"keys":[],"keys":[]}"#).is_err());
    }

    #[test]
    fn usable_for_checks_everything() {
        let mut k = parse_jwk(&rsa_jwk(2048)).unwrap();
        assert_eq!(k.usable_for(Algorithm::RS256), Ok(()));
        assert_eq!(k.usable_for(Algorithm::PS512), Ok(()));
        assert_eq!(k.usable_for(Algorithm::ES256), Err(KeyMismatch::Type));
        assert_eq!(k.usable_for(Algorithm::HS256), Err(KeyMismatch::Type));
        k.alg = Some(Algorithm::RS256);
        assert_eq!(k.usable_for(Algorithm::PS256), Err(KeyMismatch::Alg));
        k.alg = None;
        k.usage = Some("enc".into());
        assert_eq!(k.usable_for(Algorithm::RS256), Err(KeyMismatch::Use));
        k.usage = None;
        k.key_ops = Some(vec!["encrypt".into()]);
        assert_eq!(k.usable_for(Algorithm::RS256), Err(KeyMismatch::Ops));
        let ec = parse_jwk(&json!({"kty":"EC","crv":"P-384","x": b64(&[1;48]),"y": b64(&[2;48])}))
            .unwrap();
        assert_eq!(ec.usable_for(Algorithm::ES256), Err(KeyMismatch::Type));
        assert_eq!(ec.usable_for(Algorithm::ES384), Ok(()));
    }

    #[test]
    fn p521_keys_need_66_byte_coordinates_and_es512() {
        let jwk = |n: usize| json!({"kty":"EC","crv":"P-521","x": b64(&vec![1; n]),"y": b64(&vec![2; n])});
        let k = parse_jwk(&jwk(66)).unwrap();
        assert_eq!(k.to_jwk()["crv"], "P-521");
        assert_eq!(k.usable_for(Algorithm::ES512), Ok(()));
        for other in [Algorithm::ES256, Algorithm::ES384, Algorithm::RS512] {
            assert_eq!(k.usable_for(other), Err(KeyMismatch::Type));
        }
        // P-521 numbers are 66 bytes (521 bits), never 65 or 64.
        assert!(parse_jwk(&jwk(65)).unwrap_err().contains("wrong length"));
        assert!(parse_jwk(&jwk(64)).is_err());
        // A bound alg must fit the curve, both ways.
        let mut bound = jwk(66);
        bound["alg"] = "ES384".into();
        assert!(parse_jwk(&bound).is_err());
        let p384 =
            json!({"kty":"EC","crv":"P-384","x": b64(&[1;48]),"y": b64(&[2;48]),"alg":"ES512"});
        assert!(parse_jwk(&p384).is_err());
        assert_eq!(parse_alg("ES512"), Some(Algorithm::ES512));
        assert_eq!(parse_alg("es512"), None);
    }

    #[test]
    fn alg_that_does_not_fit_kty_is_skipped() {
        let mut jwk = rsa_jwk(2048);
        jwk["alg"] = "ES256".into();
        assert!(parse_jwk(&jwk).is_err());
        jwk["alg"] = "none".into();
        assert!(parse_jwk(&jwk).is_err());
    }

    #[test]
    fn rfc7638_thumbprint_example() {
        // The RSA example key of RFC 7638 §3.1.
        let n = "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw";
        let k = parse_jwk(
            &json!({"kty": "RSA", "n": n, "e": "AQAB", "alg": "RS256", "kid": "2011-04-29"}),
        )
        .unwrap();
        assert_eq!(
            k.thumbprint(),
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
        );
    }

    #[test]
    fn jwk_round_trip() {
        let k = parse_jwk(&json!({"kty":"EC","crv":"P-256","x": b64(&[1;32]),"y": b64(&[2;32]),"kid":"e","alg":"ES256","use":"sig"})).unwrap();
        let again = parse_jwk(&k.to_jwk()).unwrap();
        assert_eq!(again.material, k.material);
        assert_eq!(again.kid, k.kid);
        assert_eq!(again.alg, k.alg);
    }
}
