//! End-to-end behaviour of the core: a simulated IdP answers the gate's key
//! fetches, a fake clock drives the cache.

mod support;

use edgeward::{
    Algorithm, Decision, FetchKind, Gate, IdentityKind, KeyFetch, Outcome, PublicKey, Reason,
    Request, RingBackend, SignatureBackend,
};
use serde_json::json;
use std::cell::Cell;
use std::collections::HashMap;
use std::rc::Rc;
use support::*;

/// status, headers, body.
type Response = (u16, Vec<(String, String)>, String);

/// A scripted IdP: URL → response, with a hit counter.
#[derive(Default)]
struct Idp {
    routes: HashMap<String, Response>,
    hits: HashMap<String, usize>,
    down: bool,
}

impl Idp {
    fn serving(jwks_body: String) -> Idp {
        let mut idp = Idp::default();
        idp.set(
            JWKS_URI,
            200,
            &[("cache-control", "public, max-age=600")],
            jwks_body,
        );
        idp
    }
    fn set(&mut self, url: &str, status: u16, headers: &[(&str, &str)], body: String) {
        let headers = headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        self.routes.insert(url.into(), (status, headers, body));
    }
    fn hits(&self, url: &str) -> usize {
        self.hits.get(url).copied().unwrap_or(0)
    }
    fn answer<B: SignatureBackend>(&mut self, gate: &mut Gate<B>, fetch: &KeyFetch, now: i64) {
        assert!(
            fetch.start,
            "a single-threaded host is always the one to fetch"
        );
        *self.hits.entry(fetch.url.clone()).or_default() += 1;
        match self.routes.get(&fetch.url) {
            Some((status, headers, body)) if !self.down => {
                let h: Vec<(&str, &str)> = headers
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.as_str()))
                    .collect();
                let _ = gate.ingest(fetch, *status, &h, body.as_bytes(), now);
            }
            _ => gate.fetch_failed(fetch, "connection refused", now),
        }
    }
}

fn run(
    gate: &mut Gate,
    idp: &mut Idp,
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
    for _ in 0..4 {
        match gate.check(&req, now) {
            Outcome::Decided(d) => return d,
            Outcome::NeedKeys(f) => idp.answer(gate, &f, now),
        }
    }
    panic!("the gate kept asking for keys");
}

fn get(gate: &mut Gate, idp: &mut Idp, token: &str, now: i64) -> Decision {
    let auth = format!("Bearer {token}");
    run(
        gate,
        idp,
        "GET",
        "/orders/1",
        &[("authorization", &auth)],
        now,
    )
}

const ROUTES: &str = r#"
[[routes]]
path = "/health"
access = "anonymous"
[[routes]]
path = "/orders/**"
methods = ["GET"]
scopes.any = ["orders:read", "orders:admin"]
[[routes]]
path = "/orders/**"
methods = ["POST", "DELETE"]
scopes.all = ["orders:write"]
[[routes]]
path = "/users/{user}/**"
owner = { user = "sub" }
[[routes]]
path = "/admin/**"
roles.all = ["admin"]
[[routes]]
path = "/open/**"
"#;

fn reason(d: &Decision) -> Option<&'static str> {
    d.reason().map(Reason::code)
}

fn setup(alg: Algorithm) -> (Gate, Idp, Signer) {
    let s = Signer::new(alg, "k1");
    let gate = Gate::new(config(ROUTES)).unwrap();
    let idp = Idp::serving(jwks(&[&s]));
    (gate, idp, s)
}

#[test]
fn every_algorithm_verifies_end_to_end() {
    for alg in [
        Algorithm::RS256,
        Algorithm::RS384,
        Algorithm::RS512,
        Algorithm::PS256,
        Algorithm::PS384,
        Algorithm::PS512,
        Algorithm::ES256,
        Algorithm::ES384,
        Algorithm::EdDSA,
    ] {
        let (mut gate, mut idp, s) = setup(alg);
        let t = s.mint(&claims("alice", "orders:read"));
        let d = get(&mut gate, &mut idp, &t, NOW);
        let Decision::Allow(a) = &d else {
            panic!("{alg:?}: {d:?}")
        };
        assert_eq!(a.identity.kind, IdentityKind::Jwt);
        assert_eq!(a.identity.subject.as_deref(), Some("alice"));
        let set: HashMap<_, _> = a.headers_to_set.iter().cloned().collect();
        assert_eq!(set["x-auth-subject"], "alice");
        assert_eq!(set["x-auth-issuer"], ISSUER);
        assert_eq!(set["x-auth-scopes"], "orders:read");
        // Tampering with the payload breaks the signature.
        let mut parts: Vec<String> = t.split('.').map(String::from).collect();
        let forged = json!({"iss": ISSUER, "aud": AUDIENCE, "sub": "mallory", "scope": "orders:read", "exp": NOW + 3600});
        parts[1] = base64::Engine::encode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            forged.to_string(),
        );
        let d = get(&mut gate, &mut idp, &parts.join("."), NOW);
        assert_eq!(reason(&d), Some("signature_invalid"), "{alg:?}");
        assert_eq!(d.status(), 401);
    }
}

#[test]
fn spoofed_identity_headers_are_removed() {
    let (mut gate, mut idp, s) = setup(Algorithm::ES256);
    let t = s.mint(&claims("alice", "orders:read"));
    let auth = format!("Bearer {t}");
    let d = run(
        &mut gate,
        &mut idp,
        "GET",
        "/orders/1",
        &[("authorization", &auth), ("X-Auth-Subject", "root")],
        NOW,
    );
    let Decision::Allow(a) = d else { panic!() };
    for h in [
        "x-auth-subject",
        "x-auth-issuer",
        "x-auth-tenant",
        "x-auth-scopes",
        "x-edgeward-decision",
    ] {
        assert!(
            a.headers_to_remove.iter().any(|r| r == h),
            "{h} not stripped"
        );
    }
    // Anonymous routes strip them too.
    let d = run(
        &mut gate,
        &mut idp,
        "GET",
        "/health",
        &[("x-auth-subject", "root")],
        NOW,
    );
    let Decision::Allow(a) = d else { panic!() };
    assert!(a.headers_to_set.is_empty());
    assert!(a.headers_to_remove.iter().any(|r| r == "x-auth-subject"));
}

#[test]
fn rfc6750_responses() {
    let (mut gate, mut idp, s) = setup(Algorithm::RS256);
    let d = run(&mut gate, &mut idp, "GET", "/orders/1", &[], NOW);
    let Decision::Deny(deny) = &d else { panic!() };
    assert_eq!((deny.status, deny.reason), (401, Reason::TokenMissing));
    assert_eq!(
        deny.www_authenticate.as_deref(),
        Some("Bearer realm=\"api\"")
    );
    let d = run(
        &mut gate,
        &mut idp,
        "GET",
        "/orders/1",
        &[("authorization", "Bearer not-a-jwt.x")],
        NOW,
    );
    assert_eq!(reason(&d), Some("token_malformed"));
    let t = s.mint(&claims("alice", "orders:read"));
    let a = format!("Bearer {t}");
    let d = run(
        &mut gate,
        &mut idp,
        "GET",
        "/orders/1",
        &[("authorization", &a), ("authorization", &a)],
        NOW,
    );
    assert_eq!((d.status(), reason(&d)), (400, Some("multiple_tokens")));
    let Decision::Deny(deny) = d else { panic!() };
    assert!(deny
        .www_authenticate
        .unwrap()
        .contains("error=\"invalid_request\""));
    // 403 names the scopes that would do.
    let d = run(
        &mut gate,
        &mut idp,
        "POST",
        "/orders/1",
        &[("authorization", &a)],
        NOW,
    );
    let Decision::Deny(deny) = d else { panic!() };
    assert_eq!((deny.status, deny.reason), (403, Reason::ScopeMissing));
    assert!(deny
        .www_authenticate
        .unwrap()
        .ends_with("scope=\"orders:write\""));
    // The body never carries the token.
    assert!(!deny.body.contains(&t[..20]));
}

#[test]
fn claim_failures() {
    let (mut gate, mut idp, s) = setup(Algorithm::ES256);
    let mut c = claims("a", "orders:read");
    c["exp"] = json!(NOW - 61);
    assert_eq!(
        reason(&get(&mut gate, &mut idp, &s.mint(&c), NOW)),
        Some("token_expired")
    );
    let mut c = claims("a", "orders:read");
    c["aud"] = json!("api://other");
    assert_eq!(
        reason(&get(&mut gate, &mut idp, &s.mint(&c), NOW)),
        Some("audience_invalid")
    );
    let mut c = claims("a", "orders:read");
    c["iss"] = json!("https://evil.test/");
    assert_eq!(
        reason(&get(&mut gate, &mut idp, &s.mint(&c), NOW)),
        Some("issuer_unknown")
    );
    let mut c = claims("a", "orders:read");
    c["iss"] = json!([ISSUER]);
    assert_eq!(
        reason(&get(&mut gate, &mut idp, &s.mint(&c), NOW)),
        Some("issuer_unknown")
    );
    let mut c = claims("a", "orders:read");
    c["exp"] = json!("9999999999");
    assert_eq!(
        reason(&get(&mut gate, &mut idp, &s.mint(&c), NOW)),
        Some("claim_invalid")
    );
    let mut c = claims("a", "orders:read");
    c.as_object_mut().unwrap().remove("exp");
    assert_eq!(
        reason(&get(&mut gate, &mut idp, &s.mint(&c), NOW)),
        Some("claim_missing")
    );
    let mut c = claims("a", "orders:read");
    c["nbf"] = json!(NOW + 600);
    assert_eq!(
        reason(&get(&mut gate, &mut idp, &s.mint(&c), NOW)),
        Some("token_not_yet_valid")
    );
}

