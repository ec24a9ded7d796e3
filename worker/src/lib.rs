//! # edgeward-worker
//!
//! The edgeward gate as a Cloudflare Worker in front of an API: every request
//! is decided by the core before it may reach the origin; allowed requests are
//! streamed to `ORIGIN` (or their own URL on a route) with identity headers,
//! denied ones are answered here.
//!
//! - settings (config var or bundled file, secrets, `ORIGIN`): [`settings`]
//! - keys: per-isolate memory → KV (`EDGEWARD_KV`) → the IdP: [`keycache`]
//! - forwarding: [`proxy`]; native signature arithmetic: [`native`]
//! - one JSON log line per decision (allows sampled) and per key fetch,
//!   one Analytics Engine data point per decision: [`log`]
//!
//! Build: `worker/scripts/build.sh` (cargo + wasm-bindgen + wasm-opt + a
//! small ES module entry, `worker/js/entry.mjs`); run: `wrangler dev` with the
//! repo's `wrangler.toml`.

pub mod keycache;
pub mod log;
pub mod native;
#[cfg(feature = "probe")]
pub mod probe;
pub mod proxy;
pub mod settings;

/// talc in place of std's dlmalloc, as in the npm package (js/src/lib.rs):
/// 2.8 KB less gzip here, the same speed within the benchmarks' noise.
#[cfg(all(target_family = "wasm", not(target_feature = "atomics")))]
#[global_allocator]
static ALLOC: talc::wasm::WasmDynamicTalc = talc::wasm::new_wasm_dynamic_allocator();

use edgeward::config::Mode;
use edgeward::{Answer, Decision, Deny, Gate, Reason, Request, SharedTier, SignatureBackend};
use native::NativeBackend;
use serde_json::json;
use std::cell::RefCell;
use wasm_bindgen::prelude::*;
use worker::{event, Context, Env};

/// Per-isolate state: the gate (configuration, keys in memory, verdict
/// caches, and what this isolate knows of KV: the core keeps it).
pub struct App {
    /// The core.
    pub gate: Gate<NativeBackend>,
    /// Share of allowed requests with a decision log line.
    pub log_sample: f64,
    /// The Analytics Engine dataset, when bound.
    pub analytics: Option<JsValue>,
    /// Where allowed requests go.
    pub origin: Option<String>,
    /// The KV binding (looked up once per isolate).
    pub kv: Option<worker::kv::KvStore>,
    /// Request headers the core reads (lowercase); nothing else is copied
    /// out of the runtime's `Headers`.
    pub wanted_headers: std::rc::Rc<Wanted>,
    /// The isolate's start log line, written after its first verdict
    /// ([`after_first_verdict`]); `None` once written.
    pub start_line: Option<serde_json::Value>,
    /// The headers removed from every forwarded request (the core's
    /// `headers_to_remove`, the same shared list on every decision, so it is
    /// recognised by pointer), and as a JS `Set` made once.
    pub strip: (std::sync::Arc<[String]>, JsValue),
}

/// Header names to copy out of requests, in Rust and for js/glue.js
/// `readParts`.
pub struct Wanted {
    /// Lowercase names.
    pub names: Vec<String>,
    /// A JS `Map` from header name to its index in `names` (made once per
    /// isolate), holding also the `_` spellings (`x_http_method_override`)
    /// of the method-override headers: the core reads those by
    /// `header_key`, as servers that map `_` and `-` alike do.
    pub js: js_sys::Map,
    /// The method-override names, as a JS `Set`: a name that mixes `_` and
    /// `-` counts as the one it reads as.
    pub aliased: js_sys::Set,
    /// [`App::strip`]'s JS `Set`: `readParts` notes the request's headers
    /// in it while it reads the names, so that the origin request needs no
    /// second pass over them (js/glue.js).
    pub strip: JsValue,
}

