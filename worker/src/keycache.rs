//! Keys in layers: per-isolate memory (the core's `KeyStore`) → Workers KV
//! (binding `EDGEWARD_KV`, key `edgeward:jwks:<issuer>`, the core's versioned
//! snapshot JSON) → the IdP.
//!
//! - A new isolate restores every issuer's snapshot from KV before its first
//!   check, so with warm KV it verifies without calling the IdP.
//! - `check` asks for keys with a `KeyFetch`; exactly one request per flight
//!   has `start` and does the work, the others poll the gate every few ms
//!   (waking on a timer in their own request context, never on another
//!   request's I/O, which workerd forbids) until the flight lands.
//! - The starter reads KV first: when another isolate already fetched within
//!   the cooldown (snapshot `fetched_at` / `kid_refetch_at`) or KV holds a
//!   newer key set, the IdP is not called (`Gate::restore` adopts the newer
//!   set and ends the flight; otherwise `Gate::abandon` ends it). So a
//!   flood of unknown `kid`s costs one IdP fetch per cooldown per location,
//!   not per isolate.
//! - Stale keys serve while `ctx.wait_until` refreshes them in the background.
//! - KV is written only when it would change what other isolates do: the key
//!   set differs from KV's, KV has none, a newer unknown-kid cooldown must be
//!   shared, or KV's copy is past its freshness (at most once per TTL, and
//!   TTLs are at least a minute: far under KV's one write per second per key).
//! - KV failures (no binding, errors, timeouts) are logged and skipped: the
//!   gate then runs on memory and the IdP, never failing because of KV.
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

use crate::{log, now_ms, with_app, App, Clock, Parts};
use edgeward::{Decision, FetchKind, Freshness, KeyFetch, Outcome};
use futures_util::future::{select, Either};
use serde::Deserialize;
use serde_json::json;
use std::time::Duration;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use worker::kv::KvStore;
use worker::{Context, Delay};

/// KV key of an issuer's snapshot.
pub fn kv_key(issuer: &str) -> String {
    format!("edgeward:jwks:{issuer}")
}

/// How long a KV read may take before it is given up for this request (in a
/// flight, also at most half of `keys.fetch_timeout`).
const KV_TIMEOUT_MS: u64 = 1_500;

/// Redirects a key fetch may follow.
pub const MAX_REDIRECTS: usize = 5;

/// The parts of a snapshot the host reads (the core owns the format).
#[derive(Clone, Debug, Deserialize, PartialEq)]
pub struct SnapMeta {
    fetched_at: i64,
    fresh_until: i64,
    #[serde(default)]
    kid_refetch_at: Option<i64>,
    #[serde(default)]
    keys: Vec<serde_json::Value>,
}

impl SnapMeta {
    fn parse(text: &str) -> Option<SnapMeta> {
        let mut m: SnapMeta = serde_json::from_str(text).ok()?;
        let mut keys: Vec<String> = m.keys.iter().map(|k| k.to_string()).collect();
        keys.sort();
        m.keys = keys.into_iter().map(serde_json::Value::String).collect();
        Some(m)
    }
}

/// What this isolate last saw in KV for an issuer.
#[derive(Clone, Debug, PartialEq)]
pub enum KvKnown {
    /// KV had no snapshot.
    Empty,
    /// KV had (or was given) this snapshot.
    Snapshot(SnapMeta),
}

async fn with_timeout<T>(fut: impl std::future::Future<Output = T>, ms: u64) -> Option<T> {
    let fut = Box::pin(fut);
    let timer = Box::pin(Delay::from(Duration::from_millis(ms)));
    match select(fut, timer).await {
        Either::Left((v, _)) => Some(v),
        Either::Right(_) => None,
    }
}

/// Reads an issuer's snapshot from KV: `Ok(None)` when there is none.
async fn kv_read(kv: &KvStore, issuer: &str, timeout_ms: u64) -> Result<Option<String>, String> {
    match with_timeout(kv.get(&kv_key(issuer)).text(), timeout_ms).await {
        Some(Ok(v)) => Ok(v),
        Some(Err(e)) => Err(e.to_string()),
        None => Err(format!("no answer within {timeout_ms} ms")),
    }
}

/// Adopts a snapshot read from KV; returns whether it was newer.
fn adopt(app: &mut App, issuer: &str, text: Option<&str>) -> Result<bool, String> {
    app.kv_read_at.insert(issuer.to_owned(), now_ms());
    let Some(text) = text else {
        app.kv_known.insert(issuer.to_owned(), KvKnown::Empty);
        return Ok(false);
    };
    if let Some(meta) = SnapMeta::parse(text) {
        app.kv_known
            .insert(issuer.to_owned(), KvKnown::Snapshot(meta));
    }
    app.gate.restore(text)
}

