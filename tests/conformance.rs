//! Cross-host conformance cases (`tests/cases/*.json`): configuration, the
//! IdP's key set, a request and the expected decision. Every host (core,
//! npm build, Worker in workerd, Envoy filter) runs the same files.
//!
//! `cargo test --test conformance -- --ignored regenerate` rewrites them.

mod support;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use edgeward::keys::parse_alg;
use edgeward::{
    Algorithm, Config, Decision, Gate, Outcome, PublicKey, Request, RingBackend, SignatureBackend,
};
use serde_json::{json, Value};
use std::path::PathBuf;
use support::*;

fn cases_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/cases")
}

/// Runs one case through the core; returns a description of each mismatch.
fn run_case(case: &Value) -> Vec<String> {
    run_case_with(case, RingBackend)
}

/// [`run_case`] with another signature backend.
fn run_case_with<B: SignatureBackend>(case: &Value, backend: B) -> Vec<String> {
    let config = Config::from_json(&case["config"].to_string()).expect("case config");
    let mut gate = Gate::with_backend(config, backend).expect("gate");
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
    let mut seam_errors = Vec::new();
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
    // What the origin handler observes: reached or not, with which headers.
    let (reached, forwarded) = match &d {
        Decision::Allow(a) => (true, a.forwarded_headers(&headers)),
        _ => (false, Vec::new()),
    };
    if let Some(origin) = exp.get("origin") {
        expect_eq("origin.reached", json!(reached), &origin["reached"]);
        for (name, want) in origin["headers"].as_object().into_iter().flatten() {
            let got: Vec<&str> = forwarded
                .iter()
                .filter(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| *v)
                .collect();
            let got = match got.as_slice() {
                [] => Value::Null,
                [one] => json!(one),
                many => json!(many),
            };
            if &got != want {
                seam_errors.push(format!("origin header {name}: got {got}, want {want}"));
            }
        }
    }
    let response: Vec<(String, String)> = match &d {
        Decision::Allow(a) => a.response_headers.clone(),
        Decision::Deny(deny) => deny
            .headers()
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect(),
        Decision::Answer(a) => a.headers.clone(),
    };
    for (name, want) in exp["response_headers"].as_object().into_iter().flatten() {
        let got = response
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone());
        if json!(got) != *want {
            seam_errors.push(format!("response header {name}: got {got:?}, want {want}"));
        }
    }
    if let (Some(want), Decision::Answer(a)) = (exp.get("answer_body"), &d) {
        let got: Value = serde_json::from_str(&a.body).unwrap_or(Value::Null);
        if &got != want {
            seam_errors.push(format!("answer body: got {got}, want {want}"));
        }
    }
    match &d {
        Decision::Answer(_) => {}
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
    errors.extend(seam_errors);
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
        // Without the p521 feature the core refuses ES512 like a wasm host.
        let errs = run_case(&for_backend(case.clone(), &RingBackend));
        if !errs.is_empty() {
            failures.push(format!("{}: {}", path.display(), errs.join("; ")));
        }
        names.push(case["name"].as_str().unwrap().to_owned());
    }
    assert!(names.len() >= 20, "only {} cases", names.len());
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    eprintln!("conformance: {} cases pass in the core", names.len());
}

/// The reference backend without ES512: what a wasm host has when its
/// native crypto is missing (the core's `p521` feature is off there).
struct WithoutEs512;

impl SignatureBackend for WithoutEs512 {
    fn name(&self) -> &'static str {
        "ring without p521"
    }
    fn verify(&self, alg: Algorithm, key: &PublicKey, message: &[u8], signature: &[u8]) -> bool {
        RingBackend.verify(alg, key, message, signature)
    }
    fn supports(&self, alg: Algorithm) -> bool {
        alg != Algorithm::ES512
    }
}

/// `case`, its `expect` replaced by the refusal a backend that cannot verify
/// the case's `needs_alg` must give (tests/cases/README.md).
fn for_backend(mut case: Value, backend: &impl SignatureBackend) -> Value {
    let needs = case["needs_alg"]
        .as_str()
        .map(|a| parse_alg(a).expect("needs_alg"));
    if needs.is_some_and(|alg| !backend.supports(alg)) {
        case["expect"] =
            json!({"status": 401, "reason": "alg_not_allowed", "origin": {"reached": false}});
    }
    case
}