impl Wanted {
    fn new(names: Vec<String>, strip: JsValue) -> Wanted {
        let js = js_sys::Map::new();
        let aliased = js_sys::Set::new(&JsValue::UNDEFINED);
        for (i, n) in names.iter().enumerate() {
            let index = JsValue::from(i as u32);
            js.set(&JsValue::from_str(n), &index);
            if edgeward::gate::METHOD_OVERRIDE_HEADERS.contains(&n.as_str()) {
                js.set(&JsValue::from_str(&n.replace('-', "_")), &index);
                aliased.add(&JsValue::from_str(n));
            }
        }
        proxy::use_memory(&wasm_bindgen::memory());
        Wanted {
            names,
            js,
            aliased,
            strip,
        }
    }
}

enum Phase {
    Uninit,
    Ready(Box<App>),
    Broken(String),
}

thread_local! {
    static PHASE: RefCell<Phase> = const { RefCell::new(Phase::Uninit) };
    /// Where js/glue.js `readParts` writes a request's parts (grown when a
    /// request needs more).
    static PARTS_BUF: RefCell<Vec<u8>> = RefCell::new(vec![0; 4096]);
}

/// Runs `f` on the isolate's [`App`]. Never held across an `await`.
pub fn with_app<R>(f: impl FnOnce(&mut App) -> R) -> Option<R> {
    PHASE.with(|p| match &mut *p.borrow_mut() {
        Phase::Ready(app) => Some(f(app)),
        _ => None,
    })
}

/// Wall-clock milliseconds (workerd advances it across I/O only).
pub fn now_ms() -> f64 {
    js_sys::Date::now()
}

/// The time the gate is asked at. Real time, except in `test-clock` builds
/// where `x-edgeward-test-now` may set it (never in the shipped Worker).
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    #[allow(dead_code)]
    fixed: Option<i64>,
}

impl Clock {
    /// The current Unix time in seconds.
    pub fn now(&self) -> i64 {
        self.at(now_ms())
    }

    /// The Unix time in seconds at `ms` ([`now_ms`] read earlier in the same
    /// request: workerd's clock stands still while a request computes).
    pub fn at(&self, ms: f64) -> i64 {
        #[cfg(feature = "test-clock")]
        if let Some(t) = self.fixed {
            return t;
        }
        (ms / 1000.0) as i64
    }
}

/// Header name of the test clock (test builds only).
pub const TEST_NOW_HEADER: &str = "x-edgeward-test-now";

/// Builds the isolate's gate from its settings, once (js/entry.mjs calls
/// it on the isolate's first event, synchronously: no async machinery on a
/// new isolate's first request). Answers the KV keys of the key snapshots
/// to read and hand to [`adopt_snapshot`] before the first check: every one
/// the core names (`Gate::shared_keys`), none without a KV binding or when
/// the settings are broken (every request then answers 500, see
/// [`fetch_fast`]). Later calls answer none and change nothing.
#[wasm_bindgen]
pub fn prime(env: JsValue) -> Vec<String> {
    if !PHASE.with(|p| matches!(*p.borrow(), Phase::Uninit)) {
        return Vec::new();
    }
    let phase = match load(&env) {
        Ok(app) => Phase::Ready(Box::new(app)),
        Err(e) => Phase::Broken(e),
    };
    PHASE.with(|p| *p.borrow_mut() = phase);
    with_app(|a| match a.kv {
        Some(_) => a.gate.shared_keys(),
        None => Vec::new(),
    })
    .unwrap_or_default()
}

