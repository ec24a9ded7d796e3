//! Registered-claim checks (RFC 7519 §4.1, RFC 9068).

use crate::config::IssuerConfig;
use crate::decision::Reason;
use crate::json::claim_at;
use crate::jws::{Failure, Header};
use serde_json::Value;

/// Reads a NumericDate: a non-negative JSON number within `i64` seconds.
/// Fractions are truncated; strings, negatives and out-of-range numbers are
/// refused.
pub fn numeric_date(claims: &Value, name: &str) -> Result<Option<i64>, Failure> {
    let bad = || {
        (
            Reason::ClaimInvalid,
            format!("\"{name}\" is not a non-negative NumericDate"),
        )
    };
    match claims.get(name) {
        None => Ok(None),
        Some(Value::Number(n)) => {
            if let Some(i) = n.as_i64() {
                return if i >= 0 { Ok(Some(i)) } else { Err(bad()) };
            }
            match n.as_f64() {
                // 2^63 as f64; anything at or above it does not fit i64.
                Some(f) if f.is_finite() && (0.0..9.223_372_036_854_776e18).contains(&f) => {
                    Ok(Some(f as i64))
                }
                _ => Err(bad()),
            }
        }
        Some(_) => Err(bad()),
    }
}

/// The `iss` claim, which must be a string.
pub fn issuer(claims: &Value) -> Result<&str, Failure> {
    match claims.get("iss") {
        Some(Value::String(s)) => Ok(s),
        Some(_) => Err((Reason::IssuerUnknown, "\"iss\" is not a string".into())),
        None => Err((Reason::IssuerUnknown, "the token has no \"iss\"".into())),
    }
}

/// Checked times, for the verdict cache and explain output.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Times {
    /// `exp`.
    pub exp: i64,
    /// `iat`, when present.
    pub iat: Option<i64>,
}

/// Checks `aud`, `exp`, `nbf`, `iat`, `typ`, max age and required claims for
/// a token whose `iss` is `cfg.issuer`.
pub fn check(
    claims: &Value,
    header: &Header,
    cfg: &IssuerConfig,
    now: i64,
) -> Result<Times, Failure> {
    let leeway = cfg.leeway as i64;
    let mut auds: Vec<&str> = Vec::new();
    for name in &cfg.audience_claims {
        let bad = || {
            (
                Reason::ClaimInvalid,
                format!("\"{name}\" is not a string or array of strings"),
            )
        };
        match claims.get(name.as_str()) {
            None => {}
            Some(Value::String(s)) => auds.push(s),
            Some(Value::Array(a)) => {
                for v in a {
                    auds.push(v.as_str().ok_or_else(bad)?);
                }
            }
            Some(_) => return Err(bad()),
        }
    }
    if auds.is_empty() {
        return Err((
            Reason::AudienceInvalid,
            format!(
                "the token has no audience ({})",
                cfg.audience_claims.join(", ")
            ),
        ));
    }
    if !auds.iter().any(|a| cfg.audiences.iter().any(|x| x == a)) {
        return Err((
            Reason::AudienceInvalid,
            format!("audience {auds:?} names none of this API's audiences"),
        ));
    }
    let exp = numeric_date(claims, "exp")?
        .ok_or_else(|| (Reason::ClaimMissing, "the token has no \"exp\"".to_string()))?;
    if now >= exp.saturating_add(leeway) {
        return Err((
            Reason::TokenExpired,
            format!("the token expired at {exp} (now {now}, leeway {leeway}s)"),
        ));
    }
    if let Some(nbf) = numeric_date(claims, "nbf")? {
        if now.saturating_add(leeway) < nbf {
            return Err((
                Reason::TokenNotYetValid,
                format!("the token is not valid before {nbf} (now {now})"),
            ));
        }
    }
    let iat = numeric_date(claims, "iat")?;
    if let Some(iat) = iat {
        if now.saturating_add(leeway) < iat {
            return Err((
                Reason::TokenNotYetValid,
                format!("the token was issued in the future, at {iat} (now {now})"),
            ));
        }
    }
    if let Some(max_age) = cfg.max_age {
        let iat = iat.ok_or((
            Reason::ClaimMissing,
            "max_age is configured and the token has no \"iat\"".to_string(),
        ))?;
        if now.saturating_sub(iat) > (max_age as i64).saturating_add(leeway) {
            return Err((
                Reason::TokenTooOld,
                format!("the token was issued at {iat}, more than {max_age}s ago"),
            ));
        }
    }
    if let Some(want) = &cfg.typ {
        let ok = header
            .typ
            .as_deref()
            .is_some_and(|t| media_type_eq(t, want));
        if !ok {
            return Err((Reason::TypeInvalid, format!("typ must be \"{want}\"")));
        }
    }
    for (name, want) in &cfg.claim_values {
        match claim_at(claims, name) {
            None => {
                return Err((
                    Reason::ClaimMissing,
                    format!("the token has no \"{name}\" claim"),
                ))
            }
            Some(got) if got != want => {
                return Err((
                    Reason::ClaimValueMismatch,
                    format!("\"{name}\" must be {want}"),
                ));
            }
            Some(_) => {}
        }
    }
    for name in &cfg.required_claims {
        if claim_at(claims, name).is_none_or(Value::is_null) {
            return Err((
                Reason::ClaimMissing,
                format!("the token has no \"{name}\" claim"),
            ));
        }
    }
    Ok(Times { exp, iat })
}

