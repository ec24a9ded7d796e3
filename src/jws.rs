//! Compact JWS parsing with the checks jsonwebtoken leaves to its caller.
//!
//! Refused here, before any key is looked at: `alg: none` and unknown
//! algorithms, any `crit` (we implement no extension, so RFC 7515 §4.1.11
//! says reject), `b64` (RFC 7797 unencoded payloads), `cty: JWT` (nested
//! tokens), duplicate JSON keys, deep nesting, non-canonical base64url.
//! `jku`, `jwk`, `x5u` and `x5c` are never read: keys come only from the
//! configured issuer.

use crate::decision::Reason;
use crate::json::{parse_strict, Strict, DEFAULT_MAX_DEPTH};
use crate::keys::parse_alg;
use crate::keys::Algorithm;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Value;
use std::borrow::Cow;
use std::fmt;

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
    let header = decode_header(h)?;
    let claims = decode_json(p, "payload")?;
    let signature = URL_SAFE_NO_PAD
        .decode(s)
        .map_err(|_| malformed("the signature is not base64url"))?;
    Ok(Jws {
        header,
        claims,
        signing_input: &token[..h.len() + 1 + p.len()],
        signature,
    })
}

impl Jws<'_> {
    /// The header as JSON (for explain output), decoded again: a check
    /// reads only the members in [`Header`].
    pub fn header_json(&self) -> Value {
        let h = self.signing_input.split('.').next().unwrap_or_default();
        decode_json(h, "header").unwrap_or(Value::Null)
    }
}

/// Headers up to this many base64url characters decode on the stack.
const HEADER_ON_STACK: usize = 640;

/// The header's members the core reads, straight from its base64url: no
/// JSON tree is built for them (a tree of a three-member header is eight
/// allocations). The JSON rules are `parse_strict`'s: duplicate members,
/// deep nesting and trailing bytes are refused, other members are read
/// strictly and dropped. The checks, their order and their details are
/// those of [`reference_header`] on the tree, which a test holds it to.
fn decode_header(h: &str) -> Result<Header, Failure> {
    let not_b64 = || malformed("the header is not base64url");
    let mut stack = [0u8; HEADER_ON_STACK * 3 / 4 + 3];
    let heap;
    let bytes: &[u8] = if h.len() <= HEADER_ON_STACK {
        let n = URL_SAFE_NO_PAD
            .decode_slice(h, &mut stack)
            .map_err(|_| not_b64())?;
        &stack[..n]
    } else {
        heap = URL_SAFE_NO_PAD.decode(h).map_err(|_| not_b64())?;
        &heap
    };
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let read = HeaderSeed(DEFAULT_MAX_DEPTH)
        .deserialize(&mut de)
        .and_then(|m| de.end().map(|()| m))
        .map_err(|e| malformed(format!("the header is not valid JSON: {e}")))?;
    let Some(m) = read else {
        return Err(malformed("the header is not a JSON object"));
    };
    let not_string = |name: &str| unsupported(format!("header \"{name}\" is not a string"));
    let alg = match &m.alg {
        Some(Member::Str(a)) => a,
        Some(Member::Other) => return Err(malformed("header \"alg\" is not a string")),
        None => return Err(malformed("header has no \"alg\"")),
    };
    let alg = parse_alg(alg).ok_or_else(|| alg_refused(alg))?;
    if m.crit {
        return Err(crit_refused());
    }
    if m.b64 {
        return Err(b64_refused());
    }
    match &m.cty {
        Some(Member::Other) => return Err(not_string("cty")),
        Some(Member::Str(cty)) if nested(cty) => return Err(cty_refused()),
        _ => {}
    }
    let kid = match m.kid {
        Some(Member::Other) => return Err(not_string("kid")),
        Some(Member::Str(k)) if k.is_empty() || k.len() > 256 => return Err(kid_refused()),
        Some(Member::Str(k)) => Some(k.into_owned()),
        None => None,
    };
    let typ = match m.typ {
        Some(Member::Other) => return Err(not_string("typ")),
        Some(Member::Str(t)) => Some(t.into_owned()),
        None => None,
    };
    Ok(Header { alg, kid, typ })
}

