//! Forwarding an allowed request to the origin.
//!
//! Method, URL path and query, headers and the body stream go through as
//! they are (the body is never read or buffered here); the gate's identity
//! headers replace any the client sent, and client headers whose name reads
//! as one of them with `_` for `-` (`X_Auth_Subject`, see
//! `edgeward::header_key`) are removed too; redirects and every other
//! origin response, a `101 Switching Protocols` with its WebSocket included,
//! are handed back as they are, plus the gate's response headers (CORS, see
//! `Allow::response_headers`) when there are any (never on a 101).

use crate::App;
use edgeward::Allow;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

// One extern block per JS module: wasm-bindgen emits an import entry per
// block, and two for the same file are a duplicate key in the bundle.
#[wasm_bindgen(module = "/js/glue.js")]
extern "C" {
    /// Method, URL and the values of the headers `wanted` names (see
    /// [`crate::Wanted`]), in one call, written as UTF-8 into this
    /// module's memory at `ptr` (at most `cap` bytes): the byte count, or
    /// minus the capacity needed when `cap` was too small.
    #[wasm_bindgen(js_name = readParts)]
    pub fn read_parts(
        req: &web_sys::Request,
        wanted: &js_sys::Map,
        aliased: &js_sys::Set,
        strip: &JsValue,
        ptr: u32,
        cap: u32,
    ) -> i32;
    /// Hands js/glue.js this module's memory (once per isolate).
    #[wasm_bindgen(js_name = useMemory)]
    pub fn use_memory(memory: &JsValue);
    #[wasm_bindgen(js_name = stripSet)]
    fn strip_set(names: &js_sys::Array) -> JsValue;
    #[wasm_bindgen(js_name = forwardRequest, catch)]
    fn forward_request(
        req: &web_sys::Request,
        spec: &str,
        remove: &JsValue,
    ) -> Result<JsValue, JsValue>;
    #[wasm_bindgen(js_name = sendForward)]
    fn send_forward(forward: &JsValue) -> js_sys::Promise;
    /// A body read in chunks, never past `max` bytes (key fetches).
    #[wasm_bindgen(js_name = readCapped)]
    pub fn read_capped(res: &web_sys::Response, max: usize) -> js_sys::Promise;
}

/// The request for the origin, as `{url, init, respond?}` (fetch's
/// arguments, and what to do to the origin's response when the gate adds
/// headers to it): `origin` + path and query, or the request's own URL when
/// no origin is set (a Worker on a route in front of it).
pub fn origin_request(
    req: &web_sys::Request,
    allow: &Allow,
    app: &mut App,
    path_and_query: &str,
) -> Result<JsValue, JsValue> {
    let remove = if std::sync::Arc::ptr_eq(&app.strip.0, &allow.headers_to_remove) {
        app.strip.1.clone()
    } else {
        strip(&allow.headers_to_remove).1
    };
    // "URL\0SET\0ADD": one string across to JS (js/glue.js).
    let mut spec = String::with_capacity(256);
    if let Some(o) = &app.origin {
        spec.push_str(o);
        spec.push_str(path_and_query);
    }
    spec.push('\0');
    lines(&mut spec, &allow.headers_to_set);
    spec.push('\0');
    lines(&mut spec, &allow.response_headers);
    forward_request(req, &spec, &remove)
}

/// Header pairs as "name\nvalue\n..." (names are tokens and values visible
/// ASCII, so neither holds a line feed or a NUL).
fn lines(out: &mut String, headers: &[(String, String)]) {
    for (i, (name, value)) in headers.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        out.push_str(name);
        out.push('\n');
        out.push_str(value);
    }
}

/// The names to strip, and as a JS `Set` (js/glue.js `stripSet`; in
/// `test-clock` builds with the test clock's header added).
pub fn strip(names: &std::sync::Arc<[String]>) -> (std::sync::Arc<[String]>, JsValue) {
    #[allow(unused_mut)]
    let mut js: js_sys::Array = names.iter().map(|n| JsValue::from_str(n)).collect();
    #[cfg(feature = "test-clock")]
    js.push(&JsValue::from_str(crate::TEST_NOW_HEADER));
    (names.clone(), strip_set(&js))
}

/// Sends an [`origin_request`] and returns the origin's response (with the
/// gate's response headers, when it has any).
pub async fn send(forward: &JsValue) -> Result<web_sys::Response, JsValue> {
    let res = JsFuture::from(send_forward(forward)).await?;
    res.dyn_into::<web_sys::Response>()
}
