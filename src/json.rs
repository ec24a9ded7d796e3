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

#[derive(Clone, Copy)]
struct Strict {
    depth: usize,
    max_depth: usize,
}

impl Strict {
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
            if out.contains_key(&key) {
                return Err(de::Error::custom(format!("duplicate key `{key}`")));
            }
            let v = map.next_value_seed(child)?;
            out.insert(key, v);
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

/// The field a `serde_json` error at `line`:`column` is about, as a dotted
/// path (`issuers[0].audiences`; `.` for the document), found by walking the
/// text up to that point. It names the same field `serde_path_to_error` would,
/// without a second instantiation of every visitor (~60 KB of wasm): the
/// value being read when the error struck, or for a `missing field` the
/// object that lacks it.
pub fn path_at(text: &str, line: usize, column: usize, missing_field: bool) -> String {
    enum Frame {
        Object { key: Option<String> },
        Array { index: usize, started: bool },
    }
    let bytes = text.as_bytes();
    let line_start = if line <= 1 {
        0
    } else {
        bytes
            .iter()
            .enumerate()
            .filter(|(_, &b)| b == b'\n')
            .nth(line - 2)
            .map_or(bytes.len(), |(i, _)| i + 1)
    };
    let end = (line_start + column).min(bytes.len());
    let mut stack: Vec<Frame> = Vec::new();
    // In an object, whether the next string is a key.
    let mut want_key = false;
    let mut i = 0;
    while i < end {
        let b = bytes[i];
        match b {
            b'{' | b'[' => {
                if let Some(Frame::Array { started, .. }) = stack.last_mut() {
                    *started = true;
                }
                stack.push(if b == b'{' {
                    Frame::Object { key: None }
                } else {
                    Frame::Array {
                        index: 0,
                        started: false,
                    }
                });
                want_key = b == b'{';
            }
            b'}' | b']' => {
                stack.pop();
                want_key = false;
            }
            b',' => match stack.last_mut() {
                Some(Frame::Object { key }) => {
                    *key = None;
                    want_key = true;
                }
                Some(Frame::Array { index, started }) => {
                    *index += 1;
                    *started = false;
                }
                None => {}
            },
            b':' => want_key = false,
            b'"' => {
                let start = i;
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
                match stack.last_mut() {
                    Some(Frame::Object { key }) if want_key => {
                        let raw = text.get(start..=i.min(bytes.len() - 1)).unwrap_or("");
                        *key = Some(
                            serde_json::from_str::<String>(raw)
                                .unwrap_or_else(|_| raw.trim_matches('"').to_owned()),
                        );
                    }
                    Some(Frame::Array { started, .. }) => *started = true,
                    _ => {}
                }
            }
            b if b.is_ascii_whitespace() => {}
            _ => {
                if let Some(Frame::Array { started, .. }) = stack.last_mut() {
                    *started = true;
                }
            }
        }
        i += 1;
    }
    match stack.last_mut() {
        Some(Frame::Object { key }) if missing_field => *key = None,
        // An error before an element's first byte (a peeked wrong type) is
        // still that element's.
        Some(Frame::Array { started, .. }) if !*started => {
            let next = bytes[end..].iter().find(|b| !b.is_ascii_whitespace());
            *started = next.is_some_and(|&b| b != b']');
        }
        _ => {}
    }
    let mut path = String::new();
    for frame in &stack {
        match frame {
            Frame::Object { key: Some(k) } => {
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(k);
            }
            Frame::Array {
                index,
                started: true,
            } => path.push_str(&format!("[{index}]")),
            _ => {}
        }
    }
    if path.is_empty() {
        path.push('.');
    }
    path
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
