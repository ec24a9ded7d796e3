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
                .headers
                .iter()
                .find(|(k, _)| k == "authorization")
                .map(|(_, v)| v.trim_start_matches("Bearer ").to_owned())
                .unwrap_or_default()
        };
        sink = sink.wrapping_add(match what {
            "parts" => parts.headers.len() as u32,
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
