//! Fixtures shared by the fuzz targets and the seed generator: one issuer, a
//! key set with a key of every type, and tokens signed with those keys.
//!
//! Everything here is deterministic (RSA PKCS#1 v1.5 and Ed25519 signatures
//! are), so the tokens the seed generator writes are exactly the tokens the
//! targets know to be genuinely signed.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use edgeward::keys::{alg_name, Curve, KeyMaterial};
use edgeward::{Algorithm, Config, FetchKind, Gate, KeyFetch, PublicKey};
use ring::signature::{EcdsaKeyPair, Ed25519KeyPair, KeyPair, RsaKeyPair};
use serde_json::{json, Value};
use std::collections::HashSet;
use std::sync::OnceLock;

/// The issuer.
pub const ISSUER: &str = "https://idp.fuzz/";
/// Its key set URL (configured, so no discovery step).
pub const JWKS_URI: &str = "https://idp.fuzz/jwks";
/// The API's audience.
pub const AUDIENCE: &str = "api://fuzz";
/// The fixed clock.
pub const NOW: i64 = 1_800_000_000;
/// The one static API token in the configuration.
pub const API_TOKEN: &str = "fuzz-static-api-token";
/// The request path; `/orders/{user}` needs scope `orders:read` and
/// `sub == user`.
pub const PATH: &str = "/orders/alice";

const RSA2048: &[u8] = include_bytes!("../../tests/keys/rsa2048.pk8.der");
const P256: &[u8] = include_bytes!("../../tests/keys/p256.pk8.der");
const P384: &[u8] = include_bytes!("../../tests/keys/p384.pk8.der");
const ED25519: &[u8] = include_bytes!("../../tests/keys/ed25519.pk8.der");

/// A signing key with its kid and JWS alg.
pub struct Signer {
    /// JWS alg.
    pub alg: Algorithm,
    /// kid in the key set.
    pub kid: &'static str,
    der: &'static [u8],
}

/// One signer per alg family (RSA serves RS* and PS*).
pub fn signers() -> [Signer; 4] {
    [
        Signer {
            alg: Algorithm::RS256,
            kid: "rsa",
            der: RSA2048,
        },
        Signer {
            alg: Algorithm::ES256,
            kid: "p256",
            der: P256,
        },
        Signer {
            alg: Algorithm::ES384,
            kid: "p384",
            der: P384,
        },
        Signer {
            alg: Algorithm::EdDSA,
            kid: "ed",
            der: ED25519,
        },
    ]
}

impl Signer {
    /// The public JWK (no `alg`, so the RSA key serves RS* and PS*).
    pub fn jwk(&self) -> Value {
        let rng = ring::rand::SystemRandom::new();
        let ec = |alg, curve| {
            let pair = EcdsaKeyPair::from_pkcs8(alg, self.der, &rng).expect("EC fixture");
            let p = pair.public_key().as_ref();
            let n = (p.len() - 1) / 2;
            KeyMaterial::Ec {
                curve,
                x: p[1..1 + n].to_vec(),
                y: p[1 + n..].to_vec(),
            }
        };
        let material = match self.alg {
            Algorithm::ES256 => ec(
                &ring::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
                Curve::P256,
            ),
            Algorithm::ES384 => ec(
                &ring::signature::ECDSA_P384_SHA384_FIXED_SIGNING,
                Curve::P384,
            ),
            Algorithm::EdDSA => KeyMaterial::Ed25519 {
                x: Ed25519KeyPair::from_pkcs8_maybe_unchecked(self.der)
                    .expect("Ed25519 fixture")
                    .public_key()
                    .as_ref()
                    .to_vec(),
            },
            _ => {
                let pair = RsaKeyPair::from_pkcs8(self.der).expect("RSA fixture");
                let c: ring::rsa::PublicKeyComponents<Vec<u8>> = pair.public().into();
                KeyMaterial::Rsa { n: c.n, e: c.e }
            }
        };
        let mut key = PublicKey::from_material(material);
        key.kid = Some(self.kid.into());
        key.usage = Some("sig".into());
        key.to_jwk()
    }

