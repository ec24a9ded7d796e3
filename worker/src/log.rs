//! Structured logs: one JSON object per line on `console.log`, which
//! Workers Logs / `wrangler tail` / Logpush index field by field. Never a
//! token, a key or a secret.
//!
//! A new isolate holds its lines back until its first verdict is out
//! ([`release`]): its first `console.log` costs ~4 ms of CPU (workerd loads
//! its Node formatting code then), which the first verdict need not wait for.

use std::cell::RefCell;
use wasm_bindgen::JsValue;

thread_local! {
    /// Lines held back; `None` once released.
    static HELD: RefCell<Option<Vec<String>>> = const { RefCell::new(Some(Vec::new())) };
}

/// Writes one log line (or holds it, before the isolate's first verdict).
pub fn line(v: serde_json::Value) {
    let s = v.to_string();
    let now = HELD.with(|h| match h.borrow_mut().as_mut() {
        Some(held) => {
            held.push(s);
            None
        }
        None => Some(s),
    });
    if let Some(s) = now {
        web_sys::console::log_1(&JsValue::from_str(&s));
    }
}

/// Writes `first`, then the lines held back, in order; every later line is
/// written at once.
pub fn release(first: Option<serde_json::Value>) {
    let held = HELD.with(|h| h.borrow_mut().take());
    for s in first
        .map(|v| v.to_string())
        .into_iter()
        .chain(held.into_iter().flatten())
    {
        web_sys::console::log_1(&JsValue::from_str(&s));
    }
}
