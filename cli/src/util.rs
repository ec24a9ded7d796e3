//! Small helpers: time, durations, base64url, randomness, files.

use crate::{CliError, CliResult};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ring::rand::SecureRandom;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

/// The system clock, in Unix seconds.
pub fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// Parses `90`, `90s`, `15m`, `1h`, `2d`, `1h30m` into seconds.
pub fn parse_duration(text: &str) -> Result<u64, String> {
    let s = text.trim();
    let bad = || format!("\"{text}\" is not a duration (use 90, 90s, 15m, 1h or 2d)");
    if s.is_empty() {
        return Err(bad());
    }
    if s.bytes().all(|b| b.is_ascii_digit()) {
        return s.parse().map_err(|_| bad());
    }
    let mut total: u64 = 0;
    let mut digits = String::new();
    for c in s.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let unit = match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            _ => return Err(bad()),
        };
        let n: u64 = digits.parse().map_err(|_| bad())?;
        total = n
            .checked_mul(unit)
            .and_then(|v| total.checked_add(v))
            .ok_or_else(bad)?;
        digits.clear();
    }
    if !digits.is_empty() {
        return Err(bad());
    }
    Ok(total)
}

/// `2023-11-14T22:13:20Z` for Unix seconds.
pub fn iso_time(t: i64) -> String {
    let days = t.div_euclid(86_400);
    let secs = t.rem_euclid(86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// `3m 20s`, `2h 5m`, `4d 1h` for a number of seconds.
pub fn span(secs: i64) -> String {
    let s = secs.unsigned_abs();
    if s < 60 {
        format!("{s}s")
    } else if s < 3600 {
        format!("{}m {}s", s / 60, s % 60)
    } else if s < 86_400 {
        format!("{}h {}m", s / 3600, s / 60 % 60)
    } else {
        format!("{}d {}h", s / 86_400, s / 3600 % 24)
    }
}

/// `in 5m 0s` / `5m 0s ago` relative to `now`.
pub fn relative(t: i64, now: i64) -> String {
    match t.cmp(&now) {
        std::cmp::Ordering::Greater => format!("in {}", span(t.saturating_sub(now))),
        std::cmp::Ordering::Less => format!("{} ago", span(now.saturating_sub(t))),
        std::cmp::Ordering::Equal => "now".into(),
    }
}

/// base64url without padding.
pub fn b64url(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Decodes base64url (padding tolerated).
pub fn b64url_decode(text: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(text.trim_end_matches('=')).ok()
}

/// `n` random bytes from the operating system.
pub fn random_bytes(n: usize) -> CliResult<Vec<u8>> {
    let mut out = vec![0u8; n];
    ring::rand::SystemRandom::new()
        .fill(&mut out)
        .map_err(|_| CliError::from("the system random number generator failed"))?;
    Ok(out)
}

/// A random id: 16 bytes, base64url.
pub fn random_id() -> CliResult<String> {
    Ok(b64url(&random_bytes(16)?))
}

/// Reads a file, naming it (and `flag`, when given) in the error.
pub fn read_file(flag: &str, path: &Path) -> CliResult<Vec<u8>> {
    let result = if path.as_os_str() == "-" {
        let mut buf = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin(), &mut buf).map(|_| buf)
    } else {
        std::fs::read(path)
    };
    result.map_err(|e| {
        let what = if flag.is_empty() {
            path.display().to_string()
        } else {
            format!("{flag} {}", path.display())
        };
        CliError::at(what, io_reason(&e))
    })
}

/// An I/O error without the "(os error N)" noise.
pub fn io_reason(e: &std::io::Error) -> String {
    let s = e.to_string();
    match s.find(" (os error") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

/// Decodes `application/x-www-form-urlencoded` (also query strings).
pub fn form_decode(text: &str) -> Vec<(String, String)> {
    text.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

fn percent_decode(s: &str) -> String {
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'+' {
            out.push(b' ');
        } else if b == b'%' && i + 2 < bytes.len() {
            match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 2;
                }
                _ => out.push(b),
            }
        } else {
            out.push(b);
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90"), Ok(90));
        assert_eq!(parse_duration("90s"), Ok(90));
        assert_eq!(parse_duration("15m"), Ok(900));
        assert_eq!(parse_duration("1h30m"), Ok(5400));
        assert_eq!(parse_duration("2d"), Ok(172_800));
        assert!(parse_duration("").is_err());
        assert!(parse_duration("1x").is_err());
        assert!(parse_duration("h").is_err());
        assert!(parse_duration("5m3").is_err());
        assert!(parse_duration("99999999999999999999d").is_err());
    }

    #[test]
    fn times() {
        assert_eq!(iso_time(0), "1970-01-01T00:00:00Z");
        assert_eq!(iso_time(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(iso_time(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(relative(100, 40), "in 1m 0s");
        assert_eq!(relative(40, 100), "1m 0s ago");
        assert!(relative(i64::MAX, i64::MIN).starts_with("in "));
        assert!(iso_time(i64::MAX).ends_with('Z'));
        assert!(iso_time(i64::MIN).ends_with('Z'));
    }

    #[test]
    fn forms() {
        let f = form_decode("grant_type=client_credentials&scope=read+write&aud=a%2Fb&x");
        assert_eq!(f[1], ("scope".into(), "read write".into()));
        assert_eq!(f[2], ("aud".into(), "a/b".into()));
        assert_eq!(f[3], ("x".into(), "".into()));
        assert_eq!(form_decode("a=%zz%4")[0].1, "%zz%4");
    }
}