    /// Signs `header.payload` (both JSON text) with `alg` (any alg this key
    /// serves). ECDSA and PSS signatures are randomized; the others are not.
    pub fn sign(&self, alg: Algorithm, header: &str, payload: &str) -> String {
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header),
            URL_SAFE_NO_PAD.encode(payload)
        );
        let sig = edgeward::crypto::sign(alg, self.der, input.as_bytes()).expect("fixture signs");
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig))
    }

    /// A token with the usual header (`alg`, `kid`, `typ: at+jwt`).
    pub fn mint(&self, alg: Algorithm, claims: &Value) -> String {
        let header = json!({"alg": alg_name(alg), "kid": self.kid, "typ": "at+jwt"});
        self.sign(alg, &header.to_string(), &claims.to_string())
    }
}

/// The key set with every signer's public key.
pub fn jwks() -> String {
    json!({"keys": signers().iter().map(Signer::jwk).collect::<Vec<_>>()}).to_string()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The configuration: one issuer, a scoped route with an owner rule, an
/// anonymous route, one API token, everything else closed.
pub fn config() -> Config {
    let api = hex(ring::digest::digest(&ring::digest::SHA256, API_TOKEN.as_bytes()).as_ref());
    let text = format!(
        r#"
[[issuers]]
issuer = "{ISSUER}"
jwks_uri = "{JWKS_URI}"
audiences = ["{AUDIENCE}"]
max_age = 86400
required_claims = ["sub"]
tenant_claim = "tid"

[[routes]]
path = "/orders/{{user}}"
scopes = {{ any = ["orders:read", "orders:admin"] }}
owner = {{ user = "sub" }}

[[routes]]
path = "/health"
access = "anonymous"

[[api_tokens]]
name = "ci"
sha256 = "{api}"
scopes = ["orders:read"]

[policy]
default = "deny"
"#
    );
    Config::parse(&text).unwrap_or_else(|e| panic!("fuzz config: {e}\n{text}"))
}

/// The fetch a gate for [`config`] asks for.
pub fn jwks_fetch() -> KeyFetch {
    KeyFetch {
        issuer: ISSUER.into(),
        url: JWKS_URI.into(),
        kind: FetchKind::Jwks,
        flight: 1,
        start: true,
        shared_key: None,
    }
}

struct Fixture {
    config: Config,
    jwks: Vec<u8>,
    signed: HashSet<String>,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| Fixture {
        config: config(),
        jwks: jwks().into_bytes(),
        signed: deterministic_tokens().into_iter().map(|(_, t)| t).collect(),
    })
}

/// A gate for [`config`] with the key set ingested at [`NOW`].
pub fn gate() -> Gate {
    let f = fixture();
    let mut gate = Gate::new(f.config.clone()).expect("fuzz config is valid");
    gate.ingest(
        &jwks_fetch(),
        200,
        &[("cache-control", "max-age=600")],
        &f.jwks,
        NOW,
    )
    .expect("fixture key set ingests");
    gate
}

/// The fixture configuration (parsed once).
pub fn shared_config() -> &'static Config {
    &fixture().config
}

/// The fixture key set (built once).
pub fn shared_jwks() -> &'static [u8] {
    &fixture().jwks
}

/// True for a credential the harness itself issued: a token from
/// [`deterministic_tokens`] or the API token. Nothing else may be allowed.
pub fn is_issued(token: &str) -> bool {
    token == API_TOKEN || fixture().signed.contains(token)
}

/// Claims valid at [`NOW`] for `sub` with `scope`.
pub fn claims(sub: &str, scope: &str) -> Value {
    json!({
        "iss": ISSUER, "aud": AUDIENCE, "sub": sub, "scope": scope,
        "iat": NOW - 10, "exp": NOW + 3600, "tid": "t1", "jti": "j1"
    })
}

