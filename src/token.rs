//! Finding the access token in a request (RFC 6750 §2).
//!
//! `Authorization: Bearer` first, then the configured cookie, header and
//! query parameter. More than one token is an error (RFC 6750 §2: clients
//! MUST NOT use more than one method), and the size cap is checked before
//! anything is decoded.

use crate::config::TokenConfig;
use crate::decision::Reason;
use std::borrow::Cow;

/// The parts of an HTTP request the core reads. Header names are matched
/// case-insensitively; repeat a name for repeated headers.
#[derive(Clone, Copy, Debug)]
pub struct Request<'a> {
    /// Method (`GET`).
    pub method: &'a str,
    /// Path with optional query (`/items/1?x=y`), as received.
    pub path: &'a str,
    /// Headers in order.
    pub headers: &'a [(&'a str, &'a str)],
}

impl<'a> Request<'a> {
    /// Every value of header `name`.
    pub fn header_values<'s>(&'s self, name: &'s str) -> impl Iterator<Item = &'a str> + 's {
        self.headers
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| *v)
    }

    /// The first value of header `name`.
    pub fn header(&self, name: &str) -> Option<&'a str> {
        self.header_values(name).next()
    }

    /// The path without the query.
    pub fn path_only(&self) -> &'a str {
        self.path.split_once('?').map_or(self.path, |(p, _)| p)
    }

    /// The query string, if any.
    pub fn query(&self) -> Option<&'a str> {
        self.path.split_once('?').map(|(_, q)| q)
    }
}

/// Where a token was found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// `Authorization: Bearer`.
    Authorization,
    /// The configured cookie.
    Cookie,
    /// The configured header.
    Header,
    /// The configured query parameter.
    Query,
}

/// A token found in a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Presented<'a> {
    /// The token text.
    pub token: Cow<'a, str>,
    /// Where it was.
    pub source: Source,
}

/// A failed extraction.
pub type ExtractError = (Reason, &'static str);

/// Finds the one token in `req`, or none.
pub fn extract<'a>(
    req: &Request<'a>,
    cfg: &TokenConfig,
) -> Result<Option<Presented<'a>>, ExtractError> {
    let mut found: Option<Presented<'a>> = None;
    let max_size = cfg.max_size;
    let mut add = |token: Cow<'a, str>, source: Source| -> Result<(), ExtractError> {
        if found.is_some() {
            return Err((
                Reason::MultipleTokens,
                "more than one access token in the request",
            ));
        }
        if token.len() > max_size {
            return Err((
                Reason::TokenTooLarge,
                "the token is larger than the configured maximum",
            ));
        }
        if token.is_empty() || !token.bytes().all(is_b64token_byte) {
            return Err((
                Reason::TokenMalformed,
                "the token has characters a bearer token cannot have",
            ));
        }
        found = Some(Presented { token, source });
        Ok(())
    };
    // Proxies (Envoy, the Fetch API) join repeated headers with ","; a
    // credential never holds a comma, so each part is one credential and
    // two tokens stay two.
    for value in req
        .header_values("authorization")
        .flat_map(|v| v.split(','))
    {
        let value = value.trim_matches([' ', '\t']);
        if value.is_empty() {
            continue;
        }
        let (scheme, rest) = value.split_once([' ', '\t']).unwrap_or((value, ""));
        if scheme.eq_ignore_ascii_case("bearer") {
            add(
                Cow::Borrowed(rest.trim_start_matches([' ', '\t'])),
                Source::Authorization,
            )?;
        }
    }
    if let Some(name) = &cfg.cookie {
        for header in req.header_values("cookie") {
            for pair in header.split(';') {
                if let Some((k, v)) = pair.trim().split_once('=') {
                    if k == name {
                        add(Cow::Borrowed(v.trim_matches('"')), Source::Cookie)?;
                    }
                }
            }
        }
    }
    if let Some(name) = &cfg.header {
        for v in req.header_values(name) {
            add(Cow::Borrowed(v.trim()), Source::Header)?;
        }
    }
    if let (Some(name), Some(query)) = (&cfg.query, req.query()) {
        for pair in query.split('&') {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            if k == name {
                if v.len() > cfg.max_size * 3 {
                    return Err((
                        Reason::TokenTooLarge,
                        "the token is larger than the configured maximum",
                    ));
                }
                let decoded = percent_decode(v, true)
                    .ok_or((Reason::TokenMalformed, "bad percent escape in the token"))?;
                add(Cow::Owned(decoded), Source::Query)?;
            }
        }
    }
    Ok(found)
}

/// RFC 6750 b64token: `ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/"`,
/// then `=` padding.
fn is_b64token_byte(b: u8) -> bool {
    B64TOKEN[b as usize]
}

/// [`is_b64token_byte`] as a table: one load per byte of a ~1 KB token.
static B64TOKEN: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        t[b] = c.is_ascii_alphanumeric()
            || matches!(c, b'-' | b'.' | b'_' | b'~' | b'+' | b'/' | b'=');
        b += 1;
    }
    t
};

