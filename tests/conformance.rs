//! Cross-host conformance cases (`tests/cases/*.json`): configuration, the
//! IdP's key set, a request and the expected decision. Every host (core,
//! npm build, Worker in workerd, Envoy filter) runs the same files.
//!
//! `cargo test --test conformance -- --ignored regenerate` rewrites them.

mod support;

use edgeward::{Algorithm, Config, Decision, Gate, Outcome, Request};
use serde_json::{json, Value};
use std::path::PathBuf;
use support::*;

fn cases_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/cases")
}

/// Runs one case through the core; returns a description of each mismatch.
fn run_case(case: &Value) -> Vec<String> {
    let config = Config::from_json(&case["config"].to_string()).expect("case config");
    let mut gate = Gate::new(config).expect("gate");
    let now = case["now"].as_i64().expect("now");
    let req = &case["request"];
    let headers: Vec<(String, String)> = req["headers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            (
                h[0].as_str().unwrap().to_owned(),
                h[1].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let headers: Vec<(&str, &str)> = headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let request = Request {
        method: req["method"].as_str().unwrap(),
        path: req["path"].as_str().unwrap(),
        headers: &headers,
    };
    let mut decision = None;
    for _ in 0..4 {
        match gate.check(&request, now) {
            Outcome::Decided(d) => {
                decision = Some(d);
                break;
            }
            Outcome::NeedKeys(f) => match case["idp"]["jwks"].as_object() {
                Some(_) if f.url == case["config"]["issuers"][0]["jwks_uri"] => {
                    let body = case["idp"]["jwks"].to_string();
                    let status = case["idp"]["status"].as_u64().unwrap_or(200) as u16;
                    let _ = gate.ingest(
                        &f,
                        status,
                        &[("cache-control", "max-age=600")],
                        body.as_bytes(),
                        now,
                    );
                }
                _ => gate.fetch_failed(&f, "connection refused", now),
            },
        }
    }
    let d = decision.expect("no decision after 4 rounds");
    let exp = &case["expect"];
    let mut errors = Vec::new();
    let mut expect_eq = |what: &str, got: Value, want: &Value| {
        if want != &Value::Null && &got != want {
            errors.push(format!("{what}: got {got}, want {want}"));
        }
    };
    expect_eq("status", json!(d.status()), &exp["status"]);
    expect_eq(
        "reason",
        json!(d.reason().map(|r| r.code())),
        &exp.get("reason").cloned().unwrap_or(Value::Null),
    );
    match &d {
        Decision::Deny(deny) => {
            expect_eq(
                "www_authenticate",
                json!(deny.www_authenticate),
                &exp["www_authenticate"],
            );
            let body: Value = serde_json::from_str(&deny.body).unwrap();
            expect_eq("body.reason", body["reason"].clone(), &exp["reason"]);
        }
        Decision::Allow(a) => {
            if let Some(want) = exp["set_headers"].as_object() {
                for (k, v) in want {
                    let got = a
                        .headers_to_set
                        .iter()
                        .find(|(n, _)| n == k)
                        .map(|(_, v)| v.clone());
                    expect_eq(&format!("set {k}"), json!(got), v);
                }
            }
            for h in exp["removed_headers"].as_array().into_iter().flatten() {
                if !a.headers_to_remove.iter().any(|r| r == h.as_str().unwrap()) {
                    errors.push(format!("{h} is not removed"));
                }
            }
        }
    }
    errors
}

#[test]
fn cases_pass_in_the_core() {
    let mut names = Vec::new();
    let mut failures = Vec::new();
    for entry in std::fs::read_dir(cases_dir()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "json") {
            continue;
        }
        let case: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let errs = run_case(&case);
        if !errs.is_empty() {
            failures.push(format!("{}: {}", path.display(), errs.join("; ")));
        }
        names.push(case["name"].as_str().unwrap().to_owned());
    }
    assert!(names.len() >= 20, "only {} cases", names.len());
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    eprintln!("conformance: {} cases pass in the core", names.len());
}

// ---- generation ----