#[test]
fn header_attacks_are_refused() {
    let (mut gate, mut idp, s) = setup(Algorithm::RS256);
    let c = claims("a", "orders:read");
    for (extra, want) in [
        (json!({"crit": ["exp"], "exp": 1}), "header_unsupported"),
        (json!({"b64": false, "crit": ["b64"]}), "header_unsupported"),
        (json!({"cty": "JWT"}), "header_unsupported"),
        (json!({"alg": "none"}), "alg_not_allowed"),
    ] {
        let t = s.mint_with(extra.clone(), &c);
        assert_eq!(
            reason(&get(&mut gate, &mut idp, &t, NOW)),
            Some(want),
            "{extra}"
        );
    }
    // jku/x5u pointing elsewhere are ignored: the key comes from the issuer only.
    let t = s.mint_with(
        json!({"jku": "https://evil.test/jwks", "x5u": "https://evil.test/c"}),
        &c,
    );
    assert!(get(&mut gate, &mut idp, &t, NOW).is_allowed());
    assert_eq!(idp.hits("https://evil.test/jwks"), 0);
    // An embedded jwk is never used: the attacker's EC key is ignored and the
    // issuer's key named k1 (RSA) cannot verify ES256.
    let evil = Signer::random(Algorithm::ES256, "k1");
    let t = evil.mint_with(json!({"jwk": evil.jwk()}), &c);
    assert_eq!(
        reason(&get(&mut gate, &mut idp, &t, NOW)),
        Some("key_unusable")
    );
    // Same with an EC issuer key: the signature is checked against the issuer's key only.
    let (mut gate, mut idp, _) = setup(Algorithm::ES256);
    assert_eq!(
        reason(&get(&mut gate, &mut idp, &t, NOW)),
        Some("signature_invalid")
    );
}

#[test]
fn algorithm_confusion_hs256_with_public_key_is_refused() {
    let (mut gate, mut idp, s) = setup(Algorithm::RS256);
    // The classic attack: HMAC-sign with the RSA public key as the secret.
    let secret = s.jwk()["n"].as_str().unwrap().to_string();
    let header = json!({"alg": "HS256", "kid": "k1"}).to_string();
    let t = support::sign_raw(
        Algorithm::HS256,
        secret.as_bytes(),
        &header,
        &claims("a", "orders:read").to_string(),
    );
    assert_eq!(
        reason(&get(&mut gate, &mut idp, &t, NOW)),
        Some("alg_not_allowed")
    );
    // Even when HS256 is allowed for the issuer, JWKS keys never serve HMAC.
    let cfg = ROUTES.to_string();
    let text = format!("[[issuers]]\nissuer = \"{ISSUER}\"\njwks_uri = \"{JWKS_URI}\"\naudiences = [\"{AUDIENCE}\"]\nalgorithms = [\"RS256\", \"HS256\"]\nhmac_secret = \"0123456789abcdef0123456789abcdef\"\n{cfg}");
    let mut gate = Gate::new(edgeward::Config::parse(&text).unwrap()).unwrap();
    assert_eq!(
        reason(&get(&mut gate, &mut idp, &t, NOW)),
        Some("signature_invalid")
    );
    let good = support::sign_raw(
        Algorithm::HS256,
        b"0123456789abcdef0123456789abcdef",
        &header,
        &claims("a", "orders:read").to_string(),
    );
    assert!(get(&mut gate, &mut idp, &good, NOW).is_allowed());
}

#[test]
fn key_selection_rules() {
    let rsa = Signer::new(Algorithm::RS256, "rsa");
    let ec = Signer::new(Algorithm::ES256, "ec");
    let weak = Signer::weak_rsa("weak");
    let mut gate = Gate::new(config(ROUTES)).unwrap();
    let mut idp = Idp::serving(jwks(&[&rsa, &ec, &weak]));
    let c = claims("a", "orders:read");
    assert!(get(&mut gate, &mut idp, &rsa.mint(&c), NOW).is_allowed());
    // ES256 header naming the RSA key: the key cannot serve that alg.
    let t = ec.mint_with(json!({"kid": "rsa"}), &c);
    assert_eq!(
        reason(&get(&mut gate, &mut idp, &t, NOW)),
        Some("key_unusable")
    );
    // The 1024-bit key was skipped at ingest.
    assert_eq!(
        reason(&get(&mut gate, &mut idp, &weak.mint(&c), NOW)),
        Some("key_not_found")
    );
    // No kid: only keys whose type fits the alg are tried.
    let t = ec.mint_with(json!({"kid": null}), &c);
    assert!(get(&mut gate, &mut idp, &t, NOW).is_allowed());
    // DER-encoded ECDSA signatures are refused (JWS uses r||s).
    let t = ec.mint(&c);
    let (input, sig) = t.rsplit_once('.').unwrap();
    let raw =
        base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, sig).unwrap();
    let der = der_ecdsa(&raw);
    let t = format!(
        "{input}.{}",
        base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, der)
    );
    assert_eq!(
        reason(&get(&mut gate, &mut idp, &t, NOW)),
        Some("signature_invalid")
    );
}

fn der_ecdsa(rs: &[u8]) -> Vec<u8> {
    let int = |b: &[u8]| {
        let b: Vec<u8> = b.iter().copied().skip_while(|&x| x == 0).collect();
        let mut v = if b[0] & 0x80 != 0 { vec![0] } else { vec![] };
        v.extend(b);
        let mut out = vec![0x02, v.len() as u8];
        out.extend(v);
        out
    };
    let (r, s) = rs.split_at(rs.len() / 2);
    let body = [int(r), int(s)].concat();
    let mut out = vec![0x30, body.len() as u8];
    out.extend(body);
    out
}

#[test]
fn rotation_unknown_kid_refetches_once_per_cooldown() {
    let old = Signer::new(Algorithm::ES256, "old");
    let new = Signer::random(Algorithm::ES256, "new");
    let mut gate = Gate::new(config(ROUTES)).unwrap();
    let mut idp = Idp::serving(jwks(&[&old]));
    let c = claims("a", "orders:read");
    assert!(get(&mut gate, &mut idp, &old.mint(&c), NOW).is_allowed());
    assert_eq!(idp.hits(JWKS_URI), 1);
    // The IdP rotates; a token with the new kid arrives after the cooldown.
    idp.set(JWKS_URI, 200, &[], jwks(&[&old, &new]));
    assert!(get(&mut gate, &mut idp, &new.mint(&c), NOW + 31).is_allowed());
    assert_eq!(idp.hits(JWKS_URI), 2);
    // A flood of random kids: at most one fetch per cooldown window.
    for i in 0..200 {
        let t = old.mint_with(json!({"kid": format!("random-{i}")}), &c);
        assert_eq!(
            reason(&get(&mut gate, &mut idp, &t, NOW + 62)),
            Some("key_not_found")
        );
    }
    assert_eq!(idp.hits(JWKS_URI), 3);
    for i in 0..50 {
        let t = old.mint_with(json!({"kid": format!("again-{i}")}), &c);
        let _ = get(&mut gate, &mut idp, &t, NOW + 62 + 29);
    }
    assert_eq!(idp.hits(JWKS_URI), 3);
}

#[test]
fn single_flight_across_concurrent_requests() {
    let s = Signer::new(Algorithm::ES256, "k1");
    let mut gate = Gate::new(config(ROUTES)).unwrap();
    let t = format!("Bearer {}", s.mint(&claims("a", "orders:read")));
    let h = [("authorization", t.as_str())];
    let req = Request {
        method: "GET",
        path: "/orders/1",
        headers: &h,
    };
    let first = match gate.check(&req, NOW) {
        Outcome::NeedKeys(f) => f,
        o => panic!("{o:?}"),
    };
    assert!(first.start);
    // Requests arriving while the fetch is out join it rather than fetching.
    for _ in 0..10 {
        match gate.check(&req, NOW) {
            Outcome::NeedKeys(f) => {
                assert!(!f.start);
                assert_eq!(f.flight, first.flight);
            }
            o => panic!("{o:?}"),
        }
    }
    // At fetch_timeout the flight is still the host's to report: a waiter
    // joins it rather than racing the host's own abort with a second fetch.
    match gate.check(&req, NOW + 10) {
        Outcome::NeedKeys(f) => assert!(!f.start && f.flight == first.flight),
        o => panic!("{o:?}"),
    }
    // A flight that is never reported is counted lost shortly after.
    match gate.check(&req, NOW + 12) {
        Outcome::NeedKeys(f) => assert!(f.start && f.flight != first.flight),
        o => panic!("{o:?}"),
    }
}

#[test]
fn a_hung_idp_costs_one_fetch_and_every_waiter_is_answered_at_the_timeout() {
    let s = Signer::new(Algorithm::RS256, "k1");
    let mut gate = Gate::new(config(ROUTES)).unwrap();
    let t = format!("Bearer {}", s.mint(&claims("a", "orders:read")));
    let h = [("authorization", t.as_str())];
    let req = Request {
        method: "GET",
        path: "/orders/1",
        headers: &h,
    };
    let Outcome::NeedKeys(first) = gate.check(&req, NOW) else {
        panic!()
    };
    assert!(first.start);
    // Five requests wait, polling, while the IdP hangs.
    let mut starts = 1;
    for second in 0..=10 {
        for _ in 0..5 {
            match gate.check(&req, NOW + second) {
                Outcome::NeedKeys(f) => starts += usize::from(f.start),
                o => panic!("decided before the fetch ended: {o:?}"),
            }
        }
    }
    assert_eq!(starts, 1, "a waiter started a second fetch");
    // The host aborts its fetch at fetch_timeout and says so: every waiter
    // is answered at once, 503, with no new fetch.
    gate.fetch_failed(&first, "no response within 10000 ms", NOW + 10);
    for _ in 0..5 {
        match gate.check(&req, NOW + 10) {
            Outcome::Decided(d) => assert_eq!(d.status(), 503),
            o => panic!("{o:?}"),
        }
    }
}