/// Genuinely signed tokens with deterministic signatures (RS256/384/512,
/// EdDSA): some allowed on [`PATH`], some refused by claims or policy.
pub fn deterministic_tokens() -> Vec<(String, String)> {
    let [rsa, _, _, ed] = signers();
    let mut out = Vec::new();
    for (name, claims) in [
        ("alice", claims("alice", "orders:read")),
        ("bob", claims("bob", "orders:read")),
        ("noscope", claims("alice", "profile")),
        ("expired", {
            let mut c = claims("alice", "orders:read");
            c["exp"] = json!(NOW - 3600);
            c
        }),
        ("aud-array", {
            let mut c = claims("alice", "orders:admin x");
            c["aud"] = json!(["other", AUDIENCE]);
            c
        }),
    ] {
        for alg in [Algorithm::RS256, Algorithm::RS384, Algorithm::RS512] {
            out.push((
                format!("{}-{name}", alg_name(alg).to_lowercase()),
                rsa.mint(alg, &claims),
            ));
        }
        out.push((format!("eddsa-{name}"), ed.mint(Algorithm::EdDSA, &claims)));
    }
    // `jku` and `x5u` are never followed, so this one is still good.
    let h = json!({"alg":"EdDSA","kid":"ed","jku":"https://evil/jwks","x5u":"https://evil/"});
    out.push((
        "eddsa-jku-ignored".into(),
        ed.sign(
            Algorithm::EdDSA,
            &h.to_string(),
            &claims("alice", "orders:read").to_string(),
        ),
    ));
    out
}

/// Well-formed tokens that must be refused: forged or cross-alg signatures,
/// `none`, HMAC with the public key, `crit`, nested, JWE shape, and genuine
/// ES/PS signatures over other claims spliced onto these ones.
pub fn refused_tokens() -> Vec<(String, String)> {
    let [rsa, p256, p384, ed] = signers();
    let good = claims("alice", "orders:read");
    let b64 = |s: &str| URL_SAFE_NO_PAD.encode(s);
    let splice = |token: &str, other: &str| {
        // header.payload of `token` with the signature of `other`.
        let (input, _) = token.rsplit_once('.').expect("three parts");
        let (_, sig) = other.rsplit_once('.').expect("three parts");
        format!("{input}.{sig}")
    };
    let mut decoy = good.clone();
    decoy["sub"] = json!("mallory");
    let mut out = Vec::new();
    for (s, alg) in [
        (&rsa, Algorithm::PS256),
        (&rsa, Algorithm::PS384),
        (&rsa, Algorithm::PS512),
        (&p256, Algorithm::ES256),
        (&p384, Algorithm::ES384),
        (&rsa, Algorithm::RS256),
        (&ed, Algorithm::EdDSA),
    ] {
        out.push((
            format!("{}-spliced", alg_name(alg).to_lowercase()),
            splice(&s.mint(alg, &good), &s.mint(alg, &decoy)),
        ));
    }
    let header = |h: Value| h.to_string();
    let body = good.to_string();
    out.push((
        "none".into(),
        format!(
            "{}.{}.",
            b64(&header(json!({"alg":"none","typ":"at+jwt"}))),
            b64(&body)
        ),
    ));
    // HS256 keyed with the RSA JWK's text: the classic confusion attack.
    let secret = rsa.jwk().to_string();
    let input = format!(
        "{}.{}",
        b64(&header(json!({"alg":"HS256","kid":"rsa"}))),
        b64(&body)
    );
    let mac = ring::hmac::sign(
        &ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret.as_bytes()),
        input.as_bytes(),
    );
    out.push((
        "hs256-confusion".into(),
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(mac.as_ref())),
    ));
    for (name, h) in [
        (
            "crit",
            json!({"alg":"EdDSA","kid":"ed","crit":["exp"],"exp":1}),
        ),
        ("nested", json!({"alg":"EdDSA","kid":"ed","cty":"JWT"})),
        ("unknown-kid", json!({"alg":"EdDSA","kid":"nope"})),
        ("wrong-kid-type", json!({"alg":"ES256","kid":"ed"})),
    ] {
        out.push((
            format!("eddsa-{name}"),
            ed.sign(Algorithm::EdDSA, &h.to_string(), &body),
        ));
    }
    out.push((
        "jwe-shape".into(),
        format!(
            "{}.{}.{}.{}.{}",
            b64(r#"{"alg":"RSA-OAEP","enc":"A256GCM"}"#),
            "a",
            "b",
            "c",
            "d"
        ),
    ));
    out
}
