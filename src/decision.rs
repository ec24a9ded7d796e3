//! Decisions and the stable reason codes behind them.
//!
//! Reason codes are part of the public contract: hosts log them, clients
//! branch on them, the conformance cases assert them. Add codes; never rename.

use serde::Serialize;
use serde_json::Value;
use std::fmt;

macro_rules! reasons {
    ($($variant:ident => ($code:literal, $status:literal, $error:expr, $doc:literal),)*) => {
        /// Why a request was denied. [`Reason::code`] is the stable string.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum Reason {
            $(#[doc = $doc] $variant,)*
        }

        impl Reason {
            /// Every reason, in table order.
            pub const ALL: &'static [Reason] = &[$(Reason::$variant,)*];

            /// The stable reason code (`token_expired`).
            pub fn code(self) -> &'static str {
                match self { $(Reason::$variant => $code,)* }
            }

            /// The HTTP status.
            pub fn status(self) -> u16 {
                match self { $(Reason::$variant => $status,)* }
            }

            /// The RFC 6750 `error` (or, for 403/503 outside it, the body's
            /// `error`); `None` only when no credentials were sent.
            pub fn error(self) -> Option<&'static str> {
                match self { $(Reason::$variant => $error,)* }
            }

            /// One-line description (the documentation table).
            pub fn description(self) -> &'static str {
                match self { $(Reason::$variant => $doc,)* }
            }

            /// Looks a code up.
            pub fn from_code(code: &str) -> Option<Reason> {
                Reason::ALL.iter().copied().find(|r| r.code() == code)
            }
        }
    };
}

const INVALID_REQUEST: Option<&str> = Some("invalid_request");
const INVALID_TOKEN: Option<&str> = Some("invalid_token");
const INSUFFICIENT_SCOPE: Option<&str> = Some("insufficient_scope");

reasons! {
    TokenMissing => ("token_missing", 401, None, "No access token was sent."),
    MultipleTokens => ("multiple_tokens", 400, INVALID_REQUEST, "More than one access token was sent (RFC 6750 section 2)."),
    PathInvalid => ("path_invalid", 400, INVALID_REQUEST, "The request path is ambiguous (dot segments, empty segments, encoded slash or backslash, ; parameters, a fragment, bad escapes)."),
    TokenTooLarge => ("token_too_large", 401, INVALID_TOKEN, "The token is larger than token.max_size."),
    TokenMalformed => ("token_malformed", 401, INVALID_TOKEN, "The token is not a compact JWS with JSON header and payload."),
    HeaderUnsupported => ("header_unsupported", 401, INVALID_TOKEN, "The JWS header asks for something never accepted: crit, b64=false, nested JWT (cty), a bad kid."),
    AlgorithmNotAllowed => ("alg_not_allowed", 401, INVALID_TOKEN, "The header's alg is not in the issuer's algorithms (or is none)."),
    IssuerUnknown => ("issuer_unknown", 401, INVALID_TOKEN, "The iss claim is missing, not a string, or not a configured issuer."),
    AudienceInvalid => ("audience_invalid", 401, INVALID_TOKEN, "No audience (aud, or the issuer's audience_claims) is one of the issuer's audiences."),
    TokenExpired => ("token_expired", 401, INVALID_TOKEN, "exp is in the past (beyond leeway)."),
    TokenNotYetValid => ("token_not_yet_valid", 401, INVALID_TOKEN, "nbf or iat is in the future (beyond leeway)."),
    TokenTooOld => ("token_too_old", 401, INVALID_TOKEN, "iat is older than the issuer's max_age."),
    TypeInvalid => ("typ_invalid", 401, INVALID_TOKEN, "The typ header is not the one the issuer requires (at+jwt)."),
    ClaimMissing => ("claim_missing", 401, INVALID_TOKEN, "A required claim (exp, or one in required_claims) is missing."),
    ClaimInvalid => ("claim_invalid", 401, INVALID_TOKEN, "A registered claim has the wrong type (exp not a number, aud not strings, ...)."),
    ClaimValueMismatch => ("claim_value_mismatch", 401, INVALID_TOKEN, "A claim does not have the value the issuer's claim_values requires."),
    KeyNotFound => ("key_not_found", 401, INVALID_TOKEN, "No key in the issuer's key set has the token's kid (after a refetch within the cooldown)."),
    KeyUnusable => ("key_unusable", 401, INVALID_TOKEN, "The key with the token's kid cannot verify its alg (type, curve, alg, use or key_ops)."),
    SignatureInvalid => ("signature_invalid", 401, INVALID_TOKEN, "The signature does not verify."),
    ApiTokenInvalid => ("api_token_invalid", 401, INVALID_TOKEN, "An opaque token matches no configured API token."),
    ScopeMissing => ("scope_missing", 403, INSUFFICIENT_SCOPE, "The route needs scopes the token lacks."),
    RoleMissing => ("role_missing", 403, INSUFFICIENT_SCOPE, "The route needs roles the token lacks."),
    PermissionMissing => ("permission_missing", 403, INSUFFICIENT_SCOPE, "The route needs permissions the token lacks."),
    TenantNotAllowed => ("tenant_not_allowed", 403, INSUFFICIENT_SCOPE, "The token's tenant is not allowed (issuer tenants or route tenants)."),
    OwnerMismatch => ("owner_mismatch", 403, INSUFFICIENT_SCOPE, "A path parameter does not equal the claim it must (ownership)."),
    ApiTokenNotAllowed => ("api_token_not_allowed", 403, INSUFFICIENT_SCOPE, "The route does not accept static API tokens."),
    RouteDenied => ("route_denied", 403, Some("access_denied"), "The route (or the default for unmatched routes) is deny."),
    PreflightRefused => ("preflight_refused", 403, Some("access_denied"), "A CORS preflight asked for an origin, method or header that [cors] does not allow."),
    KeysUnavailable => ("keys_unavailable", 503, Some("temporarily_unavailable"), "The issuer's keys cannot be fetched and no cached copy can serve."),
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// Who the request is from, once verified.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Identity {
    /// `jwt`, `api_token` or `anonymous`.
    pub kind: IdentityKind,
    /// Subject (`sub`, or the API token's name).
    pub subject: Option<String>,
    /// Issuer (JWT only).
    pub issuer: Option<String>,
    /// Tenant, when the issuer has a tenant claim.
    pub tenant: Option<String>,
    /// Granted scopes.
    pub scopes: Vec<String>,
    /// Granted roles.
    pub roles: Vec<String>,
    /// Granted permissions.
    pub permissions: Vec<String>,
    /// `exp` (JWT only).
    pub expires_at: Option<i64>,
    /// All claims (JWT only; `null` otherwise).
    pub claims: Value,
}