#[test]
fn discovery_then_jwks() {
    let s = Signer::new(Algorithm::RS256, "k1");
    let text = format!("[[issuers]]\nissuer = \"https://login.test/tenant/v2.0\"\naudiences = [\"{AUDIENCE}\"]\n{ROUTES}");
    let mut gate = Gate::new(edgeward::Config::parse(&text).unwrap()).unwrap();
    let mut idp = Idp::default();
    let disco = "https://login.test/tenant/v2.0/.well-known/openid-configuration";
    idp.set(
        disco,
        200,
        &[],
        json!({"issuer": "https://login.test/tenant/v2.0", "jwks_uri": "https://login.test/keys"})
            .to_string(),
    );
    idp.set("https://login.test/keys", 200, &[], jwks(&[&s]));
    let mut c = claims("a", "orders:read");
    c["iss"] = json!("https://login.test/tenant/v2.0");
    assert!(get(&mut gate, &mut idp, &s.mint(&c), NOW).is_allowed());
    assert_eq!(
        (idp.hits(disco), idp.hits("https://login.test/keys")),
        (1, 1)
    );
    assert_eq!(
        gate.keys().jwks_uri("https://login.test/tenant/v2.0"),
        Some("https://login.test/keys")
    );
}

#[test]
fn discovery_with_another_issuer_is_refused() {
    let s = Signer::new(Algorithm::RS256, "k1");
    let text = format!(
        "[[issuers]]\nissuer = \"https://login.test/a\"\naudiences = [\"{AUDIENCE}\"]\n{ROUTES}"
    );
    let mut gate = Gate::new(edgeward::Config::parse(&text).unwrap()).unwrap();
    let mut idp = Idp::default();
    idp.set(
        "https://login.test/a/.well-known/openid-configuration",
        200,
        &[],
        json!({"issuer": "https://login.test/b", "jwks_uri": "https://login.test/keys"})
            .to_string(),
    );
    idp.set("https://login.test/keys", 200, &[], jwks(&[&s]));
    let mut c = claims("a", "orders:read");
    c["iss"] = json!("https://login.test/a");
    let d = get(&mut gate, &mut idp, &s.mint(&c), NOW);
    assert_eq!((d.status(), reason(&d)), (503, Some("keys_unavailable")));
    assert!(gate
        .keys()
        .last_error("https://login.test/a")
        .unwrap()
        .contains("expected"));
    assert_eq!(idp.hits("https://login.test/keys"), 0);
}

#[test]
fn outage_is_served_from_stale_keys_then_503() {
    let s = Signer::new(Algorithm::ES256, "k1");
    let mut gate = Gate::new(config(ROUTES)).unwrap();
    let mut idp = Idp::serving(jwks(&[&s]));
    let c = |now: i64| json!({"iss": ISSUER, "aud": AUDIENCE, "sub": "a", "scope": "orders:read", "exp": now + 3600});
    assert!(get(&mut gate, &mut idp, &s.mint(&c(NOW)), NOW).is_allowed());
    assert_eq!(
        gate.keys().freshness(ISSUER, NOW + 599),
        edgeward::Freshness::Fresh
    );
    assert_eq!(
        gate.keys().freshness(ISSUER, NOW + 600),
        edgeward::Freshness::Stale
    );
    // Stale: the request is served, and a background refresh is due.
    idp.down = true;
    let later = NOW + 700;
    assert!(get(&mut gate, &mut idp, &s.mint(&c(later)), later).is_allowed());
    let due = gate.due_refreshes(later);
    assert_eq!(due.len(), 1);
    assert_eq!(due[0].kind, FetchKind::Jwks);
    assert!(gate.due_refreshes(later).is_empty(), "single flight");
    idp.answer(&mut gate, &due[0], later);
    // Failed refresh: keys kept, no retry within the cooldown.
    assert!(gate.due_refreshes(later + 5).is_empty());
    assert!(get(&mut gate, &mut idp, &s.mint(&c(later + 5)), later + 5).is_allowed());
    // Past stale_if_error (86400 s after freshness), nothing can serve: 503.
    let dead = NOW + 600 + 86_400;
    let d = get(&mut gate, &mut idp, &s.mint(&c(dead)), dead);
    assert_eq!((d.status(), reason(&d)), (503, Some("keys_unavailable")));
    let Decision::Deny(deny) = d else { panic!() };
    assert!(deny.headers().iter().any(|(k, _)| *k == "retry-after"));
    // The IdP comes back: the next check after the cooldown fetches again.
    idp.down = false;
    assert!(get(&mut gate, &mut idp, &s.mint(&c(dead + 31)), dead + 31).is_allowed());
}

#[test]
fn never_fetched_and_idp_down_is_503_not_401() {
    let s = Signer::new(Algorithm::ES256, "k1");
    let mut gate = Gate::new(config(ROUTES)).unwrap();
    let mut idp = Idp::serving(jwks(&[&s]));
    idp.down = true;
    let d = get(
        &mut gate,
        &mut idp,
        &s.mint(&claims("a", "orders:read")),
        NOW,
    );
    assert_eq!((d.status(), reason(&d)), (503, Some("keys_unavailable")));
}

#[test]
fn bad_key_set_responses_keep_the_old_keys() {
    let s = Signer::new(Algorithm::ES256, "k1");
    let c = claims("a", "orders:read");
    for (status, body) in [
        (500, jwks(&[&s])),
        (200, "<html>oops</html>".to_string()),
        (200, json!({"keys": []}).to_string()),
        (
            200,
            format!("{{\"keys\":[],\"pad\":\"{}\"}}", "x".repeat(300 * 1024)),
        ),
    ] {
        let mut gate = Gate::new(config(ROUTES)).unwrap();
        let mut idp = Idp::serving(jwks(&[&s]));
        assert!(get(&mut gate, &mut idp, &s.mint(&c), NOW).is_allowed());
        idp.set(JWKS_URI, status, &[], body);
        let due = gate.due_refreshes(NOW + 601);
        let fetch = &due[0];
        let (st, _, b) = idp.routes[JWKS_URI].clone();
        assert!(gate
            .ingest(fetch, st, &[], b.as_bytes(), NOW + 601)
            .is_err());
        assert_eq!(gate.keys().keys(ISSUER).len(), 1);
        assert!(get(&mut gate, &mut idp, &s.mint(&c), NOW + 602).is_allowed());
    }
}

#[test]
fn cache_control_is_clamped() {
    let s = Signer::new(Algorithm::ES256, "k1");
    for (cc, ttl) in [
        ("max-age=5", 60),
        ("max-age=999999", 86_400),
        ("no-store", 60),
        ("public, max-age=1200", 1200),
        ("", 600),
    ] {
        let mut gate = Gate::new(config(ROUTES)).unwrap();
        let fetch = match gate.check(
            &Request {
                method: "GET",
                path: "/orders/1",
                headers: &[(
                    "authorization",
                    &format!("Bearer {}", s.mint(&claims("a", "orders:read"))),
                )],
            },
            NOW,
        ) {
            Outcome::NeedKeys(f) => f,
            o => panic!("{o:?}"),
        };
        let report = gate
            .ingest(
                &fetch,
                200,
                &[("Cache-Control", cc)],
                jwks(&[&s]).as_bytes(),
                NOW,
            )
            .unwrap();
        assert_eq!(report.ttl, ttl, "{cc}");
    }
}

#[test]
fn snapshot_round_trip_and_shared_cooldown() {
    let s = Signer::new(Algorithm::RS256, "k1");
    let mut a = Gate::new(config(ROUTES)).unwrap();
    let mut idp = Idp::serving(jwks(&[&s]));
    let c = claims("a", "orders:read");
    assert!(get(&mut a, &mut idp, &s.mint(&c), NOW).is_allowed());
    let snap = a.keys().snapshot(ISSUER).unwrap();
    assert!(snap.starts_with("{\"v\":1,"), "{snap}");
    // A fresh instance adopts the snapshot and verifies with no fetch.
    let mut b = Gate::new(config(ROUTES)).unwrap();
    assert!(b.keys_mut().restore(&snap).unwrap());
    assert!(get(&mut b, &mut idp, &s.mint(&c), NOW + 1).is_allowed());
    assert_eq!(idp.hits(JWKS_URI), 1);
    assert_eq!(b.keys().snapshot(ISSUER).unwrap(), snap);
    // An older snapshot is not adopted over newer keys.
    assert!(!b.keys_mut().restore(&snap).unwrap());
    // Version and issuer are checked.
    assert!(b
        .keys_mut()
        .restore(&snap.replace("\"v\":1", "\"v\":2"))
        .is_err());
    assert!(b
        .keys_mut()
        .restore(&snap.replace(ISSUER, "https://other.test/"))
        .is_err());
    assert!(b.keys_mut().restore("garbage").is_err());
    // The unknown-kid cooldown travels with the snapshot.
    let t = s.mint_with(json!({"kid": "nope"}), &c);
    let _ = get(&mut a, &mut idp, &t, NOW + 40);
    assert_eq!(idp.hits(JWKS_URI), 2);
    let snap = a.keys().snapshot(ISSUER).unwrap();
    let mut fresh = Gate::new(config(ROUTES)).unwrap();
    fresh.keys_mut().restore(&snap).unwrap();
    let _ = get(
        &mut fresh,
        &mut idp,
        &s.mint_with(json!({"kid": "nope2"}), &c),
        NOW + 45,
    );
    assert_eq!(
        idp.hits(JWKS_URI),
        2,
        "the cooldown from the snapshot was ignored"
    );
}

