//! `edgeward check`: run one token through the gate and explain the result.

use crate::http;
use crate::util::{b64url_decode, io_reason, iso_time, read_file, relative, unix_now};
use crate::{outln, CheckArgs, CliError, CliResult};
use edgeward::config::{Access, Mode};
use edgeward::keys::{alg_name, parse_alg};
use edgeward::{Config, Decision, FetchKind, Gate, KeyFetch, Outcome, Request, Step};
use serde_json::{json, Value};
use std::io::IsTerminal;
use std::path::PathBuf;

pub const EXAMPLES: &str = "\
Examples:
  # Keys by OIDC discovery from the issuer
  edgeward check --issuer https://idp.example.com/ --audience api \"$TOKEN\"

  # Keys from a local file (e.g. from `edgeward keygen`), token from stdin
  echo \"$TOKEN\" | edgeward check --issuer https://dev.local --audience api --jwks keys/jwks.json -

  # A configuration file and a route
  edgeward check --config edgeward.toml --method DELETE --path /orders/42 \"$TOKEN\"

  # As of another time, as JSON
  edgeward check --config edgeward.toml --now 1700000000 --json \"$TOKEN\" | jq .reason

Without --path only the token is checked (any valid token passes); with it the
configuration's routes decide. Exit status: 0 allowed, 1 denied, 2 usage,
configuration or I/O error. The signature and key material are never printed.";

enum KeySource {
    /// The gate's own fetches: OIDC discovery, then the key set.
    Discovery,
    /// A local JWKS file, read once.
    File(PathBuf, Vec<u8>),
    /// A key set URL.
    Url(String),
}

/// One fetch made to answer the gate.
struct Fetched {
    kind: &'static str,
    source: String,
    status: Option<u16>,
    result: String,
}

/// `edgeward check`.
pub fn run(a: CheckArgs) -> CliResult<u8> {
    let now = a.now.unwrap_or_else(unix_now);
    let token = read_token(a.token.as_deref())?;
    let (mut config, origin) = load_config(&a)?;
    let report_only = config.mode == Mode::ReportOnly;
    config.mode = Mode::Enforce;
    if a.path.is_none() {
        // The token alone: any valid token passes.
        config.routes.clear();
        config.policy.default = Access::Authenticated;
    }
    let mut gate = Gate::new(config).map_err(|e| CliError::at(&origin, e))?;
    let source = match a.jwks.as_deref() {
        None => KeySource::Discovery,
        Some(u) if u.starts_with("https://") || u.starts_with("http://") => {
            KeySource::Url(u.to_owned())
        }
        Some(p) => {
            let path = PathBuf::from(p);
            let body = read_file("--jwks", &path)?;
            // Read it now, so a bad file is reported whatever the token.
            let set = edgeward::keys::parse_jwks(&body)
                .map_err(|e| CliError::at(format!("--jwks {p}"), e))?;
            if set.keys.is_empty() {
                let why: Vec<String> = set
                    .skipped
                    .iter()
                    .map(|k| format!("keys[{}]: {}", k.index, k.reason))
                    .collect();
                return Err(CliError::at(
                    format!("--jwks {p}"),
                    format!("key set has no usable key ({})", why.join("; ")),
                ));
            }
            KeySource::File(path, body)
        }
    };
    let method = a.method.to_ascii_uppercase();
    if method.is_empty() || !method.bytes().all(|b| b.is_ascii_alphabetic()) {
        return Err(CliError::at("--method", "must be an HTTP method like GET"));
    }
    let path = a.path.clone().unwrap_or_else(|| "/".into());
    if !path.starts_with('/') {
        return Err(CliError::at("--path", "must start with /"));
    }
    let auth = format!("Bearer {token}");
    let headers = [("authorization", auth.as_str())];
    let req = Request {
        method: &method,
        path: &path,
        headers: &headers,
    };

    let mut fetched = Vec::new();
    let mut rounds = 0;
    let (decision, steps) = loop {
        let (outcome, steps) = gate.explain(&req, now);
        match outcome {
            Outcome::Decided(d) => break (d, steps),
            Outcome::NeedKeys(fetch) => {
                rounds += 1;
                if rounds > 4 {
                    return Err(CliError(format!(
                        "keys for {} never settled after {rounds} fetches",
                        fetch.issuer
                    )));
                }
                fetched.push(answer(&mut gate, &fetch, &source, now)?);
            }
        }
    };

    let header = decode_part(&token, 0);
    let claims = decode_part(&token, 1);
    let report = Report {
        gate: &gate,
        decision: &decision,
        steps: &steps,
        header: header.as_ref(),
        claims: claims.as_ref(),
        fetched: &fetched,
        now,
        explicit_now: a.now.is_some(),
        method: &method,
        path: a.path.as_deref(),
        report_only,
    };
    if a.json {
        outln!(
            "{}",
            serde_json::to_string_pretty(&report.json()).unwrap_or_default()
        );
    } else {
        report.print();
    }
    Ok(if decision.is_allowed() { 0 } else { 1 })
}