fn alg_refused(alg: &str) -> Failure {
    (
        Reason::AlgorithmNotAllowed,
        format!(
            "alg \"{}\" is not supported",
            alg.chars().take(16).collect::<String>()
        ),
    )
}

fn crit_refused() -> Failure {
    unsupported("header \"crit\" names extensions this gate does not implement")
}

fn b64_refused() -> Failure {
    unsupported("unencoded payloads (b64) are not accepted")
}

/// `cty` naming a nested JWT.
fn nested(cty: &str) -> bool {
    cty.eq_ignore_ascii_case("jwt") || cty.eq_ignore_ascii_case("application/jwt")
}

fn cty_refused() -> Failure {
    unsupported("nested tokens (cty: JWT) are not accepted")
}

fn kid_refused() -> Failure {
    unsupported("header \"kid\" is empty or longer than 256 bytes")
}

/// A header member the core reads: its text, or that it is not a string.
enum Member<'de> {
    Str(Cow<'de, str>),
    Other,
}

/// The members read from a header object (`None`: absent).
#[derive(Default)]
struct Members<'de> {
    alg: Option<Member<'de>>,
    kid: Option<Member<'de>>,
    typ: Option<Member<'de>>,
    cty: Option<Member<'de>>,
    crit: bool,
    b64: bool,
    /// The other members' names, for the duplicate check.
    others: Vec<Cow<'de, str>>,
}

/// The whole header: `Some` members of an object, `None` for any other
/// JSON value (read strictly all the same, as `parse_strict` would).
struct HeaderSeed(usize);

impl<'de> DeserializeSeed<'de> for HeaderSeed {
    type Value = Option<Members<'de>>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for HeaderSeed {
    type Value = Option<Members<'de>>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        Strict::at(0, self.0).visit_f64(v).map(|_| None)
    }
    fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        Strict::at(0, self.0).visit_seq(seq).map(|_| None)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        // The members' values sit one level down, as in `parse_strict`.
        let child = Strict::at(1, self.0);
        let mut m = Members::default();
        while let Some(key) = map.next_key_seed(KeySeed)? {
            let dup = || de::Error::custom(format!("duplicate key `{key}`"));
            let slot = match &*key {
                "alg" => &mut m.alg,
                "kid" => &mut m.kid,
                "typ" => &mut m.typ,
                "cty" => &mut m.cty,
                "crit" | "b64" => {
                    let seen = if &*key == "crit" {
                        &mut m.crit
                    } else {
                        &mut m.b64
                    };
                    if std::mem::replace(seen, true) {
                        return Err(dup());
                    }
                    map.next_value_seed(child)?;
                    continue;
                }
                _ => {
                    if m.others.contains(&key) {
                        return Err(dup());
                    }
                    map.next_value_seed(child)?;
                    m.others.push(key);
                    continue;
                }
            };
            if slot.is_some() {
                return Err(dup());
            }
            *slot = Some(map.next_value_seed(MemberSeed(child))?);
        }
        Ok(Some(m))
    }
}

/// A member's name, borrowed from the decoded header when it has no escapes.
struct KeySeed;

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = Cow<'de, str>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeySeed {
    type Value = Cow<'de, str>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a string")
    }
    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v))
    }
}

/// A read member's value: its text when a string, else read strictly.
struct MemberSeed(Strict);