/// `rehearse` runs a check's keyless steps and keeps nothing: no key fetch
/// starts, no verdict or refusal is cached, and every later check decides
/// as on a gate that never rehearsed.
#[test]
fn rehearsal_keeps_nothing() {
    use edgeward::CacheUse;
    let (mut gate, mut idp, s) = setup(Algorithm::RS256);
    let (mut plain, _, _) = setup(Algorithm::RS256);
    let good = s.mint(&claims("a", "orders:read"));
    let mut expired = claims("a", "orders:read");
    expired["exp"] = json!(NOW - 3600);
    let expired = s.mint(&expired);
    let forged = format!("{}x", &good[..good.len() - 1]);
    let auths: Vec<String> = [
        good.as_str(),
        expired.as_str(),
        forged.as_str(),
        "a.b.c",
        "nodots",
    ]
    .iter()
    .map(|t| format!("Bearer {t}"))
    .collect();
    let paths = [
        "/orders/1",
        "/health",
        "/admin/x",
        "/nowhere",
        "/orders/%zz",
    ];
    // Every path with every token, and with none: (path, token, headers).
    type Case<'a> = (&'a str, Option<&'a str>, Vec<(&'a str, &'a str)>);
    let cases: Vec<Case> = paths
        .iter()
        .flat_map(|path| {
            let with = auths.iter().map(|a| Some(a.as_str()));
            with.chain([None]).map(move |auth| {
                let headers = auth.map(|a| vec![("authorization", a)]).unwrap_or_default();
                (*path, auth, headers)
            })
        })
        .collect();
    let request = |path, headers| Request {
        method: "GET",
        path,
        headers,
    };
    // No keys yet: rehearsing every request starts no fetch.
    for (path, _, headers) in &cases {
        gate.rehearse(&request(path, headers), NOW);
    }
    let first = [("authorization", auths[0].as_str())];
    match gate.check(&request("/orders/1", &first), NOW) {
        Outcome::NeedKeys(f) => {
            assert!(f.start, "a rehearsal left a key fetch in flight");
            idp.answer(&mut gate, &f, NOW);
        }
        Outcome::Decided(d) => panic!("decided with no keys: {d:?}"),
    }
    // With keys: every request decides as on the gate that never rehearsed,
    // and each token's first check is no cache hit.
    let mut seen = std::collections::HashSet::new();
    for (path, auth, headers) in &cases {
        gate.rehearse(&request(path, headers), NOW);
        let a = run(&mut gate, &mut idp, "GET", path, headers, NOW);
        let cache = gate.jwt_cache();
        let b = run(&mut plain, &mut idp, "GET", path, headers, NOW);
        assert_eq!(format!("{a:?}"), format!("{b:?}"), "{path} {auth:?}");
        assert_eq!(cache, plain.jwt_cache(), "{path} {auth:?}");
        if seen.insert(auth) {
            assert_ne!(
                cache,
                Some(CacheUse::Hit),
                "{path} {auth:?}: a rehearsal cached"
            );
        }
    }
}

#[test]
fn verdict_cache_respects_exp_and_route() {
    let (mut gate, mut idp, s) = setup(Algorithm::ES256);
    let mut c = claims("alice", "orders:read");
    c["exp"] = json!(NOW + 100);
    let t = s.mint(&c);
    assert!(get(&mut gate, &mut idp, &t, NOW).is_allowed());
    // Policy is evaluated per request even on a cache hit.
    let a = format!("Bearer {t}");
    let d = run(
        &mut gate,
        &mut idp,
        "POST",
        "/orders/1",
        &[("authorization", &a)],
        NOW + 1,
    );
    assert_eq!(reason(&d), Some("scope_missing"));
    let (_, steps) = gate.explain(
        &Request {
            method: "GET",
            path: "/orders/1",
            headers: &[("authorization", &a)],
        },
        NOW + 2,
    );
    assert!(steps.iter().any(|s| s.step == "cache" && s.ok), "{steps:?}");
    // Past exp + leeway, the cached verdict is not used.
    assert_eq!(
        reason(&get(&mut gate, &mut idp, &t, NOW + 161)),
        Some("token_expired")
    );
}

#[test]
fn withdrawn_key_drops_cached_verdicts() {
    let old = Signer::new(Algorithm::ES256, "old");
    let new = Signer::random(Algorithm::ES256, "new");
    let mut gate = Gate::new(config(ROUTES)).unwrap();
    let mut idp = Idp::serving(jwks(&[&old]));
    let t = old.mint(&claims("a", "orders:read"));
    assert!(get(&mut gate, &mut idp, &t, NOW).is_allowed());
    idp.set(JWKS_URI, 200, &[], jwks(&[&new]));
    let due = gate.due_refreshes(NOW + 601);
    idp.answer(&mut gate, &due[0], NOW + 601);
    let d = get(&mut gate, &mut idp, &t, NOW + 602);
    assert_eq!(reason(&d), Some("key_not_found"));
}

#[test]
fn negative_cache_remembers_bad_signatures() {
    let (mut gate, mut idp, s) = setup(Algorithm::ES256);
    let t = s.mint(&claims("a", "orders:read"));
    let bad = format!("{}AAAA", &t[..t.len() - 4]);
    assert_eq!(
        reason(&get(&mut gate, &mut idp, &bad, NOW)),
        Some("signature_invalid")
    );
    let a = format!("Bearer {bad}");
    let (_, steps) = gate.explain(
        &Request {
            method: "GET",
            path: "/orders/1",
            headers: &[("authorization", &a)],
        },
        NOW + 1,
    );
    assert!(
        steps.iter().any(|s| s.step == "cache" && !s.ok),
        "{steps:?}"
    );
}

#[test]
fn policy_requirements() {
    let (mut gate, mut idp, s) = setup(Algorithm::EdDSA);
    let a = |c: &serde_json::Value| format!("Bearer {}", s.mint(c));
    let alice = a(&claims("alice", "orders:read"));
    let mut admin = claims("root", "");
    admin["roles"] = json!(["admin"]);
    let admin = a(&admin);
    let writer = a(&claims("w", "orders:read orders:write"));
    let cases: Vec<(&str, &str, &str, Option<&str>)> = vec![
        ("GET", "/health", "", None),
        ("GET", "/orders/7", &alice, None),
        ("DELETE", "/orders/7", &alice, Some("scope_missing")),
        ("DELETE", "/orders/7", &writer, None),
        ("PUT", "/orders/7", &writer, Some("route_denied")),
        ("GET", "/users/alice/profile", &alice, None),
        ("GET", "/users/bob/profile", &alice, Some("owner_mismatch")),
        ("GET", "/admin/x", &alice, Some("role_missing")),
        ("GET", "/admin/x", &admin, None),
        ("GET", "/nowhere", &admin, Some("route_denied")),
        ("GET", "/open/../admin/x", &alice, Some("path_invalid")),
        ("GET", "/open//x", &alice, Some("path_invalid")),
        ("GET", "/%61dmin/x", &alice, Some("role_missing")),
    ];
    for (method, path, auth, want) in cases {
        let h: Vec<(&str, &str)> = if auth.is_empty() {
            vec![]
        } else {
            vec![("authorization", auth)]
        };
        let d = run(&mut gate, &mut idp, method, path, &h, NOW);
        assert_eq!(reason(&d), want, "{method} {path}");
    }
}

#[test]
fn preflight_and_report_only() {
    let (mut gate, mut idp, _) = setup(Algorithm::ES256);
    let d = run(
        &mut gate,
        &mut idp,
        "OPTIONS",
        "/orders/1",
        &[
            ("origin", "https://app.test"),
            ("access-control-request-method", "POST"),
        ],
        NOW,
    );
    // Without [cors] or forward_preflight a preflight is no exemption: it
    // gets what a bare OPTIONS gets.
    assert_eq!(reason(&d), Some("route_denied"));
    assert_eq!(
        reason(&run(&mut gate, &mut idp, "OPTIONS", "/orders/1", &[], NOW)),
        Some("route_denied")
    );
    let text = format!("mode = \"report-only\"\n[[issuers]]\nissuer = \"{ISSUER}\"\njwks_uri = \"{JWKS_URI}\"\naudiences = [\"{AUDIENCE}\"]\n{ROUTES}");
    let mut gate = Gate::new(edgeward::Config::parse(&text).unwrap()).unwrap();
    let d = run(&mut gate, &mut idp, "GET", "/orders/1", &[], NOW);
    let Decision::Allow(a) = &d else {
        panic!("{d:?}")
    };
    assert_eq!(a.report_only.as_ref().unwrap().reason, Reason::TokenMissing);
    assert!(a.headers_to_set.contains(&(
        "x-edgeward-decision".into(),
        "deny; status=401; reason=token_missing".into()
    )));
}

#[test]
fn api_tokens_and_tenants() {
    let digest = |t: &str| {
        ring::digest::digest(&ring::digest::SHA256, t.as_bytes())
            .as_ref()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    };
    let text = format!(
        "[[issuers]]\nissuer = \"{ISSUER}\"\njwks_uri = \"{JWKS_URI}\"\naudiences = [\"{AUDIENCE}\"]\ntenant_claim = \"/ext/tid\"\ntenants = [\"t1\", \"t2\"]\n\
         [[api_tokens]]\nname = \"ci\"\nsha256 = \"{}\"\nscopes = [\"orders:write\"]\n\
         [[routes]]\npath = \"/orders/**\"\nscopes.all = [\"orders:write\"]\n\
         [[routes]]\npath = \"/t2/**\"\ntenants = [\"t2\"]\napi_tokens = false\n",
        digest("s3cret-api-token")
    );
    let mut gate = Gate::new(edgeward::Config::parse(&text).unwrap()).unwrap();
    let s = Signer::new(Algorithm::ES256, "k1");
    let mut idp = Idp::serving(jwks(&[&s]));
    let d = run(
        &mut gate,
        &mut idp,
        "POST",
        "/orders/1",
        &[("authorization", "Bearer s3cret-api-token")],
        NOW,
    );
    let Decision::Allow(a) = &d else {
        panic!("{d:?}")
    };
    assert_eq!(a.identity.kind, IdentityKind::ApiToken);
    assert_eq!(a.identity.subject.as_deref(), Some("ci"));
    assert_eq!(
        reason(&run(
            &mut gate,
            &mut idp,
            "POST",
            "/orders/1",
            &[("authorization", "Bearer wrong-token")],
            NOW
        )),
        Some("api_token_invalid")
    );
    assert_eq!(
        reason(&run(
            &mut gate,
            &mut idp,
            "GET",
            "/t2/x",
            &[("authorization", "Bearer s3cret-api-token")],
            NOW
        )),
        Some("api_token_not_allowed")
    );
    let tok = |tid: &str| {
        let mut c = claims("a", "orders:write");
        c["ext"] = json!({"tid": tid});
        format!("Bearer {}", s.mint(&c))
    };
    let t1 = tok("t1");
    let d = run(
        &mut gate,
        &mut idp,
        "POST",
        "/orders/1",
        &[("authorization", &t1)],
        NOW,
    );
    let Decision::Allow(a) = &d else {
        panic!("{d:?}")
    };
    assert!(a
        .headers_to_set
        .contains(&("x-auth-tenant".into(), "t1".into())));
    assert_eq!(
        reason(&run(
            &mut gate,
            &mut idp,
            "GET",
            "/t2/x",
            &[("authorization", &t1)],
            NOW
        )),
        Some("tenant_not_allowed")
    );
    assert!(run(
        &mut gate,
        &mut idp,
        "GET",
        "/t2/x",
        &[("authorization", &tok("t2"))],
        NOW
    )
    .is_allowed());
    assert_eq!(
        reason(&run(
            &mut gate,
            &mut idp,
            "POST",
            "/orders/1",
            &[("authorization", &tok("t9"))],
            NOW
        )),
        Some("tenant_not_allowed")
    );
}