fn read_token(arg: Option<&str>) -> CliResult<String> {
    let raw = match arg {
        Some("-") | None => {
            if arg.is_none() && std::io::stdin().is_terminal() {
                return Err(CliError::from(
                    "no token: pass it as an argument, or `-` to read it from stdin",
                ));
            }
            let mut s = String::new();
            std::io::Read::read_to_string(&mut std::io::stdin(), &mut s)
                .map_err(|e| CliError::at("stdin", io_reason(&e)))?;
            s
        }
        Some(t) => t.to_owned(),
    };
    let mut t = raw.trim();
    if let Some(rest) = t
        .get(..7)
        .filter(|p| p.eq_ignore_ascii_case("bearer "))
        .and_then(|_| t.get(7..))
    {
        t = rest.trim_start();
    }
    if t.is_empty() {
        return Err(CliError::from(if arg.is_some_and(|a| a != "-") {
            "the token is empty"
        } else {
            "no token on stdin"
        }));
    }
    Ok(t.to_owned())
}

/// The configuration, and how to name it in errors.
fn load_config(a: &CheckArgs) -> CliResult<(Config, String)> {
    if let Some(path) = &a.config {
        let origin = format!("--config {}", path.display());
        let bytes = read_file("--config", path)?;
        let text = String::from_utf8(bytes).map_err(|_| CliError::at(&origin, "not UTF-8 text"))?;
        let config = Config::parse(&text).map_err(|e| CliError::at(&origin, e))?;
        return Ok((config, origin));
    }
    if a.issuer.is_empty() {
        return Err(CliError::from(
            "check needs --config FILE, or --issuer URL and --audience AUD",
        ));
    }
    let mut issuers = Vec::new();
    for iss in &a.issuer {
        let mut i = json!({ "issuer": iss, "audiences": a.audience });
        if !a.alg.is_empty() {
            i["algorithms"] = json!(a.alg);
        }
        if let Some(l) = a.leeway {
            i["leeway"] = json!(l);
        }
        issuers.push(i);
    }
    let doc = json!({ "issuers": issuers });
    let config = Config::from_json(&doc.to_string()).map_err(|errs| {
        // Name the flag, not the field it became.
        let first = &errs.0[0];
        let flag = flag_for(&first.field, a);
        CliError::at(flag, &first.message)
    })?;
    Ok((config, "flags".into()))
}

fn flag_for(field: &str, a: &CheckArgs) -> String {
    let index = |prefix: &str| -> Option<usize> {
        let rest = field.strip_prefix(prefix)?;
        rest.split(']').next()?.parse().ok()
    };
    if field.ends_with(".issuer") {
        if let Some(i) = index("issuers[") {
            return format!("--issuer {}", a.issuer.get(i).map_or("", String::as_str));
        }
    }
    if field.ends_with(".audiences") || field.contains(".audiences[") {
        return "--audience".into();
    }
    if let Some(rest) = field.split(".algorithms[").nth(1) {
        if let Some(j) = rest.split(']').next().and_then(|j| j.parse::<usize>().ok()) {
            return format!("--alg {}", a.alg.get(j).map_or("", String::as_str));
        }
    }
    for (suffix, flag) in [
        (".algorithms", "--alg"),
        (".leeway", "--leeway"),
        (".hmac_secret", "--alg"),
    ] {
        if field.ends_with(suffix) {
            return flag.into();
        }
    }
    field.to_owned()
}

