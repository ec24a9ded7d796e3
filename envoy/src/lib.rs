//! # edgeward-envoy
//!
//! The edgeward gate as an Envoy HTTP filter (`envoy.filters.http.wasm`,
//! proxy-wasm ABI 0.2.1, V8, built for wasm32-wasip1). Every request is
//! decided by the core before it may reach the cluster behind; denials and
//! CORS answers are sent from here.
//!
//! The shape of the proxy-wasm SDK examples: a root context per worker
//! thread owns the configuration, the gate and the key fetches; an HTTP
//! context per request reads the request, asks the gate and, when keys must
//! be fetched, pauses until the root resumes it.
//!
//! - configuration (the common schema + clusters + crypto): [`settings`]
//! - signatures: Envoy's `verify_signature` for RS*/ES*, ring for the rest: [`backend`]
//! - keys across worker threads: proxy-wasm shared data driven by the core's
//!   shared-tier protocol, with a compare-and-swap lock: [`tier`]
//! - the root context (fetches, waiting requests, ticks): [`root`]
//! - the request path: [`http`]

pub mod backend;
pub mod selftest;
pub mod settings;

#[cfg(target_arch = "wasm32")]
pub mod http;
#[cfg(all(feature = "probe", target_arch = "wasm32"))]
pub mod probe;
#[cfg(target_arch = "wasm32")]
pub mod root;
#[cfg(target_arch = "wasm32")]
pub mod tier;
#[cfg(feature = "test-hooks")]
pub mod vectors;

#[cfg(target_arch = "wasm32")]
proxy_wasm::main! {{
    proxy_wasm::set_log_level(proxy_wasm::types::LogLevel::Info);
    proxy_wasm::set_root_context(|id| -> Box<dyn proxy_wasm::traits::RootContext> {
        Box::new(root::Root::new(id))
    });
}}