#[test]
fn claim_headers_cannot_inject() {
    let s = Signer::new(Algorithm::ES256, "k1");
    let text = format!("[[issuers]]\nissuer = \"{ISSUER}\"\njwks_uri = \"{JWKS_URI}\"\naudiences = [\"{AUDIENCE}\"]\n[headers.claims]\nemail = \"x-auth-email\"\n\"realm_access.roles\" = \"x-auth-roles\"\n[[routes]]\npath = \"/**\"\n");
    let mut gate = Gate::new(edgeward::Config::parse(&text).unwrap()).unwrap();
    let mut idp = Idp::serving(jwks(&[&s]));
    let mut c = claims("évil\r\nx-admin: 1", "");
    c["email"] = json!("a@b.test");
    c["realm_access"] = json!({"roles": ["x", "y"]});
    let d = get(&mut gate, &mut idp, &s.mint(&c), NOW);
    let Decision::Allow(a) = d else { panic!() };
    let set: HashMap<_, _> = a.headers_to_set.iter().cloned().collect();
    assert_eq!(set["x-auth-subject"], "%C3%A9vil%0D%0Ax-admin: 1");
    assert_eq!(set["x-auth-email"], "a@b.test");
    assert_eq!(set["x-auth-roles"], "[\"x\",\"y\"]");
    assert!(a.headers_to_remove.contains(&"x-auth-email".to_string()));
}

#[test]
fn verify_without_policy() {
    let (mut gate, mut idp, s) = setup(Algorithm::ES256);
    let t = s.mint(&claims("a", "x"));
    let v = loop {
        match gate.verify(&t, NOW) {
            edgeward::Verification::NeedKeys(f) => idp.answer(&mut gate, &f, NOW),
            v => break v,
        }
    };
    let edgeward::Verification::Verified(id, _) = v else {
        panic!("{v:?}")
    };
    assert_eq!(id.scopes, ["x"]);
    assert!(
        matches!(gate.verify("a.b.c", NOW), edgeward::Verification::Denied(d) if d.reason == Reason::TokenMalformed)
    );
}

#[test]
fn cached_verdicts_respect_max_age() {
    let s = Signer::new(Algorithm::ES256, "k1");
    let text = format!("[[issuers]]\nissuer = \"{ISSUER}\"\njwks_uri = \"{JWKS_URI}\"\naudiences = [\"{AUDIENCE}\"]\nmax_age = 100\n{ROUTES}");
    let mut gate = Gate::new(edgeward::Config::parse(&text).unwrap()).unwrap();
    let mut idp = Idp::serving(jwks(&[&s]));
    let t = s.mint(&claims("a", "orders:read")); // iat = NOW - 10
    assert!(get(&mut gate, &mut idp, &t, NOW).is_allowed());
    assert!(get(&mut gate, &mut idp, &t, NOW + 150).is_allowed());
    assert_eq!(
        reason(&get(&mut gate, &mut idp, &t, NOW + 151)),
        Some("token_too_old")
    );
}

#[test]
fn trailing_slash_and_head_follow_the_route() {
    let (mut gate, mut idp, s) = setup(Algorithm::ES256);
    let a = format!("Bearer {}", s.mint(&claims("a", "orders:read")));
    assert!(run(
        &mut gate,
        &mut idp,
        "HEAD",
        "/orders/1",
        &[("authorization", &a)],
        NOW
    )
    .is_allowed());
    assert!(run(
        &mut gate,
        &mut idp,
        "GET",
        "/orders/1/",
        &[("authorization", &a)],
        NOW
    )
    .is_allowed());
    let mut admin = claims("root", "");
    admin["roles"] = json!(["admin"]);
    let root = format!("Bearer {}", s.mint(&admin));
    assert!(run(
        &mut gate,
        &mut idp,
        "GET",
        "/admin/",
        &[("authorization", &root)],
        NOW
    )
    .is_allowed());
    assert_eq!(
        reason(&run(
            &mut gate,
            &mut idp,
            "GET",
            "/admin/",
            &[("authorization", &a)],
            NOW
        )),
        Some("role_missing")
    );
    assert_eq!(
        reason(&run(
            &mut gate,
            &mut idp,
            "GET",
            "/open;x/../admin",
            &[("authorization", &a)],
            NOW
        )),
        Some("path_invalid")
    );
}

#[test]
fn several_issuers_each_with_their_own_rules() {
    let a = Signer::new(Algorithm::RS256, "a1");
    let b = Signer::new(Algorithm::ES256, "b1");
    let text = "[[issuers]]\nissuer = \"https://a.test/\"\njwks_uri = \"https://a.test/jwks\"\naudiences = [\"api-a\"]\nalgorithms = [\"RS256\"]\n\
                [[issuers]]\nissuer = \"https://b.test/\"\njwks_uri = \"https://b.test/jwks\"\naudiences = [\"api-b\"]\nalgorithms = [\"ES256\"]\nscope_claims = [\"scp\"]\n\
                [[routes]]\npath = \"/**\"\nscopes.all = [\"read\"]\n";
    let mut gate = Gate::new(edgeward::Config::parse(text).unwrap()).unwrap();
    let mut idp = Idp::default();
    idp.set("https://a.test/jwks", 200, &[], jwks(&[&a]));
    idp.set("https://b.test/jwks", 200, &[], jwks(&[&b]));
    let ta = a.mint(&json!({"iss": "https://a.test/", "aud": "api-a", "sub": "x", "scope": "read", "exp": NOW + 60}));
    let tb = b.mint(&json!({"iss": "https://b.test/", "aud": "api-b", "sub": "y", "scp": ["read"], "exp": NOW + 60}));
    assert!(get(&mut gate, &mut idp, &ta, NOW).is_allowed());
    assert!(get(&mut gate, &mut idp, &tb, NOW).is_allowed());
    // B's audience is not A's; B's algorithm is not A's; B's scope claim is not A's.
    let wrong_aud = a.mint(&json!({"iss": "https://a.test/", "aud": "api-b", "sub": "x", "scope": "read", "exp": NOW + 60}));
    assert_eq!(
        reason(&get(&mut gate, &mut idp, &wrong_aud, NOW)),
        Some("audience_invalid")
    );
    let wrong_alg = b.mint(&json!({"iss": "https://a.test/", "aud": "api-a", "sub": "x", "scope": "read", "exp": NOW + 60}));
    assert_eq!(
        reason(&get(&mut gate, &mut idp, &wrong_alg, NOW)),
        Some("alg_not_allowed")
    );
    let wrong_claim = b.mint(&json!({"iss": "https://b.test/", "aud": "api-b", "sub": "y", "scope": "read", "exp": NOW + 60}));
    assert_eq!(
        reason(&get(&mut gate, &mut idp, &wrong_claim, NOW)),
        Some("scope_missing")
    );
    // A key from issuer B's set never verifies a token claiming issuer A.
    let forged = b.mint_with(
        json!({"alg": "ES256", "kid": "a1"}),
        &json!({"iss": "https://a.test/", "aud": "api-a", "scope": "read", "exp": NOW + 60}),
    );
    assert_ne!(get(&mut gate, &mut idp, &forged, NOW).status(), 200);
    assert_eq!(
        (
            idp.hits("https://a.test/jwks"),
            idp.hits("https://b.test/jwks")
        ),
        (1, 1)
    );
}

