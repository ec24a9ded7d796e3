//! The shared key tier: one protocol for Workers KV, Deno KV, Redis and
//! Envoy shared data, decided here, performed by the host.
//!
//! Instances of a gate (isolates, processes, Envoy workers) keep their own
//! [`KeyStore`] and share one copy of each issuer's keys in a tier the host
//! offers. The host only moves bytes; every rule below is the core's:
//!
//! - **Read before the IdP.** A flight's starter gets [`KeyFetch::shared_key`]
//!   and reads that key first ([`KeyStore::ingest_shared`]). A newer copy is
//!   adopted; when it answers what the flight was for (keys at all, the
//!   wanted `kid`, fresh keys for a refresh) the flight ends with no IdP call.
//! - **Obey the fleet's cooldown.** When the copy was fetched, or an unknown
//!   `kid` refetched, or a fetch failed, within `refetch_cooldown`, the IdP
//!   is not called: a `kid` flood or an outage costs one IdP fetch per
//!   cooldown across every instance, not one per instance.
//! - **Single flight across instances where the tier can lock** (Redis
//!   `SET NX`, proxy-wasm shared data compare-and-swap): the starter takes a
//!   lock with a deadline before calling the IdP; the others wait for the
//!   copy to appear ([`SharedNext::Wait`]). Workers KV cannot lock: there the
//!   shared cooldown is the bound (at most one fetch per instance per
//!   cooldown).
//! - **Write only what changes what others do** ([`KeyStore::shared_writes`]):
//!   the tier has nothing, a different key set, a copy past its freshness,
//!   an older unknown-`kid` cooldown, or no record of a newer failure. At
//!   most one write per issuer per second per instance (Workers KV allows
//!   one per key per second), and writes follow IdP fetches only, so the
//!   fleet writes a key at most once per IdP fetch.
//! - **A failing tier degrades, never fails**: a read error or timeout
//!   ([`SharedRead::Failed`]) goes straight to the IdP; a failed write only
//!   forgets what the tier was thought to hold.
//!
//! A host without a tier never calls [`KeyStore::use_shared_tier`]:
//! `shared_key` is then always `None` and nothing here runs.

use super::{Entry, FetchKind, Freshness, KeyFetch, KeyStore, Snapshot, Why, FLIGHT_GRACE};
use crate::keys::PublicKey;
use serde::Serialize;
use serde_json::Value;

/// What the host's shared tier can do.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SharedTier {
    /// The tier can take a lock atomically: insert a key only when it is
    /// absent or its value (a deadline, Unix seconds) has passed. Redis
    /// (`SET key deadline NX EXAT deadline`), proxy-wasm shared data (read,
    /// then compare-and-swap), Deno KV (`atomic().check()`). Not Workers KV.
    pub lock: bool,
}

/// The host's answer to a shared read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SharedRead<'a> {
    /// The value under the key (`None`: absent).
    Value(Option<&'a str>),
    /// The tier failed: an error, a timeout, no binding. The flight goes to
    /// the IdP.
    Failed,
}

/// What the flight's starter does next, after a shared step. `Lock` and
/// `Wait` come only for a tier declared with `lock: true`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "next", rename_all = "snake_case")]
pub enum SharedNext {
    /// The flight is over (keys adopted, or the fleet's cooldown holds, or
    /// the wait ran out): check again.
    Done,
    /// GET `fetch.url` from the IdP, then `ingest` or `fetch_failed`, then
    /// perform [`KeyStore::shared_writes`].
    Fetch,
    /// Take the lock: set `key` to `deadline` (as decimal text) only if it
    /// is absent or holds a deadline already past, expiring at `deadline`;
    /// then [`KeyStore::lock_result`].
    Lock {
        /// The lock's key in the tier.
        key: String,
        /// Unix seconds when the lock lapses.
        deadline: i64,
    },
    /// Another instance holds the lock: after `retry_ms`, read
    /// `fetch.shared_key` again and [`KeyStore::ingest_shared`].
    Wait {
        /// Milliseconds to wait.
        retry_ms: u64,
    },
}

/// A write to perform in the shared tier.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SharedWrite {
    /// The key.
    pub key: String,
    /// The value (the issuer's snapshot).
    pub value: String,
    /// Seconds the tier may keep it (no one may use it longer).
    pub ttl: u64,
}

/// How often a waiter re-reads the tier while another instance fetches.
const WAIT_MS: u64 = 100;

