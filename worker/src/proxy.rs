//! Forwarding an allowed request to the origin.
//!
//! Method, URL path and query, headers and the body stream go through as
//! they are (the body is never read or buffered here); the gate's identity
//! headers replace any the client sent; redirects and every other origin
//! response, a `101 Switching Protocols` with its WebSocket included, are
//! handed back untouched.

use crate::App;
use edgeward::Allow;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

#[wasm_bindgen(module = "/js/glue.js")]
extern "C" {
    /// Method, URL and the `wanted` headers' values, in one call.
    #[wasm_bindgen(js_name = readParts)]
    pub fn read_parts(req: &web_sys::Request, wanted: &js_sys::Array) -> String;
    #[wasm_bindgen(js_name = forwardRequest, catch)]
    fn forward_request(
        req: &web_sys::Request,
        url: Option<String>,
        remove: &js_sys::Array,
        set: &str,
    ) -> Result<JsValue, JsValue>;
    #[wasm_bindgen(js_name = sendForward)]
    fn send_forward(forward: &JsValue) -> js_sys::Promise;
}

/// The request for the origin, as `{url, init}` (fetch's arguments):
/// `origin` + path and query, or the request's own URL when no origin is set
/// (a Worker on a route in front of it).
pub fn origin_request(
    req: &web_sys::Request,
    allow: &Allow,
    app: &mut App,
    path_and_query: &str,
) -> Result<JsValue, JsValue> {
    let remove = match &app.strip {
        Some((names, js)) if std::sync::Arc::ptr_eq(names, &allow.headers_to_remove) => js.clone(),
        _ => {
            #[allow(unused_mut)]
            let mut js: js_sys::Array = allow
                .headers_to_remove
                .iter()
                .map(|n| JsValue::from_str(n))
                .collect();
            #[cfg(feature = "test-clock")]
            js.push(&JsValue::from_str(crate::TEST_NOW_HEADER));
            app.strip = Some((allow.headers_to_remove.clone(), js.clone()));
            js
        }
    };
    let mut set = String::new();
    for (name, value) in &allow.headers_to_set {
        if !set.is_empty() {
            set.push('\n');
        }
        set.push_str(name);
        set.push('\n');
        set.push_str(value);
    }
    let url = app.origin.as_ref().map(|o| format!("{o}{path_and_query}"));
    forward_request(req, url, &remove, &set)
}

/// Sends an [`origin_request`] and returns the origin's response as it is.
pub async fn send(forward: &JsValue) -> Result<web_sys::Response, JsValue> {
    let res = JsFuture::from(send_forward(forward)).await?;
    res.dyn_into::<web_sys::Response>()
}