#[test]
fn hostile_snapshots_and_key_sets_do_not_panic_or_disable_the_cooldown() {
    let s = Signer::new(Algorithm::ES256, "k1");
    let mut gate = Gate::new(config(ROUTES)).unwrap();
    let mut idp = Idp::serving(jwks(&[&s]));
    assert!(get(
        &mut gate,
        &mut idp,
        &s.mint(&claims("a", "orders:read")),
        NOW
    )
    .is_allowed());
    let snap = gate.keys().snapshot(ISSUER).unwrap();
    // Negative or out-of-order times are refused.
    let v: serde_json::Value = serde_json::from_str(&snap).unwrap();
    for (field, value) in [
        ("kid_refetch_at", json!(i64::MIN + 10)),
        ("fetched_at", json!(-5)),
        ("fresh_until", json!(0)),
    ] {
        let mut bad = v.clone();
        bad[field] = value;
        assert!(
            gate.keys_mut().restore(&bad.to_string()).is_err(),
            "{field}"
        );
    }
    // A cooldown stamped in the future does not hold a rotation back forever.
    let mut future = v.clone();
    future["kid_refetch_at"] = json!(i64::MAX);
    future["fetched_at"] = json!(NOW + 1);
    let mut other = Gate::new(config(ROUTES)).unwrap();
    other.keys_mut().restore(&future.to_string()).unwrap();
    let t = s.mint_with(json!({"kid": "rotated"}), &claims("a", "orders:read"));
    let before = idp.hits(JWKS_URI);
    let _ = get(&mut other, &mut idp, &t, NOW + 3600);
    assert_eq!(idp.hits(JWKS_URI), before + 1);
    // An empty or all-zero RSA modulus is a skipped key, not a panic.
    for n in ["", "AAA"] {
        let set = edgeward::keys::parse_jwks(
            json!({"keys": [{"kty": "RSA", "n": n, "e": "AQAB"}]})
                .to_string()
                .as_bytes(),
        )
        .unwrap();
        assert!(set.keys.is_empty());
        assert!(
            set.skipped[0].reason.contains("0 bits"),
            "{:?}",
            set.skipped
        );
    }
}

#[test]
fn verify_applies_the_issuer_tenants() {
    let s = Signer::new(Algorithm::ES256, "k1");
    let text = format!("[[issuers]]\nissuer = \"{ISSUER}\"\njwks_uri = \"{JWKS_URI}\"\naudiences = [\"{AUDIENCE}\"]\ntenant_claim = \"tid\"\ntenants = [\"acme\"]\n");
    let mut gate = Gate::new(edgeward::Config::parse(&text).unwrap()).unwrap();
    let mut idp = Idp::serving(jwks(&[&s]));
    let mut verify = |tid: &str| {
        let mut c = claims("a", "x");
        c["tid"] = json!(tid);
        let t = s.mint(&c);
        loop {
            match gate.verify(&t, NOW) {
                edgeward::Verification::NeedKeys(f) => idp.answer(&mut gate, &f, NOW),
                v => break v,
            }
        }
    };
    assert!(matches!(
        verify("acme"),
        edgeward::Verification::Verified(..)
    ));
    assert!(
        matches!(verify("evil"), edgeward::Verification::Denied(d) if d.reason == Reason::TenantNotAllowed)
    );
}

#[test]
fn gate_restore_ends_the_flight_and_drops_withdrawn_verdicts() {
    let old = Signer::new(Algorithm::ES256, "old");
    let new = Signer::random(Algorithm::ES256, "new");
    // Instance A learns the rotated set; instance B verified with the old key.
    let mut a = Gate::new(config(ROUTES)).unwrap();
    let mut b = Gate::new(config(ROUTES)).unwrap();
    let mut idp = Idp::serving(jwks(&[&old]));
    let t = old.mint(&claims("a", "orders:read"));
    assert!(get(&mut b, &mut idp, &t, NOW).is_allowed());
    idp.set(JWKS_URI, 200, &[], jwks(&[&new]));
    assert!(get(
        &mut a,
        &mut idp,
        &new.mint(&claims("a", "orders:read")),
        NOW + 5
    )
    .is_allowed());
    let snap = a.keys().snapshot(ISSUER).unwrap();
    // B is mid-fetch when it finds the newer snapshot in the shared store.
    let fetch = b.refresh(ISSUER, NOW + 6).unwrap();
    assert!(fetch.start);
    assert!(b.restore(&snap).unwrap());
    // The flight is over: a new refresh starts a new one rather than joining.
    let second = b.refresh(ISSUER, NOW + 6).unwrap();
    assert!(second.start);
    b.abandon(&second);
    // The old key is gone, and so is the verdict made with it.
    let d = get(&mut b, &mut idp, &t, NOW + 7);
    assert_eq!(reason(&d), Some("key_not_found"));
}

#[test]
fn refresh_and_abandon() {
    let s = Signer::new(Algorithm::ES256, "k1");
    let mut gate = Gate::new(config(ROUTES)).unwrap();
    let mut idp = Idp::serving(jwks(&[&s]));
    assert!(gate.refresh("https://unknown.test/", NOW).is_none());
    let f = gate.refresh(ISSUER, NOW).unwrap();
    assert!(f.start);
    let joined = gate.refresh(ISSUER, NOW).unwrap();
    assert!(!joined.start && joined.flight == f.flight);
    gate.abandon(&f);
    let again = gate.refresh(ISSUER, NOW).unwrap();
    assert!(again.start && again.flight != f.flight);
    idp.answer(&mut gate, &again, NOW);
    assert_eq!(gate.keys().keys(ISSUER).len(), 1);
    // Fresh keys are refetched on demand anyway.
    assert!(gate.refresh(ISSUER, NOW + 1).unwrap().start);
}

#[test]
fn a_backend_may_supply_the_api_token_hash_and_jwts_are_cached_by_a_keyed_hash() {
    use std::cell::Cell;
    struct Counting<'a>(&'a Cell<usize>);
    impl edgeward::SignatureBackend for Counting<'_> {
        fn name(&self) -> &'static str {
            "counting"
        }
        fn verify(&self, alg: Algorithm, key: &edgeward::PublicKey, m: &[u8], s: &[u8]) -> bool {
            edgeward::RingBackend.verify(alg, key, m, s)
        }
        fn sha256(&self, token: &str) -> [u8; 32] {
            self.0.set(self.0.get() + 1);
            edgeward::cache::digest(token)
        }
    }
    let hex: String = edgeward::cache::digest("s3cret-api-token")
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let text = format!(
        "{ROUTES}\n[[api_tokens]]\nname = \"ci\"\nsha256 = \"{hex}\"\nscopes = [\"orders:read\"]\n"
    );
    let calls = Cell::new(0);
    let s = Signer::new(Algorithm::ES256, "k1");
    let mut gate = Gate::with_backend(config(&text), Counting(&calls)).unwrap();
    let check = |gate: &mut Gate<Counting>, auth: &str| {
        let req = Request {
            method: "GET",
            path: "/orders/1",
            headers: &[("authorization", auth)],
        };
        loop {
            match gate.check(&req, NOW) {
                Outcome::Decided(d) => break d,
                Outcome::NeedKeys(f) => {
                    let body = jwks(&[&s]);
                    gate.ingest(&f, 200, &[], body.as_bytes(), NOW).unwrap();
                }
            }
        }
    };
    let t = format!("Bearer {}", s.mint(&claims("a", "orders:read")));
    assert!(check(&mut gate, &t).is_allowed());
    assert!(check(&mut gate, &t).is_allowed());
    assert_eq!(gate.jwt_cache(), Some(edgeward::CacheUse::Hit));
    // A JWT is never hashed with SHA-256: the verdict cache has its own key.
    assert_eq!(calls.get(), 0);
    // An opaque token is, through the backend.
    assert!(check(&mut gate, "Bearer s3cret-api-token").is_allowed());
    assert_eq!(calls.get(), 1);
    assert!(!check(&mut gate, "Bearer s3cret-api-tokeN").is_allowed());
    assert_eq!(calls.get(), 2);
}

#[test]
fn identities_can_keep_only_the_claims_the_config_reads() {
    let s = Signer::new(Algorithm::EdDSA, "k1");
    let cfg = format!(
        "{ROUTES}\n[headers.claims]\nemail = \"x-auth-email\"\n\"/org/id\" = \"x-auth-org\"\n\"ext.tier\" = \"x-auth-tier\"\n"
    );
    let mut idp = Idp::serving(jwks(&[&s]));
    let mut c = claims("alice", "orders:read");
    c["email"] = json!("alice@example.com");
    c["org"] = json!({"id": "o1", "name": "Org One"});
    c["ext"] = json!({"tier": "gold"});
    c["secret"] = json!("not for the cache");
    let auth = format!("Bearer {}", s.mint(&c));
    let h = [("authorization", auth.as_str())];
    let allow = |d: Decision| match d {
        Decision::Allow(a) => a,
        other => panic!("{other:?}"),
    };

    for slim in [false, true] {
        let mut gate = Gate::new(config(&cfg)).unwrap();
        if slim {
            gate.keep_only_needed_claims();
        }
        let a = allow(run(&mut gate, &mut idp, "GET", "/users/alice/x", &h, NOW));
        let mut keys: Vec<&str> = a
            .identity
            .claims
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        keys.sort();
        if slim {
            // owner reads sub; the headers read email, org (pointer) and ext (dotted).
            assert_eq!(keys, ["email", "ext", "org", "sub"]);
        } else {
            assert!(
                keys.contains(&"secret") && keys.contains(&"iat"),
                "{keys:?}"
            );
        }
        // Same answers either way, from the verifying call and from the cache.
        for _ in 0..2 {
            let a = allow(run(&mut gate, &mut idp, "GET", "/users/alice/x", &h, NOW));
            let set: std::collections::HashMap<_, _> = a.headers_to_set.iter().cloned().collect();
            assert_eq!(set["x-auth-email"], "alice@example.com");
            assert_eq!(set["x-auth-org"], "o1");
            assert_eq!(set["x-auth-tier"], "gold");
            assert_eq!(set["x-auth-subject"], "alice");
            assert_eq!(a.identity.scopes, ["orders:read"]);
            let d = run(&mut gate, &mut idp, "GET", "/users/bob/x", &h, NOW);
            assert_eq!(reason(&d), Some("owner_mismatch"));
        }
    }
}

