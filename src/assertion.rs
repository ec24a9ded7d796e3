//! The signed identity assertion: a short-lived JWT the gate mints for the
//! origin (`[assertion]`), so an origin reachable some other way can tell a
//! request that came through the gate from one that did not.
//!
//! EdDSA with Ed25519 (ring): signing is deterministic (no randomness, which
//! a sans-IO core and some wasm hosts lack), signatures are 64 bytes and the
//! key is a 32-byte seed. The gate serves the public key as a JWKS at
//! `assertion.jwks_path`. [`verify`] is the origin's side (the npm package's
//! `verifyAssertion`).
//!
//! Claims, in this order: `iss`, `aud`, `iat`, `exp` (`iat` + `ttl`, never
//! past the access token's `exp`), `sub`, `kind` (`jwt` or `api_token`),
//! `idp_iss` (the access token's issuer), `tenant`, `scope` (space-separated,
//! as RFC 9068), `roles`, `permissions`. Anonymous requests get none: an
//! assertion says who the gate let through. No `jti`: one assertion serves
//! every request of the same identity for half its lifetime (minting costs
//! a signature); replay is bounded by `exp`, and `aud` keeps it to one origin.

use crate::cache::{digest, Lru};
use crate::config::AssertionConfig;
use crate::decision::{Identity, IdentityKind};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ring::signature::{Ed25519KeyPair, KeyPair};
use serde_json::Value;

/// Most identities whose assertion is remembered.
const CACHE_CAP: usize = 10_000;

/// Reads an Ed25519 seed: 32 bytes in base64url (standard base64 and `=`
/// padding are accepted too). The error says what to do.
pub fn seed(text: &str) -> Result<[u8; 32], String> {
    let norm: String = text
        .trim()
        .trim_end_matches('=')
        .chars()
        .map(|c| match c {
            '+' => '-',
            '/' => '_',
            c => c,
        })
        .collect();
    let bytes = URL_SAFE_NO_PAD
        .decode(norm)
        .map_err(|_| "must be base64url (an Ed25519 seed: 32 random bytes; generate one with `openssl rand -base64 32`)".to_string())?;
    bytes.try_into().map_err(|b: Vec<u8>| {
        format!(
            "must decode to 32 bytes (an Ed25519 seed), got {}; generate one with `openssl rand -base64 32`",
            b.len()
        )
    })
}

/// The gate's assertion signer: key, settings, the JWKS it publishes, and the
/// assertions minted lately (same identity: same assertion, until half its
/// lifetime has passed).
pub struct Signer {
    key: Ed25519KeyPair,
    /// `BASE64URL(header) + "."`: the same for every assertion.
    prefix: String,
    header: String,
    issuer: String,
    audience: String,
    ttl: i64,
    jwks_path: String,
    jwks: String,
    minted: Lru<(String, i64, i64), crate::cache::Digest>,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer")
            .field("header", &self.header)
            .field("jwks_path", &self.jwks_path)
            .finish_non_exhaustive()
    }
}

impl Signer {
    /// A signer for a validated `[assertion]`; `Err` names the field when the
    /// key is missing or bad.
    pub fn new(cfg: &AssertionConfig) -> Result<Signer, (&'static str, String)> {
        let key = cfg.key.as_ref().ok_or((
            "assertion.key",
            "is required with [assertion]: a 32-byte Ed25519 seed, base64url, from a secret (Worker: the EDGEWARD_ASSERTION_KEY secret; npm: the assertionKey option; Envoy: the plugin configuration)".to_string(),
        ))?;
        let seed = seed(&key.0).map_err(|e| ("assertion.key", e))?;
        let key = Ed25519KeyPair::from_seed_unchecked(&seed)
            .map_err(|_| ("assertion.key", "is not a usable Ed25519 seed".to_string()))?;
        let x = URL_SAFE_NO_PAD.encode(key.public_key().as_ref());
        // RFC 7638: the members kty, crv, x in lexicographic order.
        let thumbprint = format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{x}"}}"#);
        let kid = cfg
            .kid
            .clone()
            .unwrap_or_else(|| URL_SAFE_NO_PAD.encode(digest(&thumbprint)));
        let jwks = format!(
            r#"{{"keys":[{{"kty":"OKP","crv":"Ed25519","x":"{x}","kid":{},"alg":"EdDSA","use":"sig"}}]}}"#,
            Value::from(kid.as_str())
        );
        let header = format!(
            r#"{{"alg":"EdDSA","typ":"JWT","kid":{}}}"#,
            Value::from(kid.as_str())
        );
        Ok(Signer {
            key,
            prefix: format!("{}.", URL_SAFE_NO_PAD.encode(header)),
            header: cfg.header.clone(),
            issuer: cfg.issuer.clone(),
            audience: cfg.audience.clone(),
            ttl: cfg.ttl as i64,
            jwks_path: cfg.jwks_path.clone(),
            jwks,
            minted: Lru::new(CACHE_CAP),
        })
    }