/// RFC 7515 §4.1.9: `typ` compares case-insensitively and may omit the
/// `application/` prefix.
fn media_type_eq(a: &str, b: &str) -> bool {
    fn norm(s: &str) -> String {
        let l = s.to_ascii_lowercase();
        l.strip_prefix("application/")
            .map(str::to_owned)
            .unwrap_or(l)
    }
    norm(a) == norm(b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::Algorithm;
    use serde_json::json;

    fn cfg() -> IssuerConfig {
        serde_json::from_value(json!({"issuer": "https://i/", "audiences": ["api", "api2"]}))
            .unwrap()
    }

    fn header(typ: Option<&str>) -> Header {
        Header {
            alg: Algorithm::RS256,
            kid: None,
            typ: typ.map(String::from),
        }
    }

    fn run(claims: Value, now: i64) -> Result<Times, Reason> {
        check(&claims, &header(None), &cfg(), now).map_err(|e| e.0)
    }

    #[test]
    fn numeric_dates() {
        let c = json!({"a": 5, "b": 5.9, "c": -1, "d": "5", "e": 1e300, "f": 18446744073709551615u64, "g": -0.5});
        assert_eq!(numeric_date(&c, "a").unwrap(), Some(5));
        assert_eq!(numeric_date(&c, "b").unwrap(), Some(5));
        assert_eq!(numeric_date(&c, "none").unwrap(), None);
        for bad in ["c", "d", "e", "f", "g"] {
            assert_eq!(
                numeric_date(&c, bad).unwrap_err().0,
                Reason::ClaimInvalid,
                "{bad}"
            );
        }
    }

    #[test]
    fn audience_any_of() {
        assert!(run(json!({"aud": "api", "exp": 100}), 0).is_ok());
        assert!(run(json!({"aud": ["other", "api2"], "exp": 100}), 0).is_ok());
        assert_eq!(
            run(json!({"aud": ["other"], "exp": 100}), 0),
            Err(Reason::AudienceInvalid)
        );
        assert_eq!(run(json!({"exp": 100}), 0), Err(Reason::AudienceInvalid));
        assert_eq!(
            run(json!({"aud": [1], "exp": 100}), 0),
            Err(Reason::ClaimInvalid)
        );
        assert_eq!(
            run(json!({"aud": {"a": 1}, "exp": 100}), 0),
            Err(Reason::ClaimInvalid)
        );
    }

    #[test]
    fn times_with_leeway() {
        let base = json!({"aud": "api", "exp": 1000});
        assert!(run(base.clone(), 1059).is_ok());
        assert_eq!(run(base, 1060), Err(Reason::TokenExpired));
        assert_eq!(run(json!({"aud": "api"}), 0), Err(Reason::ClaimMissing));
        assert_eq!(
            run(json!({"aud": "api", "exp": "1000"}), 0),
            Err(Reason::ClaimInvalid)
        );
        assert!(run(json!({"aud": "api", "exp": 5000, "nbf": 1060}), 1000).is_ok());
        assert_eq!(
            run(json!({"aud": "api", "exp": 5000, "nbf": 1061}), 1000),
            Err(Reason::TokenNotYetValid)
        );
        assert_eq!(
            run(json!({"aud": "api", "exp": 5000, "iat": 1061}), 1000),
            Err(Reason::TokenNotYetValid)
        );
        assert_eq!(
            run(json!({"aud": "api", "exp": i64::MAX}), 1000)
                .unwrap()
                .exp,
            i64::MAX
        );
    }

    #[test]
    fn max_age_typ_and_required() {
        let mut c = cfg();
        c.max_age = Some(100);
        c.typ = Some("at+jwt".into());
        c.required_claims = vec!["sub".into(), "realm_access.roles".into()];
        let h = header(Some("application/AT+JWT"));
        let good = json!({"aud":"api","exp":5000,"iat":900,"sub":"a","realm_access":{"roles":[]}});
        assert!(check(&good, &h, &c, 1000).is_ok());
        assert_eq!(
            check(&good, &h, &c, 1061).unwrap_err().0,
            Reason::TokenTooOld
        );
        assert_eq!(
            check(&good, &header(Some("JWT")), &c, 1000).unwrap_err().0,
            Reason::TypeInvalid
        );
        assert_eq!(
            check(&good, &header(None), &c, 1000).unwrap_err().0,
            Reason::TypeInvalid
        );
        let no_iat = json!({"aud":"api","exp":5000,"sub":"a","realm_access":{"roles":[]}});
        assert_eq!(
            check(&no_iat, &h, &c, 1000).unwrap_err().0,
            Reason::ClaimMissing
        );
        let no_roles = json!({"aud":"api","exp":5000,"iat":900,"sub":"a"});
        assert_eq!(
            check(&no_roles, &h, &c, 1000).unwrap_err().0,
            Reason::ClaimMissing
        );
    }

    #[test]
    fn audience_claims_and_claim_values() {
        let mut c = cfg();
        c.audience_claims = vec!["aud".into(), "client_id".into()];
        c.claim_values.insert("token_use".into(), json!("access"));
        let h = header(None);
        let cognito = json!({"client_id": "api", "token_use": "access", "exp": 100});
        assert!(check(&cognito, &h, &c, 0).is_ok());
        let id_token = json!({"aud": "api", "token_use": "id", "exp": 100});
        assert_eq!(
            check(&id_token, &h, &c, 0).unwrap_err().0,
            Reason::ClaimValueMismatch
        );
        let none = json!({"token_use": "access", "exp": 100});
        assert_eq!(
            check(&none, &h, &c, 0).unwrap_err().0,
            Reason::AudienceInvalid
        );
        let missing = json!({"client_id": "api", "exp": 100});
        assert_eq!(
            check(&missing, &h, &c, 0).unwrap_err().0,
            Reason::ClaimMissing
        );
        let bad = json!({"client_id": 5, "exp": 100});
        assert_eq!(check(&bad, &h, &c, 0).unwrap_err().0, Reason::ClaimInvalid);
    }

    #[test]
    fn issuer_must_be_a_string() {
        assert_eq!(issuer(&json!({"iss": "a"})).unwrap(), "a");
        assert_eq!(
            issuer(&json!({"iss": ["a"]})).unwrap_err().0,
            Reason::IssuerUnknown
        );
        assert_eq!(issuer(&json!({})).unwrap_err().0, Reason::IssuerUnknown);
    }
}