/// Before the first check of a new isolate: every issuer's keys from KV.
pub async fn warm_from_kv(app: &mut App, kv: &KvStore, issuers: &[String]) {
    let started = now_ms();
    let reads =
        futures_util::future::join_all(issuers.iter().map(|i| kv_read(kv, i, KV_TIMEOUT_MS))).await;
    for (issuer, read) in issuers.iter().zip(reads) {
        let (adopted, error) = match read {
            Ok(text) => match adopt(app, issuer, text.as_deref()) {
                Ok(a) => (a, None),
                Err(e) => (false, Some(e)),
            },
            Err(e) => (false, Some(e)),
        };
        let keys = app.gate.keys().keys(issuer).len();
        log::line(json!({
            "event": "key_load", "source": "kv", "issuer": issuer,
            "adopted": adopted, "keys": keys, "error": error,
            "duration_ms": now_ms() - started,
        }));
    }
}

/// The isolate's KV binding (cloned only on the slow paths that use it).
fn kv() -> Option<KvStore> {
    with_app(|a| a.kv.clone()).flatten()
}

/// Decides a request: checks, and when the core asks for keys, gets them
/// (or waits for the request that is getting them) and checks again.
/// `first`: an outcome the fast path already got for this request.
pub async fn decide(
    parts: &Parts,
    clock: Clock,
    ctx: &Context,
    mut first: Option<Outcome>,
) -> Decision {
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
            None => match with_app(|app| parts.with(|req| app.gate.check(req, now))) {
                Some(o) => o,
                None => return crate::keys_timeout("api"),
            },
        };
        match outcome {
            Outcome::Decided(d) => return d,
            Outcome::NeedKeys(f) if f.start => obtain(f, clock, &kv(), Some(ctx)).await,
            Outcome::NeedKeys(_) => {
                if now_ms() > deadline {
                    let realm = with_app(|a| a.gate.config().realm.clone()).unwrap_or_default();
                    return crate::keys_timeout(&realm);
                }
                Delay::from(Duration::from_millis(pause)).await;
                pause = (pause * 2).min(16);
            }
        }
    }
}