/// Hands the core what the new isolate read from KV for the `index`th key
/// [`prime`] named: the value (`None`: absent) or the read's error (the
/// first flight then reads again, or goes to the IdP). `prefetched`: the
/// read started before the gate was built; `duration_ms`: how long it took.
#[wasm_bindgen(js_name = adoptSnapshot)]
pub fn adopt_snapshot(
    index: usize,
    value: Option<String>,
    error: Option<String>,
    prefetched: bool,
    duration_ms: f64,
) {
    let now = (now_ms() / 1000.0) as i64;
    with_app(|app| {
        let keys = app.gate.shared_keys();
        let Some(key) = keys.get(index) else { return };
        let found = error.is_none() && value.is_some();
        let (adopted, error) = match error {
            None => match app.gate.adopt_shared(key, value.as_deref(), now) {
                Ok(a) => (a, None),
                Err(e) => (false, Some(e)),
            },
            Some(e) => (false, Some(e)),
        };
        // `shared_keys` and `issuers` list the key store's entries in one order.
        let issuer = app.gate.keys().issuers().nth(index).map(str::to_owned);
        let held = issuer
            .as_deref()
            .map_or(0, |i| app.gate.keys().keys(i).len());
        let key = key.clone();
        log::line_later(move || {
            json!({
                "event": "key_load", "source": "kv", "issuer": issuer, "key": key,
                "found": found, "adopted": adopted, "keys": held, "error": error,
                "prefetched": prefetched, "duration_ms": duration_ms,
            })
        });
    });
}

/// A new isolate's first request, while js/entry.mjs waits for its key
/// snapshots from KV: the steps of its check that need no keys, run and
/// thrown away ([`edgeward::Gate::rehearse`]). V8 compiles each wasm
/// function on its first call (and drops that code whenever another isolate
/// starts in the process), so this moves compiling them into the KV read's
/// wait, off the first verdict's path. Decides nothing and changes no state.
#[wasm_bindgen]
pub fn rehearse(req: web_sys::Request) {
    let Some(wanted) = with_app(|a| a.wanted_headers.clone()) else {
        return;
    };
    let parts = Parts::from_request(&req, &wanted);
    let now = clock_for(&parts).at(now_ms());
    with_app(|app| parts.with(|r| app.gate.rehearse(r, now)));
}

/// The phase for the async path: ready, or the settings' error. A Worker
/// whose entry did not call [`prime`] loads here (without a KV warm-up:
/// the first flight reads KV).
fn ensure_ready(env: &Env) -> Result<(), String> {
    if PHASE.with(|p| matches!(*p.borrow(), Phase::Uninit)) {
        prime(env.clone().into());
    }
    PHASE.with(|p| match &*p.borrow() {
        Phase::Ready(_) => Ok(()),
        Phase::Broken(e) => Err(e.clone()),
        Phase::Uninit => Err("the gate is not ready".into()),
    })
}

fn load(env: &JsValue) -> Result<App, String> {
    let s = settings::load(env).inspect_err(|e| {
        log::line(json!({"event": "config_error", "error": e}));
    })?;
    // node:crypto is loaded after the first verdict (src/native.rs).
    let backend = NativeBackend::deferred();
    let issuers: Vec<String> = s.config.issuers.iter().map(|i| i.issuer.clone()).collect();
    let mode = s.config.mode;
    let mut gate = Gate::with_backend(s.config, backend).map_err(|e| e.to_string())?;
    // Claims reach no one from here but the policy and the identity headers:
    // cached verdicts keep only what those read.
    gate.keep_only_needed_claims();
    let kv = settings::kv(env);
    if kv.is_some() {
        // Workers KV has no atomic insert-if-absent: no lock, the fleet's
        // shared cooldown is the bound (src/keystore/shared.rs).
        gate.use_shared_tier(SharedTier { lock: false });
    }
    // The token sources and what the core reads for CORS: `origin`, and a
    // preflight's `access-control-request-method` and `-headers`.
    let mut wanted_headers: Vec<String> = [
        "authorization",
        "origin",
        "access-control-request-method",
        "access-control-request-headers",
    ]
    .map(String::from)
    .to_vec();
    let t_method_override = gate.config().policy.method_override;
    let t = &gate.config().token;
    if t.cookie.is_some() {
        wanted_headers.push("cookie".into());
    }
    if let Some(h) = &t.header {
        wanted_headers.push(h.to_ascii_lowercase());
    }
    if t_method_override == edgeward::config::MethodOverride::Evaluate {
        wanted_headers.extend(edgeward::gate::METHOD_OVERRIDE_HEADERS.map(String::from));
    }
    #[cfg(feature = "test-clock")]
    wanted_headers.push(TEST_NOW_HEADER.into());
    let start_line = json!({
        "event": "start",
        "config": s.source,
        "mode": if mode == Mode::ReportOnly { "report-only" } else { "enforce" },
        "issuers": issuers,
        "origin": s.origin.as_deref().unwrap_or("(request URL)"),
        "kv": if kv.is_some() { settings::KV_BINDING } else { "(none: memory and IdP only)" },
        "log_sample": s.log_sample,
        "analytics": s.analytics.is_some().then_some(settings::ANALYTICS_BINDING),
    });
    let strip = proxy::strip(gate.headers_to_remove());
    Ok(App {
        gate,
        log_sample: s.log_sample,
        analytics: s.analytics,
        origin: s.origin,
        kv: kv.clone(),
        wanted_headers: std::rc::Rc::new(Wanted::new(wanted_headers, strip.1.clone())),
        start_line: Some(start_line),
        strip,
    })
}

