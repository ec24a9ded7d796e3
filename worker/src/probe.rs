//! Bench builds only (feature `probe`, `bench/worker/probe.mjs`): one step
//! of the request path repeated over many requests inside one workerd
//! request, so that it can be timed from outside (workerd's clock stands
//! still while a request runs). Cumulative steps: `parts` (copy out what the
//! core reads), `check` (+ the gate's decision), `finish` (+ the origin
//! request); and `sha`, `jws` on top of `parts`.

use crate::{finish, with_app, Clock, Parts};
use edgeward::{RingBackend, SignatureBackend};
use wasm_bindgen::prelude::*;

/// Runs step `what` once per request in `reqs`; answers a count so the
/// work cannot be optimised away.
#[wasm_bindgen]
pub fn probe(what: &str, reqs: js_sys::Array) -> u32 {
    let wanted = with_app(|a| a.wanted_headers.clone()).expect("probe: the isolate is not ready");
    let clock = Clock { fixed: None };
    let mut sink = 0u32;
    for r in reqs.iter() {
        let req: web_sys::Request = r.unchecked_into();
        let parts = Parts::from_request(&req, &wanted);
        let token = || {
            parts
                .headers()
                .find(|(k, _)| *k == "authorization")
                .map(|(_, v)| v.trim_start_matches("Bearer ").to_owned())
                .unwrap_or_default()
        };
        sink = sink.wrapping_add(match what {
            "parts" => parts.headers().count() as u32,
            "sha" => RingBackend.sha256(&token())[0] as u32,
            "jws" => edgeward::jws::parse(&token()).map_or(0, |j| j.signature.len() as u32),
            "check" | "finish" => {
                let out =
                    with_app(|app| parts.with(|q| app.gate.check(q, clock.now()))).expect("ready");
                let edgeward::Outcome::Decided(d) = out else {
                    panic!("probe: keys needed");
                };
                if what == "finish" {
                    u32::from(finish(&req, d, &parts).is_ok())
                } else {
                    u32::from(matches!(d, edgeward::Decision::Allow(_)))
                }
            }
            _ => panic!("probe: unknown step {what}"),
        });
    }
    sink
}

/// The whole request path once, on a throwaway gate with built-in keys and
/// tokens (bench/worker/first-request.mjs): configuration, gate, a check
/// that needs keys, a JWKS ingest and its snapshot, a second gate adopting
/// it, and an RS256 and an ES256 check (signed once with keys whose private
/// halves were discarded; valid at [`WARM_NOW`]). Answers how many of its 7
/// steps ended as they should.
#[wasm_bindgen(js_name = warmUp)]
pub fn warm_up() -> u32 {
    use crate::native::NativeBackend;
    use edgeward::{Config, Decision, Gate, Outcome, Request, SharedNext, SharedRead, SharedTier};
    let gate = || -> Option<Gate<NativeBackend>> {
        let mut gate = Gate::with_backend(
            Config::from_json(WARM_CONFIG).ok()?,
            NativeBackend::deferred(),
        )
        .ok()?;
        gate.keep_only_needed_claims();
        gate.use_shared_tier(SharedTier { lock: false });
        Some(gate)
    };
    let check = |gate: &mut Gate<NativeBackend>, authorization: &str| {
        let headers = [("authorization", authorization)];
        let req = Request {
            method: "GET",
            path: "/warm/1",
            headers: &headers,
        };
        gate.check(&req, WARM_NOW)
    };
    let mut steps = 0;
    let Some(mut first) = gate() else {
        return steps;
    };
    steps += 1;
    let Outcome::NeedKeys(f) = check(&mut first, WARM_TOKENS[0]) else {
        return steps;
    };
    steps += 1;
    if first.ingest_shared(&f, SharedRead::Value(None), WARM_NOW) == SharedNext::Fetch {
        steps += 1;
    }
    let headers = [
        ("content-type", "application/json"),
        ("cache-control", "max-age=600"),
    ];
    if first
        .ingest(&f, 200, &headers, WARM_JWKS.as_bytes(), WARM_NOW)
        .is_err()
    {
        return steps;
    }
    let writes = first.shared_writes(&f, WARM_NOW);
    let Some(snapshot) = writes.first() else {
        return steps;
    };
    steps += 1;
    let Some(mut second) = gate() else {
        return steps;
    };
    if second.adopt_shared(&snapshot.key, Some(&snapshot.value), WARM_NOW) == Ok(true) {
        steps += 1;
    }
    for token in WARM_TOKENS {
        if matches!(
            check(&mut second, token),
            Outcome::Decided(Decision::Allow(_))
        ) {
            steps += 1;
        }
    }
    steps
}

