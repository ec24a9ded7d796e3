//! Minting signed test tokens (compact JWS).

use crate::keys::{pem_decode_private, signing_alg, SigningKey};
use crate::util::{b64url, parse_duration, random_id, read_file, unix_now};
use crate::{outln, CliError, CliResult, MintArgs};
use serde_json::{Map, Value};

pub const EXAMPLES: &str = "\
Examples:
  edgeward mint --key keys/private.pem --iss https://dev.local --aud api --sub alice
  edgeward mint --key keys/private.pem --iss https://dev.local --aud api --aud admin \\
      --sub alice --scope \"orders:read orders:write\" --ttl 15m
  edgeward mint --key keys/private.pem --iss https://dev.local --aud api --sub bob \\
      --claim tenant=acme --claim roles='[\"admin\"]' --claims '{\"email\":\"bob@example.com\"}'

The token is printed on stdout: iat = now (or --now), exp = iat + --ttl, a random
jti, and the kid that `edgeward keygen` gave the key unless --kid says otherwise.
--claim values that parse as JSON are JSON (numbers, arrays, true), else strings;
--claim and --claims override the built-in claims (e.g. --claim exp=1).";

/// What goes into a token.
pub struct Spec {
    pub iss: String,
    pub aud: Vec<String>,
    pub sub: Option<String>,
    pub scope: Option<String>,
    pub iat: i64,
    pub ttl: u64,
    pub extra: Map<String, Value>,
}

/// The claims of a token: registered ones first, then the extras on top.
pub fn claims(spec: &Spec) -> CliResult<Value> {
    let mut c = Map::new();
    c.insert("iss".into(), spec.iss.clone().into());
    if let Some(sub) = &spec.sub {
        c.insert("sub".into(), sub.clone().into());
    }
    c.insert(
        "aud".into(),
        match spec.aud.as_slice() {
            [one] => one.clone().into(),
            many => many.to_vec().into(),
        },
    );
    c.insert("iat".into(), spec.iat.into());
    let exp = spec
        .iat
        .saturating_add(spec.ttl.min(i64::MAX as u64) as i64);
    c.insert("exp".into(), exp.into());
    c.insert("jti".into(), random_id()?.into());
    if let Some(scope) = &spec.scope {
        c.insert("scope".into(), scope.clone().into());
    }
    for (k, v) in &spec.extra {
        c.insert(k.clone(), v.clone());
    }
    Ok(Value::Object(c))
}

/// Signs `claims` into a compact JWS.
pub fn sign(
    key: &SigningKey,
    kid: Option<&str>,
    typ: Option<&str>,
    claims: &Value,
) -> CliResult<String> {
    let mut header = Map::new();
    header.insert("alg".into(), edgeward::keys::alg_name(key.alg).into());
    if let Some(typ) = typ {
        header.insert("typ".into(), typ.into());
    }
    if let Some(kid) = kid {
        header.insert("kid".into(), kid.into());
    }
    let h = b64url(Value::Object(header).to_string().as_bytes());
    let p = b64url(claims.to_string().as_bytes());
    let input = format!("{h}.{p}");
    let signature = key.sign(input.as_bytes())?;
    Ok(format!("{input}.{}", b64url(&signature)))
}

/// Parses `name=value` (JSON when it parses, else a string).
pub fn claim_pair(text: &str) -> CliResult<(String, Value)> {
    let (k, v) = text
        .split_once('=')
        .ok_or_else(|| CliError::at(format!("--claim {text}"), "expected NAME=VALUE"))?;
    if k.is_empty() {
        return Err(CliError::at(
            format!("--claim {text}"),
            "the claim name is empty",
        ));
    }
    let value = serde_json::from_str(v).unwrap_or_else(|_| Value::String(v.to_owned()));
    Ok((k.to_owned(), value))
}

/// Loads a PEM private key for `alg` (or the algorithm the key implies).
pub fn load_key(path: &std::path::Path, alg: Option<&str>) -> CliResult<SigningKey> {
    let alg = alg.map(|a| signing_alg("--alg", a)).transpose()?;
    let text = read_file("--key", path)?;
    let where_ = format!("--key {}", path.display());
    let text = String::from_utf8(text).map_err(|_| CliError::at(&where_, "not a PEM text file"))?;
    let der = pem_decode_private(&text).map_err(|e| CliError::at(&where_, e))?;
    SigningKey::from_der(der, alg).map_err(|e| CliError::at(&where_, e))
}

/// `edgeward mint`.
pub fn run(a: MintArgs) -> CliResult {
    let key = load_key(&a.key, a.alg.as_deref())?;
    let ttl = parse_duration(&a.ttl).map_err(|e| CliError::at("--ttl", e))?;
    let mut extra = Map::new();
    if let Some(text) = &a.claims {
        match serde_json::from_str::<Value>(text) {
            Ok(Value::Object(m)) => extra.extend(m),
            Ok(_) => return Err(CliError::at("--claims", "must be a JSON object")),
            Err(e) => return Err(CliError::at("--claims", format!("not valid JSON: {e}"))),
        }
    }
    for c in &a.claim {
        let (k, v) = claim_pair(c)?;
        extra.insert(k, v);
    }
    if a.aud.iter().any(String::is_empty) {
        return Err(CliError::at("--aud", "must not be empty"));
    }
    let spec = Spec {
        iss: a.iss,
        aud: a.aud,
        sub: a.sub,
        scope: a.scope,
        iat: a.now.unwrap_or_else(unix_now),
        ttl,
        extra,
    };
    let claims = claims(&spec)?;
    let kid = a.kid.unwrap_or_else(|| key.thumbprint_kid());
    let typ = (!a.typ.is_empty()).then_some(a.typ.as_str());
    let token = sign(&key, Some(&kid), typ, &claims)?;
    outln!("{token}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn claim_values() {
        assert_eq!(claim_pair("n=5").unwrap(), ("n".into(), json!(5)));
        assert_eq!(claim_pair("r=[\"a\"]").unwrap(), ("r".into(), json!(["a"])));
        assert_eq!(claim_pair("t=acme").unwrap(), ("t".into(), json!("acme")));
        assert_eq!(claim_pair("e=").unwrap(), ("e".into(), json!("")));
        assert_eq!(claim_pair("x=a=b").unwrap(), ("x".into(), json!("a=b")));
        assert!(claim_pair("novalue").is_err());
        assert!(claim_pair("=v").is_err());
    }
}