/// Once per isolate, after its first verdict: what that verdict did not
/// need, run once the response is on its way (js/entry.mjs calls it on a
/// timer, `AFTER_FIRST_VERDICT_MS` after the first request was decided;
/// until then ring verifies): node:crypto loaded (src/native.rs), the start
/// log line, which says which backend verifies, and the log lines held back
/// until now ([`log::release`]). Later calls do nothing.
#[wasm_bindgen(js_name = afterFirstVerdict)]
pub fn after_first_verdict() {
    let Some(Some(mut line)) = with_app(|a| a.start_line.take()) else {
        return;
    };
    line["crypto"] = native::in_use().into();
    log::release(Some(line));
}

/// The request parts the core reads, owned: `readParts`' answer as one
/// string, "METHOD\nURL(\nINDEX\nVALUE)*", and where in it each part is
/// (one allocation and one copy per request, not one per part).
pub struct Parts {
    text: String,
    method: std::ops::Range<usize>,
    path: Option<std::ops::Range<usize>>,
    /// Index into `names`, and where the value is.
    headers: Vec<(usize, std::ops::Range<usize>)>,
    names: std::rc::Rc<Wanted>,
}

impl Parts {
    /// The parts the core reads. Only the headers it can look at are copied
    /// out of the runtime (`wanted`): the token sources and the CORS
    /// preflight markers, in one call into JS (js/glue.js); header edits for
    /// the origin happen on the runtime's own `Headers` (src/proxy.rs).
    fn from_request(req: &web_sys::Request, wanted: &std::rc::Rc<Wanted>) -> Parts {
        // The parts arrive as UTF-8 written straight into this buffer
        // (TextEncoder.encodeInto), not as a returned string, which
        // wasm-bindgen copies in a JS loop a character at a time: ~1.5 µs
        // for a 1 KB token on every request.
        PARTS_BUF.with(|b| {
            let mut b = b.borrow_mut();
            loop {
                let n = proxy::read_parts(
                    req,
                    &wanted.js,
                    &wanted.aliased,
                    &wanted.strip,
                    b.as_mut_ptr() as u32,
                    b.len() as u32,
                );
                match usize::try_from(n) {
                    Ok(n) => {
                        let bytes = &b[..n.min(b.len())];
                        // encodeInto writes UTF-8: the lossy reading (slower)
                        // is never needed, and never replaces.
                        let text = match std::str::from_utf8(bytes) {
                            Ok(s) => s.to_owned(),
                            Err(_) => String::from_utf8_lossy(bytes).into_owned(),
                        };
                        return Parts::from_glue(text, wanted.clone());
                    }
                    // Too small: grow to what JS asked for (at least double),
                    // and read again; JS answers once the buffer holds three
                    // bytes per UTF-16 unit, so this ends.
                    Err(_) => {
                        let need = (n.unsigned_abs() as usize).max(2 * b.len());
                        b.resize(need, 0);
                    }
                }
            }
        })
    }

