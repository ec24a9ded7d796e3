//! The key cache: one entry per configured issuer, fed by the host.
//!
//! Sans-IO: the store never fetches. It answers lookups with keys or with a
//! [`KeyFetch`] for the host to perform, and takes the response back through
//! [`KeyStore::ingest`]. Time is always passed in.
//!
//! Freshness follows `Cache-Control: max-age`, clamped to
//! `[min_ttl, max_ttl]`. Past freshness keys are *stale*: still used, while a
//! refresh is due ([`KeyStore::due_refreshes`]). A failed refresh keeps them
//! for `stale_if_error` more seconds, so an IdP outage does not become an API
//! outage. An unknown `kid` triggers at most one refetch per
//! `refetch_cooldown`, however many requests ask, and only one fetch per
//! issuer is outstanding at a time (single flight).

use crate::config::{IssuerConfig, KeyCacheConfig};
use crate::jws::Header;
use crate::keys::{parse_jwk, parse_jwks, KeyMismatch, PublicKey, SkippedKey};
use serde::Serialize;
use serde_json::Value;

mod shared;
pub use shared::{SharedNext, SharedRead, SharedTier, SharedWrite};

/// What a fetch is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FetchKind {
    /// `{issuer}/.well-known/openid-configuration`.
    Discovery,
    /// The key set at `jwks_uri`.
    Jwks,
}

/// A fetch the host should perform (when `start`) or wait for (when not:
/// another request already started it).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct KeyFetch {
    /// The issuer the keys are for.
    pub issuer: String,
    /// The URL to GET.
    pub url: String,
    /// Discovery document or key set.
    pub kind: FetchKind,
    /// Flight id; pass the fetch back to `ingest` or `fetch_failed`.
    pub flight: u64,
    /// True for exactly one caller per flight: that caller fetches.
    pub start: bool,
    /// With a shared tier ([`KeyStore::use_shared_tier`]), for the caller
    /// that starts: read this key from the tier first and hand the value to
    /// [`KeyStore::ingest_shared`], which says whether to call the IdP.
    /// `None`: fetch `url` at once.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shared_key: Option<String>,
}

/// How usable an issuer's keys are at a given time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Freshness {
    /// Never fetched.
    Missing,
    /// Within max-age.
    Fresh,
    /// Past max-age, within stale-if-error: used, refresh due.
    Stale,
    /// Past stale-if-error: not used.
    Expired,
}

/// The answer to a key lookup.
#[derive(Debug)]
pub enum Selection<'s> {
    /// Keys to try, in order (one when the token has a `kid`).
    Candidates(Vec<&'s PublicKey>),
    /// Keys must be fetched first.
    Fetch(KeyFetch),
    /// The key with this `kid` cannot verify this `alg`.
    Unusable(KeyMismatch),
    /// No key has this `kid` and no refetch is allowed now.
    NotFound,
    /// No keys can be had (fetch failed recently, nothing cached).
    Unavailable(String),
}

/// What an ingest did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct IngestReport {
    /// Discovery or key set.
    pub kind: FetchKind,
    /// Usable keys now held.
    pub keys: usize,
    /// Keys in the response that were skipped.
    #[serde(skip)]
    pub skipped: Vec<SkippedKey>,
    /// The key set differs from the one held before.
    pub changed: bool,
    /// A previously held key is gone (verdicts made with it should go too).
    pub removed: bool,
    /// Seconds of freshness granted.
    pub ttl: u64,
}

#[derive(Clone, Debug)]
struct Flight {
    id: u64,
    kind: FetchKind,
    url: String,
    started: i64,
    why: Why,
}

/// Why a flight was started: what a shared-tier copy must hold to end it.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Why {
    /// No usable keys.
    Missing,
    /// Keys held, but not this `kid`.
    UnknownKid(String),
    /// A signature failed under a known `kid` (a re-issued key).
    Rotation,
    /// Stale keys, a background refresh.
    Refresh,
    /// An operator's refresh: from the IdP, whatever the tier holds.
    Operator,
}

#[derive(Clone, Debug)]
struct Entry {
    issuer: String,
    jwks_uri: Option<String>,
    keys: Vec<PublicKey>,
    fetched_at: Option<i64>,
    fresh_until: i64,
    usable_until: i64,
    failed_at: Option<i64>,
    last_error: Option<String>,
    kid_refetch_at: Option<i64>,
    flight: Option<Flight>,
    shared: shared::Seen,
}