impl Identity {
    /// The identity of a request on an anonymous route.
    pub fn anonymous() -> Identity {
        Identity {
            kind: IdentityKind::Anonymous,
            subject: None,
            issuer: None,
            tenant: None,
            scopes: Vec::new(),
            roles: Vec::new(),
            permissions: Vec::new(),
            expires_at: None,
            claims: Value::Null,
        }
    }
}

/// How the caller authenticated.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum IdentityKind {
    /// A verified JWT.
    Jwt,
    /// A static API token.
    ApiToken,
    /// Nothing (anonymous route or preflight).
    Anonymous,
}

/// A refusal, ready to send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Deny {
    /// The stable reason.
    pub reason: Reason,
    /// HTTP status (from the reason).
    pub status: u16,
    /// `WWW-Authenticate` value, for 400/401/403.
    pub www_authenticate: Option<String>,
    /// JSON body: `{"error","reason","detail"}`.
    pub body: String,
    /// Human-readable detail (also in the body). Never holds the token or keys.
    pub detail: String,
    /// More response headers (CORS, for an allowed `Origin`).
    pub extra_headers: Vec<(String, String)>,
}

impl Deny {
    /// Builds a refusal; `scope` goes into the challenge of a 403.
    pub fn new(
        realm: &str,
        reason: Reason,
        detail: impl Into<String>,
        scope: Option<&str>,
    ) -> Deny {
        let detail = detail.into();
        let www_authenticate = (reason.status() != 503
            && !matches!(reason, Reason::RouteDenied | Reason::PreflightRefused))
        .then(|| {
            let mut c = format!("Bearer realm=\"{}\"", quote(realm));
            if let Some(error) = reason.error() {
                c.push_str(&format!(
                    ", error=\"{error}\", error_description=\"{}\"",
                    quote(reason.description())
                ));
            }
            if let Some(scope) = scope {
                c.push_str(&format!(", scope=\"{}\"", quote(scope)));
            }
            c
        });
        // Built by hand to keep the documented member order.
        let body = format!(
            r#"{{"error":"{}","reason":"{}","detail":{}}}"#,
            reason.error().unwrap_or("unauthorized"),
            reason.code(),
            serde_json::Value::from(detail.as_str())
        );
        Deny {
            reason,
            status: reason.status(),
            www_authenticate,
            body,
            detail,
            extra_headers: Vec::new(),
        }
    }