#[test]
fn needs_alg_cases_are_refused_by_a_backend_without_the_alg() {
    let mut checked = 0;
    for entry in std::fs::read_dir(cases_dir()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "json") {
            continue;
        }
        let case: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        if case["needs_alg"] != json!("ES512") {
            continue;
        }
        let case = for_backend(case, &WithoutEs512);
        let errs = run_case_with(&case, WithoutEs512);
        assert!(errs.is_empty(), "{}: {}", path.display(), errs.join("; "));
        checked += 1;
    }
    assert!(checked >= 2, "only {checked} ES512 cases");
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

/// The seam: request targets and headers that hosts and origin routers may
/// read differently from the gate. Judged by what the origin observes.
fn seam_cases(g: &Gen, jwks: &Value, cases: &mut Vec<Value>) {
    let mut cfg = base_config();
    cfg["api_tokens"] = json!([]);
    cfg["routes"] = json!([
        {"path": "/health", "access": "anonymous"},
        {"path": "/billing/export", "roles": {"all": ["billing-admin"]}},
        {"path": "/billing/**"},
        {"path": "/admin/**", "roles": {"all": ["admin"]}},
        {"path": "/internal/purge", "access": "deny"},
        {"path": "/orders/**", "methods": ["GET"], "scopes": {"any": ["orders:read"]}},
        {"path": "/orders/**", "methods": ["PATCH"], "scopes": {"all": ["orders:write"]}},
        {"path": "/cors-by-origin/**", "forward_preflight": true},
        {"path": "/**", "access": "anonymous"},
    ]);
    let mut cors = cfg.clone();
    cors["cors"] = json!({"allowed_origins": ["https://app.example.test"], "max_age": 600});
    let claims_with = |roles: &[&str]| {
        let mut c = claims("alice", "orders:read");
        c["tid"] = json!("acme");
        c["email"] = json!("alice@example.test");
        c["roles"] = json!(roles);
        c
    };
    let token = |roles: &[&str]| format!("Bearer {}", g.ec.mint(&claims_with(roles)));
    let not_reached = |status: u16, reason: &str| json!({"status": status, "reason": reason, "origin": {"reached": false}});
    let reached = |headers: Value| json!({"status": 200, "reason": null, "origin": {"reached": true, "headers": headers}});
    let preflight = |origin: &str| {
        json!([
            ["origin", origin],
            ["access-control-request-method", "DELETE"]
        ])
    };
    let mut add = |name: &str,
                   description: &str,
                   config: &Value,
                   method: &str,
                   path: &str,
                   headers: Value,
                   expect: Value| {
        cases.push(case(
            &format!("seam-{name}"),
            description,
            config.clone(),
            jwks.clone(),
            method,
            path,
            headers,
            expect,
        ));
    };
    add("fragment", "A fragment in the request target is refused: Node passes `#x` on and routers cut it, so /billing/export#x would otherwise miss the stricter literal rule.", &cfg, "GET", "/billing/export#x", json!([["authorization", token(&[])]]), not_reached(400, "path_invalid"));
    add("case-no-token", "/Admin/users also meets the /admin/** rule (a case-insensitive origin routes it there), not only the later anonymous one.", &cfg, "GET", "/Admin/users", json!([]), not_reached(401, "token_missing"));
    add(
        "case-without-role",
        "Upper case does not walk around the role the lowercase rule needs.",
        &cfg,
        "GET",
        "/ADMIN/users",
        json!([["authorization", token(&[])]]),
        not_reached(403, "role_missing"),
    );
    add(
        "case-with-role",
        "A token that meets both rules passes whatever the case.",
        &cfg,
        "GET",
        "/Admin/users",
        json!([["authorization", token(&["admin"])]]),
        reached(json!({"x-auth-subject": "alice"})),
    );
    add(
        "trailing-slash",
        "One trailing slash is the same route.",
        &cfg,
        "GET",
        "/admin/",
        json!([]),
        not_reached(401, "token_missing"),
    );
    add(
        "encoded-unreserved",
        "Percent-encoded letters are the letters.",
        &cfg,
        "GET",
        "/%61dmin/users",
        json!([]),
        not_reached(401, "token_missing"),
    );
    add("underscore-look-alikes", "Client headers named like identity headers with _ for - are removed (CGI, Rack and PHP read them as the same variable).", &cfg, "GET", "/orders/1", json!([
        ["authorization", token(&[])],
        ["x_auth_subject", "root"],
        ["X_Auth_Scopes", "admin"],
        ["X-AUTH-TENANT", "evil"]
    ]), reached(json!({"x-auth-subject": "alice", "x_auth_subject": null, "x_auth_scopes": null, "x-auth-tenant": "acme", "x-auth-scopes": "orders:read"})));
    add(
        "spoofed-on-anonymous",
        "On an anonymous route, client-sent identity headers are removed too.",
        &cfg,
        "GET",
        "/health",
        json!([
            ["x-auth-subject", "root"],
            ["x_auth_tenant", "evil"],
            ["x-auth-email", "root@evil.test"]
        ]),
        reached(
            json!({"x-auth-subject": null, "x_auth_tenant": null, "x-auth-tenant": null, "x-auth-email": null}),
        ),
    );
    add("preflight-deny-route", "A preflight on a deny route is refused (an OPTIONS that reached app.all would run the purge).", &cfg, "OPTIONS", "/internal/purge", preflight("https://app.example.test"), not_reached(403, "route_denied"));
    add(
        "preflight-bad-path",
        "A preflight is path-checked like any request.",
        &cfg,
        "OPTIONS",
        "/orders/x%2F..%2Finternal",
        preflight("https://app.example.test"),
        not_reached(400, "path_invalid"),
    );
    add("preflight-forwarded", "forward_preflight lets a preflight reach an origin that answers CORS itself, as anonymous, identity headers stripped.", &cfg, "OPTIONS", "/cors-by-origin/x", json!([
        ["origin", "https://app.example.test"],
        ["access-control-request-method", "DELETE"],
        ["x-auth-subject", "root"]
    ]), reached(json!({"x-auth-subject": null})));
    add(
        "preflight-answered",
        "With [cors], the gate answers a preflight from an allowed origin itself.",
        &cors,
        "OPTIONS",
        "/orders/1",
        preflight("https://app.example.test"),
        json!({
            "status": 204, "reason": null, "origin": {"reached": false},
            "response_headers": {"access-control-allow-origin": "https://app.example.test", "access-control-allow-methods": "GET, HEAD, POST, PUT, PATCH, DELETE", "access-control-max-age": "600"}
        }),
    );
    add(
        "preflight-refused",
        "With [cors], a preflight from another origin is refused.",
        &cors,
        "OPTIONS",
        "/orders/1",
        preflight("https://evil.example.test"),
        json!({
            "status": 403, "reason": "preflight_refused", "origin": {"reached": false},
            "response_headers": {"access-control-allow-origin": null}
        }),
    );
    add("cors-on-refusal", "With [cors], a refusal carries CORS headers for an allowed origin, so the page can read the 401.", &cors, "GET", "/orders/1", json!([["origin", "https://app.example.test"]]), json!({
        "status": 401, "reason": "token_missing", "origin": {"reached": false},
        "response_headers": {"access-control-allow-origin": "https://app.example.test", "access-control-expose-headers": "www-authenticate"}
    }));
    add(
        "cors-on-allow",
        "With [cors], an allowed request's response gets the CORS headers.",
        &cors,
        "GET",
        "/orders/1",
        json!([
            ["origin", "https://app.example.test"],
            ["authorization", token(&[])]
        ]),
        json!({
            "status": 200, "reason": null, "origin": {"reached": true, "headers": {"x-auth-subject": "alice"}},
            "response_headers": {"access-control-allow-origin": "https://app.example.test", "vary": "Origin"}
        }),
    );
    add("method-case", "A lowercase method meets the rules for its uppercase name (Express lowercases; HTTP parsers may refuse it first: the origin is not reached either way).", &cfg, "patch", "/orders/1", json!([["authorization", token(&[])]]), not_reached(403, "scope_missing"));
    // Identity values that must arrive unchanged and unambiguous.
    let mut odd = claims(" admin", "");
    odd["scp"] = json!(["orders:read", "two words", "100%"]);
    odd["tid"] = json!("acme");
    add("identity-encoding", "Identity header values round-trip: spaces at either end and % are percent-encoded; a scope holding a space stays one scope.", &cfg, "GET", "/orders/1", json!([["authorization", format!("Bearer {}", g.ec.mint(&odd))]]), reached(json!({"x-auth-subject": "%20admin", "x-auth-scopes": "orders:read two%20words 100%25"})));
    let mut big = claims("x", "orders:read");
    big["sub"] = json!(1e20);
    add("subject-not-integer", "A numeric subject must be an exact integer: 1e20 and 100000000000000000001 would name one caller.", &cfg, "GET", "/orders/1", json!([["authorization", format!("Bearer {}", g.ec.mint(&big))]]), not_reached(401, "claim_invalid"));
    // An RSA key with e = 1 makes every "signature" equal to its padded
    // message: the key must never reach a backend.
    let n = URL_SAFE_NO_PAD
        .decode(g.rsa.jwk()["n"].as_str().unwrap())
        .unwrap();
    let mut e1 = g.rsa.jwk();
    e1["e"] = json!("AQ");
    e1["kid"] = json!("rsa-e1");
    let mut keys = jwks.clone();
    keys["keys"].as_array_mut().unwrap().push(e1);
    let header = r#"{"alg":"RS256","kid":"rsa-e1","typ":"at+jwt"}"#;
    let payload = claims_with(&["admin"]).to_string();
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header),
        URL_SAFE_NO_PAD.encode(&payload)
    );
    let digest = ring::digest::digest(&ring::digest::SHA256, input.as_bytes());
    let mut em = vec![0x00u8, 0x01];
    let info: [u8; 19] = [
        0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01,
        0x05, 0x00, 0x04, 0x20,
    ];
    em.resize(n.len() - info.len() - 32 - 1, 0xff);
    em.push(0x00);
    em.extend_from_slice(&info);
    em.extend_from_slice(digest.as_ref());
    let forged = format!("{input}.{}", URL_SAFE_NO_PAD.encode(&em));
    cases.push(case("seam-rsa-exponent-1", "An RSA key with exponent 1 is skipped when the key set is read, so a forged token naming it finds no key, with every backend.", cfg.clone(), keys, "GET", "/admin/x", json!([["authorization", format!("Bearer {forged}")]]), not_reached(401, "key_not_found")));
}