/// The key cache for every configured issuer.
#[derive(Clone, Debug)]
pub struct KeyStore {
    cfg: KeyCacheConfig,
    entries: Vec<Entry>,
    next_flight: u64,
    tier: Option<SharedTier>,
}

/// Seconds past `keys.fetch_timeout` before an unreported flight counts as
/// lost (see `flight_live`).
pub const FLIGHT_GRACE: i64 = 2;

/// Snapshot format version.
pub const SNAPSHOT_VERSION: u32 = 1;

/// A key set as shared: written by `Serialize` per the `#[serde(...)]`
/// attributes here, read by [`Snapshot::read`].
#[derive(Serialize)]
pub(crate) struct Snapshot {
    pub(crate) v: u32,
    pub(crate) iss: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) jwks_uri: Option<String>,
    pub(crate) fetched_at: i64,
    pub(crate) fresh_until: i64,
    pub(crate) usable_until: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) kid_refetch_at: Option<i64>,
    /// The last failed fetch, when newer than the keys: shared so that the
    /// fleet does not retry an IdP that is down more than once per cooldown.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) failed_at: Option<i64>,
    pub(crate) keys: Vec<Value>,
}

/// How deep a snapshot nests: the document, `keys`, a key, its `key_ops`.
const SNAPSHOT_MAX_DEPTH: usize = 8;

impl Snapshot {
    /// Reads a snapshot: one JSON object, read as the claims of a token are
    /// (`json::parse_strict`: duplicate members, deep nesting and trailing
    /// bytes refused), with exactly `Snapshot`'s members, `jwks_uri`,
    /// `kid_refetch_at` and `failed_at` optional (absent or `null`), each of
    /// its type. Not through the configuration's reader: a new Worker isolate
    /// adopts a snapshot in its first request, where the claims' reader is
    /// compiled anyway and the configuration's would be compiled again.
    pub(crate) fn read(text: &str) -> Result<Snapshot, String> {
        let doc = crate::json::parse_strict(text.as_bytes(), SNAPSHOT_MAX_DEPTH)?;
        let Value::Object(mut m) = doc else {
            return Err("not a JSON object".into());
        };
        let mut take = |name: &str| m.remove(name).filter(|v| !v.is_null());
        let wrong = |name: &str, what: &str| format!("\"{name}\" is not {what}");
        let int = |v: Option<Value>, name: &str| -> Result<Option<i64>, String> {
            v.map(|v| v.as_i64().ok_or_else(|| wrong(name, "an integer")))
                .transpose()
        };
        let text = |v: Option<Value>, name: &str| -> Result<Option<String>, String> {
            v.map(|v| match v {
                Value::String(s) => Ok(s),
                _ => Err(wrong(name, "a string")),
            })
            .transpose()
        };
        let need = |v: Option<i64>, name: &str| v.ok_or_else(|| format!("missing \"{name}\""));
        let version = take("v");
        let v = match version
            .as_ref()
            .map(|v| v.as_u64().and_then(|n| u32::try_from(n).ok()))
        {
            None => return Err("missing \"v\"".into()),
            Some(None) => return Err(wrong("v", "a version number")),
            Some(Some(v)) => v,
        };
        let iss = text(take("iss"), "iss")?.ok_or("missing \"iss\"")?;
        let jwks_uri = text(take("jwks_uri"), "jwks_uri")?;
        let fetched_at = need(int(take("fetched_at"), "fetched_at")?, "fetched_at")?;
        let fresh_until = need(int(take("fresh_until"), "fresh_until")?, "fresh_until")?;
        let usable_until = need(int(take("usable_until"), "usable_until")?, "usable_until")?;
        let kid_refetch_at = int(take("kid_refetch_at"), "kid_refetch_at")?;
        let failed_at = int(take("failed_at"), "failed_at")?;
        let keys = match take("keys") {
            Some(Value::Array(keys)) => keys,
            Some(_) => return Err(wrong("keys", "an array")),
            None => return Err("missing \"keys\"".into()),
        };
        if let Some(unknown) = m.keys().next() {
            return Err(format!("unknown member \"{unknown}\""));
        }
        Ok(Snapshot {
            v,
            iss,
            jwks_uri,
            fetched_at,
            fresh_until,
            usable_until,
            kid_refetch_at,
            failed_at,
            keys,
        })
    }
}

