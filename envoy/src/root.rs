//! The root context of one worker thread: configuration, the gate, key
//! fetches and the requests waiting for them.
//!
//! Key fetches are always sent from here: a call dispatched from a request's
//! context is delivered back to that context, so a client that disconnects
//! would take the flight's answer with it. A request that needs keys puts
//! the fetch on `to_dispatch` and wakes this context through the worker's
//! own shared queue; the answer re-checks every waiting request here, which
//! then applies the decision on that request's behalf (effective context)
//! and resumes it.

use crate::backend::{EnvoyBackend, EnvoyForeign};
use crate::settings::{Crypto, Settings};
use crate::tier;
use edgeward::{
    Decision, Gate, KeyFetch, Outcome, Request, SharedNext, SharedRead, SharedTier,
    SignatureBackend,
};
use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{BufferType, ContextType, LogLevel, MapType, MetricType};
use std::cell::RefCell;
use std::collections::HashMap;
use std::time::Duration;

/// Tick while requests wait (re-checks, lock waits).
const FAST_TICK: Duration = Duration::from_millis(100);
/// Tick otherwise (background refreshes).
const SLOW_TICK: Duration = Duration::from_millis(1000);
/// Redirects followed per key fetch.
const MAX_HOPS: u8 = 5;

/// A request paused for keys.
pub struct Waiter {
    /// Its HTTP context id.
    pub ctx: u32,
    /// What the gate reads of it.
    pub parts: Parts,
}

/// The request parts the gate reads: method, path, every header.
pub struct Parts {
    /// `:method`.
    pub method: String,
    /// `:path`.
    pub path: String,
    /// Regular headers (no pseudo-headers), in order, repeated as sent.
    pub headers: Vec<(String, String)>,
}

impl Parts {
    /// The current request's parts (the effective context's).
    pub fn read() -> Parts {
        let mut parts = Parts {
            method: String::new(),
            path: String::new(),
            headers: Vec::new(),
        };
        for (name, value) in
            hostcalls::get_map_bytes(MapType::HttpRequestHeaders).unwrap_or_default()
        {
            // Valid UTF-8 (nearly always): the bytes Envoy handed over
            // become the String, no copy.
            let value = String::from_utf8(value)
                .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned());
            match name.as_str() {
                #[cfg(feature = "test-hooks")]
                "x-edgeward-test-now" => TEST_NOW.with(|t| t.set(value.parse().ok())),
                ":method" => parts.method = value,
                ":path" => parts.path = value,
                n if n.starts_with(':') => {}
                _ => parts.headers.push((name, value)),
            }
        }
        parts
    }

    /// Asks the gate about these parts.
    pub fn check<B: SignatureBackend>(&self, gate: &mut Gate<B>, now: i64) -> Outcome {
        self.with(|req| gate.check(req, now))
    }

    /// Runs `f` with the core's borrowed view of these parts.
    fn with<R>(&self, f: impl FnOnce(&Request) -> R) -> R {
        let headers: Vec<(&str, &str)> = self
            .headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        f(&Request {
            method: &self.method,
            path: &self.path,
            headers: &headers,
        })
    }
}

/// Counters, named like `jwt_authn`'s where they overlap.
pub struct Metrics {
    allowed: Option<u32>,
    denied: Option<u32>,
    answered: Option<u32>,
    fetch_success: Option<u32>,
    fetch_failed: Option<u32>,
    cache_hit: Option<u32>,
    cache_miss: Option<u32>,
    reasons: HashMap<&'static str, Option<u32>>,
}

fn counter(name: &str) -> Option<u32> {
    hostcalls::define_metric(MetricType::Counter, name).ok()
}

fn bump(id: Option<u32>) {
    if let Some(id) = id {
        let _ = hostcalls::increment_metric(id, 1);
    }
}

impl Metrics {
    fn new() -> Metrics {
        Metrics {
            allowed: counter("edgeward.allowed"),
            denied: counter("edgeward.denied"),
            answered: counter("edgeward.preflight_answered"),
            fetch_success: counter("edgeward.jwks_fetch_success"),
            fetch_failed: counter("edgeward.jwks_fetch_failed"),
            cache_hit: counter("edgeward.jwt_cache_hit"),
            cache_miss: counter("edgeward.jwt_cache_miss"),
            reasons: HashMap::new(),
        }
    }