/// Seconds within which a second read of the tier before an IdP fetch for
/// missing keys is skipped (an instance that has just read it, e.g. at
/// start, knows what it holds), on tiers without a lock.
const READ_AGAIN_AFTER: i64 = 5;

/// What this instance last saw in, or wrote to, the tier for one issuer.
#[derive(Clone, Debug, Default)]
pub(super) struct Seen {
    /// `None`: unknown (never read, or a write failed).
    copy: Option<Copy>,
    read_at: Option<i64>,
    written_at: Option<i64>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Copy {
    Empty,
    Snapshot(Meta),
}

/// The parts of a snapshot the write rule compares.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Meta {
    fetched_at: i64,
    fresh_until: i64,
    kid_refetch_at: Option<i64>,
    failed_at: Option<i64>,
    keys: Jwks,
}

/// A snapshot's keys (JWK objects), equal to another's when each key occurs
/// as often in both, in any order, compared member by member: no JSON
/// writer on the path that adopts a snapshot, which a new Worker isolate's
/// first request takes (V8 compiles each wasm function on first call).
#[derive(Clone, Debug, Eq)]
struct Jwks(Vec<Value>);

impl PartialEq for Jwks {
    fn eq(&self, other: &Jwks) -> bool {
        let count = |set: &[Value], k: &Value| set.iter().filter(|x| *x == k).count();
        self.0.len() == other.0.len()
            && self
                .0
                .iter()
                .all(|k| count(&self.0, k) == count(&other.0, k))
    }
}

impl Meta {
    fn of(snap: &Snapshot) -> Meta {
        Meta {
            fetched_at: snap.fetched_at,
            fresh_until: snap.fresh_until,
            kid_refetch_at: snap.kid_refetch_at,
            failed_at: snap.failed_at,
            keys: Jwks(snap.keys.clone()),
        }
    }
}

/// The tier key of an issuer's snapshot.
pub fn snapshot_key(issuer: &str) -> String {
    format!("edgeward:keys:v1:{issuer}")
}

fn lock_key(issuer: &str, kind: FetchKind) -> String {
    let kind = match kind {
        FetchKind::Discovery => "discovery",
        FetchKind::Jwks => "jwks",
    };
    format!("edgeward:lock:v1:{kind}:{issuer}")
}

impl KeyStore {
    /// Declares the host's shared tier: from now on a flight's starter is
    /// told to read it first (see the module docs).
    pub fn use_shared_tier(&mut self, tier: SharedTier) {
        self.tier = Some(tier);
    }

    /// The tier keys of every issuer's snapshot, for a new instance to read
    /// and [`KeyStore::adopt_shared`] before its first check.
    pub fn shared_keys(&self) -> Vec<String> {
        self.entries
            .iter()
            .map(|e| snapshot_key(&e.issuer))
            .collect()
    }

    /// Every lock key the protocol may ask for, for tiers that lock by
    /// compare-and-swap and cannot insert-if-absent (proxy-wasm shared
    /// data): create them (holding `0`, a lapsed deadline) at start.
    pub fn shared_lock_keys(&self) -> Vec<String> {
        self.entries
            .iter()
            .flat_map(|e| [FetchKind::Discovery, FetchKind::Jwks].map(|k| lock_key(&e.issuer, k)))
            .collect()
    }

    /// Takes a value read from the tier outside a flight (at start): adopts
    /// it when newer and remembers what the tier holds. `Some(removed)` when
    /// adopted. Unknown keys and unreadable values are ignored (`Err` says
    /// why; the value is then treated as absent).
    pub fn adopt_shared(
        &mut self,
        key: &str,
        value: Option<&str>,
        now: i64,
    ) -> Result<Option<bool>, String> {
        let Some(i) = self
            .entries
            .iter()
            .position(|e| snapshot_key(&e.issuer) == key)
        else {
            return Err(format!("{key} is no issuer's snapshot key"));
        };
        let adopted = self.take_copy(i, value, now)?;
        if adopted.is_some() {
            self.entries[i].flight = None;
        }
        Ok(adopted)
    }

    /// Records a tier value for entry `i` and merges it. A value that does
    /// not parse counts as absent.
    fn take_copy(
        &mut self,
        i: usize,
        value: Option<&str>,
        now: i64,
    ) -> Result<Option<bool>, String> {
        self.entries[i].shared.read_at = Some(now);
        let Some(text) = value else {
            self.entries[i].shared.copy = Some(Copy::Empty);
            return Ok(None);
        };
        let parsed = self.parse_snapshot(text).and_then(|(j, snap, keys)| {
            if j == i {
                Ok((snap, keys))
            } else {
                Err("the snapshot is for another issuer".into())
            }
        });
        match parsed {
            Ok((snap, keys)) => {
                self.entries[i].shared.copy = Some(Copy::Snapshot(Meta::of(&snap)));
                Ok(self.merge(i, snap, keys))
            }
            Err(e) => {
                self.entries[i].shared.copy = Some(Copy::Empty);
                Err(e)
            }
        }
    }