impl KeyStore {
    /// A store for `issuers` (in configuration order).
    pub fn new(issuers: &[IssuerConfig], cfg: KeyCacheConfig) -> KeyStore {
        KeyStore {
            cfg,
            entries: issuers
                .iter()
                .map(|i| Entry {
                    issuer: i.issuer.clone(),
                    jwks_uri: i.jwks_uri.clone(),
                    keys: Vec::new(),
                    fetched_at: None,
                    fresh_until: 0,
                    usable_until: 0,
                    failed_at: None,
                    last_error: None,
                    kid_refetch_at: None,
                    flight: None,
                    shared: shared::Seen::default(),
                })
                .collect(),
            next_flight: 1,
            tier: None,
        }
    }

    fn index(&self, issuer: &str) -> Option<usize> {
        self.entries.iter().position(|e| e.issuer == issuer)
    }

    /// The issuers this store holds keys for.
    pub fn issuers(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|e| e.issuer.as_str())
    }

    /// The keys held for `issuer`.
    pub fn keys(&self, issuer: &str) -> &[PublicKey] {
        self.index(issuer).map_or(&[], |i| &self.entries[i].keys)
    }

    /// How usable `issuer`'s keys are at `now`.
    pub fn freshness(&self, issuer: &str, now: i64) -> Freshness {
        self.index(issuer)
            .map_or(Freshness::Missing, |i| self.entries[i].freshness(now))
    }

    /// The key set URL, configured or discovered.
    pub fn jwks_uri(&self, issuer: &str) -> Option<&str> {
        self.index(issuer)
            .and_then(|i| self.entries[i].jwks_uri.as_deref())
    }

    /// The last fetch error for `issuer`, if the last fetch failed.
    pub fn last_error(&self, issuer: &str) -> Option<&str> {
        self.index(issuer)
            .and_then(|i| self.entries[i].last_error.as_deref())
    }

    /// A flight is live until `fetch_timeout` plus [`FLIGHT_GRACE`]: the
    /// host aborts its fetch at `fetch_timeout` and reports it
    /// (`fetch_failed`), which ends the flight for every waiter at once; the
    /// grace keeps a waiter from counting the flight lost (and starting a
    /// second fetch) in the moment before that report, while a host that
    /// never reports still cannot strand the issuer.
    fn flight_live(&self, e: &Entry, now: i64) -> bool {
        e.flight.as_ref().is_some_and(|f| {
            now.saturating_sub(f.started) < self.cfg.fetch_timeout as i64 + FLIGHT_GRACE
        })
    }

    /// Whether `at` lies within the cooldown before `now`. A time in the
    /// future (clock skew, a foreign snapshot) does not hold fetches back.
    fn cooling(&self, at: Option<i64>, now: i64) -> bool {
        at.is_some_and(|t| t <= now && now.saturating_sub(t) < self.cfg.refetch_cooldown as i64)
    }

    /// Joins the live flight for entry `i`, or starts one for `why`.
    fn fetch(&mut self, i: usize, now: i64, why: Why) -> KeyFetch {
        let live = self.flight_live(&self.entries[i], now);
        let shared_key = self.shared_read_first(i, &why, now);
        let e = &mut self.entries[i];
        if live {
            if let Some(f) = &e.flight {
                return KeyFetch {
                    issuer: e.issuer.clone(),
                    url: f.url.clone(),
                    kind: f.kind,
                    flight: f.id,
                    start: false,
                    shared_key: None,
                };
            }
        }
        let (kind, url) = match &e.jwks_uri {
            Some(u) => (FetchKind::Jwks, u.clone()),
            None => (
                FetchKind::Discovery,
                format!(
                    "{}/.well-known/openid-configuration",
                    e.issuer.trim_end_matches('/')
                ),
            ),
        };
        let id = self.next_flight;
        self.next_flight += 1;
        e.flight = Some(Flight {
            id,
            kind,
            url: url.clone(),
            started: now,
            why,
        });
        KeyFetch {
            issuer: e.issuer.clone(),
            url,
            kind,
            flight: id,
            start: true,
            shared_key,
        }
    }

    /// Finds the keys that may verify a token from `issuer` with `header`.
    pub fn select(&mut self, issuer: &str, header: &Header, now: i64) -> Selection<'_> {
        let Some(i) = self.index(issuer) else {
            return Selection::Unavailable(format!("issuer {issuer} is not configured"));
        };
        let e = &self.entries[i];
        let live = self.flight_live(e, now);
        match e.freshness(now) {
            Freshness::Missing | Freshness::Expired => {
                if live || !self.cooling(e.failed_at, now) {
                    return Selection::Fetch(self.fetch(i, now, Why::Missing));
                }
                let why = e
                    .last_error
                    .clone()
                    .unwrap_or_else(|| "keys expired".into());
                return Selection::Unavailable(why);
            }
            Freshness::Fresh | Freshness::Stale => {}
        }
        let alg = header.alg;
        let kid = header.kid.as_deref();
        if kid.is_some() && !e.keys.iter().any(|k| k.kid.as_deref() == kid) {
            // Unknown kid: maybe the IdP rotated. One refetch per cooldown.
            let may = !self.cooling(e.kid_refetch_at, now)
                && !self.cooling(e.fetched_at, now)
                && !self.cooling(e.failed_at, now);
            if !live && !may {
                return Selection::NotFound;
            }
            if !live {
                self.entries[i].kid_refetch_at = Some(now);
            }
            let why = Why::UnknownKid(kid.unwrap_or_default().to_owned());
            return Selection::Fetch(self.fetch(i, now, why));
        }
        let mut mismatch = None;
        let usable: Vec<&PublicKey> = self.entries[i]
            .keys
            .iter()
            .filter(|k| kid.is_none() || k.kid.as_deref() == kid)
            .filter(|k| match k.usable_for(alg) {
                Ok(()) => true,
                Err(m) => {
                    mismatch.get_or_insert(m);
                    false
                }
            })
            .collect();
        match (usable.is_empty(), kid, mismatch) {
            (false, _, _) => Selection::Candidates(usable),
            (true, Some(_), Some(m)) => Selection::Unusable(m),
            (true, _, _) => Selection::NotFound,
        }
    }

    /// After a signature failed with `issuer`'s keys: `Ok` with a fetch to
    /// perform or join when a refetch may bring a re-issued key (the same
    /// rule and cooldown as an unknown `kid`), else `Err` with the time a
    /// refetch would next be allowed.
    pub fn refetch_after_bad_signature(&mut self, issuer: &str, now: i64) -> Result<KeyFetch, i64> {
        let Some(i) = self.index(issuer) else {
            return Err(i64::MAX);
        };
        let e = &self.entries[i];
        if self.flight_live(e, now) {
            return Ok(self.fetch(i, now, Why::Rotation));
        }
        let cooldown = self.cfg.refetch_cooldown as i64;
        let until = [e.kid_refetch_at, e.fetched_at, e.failed_at]
            .into_iter()
            .filter(|&t| self.cooling(t, now))
            .flatten()
            .map(|t| t.saturating_add(cooldown))
            .max();
        match until {
            Some(t) => Err(t),
            None => {
                self.entries[i].kid_refetch_at = Some(now);
                Ok(self.fetch(i, now, Why::Rotation))
            }
        }
    }

    /// Where to go after a redirect from `fetch.url` to `location`: the
    /// absolute URL when it is one a key fetch may use (https, or http on
    /// the issuer's own loopback origin), else why not. Hosts follow
    /// redirects themselves (`redirect: "manual"`) and ask here at each hop;
    /// a relative `location` is resolved against `fetch.url`, so for a
    /// later hop pass a copy of the fetch whose `url` is the current hop.
    pub fn redirect(&self, fetch: &KeyFetch, location: &str) -> Result<String, String> {
        let url = resolve(&fetch.url, location)
            .ok_or_else(|| format!("cannot follow the redirect to {location:?}"))?;
        key_url_allowed(&fetch.issuer, &url)
            .map_err(|e| format!("redirect to {url:?} refused: {e}"))?;
        Ok(url)
    }

    /// Refreshes that are due: stale key sets with no fetch outstanding and
    /// no recent failure. Each returned fetch has `start` set; the host runs
    /// it in the background (`ctx.waitUntil`, a timer) and ingests the result.
    pub fn due_refreshes(&mut self, now: i64) -> Vec<KeyFetch> {
        let due: Vec<usize> = (0..self.entries.len())
            .filter(|&i| {
                let e = &self.entries[i];
                e.freshness(now) == Freshness::Stale
                    && !self.flight_live(e, now)
                    && !self.cooling(e.failed_at, now)
            })
            .collect();
        due.into_iter()
            .map(|i| self.fetch(i, now, Why::Refresh))
            .collect()
    }

    /// Records a fetch that got no response (network error, timeout).
    pub fn fetch_failed(&mut self, fetch: &KeyFetch, error: &str, now: i64) {
        if let Some(i) = self.index(&fetch.issuer) {
            self.fail(
                i,
                fetch.flight,
                format!("fetching {} failed: {error}", fetch.url),
                now,
            );
        }
    }

    fn fail(&mut self, i: usize, flight: u64, error: String, now: i64) -> String {
        let e = &mut self.entries[i];
        if e.flight.as_ref().is_some_and(|f| f.id == flight) {
            e.flight = None;
        }
        e.failed_at = Some(now);
        e.last_error = Some(error.clone());
        error
    }

    /// Takes the response to `fetch`. A failed response (status, size, not
    /// JSON, no usable key, wrong issuer) keeps the keys held before.
    pub fn ingest(
        &mut self,
        fetch: &KeyFetch,
        status: u16,
        headers: &[(&str, &str)],
        body: &[u8],
        now: i64,
    ) -> Result<IngestReport, String> {
        let i = self
            .index(&fetch.issuer)
            .ok_or_else(|| format!("issuer {} is not configured", fetch.issuer))?;
        let checked = self.check_response(i, fetch, status, body);
        let report = match checked {
            Err(e) => return Err(self.fail(i, fetch.flight, format!("{}: {e}", fetch.url), now)),
            Ok(Parsed::Discovery(uri)) => {
                self.entries[i].jwks_uri = Some(uri);
                IngestReport {
                    kind: FetchKind::Discovery,
                    keys: self.entries[i].keys.len(),
                    skipped: Vec::new(),
                    changed: false,
                    removed: false,
                    ttl: 0,
                }
            }
            Ok(Parsed::Keys(keys, skipped)) => {
                let ttl = self.ttl(headers);
                let e = &mut self.entries[i];
                let removed = e
                    .keys
                    .iter()
                    .any(|old| !keys.iter().any(|new| same_key(old, new)));
                let changed = removed || keys.len() != e.keys.len();
                e.keys = keys;
                e.fetched_at = Some(now);
                e.fresh_until = now.saturating_add(ttl as i64);
                e.usable_until = e.fresh_until.saturating_add(self.cfg.stale_if_error as i64);
                IngestReport {
                    kind: FetchKind::Jwks,
                    keys: e.keys.len(),
                    skipped,
                    changed,
                    removed,
                    ttl,
                }
            }
        };
        let e = &mut self.entries[i];
        if e.flight.as_ref().is_some_and(|f| f.id == fetch.flight) {
            e.flight = None;
        }
        e.failed_at = None;
        e.last_error = None;
        Ok(report)
    }

    fn check_response(
        &self,
        i: usize,
        fetch: &KeyFetch,
        status: u16,
        body: &[u8],
    ) -> Result<Parsed, String> {
        if !(200..300).contains(&status) {
            return Err(format!("HTTP status {status}"));
        }
        if body.len() > self.cfg.max_response_bytes {
            return Err(format!(
                "response of {} bytes exceeds keys.max_response_bytes ({})",
                body.len(),
                self.cfg.max_response_bytes
            ));
        }
        match fetch.kind {
            FetchKind::Discovery => {
                let doc = crate::json::parse_strict(body, 8)
                    .map_err(|e| format!("discovery document is not valid JSON: {e}"))?;
                let issuer = doc
                    .get("issuer")
                    .and_then(Value::as_str)
                    .ok_or("discovery document has no \"issuer\"")?;
                if issuer != self.entries[i].issuer {
                    return Err(format!(
                        "discovery document names issuer \"{issuer}\", expected \"{}\"",
                        self.entries[i].issuer
                    ));
                }
                let uri = doc
                    .get("jwks_uri")
                    .and_then(Value::as_str)
                    .ok_or("discovery document has no \"jwks_uri\"")?;
                key_url_allowed(&self.entries[i].issuer, uri)
                    .map_err(|e| format!("jwks_uri {uri:?}: {e}"))?;
                Ok(Parsed::Discovery(uri.to_owned()))
            }
            FetchKind::Jwks => {
                let set = parse_jwks(body)?;
                if set.keys.is_empty() {
                    return Err(format!(
                        "key set has no usable key ({} skipped)",
                        set.skipped.len()
                    ));
                }
                Ok(Parsed::Keys(set.keys, set.skipped))
            }
        }
    }

    /// Freshness from `Cache-Control`, clamped to the configured bounds.
    fn ttl(&self, headers: &[(&str, &str)]) -> u64 {
        let mut max_age = None;
        for (name, value) in headers {
            if !name.eq_ignore_ascii_case("cache-control") {
                continue;
            }
            for directive in value.split(',') {
                let d = directive.trim();
                let lower = d.to_ascii_lowercase();
                if lower == "no-store" || lower == "no-cache" {
                    max_age = Some(0);
                } else if let Some(v) = lower.strip_prefix("max-age=") {
                    if let Ok(n) = v.trim_matches('"').parse::<u64>() {
                        max_age = Some(max_age.map_or(n, |m: u64| m.min(n)));
                    }
                }
            }
        }
        max_age
            .unwrap_or(self.cfg.default_ttl)
            .clamp(self.cfg.min_ttl, self.cfg.max_ttl)
    }

    /// A compact snapshot of `issuer`'s keys and timers for a shared store
    /// (Workers KV, proxy-wasm shared data). `None` before the first fetch.
    /// It also carries the last failure when that is newer than the keys
    /// (a failure alone, with no keys yet, still makes a snapshot).
    pub fn snapshot(&self, issuer: &str) -> Option<String> {
        let e = &self.entries[self.index(issuer)?];
        let failed_at = e.failed_at.filter(|&f| e.fetched_at.is_none_or(|t| f > t));
        if e.fetched_at.is_none() && failed_at.is_none() {
            return None;
        }
        let snap = Snapshot {
            v: SNAPSHOT_VERSION,
            iss: e.issuer.clone(),
            jwks_uri: e.jwks_uri.clone(),
            fetched_at: e.fetched_at.unwrap_or(0),
            fresh_until: e.fresh_until,
            usable_until: e.usable_until,
            kid_refetch_at: e.kid_refetch_at,
            failed_at,
            keys: e.keys.iter().map(PublicKey::to_jwk).collect(),
        };
        serde_json::to_string(&snap).ok()
    }

    /// Adopts a snapshot when it is newer than what is held. Returns whether
    /// it was adopted. The unknown-kid cooldown and a newer failure are
    /// shared either way, so a `kid` flood or an IdP outage costs one IdP
    /// fetch per cooldown across every instance sharing the store. An
    /// adopted snapshot ends the issuer's outstanding fetch: its keys are
    /// what that fetch was for. (Use [`crate::Gate::restore`] on a gate,
    /// which also drops verdicts made with withdrawn keys.)
    pub fn restore(&mut self, snapshot: &str) -> Result<bool, String> {
        self.restore_report(snapshot).map(|r| r.is_some())
    }

    /// Like [`KeyStore::restore`]; `Some(removed)` when adopted, where
    /// `removed` says a previously held key is gone.
    pub(crate) fn restore_report(&mut self, snapshot: &str) -> Result<Option<bool>, String> {
        let (i, snap, keys) = self.parse_snapshot(snapshot)?;
        let adopted = self.merge(i, snap, keys);
        if adopted.is_some() {
            self.entries[i].flight = None;
        }
        Ok(adopted)
    }

    fn parse_snapshot(&self, text: &str) -> Result<(usize, Snapshot, Vec<PublicKey>), String> {
        let snap = Snapshot::read(text).map_err(|e| format!("snapshot is not readable: {e}"))?;
        if snap.v != SNAPSHOT_VERSION {
            return Err(format!(
                "snapshot version {} is not {SNAPSHOT_VERSION}",
                snap.v
            ));
        }
        let times_ok = snap.fetched_at >= 0
            && snap.fresh_until >= snap.fetched_at
            && snap.usable_until >= snap.fresh_until
            && snap.kid_refetch_at.is_none_or(|t| t >= 0)
            && snap.failed_at.is_none_or(|t| t >= 0);
        if !times_ok {
            return Err("snapshot times are out of order or negative".into());
        }
        let i = self.index(&snap.iss).ok_or_else(|| {
            format!(
                "snapshot is for issuer {} which is not configured",
                snap.iss
            )
        })?;
        let keys = snap
            .keys
            .iter()
            .map(parse_jwk)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("snapshot key: {e}"))?;
        Ok((i, snap, keys))
    }

    /// Merges a parsed snapshot into entry `i` (the flight is the caller's
    /// business): the cooldown and a newer failure always, the keys when
    /// newer. `Some(removed)` when the keys were adopted.
    fn merge(&mut self, i: usize, snap: Snapshot, keys: Vec<PublicKey>) -> Option<bool> {
        let e = &mut self.entries[i];
        e.kid_refetch_at = e.kid_refetch_at.max(snap.kid_refetch_at);
        let adopt = !keys.is_empty() && e.fetched_at.is_none_or(|t| t < snap.fetched_at);
        let mut removed = None;
        if adopt {
            if e.jwks_uri.is_none() {
                e.jwks_uri = snap.jwks_uri;
            }
            removed = Some(
                e.keys
                    .iter()
                    .any(|old| !keys.iter().any(|new| same_key(old, new))),
            );
            e.keys = keys;
            e.fetched_at = Some(snap.fetched_at);
            e.fresh_until = snap.fresh_until;
            e.usable_until = snap.usable_until;
            e.failed_at = None;
            e.last_error = None;
        }
        if let Some(f) = snap.failed_at {
            let newer_than_keys = e.fetched_at.is_none_or(|t| f > t);
            if newer_than_keys && e.failed_at.is_none_or(|mine| f > mine) {
                e.failed_at = Some(f);
                if e.last_error.is_none() {
                    e.last_error = Some("another instance's key fetch failed".into());
                }
            }
        }
        removed
    }

    /// Starts a fetch of `issuer`'s keys now, whatever their freshness (an
    /// operator's "refresh"), or joins the one outstanding. `None` for an
    /// issuer that is not configured.
    pub fn refresh(&mut self, issuer: &str, now: i64) -> Option<KeyFetch> {
        let i = self.index(issuer)?;
        Some(self.fetch(i, now, Why::Operator))
    }

    /// Gives up on an outstanding fetch without a verdict on the IdP (the
    /// host found the keys elsewhere, or was cancelled): the next lookup may
    /// start a new one at once.
    pub fn abandon(&mut self, fetch: &KeyFetch) {
        if let Some(i) = self.index(&fetch.issuer) {
            let e = &mut self.entries[i];
            if e.flight.as_ref().is_some_and(|f| f.id == fetch.flight) {
                e.flight = None;
            }
        }
    }
}