    fn denied(&mut self, reason: &'static str) {
        bump(self.denied);
        let id = *self
            .reasons
            .entry(reason)
            .or_insert_with(|| counter(&format!("edgeward.denied.{reason}")));
        bump(id);
    }
}

/// Everything a worker thread's contexts share.
pub struct State {
    /// The core.
    pub gate: Gate<EnvoyBackend>,
    /// Clusters for key fetches.
    pub settings: Settings,
    /// This worker's root context id.
    pub root_id: u32,
    /// This worker's own queue (wakes the root to dispatch).
    pub queue: Option<u32>,
    /// Fetches to send from the root.
    pub to_dispatch: Vec<KeyFetch>,
    /// Dispatched calls: token → (fetch, redirects followed).
    pub calls: HashMap<u32, (KeyFetch, u8)>,
    /// Requests paused for keys.
    pub waiters: Vec<Waiter>,
    /// Flights waiting for another worker's lock.
    pub lock_waits: Vec<KeyFetch>,
    /// Per request: headers to add to the upstream's response (CORS).
    pub response_headers: HashMap<u32, Vec<(String, String)>>,
    /// Counters.
    pub metrics: Metrics,
    tick: Duration,
    last_due: i64,
}

thread_local! {
    /// Per root context (one per plugin configuration in this VM: Envoy
    /// shares a VM between filters with the same `vm_config`).
    static STATES: RefCell<HashMap<u32, State>> = RefCell::new(HashMap::new());
}

/// Runs `f` on root context `root`'s state; `None` before a configuration
/// loaded.
pub fn with_state<R>(root: u32, f: impl FnOnce(&mut State) -> R) -> Option<R> {
    STATES.with(|s| s.borrow_mut().get_mut(&root).map(f))
}

/// Like [`with_state`], but `None` when the state is in use further up the
/// stack (a context deleted while the root is answering it): never a panic.
pub fn try_with_state<R>(root: u32, f: impl FnOnce(&mut State) -> R) -> Option<R> {
    STATES.with(|s| s.try_borrow_mut().ok()?.get_mut(&root).map(f))
}

#[cfg(feature = "test-hooks")]
thread_local! {
    /// Test builds only: the time the last request asked for with
    /// `x-edgeward-test-now` (the conformance cases run at a fixed time).
    pub static TEST_NOW: std::cell::Cell<Option<i64>> = const { std::cell::Cell::new(None) };
}

/// Unix seconds from the host's clock (test builds: as set by the last
/// request's `x-edgeward-test-now`, if any).
pub fn now() -> i64 {
    #[cfg(feature = "test-hooks")]
    if let Some(t) = TEST_NOW.with(|t| t.get()) {
        return t;
    }
    hostcalls::get_current_time()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_secs() as i64)
}

fn log(level: LogLevel, line: serde_json::Value) {
    let _ = hostcalls::log(level, &line.to_string());
}

impl State {
    fn set_tick(&mut self, tick: Duration) {
        if self.tick != tick && hostcalls::set_tick_period(tick).is_ok() {
            self.tick = tick;
        }
    }

    /// A request found keys missing: waits for them (and, as the flight's
    /// starter, sets the flight going).
    pub fn wait(&mut self, waiter: Waiter, fetch: KeyFetch, now: i64) {
        if fetch.start {
            self.start_flight(fetch, now);
        }
        self.waiters.push(waiter);
        self.set_tick(FAST_TICK);
    }

    /// The starter's first step: the shared copy, then what the core says.
    pub fn start_flight(&mut self, f: KeyFetch, now: i64) {
        let next = match &f.shared_key {
            Some(key) => {
                let read = tier::get(key);
                let read = match &read {
                    Ok(v) => SharedRead::Value(v.as_deref()),
                    Err(_) => SharedRead::Failed,
                };
                self.gate.ingest_shared(&f, read, now)
            }
            None => SharedNext::Fetch,
        };
        self.continue_flight(f, next, now);
    }