/// Decodes `%XX` escapes (and, for query strings, `+` as space) into UTF-8.
/// `None` for a truncated or non-hex escape or bytes that are not UTF-8.
pub(crate) fn percent_decode(s: &str, plus_is_space: bool) -> Option<String> {
    if !(s.contains('%') || (plus_is_space && s.contains('+'))) {
        return Some(s.to_owned());
    }
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                let (hi, lo) = (hex(*b.get(i + 1)?)?, hex(*b.get(i + 2)?)?);
                out.push(hi << 4 | lo);
                i += 3;
            }
            b'+' if plus_is_space => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> TokenConfig {
        TokenConfig {
            max_size: 64,
            cookie: Some("at".into()),
            header: Some("x-token".into()),
            query: Some("access_token".into()),
        }
    }

    fn run(path: &str, headers: &[(&str, &str)]) -> Result<Option<(String, Source)>, Reason> {
        let req = Request {
            method: "GET",
            path,
            headers,
        };
        extract(&req, &cfg())
            .map(|o| o.map(|p| (p.token.into_owned(), p.source)))
            .map_err(|e| e.0)
    }

    #[test]
    fn b64token_bytes_are_rfc_6750s() {
        let allowed: Vec<u8> = (0..=255u8).filter(|b| is_b64token_byte(*b)).collect();
        let mut want: Vec<u8> = (b'0'..=b'9')
            .chain(b'A'..=b'Z')
            .chain(b'a'..=b'z')
            .chain(*b"-._~+/=")
            .collect();
        want.sort_unstable();
        assert_eq!(allowed, want);
    }

    #[test]
    fn bearer_scheme_is_case_insensitive() {
        for h in ["Bearer abc", "bearer abc", "BEARER  abc", "Bearer\tabc"] {
            assert_eq!(
                run("/", &[("Authorization", h)]),
                Ok(Some(("abc".into(), Source::Authorization))),
                "{h}"
            );
        }
    }

    #[test]
    fn other_schemes_are_not_tokens() {
        assert_eq!(
            run("/", &[("authorization", "Basic dXNlcjpwYXNz")]),
            Ok(None)
        );
        assert_eq!(run("/", &[]), Ok(None));
    }

    #[test]
    fn empty_or_odd_bearer_is_malformed() {
        assert_eq!(
            run("/", &[("authorization", "Bearer")]),
            Err(Reason::TokenMalformed)
        );
        assert_eq!(
            run("/", &[("authorization", "Bearer a b")]),
            Err(Reason::TokenMalformed)
        );
    }

    #[test]
    fn authorization_headers_joined_by_a_proxy_stay_separate() {
        // Envoy and the Fetch API join repeated headers with ",".
        assert_eq!(
            run("/", &[("authorization", "Bearer a,Bearer b")]),
            Err(Reason::MultipleTokens)
        );
        assert_eq!(
            run("/", &[("authorization", "Basic dXNlcjpwYXNz, Bearer b")]),
            Ok(Some(("b".into(), Source::Authorization)))
        );
    }

    #[test]
    fn two_tokens_are_refused() {
        let two = [("authorization", "Bearer a"), ("Authorization", "Bearer b")];
        assert_eq!(run("/", &two), Err(Reason::MultipleTokens));
        assert_eq!(
            run("/?access_token=b", &[("authorization", "Bearer a")]),
            Err(Reason::MultipleTokens)
        );
        assert_eq!(
            run("/", &[("cookie", "at=a; at=b")]),
            Err(Reason::MultipleTokens)
        );
        assert_eq!(
            run("/", &[("x-token", "a"), ("cookie", "at=b")]),
            Err(Reason::MultipleTokens)
        );
    }

    #[test]
    fn other_sources() {
        assert_eq!(
            run("/", &[("cookie", "x=1; at=tok; y=2")]),
            Ok(Some(("tok".into(), Source::Cookie)))
        );
        assert_eq!(
            run("/", &[("X-Token", "tok")]),
            Ok(Some(("tok".into(), Source::Header)))
        );
        assert_eq!(
            run("/p?a=1&access_token=t%2Bk", &[]),
            Ok(Some(("t+k".into(), Source::Query)))
        );
        assert_eq!(run("/p?access_token=a+b", &[]), Err(Reason::TokenMalformed));
        // A sign is not a hex digit, whatever from_str_radix would say.
        assert_eq!(
            run("/p?access_token=a%+5", &[]),
            Err(Reason::TokenMalformed)
        );
    }

    #[test]
    fn size_cap_before_decoding() {
        let big = format!("Bearer {}", "a".repeat(65));
        assert_eq!(
            run("/", &[("authorization", &big)]),
            Err(Reason::TokenTooLarge)
        );
        let exact = format!("Bearer {}", "a".repeat(64));
        assert!(run("/", &[("authorization", &exact)]).is_ok());
        let q = format!("/?access_token={}", "%41".repeat(300));
        assert_eq!(run(&q, &[]), Err(Reason::TokenTooLarge));
    }
}