/// A URL keys may be fetched from for `issuer`: https, or plain http on the
/// issuer's own loopback origin (a dev issuer); never with a `user@` part.
pub(crate) fn key_url_allowed(issuer: &str, url: &str) -> Result<(), String> {
    use crate::config::parse_origin;
    let u = parse_origin(url).ok_or("not an absolute http(s) URL")?;
    if u.userinfo {
        return Err("a URL with user@ is never used".into());
    }
    if u.scheme == "https" {
        return Ok(());
    }
    let same_loopback = parse_origin(issuer)
        .is_some_and(|i| i.scheme == "http" && i.is_loopback() && i.origin() == u.origin());
    if same_loopback {
        Ok(())
    } else {
        Err("must be https (http only on a loopback issuer's own origin)".into())
    }
}

/// `location` resolved against `base` (absolute, scheme-relative,
/// path-absolute or relative); `None` when `base` is not an http(s) URL.
fn resolve(base: &str, location: &str) -> Option<String> {
    use crate::config::parse_origin;
    let location = location.trim();
    let scheme_len = location.find(':').filter(|&i| {
        i > 0
            && location.as_bytes()[0].is_ascii_alphabetic()
            && location[..i]
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b))
    });
    if scheme_len.is_some() {
        // Absolute: http(s) or nothing.
        return parse_origin(location).map(|_| location.to_owned());
    }
    let b = parse_origin(base)?;
    let authority = &base[b.scheme.len() + 3..base.len() - b.path.len()];
    if let Some(rest) = location.strip_prefix("//") {
        return Some(format!("{}://{rest}", b.scheme));
    }
    // Dot segments are not resolved here: a key server has no need of them.
    if location
        .split(['?', '#'])
        .next()
        .unwrap_or("")
        .split('/')
        .any(|s| s == "." || s == "..")
    {
        return None;
    }
    if location.starts_with('/') {
        return Some(format!("{}://{authority}{location}", b.scheme));
    }
    let path = b.path.split(['?', '#']).next().unwrap_or("");
    if location.starts_with('?') {
        return Some(format!("{}://{authority}{path}{location}", b.scheme));
    }
    let dir = path.rsplit_once('/').map_or("", |(d, _)| d);
    Some(format!("{}://{authority}{dir}/{location}", b.scheme))
}

