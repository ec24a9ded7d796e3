//! One request: read it, ask the gate, apply the answer; when keys must be
//! fetched first, pause and leave the request to the root context.

use crate::root::{now, try_with_state, with_state, Parts, Waiter};
use edgeward::Outcome;
use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext};
use proxy_wasm::types::{Action, MapType};

/// The HTTP context of one request.
pub struct Http {
    id: u32,
    root: u32,
    #[cfg(feature = "test-hooks")]
    vectors: bool,
}

impl Http {
    /// The context `id` of root context `root`.
    pub fn new(id: u32, root: u32) -> Http {
        Http {
            id,
            root,
            #[cfg(feature = "test-hooks")]
            vectors: false,
        }
    }
}

impl Context for Http {}

impl HttpContext for Http {
    fn on_http_request_headers(&mut self, _headers: usize, _end_of_stream: bool) -> Action {
        let parts = Parts::read();
        let now = now();
        let id = self.id;
        #[cfg(feature = "test-hooks")]
        if parts.path == "/__edgeward/panic" {
            panic!("a test of the failure policy");
        }
        #[cfg(feature = "probe")]
        if let Some(rest) = parts.path.strip_prefix("/__edgeward/probe/") {
            crate::probe::run(self.root, id, rest, &parts);
            return Action::Pause;
        }
        #[cfg(feature = "test-hooks")]
        if parts.method == "POST" && parts.path == "/__edgeward/vectors" {
            // Headers go on (the upstream waits for a body it never gets);
            // the body is held and answered here at its end.
            self.vectors = true;
            return Action::Continue;
        }
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

    #[cfg(feature = "test-hooks")]
    fn on_http_request_body(&mut self, body_size: usize, end_of_stream: bool) -> Action {
        if !self.vectors {
            return Action::Continue;
        }
        if !end_of_stream {
            return Action::Pause;
        }
        let body =
            hostcalls::get_buffer(proxy_wasm::types::BufferType::HttpRequestBody, 0, body_size)
                .ok()
                .flatten()
                .unwrap_or_default();
        let out = with_state(self.root, |st| {
            crate::vectors::run(st.gate.backend(), &body)
        })
        .unwrap_or_else(|| "{\"error\":\"not configured\"}".into());
        let _ = hostcalls::send_http_response(
            200,
            vec![("content-type", "application/json")],
            Some(out.as_bytes()),
        );
        Action::Pause
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
        // A waiter left behind is dropped by the next wake (its context is
        // gone), so skipping this while the state is busy loses nothing.
        let _ = try_with_state(self.root, |st| {
            st.waiters.retain(|w| w.ctx != id);
            st.response_headers.remove(&id);
        });
    }
}