fn base_config() -> Value {
    json!({
        "realm": "orders",
        "issuers": [{"issuer": ISSUER, "jwks_uri": JWKS_URI, "audiences": [AUDIENCE], "tenant_claim": "tid"}],
        "headers": {"claims": {"email": "x-auth-email"}},
        "routes": [
            {"path": "/health", "access": "anonymous"},
            {"path": "/orders/**", "methods": ["GET"], "scopes": {"any": ["orders:read"]}},
            {"path": "/orders/**", "methods": ["POST"], "scopes": {"all": ["orders:write"]}},
            {"path": "/users/{user}/**", "owner": {"user": "sub"}},
        ],
        "api_tokens": [{"name": "ci-bot", "sha256": "b1c0bc5d5ea32e83d5fd0a1a3d3a1c8fa1a6b1e9f8a0f0ad1ce4d63ea6f1a2a4", "scopes": ["orders:read"]}]
    })
}

struct Gen {
    rsa: Signer,
    ec: Signer,
    ed: Signer,
    ps: Signer,
}

impl Gen {
    fn jwks(&self) -> Value {
        json!({"keys": [self.rsa.jwk(), self.ec.jwk(), self.ed.jwk(), self.ps.jwk()]})
    }
}

#[allow(clippy::too_many_arguments)] // a case is eight named fields; a struct literal would only rename them
fn case(
    name: &str,
    description: &str,
    config: Value,
    jwks: Value,
    method: &str,
    path: &str,
    headers: Value,
    expect: Value,
) -> Value {
    json!({
        "name": name,
        "description": description,
        "now": NOW,
        "config": config,
        "idp": {"jwks": jwks, "status": 200},
        "request": {"method": method, "path": path, "headers": headers},
        "expect": expect,
    })
}