    /// Parses `readParts`' answer: "METHOD\nURL(\nINDEX\nVALUE)*".
    fn from_glue(text: String, names: std::rc::Rc<Wanted>) -> Parts {
        let mut fields = text.split('\n').scan(0usize, |at, f| {
            let start = *at;
            *at += f.len() + 1;
            Some((f, start..start + f.len()))
        });
        let method = fields.next().map_or(0..0, |(_, r)| r);
        let path = fields
            .next()
            .and_then(|(url, r)| path_span(url).map(|p| r.start + p.start..r.start + p.end));
        let mut headers = Vec::new();
        while let (Some((i, _)), Some((_, value))) = (fields.next(), fields.next()) {
            match i.parse::<usize>() {
                // Authorization values the Fetch API joined with ", " are
                // split by the core (token::extract), as for every host.
                Ok(i) if i < names.names.len() => headers.push((i, value)),
                _ => {}
            }
        }
        Parts {
            text,
            method,
            path,
            headers,
            names,
        }
    }

    /// The method.
    pub fn method(&self) -> &str {
        &self.text[self.method.clone()]
    }

    /// Path and query, as in the request URL.
    pub fn path(&self) -> &str {
        self.path.clone().map_or("/", |r| &self.text[r])
    }

    /// The copied headers, as (lowercase name, value), in request order.
    pub fn headers(&self) -> impl Iterator<Item = (&str, &str)> {
        self.headers
            .iter()
            .map(|(i, r)| (self.names.names[*i].as_str(), &self.text[r.clone()]))
    }

    /// Runs `f` with the core's borrowed view.
    pub fn with<R>(&self, f: impl FnOnce(&Request) -> R) -> R {
        // Requests carry few of the headers the core reads: no allocation
        // for up to eight.
        let mut few = [("", ""); 8];
        let many: Vec<(&str, &str)>;
        let headers: &[(&str, &str)] = if self.headers.len() <= few.len() {
            for (slot, h) in few.iter_mut().zip(self.headers()) {
                *slot = h;
            }
            &few[..self.headers.len()]
        } else {
            many = self.headers().collect();
            &many
        };
        f(&Request {
            method: self.method(),
            path: self.path(),
            headers,
        })
    }
}

/// Where `/p?q` is in `scheme://host/p?q#f`; `None` when there is no path
/// (the path is then "/", see [`Parts::path`]).
fn path_span(url: &str) -> Option<std::ops::Range<usize>> {
    let start = url.find("://").map_or(0, |i| i + 3);
    let end = url[start..].find('#').map_or(url.len(), |i| start + i);
    let slash = start + url[start..end].find('/')?;
    Some(slash..end)
}

fn deny_response(d: &Deny, head: bool) -> Result<web_sys::Response, JsValue> {
    let headers = web_sys::Headers::new()?;
    for (k, v) in d.headers() {
        headers.append(k, &v)?;
    }
    let init = web_sys::ResponseInit::new();
    init.set_status(d.status);
    init.set_headers(&headers);
    let body = (!head).then_some(d.body.as_str());
    web_sys::Response::new_with_opt_str_and_init(body, &init)
}

/// The gate's own answer (a CORS preflight): status and headers, no body.
fn answer_response(a: &Answer, head: bool) -> Result<web_sys::Response, JsValue> {
    let headers = web_sys::Headers::new()?;
    for (k, v) in &a.headers {
        headers.append(k, v)?;
    }
    let init = web_sys::ResponseInit::new();
    init.set_status(a.status);
    init.set_headers(&headers);
    // A 204 has no body; the protected-resource metadata (200) has one.
    let body = (!a.body.is_empty() && !head).then_some(a.body.as_str());
    web_sys::Response::new_with_opt_str_and_init(body, &init)
}

