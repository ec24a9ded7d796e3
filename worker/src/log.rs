//! Structured logs: one JSON object per line on `console.log`, which
//! Workers Logs / `wrangler tail` / Logpush index field by field. Never a
//! token, a key or a secret.

use wasm_bindgen::JsValue;

/// Writes one log line.
pub fn line(v: serde_json::Value) {
    web_sys::console::log_1(&JsValue::from_str(&v.to_string()));
}