const WARM_CONFIG: &str = r#"{"realm":"warm","issuers":[{"issuer":"https://warm.invalid","audiences":["warm"],"jwks_uri":"https://warm.invalid/jwks"}],"routes":[{"path":"/warm/**","methods":["GET"],"scopes":{"any":["warm"]}}]}"#;
const WARM_JWKS: &str = r#"{"keys":[{"kty":"RSA","n":"ySmoehBWKZ3LV-XCH9M4u9juJ65IgGwDPEXP8UoN-QAO9oSW5kuy6opDGWPevEN_ZrJVun4sKJK4qh0UKHkgTpFtABMitnZBZhmFQ6hup5q07GZIe1BlDq8VSpgnAiOEFP3x92ZpcO7K2furcYP_dH7OlE-aNTMsNPM-qljeU7Y4HslOliaiMIn_oRyJA_zJ_g-hfp6PL6Q-3De9H_NbjEhyCGN49xA9fB0P1f2gU7y65xzMBMtEn4uqn6ARAr9TafmzzvEiTUcAjG9LffcquaDYo4w1f_933ceBdSRwMjJ2Fdk74zTpaW3_YuzeJWxOlSl1qq7IZsBnLVkAo4AGRw","e":"AQAB","kid":"warm-rs256","alg":"RS256","use":"sig"},{"kty":"EC","x":"YaFF89_8XQM3n41p_ww6seC6oDq66k5O2h50k1ZD-0E","y":"5FvQ-1zdFw5k0_iEnbvNXglC8cf86mCd2mXmTuBrdOw","crv":"P-256","kid":"warm-es256","alg":"ES256","use":"sig"}]}"#;
const WARM_TOKENS: [&str; 2] = [
    "Bearer eyJhbGciOiJSUzI1NiIsImtpZCI6Indhcm0tcnMyNTYiLCJ0eXAiOiJhdCtqd3QifQ.eyJzY29wZSI6Indhcm0iLCJjbGllbnRfaWQiOiJ3YXJtIiwiaXNzIjoiaHR0cHM6Ly93YXJtLmludmFsaWQiLCJhdWQiOiJ3YXJtIiwic3ViIjoid2FybSIsImlhdCI6MTc2NDAwMDAwMCwiZXhwIjoxNzY0MDAzNjAwLCJqdGkiOiJ3YXJtIn0.GA5gd9LK3F2OflZ7U3XJT3GyEf9uAO0w-itf61T4DIZwOocKW5tDxA90E-91pqTvEtfw6Skm6HioUuO1r24Iu6qHJOVZgvsR3PJrUVus8VbQhSDUCEoTHqKCnxxF9_TpFOZBJAPcHeBPcBVR57WYoo1_wDDPxe1DwXuvuuEXcmlcSIdLAwgn9f9axOrgd9xky4-V4o2JyyaAxPgzEdpunRZRsZ7lzPBRNIk9UD-PkpshPt7vEqw223Gtdtt6HCkACex8MYTmeXtCD_Q7zj0UcLQLTqOMoL_YUC-tWKe7JOZaMjFDGI9eIC4uoGwbNMM4kGgwSabw9nqub5INqOmefQ",
    "Bearer eyJhbGciOiJFUzI1NiIsImtpZCI6Indhcm0tZXMyNTYiLCJ0eXAiOiJhdCtqd3QifQ.eyJzY29wZSI6Indhcm0iLCJjbGllbnRfaWQiOiJ3YXJtIiwiaXNzIjoiaHR0cHM6Ly93YXJtLmludmFsaWQiLCJhdWQiOiJ3YXJtIiwic3ViIjoid2FybSIsImlhdCI6MTc2NDAwMDAwMCwiZXhwIjoxNzY0MDAzNjAwLCJqdGkiOiJ3YXJtIn0.Q81GnW5YavmLJM4bOa4ts6HHVDAZXciWI8VLrb8z3IEYqRyYPj4gwHGGIJFZ0TPtNKRcKdVlr2Npi0p7jNwk1w",
];
/// When the built-in tokens are valid (issued then, for an hour).
const WARM_NOW: i64 = 1764000000;