/// RFC 9728: the gate serves the protected-resource metadata and points its
/// challenges at it.
fn resource_cases(jwks: &Value, cases: &mut Vec<Value>) {
    let mut cfg = base_config();
    cfg["api_tokens"] = json!([]);
    cfg["resource"] =
        json!({"identifier": "https://api.example.test/orders", "name": "Orders API"});
    let metadata = "https://api.example.test/.well-known/oauth-protected-resource/orders";
    cases.push(case("resource-metadata", "With [resource], the gate serves the RFC 9728 metadata itself (the origin is not reached).", cfg.clone(), jwks.clone(), "GET", "/.well-known/oauth-protected-resource/orders", json!([]),
        json!({"status": 200, "reason": null, "origin": {"reached": false},
               "response_headers": {"content-type": "application/json", "access-control-allow-origin": "*"},
               "answer_body": {"resource": "https://api.example.test/orders", "authorization_servers": [ISSUER],
                               "scopes_supported": ["orders:read", "orders:write"], "bearer_methods_supported": ["header"],
                               "resource_name": "Orders API"}})));
    cases.push(case("resource-challenge", "With [resource], a 401 names the metadata (resource_metadata, RFC 9728 section 5.1).", cfg, jwks.clone(), "GET", "/orders/1", json!([]),
        json!({"status": 401, "reason": "token_missing", "origin": {"reached": false},
               "www_authenticate": format!("Bearer realm=\"orders\", resource_metadata=\"{metadata}\"")})));
}

