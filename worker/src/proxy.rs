//! Forwarding an allowed request to the origin.
//!
//! Method, URL path and query, headers and the body stream go through as
//! they are (the body is never read or buffered here); the gate's identity
//! headers replace any the client sent; redirects and every other origin
//! response, a `101 Switching Protocols` with its WebSocket included, are
//! handed back untouched.

use edgeward::Allow;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_name = fetch)]
    fn global_fetch(req: &web_sys::Request) -> js_sys::Promise;
}

/// The request for the origin: `origin` + path and query, or the request's
/// own URL when no origin is set (a Worker on a route in front of it).
pub fn origin_request(
    req: &web_sys::Request,
    allow: &Allow,
    origin: Option<&str>,
    path_and_query: &str,
) -> Result<web_sys::Request, JsValue> {
    let headers = web_sys::Headers::new_with_headers(&req.headers())?;
    for name in &allow.headers_to_remove {
        headers.delete(name)?;
    }
    #[cfg(feature = "test-clock")]
    headers.delete(crate::TEST_NOW_HEADER)?;
    for (name, value) in &allow.headers_to_set {
        headers.set(name, value)?;
    }
    let url = match origin {
        Some(o) => {
            // The origin is another host: let fetch set Host for it.
            headers.delete("host")?;
            format!("{o}{path_and_query}")
        }
        None => req.url(),
    };
    let init = web_sys::RequestInit::new();
    init.set_method(&req.method());
    init.set_headers(&headers);
    init.set_redirect(web_sys::RequestRedirect::Manual);
    if let Some(body) = req.body() {
        init.set_body(&body);
    }
    web_sys::Request::new_with_str_and_init(&url, &init)
}

/// Sends the request on and returns the origin's response as it is.
pub async fn send(out: &web_sys::Request) -> Result<web_sys::Response, JsValue> {
    let res = JsFuture::from(global_fetch(out)).await?;
    res.dyn_into::<web_sys::Response>()
}
