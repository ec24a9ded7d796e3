//! Compact JWS parsing with the checks jsonwebtoken leaves to its caller.
//!
//! Refused here, before any key is looked at: `alg: none` and unknown
//! algorithms, any `crit` (we implement no extension, so RFC 7515 §4.1.11
//! says reject), `b64` (RFC 7797 unencoded payloads), `cty: JWT` (nested
//! tokens), duplicate JSON keys, deep nesting, non-canonical base64url.
//! `jku`, `jwk`, `x5u` and `x5c` are never read: keys come only from the
//! configured issuer.

use crate::decision::Reason;
use crate::json::{parse_strict, DEFAULT_MAX_DEPTH};
use crate::keys::parse_alg;
use crate::keys::Algorithm;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::Value;

/// A failed check: the reason and a detail for the body.
pub type Failure = (Reason, String);

/// The protected header members the core acts on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    /// The signing algorithm.
    pub alg: Algorithm,
    /// Key id.
    pub kid: Option<String>,
    /// Media type of the token (`at+jwt`).
    pub typ: Option<String>,
}

/// A parsed, not yet verified, compact JWS.
#[derive(Clone, Debug)]
pub struct Jws<'t> {
    /// The header.
    pub header: Header,
    /// The header as JSON (for explain output).
    pub header_json: Value,
    /// The payload claims (a JSON object).
    pub claims: Value,
    /// `base64url(header) "." base64url(payload)`: what was signed.
    pub signing_input: &'t str,
    /// The decoded signature.
    pub signature: Vec<u8>,
}

fn malformed(detail: impl Into<String>) -> Failure {
    (Reason::TokenMalformed, detail.into())
}

fn unsupported(detail: impl Into<String>) -> Failure {
    (Reason::HeaderUnsupported, detail.into())
}

/// Parses a compact JWS.
///
/// ```
/// let err = edgeward::jws::parse("a.b").unwrap_err();
/// assert_eq!(err.0, edgeward::Reason::TokenMalformed);
/// ```
pub fn parse(token: &str) -> Result<Jws<'_>, Failure> {
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        let n = token.split('.').count();
        return Err(malformed(if n == 5 {
            "encrypted tokens (JWE) are not accepted".to_string()
        } else {
            format!("a JWS has 3 dot-separated parts, this token has {n}")
        }));
    };
    let header_json = decode_json(h, "header")?;
    let header = parse_header(&header_json)?;
    let claims = decode_json(p, "payload")?;
    let signature = URL_SAFE_NO_PAD
        .decode(s)
        .map_err(|_| malformed("the signature is not base64url"))?;
    Ok(Jws {
        header,
        header_json,
        claims,
        signing_input: &token[..h.len() + 1 + p.len()],
        signature,
    })
}

fn decode_json(part: &str, what: &str) -> Result<Value, Failure> {
    let bytes = URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| malformed(format!("the {what} is not base64url")))?;
    let v = parse_strict(&bytes, DEFAULT_MAX_DEPTH)
        .map_err(|e| malformed(format!("the {what} is not valid JSON: {e}")))?;
    if !v.is_object() {
        return Err(malformed(format!("the {what} is not a JSON object")));
    }
    Ok(v)
}

fn opt_string(h: &Value, name: &str) -> Result<Option<String>, Failure> {
    match h.get(name) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(unsupported(format!("header \"{name}\" is not a string"))),
    }
}

