//! Strict JSON for token headers, payloads and key sets.
//!
//! `serde_json` keeps the last of two equal keys and nests as deep as its
//! recursion limit; both are attack surface in a token (a duplicate `iss` or
//! `alg` that two parsers read differently). This reader rejects duplicate
//! keys and bounds nesting depth while building an ordinary `serde_json::Value`.

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};
use std::fmt;

/// Default bound on object/array nesting in token headers and payloads.
pub const DEFAULT_MAX_DEPTH: usize = 16;

/// Parses `bytes` as one JSON value, rejecting duplicate object keys and
/// nesting deeper than `max_depth`.
///
/// ```
/// use edgeward::json::parse_strict;
/// assert!(parse_strict(br#"{"a":1}"#, 4).is_ok());
/// assert!(parse_strict(br#"{"a":1,"a":2}"#, 4).is_err());
/// assert!(parse_strict(b"[[[[[1]]]]]", 4).is_err());
/// ```
pub fn parse_strict(bytes: &[u8], max_depth: usize) -> Result<Value, String> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = Strict {
        depth: 0,
        max_depth,
    }
    .deserialize(&mut de)
    .map_err(|e| e.to_string())?;
    de.end().map_err(|e| e.to_string())?;
    Ok(value)
}

/// The strict reader as a serde seed and visitor, for parsers that read
/// some members themselves (`jws`'s header) and the rest strictly: a value
/// at `depth` (the top level is 0) may nest to `max_depth`.
#[derive(Clone, Copy)]
pub(crate) struct Strict {
    depth: usize,
    max_depth: usize,
}

impl Strict {
    pub(crate) fn at(depth: usize, max_depth: usize) -> Self {
        Strict { depth, max_depth }
    }

    fn child<E: de::Error>(self) -> Result<Self, E> {
        if self.depth >= self.max_depth {
            return Err(E::custom(format!(
                "JSON nested deeper than {} levels",
                self.max_depth
            )));
        }
        Ok(Strict {
            depth: self.depth + 1,
            max_depth: self.max_depth,
        })
    }
}

impl<'de> DeserializeSeed<'de> for Strict {
    type Value = Value;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Strict {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        serde_json::Number::from_f64(v)
            .map(Value::Number)
            .ok_or_else(|| E::custom("number out of range"))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let child = self.child()?;
        let mut out = Vec::new();
        while let Some(v) = seq.next_element_seed(child)? {
            out.push(v);
        }
        Ok(Value::Array(out))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let child = self.child()?;
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            // One search of the map per key: the vacant entry is filled.
            match out.entry(key) {
                serde_json::map::Entry::Occupied(e) => {
                    return Err(de::Error::custom(format!("duplicate key `{}`", e.key())));
                }
                serde_json::map::Entry::Vacant(e) => {
                    e.insert(map.next_value_seed(child)?);
                }
            }
        }
        Ok(Value::Object(out))
    }
}

/// Looks a claim up by path: a leading `/` makes it a JSON pointer
/// (`/realm_access/roles`); otherwise the literal top-level name is tried first
/// (so `cognito:groups` and `https://example.com/roles` work), then a dotted
/// path (`realm_access.roles`).
pub fn claim_at<'v>(claims: &'v Value, path: &str) -> Option<&'v Value> {
    if path.starts_with('/') {
        return claims.pointer(path);
    }
    if let Some(v) = claims.get(path) {
        return Some(v);
    }
    if !path.contains('.') {
        return None;
    }
    path.split('.').try_fold(claims, |v, part| v.get(part))
}

/// The strings a claim holds: a space-separated string (OAuth `scope`) or an
/// array of strings (`scp`, `roles`). Other shapes hold none.
pub fn claim_strings(value: Option<&Value>) -> Vec<&str> {
    match value {
        Some(Value::String(s)) => s.split_ascii_whitespace().collect(),
        Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn rejects_duplicates_at_any_depth() {
        let err = parse_strict(br#"{"a":{"b":1,"b":2}}"#, 8).unwrap_err();
        assert!(err.contains("duplicate key `b`"), "{err}");
    }

    #[test]
    fn bounds_depth() {
        assert!(parse_strict(br#"{"a":{"b":{"c":1}}}"#, 3).is_ok());
        let err = parse_strict(br#"{"a":{"b":{"c":{"d":1}}}}"#, 3).unwrap_err();
        assert!(err.contains("nested deeper"), "{err}");
    }

    #[test]
    fn rejects_trailing_garbage() {
        assert!(parse_strict(br#"{"a":1} x"#, 3).is_err());
        assert!(parse_strict(b"", 3).is_err());
    }

    #[test]
    fn claim_paths() {
        let c = json!({
            "realm_access": {"roles": ["a"]},
            "cognito:groups": ["g"],
            "https://example.com/roles": ["r"],
            "scope": "read  write",
        });
        assert_eq!(claim_strings(claim_at(&c, "realm_access.roles")), ["a"]);
        assert_eq!(claim_strings(claim_at(&c, "/realm_access/roles")), ["a"]);
        assert_eq!(claim_strings(claim_at(&c, "cognito:groups")), ["g"]);
        assert_eq!(
            claim_strings(claim_at(&c, "https://example.com/roles")),
            ["r"]
        );
        assert_eq!(claim_strings(claim_at(&c, "scope")), ["read", "write"]);
        assert!(claim_at(&c, "missing.path").is_none());
    }
}