    /// Whether a flight starting now for `why` reads the tier first; the key.
    pub(super) fn shared_read_first(&self, i: usize, why: &Why, now: i64) -> Option<String> {
        let tier = self.tier?;
        let e = &self.entries[i];
        if *why == Why::Operator {
            return None;
        }
        let just_read = e.shared.read_at.is_some_and(|t| now - t < READ_AGAIN_AFTER);
        if *why == Why::Missing && just_read && !tier.lock {
            return None;
        }
        Some(snapshot_key(&e.issuer))
    }

    /// The live flight `fetch` names, if it is still the entry's.
    fn own_flight(&self, fetch: &KeyFetch) -> Option<usize> {
        let i = self.index(&fetch.issuer)?;
        let f = self.entries[i].flight.as_ref()?;
        (f.id == fetch.flight).then_some(i)
    }

    /// Takes the starter's read of `fetch.shared_key` and says what next.
    /// `removed` (the second field) is true when an adopted copy withdrew a
    /// key held before (verdicts made with it must go; [`crate::Gate`] does it).
    pub fn ingest_shared(
        &mut self,
        fetch: &KeyFetch,
        read: SharedRead<'_>,
        now: i64,
    ) -> (SharedNext, bool) {
        let Some(i) = self.own_flight(fetch) else {
            return (SharedNext::Done, false);
        };
        let SharedRead::Value(value) = read else {
            // The tier is down: memory and the IdP, as if there were none.
            return (SharedNext::Fetch, false);
        };
        let adopted = self.take_copy(i, value, now).unwrap_or(None);
        let removed = adopted.unwrap_or(false);
        let e = &self.entries[i];
        let Some(flight) = e.flight.as_ref() else {
            return (SharedNext::Done, removed);
        };
        let answered = adopted.is_some() && answers(e, &flight.why, now);
        let cooldown = self.cfg.refetch_cooldown as i64;
        let recent = |t: Option<i64>| t.is_some_and(|t| t <= now && now - t < cooldown);
        // Another instance fetched, refetched for a kid, or failed within
        // the cooldown: the IdP is not asked again.
        let fleet_cooling = match &e.shared.copy {
            Some(Copy::Snapshot(m)) => {
                recent(m.failed_at)
                    || (!m.keys.0.is_empty() && recent(Some(m.fetched_at)))
                    || (matches!(flight.why, Why::UnknownKid(_) | Why::Rotation)
                        && recent(m.kid_refetch_at))
            }
            _ => false,
        };
        if answered || fleet_cooling {
            self.entries[i].flight = None;
            return (SharedNext::Done, removed);
        }
        if self.tier.is_some_and(|t| t.lock) {
            let f = self.entries[i]
                .flight
                .as_ref()
                .map_or(FetchKind::Jwks, |f| f.kind);
            return (
                SharedNext::Lock {
                    key: lock_key(&fetch.issuer, f),
                    deadline: now + self.cfg.fetch_timeout as i64 + FLIGHT_GRACE,
                },
                removed,
            );
        }
        (SharedNext::Fetch, removed)
    }

    /// The host's answer to [`SharedNext::Lock`]: the lock was taken (call
    /// the IdP) or is held by another instance (wait for its copy). A holder
    /// publishes keys, or its failure, within `fetch_timeout`; a wait that
    /// outlasts the flight's own life (`fetch_timeout` plus the grace) means
    /// the holder died, and the waiter fetches itself rather than answer its
    /// requests 503 for a peer's crash.
    pub fn lock_result(&mut self, fetch: &KeyFetch, acquired: bool, now: i64) -> SharedNext {
        let Some(i) = self.own_flight(fetch) else {
            return SharedNext::Done;
        };
        if acquired {
            return SharedNext::Fetch;
        }
        let started = self.entries[i].flight.as_ref().map_or(now, |f| f.started);
        if now - started >= self.cfg.fetch_timeout as i64 + FLIGHT_GRACE {
            return SharedNext::Fetch;
        }
        SharedNext::Wait { retry_ms: WAIT_MS }
    }

