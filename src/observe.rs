//! What a decision was, for logs, analytics and hooks: one record with the
//! same field names on every host ([`DecisionEvent`], from
//! [`Gate::describe`](crate::Gate::describe)).
//!
//! Never the token, its signature, or key material; not the subject either
//! (personal data: a host that wants it has the identity). Every string a
//! client controls is cut to [`MAX_FIELD_BYTES`], so a client cannot make
//! log lines large.

use crate::config::Config;
use crate::decision::{Decision, Identity, IdentityKind};
use crate::token::{extract, Request};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::Serialize;
use serde_json::Value;
use std::sync::Arc;

/// Longest a client-controlled string field gets, in bytes (cut at a
/// character boundary).
pub const MAX_FIELD_BYTES: usize = 200;

/// What the gate did.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EventOutcome {
    /// Forwarded to the origin.
    Allow,
    /// Refused.
    Deny,
    /// Answered by the gate itself (CORS preflight, RFC 9728 metadata).
    Answer,
    /// Forwarded in report-only mode although enforce mode would refuse it.
    ReportOnly,
}

/// Whether the token's verdict came from the gate's verdict cache
/// (`jwt_cache_hit` / `jwt_cache_miss`, as Envoy's `jwt_authn` counts).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CacheUse {
    /// Decided by an earlier verification (the verdict cache, or the short
    /// negative cache of refused tokens).
    Hit,
    /// The token was parsed and verified (or refused) afresh.
    Miss,
}

/// One decision, described. Serializes to the documented field names
/// (docs/observability.md); hosts add `latency_ms`, `key_fetch` and trace ids.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DecisionEvent {
    /// `allow`, `deny`, `answer` or `report_only`.
    pub outcome: EventOutcome,
    /// The status sent (200 for allow); for report-only, the refusal's.
    pub status: u16,
    /// The reason code of a refusal (or of the report-only refusal).
    pub reason: Option<&'static str>,
    /// The refusal's human-readable detail (as in its body), cut to
    /// [`MAX_FIELD_BYTES`].
    pub detail: Option<String>,
    /// The method, uppercase as the gate matched it.
    pub method: String,
    /// The path, without the query string.
    pub path: String,
    /// The matched route's `path` pattern from the configuration.
    pub route: Option<String>,
    /// The issuer of a verified token (JWT whose signature verified).
    pub issuer: Option<String>,
    /// The `iss` claim of a token that was *not* verified (unparseable
    /// tokens have none): what the client claims, for spotting
    /// misconfigured clients; never trust it.
    pub unverified_issuer: Option<String>,
    /// The JWS header's `kid`.
    pub kid: Option<String>,
    /// The JWS header's `alg`, as sent.
    pub alg: Option<String>,
    /// How a verified caller authenticated: `jwt`, `api_token`, `anonymous`;
    /// `null` when the request was refused before a credential verified.
    pub identity: Option<IdentityKind>,
    /// The verified caller's tenant.
    pub tenant: Option<String>,
    /// `hit` or `miss` when a JWT was looked at; `null` otherwise.
    pub jwt_cache: Option<CacheUse>,
}

/// What only the check itself can know, kept by the gate from its latest
/// `check` for [`Gate::describe`](crate::Gate::describe).
#[derive(Clone, Debug, Default)]
pub(crate) struct Observed {
    /// `routes[i]` matched (the first, for case-folded double matches).
    pub route: Option<usize>,
    /// Verdict cache use of the JWT, when one was looked at.
    pub cache: Option<CacheUse>,
    /// The verified caller of a request then refused (policy, tenant).
    pub verified: Option<Arc<Identity>>,
}

/// Cuts `s` to [`MAX_FIELD_BYTES`] at a character boundary.
pub fn bound(s: &str) -> String {
    if s.len() <= MAX_FIELD_BYTES {
        return s.to_owned();
    }
    let mut end = MAX_FIELD_BYTES;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_owned()
}

/// One base64url JSON object segment of a compact JWS, leniently (this is
/// for logs: what the gate refused may be anything).
fn segment(part: Option<&str>) -> Option<Value> {
    let bytes = URL_SAFE_NO_PAD.decode(part?).ok()?;
    serde_json::from_slice::<Value>(&bytes)
        .ok()
        .filter(Value::is_object)
}

fn text(v: &Value, name: &str) -> Option<String> {
    v.get(name).and_then(Value::as_str).map(bound)
}

