//! Keeps the documentation honest: the example configurations parse, the
//! reason table is the one the code produces, every configuration key (and
//! its default) is documented, and the sample errors and responses shown are
//! the ones the code gives.

use edgeward::decision::{reason_table, Deny, Reason};
use edgeward::{Config, Gate};
use serde_json::Value;
use std::fs;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(rel: &str) -> String {
    let path = root().join(rel);
    fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn examples() -> Vec<PathBuf> {
    let dir = root().join("docs/examples");
    let mut files: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    files
}

fn name(p: &Path) -> String {
    p.file_name().unwrap().to_string_lossy().into_owned()
}

#[test]
fn examples_parse_validate_and_build_a_gate() {
    let files = examples();
    for want in [
        "entra.toml",
        "auth0.toml",
        "okta.toml",
        "keycloak.toml",
        "google.toml",
        "cognito.toml",
    ] {
        assert!(
            files.iter().any(|p| name(p) == want),
            "docs/examples/{want} is missing"
        );
    }
    for path in &files {
        let text = fs::read_to_string(path).unwrap();
        let config =
            Config::parse(&text).unwrap_or_else(|e| panic!("docs/examples/{}: {e}", name(path)));
        config
            .validate()
            .unwrap_or_else(|e| panic!("docs/examples/{}: {e}", name(path)));
        assert!(
            !config.issuers.is_empty(),
            "docs/examples/{} has no issuer",
            name(path)
        );
        if let Err(e) = Gate::new(config) {
            panic!("docs/examples/{}: {e}", name(path));
        }
    }
}

#[test]
fn examples_are_quoted_in_the_configuration_guide() {
    let doc = read("docs/configuration.md");
    for path in examples() {
        let text = fs::read_to_string(&path).unwrap();
        let block = format!("```toml\n{text}```\n");
        assert!(
            doc.contains(&block),
            "docs/configuration.md does not quote docs/examples/{} verbatim in a ```toml block",
            name(&path)
        );
    }
}

#[test]
fn reasons_doc_holds_the_generated_table() {
    let doc = read("docs/reasons.md");
    let table = reason_table();
    assert!(
        doc.contains(&table),
        "docs/reasons.md is out of date; paste this table:\n{table}"
    );
    for r in Reason::ALL {
        assert!(doc.contains(&format!("`{}`", r.code())), "{}", r.code());
    }
}

/// docs/reasons.md promises that the descriptions sent as
/// `error_description` are within RFC 6750's character set, so no escaping
/// or dropping ever changes them.
#[test]
fn reason_descriptions_are_header_safe() {
    for r in Reason::ALL {
        let d = r.description();
        assert!(
            d.chars()
                .all(|c| matches!(c, ' '..='~') && c != '"' && c != '\\'),
            "{}: description is not RFC 6750 error_description text: {d}",
            r.code()
        );
    }
}

/// The responses shown in docs/reasons.md, as the code builds them.
#[test]
fn reasons_doc_shows_real_responses() {
    let doc = read("docs/reasons.md");
    let cases = [
        Deny::new(
            "orders",
            Reason::TokenMissing,
            "an access token is required",
            None,
        ),
        Deny::new(
            "orders",
            Reason::MultipleTokens,
            "more than one access token in the request",
            None,
        ),
        Deny::new(
            "orders",
            Reason::TokenExpired,
            "the token expired at 1700000000 (now 1700000100, leeway 60s)",
            None,
        ),
        Deny::new(
            "orders",
            Reason::ClaimValueMismatch,
            "\"token_use\" must be \"access\"",
            None,
        ),
        Deny::new(
            "orders",
            Reason::ScopeMissing,
            "requires scopes all of [orders:write]",
            Some("orders:write"),
        ),
        Deny::new("orders", Reason::RouteDenied, "this route is closed", None),
        Deny::new(
            "orders",
            Reason::KeysUnavailable,
            "the issuer's keys cannot be fetched right now",
            None,
        ),
    ];
    for d in &cases {
        let mut shown = format!("HTTP {}\n", d.status);
        for (k, v) in d.headers() {
            shown.push_str(&format!("{k}: {v}\n"));
        }
        shown.push('\n');
        shown.push_str(&d.body);
        shown.push('\n');
        assert!(
            doc.contains(&shown),
            "docs/reasons.md does not show the {} response as built:\n{shown}",
            d.reason.code()
        );
    }
}

/// The error messages quoted in docs/configuration.md, with their inputs.
#[test]
fn configuration_doc_shows_real_errors() {
    let doc = read("docs/configuration.md");
    let cases = [
        "[[issuers]]\nissuer = \"https://idp.example.com/\"\naudience = [\"orders\"]\n",
        "[[issuers]]\nissuer = \"http://idp.example.com\"\naudiences = []\nalgorithms = [\"RS256\", \"none\"]\n\n[[routes]]\npath = \"/users/{id}/**/files\"\n\n[[api_tokens]]\nname = \"ci\"\nsha256 = \"ABC\"\n",
        "[keys]\nmin_tll = 30\n",
    ];
    for input in cases {
        let err = Config::parse(input).unwrap_err().to_string();
        assert!(
            doc.contains(&format!("```toml\n{input}```")),
            "docs/configuration.md does not show this input:\n{input}"
        );
        assert!(
            doc.contains(&format!("```text\n{err}\n```")),
            "docs/configuration.md does not show this error:\n{err}"
        );
    }
}

#[test]
fn configuration_doc_sha256_example_is_right() {
    let doc = read("docs/configuration.md");
    let token = "ew_ci_7Tn4Kq9Lm2Xv8Bz6Rw3Pd5Hs1Cy0Fg";
    let hex: String = edgeward::cache::digest(token)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let shown = format!("$ printf %s '{token}' | sha256sum\n{hex}  -\n");
    assert!(doc.contains(&shown), "expected:\n{shown}");
}

/// Heading text (after `## `) that opens the section documenting a
/// top-level key.
fn heading(top: &str) -> String {
    match top {
        "issuers" => "`[[issuers]]`".into(),
        "routes" => "`[[routes]]`".into(),
        "api_tokens" => "`[[api_tokens]]`".into(),
        "token" | "keys" | "cache" | "headers" | "policy" | "cors" | "resource" | "assertion" => {
            format!("`[{top}]`")
        }
        _ => "Top level".into(),
    }
}

/// The text of the `## ...` section whose heading contains `title`.
fn section<'d>(doc: &'d str, title: &str) -> &'d str {
    let mut start = None;
    let mut offset = 0;
    for line in doc.split_inclusive('\n') {
        if line.starts_with("## ") {
            if let Some(s) = start {
                return &doc[s..offset];
            }
            if line.contains(title) {
                start = Some(offset);
            }
        }
        offset += line.len();
    }
    match start {
        Some(s) => &doc[s..],
        None => panic!("docs/configuration.md has no `## ...{title}...` section"),
    }
}