    fn continue_flight(&mut self, f: KeyFetch, mut next: SharedNext, now: i64) {
        loop {
            match next {
                SharedNext::Done => return,
                SharedNext::Fetch => {
                    self.to_dispatch.push(f);
                    if let Some(q) = self.queue {
                        let _ = hostcalls::enqueue_shared_queue(q, Some(b"f"));
                    }
                    return;
                }
                SharedNext::Lock { key, deadline } => {
                    let got = tier::try_lock(&key, deadline, now);
                    next = self.gate.lock_result(&f, got, now);
                }
                SharedNext::Wait { .. } => {
                    self.lock_waits.push(f);
                    self.set_tick(FAST_TICK);
                    return;
                }
            }
        }
    }

    /// Sends a fetch (root context only).
    fn dispatch(&mut self, f: KeyFetch, hops: u8, now: i64) {
        let timeout = Duration::from_secs(self.gate.config().keys.fetch_timeout);
        let sent = self
            .settings
            .route(&f.url)
            .and_then(|(cluster, authority, path)| {
                let scheme = if f.url.starts_with("https:") {
                    "https"
                } else {
                    "http"
                };
                hostcalls::dispatch_http_call(
                    cluster,
                    vec![
                        (":method", "GET"),
                        (":path", &path),
                        (":authority", &authority),
                        (":scheme", scheme),
                        ("accept", "application/json"),
                    ],
                    None,
                    vec![],
                    timeout,
                )
                .map_err(|s| format!("dispatch to cluster {cluster} failed: {s:?}"))
            });
        match sent {
            Ok(token) => {
                self.calls.insert(token, (f, hops));
            }
            Err(e) => {
                self.gate.fetch_failed(&f, &e, now);
                self.fetched(&f, None, Some(&e), now);
            }
        }
    }

    /// A call's answer (root context).
    fn answer(&mut self, token: u32, body_size: usize, now: i64) {
        let Some((f, hops)) = self.calls.remove(&token) else {
            return;
        };
        let headers: Vec<(String, String)> =
            hostcalls::get_map_bytes(MapType::HttpCallResponseHeaders)
                .unwrap_or_default()
                .into_iter()
                .map(|(k, v)| (k, String::from_utf8_lossy(&v).into_owned()))
                .collect();
        let header = |name: &str| {
            headers
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
        };
        let status: u16 = header(":status").and_then(|s| s.parse().ok()).unwrap_or(0);
        if (300..400).contains(&status) {
            let next = match header("location") {
                Some(_) if hops >= MAX_HOPS => Err(format!("more than {MAX_HOPS} redirects")),
                Some(loc) => self.gate.redirect(&f, loc),
                None => Err(format!("HTTP {status} without a Location")),
            };
            match next {
                Ok(url) => {
                    let hop = KeyFetch { url, ..f };
                    self.dispatch(hop, hops + 1, now);
                }
                Err(e) => {
                    self.gate.fetch_failed(&f, &e, now);
                    self.fetched(&f, Some(status), Some(&e), now);
                }
            }
            return;
        }
        if status == 0 {
            self.gate.fetch_failed(&f, "no response", now);
            self.fetched(&f, None, Some("no response"), now);
            return;
        }
        let max = self.gate.config().keys.max_response_bytes;
        let body =
            hostcalls::get_buffer(BufferType::HttpCallResponseBody, 0, body_size.min(max + 1))
                .ok()
                .flatten()
                .unwrap_or_default();
        let hs: Vec<(&str, &str)> = headers
            .iter()
            .filter(|(k, _)| !k.starts_with(':'))
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let error = self.gate.ingest(&f, status, &hs, &body, now).err();
        self.fetched(&f, Some(status), error.as_deref(), now);
    }

    /// After a fetch ended: counters, a log line, the shared writes, and
    /// every waiting request re-checked.
    fn fetched(&mut self, f: &KeyFetch, status: Option<u16>, error: Option<&str>, now: i64) {
        if f.kind == edgeward::FetchKind::Jwks {
            bump(if error.is_none() {
                self.metrics.fetch_success
            } else {
                self.metrics.fetch_failed
            });
        }
        log(
            if error.is_none() {
                LogLevel::Info
            } else {
                LogLevel::Warn
            },
            serde_json::json!({"event": "key_fetch", "issuer": f.issuer, "url": f.url,
                "kind": f.kind, "status": status, "error": error}),
        );
        for w in self.gate.shared_writes(f, now) {
            if !tier::put(&w.key, &w.value) {
                self.gate.shared_write_failed(&w);
            }
        }
        self.wake(now);
    }