    /// The request header the assertion goes in.
    pub fn header(&self) -> &str {
        &self.header
    }

    /// The path the key set is served at.
    pub fn jwks_path(&self) -> &str {
        &self.jwks_path
    }

    /// The key set (`{"keys":[{OKP Ed25519}]}`), JSON.
    pub fn jwks(&self) -> &str {
        &self.jwks
    }

    /// The assertion for `id` at `now`; `None` for an anonymous identity,
    /// or when the access token has expired (within the issuer's leeway) so
    /// no lifetime is left to give.
    pub fn mint(&mut self, id: &Identity, now: i64) -> Option<String> {
        if id.kind == IdentityKind::Anonymous {
            return None;
        }
        let exp = now
            .saturating_add(self.ttl)
            .min(id.expires_at.unwrap_or(i64::MAX));
        if exp <= now {
            return None;
        }
        let claims = self.claims(id);
        let key = digest(&format!("{:?}\n{claims}", id.expires_at));
        if let Some((jwt, iat, _)) = self.minted.get(&key, now) {
            // Reused for half the lifetime: an origin always gets one with
            // at least ttl/2 left (or what the access token has left).
            if now.saturating_sub(iat) < self.ttl / 2 {
                return Some(jwt);
            }
        }
        let payload = format!(
            r#"{{"iss":{},"aud":{},"iat":{now},"exp":{exp},{claims}}}"#,
            Value::from(self.issuer.as_str()),
            Value::from(self.audience.as_str()),
        );
        let mut jwt = String::with_capacity(self.prefix.len() + payload.len() * 4 / 3 + 90);
        jwt.push_str(&self.prefix);
        URL_SAFE_NO_PAD.encode_string(payload, &mut jwt);
        let signature = self.key.sign(jwt.as_bytes());
        jwt.push('.');
        URL_SAFE_NO_PAD.encode_string(signature.as_ref(), &mut jwt);
        self.minted.insert(key, (jwt.clone(), now, exp), exp);
        Some(jwt)
    }

    /// The identity's claims, after `iss`, `aud`, `iat`, `exp` (built by
    /// hand: the same bytes whatever serde_json features a host enables, so
    /// the conformance cases can pin the assertion).
    fn claims(&self, id: &Identity) -> String {
        let mut out = String::with_capacity(128);
        let mut put = |name: &str, value: Value| {
            if !out.is_empty() {
                out.push(',');
            }
            out.push('"');
            out.push_str(name);
            out.push_str("\":");
            out.push_str(&value.to_string());
        };
        if let Some(s) = &id.subject {
            put("sub", s.as_str().into());
        }
        let kind = match id.kind {
            IdentityKind::Jwt => "jwt",
            IdentityKind::ApiToken => "api_token",
            IdentityKind::Anonymous => "anonymous",
        };
        put("kind", kind.into());
        if let Some(i) = &id.issuer {
            put("idp_iss", i.as_str().into());
        }
        if let Some(t) = &id.tenant {
            put("tenant", t.as_str().into());
        }
        put("scope", id.scopes.join(" ").into());
        if !id.roles.is_empty() {
            put("roles", id.roles.clone().into());
        }
        if !id.permissions.is_empty() {
            put("permissions", id.permissions.clone().into());
        }
        out
    }
}

/// Why [`verify`] refused an assertion.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    /// A stable code: `assertion_missing`, `assertion_malformed`,
    /// `key_not_found`, `signature_invalid`, `issuer_invalid`,
    /// `audience_invalid`, `assertion_expired`, `assertion_not_yet_valid`.
    pub code: &'static str,
    /// What was wrong, in words.
    pub detail: String,
}

fn refuse(code: &'static str, detail: impl Into<String>) -> Refusal {
    Refusal {
        code,
        detail: detail.into(),
    }
}

