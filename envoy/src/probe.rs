//! Bench builds only (feature `probe`, `node bench/envoy/run.mjs --probe`): one step of
//! the request path repeated `n` times inside one request, timed with
//! Envoy's clock, so the uncached path's cost can be split by step in the
//! real V8. `GET /__edgeward/probe/<step>?n=<n>` with the request's own
//! `Authorization`; answers `{"step", "n", "ns": per iteration, "sink"}`.
//!
//! Steps: `none` (the loop), `read` (copy the request's headers out),
//! `sha` (SHA-256 of the token), `jws` (base64 + strict JSON of header and
//! claims), `verify-rs256` / `verify-es256` (one signature through the
//! backend, the self-test's keys), `check` (the gate's whole decision; with
//! `cache.capacity = 0` nothing is cached), `apply` (check + set the
//! identity headers).

use crate::root::{now, with_state, Parts};
use edgeward::{Decision, Outcome, SignatureBackend};
use proxy_wasm::hostcalls;

fn clock_ns() -> u128 {
    hostcalls::get_current_time()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos())
}

/// Runs `rest` (`<step>?n=<n>`) and answers the request.
pub fn run(root: u32, ctx: u32, rest: &str, parts: &Parts) {
    let (step, query) = rest.split_once('?').unwrap_or((rest, ""));
    let n: u32 = query
        .strip_prefix("n=")
        .and_then(|n| n.parse().ok())
        .unwrap_or(1000)
        .max(1);
    let token = parts
        .headers
        .iter()
        .find(|(k, _)| k == "authorization")
        .map(|(_, v)| v.trim_start_matches("Bearer ").to_owned())
        .unwrap_or_default();
    let vectors = crate::selftest::vectors();
    let at = now();
    let t0 = clock_ns();
    let sink = with_state(root, |st| {
        let mut sink = 0u64;
        for _ in 0..n {
            sink += match step {
                "none" => 1,
                "read" => Parts::read().headers.len() as u64,
                "sha" => u64::from(st.gate.backend().sha256(&token)[0]),
                "jws" => edgeward::jws::parse(&token).map_or(0, |j| j.signature.len() as u64),
                "verify-rs256" | "verify-es256" => {
                    let v = &vectors[if step == "verify-rs256" { 0 } else { 2 }];
                    u64::from(
                        st.gate
                            .backend()
                            .verify(v.alg, &v.key, &v.message, &v.signature),
                    )
                }
                "check" | "apply" => match parts.check(&mut st.gate, at) {
                    Outcome::Decided(d @ Decision::Allow(_)) => {
                        if step == "apply" {
                            st.apply(ctx, d, parts);
                        }
                        1
                    }
                    _ => 0,
                },
                _ => 0,
            };
        }
        sink
    })
    .unwrap_or(0);
    let ns = (clock_ns() - t0) / u128::from(n);
    let body = format!(r#"{{"step":"{step}","n":{n},"ns":{ns},"sink":{sink}}}"#);
    let _ = hostcalls::send_http_response(
        200,
        vec![("content-type", "application/json")],
        Some(body.as_bytes()),
    );
}