pub(crate) fn event(
    config: &Config,
    observed: &Observed,
    req: &Request,
    decision: &Decision,
) -> DecisionEvent {
    let (outcome, who) = match decision {
        Decision::Allow(a) if a.report_only.is_some() => {
            (EventOutcome::ReportOnly, Some(&a.identity))
        }
        Decision::Allow(a) => (EventOutcome::Allow, Some(&a.identity)),
        Decision::Deny(_) => (EventOutcome::Deny, observed.verified.as_ref()),
        Decision::Answer(_) => (EventOutcome::Answer, None),
    };
    // A report-only "allow" of a refused token carries the anonymous
    // identity: only a real credential counts as verified.
    let who = who.filter(|w| w.kind != IdentityKind::Anonymous || outcome == EventOutcome::Allow);
    let status = match decision {
        Decision::Allow(a) => a.report_only.as_ref().map_or(200, |d| d.status),
        other => other.status(),
    };
    let mut e = DecisionEvent {
        outcome,
        status,
        reason: decision.reason().map(|r| r.code()),
        detail: match decision {
            Decision::Allow(a) => a.report_only.as_ref().map(|d| bound(&d.detail)),
            Decision::Deny(d) => Some(bound(&d.detail)),
            Decision::Answer(_) => None,
        },
        method: bound(&req.method.to_ascii_uppercase()),
        path: bound(req.path_only()),
        route: observed
            .route
            .and_then(|i| config.routes.get(i))
            .map(|r| r.path.clone()),
        issuer: who.and_then(|w| w.issuer.clone()).map(|i| bound(&i)),
        unverified_issuer: None,
        kid: None,
        alg: None,
        identity: who.map(|w| w.kind),
        tenant: who.and_then(|w| w.tenant.as_deref()).map(bound),
        jwt_cache: observed.cache,
    };
    if matches!(decision, Decision::Answer(_)) {
        return e;
    }
    if let Ok(Some(p)) = extract(req, &config.token) {
        let mut parts = p.token.split('.');
        if let Some(header) = segment(parts.next()) {
            e.kid = text(&header, "kid");
            e.alg = text(&header, "alg");
            if e.issuer.is_none() {
                e.unverified_issuer = segment(parts.next()).and_then(|c| text(&c, "iss"));
            }
        }
    }
    e
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Config, Gate, Outcome};

    const ISS: &str = "https://idp.example.com/";

    fn gate(extra: &str) -> Gate {
        let config = Config::parse(&format!(
            r#"
            {extra}
            [[issuers]]
            issuer = "{ISS}"
            audiences = ["api"]
            algorithms = ["HS256"]
            hmac_secret = "0123456789abcdef0123456789abcdef"
            tenant_claim = "org"
            [[routes]]
            path = "/health"
            access = "anonymous"
            [[routes]]
            path = "/admin/**"
            scopes.all = ["admin"]
            [[routes]]
            path = "/**"
            "#
        ))
        .unwrap();
        Gate::new(config).unwrap()
    }

    fn token(claims: Value, secret: &str) -> String {
        let header = URL_SAFE_NO_PAD.encode(r#"{"alg":"HS256","kid":"k1","typ":"JWT"}"#);
        let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
        let input = format!("{header}.{payload}");
        let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret.as_bytes());
        let sig = URL_SAFE_NO_PAD.encode(ring::hmac::sign(&key, input.as_bytes()).as_ref());
        format!("{input}.{sig}")
    }

    fn claims(scope: &str) -> Value {
        serde_json::json!({"iss": ISS, "aud": "api", "sub": "alice@example.com", "org": "acme",
            "scope": scope, "exp": 2_000_000_000})
    }

    const NOW: i64 = 1_700_000_000;

    fn run(g: &mut Gate, method: &str, path: &str, headers: &[(&str, &str)]) -> DecisionEvent {
        let req = Request {
            method,
            path,
            headers,
        };
        let Outcome::Decided(d) = g.check(&req, NOW) else {
            panic!("keys asked for")
        };
        g.describe(&req, &d)
    }

    #[test]
    fn an_allow_names_the_verified_issuer_and_never_the_token_or_subject() {
        let mut g = gate("");
        let t = token(claims("read"), "0123456789abcdef0123456789abcdef");
        let auth = format!("Bearer {t}");
        let e = run(
            &mut g,
            "get",
            "/orders/1?q=secret",
            &[("authorization", &auth)],
        );
        assert_eq!(e.outcome, EventOutcome::Allow);
        assert_eq!(e.status, 200);
        assert_eq!(e.reason, None);
        assert_eq!(e.method, "GET");
        assert_eq!(e.path, "/orders/1", "no query string");
        assert_eq!(e.route.as_deref(), Some("/**"));
        assert_eq!(e.issuer.as_deref(), Some(ISS));
        assert_eq!(e.unverified_issuer, None);
        assert_eq!(e.kid.as_deref(), Some("k1"));
        assert_eq!(e.alg.as_deref(), Some("HS256"));
        assert_eq!(e.identity, Some(IdentityKind::Jwt));
        assert_eq!(e.tenant.as_deref(), Some("acme"));
        assert_eq!(e.jwt_cache, Some(CacheUse::Miss));
        let json = serde_json::to_string(&e).unwrap();
        for part in t.split('.') {
            assert!(!json.contains(part), "{json}");
        }
        assert!(!json.contains("alice"), "no subject: {json}");
        // The same token again: the verdict cache answers.
        let e = run(&mut g, "GET", "/orders/1", &[("authorization", &auth)]);
        assert_eq!(e.jwt_cache, Some(CacheUse::Hit));
        assert_eq!(e.kid.as_deref(), Some("k1"));
    }

    #[test]
    fn a_refusal_after_verification_keeps_the_verified_caller() {
        let mut g = gate("");
        let t = token(claims("read"), "0123456789abcdef0123456789abcdef");
        let auth = format!("Bearer {t}");
        let e = run(&mut g, "GET", "/admin/x", &[("authorization", &auth)]);
        assert_eq!(e.outcome, EventOutcome::Deny);
        assert_eq!(e.status, 403);
        assert_eq!(e.reason, Some("scope_missing"));
        assert_eq!(e.route.as_deref(), Some("/admin/**"));
        assert_eq!(e.issuer.as_deref(), Some(ISS));
        assert_eq!(e.unverified_issuer, None);
        assert_eq!(e.identity, Some(IdentityKind::Jwt));
        assert_eq!(e.tenant.as_deref(), Some("acme"));
    }

    #[test]
    fn a_forged_token_names_its_issuer_as_unverified_only() {
        let mut g = gate("");
        let t = token(claims("admin"), "another secret, not the issuer's....");
        let auth = format!("Bearer {t}");
        let e = run(&mut g, "GET", "/admin/x", &[("authorization", &auth)]);
        assert_eq!(e.outcome, EventOutcome::Deny);
        assert_eq!(e.reason, Some("signature_invalid"));
        assert_eq!(e.detail.as_deref(), Some("the signature does not verify"));
        assert_eq!(e.issuer, None);
        assert_eq!(e.unverified_issuer.as_deref(), Some(ISS));
        assert_eq!(e.identity, None);
        assert_eq!(e.tenant, None, "an unverified tenant is not reported");
        assert_eq!(e.jwt_cache, Some(CacheUse::Miss));
        let e = run(&mut g, "GET", "/admin/x", &[("authorization", &auth)]);
        assert_eq!(e.jwt_cache, Some(CacheUse::Hit), "the negative cache");
    }

    #[test]
    fn client_controlled_strings_are_bounded() {
        let mut g = gate("");
        let long = "é".repeat(500);
        let header =
            URL_SAFE_NO_PAD.encode(serde_json::json!({"alg": "HS256", "kid": long}).to_string());
        let payload = URL_SAFE_NO_PAD.encode(serde_json::json!({"iss": long}).to_string());
        let auth = format!("Bearer {header}.{payload}.c2ln");
        let path = format!("/{}", "a".repeat(5000));
        let e = run(&mut g, &"x".repeat(300), &path, &[("authorization", &auth)]);
        assert_eq!(e.outcome, EventOutcome::Deny);
        for (name, v) in [
            ("method", Some(&e.method)),
            ("path", Some(&e.path)),
            ("kid", e.kid.as_ref()),
            ("unverified_issuer", e.unverified_issuer.as_ref()),
        ] {
            let v = v.unwrap_or_else(|| panic!("{name} missing"));
            assert!(
                v.len() <= MAX_FIELD_BYTES && v.len() > 190,
                "{name}: {}",
                v.len()
            );
        }
        // A detail quoting a claim (an unknown issuer) is cut too.
        let header = URL_SAFE_NO_PAD.encode(r#"{"alg":"HS256"}"#);
        let auth = format!("Bearer {header}.{payload}.c2ln");
        let e = run(&mut g, "GET", "/", &[("authorization", &auth)]);
        assert_eq!(e.reason, Some("issuer_unknown"));
        let detail = e.detail.unwrap();
        assert!(
            detail.len() <= MAX_FIELD_BYTES && detail.len() > 190,
            "{detail}"
        );
    }

    #[test]
    fn report_only_answer_and_anonymous() {
        let mut g = gate(r#"mode = "report-only""#);
        let e = run(&mut g, "GET", "/orders", &[]);
        assert_eq!(e.outcome, EventOutcome::ReportOnly);
        assert_eq!(e.status, 401);
        assert_eq!(e.reason, Some("token_missing"));
        assert_eq!(e.identity, None);
        assert_eq!(e.jwt_cache, None);
        let e = run(&mut g, "GET", "/health", &[]);
        assert_eq!(e.outcome, EventOutcome::Allow);
        assert_eq!(e.identity, Some(IdentityKind::Anonymous));
        assert_eq!(e.route.as_deref(), Some("/health"));
        let mut g = gate(
            r#"[cors]
            allowed_origins = ["https://app.example"]"#,
        );
        let e = run(
            &mut g,
            "OPTIONS",
            "/orders",
            &[
                ("origin", "https://app.example"),
                ("access-control-request-method", "GET"),
            ],
        );
        assert_eq!(e.outcome, EventOutcome::Answer);
        assert_eq!(e.status, 204);
        assert_eq!(e.reason, None);
    }
}