/// Performs (or answers locally) one key fetch and feeds it to the gate.
fn answer(gate: &mut Gate, fetch: &KeyFetch, source: &KeySource, now: i64) -> CliResult<Fetched> {
    let limit = gate.config().keys.max_response_bytes;
    let timeout = gate.config().keys.fetch_timeout;
    let (fetch, status, headers, body, label) = match source {
        KeySource::File(path, body) => {
            let synthetic = KeyFetch {
                kind: FetchKind::Jwks,
                url: format!("--jwks {}", path.display()),
                ..fetch.clone()
            };
            (
                synthetic,
                200,
                Vec::new(),
                body.clone(),
                path.display().to_string(),
            )
        }
        KeySource::Url(url) => {
            let resp = http::get(url, limit, timeout)
                .map_err(|e| CliError::at(format!("--jwks {url}"), e))?;
            let synthetic = KeyFetch {
                kind: FetchKind::Jwks,
                url: url.clone(),
                ..fetch.clone()
            };
            (synthetic, resp.status, resp.headers, resp.body, url.clone())
        }
        KeySource::Discovery => match http::get(&fetch.url, limit, timeout) {
            Ok(resp) => (
                fetch.clone(),
                resp.status,
                resp.headers,
                resp.body,
                fetch.url.clone(),
            ),
            Err(e) => {
                gate.fetch_failed(fetch, &e, now);
                return Err(CliError(format!(
                    "keys for {}: fetching {} failed: {e}",
                    fetch.issuer, fetch.url
                )));
            }
        },
    };
    let h: Vec<(&str, &str)> = headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let report = gate.ingest(&fetch, status, &h, &body, now).map_err(|e| {
        if matches!(source, KeySource::Discovery) {
            CliError(format!("keys for {}: {e}", fetch.issuer))
        } else if matches!(source, KeySource::Url(_)) {
            CliError(format!("--jwks {e}"))
        } else {
            CliError(e)
        }
    })?;
    let kind = match report.kind {
        FetchKind::Discovery => "discovery",
        FetchKind::Jwks => "jwks",
    };
    let result = match report.kind {
        FetchKind::Discovery => format!(
            "jwks_uri {}",
            gate.keys().jwks_uri(&fetch.issuer).unwrap_or("?")
        ),
        FetchKind::Jwks => {
            let mut s = format!(
                "{} usable key{}, fresh for {}s",
                report.keys,
                if report.keys == 1 { "" } else { "s" },
                report.ttl
            );
            for k in &report.skipped {
                s.push_str(&format!(
                    "; skipped keys[{}]{}: {}",
                    k.index,
                    k.kid
                        .as_deref()
                        .map(|kid| format!(" (kid {kid:?})"))
                        .unwrap_or_default(),
                    k.reason
                ));
            }
            s
        }
    };
    Ok(Fetched {
        kind,
        source: label,
        status: (!matches!(source, KeySource::File(..))).then_some(status),
        result,
    })
}

/// Decodes one part of a compact JWS for display (no verification).
fn decode_part(token: &str, i: usize) -> Option<Value> {
    let parts: Vec<&str> = token.split('.').collect();
    if parts.len() != 3 {
        return None;
    }
    let bytes = b64url_decode(parts[i])?;
    match serde_json::from_slice(&bytes) {
        Ok(v @ Value::Object(_)) => Some(v),
        _ => None,
    }
}

struct Report<'a> {
    gate: &'a Gate,
    decision: &'a Decision,
    steps: &'a [Step],
    header: Option<&'a Value>,
    claims: Option<&'a Value>,
    fetched: &'a [Fetched],
    now: i64,
    explicit_now: bool,
    method: &'a str,
    path: Option<&'a str>,
    report_only: bool,
}