/// Identity forwarding: the oauth2-proxy preset and the signed identity
/// assertion (deterministic: Ed25519 with a fixed key at the case's clock).
/// The seam: a method named by an override header or `_method`, which
/// Rails, Laravel and others route by. Judged by what the origin observes.
fn method_override_cases(g: &Gen, jwks: &Value, cases: &mut Vec<Value>) {
    let mut cfg = base_config();
    cfg["api_tokens"] = json!([]);
    cfg["routes"] = json!([
        {"path": "/orders/**", "methods": ["GET"], "scopes": {"any": ["orders:read"]}},
        {"path": "/orders/**", "methods": ["PATCH"], "scopes": {"all": ["orders:write"]}},
        {"path": "/**", "access": "anonymous"},
    ]);
    let token = |scope: &str| {
        let mut c = claims("alice", scope);
        c["tid"] = json!("acme");
        format!("Bearer {}", g.ec.mint(&c))
    };
    let not_reached = |status: u16, reason: &str| json!({"status": status, "reason": reason, "origin": {"reached": false}});
    let mut add = |name: &str,
                   description: &str,
                   config: &Value,
                   path: &str,
                   headers: Value,
                   expect: Value| {
        cases.push(case(
            &format!("seam-{name}"),
            description,
            config.clone(),
            jwks.clone(),
            "POST",
            path,
            headers,
            expect,
        ));
    };
    add("method-override-header", "A POST that names PATCH in X-HTTP-Method-Override (which Rails and Laravel route by) must meet the PATCH rule too: a token without orders:write does not reach the origin.", &cfg, "/orders/1", json!([["authorization", token("orders:read")], ["x-http-method-override", "PATCH"]]), not_reached(403, "scope_missing"));
    add("method-override-underscore", "The override header spelled with `_` (servers that read headers as CGI variables take it as the same one) and a lowercase method: no token, no PATCH.", &cfg, "/orders/1", json!([["X_HTTP_Method_Override", "patch"]]), not_reached(401, "token_missing"));
    add(
        "method-override-query",
        "A `_method` query parameter (Laravel, Symfony) names a method too.",
        &cfg,
        "/orders/1?_method=PATCH",
        json!([["authorization", token("orders:read")]]),
        not_reached(403, "scope_missing"),
    );
    add("method-override-allowed", "A token that meets the rules of both methods passes, and the origin gets the override header as sent.", &cfg, "/orders/1", json!([["authorization", token("orders:read orders:write")], ["x-http-method-override", "PATCH"]]), json!({"status": 200, "reason": null, "origin": {"reached": true, "headers": {"x-http-method-override": "PATCH", "x-auth-subject": "alice"}}}));
    let mut ignore = cfg.clone();
    ignore["policy"] = json!({"method_override": "ignore"});
    add("method-override-ignored", "With policy.method_override = \"ignore\" only the request line's method counts: this POST meets the anonymous rule.", &ignore, "/orders/1", json!([["x-http-method-override", "PATCH"]]), json!({"status": 200, "reason": null, "origin": {"reached": true, "headers": {"x-http-method-override": "PATCH", "x-auth-subject": null}}}));
}