    /// Re-checks every waiting request; decides those that can be.
    pub fn wake(&mut self, now: i64) {
        for w in std::mem::take(&mut self.waiters) {
            if hostcalls::set_effective_context(w.ctx).is_err() {
                continue; // the request is gone
            }
            match w.parts.check(&mut self.gate, now) {
                Outcome::Decided(d) => {
                    if self.apply(w.ctx, d, &w.parts) {
                        let _ = hostcalls::resume_http_request();
                    }
                }
                Outcome::NeedKeys(f) => {
                    if f.start {
                        self.start_flight(f, now);
                    }
                    self.waiters.push(w);
                }
            }
        }
        let _ = hostcalls::set_effective_context(self.root_id);
        if self.waiters.is_empty() && self.lock_waits.is_empty() {
            self.set_tick(SLOW_TICK);
        }
    }

    /// Applies a decision to the effective context's request. True when it
    /// goes on to the upstream.
    pub fn apply(&mut self, ctx: u32, d: Decision, parts: &Parts) -> bool {
        match self.gate.jwt_cache() {
            Some(edgeward::CacheUse::Hit) => bump(self.metrics.cache_hit),
            Some(edgeward::CacheUse::Miss) => bump(self.metrics.cache_miss),
            None => {}
        }
        let refused = match &d {
            Decision::Deny(_) => Some(LogLevel::Debug),
            Decision::Allow(a) if a.report_only.is_some() => Some(LogLevel::Info),
            _ => None,
        };
        if let Some(level) = refused {
            // The same fields as every host's decision line (docs/observability.md).
            let event = parts.with(|req| self.gate.describe(req, &d));
            let mut line = serde_json::json!({"event": "decision"});
            if let (Some(l), Ok(serde_json::Value::Object(m))) =
                (line.as_object_mut(), serde_json::to_value(&event))
            {
                l.extend(m);
            }
            log(level, line);
        }
        match d {
            Decision::Deny(d) => {
                self.metrics.denied(d.reason.code());
                let owned = d.headers();
                let headers: Vec<(&str, &str)> =
                    owned.iter().map(|(k, v)| (*k, v.as_str())).collect();
                let body = (parts.method != "HEAD").then_some(d.body.as_bytes());
                let _ = hostcalls::send_http_response(u32::from(d.status), headers, body);
                false
            }
            Decision::Answer(a) => {
                if a.status == 204 {
                    bump(self.metrics.answered);
                }
                let headers: Vec<(&str, &str)> = a
                    .headers
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.as_str()))
                    .collect();
                let body =
                    (!a.body.is_empty() && parts.method != "HEAD").then_some(a.body.as_bytes());
                let _ = hostcalls::send_http_response(u32::from(a.status), headers, body);
                false
            }
            Decision::Allow(a) => {
                bump(self.metrics.allowed);
                let mut removed: Vec<&str> = Vec::new();
                for (name, _) in &parts.headers {
                    if a.strips(name) && !removed.contains(&name.as_str()) {
                        let _ = hostcalls::remove_map_value(MapType::HttpRequestHeaders, name);
                        removed.push(name);
                    }
                }
                for (name, value) in &a.headers_to_set {
                    let _ =
                        hostcalls::set_map_value(MapType::HttpRequestHeaders, name, Some(value));
                }
                if !a.response_headers.is_empty() {
                    self.response_headers
                        .insert(ctx, a.response_headers.clone());
                }
                true
            }
        }
    }
}

/// The root context.
pub struct Root {
    id: u32,
}

impl Root {
    /// The root context `id`.
    pub fn new(id: u32) -> Root {
        Root { id }
    }
}

impl Context for Root {
    fn on_http_call_response(
        &mut self,
        token: u32,
        _headers: usize,
        body_size: usize,
        _trailers: usize,
    ) {
        let now = now();
        with_state(self.id, |st| st.answer(token, body_size, now));
    }
}

