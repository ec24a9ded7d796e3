//! Identity forwarding: header presets (`headers.preset`) and the signed
//! identity assertion (`[assertion]`), through the gate.

mod support;

use edgeward::{Algorithm, Decision, Gate, Outcome, Request};
use serde_json::json;
use support::*;

/// RFC 8032 section 7.1 TEST 1's secret key, base64url.
const SEED: &str = "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A";

const ROUTES: &str = r#"
[[routes]]
path = "/health"
access = "anonymous"
[[routes]]
path = "/orders/**"
"#;

fn decide(
    gate: &mut Gate,
    signer: &Signer,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    now: i64,
) -> Decision {
    let req = Request {
        method,
        path,
        headers,
    };
    for _ in 0..3 {
        match gate.check(&req, now) {
            Outcome::Decided(d) => return d,
            Outcome::NeedKeys(f) => {
                gate.ingest(&f, 200, &[], jwks(&[signer]).as_bytes(), now)
                    .unwrap();
            }
        }
    }
    panic!("no decision");
}

fn set_headers(d: &Decision) -> Vec<(String, String)> {
    match d {
        Decision::Allow(a) => a.headers_to_set.clone(),
        other => panic!("not allowed: {other:?}"),
    }
}

fn header<'a>(set: &'a [(String, String)], name: &str) -> Option<&'a str> {
    set.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

fn assertion_config(extra: &str) -> String {
    format!(
        "{ROUTES}[assertion]\naudience = \"https://orders.internal\"\nissuer = \"https://gate.test\"\nkey = \"{SEED}\"\n{extra}"
    )
}

#[test]
fn oauth2_proxy_preset_sets_its_headers_and_strips_spoofed_ones() {
    let es = Signer::new(Algorithm::ES256, "ec-1");
    let mut claims = claims("alice", "orders:read");
    claims["email"] = json!("alice@example.test");
    claims["preferred_username"] = json!("Alice Ñ");
    claims["groups"] = json!(["admins", "ops,eu"]);
    let token = es.mint(&claims);
    let auth = format!("Bearer {token}");
    let headers = [
        ("authorization", auth.as_str()),
        ("X-Auth-Request-User", "root"),
        ("x_auth_request_email", "root@evil.test"),
        ("x-auth-subject", "root"),
    ];
    for (preset, edgeward, oauth2_proxy) in [
        ("edgeward", true, false),
        ("oauth2-proxy", false, true),
        ("edgeward+oauth2-proxy", true, true),
    ] {
        let mut gate = Gate::new(config(&format!(
            "{ROUTES}[headers]\npreset = \"{preset}\"\n"
        )))
        .unwrap();
        let d = decide(&mut gate, &es, "GET", "/orders/1", &headers, NOW);
        let set = set_headers(&d);
        assert_eq!(
            header(&set, "x-auth-subject").is_some(),
            edgeward,
            "{preset}"
        );
        assert_eq!(
            header(&set, "x-auth-scopes").is_some(),
            edgeward,
            "{preset}"
        );
        if oauth2_proxy {
            assert_eq!(header(&set, "x-auth-request-user"), Some("alice"));
            assert_eq!(
                header(&set, "x-auth-request-email"),
                Some("alice@example.test")
            );
            assert_eq!(
                header(&set, "x-auth-request-preferred-username"),
                Some("Alice %C3%91")
            );
            assert_eq!(
                header(&set, "x-auth-request-groups"),
                Some("admins,ops%2Ceu")
            );
        } else {
            assert_eq!(header(&set, "x-auth-request-user"), None);
        }
        let Decision::Allow(a) = &d else {
            unreachable!()
        };
        let forwarded = a.forwarded_headers(&headers);
        // Spoofed copies of every active family are gone; only the gate's remain.
        for (k, v) in &forwarded {
            assert!(
                !v.contains("root"),
                "{preset}: spoofed {k}: {v} reached the origin"
            );
        }
    }
}

#[test]
fn preset_headers_collide_with_claim_headers_at_load() {
    let e = edgeward::Config::parse(
        "[headers]\npreset = \"oauth2-proxy\"\nclaims = { mail = \"x-auth-request-email\" }\n",
    )
    .unwrap_err();
    assert!(
        e.0.iter()
            .any(|e| e.field == "headers.claims.mail" && e.message.contains("headers.preset")),
        "{e}"
    );
    let e = edgeward::Config::parse("[headers]\npreset = \"oauth2_proxy\"\n").unwrap_err();
    assert_eq!(e.0[0].field, "headers.preset");
}

#[test]
fn the_worker_keeps_the_claims_the_preset_reads() {
    let es = Signer::new(Algorithm::ES256, "ec-1");
    let mut claims = claims("alice", "orders:read");
    claims["email"] = json!("alice@example.test");
    let auth = format!("Bearer {}", es.mint(&claims));
    let mut gate = Gate::new(config(&format!(
        "{ROUTES}[headers]\npreset = \"oauth2-proxy\"\n"
    )))
    .unwrap();
    gate.keep_only_needed_claims();
    let d = decide(
        &mut gate,
        &es,
        "GET",
        "/orders/1",
        &[("authorization", &auth)],
        NOW,
    );
    assert_eq!(
        header(&set_headers(&d), "x-auth-request-email"),
        Some("alice@example.test")
    );
}