fn assertion_cases(g: &Gen, jwks: &Value, cases: &mut Vec<Value>) {
    // RFC 8032 section 7.1 TEST 1's secret key.
    const SEED: &str = "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A";
    let mut cfg = base_config();
    cfg["api_tokens"] = json!([]);
    cfg["headers"]["preset"] = json!("edgeward+oauth2-proxy");
    cfg["assertion"] =
        json!({"audience": "https://orders.internal", "issuer": "https://gate.test", "key": SEED});
    let mut c = claims("alice", "orders:read");
    c["tid"] = json!("acme");
    c["email"] = json!("alice@example.test");
    c["groups"] = json!(["ops", "eu,west"]);
    let assertion_cfg: edgeward::config::AssertionConfig =
        serde_json::from_value(cfg["assertion"].clone()).unwrap();
    let mut signer = edgeward::assertion::Signer::new(&assertion_cfg).unwrap();
    let alice = edgeward::Identity {
        kind: edgeward::IdentityKind::Jwt,
        subject: Some("alice".into()),
        issuer: Some(ISSUER.into()),
        tenant: Some("acme".into()),
        scopes: vec!["orders:read".into()],
        roles: Vec::new(),
        permissions: Vec::new(),
        expires_at: Some(NOW + 3600),
        claims: Value::Null,
    };
    let assertion = signer.mint(&alice, NOW).unwrap();
    cases.push(case("identity-assertion", "With [assertion] and preset edgeward+oauth2-proxy, the origin gets oauth2-proxy's headers and the gate's signed assertion (the same bytes on every host); spoofed copies, _ look-alikes too, are removed.", cfg.clone(), jwks.clone(), "GET", "/orders/1",
        json!([["authorization", format!("Bearer {}", g.ec.mint(&c))], ["x-edgeward-assertion", "forged"], ["X_Auth_Request_User", "root"], ["x-auth-request-preferred-username", "root"]]),
        json!({"status": 200, "reason": null, "origin": {"reached": true, "headers": {
            "x-auth-subject": "alice", "x-auth-request-user": "alice", "x-auth-request-email": "alice@example.test",
            "x-auth-request-groups": "ops,eu%2Cwest", "x-auth-request-preferred-username": null,
            "x_auth_request_user": null, "x-edgeward-assertion": assertion}}})));
    cases.push(case("identity-assertion-jwks", "With [assertion], the gate serves its public key set itself (the origin is not reached).", cfg, jwks.clone(), "GET", "/.well-known/edgeward/jwks.json", json!([]),
        json!({"status": 200, "reason": null, "origin": {"reached": false},
               "response_headers": {"content-type": "application/jwk-set+json", "cache-control": "public, max-age=300"},
               "answer_body": serde_json::from_str::<Value>(signer.jwks()).unwrap()})));
}