fn parse_header(h: &Value) -> Result<Header, Failure> {
    let alg = match h.get("alg") {
        Some(Value::String(a)) => a,
        Some(_) => return Err(malformed("header \"alg\" is not a string")),
        None => return Err(malformed("header has no \"alg\"")),
    };
    let alg = parse_alg(alg).ok_or_else(|| {
        (
            Reason::AlgorithmNotAllowed,
            format!(
                "alg \"{}\" is not supported",
                alg.chars().take(16).collect::<String>()
            ),
        )
    })?;
    if h.get("crit").is_some() {
        return Err(unsupported(
            "header \"crit\" names extensions this gate does not implement",
        ));
    }
    if h.get("b64").is_some() {
        return Err(unsupported("unencoded payloads (b64) are not accepted"));
    }
    if let Some(cty) = opt_string(h, "cty")? {
        if cty.eq_ignore_ascii_case("jwt") || cty.eq_ignore_ascii_case("application/jwt") {
            return Err(unsupported("nested tokens (cty: JWT) are not accepted"));
        }
    }
    let kid = opt_string(h, "kid")?;
    if kid.as_ref().is_some_and(|k| k.is_empty() || k.len() > 256) {
        return Err(unsupported(
            "header \"kid\" is empty or longer than 256 bytes",
        ));
    }
    Ok(Header {
        alg,
        kid,
        typ: opt_string(h, "typ")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn b64(v: &str) -> String {
        URL_SAFE_NO_PAD.encode(v)
    }

    fn tok(header: Value, payload: &str) -> String {
        format!("{}.{}.c2ln", b64(&header.to_string()), b64(payload))
    }

    fn reason(t: &str) -> Reason {
        parse(t).unwrap_err().0
    }

    #[test]
    fn parses_a_good_token() {
        let t = tok(
            json!({"alg":"ES256","kid":"k1","typ":"at+jwt"}),
            r#"{"iss":"x"}"#,
        );
        let j = parse(&t).unwrap();
        assert_eq!(j.header.alg, Algorithm::ES256);
        assert_eq!(j.header.kid.as_deref(), Some("k1"));
        assert_eq!(j.claims["iss"], "x");
        assert_eq!(j.signature, b"sig");
        assert_eq!(j.signing_input, &t[..t.rfind('.').unwrap()]);
    }

    #[test]
    fn shape_errors() {
        assert_eq!(reason("abc"), Reason::TokenMalformed);
        assert_eq!(reason("a.b.c.d.e"), Reason::TokenMalformed);
        assert!(parse("a.b.c.d.e").unwrap_err().1.contains("JWE"));
        assert_eq!(reason("!!.e30.c2ln"), Reason::TokenMalformed);
        // Padding and non-canonical trailing bits are refused.
        let h = b64(r#"{"alg":"RS256"}"#);
        assert_eq!(reason(&format!("{h}=.e30.c2ln")), Reason::TokenMalformed);
        assert_eq!(reason(&format!("{h}.e31.c2ln")), Reason::TokenMalformed);
        assert_eq!(
            reason(&format!("{h}.{}.c2ln", b64("[1]"))),
            Reason::TokenMalformed
        );
    }

    #[test]
    fn header_rules() {
        let cases = [
            (json!({"alg":"none"}), Reason::AlgorithmNotAllowed),
            (json!({"alg":"rs256"}), Reason::AlgorithmNotAllowed),
            (json!({}), Reason::TokenMalformed),
            (json!({"alg":1}), Reason::TokenMalformed),
            (
                json!({"alg":"RS256","crit":["exp"]}),
                Reason::HeaderUnsupported,
            ),
            (
                json!({"alg":"RS256","b64":false}),
                Reason::HeaderUnsupported,
            ),
            (
                json!({"alg":"RS256","cty":"JWT"}),
                Reason::HeaderUnsupported,
            ),
            (json!({"alg":"RS256","kid":5}), Reason::HeaderUnsupported),
            (json!({"alg":"RS256","kid":""}), Reason::HeaderUnsupported),
        ];
        for (h, want) in cases {
            assert_eq!(reason(&tok(h.clone(), "{}")), want, "{h}");
        }
        // jku/jwk/x5u/x5c are ignored, not errors.
        assert!(parse(&tok(
            json!({"alg":"RS256","jku":"https://evil/","jwk":{}}),
            "{}"
        ))
        .is_ok());
    }

    #[test]
    fn duplicate_claims_are_refused() {
        let t = format!(
            "{}.{}.c2ln",
            b64(r#"{"alg":"RS256"}"#),
            b64(r#"{"iss":"a","iss":"b"}"#)
        );
        assert_eq!(reason(&t), Reason::TokenMalformed);
        let t = format!(
            "{}.{}.c2ln",
            b64(r#"{"alg":"RS256","alg":"HS256"}"#),
            b64("{}")
        );
        assert_eq!(reason(&t), Reason::TokenMalformed);
    }
}