    /// Every response header to send: `content-type`, `cache-control`, and
    /// `www-authenticate` or `retry-after` where they apply, then CORS.
    pub fn headers(&self) -> Vec<(&str, String)> {
        let mut h = vec![
            ("content-type", "application/json".to_string()),
            ("cache-control", "no-store".to_string()),
        ];
        if let Some(w) = &self.www_authenticate {
            h.push(("www-authenticate", w.clone()));
        }
        if self.status == 503 {
            h.push(("retry-after", "30".to_string()));
        }
        h.extend(
            self.extra_headers
                .iter()
                .map(|(k, v)| (k.as_str(), v.clone())),
        );
        h
    }
}

/// A response the gate sends itself (a CORS preflight answer, the RFC 9728
/// protected-resource metadata): the origin is not reached.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Answer {
    /// HTTP status (204, 200).
    pub status: u16,
    /// Response headers.
    pub headers: Vec<(String, String)>,
    /// Response body (empty for 204; none is sent for HEAD).
    pub body: String,
}

/// The form a request header name is compared in when identity headers are
/// stripped: ASCII lowercase, with `_` read as `-` (CGI, Rack, PHP and some
/// proxies turn `X_Auth_Subject` into the same variable as `X-Auth-Subject`).
pub fn header_key(name: &str) -> std::borrow::Cow<'_, str> {
    if name.bytes().any(|b| b.is_ascii_uppercase() || b == b'_') {
        std::borrow::Cow::Owned(
            name.bytes()
                .map(|b| {
                    if b == b'_' {
                        '-'
                    } else {
                        b.to_ascii_lowercase() as char
                    }
                })
                .collect(),
        )
    } else {
        std::borrow::Cow::Borrowed(name)
    }
}

/// Whether header `name`, read as [`header_key`] reads it, is `key` (a
/// lowercase dash name), without making the key.
pub fn header_is(name: &str, key: &str) -> bool {
    name.len() == key.len()
        && name.bytes().zip(key.bytes()).all(|(a, b)| {
            (if a == b'_' {
                b'-'
            } else {
                a.to_ascii_lowercase()
            }) == b
        })
}

/// RFC 7230 quoted-string content, limited to the RFC 6750 character set:
/// printable ASCII, with `"` and `\` backslash-escaped; anything else is
/// dropped so no host refuses the header.
fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            ' '..='~' => out.push(c),
            _ => {}
        }
    }
    out
}

/// A request that may go on to the origin.
#[derive(Clone, Debug, PartialEq)]
pub struct Allow {
    /// The caller.
    pub identity: std::sync::Arc<Identity>,
    /// Headers to set on the request to the origin.
    pub headers_to_set: Vec<(String, String)>,
    /// Headers to remove from the request first (lowercase names; the same
    /// shared list on every decision of a gate).
    pub headers_to_remove: std::sync::Arc<[String]>,
    /// In report-only mode, the refusal that enforce mode would have sent.
    pub report_only: Option<Deny>,
    /// Headers to add to the origin's response (CORS, for an allowed `Origin`).
    pub response_headers: Vec<(String, String)>,
}

impl Allow {
    /// Whether a client-sent request header must be removed before the
    /// request goes on: its name, read as [`header_key`], is one of
    /// `headers_to_remove`. Hosts apply this to every request header.
    pub fn strips(&self, name: &str) -> bool {
        self.headers_to_remove.iter().any(|h| header_is(name, h))
    }

    /// The request headers the origin receives: `headers` without the ones
    /// [`Allow::strips`], then `headers_to_set`. What every host does to
    /// the request, in one place (hosts whose runtime edits headers in place
    /// follow the same rule).
    pub fn forwarded_headers<'h>(
        &'h self,
        headers: &[(&'h str, &'h str)],
    ) -> Vec<(&'h str, &'h str)> {
        let mut out: Vec<(&str, &str)> = headers
            .iter()
            .filter(|(k, _)| !self.strips(k))
            .copied()
            .collect();
        out.extend(
            self.headers_to_set
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str())),
        );
        out
    }
}

/// What to do with a request.
#[derive(Clone, Debug, PartialEq)]
pub enum Decision {
    /// Forward it (after editing its headers as told).
    Allow(Box<Allow>),
    /// Answer it with this refusal.
    Deny(Deny),
    /// Answer it with this response (a CORS preflight); not a refusal.
    Answer(Answer),
}

impl Decision {
    /// True for [`Decision::Allow`].
    pub fn is_allowed(&self) -> bool {
        matches!(self, Decision::Allow(_))
    }