fn plain_error(status: u16, error: &str, reason: &str, detail: &str) -> web_sys::Response {
    let headers = web_sys::Headers::new().unwrap();
    let _ = headers.set("content-type", "application/json");
    let _ = headers.set("cache-control", "no-store");
    let init = web_sys::ResponseInit::new();
    init.set_status(status);
    init.set_headers(&headers);
    let body = json!({"error": error, "reason": reason, "detail": detail}).to_string();
    web_sys::Response::new_with_opt_str_and_init(Some(&body), &init).unwrap()
}

thread_local! {
    /// A check the fast path could not finish (keys needed), handed to the
    /// async path of the same request. JS calls `fetchFast` and then, with
    /// no await in between, `fetch`: no other request can run in the gap.
    static HANDOFF: RefCell<Option<(Parts, Clock, edgeward::Outcome)>> = const { RefCell::new(None) };
}

#[cfg_attr(not(feature = "test-clock"), allow(unused_variables))]
fn clock_for(parts: &Parts) -> Clock {
    #[allow(unused_mut)]
    let mut clock = Clock { fixed: None };
    #[cfg(feature = "test-clock")]
    {
        clock.fixed = parts
            .headers()
            .find(|(k, _)| *k == TEST_NOW_HEADER)
            .and_then(|(_, v)| v.parse().ok());
    }
    clock
}

/// The synchronous path, taken by most requests: when the isolate is ready
/// and the decision needs no I/O, answers a deny or answer `Response`, or
/// `{url, init, respond?}` for the origin (js/entry.mjs fetches it and passes
/// the response through `respond` when set); otherwise `undefined`, and the async
/// [`fetch`] takes over. It spares the common case the async export's
/// promise and closure machinery (~30 µs per request in workerd).
///
/// Signatures the backend defers (src/native.rs `defers`: WebCrypto's) make
/// it answer `{check, verdict}` instead: js/entry.mjs awaits `verdict` and
/// calls again with `check` and the result (1 valid, 0 invalid, -1 WebCrypto
/// could not: the synchronous backend verifies), and the core decides the
/// request from the start with that answer (`Gate::check_deferring`).
#[wasm_bindgen(js_name = fetchFast)]
pub fn fetch_fast(
    req: web_sys::Request,
    ctx: worker::worker_sys::Context,
    check: Option<u32>,
    verdict: i32,
) -> JsValue {
    let wanted = PHASE.with(|p| match &*p.borrow() {
        Phase::Ready(app) => Ok(app.wanted_headers.clone()),
        Phase::Broken(e) => Err(Some(e.clone())),
        Phase::Uninit => Err(None),
    });
    let wanted = match wanted {
        Ok(w) => w,
        Err(Some(e)) => return config_error(&e).into(),
        Err(None) => return JsValue::UNDEFINED,
    };
    let at = now_ms();
    // A deferred check resumes with the parts it was read with (and its
    // latency counts from its first phase); one gone from PENDING (more than
    // MAX_PENDING since) is decided by the backend.
    let (parts, answer, gone, started) = match check.map(take_pending) {
        Some(Some((c, parts, started))) => match answered(c, verdict) {
            Some(a) => (parts, Some(a), false, started),
            None => return JsValue::UNDEFINED,
        },
        other => (
            Parts::from_request(&req, &wanted),
            None,
            other.is_some(),
            at,
        ),
    };
    let clock = clock_for(&parts);
    let now = clock.at(at);
    let outcome = if gone {
        with_app(|app| parts.with(|r| app.gate.check(r, now))).map(Ok)
    } else {
        check_once(&parts, now, answer)
    };
    let outcome = match outcome {
        None => return JsValue::UNDEFINED,
        Some(Ok(o)) => o,
        Some(Err((c, verdict))) => {
            let id = NEXT_PENDING.with(|n| {
                let id = n.get();
                n.set(id.wrapping_add(1));
                id
            });
            PENDING.with(|p| {
                let mut p = p.borrow_mut();
                if p.len() >= MAX_PENDING {
                    p.remove(0);
                }
                p.push((id, c, parts, started));
            });
            return native::awaiting(id, &verdict);
        }
    };
    match outcome {
        edgeward::Outcome::Decided(d) => {
            log::decision(&req, &d, &parts, started, false);
            let ctx = Context::new(ctx);
            keycache::schedule_refreshes(clock, now, &ctx);
            match finish(&req, d, &parts) {
                Ok(v) => v,
                Err(e) => origin_failed(&parts, e).into(),
            }
        }
        need => {
            HANDOFF.with(|h| *h.borrow_mut() = Some((parts, clock, need)));
            JsValue::UNDEFINED
        }
    }
}

