//! Arbitrary bytes as a bearer token: through the JWS parser, then through a
//! whole `Gate::check` (one issuer, key set already ingested, fixed clock).
//!
//! Invariants: no panic; never `NeedKeys` (the keys are fresh and an unknown
//! `kid` right after a fetch is in its cooldown); `Allow` only for a
//! credential the harness itself issued; `explain` decides as `check` does,
//! and a repeated check (answered from the caches) decides as the first; a
//! check that allows implies `verify` verifies; refusals are well-formed and
//! never echo the token.

#![no_main]

use edgeward::keys::alg_name;
use edgeward::token::extract;
use edgeward::{Decision, Outcome, Request, Verification};
use edgeward_fuzz as fx;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let token: &str = &text;

    if let Ok(jws) = edgeward::jws::parse(token) {
        assert!(token.starts_with(jws.signing_input));
        assert_eq!(token.as_bytes()[jws.signing_input.len()], b'.');
        assert_eq!(jws.signing_input.matches('.').count(), 1);
        assert!(jws.header_json().is_object() && jws.claims.is_object());
        assert_eq!(
            jws.header_json()["alg"].as_str(),
            Some(alg_name(jws.header.alg))
        );
    }

    let auth = format!("Bearer {token}");
    let headers = [("authorization", auth.as_str())];
    let req = Request {
        method: "GET",
        path: fx::PATH,
        headers: &headers,
    };
    // Explain first (every trace step is built), then check on the same
    // gate: the second answer may come from the verdict caches and must be
    // the same.
    let mut gate = fx::gate();
    let (outcome, steps) = gate.explain(&req, fx::NOW);
    let decision = match &outcome {
        Outcome::Decided(d) => d,
        Outcome::NeedKeys(f) => panic!("fresh keys, yet the gate asks for {f:?}"),
    };
    let last = steps.last().expect("explain records steps");
    assert_eq!(last.step, "decision");
    assert_eq!(last.ok, decision.is_allowed());
    let again = gate.check(&req, fx::NOW);
    assert_eq!(again, outcome, "a cached decision differs from the first");

    match decision {
        Decision::Allow(allow) => {
            let presented = extract(&req, &fx::shared_config().token)
                .expect("an allowed request has a readable token")
                .expect("an allowed request has a token");
            assert!(
                fx::is_issued(&presented.token),
                "allowed a token the harness never issued: {:?}",
                presented.token
            );
            assert!(allow.report_only.is_none());
            for (name, value) in &allow.headers_to_set {
                assert!(
                    value.bytes().all(|b| (0x20..0x7f).contains(&b)),
                    "header {name} carries {value:?}"
                );
            }
            if presented.token.contains('.') {
                match fx::gate().verify(&presented.token, fx::NOW) {
                    Verification::Verified(..) => {}
                    other => panic!("check allowed, verify says {other:?}"),
                }
            }
        }
        Decision::Answer(a) => panic!("no [cors] in the harness, yet an answer: {a:?}"),
        Decision::Deny(deny) => {
            assert!(matches!(deny.status, 400 | 401 | 403), "{deny:?}");
            assert_eq!(deny.status, deny.reason.status());
            if let Some(w) = &deny.www_authenticate {
                assert!(!w.chars().any(char::is_control), "{w:?}");
            }
            let body: serde_json::Value =
                serde_json::from_str(&deny.body).expect("refusal body is JSON");
            assert_eq!(body["reason"], deny.reason.code());
            let t = token.trim_matches([' ', '\t']);
            // A "token" of plain lowercase prose can be a piece of the
            // detail's own fixed wording (the fuzzer learns it: "the token
            // has characters a bearer token cannot have"): that is the
            // token echoing the detail, not the other way round.
            let prose = t
                .chars()
                .all(|c| c.is_ascii_lowercase() || " '(),;:-".contains(c));
            if t.len() >= 16 && !prose {
                assert!(!deny.detail.contains(t), "detail echoes the token");
                assert!(!deny.body.contains(t), "body echoes the token");
            }
        }
    }
});
