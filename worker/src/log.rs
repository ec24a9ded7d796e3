//! Structured logs: one JSON object per line on `console.log`, which
//! Workers Logs / `wrangler tail` / Logpush index field by field. Never a
//! token, a key or a secret.
//!
//! Per decision: a `decision` line with the core's fields
//! ([`edgeward::DecisionEvent`], docs/observability.md) plus `latency_ms`,
//! `key_fetch`, `sample_rate`, `cf_ray` and `traceparent` — always for
//! refusals, gate answers, report-only and requests that waited for keys;
//! for plain allows, a random share `EDGEWARD_LOG_SAMPLE`. With an
//! `EDGEWARD_ANALYTICS` binding, one Analytics Engine data point per
//! decision (layout in worker/README.md).

//!
//! A new isolate holds its lines back until its first verdict is out
//! ([`release`]): its first `console.log` costs ~4 ms of CPU (workerd loads
//! its Node formatting code then), which the first verdict need not wait for.
//! A line held back may also be built then ([`line_later`]): a new isolate
//! compiles each wasm function on its first call, and the JSON building and
//! writing code is then off its first verdict's path too.

use crate::{now_ms, with_app, Parts};
use edgeward::{Decision, DecisionEvent, EventOutcome};
use serde_json::{json, Value};
use std::cell::RefCell;
use wasm_bindgen::{JsCast, JsValue};

/// A line held back: written, or still to build.
enum Held {
    Text(String),
    Later(Box<dyn FnOnce() -> Value>),
}

thread_local! {
    /// Lines held back; `None` once released.
    static HELD: RefCell<Option<Vec<Held>>> = const { RefCell::new(Some(Vec::new())) };
}

fn write(s: &str) {
    web_sys::console::log_1(&JsValue::from_str(s));
}

/// Holds `h` when lines are held back; else gives it back.
fn hold(h: Held) -> Option<Held> {
    HELD.with(|held| match held.borrow_mut().as_mut() {
        Some(lines) => {
            lines.push(h);
            None
        }
        None => Some(h),
    })
}

/// Writes one log line (or holds it, before the isolate's first verdict).
pub fn line(v: Value) {
    if let Some(Held::Text(s)) = hold(Held::Text(v.to_string())) {
        write(&s);
    }
}

/// Like [`line`], the line built by `f` only when it is written: before the
/// isolate's first verdict is out, that is after it. `f` must capture what
/// it writes by value, as it is then.
pub fn line_later(f: impl FnOnce() -> Value + 'static) {
    if let Some(Held::Later(f)) = hold(Held::Later(Box::new(f))) {
        write(&f().to_string());
    }
}

/// Writes `first`, then the lines held back, in order; every later line is
/// written at once.
pub fn release(first: Option<Value>) {
    let held = HELD.with(|h| h.borrow_mut().take());
    if let Some(v) = first {
        write(&v.to_string());
    }
    for h in held.into_iter().flatten() {
        match h {
            Held::Text(s) => write(&s),
            Held::Later(f) => write(&f().to_string()),
        }
    }
}

/// Analytics Engine caps an index at 96 bytes.
const INDEX_BYTES: usize = 96;

/// Logs (when due) and records the decision just made for `parts`. Call
/// before the gate's next check: the core describes its latest one.
pub fn decision(
    req: &web_sys::Request,
    d: &Decision,
    parts: &Parts,
    started: f64,
    key_fetch: bool,
) {
    let plain_allow = matches!(d, Decision::Allow(a) if a.report_only.is_none());
    let Some((rate, analysed)) = with_app(|a| (a.log_sample, a.analytics.is_some())) else {
        return;
    };
    let logged =
        !plain_allow || key_fetch || rate >= 1.0 || (rate > 0.0 && js_sys::Math::random() < rate);
    if !logged && !analysed {
        return;
    }
    emit(req, d, parts, started, key_fetch, plain_allow, rate, logged);
}

/// What [`decision`] writes when it writes anything, out of line: most
/// allows are not sampled, and a new isolate's first request then does not
/// compile this.
#[inline(never)]
#[allow(clippy::too_many_arguments)]
fn emit(
    req: &web_sys::Request,
    d: &Decision,
    parts: &Parts,
    started: f64,
    key_fetch: bool,
    plain_allow: bool,
    rate: f64,
    logged: bool,
) {
    let analytics = with_app(|a| a.analytics.clone()).flatten();
    let Some(event) = with_app(|app| parts.with(|r| app.gate.describe(r, d))) else {
        return;
    };
    let latency_ms = now_ms() - started;
    if logged {
        let mut l = json!({"event": "decision"});
        if let (Some(m), Ok(Value::Object(e))) = (l.as_object_mut(), serde_json::to_value(&event)) {
            m.extend(e);
            m.insert("latency_ms".into(), latency_ms.into());
            m.insert("key_fetch".into(), key_fetch.into());
            // What a count of these lines must be multiplied by.
            let rate = if plain_allow && !key_fetch { rate } else { 1.0 };
            m.insert("sample_rate".into(), rate.into());
            let headers = req.headers();
            for (name, field) in [("cf-ray", "cf_ray"), ("traceparent", "traceparent")] {
                if let Ok(Some(v)) = headers.get(name) {
                    m.insert(field.into(), edgeward::observe::bound(&v).into());
                }
            }
        }
        line(l);
    }
    if let Some(dataset) = analytics {
        write_point(&dataset, &event, latency_ms, key_fetch);
    }
}

/// One data point: blobs, doubles and the index as worker/README.md lays
/// them out. A failing write is logged, never fatal.
fn write_point(dataset: &JsValue, e: &DecisionEvent, latency_ms: f64, key_fetch: bool) {
    let s = |v: &Option<String>| v.clone().unwrap_or_default();
    let outcome = match e.outcome {
        EventOutcome::Allow => "allow",
        EventOutcome::Deny => "deny",
        EventOutcome::Answer => "answer",
        EventOutcome::ReportOnly => "report_only",
    };
    let mut index = s(&e.route);
    if index.len() > INDEX_BYTES {
        let mut end = INDEX_BYTES;
        while !index.is_char_boundary(end) {
            end -= 1;
        }
        index.truncate(end);
    }
    let point = json!({
        "indexes": [index],
        "blobs": [
            outcome,
            e.reason.unwrap_or_default(),
            s(&e.route),
            s(&e.issuer),
            e.method,
            s(&e.unverified_issuer),
            s(&e.kid),
            s(&e.alg),
            e.identity.and_then(|k| serde_json::to_value(k).ok()).and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default(),
            s(&e.tenant),
        ],
        "doubles": [
            e.status,
            latency_ms,
            if key_fetch { 1 } else { 0 },
            match e.jwt_cache {
                Some(edgeward::CacheUse::Hit) => 1,
                Some(edgeward::CacheUse::Miss) => 0,
                None => -1,
            },
        ],
    });
    let result = js_sys::JSON::parse(&point.to_string()).and_then(|p| {
        let write = js_sys::Reflect::get(dataset, &JsValue::from_str("writeDataPoint"))?;
        write
            .unchecked_into::<js_sys::Function>()
            .call1(dataset, &p)
    });
    if let Err(err) = result {
        let error = err
            .dyn_ref::<js_sys::Error>()
            .map(|e| String::from(e.message()))
            .or_else(|| err.as_string())
            .unwrap_or_else(|| "writeDataPoint failed".into());
        line(json!({"event": "analytics_error", "error": error}));
    }
}
