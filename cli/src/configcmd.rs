//! `edgeward config check`: validate a configuration, print it with defaults.

use crate::util::read_file;
use crate::{errln, outln, CliError, CliResult, ConfigCheckArgs};
use edgeward::config::{Access, Mode};
use edgeward::{Config, Gate};
use serde_json::json;

pub const EXAMPLES: &str = "\
Examples:
  edgeward config check edgeward.toml
  edgeward config check --json edgeward.json | jq .issuers
  cat edgeward.toml | edgeward config check -

Prints the effective configuration (every default filled in) as TOML, or as
JSON with --json, and notes on risky settings to stderr. On errors it prints
one line per problem, each naming the field (issuers[0].audiences: ...), and
exits 2 (with --json: {\"valid\":false,\"errors\":[{\"field\",\"message\"}]}).";

/// `edgeward config check`.
pub fn run(a: ConfigCheckArgs) -> CliResult<u8> {
    let name = a.file.display().to_string();
    let bytes = read_file("", &a.file)?;
    let text = String::from_utf8(bytes).map_err(|_| CliError::at(&name, "not UTF-8 text"))?;
    // Gate::new also compiles the routes, so it catches what validate() does not.
    let parsed = Config::parse(&text).and_then(|c| Gate::new(c.clone()).map(|_| c));
    let config = match parsed {
        Ok(c) => c,
        Err(errs) => {
            if a.json {
                let list: Vec<_> = errs
                    .0
                    .iter()
                    .map(|e| json!({"field": e.field, "message": e.message}))
                    .collect();
                outln!(
                    "{}",
                    serde_json::to_string_pretty(&json!({"valid": false, "errors": list}))
                        .unwrap_or_default()
                );
            } else {
                for e in &errs.0 {
                    errln!("edgeward: {name}: {}: {}", e.field, e.message);
                }
                errln!(
                    "edgeward: {name}: {} error{}",
                    errs.0.len(),
                    if errs.0.len() == 1 { "" } else { "s" }
                );
            }
            return Ok(2);
        }
    };
    for note in notes(&config) {
        errln!("note: {note}");
    }
    // Secrets are not printed back.
    let mut config = config;
    for iss in &mut config.issuers {
        if let Some(s) = &mut iss.hmac_secret {
            *s = format!("<redacted: {} bytes>", s.len());
        }
    }
    if a.json {
        let text = serde_json::to_string_pretty(&config)
            .map_err(|e| CliError(format!("cannot print the configuration: {e}")))?;
        outln!("{text}");
    } else {
        let text = toml::to_string(&config)
            .map_err(|e| CliError(format!("cannot print the configuration as TOML: {e}")))?;
        outln!("# {name}: valid; effective settings with defaults filled in");
        outln!("{}", text.trim_end());
    }
    Ok(0)
}

/// Valid but worth a second look.
fn notes(c: &Config) -> Vec<String> {
    let mut n = Vec::new();
    if c.issuers.is_empty() && c.api_tokens.is_empty() {
        n.push("no issuers and no api_tokens: only anonymous routes can pass".into());
    }
    if c.mode == Mode::ReportOnly {
        n.push("mode is report-only: every request is let through, annotated".into());
    }
    if c.policy.default == Access::Anonymous {
        n.push("policy.default is anonymous: routes not listed need no token".into());
    }
    for (i, iss) in c.issuers.iter().enumerate() {
        if iss.typ.is_none() {
            n.push(format!(
                "issuers[{i}].typ is not set: RFC 9068 access tokens carry typ \"at+jwt\", and checking it keeps ID tokens out"
            ));
        }
        if iss.hmac_secret.is_some() {
            n.push(format!(
                "issuers[{i}].hmac_secret is in the file: keep secrets out of committed configuration"
            ));
        }
    }
    if c.token.query.is_some() {
        n.push("token.query is set: tokens in URLs end up in logs (RFC 6750 §2.3)".into());
    }
    n
}