/// Every (top-level key, key) pair in a serialized configuration. Maps whose
/// keys are user data (`headers.claims`, `routes[].owner`,
/// `issuers[].claim_values`) are not entered.
fn walk(v: &Value, top: Option<&str>, out: &mut Vec<(String, String)>) {
    match v {
        Value::Object(m) => {
            for (k, child) in m {
                let t = top.unwrap_or(k);
                out.push((t.to_string(), k.clone()));
                if k == "claims" || k == "owner" || k == "claim_values" {
                    continue;
                }
                walk(child, Some(t), out);
            }
        }
        Value::Array(items) => {
            for i in items {
                walk(i, top, out);
            }
        }
        _ => {}
    }
}

fn full_config() -> Config {
    Config::parse(
        r#"{
        "mode": "report-only",
        "realm": "orders",
        "issuers": [{
            "issuer": "https://idp.example.com/",
            "jwks_uri": "https://idp.example.com/keys",
            "audiences": ["orders"],
            "audience_claims": ["aud", "client_id"],
            "claim_values": {"token_use": "access"},
            "algorithms": ["RS256", "HS256"],
            "leeway": 30,
            "typ": "at+jwt",
            "max_age": 3600,
            "required_claims": ["sub"],
            "scope_claims": ["scope"],
            "role_claims": ["roles"],
            "permission_claims": ["permissions"],
            "subject_claim": "sub",
            "tenant_claim": "tid",
            "tenants": ["t1"],
            "hmac_secret": "0123456789abcdef0123456789abcdef"
        }],
        "token": {"max_size": 4096, "cookie": "at", "header": "x-token", "query": "access_token"},
        "keys": {"min_ttl": 60, "max_ttl": 3600, "default_ttl": 600, "stale_if_error": 3600,
                 "refetch_cooldown": 30, "max_response_bytes": 65536, "fetch_timeout": 5},
        "cache": {"ttl": 60, "capacity": 100, "negative_ttl": 10, "negative_capacity": 10},
        "assertion": {"audience": "https://orders.internal", "issuer": "https://gate.example.com",
                      "header": "x-a", "ttl": 30, "jwks_path": "/jwks", "kid": "k1"},
        "headers": {"preset": "edgeward+oauth2-proxy", "subject": "x-s", "issuer": "x-i", "tenant": "x-t", "scopes": "x-sc",
                    "claims": {"email": "x-email"}, "decision": "x-d", "strip_authorization": true},
        "policy": {"default": "authenticated"},
        "resource": {"identifier": "https://api.example.com/orders", "authorization_servers": ["https://idp.example.com/"],
                     "scopes_supported": ["a"], "name": "Orders", "documentation": "https://docs.example.com/"},
        "cors": {"allowed_origins": ["https://app.example.com"], "allowed_methods": ["GET"],
                 "allowed_headers": ["authorization"], "expose_headers": ["x-request-id"],
                 "max_age": 60, "allow_credentials": true},
        "routes": [{
            "path": "/users/{user}/**",
            "methods": ["GET"],
            "access": "authenticated",
            "scopes": {"any": ["a"], "all": ["b"]},
            "roles": {"any": ["a"], "all": ["b"]},
            "permissions": {"any": ["a"], "all": ["b"]},
            "tenants": ["t1"],
            "owner": {"user": "sub"},
            "api_tokens": false,
            "forward_preflight": true
        }],
        "api_tokens": [{
            "name": "ci",
            "sha256": "f5b3aab52898723eee423bf70d1b6d697c48b09af5616409a344581f4ec65167",
            "scopes": ["a"]
        }]
    }"#,
    )
    .unwrap()
}

