//! Keys in layers: per-isolate memory (the core's `KeyStore`) → Workers KV
//! (binding `EDGEWARD_KV`) → the IdP. Every rule of the KV layer is the
//! core's shared-tier protocol (`src/keystore/shared.rs`); this module only
//! moves bytes (KV reads and puts, IdP GETs), bounds them in time, logs, and
//! drives the steps the core names.
//!
//! - With a KV binding, the isolate declares a tier without a lock
//!   (`Gate::use_shared_tier`: Workers KV cannot insert-if-absent, so the
//!   fleet's shared cooldown is the bound). Without one it declares nothing
//!   and runs on memory and the IdP.
//! - A new isolate reads every key the core names (`Gate::shared_keys`) and
//!   hands each value to `Gate::adopt_shared` before its first check, so with
//!   warm KV it verifies without calling the IdP: js/entry.mjs reads them,
//!   `prime` and `adopt_snapshot` (src/lib.rs) take them to the core.
//! - `check` asks for keys with a `KeyFetch`; exactly one request per flight
//!   has `start` and does the work, the others poll the gate every few ms
//!   (waking on a timer in their own request context, never on another
//!   request's I/O, which workerd forbids) until the flight lands.
//! - The starter reads `KeyFetch::shared_key` from KV first when the core
//!   names one, and `Gate::ingest_shared` says what next: done (the copy
//!   answered the flight, or the fleet's cooldown or a shared failure holds)
//!   or fetch from the IdP. A read error or timeout is `SharedRead::Failed`.
//! - After the IdP answered (`Gate::ingest`) or did not (`Gate::fetch_failed`),
//!   every write `Gate::shared_writes` returns is put to KV (in the
//!   background, `ctx.wait_until`, when a request is waiting); a failed put
//!   is reported (`Gate::shared_write_failed`).
//! - Stale keys serve while `ctx.wait_until` refreshes them in the background.
//! - A flight, KV read and IdP fetch together, ends within
//!   `keys.fetch_timeout` of its start: the KV read gets at most half of it
//!   (and never more than 1.5 s), the IdP what is left. At the deadline the
//!   fetch is aborted and reported (`Gate::fetch_failed`), which answers
//!   every waiter at once; the core counts an unreported flight as lost only
//!   `FLIGHT_GRACE` seconds later, so no waiter starts a second fetch first.
//! - IdP fetches follow no redirect on their own (`redirect: "manual"`): each
//!   hop, at most [`MAX_REDIRECTS`], is asked of the core (`Gate::redirect`:
//!   https, or http on a loopback issuer's own origin). Bodies are read in
//!   chunks and never past `keys.max_response_bytes` (js/glue.js
//!   `readCapped`), with or without a `Content-Length`.

use crate::{log, now_ms, with_app, Clock, Parts};
use edgeward::{Decision, FetchKind, KeyFetch, Outcome, SharedNext, SharedRead, SharedWrite};
use futures_util::future::{select, Either};
use serde_json::json;
use std::time::Duration;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use worker::kv::KvStore;
use worker::{Context, Delay};

/// How long a KV read may take before it is given up for this request (in a
/// flight, also at most half of `keys.fetch_timeout`).
const KV_TIMEOUT_MS: u64 = 1_500;

/// Redirects a key fetch may follow.
pub const MAX_REDIRECTS: usize = 5;

async fn with_timeout<T>(fut: impl std::future::Future<Output = T>, ms: u64) -> Option<T> {
    let fut = Box::pin(fut);
    let timer = Box::pin(Delay::from(Duration::from_millis(ms)));
    match select(fut, timer).await {
        Either::Left((v, _)) => Some(v),
        Either::Right(_) => None,
    }
}

/// Reads a KV key within `timeout_ms`: `Ok(None)` when it is absent.
async fn kv_get(kv: &KvStore, key: &str, timeout_ms: u64) -> Result<Option<String>, String> {
    match with_timeout(kv.get(key).text(), timeout_ms).await {
        Some(Ok(v)) => Ok(v),
        Some(Err(e)) => Err(e.to_string()),
        None => Err(format!("{KV_NO_ANSWER} {timeout_ms} ms")),
    }
}

/// How a KV read given up on is reported (`kv_error` lines).
const KV_NO_ANSWER: &str = "no answer within";