impl RootContext for Root {
    fn on_configure(&mut self, _size: usize) -> bool {
        let text = hostcalls::get_buffer(BufferType::PluginConfiguration, 0, usize::MAX)
            .ok()
            .flatten()
            .unwrap_or_default();
        match configure(self.id, &text) {
            Ok(state) => {
                STATES.with(|s| s.borrow_mut().insert(self.id, state));
                true
            }
            Err(problems) => {
                for p in problems {
                    let _ = hostcalls::log(
                        LogLevel::Critical,
                        &format!("edgeward: invalid configuration: {p}"),
                    );
                }
                false
            }
        }
    }

    fn on_queue_ready(&mut self, queue_id: u32) {
        while let Ok(Some(_)) = hostcalls::dequeue_shared_queue(queue_id) {}
        let now = now();
        with_state(self.id, |st| {
            for f in std::mem::take(&mut st.to_dispatch) {
                st.dispatch(f, 0, now);
            }
        });
    }

    fn on_tick(&mut self) {
        let now = now();
        with_state(self.id, |st| {
            for f in std::mem::take(&mut st.lock_waits) {
                st.start_flight(f, now);
            }
            if now != st.last_due {
                st.last_due = now;
                for f in st.gate.due_refreshes(now) {
                    st.start_flight(f, now);
                }
            }
            st.wake(now);
        });
    }

    fn create_http_context(&self, context_id: u32) -> Option<Box<dyn HttpContext>> {
        Some(Box::new(crate::http::Http::new(context_id, self.id)))
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}

fn configure(root_id: u32, text: &[u8]) -> Result<State, Vec<String>> {
    let mut settings = Settings::parse(text)?;
    let backend = match settings.crypto {
        Crypto::Ring => EnvoyBackend::new(EnvoyForeign, false),
        choice => {
            let b = EnvoyBackend::new(EnvoyForeign, true);
            match b.self_test() {
                Ok(()) => b,
                Err(e) if choice == Crypto::Envoy => {
                    return Err(vec![format!("crypto: \"envoy\", but {e}")]);
                }
                Err(e) if !cfg!(feature = "ring-ecdsa") => {
                    return Err(vec![format!(
                        "{} ({e})",
                        crate::settings::NO_RING_ECDSA
                            .replace("{choice}", "\"auto\" with no usable verify_signature")
                    )]);
                }
                Err(e) => {
                    let _ = hostcalls::log(
                        LogLevel::Warn,
                        &format!("edgeward: Envoy's verify_signature is not usable ({e}); ring verifies every signature"),
                    );
                    EnvoyBackend::new(EnvoyForeign, false)
                }
            }
        }
    };
    let crypto = backend.name();
    // The gate takes the configuration (`settings` keeps the clusters; a
    // clone would be the whole configuration's `Clone` code for nothing).
    let config = std::mem::take(&mut settings.config);
    let mut gate = Gate::with_backend(config, backend).map_err(|e| {
        e.0.iter()
            .map(|e| format!("edgeward.{}: {}", e.field, e.message))
            .collect::<Vec<_>>()
    })?;
    // Identities reach no one but the policy and the identity headers.
    gate.keep_only_needed_claims();
    gate.use_shared_tier(SharedTier { lock: true });
    for key in gate.shared_lock_keys() {
        tier::create_lock(&key);
    }
    let now = now();
    for key in gate.shared_keys() {
        if let Ok(v) = tier::get(&key) {
            let _ = gate.adopt_shared(&key, v.as_deref(), now);
        }
    }
    let queue =
        hostcalls::register_shared_queue(&format!("edgeward:fetch:{}", tier::worker_number())).ok();
    let _ = hostcalls::set_tick_period(SLOW_TICK);
    log(
        LogLevel::Info,
        serde_json::json!({"event": "start", "crypto": crypto,
            "issuers": gate.config().issuers.iter().map(|i| i.issuer.as_str()).collect::<Vec<_>>(),
            "mode": gate.config().mode}),
    );
    Ok(State {
        gate,
        settings,
        root_id,
        queue,
        to_dispatch: Vec::new(),
        calls: HashMap::new(),
        waiters: Vec::new(),
        lock_waits: Vec::new(),
        response_headers: HashMap::new(),
        metrics: Metrics::new(),
        tick: SLOW_TICK,
        last_due: 0,
    })
}