/// Starts the background refreshes the core says are due (stale keys):
/// the request that noticed is served from the stale copy meanwhile.
pub fn schedule_refreshes(clock: Clock, ctx: &Context) {
    let due = with_app(|app| app.gate.due_refreshes(clock.now())).unwrap_or_default();
    for f in due {
        let kv = kv();
        ctx.wait_until(async move { obtain(f, clock, &kv, None).await });
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Why {
    /// No usable keys in memory.
    Missing,
    /// Keys in memory, but not the token's `kid`.
    UnknownKid,
    /// Stale keys, background refresh.
    Refresh,
}

/// Performs a flight this isolate started: KV first, then the IdP, both
/// within `keys.fetch_timeout` of now (see the module docs).
/// `ctx` is the request's context for background KV writes; `None` when
/// already running in the background.
pub async fn obtain(f: KeyFetch, clock: Clock, kv: &Option<KvStore>, ctx: Option<&Context>) {
    let started = now_ms();
    let now = clock.now();
    let issuer = f.issuer.clone();
    let Some((freshness, fetched_before, cooldown, budget)) = with_app(|app| {
        let snap = app
            .gate
            .keys()
            .snapshot(&issuer)
            .and_then(|s| SnapMeta::parse(&s));
        (
            app.gate.keys().freshness(&issuer, now),
            snap.map(|s| s.fetched_at),
            app.gate.config().keys.refetch_cooldown as i64,
            app.gate.config().keys.fetch_timeout.max(1) * 1000,
        )
    }) else {
        return;
    };
    let why = match (ctx, freshness) {
        (None, _) => Why::Refresh,
        (_, Freshness::Fresh | Freshness::Stale) => Why::UnknownKid,
        _ => Why::Missing,
    };
    if f.kind == FetchKind::Jwks {
        if let Some(kv) = kv {
            let read_recently = with_app(|app| {
                app.kv_read_at
                    .get(&issuer)
                    .is_some_and(|t| now_ms() - t < 5_000.0)
            })
            .unwrap_or(false);
            let kv_ms = KV_TIMEOUT_MS.min(budget / 2);
            if (why != Why::Missing || !read_recently)
                && kv_first(&f, &issuer, kv, kv_ms, why, now, fetched_before, cooldown).await
            {
                return;
            }
        }
    }
    // What is left of the flight's fetch_timeout (workerd's clock moved
    // across the KV read: it advances on I/O).
    let left = (budget as f64 - (now_ms() - started)).max(0.0) as u64;
    fetch_from_idp(&f, clock, kv, ctx, left).await;
}

/// Reads KV for a flight (within `timeout_ms`); true when the flight was
/// closed without the IdP.
#[allow(clippy::too_many_arguments)] // one flight's state, passed once
async fn kv_first(
    f: &KeyFetch,
    issuer: &str,
    kv: &KvStore,
    timeout_ms: u64,
    why: Why,
    now: i64,
    fetched_before: Option<i64>,
    cooldown: i64,
) -> bool {
    let started = now_ms();
    let read = kv_read(kv, issuer, timeout_ms).await;
    let text = match read {
        Ok(t) => t,
        Err(e) => {
            log::line(json!({"event": "kv_error", "op": "get", "issuer": issuer, "error": e}));
            return false;
        }
    };
    let meta = text.as_deref().and_then(SnapMeta::parse);
    let Some(adopted) = with_app(|app| adopt(app, issuer, text.as_deref())) else {
        return false;
    };
    let adopted = adopted.unwrap_or(false);
    let within = |t: Option<i64>| t.is_some_and(|t| now - t < cooldown);
    let close = match (why, &meta) {
        (_, None) => false,
        // Another isolate refetched within the cooldown: obey it.
        (Why::UnknownKid, Some(m)) => {
            adopted
                || within(m.kid_refetch_at)
                || (within(Some(m.fetched_at)) && Some(m.fetched_at) > fetched_before)
        }
        (Why::Missing, Some(_)) => adopted,
        (Why::Refresh, Some(m)) => adopted && m.fresh_until > now,
    };
    log::line(json!({
        "event": "key_load", "source": "kv", "issuer": issuer, "why": format!("{why:?}"),
        "found": meta.is_some(), "adopted": adopted, "idp_skipped": close,
        "duration_ms": now_ms() - started,
    }));
    if close && !adopted {
        // An adopted snapshot ended the flight already (Gate::restore); here
        // KV only says another isolate fetched within the cooldown: give the
        // flight up without a verdict on the IdP.
        with_app(|app| app.gate.abandon(f));
    }
    close
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
            let body = JsFuture::from(read_capped(&res, max_bytes))
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

#[wasm_bindgen::prelude::wasm_bindgen(module = "/js/glue.js")]
extern "C" {
    /// A body read in chunks, never past `max` bytes (js/glue.js).
    #[wasm_bindgen(js_name = readCapped)]
    fn read_capped(res: &web_sys::Response, max: usize) -> js_sys::Promise;
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
/// `keys.fetch_timeout`) and hands the result to the core.
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
    let kind = match f.kind {
        FetchKind::Jwks => "jwks",
        FetchKind::Discovery => "discovery",
    };
    match got {
        Err(e) => {
            with_app(|app| app.gate.fetch_failed(f, &e, now));
            log::line(json!({
                "event": "key_fetch", "issuer": f.issuer, "url": f.url, "kind": kind,
                "status": null, "duration_ms": ms, "bytes": 0, "error": e,
            }));
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
                    if f.kind == FetchKind::Jwks {
                        publish(&f.issuer, clock, kv, ctx).await;
                    }
                }
                Some(Err(e)) => {
                    line["error"] = json!(e);
                    log::line(line);
                }
                None => {}
            }
        }
    }
}

/// Writes the issuer's snapshot to KV when that changes what other isolates
/// would do (see the module docs); in the background when a request waits.
async fn publish(issuer: &str, clock: Clock, kv: &Option<KvStore>, ctx: Option<&Context>) {
    let Some(kv) = kv.clone() else { return };
    let now = clock.now();
    let Some(Some((text, ttl, why))) = with_app(|app| {
        let text = app.gate.keys().snapshot(issuer)?;
        let ours = SnapMeta::parse(&text)?;
        // Why KV is written (logged): what other isolates would do differently.
        let why = match app.kv_known.get(issuer) {
            None | Some(KvKnown::Empty) => "kv_empty",
            Some(KvKnown::Snapshot(k)) if k.keys != ours.keys => "keys_changed",
            // A refetch for an unknown kid or a failed signature: the
            // cooldown it starts is shared.
            Some(KvKnown::Snapshot(k)) if ours.kid_refetch_at > k.kid_refetch_at => "cooldown",
            Some(KvKnown::Snapshot(k))
                if k.fresh_until <= now && ours.fetched_at > k.fetched_at =>
            {
                "kv_stale"
            }
            Some(KvKnown::Snapshot(_)) => return None,
        };
        app.kv_known
            .insert(issuer.to_owned(), KvKnown::Snapshot(ours));
        let k = &app.gate.config().keys;
        // Let KV drop a snapshot once nobody may use it (KV's minimum is 60 s).
        let usable = (k.max_ttl + k.stale_if_error).max(60);
        Some((text, usable, why))
    }) else {
        return;
    };
    let issuer = issuer.to_owned();
    let write = async move {
        let started = now_ms();
        let res = match kv.put(&kv_key(&issuer), text.as_str()) {
            Ok(p) => p
                .expiration_ttl(ttl)
                .execute()
                .await
                .map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        match res {
            Ok(()) => log::line(json!({
                "event": "kv_write", "issuer": issuer, "why": why, "bytes": text.len(),
                "duration_ms": now_ms() - started,
            })),
            Err(e) => {
                // Forget what we thought KV holds, so a later fetch retries.
                with_app(|app| app.kv_known.remove(&issuer));
                log::line(json!({"event": "kv_error", "op": "put", "issuer": issuer, "error": e}));
            }
        }
    };
    match ctx {
        Some(ctx) => ctx.wait_until(write),
        None => write.await,
    }
}