/// Puts one write the core asked for (KV drops it after `ttl` seconds).
async fn kv_put(kv: &KvStore, w: &SharedWrite) -> Result<(), String> {
    kv.put(&w.key, w.value.as_str())
        .map_err(|e| e.to_string())?
        .expiration_ttl(w.ttl)
        .execute()
        .await
        .map_err(|e| e.to_string())
}

/// The isolate's KV binding (cloned only on the slow paths that use it).
fn kv() -> Option<KvStore> {
    with_app(|a| a.kv.clone()).flatten()
}

/// Decides a request: checks, and when the core asks for keys, gets them
/// (or waits for the request that is getting them) and checks again.
/// `first`: an outcome the fast path already got for this request. The
/// flag: the request waited for a key fetch (its own or another's).
pub async fn decide(
    parts: &Parts,
    clock: Clock,
    ctx: &Context,
    mut first: Option<Outcome>,
) -> (Decision, bool) {
    let mut waited = false;
    // A backstop only: every flight ends within fetch_timeout (reported) or
    // FLIGHT_GRACE later (counted lost by the core), and a request may wait
    // on two (discovery, then the key set).
    let flight = with_app(|a| a.gate.config().keys.fetch_timeout).unwrap_or(10) as i64
        + edgeward::keystore::FLIGHT_GRACE;
    let deadline = now_ms() + (2 * flight * 1000 + 1000).max(20_000) as f64;
    // Waiters poll every 1, 2, 4, 8, then 16 ms: a flight that ends is
    // noticed within 16 ms.
    let mut pause = 1;
    loop {
        let now = clock.now();
        let outcome = match first.take() {
            Some(o) => o,
            None => match check(parts, now).await {
                Some(o) => o,
                None => return (crate::keys_timeout("api"), waited),
            },
        };
        match outcome {
            Outcome::Decided(d) => return (d, waited),
            Outcome::NeedKeys(f) if f.start => {
                waited = true;
                obtain(f, clock, &kv(), Some(ctx)).await
            }
            Outcome::NeedKeys(_) => {
                waited = true;
                // No await between the check above and this return: the
                // gate's description of its latest check is this request's.
                if now_ms() > deadline {
                    let realm = with_app(|a| a.gate.config().realm.clone()).unwrap_or_default();
                    return (crate::keys_timeout(&realm), waited);
                }
                Delay::from(Duration::from_millis(pause)).await;
                pause = (pause * 2).min(16);
            }
        }
    }
}

/// One check of the request, in two phases where the backend defers its
/// signature to WebCrypto (src/native.rs): the core then decides with
/// WebCrypto's answer, in a second check right after the await (so that
/// the gate's description of its latest check is this request's).
async fn check(parts: &Parts, now: i64) -> Option<Outcome> {
    let mut answer = None;
    loop {
        match crate::check_once(parts, now, answer.take())? {
            Ok(o) => return Some(o),
            Err((c, verdict)) => {
                let verdict = wasm_bindgen_futures::JsFuture::from(verdict)
                    .await
                    .ok()
                    .and_then(|v| v.as_f64())
                    .map_or(-1, |v| v as i32);
                answer = Some(crate::answered(c, verdict)?);
            }
        }
    }
}

/// Starts the background refreshes the core says are due (stale keys):
/// the request that noticed is served from the stale copy meanwhile.
pub fn schedule_refreshes(clock: Clock, now: i64, ctx: &Context) {
    let due = with_app(|app| app.gate.due_refreshes(now)).unwrap_or_default();
    for f in due {
        let kv = kv();
        ctx.wait_until(async move { obtain(f, clock, &kv, None).await });
    }
}

fn kind_name(kind: FetchKind) -> &'static str {
    match kind {
        FetchKind::Jwks => "jwks",
        FetchKind::Discovery => "discovery",
    }
}

