//! Test keys and token minting shared by the integration tests.
#![allow(dead_code)]

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use edgeward::keys::{alg_name, Curve, KeyMaterial};
use edgeward::{Algorithm, PublicKey};
use ring::signature::{EcdsaKeyPair, Ed25519KeyPair, KeyPair, RsaKeyPair};
use serde_json::{json, Value};

pub const ISSUER: &str = "https://idp.test/";
pub const JWKS_URI: &str = "https://idp.test/jwks";
pub const AUDIENCE: &str = "api://orders";
pub const NOW: i64 = 1_800_000_000;

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!("{}/tests/keys/{name}", env!("CARGO_MANIFEST_DIR"))).expect("fixture key")
}

/// A private key that mints tokens, with its public JWK.
#[derive(Clone)]
pub struct Signer {
    pub alg: Algorithm,
    pub kid: String,
    der: Vec<u8>,
    material: KeyMaterial,
}

impl Signer {
    pub fn new(alg: Algorithm, kid: &str) -> Signer {
        let file = match alg {
            Algorithm::RS256
            | Algorithm::RS384
            | Algorithm::RS512
            | Algorithm::PS256
            | Algorithm::PS384
            | Algorithm::PS512 => "rsa2048.pk8.der",
            Algorithm::ES256 => "p256.pk8.der",
            Algorithm::ES384 => "p384.pk8.der",
            Algorithm::ES512 => "p521.pk8.der",
            Algorithm::EdDSA => "ed25519.pk8.der",
            _ => panic!("no fixture for {alg:?}"),
        };
        Signer::from_der(alg, kid, fixture(file))
    }

    /// A signer whose published key is a 1024-bit RSA modulus (refused by
    /// the core at ingest, so what it signs with does not matter).
    pub fn weak_rsa(kid: &str) -> Signer {
        let mut s = Signer::new(Algorithm::RS256, kid);
        s.material = KeyMaterial::Rsa {
            n: fixture("rsa1024.n"),
            e: vec![1, 0, 1],
        };
        s
    }

    /// A fresh random key (for rotation tests).
    pub fn random(alg: Algorithm, kid: &str) -> Signer {
        let rng = ring::rand::SystemRandom::new();
        let der = match alg {
            Algorithm::ES256 => EcdsaKeyPair::generate_pkcs8(
                &ring::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
                &rng,
            )
            .unwrap(),
            Algorithm::EdDSA => Ed25519KeyPair::generate_pkcs8(&rng).unwrap(),
            _ => panic!("random keys only for ES256/EdDSA"),
        };
        Signer::from_der(alg, kid, der.as_ref().to_vec())
    }

    fn from_der(alg: Algorithm, kid: &str, der: Vec<u8>) -> Signer {
        let rng = ring::rand::SystemRandom::new();
        let material = match alg {
            Algorithm::ES256 | Algorithm::ES384 => {
                let a = if alg == Algorithm::ES256 {
                    &ring::signature::ECDSA_P256_SHA256_FIXED_SIGNING
                } else {
                    &ring::signature::ECDSA_P384_SHA384_FIXED_SIGNING
                };
                let pair = EcdsaKeyPair::from_pkcs8(a, &der, &rng).unwrap();
                let point = pair.public_key().as_ref();
                let n = (point.len() - 1) / 2;
                let curve = if alg == Algorithm::ES256 {
                    Curve::P256
                } else {
                    Curve::P384
                };
                KeyMaterial::Ec {
                    curve,
                    x: point[1..1 + n].to_vec(),
                    y: point[1 + n..].to_vec(),
                }
            }
            Algorithm::ES512 => {
                use p521::pkcs8::DecodePrivateKey;
                let key = p521::ecdsa::SigningKey::from_pkcs8_der(&der).unwrap();
                let point = key.verifying_key().to_sec1_point(false);
                let point = point.as_bytes();
                KeyMaterial::Ec {
                    curve: Curve::P521,
                    x: point[1..67].to_vec(),
                    y: point[67..].to_vec(),
                }
            }
            Algorithm::EdDSA => {
                let pair = Ed25519KeyPair::from_pkcs8_maybe_unchecked(&der).unwrap();
                KeyMaterial::Ed25519 {
                    x: pair.public_key().as_ref().to_vec(),
                }
            }
            _ => {
                let pair = RsaKeyPair::from_pkcs8(&der).unwrap();
                let c: ring::rsa::PublicKeyComponents<Vec<u8>> = pair.public().into();
                KeyMaterial::Rsa { n: c.n, e: c.e }
            }
        };
        Signer {
            alg,
            kid: kid.into(),
            der,
            material,
        }
    }

    /// The public JWK (with kid, alg and use).
    pub fn jwk(&self) -> Value {
        let mut k = PublicKey::from_material(self.material.clone());
        k.kid = Some(self.kid.clone());
        k.alg = Some(self.alg);
        k.usage = Some("sig".into());
        k.to_jwk()
    }

    /// Signs `claims` with a header of `alg`, `kid`, `typ: at+jwt` plus `extra`.
    pub fn mint_with(&self, extra_header: Value, claims: &Value) -> String {
        let mut header = json!({"alg": alg_name(self.alg), "kid": self.kid, "typ": "at+jwt"});
        for (k, v) in extra_header.as_object().unwrap() {
            if v.is_null() {
                header.as_object_mut().unwrap().remove(k);
            } else {
                header[k] = v.clone();
            }
        }
        sign_raw(
            self.alg,
            &self.der,
            &header.to_string(),
            &claims.to_string(),
        )
    }

    pub fn mint(&self, claims: &Value) -> String {
        self.mint_with(json!({}), claims)
    }
}

/// Signs arbitrary header and payload text.
pub fn sign_raw(alg: Algorithm, der: &[u8], header: &str, payload: &str) -> String {
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header),
        URL_SAFE_NO_PAD.encode(payload)
    );
    let sig = edgeward::crypto::sign(alg, der, input.as_bytes()).expect("sign");
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig))
}

impl Signer {
    pub fn sign_raw(&self, header: &str, payload: &str) -> String {
        sign_raw(self.alg, &self.der, header, payload)
    }
}

/// Typical claims for `sub` with `scope`, valid around [`NOW`].
pub fn claims(sub: &str, scope: &str) -> Value {
    json!({"iss": ISSUER, "aud": AUDIENCE, "sub": sub, "scope": scope, "iat": NOW - 10, "exp": NOW + 3600})
}

pub fn jwks(signers: &[&Signer]) -> String {
    json!({"keys": signers.iter().map(|s| s.jwk()).collect::<Vec<_>>()}).to_string()
}

/// A config for [`ISSUER`] with the given extra TOML appended.
pub fn config(extra: &str) -> edgeward::Config {
    let text = format!("[[issuers]]\nissuer = \"{ISSUER}\"\njwks_uri = \"{JWKS_URI}\"\naudiences = [\"{AUDIENCE}\"]\n{extra}");
    edgeward::Config::parse(&text).unwrap_or_else(|e| panic!("{e}\n{text}"))
}
