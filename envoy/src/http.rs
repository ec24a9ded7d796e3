//! One request: read it, ask the gate, apply the answer; when keys must be
//! fetched first, pause and leave the request to the root context.

use crate::root::{now, with_state, Parts, Waiter};
use edgeward::Outcome;
use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext};
use proxy_wasm::types::{Action, MapType};

/// The HTTP context of one request.
pub struct Http {
    id: u32,
    root: u32,
}

impl Http {
    /// The context `id` of root context `root`.
    pub fn new(id: u32, root: u32) -> Http {
        Http { id, root }
    }
}

impl Context for Http {}

impl HttpContext for Http {
    fn on_http_request_headers(&mut self, _headers: usize, _end_of_stream: bool) -> Action {
        let now = now();
        let parts = Parts::read();
        let id = self.id;
        let action = with_state(self.root, |st| {
            let outcome = match parts.check(&mut st.gate, now) {
                Outcome::NeedKeys(f) => {
                    // The starter's first steps may end the flight at once
                    // (another worker's copy in shared data): check again.
                    if f.start {
                        st.start_flight(f, now);
                    }
                    parts.check(&mut st.gate, now)
                }
                decided => decided,
            };
            match outcome {
                Outcome::Decided(d) => {
                    if st.apply(id, d, &parts) {
                        Action::Continue
                    } else {
                        Action::Pause
                    }
                }
                Outcome::NeedKeys(f) => {
                    st.wait(Waiter { ctx: id, parts }, f, now);
                    Action::Pause
                }
            }
        });
        action.unwrap_or_else(|| {
            // No configuration loaded: fail closed, never pass.
            let _ = hostcalls::send_http_response(
                500,
                vec![("content-type", "application/json"), ("cache-control", "no-store")],
                Some(br#"{"error":"server_error","reason":"config_invalid","detail":"the gate has no valid configuration; see Envoy's log"}"#),
            );
            Action::Pause
        })
    }

    fn on_http_response_headers(&mut self, _headers: usize, _end_of_stream: bool) -> Action {
        let id = self.id;
        if let Some(Some(headers)) = with_state(self.root, |st| st.response_headers.remove(&id)) {
            for (name, value) in headers {
                let _ = hostcalls::add_map_value(MapType::HttpResponseHeaders, &name, &value);
            }
        }
        Action::Continue
    }
}

impl Drop for Http {
    fn drop(&mut self) {
        let id = self.id;
        let _ = with_state(self.root, |st| {
            st.waiters.retain(|w| w.ctx != id);
            st.response_headers.remove(&id);
        });
    }
}