#[test]
fn allowed_requests_carry_an_assertion_the_served_jwks_verifies() {
    let es = Signer::new(Algorithm::ES256, "ec-1");
    let mut gate = Gate::new(config(&assertion_config(""))).unwrap();
    let token = es.mint(&claims("alice", "orders:read"));
    let auth = format!("Bearer {token}");
    let spoofed = [
        ("authorization", auth.as_str()),
        ("X_Edgeward_Assertion", "forged"),
    ];
    let d = decide(&mut gate, &es, "GET", "/orders/1", &spoofed, NOW);
    let Decision::Allow(a) = &d else {
        panic!("{d:?}")
    };
    let forwarded = a.forwarded_headers(&spoofed);
    let sent: Vec<_> = forwarded
        .iter()
        .filter(|(k, _)| edgeward::header_key(k) == "x-edgeward-assertion")
        .collect();
    assert_eq!(sent.len(), 1, "{forwarded:?}");
    let jwt = sent[0].1;

    let Decision::Answer(jwks) = decide(
        &mut gate,
        &es,
        "GET",
        "/.well-known/edgeward/jwks.json",
        &[],
        NOW,
    ) else {
        panic!("the key set is not served")
    };
    assert_eq!(jwks.status, 200);
    assert!(jwks
        .headers
        .contains(&("cache-control".into(), "public, max-age=300".into())));
    let claims = edgeward::assertion::verify(
        jwt,
        &jwks.body,
        "https://gate.test",
        "https://orders.internal",
        NOW,
        0,
    )
    .unwrap();
    assert_eq!(claims["sub"], "alice");
    assert_eq!(claims["idp_iss"], ISSUER);
    assert_eq!(claims["scope"], "orders:read");
    assert_eq!(claims["exp"], NOW + 60);

    // The same identity a second later: the same assertion (no new signature).
    let d2 = decide(
        &mut gate,
        &es,
        "GET",
        "/orders/2",
        &[("authorization", &auth)],
        NOW + 1,
    );
    assert_eq!(header(&set_headers(&d2), "x-edgeward-assertion"), Some(jwt));

    // Anonymous requests get none, and a spoofed one is still stripped.
    let d = decide(
        &mut gate,
        &es,
        "GET",
        "/health",
        &[("x-edgeward-assertion", "forged")],
        NOW,
    );
    let Decision::Allow(a) = &d else {
        panic!("{d:?}")
    };
    assert!(a.strips("x-edgeward-assertion"));
    assert_eq!(header(&a.headers_to_set, "x-edgeward-assertion"), None);
}

#[test]
fn report_only_refusals_get_no_assertion() {
    let es = Signer::new(Algorithm::ES256, "ec-1");
    let text = format!(
        "mode = \"report-only\"\n[[issuers]]\nissuer = \"{ISSUER}\"\njwks_uri = \"{JWKS_URI}\"\naudiences = [\"{AUDIENCE}\"]\n{}",
        assertion_config("").replace(
            "path = \"/orders/**\"",
            "path = \"/orders/**\"\nscopes.all = [\"orders:write\"]"
        )
    );
    let mut gate = Gate::new(edgeward::Config::parse(&text).unwrap()).unwrap();
    let auth = format!("Bearer {}", es.mint(&claims("alice", "orders:read")));
    let d = decide(
        &mut gate,
        &es,
        "GET",
        "/orders/1",
        &[("authorization", &auth)],
        NOW,
    );
    assert_eq!(d.reason().map(|r| r.code()), Some("scope_missing"));
    assert_eq!(header(&set_headers(&d), "x-edgeward-assertion"), None);
}

#[test]
fn assertion_settings_are_checked_at_load() {
    for (extra, field) in [
        ("ttl = 3600", "assertion.ttl"),
        ("ttl = 1", "assertion.ttl"),
        ("jwks_path = \"jwks.json\"", "assertion.jwks_path"),
        ("jwks_path = \"/k?x=1\"", "assertion.jwks_path"),
        ("header = \"X-Assertion\"", "assertion.header"),
        ("header = \"x-auth-subject\"", "assertion.header"),
        ("kid = \"a b\"", "assertion.kid"),
    ] {
        let text = format!("{}\n{extra}\n", assertion_config(""));
        let e = edgeward::Config::parse(&text).unwrap_err();
        assert!(e.0.iter().any(|e| e.field == field), "{extra}: {e}");
    }
    for (key, why) in [("c2hvcnQ", "32 bytes"), ("not*base64", "base64url")] {
        let text = assertion_config("").replace(SEED, key);
        let e = edgeward::Config::parse(&text).unwrap_err();
        assert_eq!(e.0[0].field, "assertion.key");
        assert!(e.0[0].message.contains(why), "{e}");
    }
    let text = format!("{ROUTES}[assertion]\nissuer = \"https://gate.test\"\nkey = \"{SEED}\"\n");
    assert_eq!(
        edgeward::Config::parse(&text).unwrap_err().0[0].field,
        "assertion"
    );
    // Without a key the configuration reads (a host merges the secret in),
    // but no gate is built from it.
    let text = format!("{ROUTES}[assertion]\naudience = \"o\"\nissuer = \"g\"\n");
    let cfg = edgeward::Config::parse(&text).unwrap();
    let Err(e) = Gate::new(cfg) else {
        panic!("a gate without its key")
    };
    assert_eq!(e.0[0].field, "assertion.key");
    // The key is never written back out, nor printed.
    let cfg = edgeward::Config::parse(&assertion_config("")).unwrap();
    assert!(!serde_json::to_string(&cfg).unwrap().contains(SEED));
    assert!(!format!("{cfg:?}").contains(SEED));
}