/// One key of the token's issuer, as judged against the token header.
struct KeyView {
    kid: Option<String>,
    kty: &'static str,
    alg: Option<&'static str>,
    matches_kid: bool,
    fit: Result<(), String>,
}

impl Report<'_> {
    fn issuer(&self) -> Option<&str> {
        let iss = self.claims?.get("iss")?.as_str()?;
        self.gate.keys().issuers().find(|i| *i == iss)
    }

    fn token_kid(&self) -> Option<&str> {
        self.header?.get("kid")?.as_str()
    }

    fn token_alg(&self) -> Option<&str> {
        self.header?.get("alg")?.as_str()
    }

    fn issuer_config(&self) -> Option<&edgeward::config::IssuerConfig> {
        let iss = self.claims?.get("iss")?.as_str()?;
        self.gate.config().issuers.iter().find(|i| i.issuer == iss)
    }

    fn key_views(&self) -> Vec<KeyView> {
        let Some(iss) = self.issuer() else {
            return Vec::new();
        };
        let kid = self.token_kid();
        let alg = self.token_alg().and_then(parse_alg);
        self.gate
            .keys()
            .keys(iss)
            .iter()
            .map(|k| KeyView {
                kid: k.kid.clone(),
                kty: k.kty(),
                alg: k.alg.map(alg_name),
                matches_kid: kid.is_none() || k.kid.as_deref() == kid,
                fit: match alg {
                    Some(a) => k.usable_for(a).map_err(|m| m.to_string()),
                    None => Err("the token's alg is not supported".into()),
                },
            })
            .collect()
    }

    fn deny(&self) -> Option<&edgeward::Deny> {
        match self.decision {
            Decision::Deny(d) => Some(d),
            Decision::Allow(_) | Decision::Answer(_) => None,
        }
    }

    fn time_claim(&self, name: &str) -> Option<i64> {
        self.claims?.get(name)?.as_i64()
    }

    fn hints(&self) -> Vec<String> {
        let Some(d) = self.deny() else {
            return Vec::new();
        };
        let cfg = self.issuer_config();
        let now_text = format!(
            "{} ({})",
            iso_time(self.now),
            if self.explicit_now {
                "--now"
            } else {
                "system clock"
            }
        );
        let mut h = Vec::new();
        match d.reason.code() {
            "token_expired" => {
                if let Some(exp) = self.time_claim("exp") {
                    h.push(format!(
                        "exp is {} ({}); now is {now_text}; leeway {}s",
                        iso_time(exp),
                        relative(exp, self.now),
                        cfg.map_or(0, |c| c.leeway)
                    ));
                }
                h.push("mint a new token, or pass --now to check it as of an earlier time".into());
            }
            "token_not_yet_valid" => {
                for name in ["nbf", "iat"] {
                    if let Some(t) = self.time_claim(name) {
                        h.push(format!("{name} is {} ({})", iso_time(t), relative(t, self.now)));
                    }
                }
                h.push(format!("now is {now_text}: is the issuer's or this machine's clock off?"));
            }
            "audience_invalid" => {
                let aud = self.claims.and_then(|c| c.get("aud")).cloned();
                h.push(format!(
                    "the token's aud is {}; accepted audiences are {:?}",
                    aud.map_or("missing".into(), |a| a.to_string()),
                    cfg.map(|c| c.audiences.clone()).unwrap_or_default()
                ));
            }
            "issuer_unknown" => {
                let iss = self.claims.and_then(|c| c.get("iss")).cloned();
                let trusted: Vec<&str> = self.gate.keys().issuers().collect();
                h.push(format!(
                    "the token's iss is {}; trusted issuers are {trusted:?} (compared exactly, trailing slash included)",
                    iss.map_or("missing".into(), |a| a.to_string()),
                ));
            }
            "alg_not_allowed" => {
                if let Some(c) = cfg {
                    h.push(format!(
                        "the token's alg is {:?}; this issuer accepts {:?}",
                        self.token_alg().unwrap_or("?"),
                        c.algorithms
                    ));
                }
            }
            "key_not_found" => {
                let kids: Vec<String> = self
                    .key_views()
                    .iter()
                    .map(|k| k.kid.clone().unwrap_or_else(|| "(no kid)".into()))
                    .collect();
                h.push(format!(
                    "the token's kid is {:?}; the key set has {kids:?}: was the token signed by another key, or the key rotated out?",
                    self.token_kid().unwrap_or("(none)")
                ));
            }
            "signature_invalid" => h.push(
                "a key fits the header but the signature does not verify: the token was altered, or signed by a different key under the same kid".into(),
            ),
            "typ_invalid" => {
                let typ = self.header.and_then(|h| h.get("typ")).cloned();
                h.push(format!(
                    "the token's typ is {}; required {:?}",
                    typ.map_or("missing".into(), |t| t.to_string()),
                    cfg.and_then(|c| c.typ.clone()).unwrap_or_default()
                ));
            }
            "token_malformed" if self.header.is_none() => h.push(
                "this does not decode as a JWT (header.payload.signature, base64url JSON): an opaque token needs introspection at the issuer".into(),
            ),
            "route_denied" => h.push(
                "the route (or policy.default for unmatched routes) is \"deny\"; add a route for this method and path".into(),
            ),
            _ => {}
        }
        h
    }

    fn json(&self) -> Value {
        let (reason, detail, www) = match self.deny() {
            Some(d) => (
                json!(d.reason.code()),
                json!(d.detail),
                json!(d.www_authenticate),
            ),
            None => (Value::Null, Value::Null, Value::Null),
        };
        let identity = match self.decision {
            Decision::Allow(a) => {
                let i = &a.identity;
                json!({
                    "kind": i.kind,
                    "subject": i.subject,
                    "issuer": i.issuer,
                    "tenant": i.tenant,
                    "scopes": i.scopes,
                    "roles": i.roles,
                    "permissions": i.permissions,
                    "expires_at": i.expires_at,
                })
            }
            Decision::Deny(_) | Decision::Answer(_) => Value::Null,
        };
        let keys: Vec<Value> = self
            .key_views()
            .iter()
            .map(|k| {
                json!({
                    "kid": k.kid,
                    "kty": k.kty,
                    "alg": k.alg,
                    "matches_kid": k.matches_kid,
                    "fits_alg": k.fit.is_ok(),
                    "candidate": k.matches_kid && k.fit.is_ok(),
                    "problem": k.fit.as_ref().err(),
                })
            })
            .collect();
        let fetches: Vec<Value> = self
            .fetched
            .iter()
            .map(|f| json!({"kind": f.kind, "source": f.source, "status": f.status, "result": f.result}))
            .collect();
        json!({
            "allowed": self.decision.is_allowed(),
            "status": self.decision.status(),
            "reason": reason,
            "detail": detail,
            "www_authenticate": www,
            "request": { "method": self.method, "path": self.path },
            "now": self.now,
            "header": self.header,
            "claims": self.claims,
            "identity": identity,
            "fetches": fetches,
            "keys": keys,
            "steps": self.steps,
            "hints": self.hints(),
            "config_report_only": self.report_only,
        })
    }

    fn print(&self) {
        outln!("Token (decoded for display; nothing below is trusted until verified)");
        match self.header {
            Some(h) => print_json("header", h),
            None => outln!("  header: does not decode"),
        }
        match self.claims {
            Some(c) => {
                print_json("claims", c);
                let times: Vec<String> = ["iat", "nbf", "exp"]
                    .iter()
                    .filter_map(|n| {
                        let t = self.time_claim(n)?;
                        Some(format!("{n} {} ({})", iso_time(t), relative(t, self.now)))
                    })
                    .collect();
                if !times.is_empty() {
                    outln!("  times: {}", times.join(", "));
                }
                outln!(
                    "  now:   {} ({})",
                    iso_time(self.now),
                    if self.explicit_now {
                        "from --now"
                    } else {
                        "system clock"
                    }
                );
            }
            None => outln!("  claims: do not decode"),
        }

        let views = self.key_views();
        if !self.fetched.is_empty() || !views.is_empty() {
            outln!();
            outln!("Keys");
            for f in self.fetched {
                let status = f.status.map(|s| format!(" [{s}]")).unwrap_or_default();
                let kind = if f.kind == "jwks" { "key set" } else { f.kind };
                outln!("  {kind} {}{status}: {}", f.source, f.result);
            }
            if let Some(iss) = self.issuer() {
                if !views.is_empty() {
                    outln!(
                        "  key set of {iss} (token kid {}, alg {}):",
                        self.token_kid()
                            .map_or("(none)".into(), |k| format!("{k:?}")),
                        self.token_alg().unwrap_or("?")
                    );
                }
            }
            for k in &views {
                let kid = k
                    .kid
                    .as_deref()
                    .map_or("(no kid)".into(), |k| format!("{k:?}"));
                let why = match (&k.fit, k.matches_kid) {
                    (_, false) => "kid differs".to_string(),
                    (Ok(()), true) => "candidate: kid matches and it fits the alg".into(),
                    (Err(e), true) => format!("kid matches, but {e}"),
                };
                outln!(
                    "    {} kid {kid} {} alg {}: {why}",
                    if k.matches_kid && k.fit.is_ok() {
                        "*"
                    } else {
                        "-"
                    },
                    k.kty,
                    k.alg.unwrap_or("(any)")
                );
            }
        }

        outln!();
        outln!("Checks");
        for s in self.steps {
            let detail = if (s.step == "header" || s.step == "claims")
                && s.ok
                && s.detail.starts_with('{')
            {
                "decoded (shown above)".to_string()
            } else {
                s.detail.clone()
            };
            outln!(
                "  [{}] {:<10} {detail}",
                if s.ok { " ok " } else { "FAIL" },
                s.step
            );
        }

        outln!();
        match self.decision {
            Decision::Allow(a) => {
                outln!("ALLOWED (200)");
                let i = &a.identity;
                let list = |v: &[String]| {
                    if v.is_empty() {
                        "(none)".to_string()
                    } else {
                        v.join(" ")
                    }
                };
                if let Some(s) = &i.subject {
                    outln!("  subject      {s}");
                }
                if let Some(s) = &i.issuer {
                    outln!("  issuer       {s}");
                }
                if let Some(t) = &i.tenant {
                    outln!("  tenant       {t}");
                }
                outln!("  scopes       {}", list(&i.scopes));
                if !i.roles.is_empty() {
                    outln!("  roles        {}", list(&i.roles));
                }
                if !i.permissions.is_empty() {
                    outln!("  permissions  {}", list(&i.permissions));
                }
                if let Some(e) = i.expires_at {
                    outln!("  expires      {} ({})", iso_time(e), relative(e, self.now));
                }
            }
            Decision::Answer(a) => {
                outln!("ANSWERED BY THE GATE ({}): a CORS preflight", a.status);
                for (k, v) in &a.headers {
                    outln!("  {k}: {v}");
                }
            }
            Decision::Deny(d) => {
                outln!("DENIED: {} {}", d.status, d.reason.code());
                outln!("  detail            {}", d.detail);
                if let Some(w) = &d.www_authenticate {
                    outln!("  WWW-Authenticate  {w}");
                }
                for hint in self.hints() {
                    outln!("  hint              {hint}");
                }
            }
        }
        if self.report_only {
            outln!("  (the configuration is in report-only mode, where this request would be let through; shown is the enforce decision)");
        }
        if self.path.is_none() {
            outln!("  (token checked alone; pass --path and --method to apply the route policy)");
        }
    }
}

fn print_json(label: &str, v: &Value) {
    outln!("  {label}:");
    let text = serde_json::to_string_pretty(v).unwrap_or_default();
    for line in text.lines() {
        outln!("    {line}");
    }
}
