//! Test builds only: Wycheproof's vectors (`scripts/wycheproof-vectors.mjs`
//! output, POSTed to `/__edgeward/vectors`) through the filter's backend in a
//! real Envoy, against ring. Both must give Wycheproof's answer (ES512:
//! Envoy's alone, as ring has no P-521 and the module has no `p521`).

use crate::backend::{EnvoyBackend, Foreign};
use edgeward::keys::{parse_alg, parse_jwk};
use edgeward::{RingBackend, SignatureBackend};
use serde::Deserialize;
use std::collections::BTreeMap;

#[derive(Deserialize)]
struct Doc {
    groups: Vec<Group>,
}

#[derive(Deserialize)]
struct Group {
    alg: String,
    set: String,
    jwk: serde_json::Value,
    tests: Vec<(u64, String, String, String)>,
}

fn hex(s: &str) -> Option<Vec<u8>> {
    (0..s.len())
        .step_by(2)
        .map(|i| s.get(i..i + 2).and_then(|b| u8::from_str_radix(b, 16).ok()))
        .collect()
}

/// Runs the vectors; answers `{run, skipped, native_answered, by_alg,
/// failures}` (`by_alg`: vectors run and answered by Envoy, per alg).
pub fn run<F: Foreign>(backend: &EnvoyBackend<F>, body: &[u8]) -> String {
    let doc: Doc = match serde_json::from_slice(body) {
        Ok(d) => d,
        Err(e) => return serde_json::json!({"error": e.to_string()}).to_string(),
    };
    let (mut run, mut skipped, mut native_answered) = (0u64, 0u64, 0u64);
    let mut failures = Vec::new();
    let mut by_alg: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    for g in &doc.groups {
        let Some(alg) = parse_alg(&g.alg) else {
            failures.push(format!("{}: unknown alg {}", g.set, g.alg));
            continue;
        };
        let key = match parse_jwk(&g.jwk) {
            Ok(k) if k.usable_for(alg).is_ok() => k,
            _ => {
                skipped += g.tests.len() as u64;
                continue;
            }
        };
        for (id, msg, sig, result) in &g.tests {
            let (Some(msg), Some(sig)) = (hex(msg), hex(sig)) else {
                failures.push(format!("{} #{id}: bad hex", g.set));
                continue;
            };
            run += 1;
            let tally = by_alg.entry(g.alg.clone()).or_default();
            tally.0 += 1;
            let at = format!("{} #{id} ({}, {result})", g.set, g.alg);
            if !backend.supports(alg) {
                failures.push(format!("{at}: the backend does not verify {}", g.alg));
                continue;
            }
            let ours = backend.verify(alg, &key, &msg, &sig);
            if backend.is_native() && backend.native_verify(alg, &key, &msg, &sig).is_some() {
                native_answered += 1;
                tally.1 += 1;
            }
            if RingBackend.supports(alg) {
                let ring = RingBackend.verify(alg, &key, &msg, &sig);
                if ours != ring {
                    failures.push(format!("{at}: envoy backend {ours}, ring {ring}"));
                }
            }
            if result == "valid" && !ours {
                failures.push(format!("{at}: refused"));
            }
            if result == "invalid" && ours {
                failures.push(format!("{at}: accepted"));
            }
        }
    }
    serde_json::json!({"run": run, "skipped": skipped, "native_answered": native_answered, "by_alg": by_alg, "failures": failures})
        .to_string()
}