/// At most this many deferred checks wait for WebCrypto at once (past it
/// the oldest is forgotten: its request is then decided by the backend).
const MAX_PENDING: usize = 256;

/// A deferred check's number, the check, its request's parts, and when the
/// request started (ms).
type Pending = (u32, Box<edgeward::SignatureCheck>, Parts, f64);

thread_local! {
    /// Deferred checks waiting for WebCrypto, by number, oldest first, with
    /// the request parts they were read with and when their request started.
    static PENDING: RefCell<Vec<Pending>> = const { RefCell::new(Vec::new()) };
    static NEXT_PENDING: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
}

fn take_pending(id: u32) -> Option<(Box<edgeward::SignatureCheck>, Parts, f64)> {
    PENDING.with(|p| {
        let mut p = p.borrow_mut();
        let i = p.iter().position(|(n, ..)| *n == id)?;
        let (_, c, parts, started) = p.remove(i);
        Some((c, parts, started))
    })
}

/// What a check that defers its signature to WebCrypto (src/native.rs)
/// is waiting for: the check, and WebCrypto's verdict (a promise of 1, 0
/// or -1, for [`answered`]).
pub type Awaited = (Box<edgeward::SignatureCheck>, js_sys::Promise);

/// One check of `parts` in two phases (`Gate::check_deferring`, with
/// `answer` from the previous phase): the outcome, or the signature it
/// handed to WebCrypto. `None` when the isolate has no gate.
pub fn check_once(
    parts: &Parts,
    now: i64,
    mut answer: Option<edgeward::SignatureAnswer>,
) -> Option<Result<edgeward::Outcome, Awaited>> {
    loop {
        let c = match with_app(|app| {
            parts.with(|r| app.gate.check_deferring(r, now, answer.take()))
        })? {
            Ok(o) => return Some(Ok(o)),
            Err(c) => c,
        };
        match native::start_web(&c) {
            native::Web::Now(valid) => answer = Some(c.answer(valid)),
            native::Web::Started(verdict) => return Some(Err((c, verdict))),
        }
    }
}

/// WebCrypto's verdict on a deferred check: 1 valid, 0 invalid, anything
/// else (it could not) the synchronous backend's answer.
fn verdict_of(gate: &Gate<NativeBackend>, c: &edgeward::SignatureCheck, verdict: i32) -> bool {
    match verdict {
        1 => true,
        0 => false,
        _ => gate
            .backend()
            .verify(c.alg, &c.key, &c.message, &c.signature),
    }
}

/// A deferred check answered with WebCrypto's `verdict` ([`verdict_of`]);
/// `None` when the isolate has no gate.
pub fn answered(
    c: Box<edgeward::SignatureCheck>,
    verdict: i32,
) -> Option<edgeward::SignatureAnswer> {
    let valid = with_app(|app| verdict_of(&app.gate, &c, verdict))?;
    Some(c.answer(valid))
}