/// `access = "optional"`: no token passes as anonymous; a token must be valid.
fn optional_cases(g: &Gen, jwks: &Value, cases: &mut Vec<Value>) {
    let mut cfg = base_config();
    cfg["api_tokens"] = json!([]);
    cfg["routes"] = json!([{"path": "/catalog/**", "access": "optional"}]);
    let mut c = claims("alice", "orders:read");
    c["tid"] = json!("acme");
    c["email"] = json!("alice@example.test");
    let good = g.ec.mint(&c);
    let mut expired = c.clone();
    expired["exp"] = json!(NOW - 3600);
    let expired = g.ec.mint(&expired);
    let spoof = ["x-auth-subject", "root"];
    cases.push(case("optional-no-token", "An optional route without a token: the origin is reached as anonymous, spoofed identity headers removed.", cfg.clone(), jwks.clone(), "GET", "/catalog/1", json!([spoof]),
        json!({"status": 200, "reason": null, "origin": {"reached": true, "headers": {"x-auth-subject": null}}})));
    cases.push(case("optional-valid-token", "An optional route with a valid token: the identity reaches the origin.", cfg.clone(), jwks.clone(), "GET", "/catalog/1", json!([["authorization", format!("Bearer {good}")], spoof]),
        json!({"status": 200, "reason": null, "origin": {"reached": true, "headers": {"x-auth-subject": "alice", "x-auth-tenant": "acme"}}})));
    cases.push(case(
        "optional-bad-token",
        "An optional route with an invalid token: 401, never anonymous.",
        cfg,
        jwks.clone(),
        "GET",
        "/catalog/1",
        json!([["authorization", format!("Bearer {expired}")]]),
        json!({"status": 401, "reason": "token_expired", "origin": {"reached": false}}),
    ));
}

/// ES512 (P-521): every host verifies it, natively or with the core's
/// `p521` feature. The P-521 key joins the usual key set.
fn es512_cases(
    cfg: &Value,
    jwks: &Value,
    read: &Value,
    cases: &mut Vec<Value>,
    (bearer, ok, bad_signature): (impl Fn(&str) -> Value, Value, Value),
) {
    let p521 = Signer::new(Algorithm::ES512, "ec512-1");
    let mut jwks = jwks.clone();
    jwks["keys"].as_array_mut().unwrap().push(p521.jwk());
    let token = p521.mint(read);
    let mut forged = read.clone();
    forged["sub"] = json!("mallory");
    let parts: Vec<&str> = token.split('.').collect();
    let tampered = format!(
        "{}.{}.{}",
        parts[0],
        base64::Engine::encode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            forged.to_string()
        ),
        parts[2]
    );
    for mut c in [
        case(
            "es512-valid",
            "A valid ES512 (P-521) token passes.",
            cfg.clone(),
            jwks.clone(),
            "GET",
            "/orders/1",
            bearer(&token),
            ok,
        ),
        case(
            "es512-tampered",
            "An ES512 token whose payload changed after signing is refused.",
            cfg.clone(),
            jwks,
            "GET",
            "/orders/1",
            bearer(&tampered),
            bad_signature,
        ),
    ] {
        c["needs_alg"] = json!("ES512");
        cases.push(c);
    }
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
            "A CORS preflight is no exemption without [cors]: OPTIONS matches no rule here, so the default (deny) applies and the origin is not reached.",
            cfg.clone(),
            jwks.clone(),
            "OPTIONS",
            "/orders/1",
            json!([
                ["origin", "https://app.example.test"],
                ["access-control-request-method", "POST"]
            ]),
            json!({"status": 403, "reason": "route_denied", "origin": {"reached": false}}),
        ),
    ];
    seam_cases(&g, &jwks, &mut cases);
    optional_cases(&g, &jwks, &mut cases);
    resource_cases(&jwks, &mut cases);
    let mut report_only = cfg.clone();
    report_only["mode"] = json!("report-only");
    cases.push(case("report-only", "report-only lets a denied request through, annotated.", report_only, jwks.clone(), "GET", "/orders/1", json!([]), json!({"status": 200, "reason": "token_missing", "set_headers": {"x-edgeward-decision": "deny; status=401; reason=token_missing"}})));
    es512_cases(
        &cfg,
        &jwks,
        &read,
        &mut cases,
        (bearer, ok("alice"), invalid("signature_invalid")),
    );
    assertion_cases(&g, &jwks, &mut cases);
    method_override_cases(&g, &jwks, &mut cases);
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