/// Verifies an assertion the way an origin should: EdDSA only, a key from
/// `jwks` (by `kid`), `iss` and `aud` exact, `iat`/`exp` against `now` with
/// `leeway` seconds. Answers the claims.
pub fn verify(
    token: &str,
    jwks: &str,
    issuer: &str,
    audience: &str,
    now: i64,
    leeway: i64,
) -> Result<Value, Refusal> {
    use crate::crypto::{RingBackend, SignatureBackend};
    let eddsa = crate::keys::parse_alg("EdDSA")
        .ok_or_else(|| refuse("assertion_malformed", "EdDSA is not supported"))?;
    let jws = crate::jws::parse(token).map_err(|(_, d)| refuse("assertion_malformed", d))?;
    if jws.header.alg != eddsa {
        return Err(refuse(
            "assertion_malformed",
            "alg must be EdDSA (the gate signs with Ed25519)",
        ));
    }
    let set = crate::keys::parse_jwks(jwks.as_bytes())
        .map_err(|e| refuse("key_not_found", format!("the key set is {e}")))?;
    let kid = jws.header.kid.as_deref();
    let candidates: Vec<_> = set
        .keys
        .iter()
        .filter(|k| kid.is_none() || k.kid.as_deref() == kid)
        .filter(|k| k.usable_for(eddsa).is_ok())
        .collect();
    if candidates.is_empty() {
        return Err(refuse(
            "key_not_found",
            format!("no Ed25519 key with kid {kid:?} in the key set"),
        ));
    }
    let message = jws.signing_input.as_bytes();
    if !candidates
        .iter()
        .any(|k| RingBackend.verify(eddsa, k, message, &jws.signature))
    {
        return Err(refuse("signature_invalid", "the signature does not verify"));
    }
    let c = jws.claims;
    if c.get("iss").and_then(Value::as_str) != Some(issuer) {
        return Err(refuse(
            "issuer_invalid",
            format!("iss is {}, expected {issuer:?}", c["iss"]),
        ));
    }
    if c.get("aud").and_then(Value::as_str) != Some(audience) {
        return Err(refuse(
            "audience_invalid",
            format!("aud is {}, expected {audience:?}", c["aud"]),
        ));
    }
    let (Some(iat), Some(exp)) = (
        c.get("iat").and_then(Value::as_i64),
        c.get("exp").and_then(Value::as_i64),
    ) else {
        return Err(refuse(
            "assertion_malformed",
            "iat and exp must be integers",
        ));
    };
    if exp.saturating_add(leeway) <= now {
        return Err(refuse(
            "assertion_expired",
            format!("exp {exp} is before now {now}"),
        ));
    }
    if iat.saturating_sub(leeway) > now {
        return Err(refuse(
            "assertion_not_yet_valid",
            format!("iat {iat} is after now {now}"),
        ));
    }
    Ok(c)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::SecretText;

    const SEED: &str = "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A";

    fn config() -> AssertionConfig {
        AssertionConfig {
            audience: "https://orders.internal".into(),
            issuer: "https://gate.test".into(),
            header: "x-edgeward-assertion".into(),
            ttl: 60,
            jwks_path: "/.well-known/edgeward/jwks.json".into(),
            kid: None,
            key: Some(SecretText(SEED.into())),
        }
    }

    fn alice() -> Identity {
        Identity {
            kind: IdentityKind::Jwt,
            subject: Some("alice".into()),
            issuer: Some("https://idp.test/".into()),
            tenant: Some("acme".into()),
            scopes: vec!["orders:read".into(), "orders:write".into()],
            roles: vec!["admin".into()],
            permissions: Vec::new(),
            expires_at: Some(1_800_003_600),
            claims: Value::Null,
        }
    }

    #[test]
    fn rfc8032_seed_gives_its_public_key() {
        // RFC 8032 section 7.1, TEST 1.
        let hex = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
        let bytes: Vec<u8> = (0..32)
            .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap())
            .collect();
        assert_eq!(URL_SAFE_NO_PAD.encode(&bytes), SEED);
        let s = Signer::new(&config()).unwrap();
        let jwks: Value = serde_json::from_str(s.jwks()).unwrap();
        let x = URL_SAFE_NO_PAD
            .decode(jwks["keys"][0]["x"].as_str().unwrap())
            .unwrap();
        let pk: String = x.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            pk,
            "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
        );
    }

    #[test]
    fn mints_what_verify_accepts() {
        let mut s = Signer::new(&config()).unwrap();
        let now = 1_800_000_000;
        let jwt = s.mint(&alice(), now).unwrap();
        let c = verify(
            &jwt,
            s.jwks(),
            "https://gate.test",
            "https://orders.internal",
            now,
            0,
        )
        .unwrap();
        assert_eq!(c["sub"], "alice");
        assert_eq!(c["kind"], "jwt");
        assert_eq!(c["idp_iss"], "https://idp.test/");
        assert_eq!(c["tenant"], "acme");
        assert_eq!(c["scope"], "orders:read orders:write");
        assert_eq!(c["roles"], serde_json::json!(["admin"]));
        assert_eq!(c["exp"], now + 60);
        assert!(c.get("permissions").is_none());
        for (iss, aud, at, code) in [
            (
                "https://other",
                "https://orders.internal",
                now,
                "issuer_invalid",
            ),
            (
                "https://gate.test",
                "https://billing",
                now,
                "audience_invalid",
            ),
            (
                "https://gate.test",
                "https://orders.internal",
                now + 60,
                "assertion_expired",
            ),
            (
                "https://gate.test",
                "https://orders.internal",
                now - 10,
                "assertion_not_yet_valid",
            ),
        ] {
            assert_eq!(
                verify(&jwt, s.jwks(), iss, aud, at, 0).unwrap_err().code,
                code
            );
        }
        let mut other = config();
        other.key = Some(SecretText(URL_SAFE_NO_PAD.encode([7u8; 32])));
        other.kid = Some("x".into());
        let o = Signer::new(&other).unwrap();
        assert_eq!(
            verify(
                &jwt,
                o.jwks(),
                "https://gate.test",
                "https://orders.internal",
                now,
                0
            )
            .unwrap_err()
            .code,
            "key_not_found"
        );
        // The same kid with another key: the signature is what fails.
        let same_kid = o.jwks().replace(
            "\"kid\":\"x\"",
            &format!("\"kid\":{}", serde_json::to_string(&kid_of(&s)).unwrap()),
        );
        assert_eq!(
            verify(
                &jwt,
                &same_kid,
                "https://gate.test",
                "https://orders.internal",
                now,
                0
            )
            .unwrap_err()
            .code,
            "signature_invalid"
        );
    }

    fn kid_of(s: &Signer) -> String {
        let v: Value = serde_json::from_str(s.jwks()).unwrap();
        v["keys"][0]["kid"].as_str().unwrap().to_owned()
    }

    #[test]
    fn reused_for_half_its_life_and_capped_by_the_token() {
        let mut s = Signer::new(&config()).unwrap();
        let now = 1_800_000_000;
        let first = s.mint(&alice(), now).unwrap();
        assert_eq!(s.mint(&alice(), now + 29).unwrap(), first);
        let later = s.mint(&alice(), now + 30).unwrap();
        assert_ne!(later, first);
        let mut bob = alice();
        bob.subject = Some("bob".into());
        assert_ne!(s.mint(&bob, now).unwrap(), first);
        // Ten seconds of the access token left: the assertion gets ten.
        let mut short = alice();
        short.expires_at = Some(now + 10);
        let jwt = s.mint(&short, now).unwrap();
        let c = verify(
            &jwt,
            s.jwks(),
            "https://gate.test",
            "https://orders.internal",
            now,
            0,
        )
        .unwrap();
        assert_eq!(c["exp"], now + 10);
        short.expires_at = Some(now);
        assert_eq!(s.mint(&short, now), None);
        assert_eq!(s.mint(&Identity::anonymous(), now), None);
    }

    #[test]
    fn deterministic_and_thumbprint_kid() {
        let a = Signer::new(&config())
            .unwrap()
            .mint(&alice(), 1_800_000_000);
        let b = Signer::new(&config())
            .unwrap()
            .mint(&alice(), 1_800_000_000);
        assert_eq!(a, b);
        let s = Signer::new(&config()).unwrap();
        // RFC 7638 thumbprint of the RFC 8032 test key (as jose's calculateJwkThumbprint gives).
        assert_eq!(kid_of(&s).len(), 43);
        let mut named = config();
        named.kid = Some("gate-2026".into());
        let s = Signer::new(&named).unwrap();
        assert_eq!(kid_of(&s), "gate-2026");
    }

    #[test]
    fn bad_seeds_say_why() {
        assert!(seed("abc").unwrap_err().contains("32 bytes"));
        assert!(seed("not base64!").unwrap_err().contains("base64url"));
        let std = base64::engine::general_purpose::STANDARD.encode([0xfbu8; 32]);
        assert_eq!(seed(&std).unwrap(), [0xfb; 32]);
        let mut c = config();
        c.key = None;
        assert_eq!(Signer::new(&c).unwrap_err().0, "assertion.key");
    }
}