#[test]
fn a_key_reissued_under_the_same_kid_is_refetched_once_per_cooldown() {
    let old = Signer::new(Algorithm::ES256, "k1");
    let new = Signer::random(Algorithm::ES256, "k1");
    let mut gate = Gate::new(config(ROUTES)).unwrap();
    let mut idp = Idp::serving(jwks(&[&old]));
    assert!(get(
        &mut gate,
        &mut idp,
        &old.mint(&claims("a", "orders:read")),
        NOW
    )
    .is_allowed());
    // The IdP re-issues k1 with new material.
    idp.set(
        JWKS_URI,
        200,
        &[("cache-control", "max-age=600")],
        jwks(&[&new]),
    );
    let t = new.mint(&claims("a", "orders:read"));
    // Keys younger than the cooldown: no refetch, and the refusal is
    // remembered only until a refetch is allowed.
    assert_eq!(
        reason(&get(&mut gate, &mut idp, &t, NOW + 5)),
        Some("signature_invalid")
    );
    assert_eq!(idp.hits(JWKS_URI), 1);
    // Past the cooldown the failure refetches, and the new key passes.
    assert!(get(&mut gate, &mut idp, &t, NOW + 31).is_allowed());
    assert_eq!(idp.hits(JWKS_URI), 2);
    // A flood of forged signatures under a known kid costs no more fetches
    // than an unknown-kid flood: none within the cooldown.
    let forged = format!("{}AAAA", &t[..t.len() - 4]);
    for i in 0..20 {
        assert_eq!(
            reason(&get(&mut gate, &mut idp, &forged, NOW + 32 + i)),
            Some("signature_invalid")
        );
    }
    assert_eq!(idp.hits(JWKS_URI), 2);
    assert_eq!(
        reason(&get(&mut gate, &mut idp, &forged, NOW + 62)),
        Some("signature_invalid")
    );
    assert_eq!(idp.hits(JWKS_URI), 3);
}

#[test]
fn verify_reports_the_cores_own_cache_expiry() {
    let s = Signer::new(Algorithm::ES256, "k1");
    let text = format!("[[issuers]]\nissuer = \"{ISSUER}\"\njwks_uri = \"{JWKS_URI}\"\naudiences = [\"{AUDIENCE}\"]\nmax_age = 100\n");
    let mut gate = Gate::new(edgeward::Config::parse(&text).unwrap()).unwrap();
    let mut idp = Idp::serving(jwks(&[&s]));
    let t = s.mint(&claims("a", "orders:read")); // iat = NOW - 10, exp = NOW + 3600
    let until = loop {
        match gate.verify(&t, NOW) {
            edgeward::Verification::Verified(_, until) => break until,
            edgeward::Verification::NeedKeys(f) => idp.answer(&mut gate, &f, NOW),
            other => panic!("{other:?}"),
        }
    };
    // iat + max_age + leeway, not exp or cache.ttl: a host remembering the
    // identity until then never outlives max_age.
    assert_eq!(until, NOW - 10 + 100 + 60 + 1);
    assert!(matches!(
        gate.verify(&t, until),
        edgeward::Verification::Denied(d) if d.reason == Reason::TokenTooOld
    ));
}

#[test]
fn discovered_key_urls_must_be_https_or_the_loopback_issuers_own_origin() {
    let s = Signer::new(Algorithm::RS256, "k1");
    for (issuer, jwks_uri, ok) in [
        ("http://127.0.0.1:9000", "http://127.0.0.1:9000/keys", true),
        ("http://127.0.0.1:9000", "http://127.0.0.1:9001/keys", false),
        (
            "http://127.0.0.1:9000",
            "http://127.attacker.example:9000/keys",
            false,
        ),
        (
            "http://127.0.0.1:9000",
            "http://127.0.0.1:9000@attacker.example/keys",
            false,
        ),
        (
            "http://localhost:9000",
            "http://attacker.example/keys",
            false,
        ),
        ("https://login.test/a", "http://127.0.0.1/keys", false),
        ("https://login.test/a", "https://keys.login.test/k", true),
    ] {
        let text =
            format!("[[issuers]]\nissuer = \"{issuer}\"\naudiences = [\"{AUDIENCE}\"]\n{ROUTES}");
        let mut gate = Gate::new(edgeward::Config::parse(&text).unwrap()).unwrap();
        let mut idp = Idp::default();
        idp.set(
            &format!("{issuer}/.well-known/openid-configuration"),
            200,
            &[],
            json!({"issuer": issuer, "jwks_uri": jwks_uri}).to_string(),
        );
        idp.set(jwks_uri, 200, &[], jwks(&[&s]));
        let mut c = claims("a", "orders:read");
        c["iss"] = json!(issuer);
        let d = get(&mut gate, &mut idp, &s.mint(&c), NOW);
        assert_eq!(d.is_allowed(), ok, "{issuer} -> {jwks_uri}: {d:?}");
        assert_eq!(idp.hits(jwks_uri), usize::from(ok), "{jwks_uri}");
    }
}

#[test]
fn redirects_of_key_fetches_follow_the_key_url_rule() {
    let text = format!("[[issuers]]\nissuer = \"{ISSUER}\"\njwks_uri = \"{JWKS_URI}\"\naudiences = [\"{AUDIENCE}\"]\n");
    let mut gate = Gate::new(edgeward::Config::parse(&text).unwrap()).unwrap();
    let t = Signer::new(Algorithm::ES256, "k1").mint(&claims("a", "x"));
    let edgeward::Verification::NeedKeys(f) = gate.verify(&t, NOW) else {
        panic!()
    };
    assert_eq!(
        gate.redirect(&f, "https://cdn.idp.test/k").unwrap(),
        "https://cdn.idp.test/k"
    );
    assert_eq!(
        gate.redirect(&f, "/v2/jwks").unwrap(),
        "https://idp.test/v2/jwks"
    );
    assert_eq!(
        gate.redirect(&f, "//other.test/k").unwrap(),
        "https://other.test/k"
    );
    assert_eq!(
        gate.redirect(&f, "keys2").unwrap(),
        "https://idp.test/keys2"
    );
    for bad in [
        "http://idp.test/jwks",
        "http://127.0.0.1/jwks",
        "https://u:p@idp.test/jwks",
        "ftp://idp.test/x",
    ] {
        assert!(gate.redirect(&f, bad).is_err(), "{bad}");
    }
}

#[test]
fn templated_issuers_bind_the_tenant_claim_and_share_one_key_set() {
    let s = Signer::new(Algorithm::ES256, "k1");
    let text = format!(
        "[[issuers]]\nissuer = \"https://login.test/{{tid}}/v2.0\"\njwks_uri = \"{JWKS_URI}\"\naudiences = [\"{AUDIENCE}\"]\ntenants = [\"t1\", \"t2\"]\n{ROUTES}"
    );
    let mut gate = Gate::new(edgeward::Config::parse(&text).unwrap()).unwrap();
    let mut idp = Idp::serving(jwks(&[&s]));
    let token = |iss: &str, tid: &str| {
        let mut c = claims("a", "orders:read");
        c["iss"] = json!(iss);
        c["tid"] = json!(tid);
        s.mint(&c)
    };
    let d = get(
        &mut gate,
        &mut idp,
        &token("https://login.test/t1/v2.0", "t1"),
        NOW,
    );
    let Decision::Allow(a) = &d else {
        panic!("{d:?}")
    };
    assert_eq!(
        a.identity.issuer.as_deref(),
        Some("https://login.test/t1/v2.0")
    );
    assert_eq!(a.identity.tenant.as_deref(), Some("t1"));
    assert!(get(
        &mut gate,
        &mut idp,
        &token("https://login.test/t2/v2.0", "t2"),
        NOW
    )
    .is_allowed());
    // A tenant not listed, and iss and tid that disagree.
    assert_eq!(
        reason(&get(
            &mut gate,
            &mut idp,
            &token("https://login.test/t3/v2.0", "t3"),
            NOW
        )),
        Some("issuer_unknown")
    );
    assert_eq!(
        reason(&get(
            &mut gate,
            &mut idp,
            &token("https://login.test/t1/v2.0", "t2"),
            NOW
        )),
        Some("claim_value_mismatch")
    );
    // A flood of made-up tenants: refused, no fetch, no per-tenant state.
    for i in 0..500 {
        let t = format!("made-up-{i}");
        let d = get(
            &mut gate,
            &mut idp,
            &token(&format!("https://login.test/{t}/v2.0"), &t),
            NOW + 100,
        );
        assert_eq!(reason(&d), Some("issuer_unknown"));
    }
    assert_eq!(idp.hits(JWKS_URI), 1, "one key set for every tenant");
    assert_eq!(gate.keys().issuers().count(), 1);
}

#[test]
fn templated_issuers_must_say_which_tenants() {
    let base = "[[issuers]]\nissuer = \"https://login.test/{tid}/v2.0\"\naudiences = [\"a\"]\n"
        .to_string();
    let err = edgeward::Config::parse(&base).unwrap_err().to_string();
    assert!(err.contains("issuers[0].jwks_uri"), "{err}");
    assert!(
        err.contains("issuers[0].tenants: list the tenants"),
        "{err}"
    );
    let ok = format!("{base}jwks_uri = \"https://login.test/common/keys\"\nany_tenant = true\n");
    assert!(edgeward::Config::parse(&ok).is_ok());
    let plain =
        "[[issuers]]\nissuer = \"https://login.test/\"\naudiences = [\"a\"]\nany_tenant = true\n";
    assert!(edgeward::Config::parse(plain)
        .unwrap_err()
        .to_string()
        .contains("issuers[0].any_tenant"));
}