#[test]
#[ignore = "rewrites tests/cases; run on purpose"]
fn regenerate() {
    let g = Gen {
        rsa: Signer::new(Algorithm::RS256, "rsa-1"),
        ec: Signer::new(Algorithm::ES256, "ec-1"),
        ed: Signer::new(Algorithm::EdDSA, "ed-1"),
        ps: Signer::new(Algorithm::PS256, "ps-1"),
    };
    let api_token = "edgeward-ci-token-0123456789";
    let mut cfg = base_config();
    let hash: String = ring::digest::digest(&ring::digest::SHA256, api_token.as_bytes())
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    cfg["api_tokens"][0]["sha256"] = json!(hash);
    let c = |sub: &str, scope: &str| {
        let mut c = claims(sub, scope);
        c["email"] = json!(format!("{sub}@example.test"));
        c["tid"] = json!("acme");
        c
    };
    let bearer = |t: &str| json!([["authorization", format!("Bearer {t}")]]);
    let read = c("alice", "orders:read");
    let ok = |sub: &str| json!({"status": 200, "reason": null, "set_headers": {"x-auth-subject": sub, "x-auth-issuer": ISSUER, "x-auth-tenant": "acme", "x-auth-email": format!("{sub}@example.test")}, "removed_headers": ["x-auth-subject", "x-auth-issuer", "x-auth-tenant", "x-auth-scopes", "x-auth-email"]});
    let deny = |status: u16, reason: &str| json!({"status": status, "reason": reason});
    let invalid = |reason: &str| json!({"status": 401, "reason": reason, "www_authenticate": format!("Bearer realm=\"orders\", error=\"invalid_token\", error_description=\"{}\"", edgeward::Reason::from_code(reason).unwrap().description().replace('"', "\\\""))});
    let jwks = g.jwks();
    let mut cases = vec![
        case(
            "rs256-valid",
            "A valid RS256 token with the needed scope passes, with identity headers.",
            cfg.clone(),
            jwks.clone(),
            "GET",
            "/orders/1",
            bearer(&g.rsa.mint(&read)),
            ok("alice"),
        ),
        case(
            "es256-valid",
            "A valid ES256 token passes.",
            cfg.clone(),
            jwks.clone(),
            "GET",
            "/orders/1",
            bearer(&g.ec.mint(&read)),
            ok("alice"),
        ),
        case(
            "eddsa-valid",
            "A valid EdDSA token passes.",
            cfg.clone(),
            jwks.clone(),
            "GET",
            "/orders/1",
            bearer(&g.ed.mint(&read)),
            ok("alice"),
        ),
        case(
            "ps256-valid",
            "A valid PS256 token passes.",
            cfg.clone(),
            jwks.clone(),
            "GET",
            "/orders/1",
            bearer(&g.ps.mint(&read)),
            ok("alice"),
        ),
        case(
            "no-token",
            "No token: 401 with a challenge without error (RFC 6750 §3.1).",
            cfg.clone(),
            jwks.clone(),
            "GET",
            "/orders/1",
            json!([]),
            json!({"status": 401, "reason": "token_missing", "www_authenticate": "Bearer realm=\"orders\""}),
        ),
        case(
            "basic-auth-is-no-token",
            "Another scheme is not a bearer token.",
            cfg.clone(),
            jwks.clone(),
            "GET",
            "/orders/1",
            json!([["authorization", "Basic YWxhZGRpbjpvcGVuc2VzYW1l"]]),
            deny(401, "token_missing"),
        ),
        case(
            "malformed",
            "A token that is not a JWS.",
            cfg.clone(),
            jwks.clone(),
            "GET",
            "/orders/1",
            json!([["authorization", "Bearer abc.def"]]),
            invalid("token_malformed"),
        ),
        case(
            "two-tokens",
            "Two bearer tokens: 400 invalid_request.",
            cfg.clone(),
            jwks.clone(),
            "GET",
            "/orders/1",
            json!([
                ["authorization", "Bearer a.b.c"],
                ["authorization", "Bearer d.e.f"]
            ]),
            deny(400, "multiple_tokens"),
        ),
        case(
            "expired",
            "exp past the leeway.",
            cfg.clone(),
            jwks.clone(),
            "GET",
            "/orders/1",
            bearer(&g.ec.mint(&{
                let mut x = read.clone();
                x["exp"] = json!(NOW - 120);
                x
            })),
            invalid("token_expired"),
        ),
        case(
            "wrong-audience",
            "aud for another API.",
            cfg.clone(),
            jwks.clone(),
            "GET",
            "/orders/1",
            bearer(&g.ec.mint(&{
                let mut x = read.clone();
                x["aud"] = json!("api://billing");
                x
            })),
            invalid("audience_invalid"),
        ),
        case(
            "wrong-issuer",
            "iss not configured.",
            cfg.clone(),
            jwks.clone(),
            "GET",
            "/orders/1",
            bearer(&g.ec.mint(&{
                let mut x = read.clone();
                x["iss"] = json!("https://evil.test/");
                x
            })),
            invalid("issuer_unknown"),
        ),
        case(
            "tampered",
            "Payload changed after signing.",
            cfg.clone(),
            jwks.clone(),
            "GET",
            "/orders/1",
            bearer(&{
                let t = g.rsa.mint(&read);
                let parts: Vec<&str> = t.split('.').collect();
                let mut forged = read.clone();
                forged["sub"] = json!("mallory");
                format!(
                    "{}.{}.{}",
                    parts[0],
                    base64::Engine::encode(
                        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
                        forged.to_string()
                    ),
                    parts[2]
                )
            }),
            invalid("signature_invalid"),
        ),
        case(
            "alg-none",
            "alg none is never accepted.",
            cfg.clone(),
            jwks.clone(),
            "GET",
            "/orders/1",
            bearer(&format!(
                "{}.{}.",
                base64::Engine::encode(
                    &base64::engine::general_purpose::URL_SAFE_NO_PAD,
                    r#"{"alg":"none"}"#
                ),
                base64::Engine::encode(
                    &base64::engine::general_purpose::URL_SAFE_NO_PAD,
                    read.to_string()
                )
            )),
            invalid("alg_not_allowed"),
        ),
        case(
            "hs256-with-public-key",
            "HMAC signed with the RSA public key (algorithm confusion).",
            cfg.clone(),
            jwks.clone(),
            "GET",
            "/orders/1",
            bearer(&sign_raw(
                Algorithm::HS256,
                g.rsa.jwk()["n"].as_str().unwrap().as_bytes(),
                &json!({"alg": "HS256", "kid": "rsa-1"}).to_string(),
                &read.to_string(),
            )),
            invalid("alg_not_allowed"),
        ),
        case(
            "crit-header",
            "An unknown crit extension.",
            cfg.clone(),
            jwks.clone(),
            "GET",
            "/orders/1",
            bearer(
                &g.ec
                    .mint_with(json!({"crit": ["urn:x"], "urn:x": 1}), &read),
            ),
            invalid("header_unsupported"),
        ),
        case(
            "unknown-kid",
            "A kid the IdP does not publish.",
            cfg.clone(),
            jwks.clone(),
            "GET",
            "/orders/1",
            bearer(&g.ec.mint_with(json!({"kid": "nope"}), &read)),
            invalid("key_not_found"),
        ),
        case(
            "key-type-mismatch",
            "ES256 header naming the RSA key.",
            cfg.clone(),
            jwks.clone(),
            "GET",
            "/orders/1",
            bearer(&g.ec.mint_with(json!({"kid": "rsa-1"}), &read)),
            invalid("key_unusable"),
        ),
        case(
            "missing-scope",
            "403 names the scope needed.",
            cfg.clone(),
            jwks.clone(),
            "POST",
            "/orders/1",
            bearer(&g.rsa.mint(&read)),
            json!({"status": 403, "reason": "scope_missing", "www_authenticate": format!("Bearer realm=\"orders\", error=\"insufficient_scope\", error_description=\"{}\", scope=\"orders:write\"", edgeward::Reason::ScopeMissing.description())}),
        ),
        case(
            "owner-match",
            "A path segment equal to sub passes.",
            cfg.clone(),
            jwks.clone(),
            "GET",
            "/users/alice/settings",
            bearer(&g.ec.mint(&read)),
            ok("alice"),
        ),
        case(
            "owner-mismatch",
            "Another user's path.",
            cfg.clone(),
            jwks.clone(),
            "GET",
            "/users/bob/settings",
            bearer(&g.ec.mint(&read)),
            deny(403, "owner_mismatch"),
        ),
        case(
            "anonymous-health",
            "Anonymous route: no token needed, spoofed headers stripped.",
            cfg.clone(),
            jwks.clone(),
            "GET",
            "/health",
            json!([["x-auth-subject", "root"]]),
            json!({"status": 200, "reason": null, "removed_headers": ["x-auth-subject"]}),
        ),
        case(
            "unmatched-route",
            "Default deny.",
            cfg.clone(),
            jwks.clone(),
            "GET",
            "/admin",
            bearer(&g.ec.mint(&read)),
            deny(403, "route_denied"),
        ),
        case(
            "path-traversal",
            "Dot segments are refused, not normalised.",
            cfg.clone(),
            jwks.clone(),
            "GET",
            "/health/../orders/1",
            json!([]),
            deny(400, "path_invalid"),
        ),
        case(
            "spoofed-identity",
            "Client-sent identity headers are replaced.",
            cfg.clone(),
            jwks.clone(),
            "GET",
            "/orders/1",
            json!([
                ["authorization", format!("Bearer {}", g.ec.mint(&read))],
                ["x-auth-subject", "root"],
                ["X-Auth-Email", "root@evil.test"]
            ]),
            ok("alice"),
        ),
        case(
            "api-token",
            "A static API token with the needed scope.",
            cfg.clone(),
            jwks.clone(),
            "GET",
            "/orders/1",
            bearer(api_token),
            json!({"status": 200, "reason": null, "set_headers": {"x-auth-subject": "ci-bot", "x-auth-scopes": "orders:read"}}),
        ),
        case(
            "api-token-wrong",
            "An opaque token that is no API token.",
            cfg.clone(),
            jwks.clone(),
            "GET",
            "/orders/1",
            bearer("not-the-token"),
            invalid("api_token_invalid"),
        ),
        case(
            "idp-down",
            "No keys and the IdP unreachable: 503, not 401, not a pass.",
            cfg.clone(),
            Value::Null,
            "GET",
            "/orders/1",
            bearer(&g.ec.mint(&read)),
            deny(503, "keys_unavailable"),
        ),
        case(
            "preflight",
            "CORS preflight passes without a token.",
            cfg.clone(),
            jwks.clone(),
            "OPTIONS",
            "/orders/1",
            json!([
                ["origin", "https://app.example.test"],
                ["access-control-request-method", "POST"]
            ]),
            json!({"status": 200, "reason": null}),
        ),
    ];
    let mut report_only = cfg.clone();
    report_only["mode"] = json!("report-only");
    cases.push(case("report-only", "report-only lets a denied request through, annotated.", report_only, jwks.clone(), "GET", "/orders/1", json!([]), json!({"status": 200, "reason": "token_missing", "set_headers": {"x-edgeward-decision": "deny; status=401; reason=token_missing"}})));
    let dir = cases_dir();
    std::fs::create_dir_all(&dir).unwrap();
    for old in std::fs::read_dir(&dir).unwrap() {
        let path = old.unwrap().path();
        if path.extension().is_some_and(|e| e == "json") {
            std::fs::remove_file(path).unwrap();
        }
    }
    for (i, c) in cases.iter().enumerate() {
        assert!(run_case(c).is_empty(), "{}: {:?}", c["name"], run_case(c));
        let path = dir.join(format!("{:02}-{}.json", i + 1, c["name"].as_str().unwrap()));
        std::fs::write(path, serde_json::to_string_pretty(c).unwrap() + "\n").unwrap();
    }
}