/// A decision made: the deny or answer `Response`, or `{url, init,
/// respond?}` for the origin (see [`proxy::origin_request`]).
fn finish(req: &web_sys::Request, d: Decision, parts: &Parts) -> Result<JsValue, JsValue> {
    let built = |r: Result<web_sys::Response, JsValue>| {
        r.unwrap_or_else(|_| {
            plain_error(
                500,
                "server_error",
                "internal",
                "could not build the response",
            )
        })
        .into()
    };
    match d {
        Decision::Deny(d) => Ok(built(deny_response(&d, parts.method() == "HEAD"))),
        // Answered here; the origin is never reached.
        Decision::Answer(a) => Ok(built(answer_response(&a, parts.method() == "HEAD"))),
        Decision::Allow(allow) => {
            with_app(|app| proxy::origin_request(req, &allow, app, parts.path()))
                .unwrap_or_else(|| Err("the gate is not ready".into()))
        }
    }
}

/// Every request's answer when the settings are broken: no verdict comes
/// from this isolate, so nothing is held back from the log.
fn config_error(e: &str) -> web_sys::Response {
    log::release(None);
    log::line(json!({"event": "config_error", "status": 500, "error": e}));
    plain_error(
        500,
        "server_error",
        "config_invalid",
        "the gate is misconfigured; see the Worker's logs",
    )
}

fn origin_failed(parts: &Parts, e: JsValue) -> web_sys::Response {
    let detail = e
        .as_string()
        .or_else(|| {
            e.dyn_ref::<js_sys::Error>()
                .map(|e| String::from(e.message()))
        })
        .unwrap_or_else(|| format!("{e:?}"));
    log::line(
        json!({"event": "origin_error", "error": detail, "path": parts.path().split('?').next()}),
    );
    plain_error(
        502,
        "bad_gateway",
        "origin_unreachable",
        "the origin could not be reached",
    )
}

#[event(fetch)]
async fn fetch(req: web_sys::Request, env: Env, ctx: Context) -> worker::Result<web_sys::Response> {
    Ok(handle(req, env, &ctx).await)
}

async fn handle(req: web_sys::Request, env: Env, ctx: &Context) -> web_sys::Response {
    let started = now_ms();
    let handoff = HANDOFF.with(|h| h.borrow_mut().take());
    if let Err(e) = ensure_ready(&env) {
        return config_error(&e);
    }
    let (parts, clock, first) = match handoff {
        Some((parts, clock, outcome)) => (parts, clock, Some(outcome)),
        None => {
            let Some(wanted) = with_app(|a| a.wanted_headers.clone()) else {
                return plain_error(500, "server_error", "internal", "the gate is not ready");
            };
            let parts = Parts::from_request(&req, &wanted);
            let clock = clock_for(&parts);
            (parts, clock, None)
        }
    };
    let handed_off = first.is_some();
    let (decision, waited) = keycache::decide(&parts, clock, ctx, first).await;
    // Before any other check: the gate describes its latest one.
    log::decision(&req, &decision, &parts, started, waited || handed_off);
    keycache::schedule_refreshes(clock, clock.now(), ctx);
    let out = match finish(&req, decision, &parts) {
        Ok(v) => v,
        Err(e) => return origin_failed(&parts, e),
    };
    if out.is_instance_of::<web_sys::Response>() {
        return out.unchecked_into();
    }
    match proxy::send(&out).await {
        Ok(res) => res,
        Err(e) => origin_failed(&parts, e),
    }
}

/// A 503 for when keys never arrived in time (the core's own answer is
/// preferred; this only ends a wait that outlived every timeout).
pub fn keys_timeout(realm: &str) -> Decision {
    Decision::Deny(Deny::new(
        realm,
        Reason::KeysUnavailable,
        "the issuer's keys could not be fetched in time",
        None,
    ))
}