/// Same key material under the same name.
fn same_key(a: &PublicKey, b: &PublicKey) -> bool {
    a.kid == b.kid && a.material == b.material && a.alg == b.alg
}

enum Parsed {
    Discovery(String),
    Keys(Vec<PublicKey>, Vec<SkippedKey>),
}

impl Entry {
    fn freshness(&self, now: i64) -> Freshness {
        match self.fetched_at {
            None => Freshness::Missing,
            Some(_) if now < self.fresh_until => Freshness::Fresh,
            Some(_) if now < self.usable_until => Freshness::Stale,
            Some(_) => Freshness::Expired,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Snapshot;
    use serde_json::json;

    fn base() -> serde_json::Value {
        json!({
            "v": 1, "iss": "https://a.test/", "jwks_uri": "https://a.test/k",
            "fetched_at": 100, "fresh_until": 200, "usable_until": 300,
            "kid_refetch_at": 150, "failed_at": 120,
            "keys": [{"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]
        })
    }

    #[test]
    fn snapshots_are_read_strictly() {
        let s = Snapshot::read(&base().to_string()).unwrap();
        assert_eq!(
            (s.v, s.iss.as_str(), s.fetched_at),
            (1, "https://a.test/", 100)
        );
        assert_eq!(
            (s.kid_refetch_at, s.failed_at, s.keys.len()),
            (Some(150), Some(120), 1)
        );
        // What the writer leaves out may also be null.
        for optional in ["jwks_uri", "kid_refetch_at", "failed_at"] {
            let mut v = base();
            v[optional] = json!(null);
            assert!(Snapshot::read(&v.to_string()).is_ok(), "{optional}: null");
            v.as_object_mut().unwrap().remove(optional);
            assert!(Snapshot::read(&v.to_string()).is_ok(), "{optional}: absent");
        }
        let refused = |text: String, why: &str| {
            let err = Snapshot::read(&text).err();
            assert!(
                err.as_deref().is_some_and(|e| e.contains(why)),
                "{text}: {err:?}"
            );
        };
        for required in [
            "v",
            "iss",
            "fetched_at",
            "fresh_until",
            "usable_until",
            "keys",
        ] {
            let mut v = base();
            v.as_object_mut().unwrap().remove(required);
            refused(v.to_string(), &format!("missing \"{required}\""));
        }
        let mut v = base();
        v["zzz"] = json!(1);
        refused(v.to_string(), "unknown member \"zzz\"");
        for (field, bad) in [
            ("v", json!(4294967296u64)),
            ("v", json!(-1)),
            ("fetched_at", json!(1.5)),
            ("fresh_until", json!("200")),
            ("iss", json!(1)),
            ("keys", json!({})),
        ] {
            let mut v = base();
            v[field] = bad.clone();
            refused(v.to_string(), &format!("\"{field}\" is not"));
        }
        let text = base().to_string();
        refused(text.replacen("{", "{\"v\":1,", 1), "duplicate");
        refused(format!("{text} x"), "trailing");
        refused("[1]".into(), "not a JSON object");
    }
}