    /// The reason of a refusal (or of the report-only refusal).
    pub fn reason(&self) -> Option<Reason> {
        match self {
            Decision::Allow(a) => a.report_only.as_ref().map(|d| d.reason),
            Decision::Deny(d) => Some(d.reason),
            Decision::Answer(_) => None,
        }
    }

    /// HTTP status the host answers with (200 means forward; an
    /// [`Decision::Answer`] is answered by the gate with its own status).
    pub fn status(&self) -> u16 {
        match self {
            Decision::Allow(_) => 200,
            Decision::Deny(d) => d.status,
            Decision::Answer(a) => a.status,
        }
    }
}

/// The reason-code table in Markdown (for docs; a test keeps the docs in step).
pub fn reason_table() -> String {
    let mut s = String::from("| reason | status | error | meaning |\n|---|---|---|---|\n");
    for r in Reason::ALL {
        s.push_str(&format!(
            "| `{}` | {} | {} | {} |\n",
            r.code(),
            r.status(),
            r.error().map_or("(none)".to_string(), |e| format!("`{e}`")),
            r.description()
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_is_reads_names_as_header_key_does() {
        let names = [
            "x-auth-subject",
            "X-Auth-Subject",
            "X_AUTH_SUBJECT",
            "x_auth-subject",
            "x-auth-subjects",
            "x-auth-subjec",
            "",
            "x-auth+subject",
        ];
        for key in ["x-auth-subject", "x-http-method-override", ""] {
            for name in names {
                assert_eq!(
                    header_is(name, key),
                    header_key(name) == key,
                    "{name} / {key}"
                );
            }
        }
    }

    #[test]
    fn look_alike_header_names_are_stripped() {
        let allow = Allow {
            identity: std::sync::Arc::new(Identity::anonymous()),
            headers_to_set: vec![("x-auth-subject".into(), "alice".into())],
            headers_to_remove: vec!["x-auth-subject".to_string()].into(),
            report_only: None,
            response_headers: Vec::new(),
        };
        for name in [
            "x-auth-subject",
            "X-Auth-Subject",
            "x_auth_subject",
            "X_AUTH-subject",
        ] {
            assert!(allow.strips(name), "{name}");
        }
        assert!(!allow.strips("x-auth-subjects"));
        let out = allow.forwarded_headers(&[
            ("X_Auth_Subject", "root"),
            ("x-auth-subject", "root"),
            ("accept", "*/*"),
        ]);
        assert_eq!(out, [("accept", "*/*"), ("x-auth-subject", "alice")]);
    }

    #[test]
    fn no_error_attribute_without_a_token() {
        let d = Deny::new("api", Reason::TokenMissing, "no token", None);
        assert_eq!(d.status, 401);
        assert_eq!(d.www_authenticate.as_deref(), Some("Bearer realm=\"api\""));
    }

    #[test]
    fn challenges_follow_rfc6750() {
        let d = Deny::new("api", Reason::TokenExpired, "x", None);
        let w = d.www_authenticate.unwrap();
        assert!(
            w.starts_with("Bearer realm=\"api\", error=\"invalid_token\", error_description=\""),
            "{w}"
        );
        let d = Deny::new("a\"pi", Reason::ScopeMissing, "x", Some("read \"all\""));
        assert_eq!(d.status, 403);
        let w = d.www_authenticate.unwrap();
        assert!(
            w.starts_with("Bearer realm=\"a\\\"pi\", error=\"insufficient_scope\""),
            "{w}"
        );
        assert!(w.ends_with("scope=\"read \\\"all\\\"\""), "{w}");
        let d = Deny::new("api", Reason::MultipleTokens, "x", None);
        assert_eq!(d.status, 400);
        assert!(d
            .www_authenticate
            .unwrap()
            .contains("error=\"invalid_request\""));
        let d = Deny::new("api", Reason::KeysUnavailable, "x", None);
        assert_eq!(d.status, 503);
        assert!(d.www_authenticate.is_none());
        assert!(d.headers().contains(&("retry-after", "30".into())));
    }

    #[test]
    fn body_is_json_with_stable_code() {
        let d = Deny::new(
            "api",
            Reason::SignatureInvalid,
            "the signature does not verify",
            None,
        );
        let v: Value = serde_json::from_str(&d.body).unwrap();
        assert_eq!(v["error"], "invalid_token");
        assert_eq!(v["reason"], "signature_invalid");
        assert_eq!(v["detail"], "the signature does not verify");
    }

    #[test]
    fn codes_are_unique_and_round_trip() {
        for r in Reason::ALL {
            assert_eq!(Reason::from_code(r.code()), Some(*r));
            assert_eq!(
                Reason::ALL.iter().filter(|o| o.code() == r.code()).count(),
                1
            );
        }
    }
}