#[test]
fn a_method_named_by_an_override_is_held_to_its_routes_too() {
    let routes = r#"
[[routes]]
path = "/health"
methods = ["GET"]
access = "anonymous"
[[routes]]
path = "/orders/**"
methods = ["GET", "POST"]
scopes.any = ["orders:read"]
[[routes]]
path = "/orders/**"
methods = ["DELETE"]
scopes.all = ["orders:admin"]
"#;
    let s = Signer::new(Algorithm::ES256, "k1");
    let mut idp = Idp::serving(jwks(&[&s]));
    let reader = format!("Bearer {}", s.mint(&claims("a", "orders:read")));
    let admin = format!(
        "Bearer {}",
        s.mint(&claims("a", "orders:read orders:admin"))
    );
    let mut gate = Gate::new(config(routes)).unwrap();
    let mut go = |gate: &mut Gate, path: &str, headers: &[(&str, &str)]| {
        let d = run(gate, &mut idp, "POST", path, headers, NOW);
        match d {
            Decision::Allow(_) => "allow".to_string(),
            Decision::Deny(d) => d.reason.code().to_string(),
            Decision::Answer(_) => "answer".to_string(),
        }
    };
    let with = |token: &str, h: &'static str, v: &'static str| {
        vec![("authorization", token.to_owned()), (h, v.to_owned())]
    };
    fn refs<'v>(v: &'v [(&'static str, String)]) -> Vec<(&'static str, &'v str)> {
        v.iter().map(|(k, v)| (*k, v.as_str())).collect()
    }
    // Plain POST: the POST rule.
    assert_eq!(
        go(&mut gate, "/orders/1", &[("authorization", &reader)]),
        "allow"
    );
    for (h, v) in [
        ("X-HTTP-Method-Override", "DELETE"),
        ("x-http-method", "delete"),
        ("X-Method-Override", " Delete "),
        ("x_http_method_override", "DELETE"),
        ("X-HTTP-Method-Override", "GET, DELETE"),
    ] {
        let hs = with(&reader, h, v);
        assert_eq!(
            go(&mut gate, "/orders/1", &refs(&hs)),
            "scope_missing",
            "{h}: {v}"
        );
        let hs = with(&admin, h, v);
        assert_eq!(go(&mut gate, "/orders/1", &refs(&hs)), "allow", "{h}: {v}");
    }
    for q in [
        "_method=DELETE",
        "a=1&_method=delete",
        "%5Fmethod=DELETE",
        "_method=%44ELETE",
        "_method=GET&_method=DELETE",
        // PHP reads `.`, ` ` and `[` in a name as `_`.
        ".method=DELETE",
        "[method=DELETE",
    ] {
        let path = format!("/orders/1?{q}");
        assert_eq!(
            go(&mut gate, &path, &[("authorization", &reader)]),
            "scope_missing",
            "{q}"
        );
        assert_eq!(
            go(&mut gate, &path, &[("authorization", &admin)]),
            "allow",
            "{q}"
        );
    }
    // Naming its own method (or another the token meets) changes nothing.
    let hs = with(&reader, "x-http-method-override", "POST");
    assert_eq!(go(&mut gate, "/orders/1", &refs(&hs)), "allow");
    let hs = with(&reader, "x-http-method-override", "GET");
    assert_eq!(go(&mut gate, "/orders/1", &refs(&hs)), "allow");
    // An anonymous GET-only route: DELETE there falls to the default (deny).
    let hs = vec![("x-http-method-override", "DELETE".to_owned())];
    assert_eq!(go(&mut gate, "/health", &refs(&hs)), "route_denied");
    // Unknown names are held to the routes they match (here the default).
    let hs = with(&admin, "x-http-method-override", "PURGE");
    assert_eq!(go(&mut gate, "/orders/1", &refs(&hs)), "route_denied");
    // A flood of names is refused.
    let many = "A,B,C,D,E,F,G,H,I";
    let hs = with(&admin, "x-http-method-override", many);
    assert_eq!(go(&mut gate, "/orders/1", &refs(&hs)), "path_invalid");
    // "ignore": the request line's method alone.
    let mut gate = Gate::new(config(&format!(
        "{routes}\n[policy]\nmethod_override = \"ignore\"\n"
    )))
    .unwrap();
    let hs = with(&reader, "x-http-method-override", "DELETE");
    assert_eq!(go(&mut gate, "/orders/1", &refs(&hs)), "allow");
    assert!(
        edgeward::Config::parse("[policy]\nmethod_override = \"sometimes\"\n")
            .unwrap_err()
            .to_string()
            .contains("policy.method_override")
    );
}

/// A two-phase host's backend: ring, deferring every key-set signature to
/// the host; counts what the gate asks of it.
#[derive(Default, Clone)]
struct Deferring {
    asked: Rc<Cell<usize>>,
    verified: Rc<Cell<usize>>,
}

impl SignatureBackend for Deferring {
    fn name(&self) -> &'static str {
        "deferring"
    }
    fn verify(&self, alg: Algorithm, key: &PublicKey, message: &[u8], signature: &[u8]) -> bool {
        self.verified.set(self.verified.get() + 1);
        RingBackend.verify(alg, key, message, signature)
    }
    fn defers(&self, _: Algorithm, _: &PublicKey) -> bool {
        self.asked.set(self.asked.get() + 1);
        true
    }
}

fn deferring_gate(s: &Signer) -> (Gate<Deferring>, Deferring) {
    let backend = Deferring::default();
    let mut gate = Gate::with_backend(config(ROUTES), backend.clone()).unwrap();
    let mut idp = Idp::serving(jwks(&[s]));
    // Keys first: a check that needs them asks for them before any signature.
    let auth = format!("Bearer {}", s.mint(&claims("a", "orders:read")));
    let req = Request {
        method: "GET",
        path: "/orders/1",
        headers: &[("authorization", &auth)],
    };
    match gate.check_deferring(&req, NOW, None) {
        Ok(Outcome::NeedKeys(f)) => idp.answer(&mut gate, &f, NOW),
        other => panic!("keys come first: {:?}", other.map_err(|c| c.alg)),
    }
    (gate, backend)
}

#[test]
fn two_phase_checks_decide_as_the_backend_would_and_bind_each_answer_to_its_signature() {
    for alg in [
        Algorithm::RS256,
        Algorithm::PS256,
        Algorithm::ES256,
        Algorithm::ES384,
        Algorithm::EdDSA,
    ] {
        let s = Signer::new(alg, "k1");
        let (mut gate, backend) = deferring_gate(&s);
        let good = format!("Bearer {}", s.mint(&claims("alice", "orders:read")));
        let t = s.mint(&claims("mallory", "orders:read"));
        let forged = format!("Bearer {}", &t[..t.len() - 6]) + "AAAAAA";
        let hg = [("authorization", good.as_str())];
        let hf = [("authorization", forged.as_str())];
        let good_req = Request {
            method: "GET",
            path: "/orders/1",
            headers: &hg,
        };
        let forged_req = Request {
            method: "GET",
            path: "/orders/1",
            headers: &hf,
        };

        // Phase one hands over exactly the token's signature, caching nothing.
        let check = gate
            .check_deferring(&good_req, NOW, None)
            .expect_err("deferred");
        assert_eq!(check.alg, alg);
        let token = good.strip_prefix("Bearer ").unwrap();
        let (input, sig) = token.rsplit_once('.').unwrap();
        assert_eq!(check.message, input.as_bytes());
        let sig = base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, sig);
        assert_eq!(check.signature, sig.unwrap());
        assert_eq!(backend.verified.get(), 0, "{alg:?}: deferred, not verified");
        let host = RingBackend.verify(check.alg, &check.key, &check.message, &check.signature);
        assert!(host, "{alg:?}");

        // An answer is for its own signature only: the good token's "valid"
        // does not let the forged token through; the backend verifies that one.
        let answer = (*check).clone().answer(true);
        let d = gate
            .check_deferring(&forged_req, NOW, Some(answer))
            .expect("answered checks decide");
        let Outcome::Decided(d) = d else {
            panic!("{alg:?}: {d:?}")
        };
        assert_eq!(reason(&d), Some("signature_invalid"), "{alg:?}");
        assert_eq!(
            backend.verified.get(),
            1,
            "{alg:?}: the backend verified the forged token"
        );

        // "invalid" from the host refuses a token the backend would accept.
        let other = format!("Bearer {}", s.mint(&claims("bob", "orders:read")));
        let ho = [("authorization", other.as_str())];
        let other_req = Request {
            method: "GET",
            path: "/orders/1",
            headers: &ho,
        };
        let no = gate
            .check_deferring(&other_req, NOW, None)
            .expect_err("deferred")
            .answer(false);
        let Ok(Outcome::Decided(d)) = gate.check_deferring(&other_req, NOW, Some(no)) else {
            panic!("{alg:?}: answered checks decide")
        };
        assert_eq!(reason(&d), Some("signature_invalid"), "{alg:?}");
        assert_eq!(
            backend.verified.get(),
            1,
            "{alg:?}: the host's answer was used"
        );

        // "valid": the same decision the synchronous check makes; then cached.
        let Ok(Outcome::Decided(d)) =
            gate.check_deferring(&good_req, NOW + 1, Some(check.answer(true)))
        else {
            panic!("{alg:?}: answered checks decide")
        };
        let Decision::Allow(allow) = &d else {
            panic!("{alg:?}: {d:?}")
        };
        assert_eq!(allow.identity.subject.as_deref(), Some("alice"));
        let mut sync = Gate::new(config(ROUTES)).unwrap();
        let mut idp = Idp::serving(jwks(&[&s]));
        assert_eq!(
            run(&mut sync, &mut idp, "GET", "/orders/1", &hg, NOW + 1),
            d,
            "{alg:?}"
        );
        assert!(
            matches!(
                gate.check_deferring(&good_req, NOW + 2, None),
                Ok(Outcome::Decided(Decision::Allow(_)))
            ),
            "{alg:?}: the verdict is cached, nothing is deferred"
        );

        // A plain check never asks to defer: the backend verifies.
        let (asked, verified) = (backend.asked.get(), backend.verified.get());
        let fresh = format!("Bearer {}", s.mint(&claims("carol", "orders:read")));
        let h = [("authorization", fresh.as_str())];
        let r = Request {
            method: "GET",
            path: "/orders/1",
            headers: &h,
        };
        let Outcome::Decided(Decision::Allow(_)) = gate.check(&r, NOW + 3) else {
            panic!("{alg:?}")
        };
        assert_eq!(
            backend.asked.get(),
            asked,
            "{alg:?}: check() asked to defer"
        );
        assert_eq!(backend.verified.get(), verified + 1, "{alg:?}");
    }
}