impl<'de> DeserializeSeed<'de> for MemberSeed {
    type Value = Member<'de>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for MemberSeed {
    type Value = Member<'de>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Member::Str(Cow::Borrowed(v)))
    }
    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Member::Str(Cow::Owned(v.to_owned())))
    }
    fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
        Ok(Member::Str(Cow::Owned(v)))
    }
    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok(Member::Other)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
        Ok(Member::Other)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
        Ok(Member::Other)
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        self.0.visit_f64(v).map(|_| Member::Other)
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(Member::Other)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        self.0.visit_seq(seq).map(|_| Member::Other)
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        self.0.visit_map(map).map(|_| Member::Other)
    }
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

    /// The header checks on a JSON tree, as the core made them before
    /// `decode_header`: the reference it is held to.
    fn reference_header(h: &str) -> Result<Header, Failure> {
        let h = decode_json(h, "header")?;
        let opt_string = |name: &str| match h.get(name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(unsupported(format!("header \"{name}\" is not a string"))),
        };
        let alg = match h.get("alg") {
            Some(Value::String(a)) => a,
            Some(_) => return Err(malformed("header \"alg\" is not a string")),
            None => return Err(malformed("header has no \"alg\"")),
        };
        let alg = parse_alg(alg).ok_or_else(|| alg_refused(alg))?;
        if h.get("crit").is_some() {
            return Err(crit_refused());
        }
        if h.get("b64").is_some() {
            return Err(b64_refused());
        }
        if let Some(cty) = opt_string("cty")? {
            if nested(&cty) {
                return Err(cty_refused());
            }
        }
        let kid = opt_string("kid")?;
        if kid.as_ref().is_some_and(|k| k.is_empty() || k.len() > 256) {
            return Err(kid_refused());
        }
        Ok(Header {
            alg,
            kid,
            typ: opt_string("typ")?,
        })
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

    /// `decode_header` against the tree-based reference on generated
    /// headers: the same header or the same refusal, detail included.
    #[test]
    fn header_reader_matches_the_reference() {
        let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = move |n: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % n as u64) as usize
        };
        let names = [
            "alg",
            "kid",
            "typ",
            "cty",
            "crit",
            "b64",
            "jku",
            "x5c",
            "a\\u006cg",
            "k\\u0069d",
            "zip",
        ];
        let values = [
            r#""RS256""#,
            r#""ES256""#,
            r#""none""#,
            r#""HS256""#,
            r#""EdDSA""#,
            r#""k1""#,
            r#""""#,
            r#""at+jwt""#,
            r#""JWT""#,
            r#""application/jwt""#,
            r#""\u0052S256""#,
            r#""a\"b""#,
            "1",
            "-2.5",
            "1e400",
            "true",
            "null",
            "[]",
            r#"["exp"]"#,
            r#"{"a":1}"#,
            r#"{"a":1,"a":2}"#,
            "[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]",
            "[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]",
        ];
        let long_kid = format!(r#""{}""#, "k".repeat(257));
        let mut differ = Vec::new();
        for i in 0..40_000 {
            let text = match next(12) {
                0 => [
                    "[1]",
                    "\"x\"",
                    "1",
                    "null",
                    "",
                    "{",
                    "{}",
                    "{} x",
                    "{\"alg\":}",
                ][next(9)]
                .to_string(),
                _ => {
                    let members: Vec<String> = (0..next(6))
                        .map(|_| {
                            let v = if next(40) == 0 {
                                long_kid.as_str()
                            } else {
                                values[next(values.len())]
                            };
                            format!(r#""{}":{}"#, names[next(names.len())], v)
                        })
                        .collect();
                    let mut t = format!("{{{}}}", members.join(","));
                    if next(30) == 0 {
                        t.push_str(" ]");
                    }
                    t
                }
            };
            let h = b64(&text);
            let (got, want) = (decode_header(&h), reference_header(&h));
            if got != want {
                differ.push(format!("{i}: {text}: {got:?} != {want:?}"));
            }
        }
        assert!(
            differ.is_empty(),
            "{}",
            differ[..differ.len().min(5)].join("\n")
        );
        // Long headers decode on the heap, the same way.
        let big = format!(r#"{{"alg":"RS256","x":"{}"}}"#, "y".repeat(2000));
        assert_eq!(decode_header(&b64(&big)), reference_header(&b64(&big)));
        assert!(decode_header(&b64(&big)).is_ok());
        // Not base64url, on the stack and on the heap.
        for bad in ["!!", &"!".repeat(2000)] {
            assert_eq!(decode_header(bad), reference_header(bad));
        }
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