/// Performs a flight this isolate started, as the core directs: the KV copy
/// first when it names one, then the IdP if it says so, both within
/// `keys.fetch_timeout` of now (see the module docs). `ctx` is the request's
/// context for background KV writes; `None` when already running in the
/// background.
pub async fn obtain(f: KeyFetch, clock: Clock, kv: &Option<KvStore>, ctx: Option<&Context>) {
    let started = now_ms();
    let Some(budget) = with_app(|app| app.gate.config().keys.fetch_timeout.max(1) * 1000) else {
        return;
    };
    let mut spent_at_least = 0;
    let next = match (&f.shared_key, kv) {
        (Some(key), Some(kv)) => {
            let kv_timeout = KV_TIMEOUT_MS.min(budget / 2);
            let read = kv_get(kv, key, kv_timeout).await;
            // A read given up on took its whole timeout, whatever workerd's
            // clock (which moves only across I/O) says: the IdP gets what is
            // left after it, never the whole budget again.
            if read.as_ref().is_err_and(|e| e.starts_with(KV_NO_ANSWER)) {
                spent_at_least = kv_timeout;
            }
            if let Err(e) = &read {
                log::line(json!({
                    "event": "kv_error", "op": "get", "issuer": f.issuer, "key": key, "error": e,
                }));
            }
            let shared = match &read {
                Ok(v) => SharedRead::Value(v.as_deref()),
                Err(_) => SharedRead::Failed,
            };
            let now = clock.now();
            let Some((next, held)) = with_app(|app| {
                let next = app.gate.ingest_shared(&f, shared, now);
                (next, app.gate.keys().keys(&f.issuer).len())
            }) else {
                return;
            };
            if read.is_ok() {
                log::line(json!({
                    "event": "key_load", "source": "kv", "issuer": f.issuer, "key": key,
                    "kind": kind_name(f.kind), "found": matches!(read, Ok(Some(_))),
                    "idp_skipped": next == SharedNext::Done, "keys": held,
                    "duration_ms": now_ms() - started,
                }));
            }
            next
        }
        // No tier declared (no binding), or the core skips the read.
        _ => SharedNext::Fetch,
    };
    match next {
        // The flight is over: the caller checks again.
        SharedNext::Done => {}
        // A lock is asked of tiers that declared one; this one did not.
        // Should it happen anyway, the IdP is what a tier that fails gets.
        SharedNext::Fetch | SharedNext::Lock { .. } | SharedNext::Wait { .. } => {
            // What is left of the flight's fetch_timeout (workerd's clock
            // moved across the KV read: it advances on I/O).
            let spent = (now_ms() - started).max(spent_at_least as f64);
            let left = (budget as f64 - spent).max(0.0) as u64;
            fetch_from_idp(&f, clock, kv, ctx, left).await;
        }
    }
}

struct Fetched {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    /// Where the body came from (after redirects) and how many were followed.
    url: String,
    hops: usize,
}

/// GETs `f.url` within `timeout_ms`: redirects only as the core allows
/// (each hop asked of `Gate::redirect`, at most [`MAX_REDIRECTS`]), the
/// body never read past `max_bytes` (past it, `max_bytes + 1` bytes come
/// back for the core to refuse as too large).
async fn http_get(f: &KeyFetch, timeout_ms: u64, max_bytes: usize) -> Result<Fetched, String> {
    let controller = web_sys::AbortController::new().map_err(|e| format!("{e:?}"))?;
    let signal = controller.signal();
    let work = async {
        let mut hop = f.clone();
        let mut hops = 0;
        loop {
            let init = web_sys::RequestInit::new();
            init.set_method("GET");
            init.set_signal(Some(&signal));
            init.set_redirect(web_sys::RequestRedirect::Manual);
            let headers = web_sys::Headers::new().map_err(|e| format!("{e:?}"))?;
            let _ = headers.set("accept", "application/json");
            init.set_headers(&headers);
            let req = web_sys::Request::new_with_str_and_init(&hop.url, &init).map_err(js_error)?;
            let res: web_sys::Response = JsFuture::from(fetch_js(&req))
                .await
                .map_err(js_error)?
                .unchecked_into();
            let status = res.status();
            if matches!(status, 301 | 302 | 303 | 307 | 308) {
                let location = res.headers().get("location").ok().flatten();
                if let Some(b) = res.body() {
                    let _ = b.cancel();
                }
                let Some(location) = location else {
                    return Err(format!("HTTP {status} from {} without a Location", hop.url));
                };
                if hops == MAX_REDIRECTS {
                    return Err(format!("more than {MAX_REDIRECTS} redirects"));
                }
                // The core resolves `location` against the fetch's URL: the
                // URL of this hop, not the first one.
                hop.url = with_app(|app| app.gate.redirect(&hop, &location))
                    .unwrap_or_else(|| Err("the gate is not ready".into()))?;
                hops += 1;
                continue;
            }
            let mut headers = Vec::new();
            for name in ["cache-control", "content-type", "content-length"] {
                if let Ok(Some(v)) = res.headers().get(name) {
                    headers.push((name.to_owned(), v));
                }
            }
            let body = JsFuture::from(crate::proxy::read_capped(&res, max_bytes))
                .await
                .map_err(js_error)?;
            return Ok(Fetched {
                status,
                headers,
                body: js_sys::Uint8Array::new(&body).to_vec(),
                url: hop.url,
                hops,
            });
        }
    };
    match with_timeout(work, timeout_ms).await {
        Some(r) => r,
        None => {
            controller.abort();
            Err(format!("no response within {timeout_ms} ms"))
        }
    }
}