fn assert_documented(doc: &str, top: &str, key: &str) {
    let text = section(doc, &heading(top));
    assert!(
        text.contains(&format!("`{key}`")) || text.contains(&format!("`\"{key}\"`")),
        "docs/configuration.md section `{}` does not mention `{key}` (from {top})",
        heading(top)
    );
}

#[test]
fn every_config_key_is_documented() {
    let doc = read("docs/configuration.md");
    let mut keys = Vec::new();
    walk(
        &serde_json::to_value(full_config()).unwrap(),
        None,
        &mut keys,
    );
    assert!(keys.len() > 60, "walked only {} keys", keys.len());
    for (top, key) in &keys {
        if top == key {
            // Top-level keys (tables included) are listed at the top level.
            assert_documented(&doc, "", key);
        } else {
            assert_documented(&doc, top, key);
        }
    }
}

/// Serde's own list of accepted fields (from an unknown-field error) catches
/// optional fields that serialization skips when unset.
#[test]
fn every_accepted_field_is_documented() {
    let doc = read("docs/configuration.md");
    let probes = [
        ("", r#"{"zz_unknown": 1}"#),
        (
            "issuers",
            r#"{"issuers": [{"issuer": "https://a/", "zz_unknown": 1}]}"#,
        ),
        ("token", r#"{"token": {"zz_unknown": 1}}"#),
        ("keys", r#"{"keys": {"zz_unknown": 1}}"#),
        ("cache", r#"{"cache": {"zz_unknown": 1}}"#),
        ("headers", r#"{"headers": {"zz_unknown": 1}}"#),
        ("policy", r#"{"policy": {"zz_unknown": 1}}"#),
        ("cors", r#"{"cors": {"zz_unknown": 1}}"#),
        (
            "resource",
            r#"{"resource": {"identifier": "https://a/", "zz_unknown": 1}}"#,
        ),
        (
            "assertion",
            r#"{"assertion": {"audience": "a", "issuer": "g", "zz_unknown": 1}}"#,
        ),
        ("headers", r#"{"headers": {"preset": "zz_unknown"}}"#),
        ("routes", r#"{"routes": [{"path": "/", "zz_unknown": 1}]}"#),
        (
            "routes",
            r#"{"routes": [{"path": "/", "scopes": {"zz_unknown": 1}}]}"#,
        ),
        (
            "api_tokens",
            r#"{"api_tokens": [{"name": "a", "zz_unknown": 1}]}"#,
        ),
        // Enum values.
        ("", r#"{"mode": "zz_unknown"}"#),
        ("policy", r#"{"policy": {"default": "zz_unknown"}}"#),
    ];
    for (top, json) in probes {
        let err = Config::parse(json).unwrap_err().to_string();
        let listed = err
            .split_once("expected")
            .unwrap_or_else(|| panic!("no field list in: {err}"))
            .1;
        let names: Vec<&str> = listed.split('`').skip(1).step_by(2).collect();
        assert!(!names.is_empty(), "{err}");
        for n in names {
            if top.is_empty() {
                assert_documented(&doc, "", n);
            } else {
                assert_documented(&doc, top, n);
            }
        }
    }
}

/// `[1, 2]` → `[1, 2]`, `"a"` → `"a"`: how defaults are written in the
/// documentation's tables.
fn render(v: &Value) -> Option<String> {
    match v {
        Value::Array(items) => {
            let parts: Option<Vec<String>> = items.iter().map(render).collect();
            Some(format!("[{}]", parts?.join(", ")))
        }
        Value::Object(_) => None,
        other => Some(other.to_string()),
    }
}

/// The default cell of the `| `key` | type | default | meaning |` row.
fn default_cell<'d>(text: &'d str, key: &str) -> Option<&'d str> {
    let start = format!("| `{key}` |");
    let line = text.lines().find(|l| l.starts_with(&start))?;
    line.split(" | ").nth(2)
}

#[test]
fn documented_defaults_are_the_real_defaults() {
    let doc = read("docs/configuration.md");
    let minimal = Config::parse(
        "[[issuers]]\nissuer = \"https://idp.example.com/\"\naudiences = [\"orders\"]\n\
         [[routes]]\npath = \"/\"\n\
         [[api_tokens]]\nname = \"ci\"\nsha256 = \"f5b3aab52898723eee423bf70d1b6d697c48b09af5616409a344581f4ec65167\"\n\
         [assertion]\naudience = \"o\"\nissuer = \"g\"\n",
    )
    .unwrap();
    let value = serde_json::to_value(&minimal).unwrap();
    // Keys the minimal configuration had to set.
    let given = [
        ("issuers", "issuer"),
        ("issuers", "audiences"),
        ("routes", "path"),
        ("api_tokens", "name"),
        ("api_tokens", "sha256"),
        ("assertion", "audience"),
        ("assertion", "issuer"),
    ];
    let mut checked = 0;
    let Value::Object(top) = &value else {
        unreachable!()
    };
    for (tk, tv) in top {
        let (section_key, fields): (&str, Vec<(&String, &Value)>) = match tv {
            Value::Object(m) => (tk, m.iter().collect()),
            Value::Array(items) if !items.is_empty() => {
                (tk, items[0].as_object().unwrap().iter().collect())
            }
            Value::Array(_) => continue,
            _ => ("", vec![(tk, tv)]),
        };
        let text = section(&doc, &heading(section_key));
        for (k, v) in fields {
            if given.contains(&(section_key, k.as_str())) {
                continue;
            }
            let Some(want) = render(v) else { continue };
            let cell = default_cell(text, k).unwrap_or_else(|| {
                panic!(
                    "section {} has no `| `{k}` | type | default | meaning |` row",
                    heading(section_key)
                )
            });
            assert!(
                cell.contains(&format!("`{want}`")),
                "{}: default of `{k}` is `{want}`, the table says {cell}",
                heading(section_key)
            );
            checked += 1;
        }
    }
    assert!(checked >= 35, "checked only {checked} defaults");
}