    /// After the IdP answered a flight (`ingest`) or did not
    /// (`fetch_failed`): the writes that change what other instances do,
    /// per the rule in the module docs. Empty without a tier.
    pub fn shared_writes(&mut self, fetch: &KeyFetch, now: i64) -> Vec<SharedWrite> {
        if self.tier.is_none() || (fetch.kind != FetchKind::Jwks && !self.failed_last(fetch)) {
            return Vec::new();
        }
        let Some(i) = self.index(&fetch.issuer) else {
            return Vec::new();
        };
        if self.entries[i].shared.written_at == Some(now) {
            return Vec::new();
        }
        let Some(text) = self.snapshot(&fetch.issuer) else {
            return Vec::new();
        };
        let Ok((_, snap, _)) = self.parse_snapshot(&text) else {
            return Vec::new();
        };
        let ours = Meta::of(&snap);
        let write = match &self.entries[i].shared.copy {
            None | Some(Copy::Empty) => true,
            Some(Copy::Snapshot(k)) => {
                k.keys != ours.keys
                    || ours.kid_refetch_at > k.kid_refetch_at
                    || ours.failed_at > k.failed_at
                    || (k.fresh_until <= now && ours.fetched_at > k.fetched_at)
            }
        };
        if !write {
            return Vec::new();
        }
        let e = &mut self.entries[i];
        e.shared.copy = Some(Copy::Snapshot(ours));
        e.shared.written_at = Some(now);
        // Nobody may use a copy past max_ttl + stale_if_error (KV's least TTL is 60 s).
        let ttl = (self.cfg.max_ttl + self.cfg.stale_if_error).max(60);
        vec![SharedWrite {
            key: snapshot_key(&fetch.issuer),
            value: text,
            ttl,
        }]
    }

    /// A write the host could not perform: forget what the tier was thought
    /// to hold, so a later fetch writes again.
    pub fn shared_write_failed(&mut self, write: &SharedWrite) {
        if let Some(e) = self
            .entries
            .iter_mut()
            .find(|e| snapshot_key(&e.issuer) == write.key)
        {
            e.shared.copy = None;
        }
    }

    /// Whether the issuer's last fetch failed (a failure is worth sharing
    /// for discovery too: the IdP is down for everyone).
    fn failed_last(&self, fetch: &KeyFetch) -> bool {
        self.index(&fetch.issuer).is_some_and(|i| {
            let e: &Entry = &self.entries[i];
            e.failed_at
                .is_some_and(|f| e.fetched_at.is_none_or(|t| f > t))
        })
    }
}

/// Whether the keys now held answer what the flight was for.
fn answers(e: &Entry, why: &Why, now: i64) -> bool {
    match why {
        Why::Missing | Why::Rotation => true,
        Why::UnknownKid(kid) => e
            .keys
            .iter()
            .any(|k: &PublicKey| k.kid.as_deref() == Some(kid)),
        Why::Refresh | Why::Operator => e.freshness(now) == Freshness::Fresh,
    }
}

#[cfg(test)]
mod tests {
    use super::Jwks;
    use serde_json::json;

    #[test]
    fn key_sets_compare_as_multisets_member_by_member() {
        let a = json!({"kty": "EC", "crv": "P-256", "x": "AA", "y": "BB", "kid": "a"});
        let b = json!({"kty": "RSA", "n": "CC", "e": "AQAB", "kid": "b", "key_ops": ["verify"]});
        let b_reordered =
            json!({"kid": "b", "key_ops": ["verify"], "e": "AQAB", "n": "CC", "kty": "RSA"});
        let set = |v: &[&serde_json::Value]| Jwks(v.iter().map(|k| (*k).clone()).collect());
        assert_eq!(set(&[&a, &b]), set(&[&b_reordered, &a]));
        assert_ne!(set(&[&a, &b]), set(&[&a]));
        assert_ne!(set(&[&a, &a, &b]), set(&[&a, &b, &b]));
        assert_eq!(set(&[&a, &a, &b]), set(&[&a, &b, &a]));
        let mut other_kid = b.clone();
        other_kid["kid"] = json!("c");
        assert_ne!(set(&[&a, &b]), set(&[&a, &other_kid]));
        let mut other_ops = b.clone();
        other_ops["key_ops"] = json!(["verify", "sign"]);
        assert_ne!(set(&[&a, &b]), set(&[&a, &other_ops]));
        assert_eq!(set(&[]), set(&[]));
    }
}