#[wasm_bindgen::prelude::wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_name = fetch)]
    fn fetch_js(req: &web_sys::Request) -> js_sys::Promise;
}

fn js_error(e: JsValue) -> String {
    e.dyn_ref::<js_sys::Error>()
        .map(|e| String::from(e.message()))
        .or_else(|| e.as_string())
        .unwrap_or_else(|| format!("{e:?}"))
}

/// Fetches from the IdP within `timeout` ms (what is left of the flight's
/// `keys.fetch_timeout`), hands the result to the core, then performs the
/// KV writes the core asks for.
async fn fetch_from_idp(
    f: &KeyFetch,
    clock: Clock,
    kv: &Option<KvStore>,
    ctx: Option<&Context>,
    timeout: u64,
) {
    let Some(max) = with_app(|app| app.gate.config().keys.max_response_bytes) else {
        return;
    };
    let started = now_ms();
    let got = if timeout == 0 {
        Err("no time left within keys.fetch_timeout".to_owned())
    } else {
        http_get(f, timeout, max).await
    };
    let ms = now_ms() - started;
    let now = clock.now();
    let kind = kind_name(f.kind);
    // What the fetch did, for the KV write lines that follow it.
    let after = match got {
        Err(e) => {
            with_app(|app| app.gate.fetch_failed(f, &e, now));
            log::line(json!({
                "event": "key_fetch", "issuer": f.issuer, "url": f.url, "kind": kind,
                "status": null, "duration_ms": ms, "bytes": 0, "error": e,
            }));
            "fetch_failed"
        }
        Ok(r) => {
            let headers: Vec<(&str, &str)> = r
                .headers
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            let result = with_app(|app| app.gate.ingest(f, r.status, &headers, &r.body, now));
            let mut line = json!({
                "event": "key_fetch", "issuer": f.issuer, "url": f.url, "kind": kind,
                "status": r.status, "duration_ms": ms, "bytes": r.body.len(),
            });
            if r.hops > 0 {
                line["redirects"] = json!(r.hops);
                line["final_url"] = json!(r.url);
            }
            if r.body.len() > max {
                // Reading stopped there (the rest was never read).
                line["cut"] = json!(true);
            }
            match result {
                Some(Ok(report)) => {
                    line["keys"] = json!(report.keys);
                    line["skipped"] = json!(report.skipped.len());
                    line["changed"] = json!(report.changed);
                    line["ttl"] = json!(report.ttl);
                    log::line(line);
                    if report.changed {
                        "keys_changed"
                    } else {
                        "keys_unchanged"
                    }
                }
                Some(Err(e)) => {
                    line["error"] = json!(e);
                    log::line(line);
                    "fetch_failed"
                }
                None => return,
            }
        }
    };
    publish(f, clock, kv, ctx, after).await;
}

/// Puts every write the core asks for after a flight's IdP fetch
/// (`Gate::shared_writes`); in the background when a request waits. `after`
/// (logged) says what the fetch did.
async fn publish(
    f: &KeyFetch,
    clock: Clock,
    kv: &Option<KvStore>,
    ctx: Option<&Context>,
    after: &'static str,
) {
    let Some(kv) = kv.clone() else { return };
    let now = clock.now();
    let writes = with_app(|app| app.gate.shared_writes(f, now)).unwrap_or_default();
    if writes.is_empty() {
        return;
    }
    let issuer = f.issuer.clone();
    let work = async move {
        for w in writes {
            let started = now_ms();
            match kv_put(&kv, &w).await {
                Ok(()) => log::line(json!({
                    "event": "kv_write", "issuer": issuer, "key": w.key, "after": after,
                    "bytes": w.value.len(), "ttl": w.ttl, "duration_ms": now_ms() - started,
                })),
                Err(e) => {
                    with_app(|app| app.gate.shared_write_failed(&w));
                    log::line(json!({
                        "event": "kv_error", "op": "put", "issuer": issuer, "key": w.key,
                        "error": e,
                    }));
                }
            }
        }
    };
    match ctx {
        Some(ctx) => ctx.wait_until(work),
        None => work.await,
    }
}
