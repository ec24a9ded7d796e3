//! The shared key tier, simulated: a fleet of gates (isolates, Envoy
//! workers) sharing one tier, one IdP and one clock, driven step by step so
//! that their flights interleave as concurrent requests would. Asserts IdP
//! fetch counts, that nothing passes without keys, and the stale-if-error
//! window across the fleet.

mod support;

use edgeward::{
    Algorithm, Decision, Gate, KeyFetch, Outcome, Request, SharedNext, SharedRead, SharedTier,
};
use std::collections::HashMap;
use support::*;

/// A key-value tier with optional atomic lock, and faults.
#[derive(Default)]
struct Tier {
    map: HashMap<String, String>,
    lock: bool,
    /// Every read fails (an outage, a timeout, no binding).
    reads_fail: bool,
    /// Writes are acknowledged and dropped.
    loses_writes: bool,
    reads: usize,
    writes: usize,
}

impl Tier {
    fn read(&mut self, key: &str) -> Option<Option<String>> {
        self.reads += 1;
        (!self.reads_fail).then(|| self.map.get(key).cloned())
    }
    /// Insert `deadline` when absent or lapsed (Redis SET NX EXAT; CAS).
    fn try_lock(&mut self, key: &str, deadline: i64, now: i64) -> bool {
        match self.map.get(key).and_then(|v| v.parse::<i64>().ok()) {
            Some(held) if held > now => false,
            _ => {
                self.map.insert(key.into(), deadline.to_string());
                true
            }
        }
    }
}

struct IdpSim {
    body: String,
    down: bool,
    hits: usize,
}

/// Where one request is in its life.
enum Task {
    Check,
    Shared(KeyFetch),
    Lock(KeyFetch, String, i64),
    Wait(KeyFetch),
    Fetch(KeyFetch),
    /// The starter of a flight that died (never fetches, never writes).
    Crashed,
    Done(Decision),
}

struct Fleet {
    gates: Vec<Gate>,
    tier: Tier,
    idp: IdpSim,
}

const CONFIG: &str = "[[routes]]\npath = \"/orders/**\"\nscopes.any = [\"orders:read\"]\n";

impl Fleet {
    fn new(n: usize, lock: bool, keys: &[&Signer]) -> Fleet {
        let gates = (0..n)
            .map(|_| {
                let mut g = Gate::new(config(CONFIG)).unwrap();
                g.use_shared_tier(SharedTier { lock });
                g
            })
            .collect();
        Fleet {
            gates,
            tier: Tier {
                lock,
                ..Tier::default()
            },
            idp: IdpSim {
                body: jwks(keys),
                down: false,
                hits: 0,
            },
        }
    }

    /// A new instance's start: every issuer's snapshot read from the tier.
    fn warm(&mut self, g: usize, now: i64) {
        for key in self.gates[g].shared_keys() {
            if let Some(v) = self.tier.read(&key) {
                let _ = self.gates[g].adopt_shared(&key, v.as_deref(), now);
            }
        }
    }

    /// One step of `task` on gate `g` at `now`.
    fn step(&mut self, g: usize, task: Task, token: &str, now: i64, crash: bool) -> Task {
        let gate = &mut self.gates[g];
        match task {
            Task::Check => {
                let auth = format!("Bearer {token}");
                let h = [("authorization", auth.as_str())];
                let req = Request {
                    method: "GET",
                    path: "/orders/1",
                    headers: &h,
                };
                match gate.check(&req, now) {
                    Outcome::Decided(d) => Task::Done(d),
                    Outcome::NeedKeys(f) if !f.start => Task::Check,
                    Outcome::NeedKeys(f) if f.shared_key.is_some() => Task::Shared(f),
                    Outcome::NeedKeys(f) => Task::Fetch(f),
                }
            }
            Task::Shared(f) => {
                let key = f.shared_key.clone().unwrap();
                let next = match self.tier.read(&key) {
                    Some(v) => gate.ingest_shared(&f, SharedRead::Value(v.as_deref()), now),
                    None => gate.ingest_shared(&f, SharedRead::Failed, now),
                };
                self.after(next, f)
            }
            Task::Lock(f, key, deadline) => {
                assert!(self.tier.lock, "a lock step on a tier without locks");
                let got = self.tier.try_lock(&key, deadline, now);
                let next = self.gates[g].lock_result(&f, got, now);
                if got && crash {
                    return Task::Crashed;
                }
                self.after(next, f)
            }
            Task::Wait(f) => Task::Shared(f),
            Task::Fetch(f) => {
                self.idp.hits += 1;
                if self.idp.down {
                    gate.fetch_failed(&f, "connection refused", now);
                } else {
                    let body = self.idp.body.clone();
                    let _ = gate.ingest(
                        &f,
                        200,
                        &[("cache-control", "max-age=600")],
                        body.as_bytes(),
                        now,
                    );
                }
                for w in self.gates[g].shared_writes(&f, now) {
                    self.tier.writes += 1;
                    if !self.tier.loses_writes {
                        self.tier.map.insert(w.key, w.value);
                    }
                }
                Task::Check
            }
            t @ (Task::Crashed | Task::Done(_)) => t,
        }
    }

    fn after(&self, next: SharedNext, f: KeyFetch) -> Task {
        match next {
            SharedNext::Done => Task::Check,
            SharedNext::Fetch => Task::Fetch(f),
            SharedNext::Lock { key, deadline } => Task::Lock(f, key, deadline),
            SharedNext::Wait { .. } => Task::Wait(f),
        }
    }

    /// One request on each listed gate, all in flight at once (round robin,
    /// one step each per turn, one clock second per `steps_per_second`
    /// turns). The first gate's flight crashes after taking the lock when
    /// `crash_first`. Returns the decisions.
    fn concurrent(
        &mut self,
        gates: &[usize],
        token: &str,
        start: i64,
        crash_first: bool,
    ) -> Vec<Decision> {
        let mut tasks: Vec<Task> = gates.iter().map(|_| Task::Check).collect();
        let mut now = start;
        for turn in 0..10_000 {
            if turn % 10 == 9 {
                now += 1; // waits take time
            }
            let mut all_done = true;
            for (k, &g) in gates.iter().enumerate() {
                let t = std::mem::replace(&mut tasks[k], Task::Check);
                tasks[k] = self.step(g, t, token, now, crash_first && k == 0);
                all_done &= matches!(tasks[k], Task::Done(_) | Task::Crashed);
            }
            if all_done {
                return tasks
                    .into_iter()
                    .filter_map(|t| match t {
                        Task::Done(d) => Some(d),
                        _ => None,
                    })
                    .collect();
            }
        }
        panic!("the fleet never decided");
    }

    /// One request on gate `g`, alone, then the background refreshes the
    /// gate says are due (a host runs them after answering).
    fn one(&mut self, g: usize, token: &str, now: i64) -> Decision {
        let d = self.concurrent(&[g], token, now, false).pop().unwrap();
        for f in self.gates[g].due_refreshes(now) {
            let mut task = if f.shared_key.is_some() {
                Task::Shared(f)
            } else {
                Task::Fetch(f)
            };
            for _ in 0..100 {
                task = match self.step(g, task, token, now, false) {
                    // Back to a check means the flight is over.
                    Task::Check => break,
                    t => t,
                };
            }
        }
        d
    }
}

fn token(s: &Signer) -> String {
    s.mint(&claims("alice", "orders:read"))
}

/// A token issued just before `now`.
fn token_at(s: &Signer, now: i64) -> String {
    let mut c = claims("alice", "orders:read");
    c["iat"] = (now - 10).into();
    c["exp"] = (now + 3600).into();
    s.mint(&c)
}

#[test]
fn cold_fleet_of_50_with_a_lock_fetches_once() {
    let k1 = Signer::new(Algorithm::ES256, "k1");
    let mut fleet = Fleet::new(50, true, &[&k1]);
    let all: Vec<usize> = (0..50).collect();
    let out = fleet.concurrent(&all, &token(&k1), NOW, false);
    assert_eq!(out.len(), 50);
    assert!(out.iter().all(Decision::is_allowed), "{out:?}");
    assert_eq!(fleet.idp.hits, 1);
    assert_eq!(fleet.tier.writes, 1);
}

#[test]
fn cold_fleet_without_a_lock_fetches_at_most_once_per_instance_and_once_in_sequence() {
    let k1 = Signer::new(Algorithm::ES256, "k1");
    let mut fleet = Fleet::new(50, false, &[&k1]);
    let all: Vec<usize> = (0..50).collect();
    let out = fleet.concurrent(&all, &token(&k1), NOW, false);
    assert!(out.iter().all(Decision::is_allowed));
    assert!(fleet.idp.hits <= 50, "{}", fleet.idp.hits);
    // Instances that start after one has fetched take its copy.
    let mut fleet = Fleet::new(50, false, &[&k1]);
    for g in 0..50 {
        fleet.warm(g, NOW + g as i64);
        assert!(fleet.one(g, &token(&k1), NOW + g as i64).is_allowed());
    }
    assert_eq!(fleet.idp.hits, 1);
    assert_eq!(
        fleet.tier.writes, 1,
        "the copy is written once, not per instance"
    );
}

#[test]
fn a_new_instance_with_a_warm_tier_never_calls_the_idp() {
    let k1 = Signer::new(Algorithm::ES256, "k1");
    for lock in [false, true] {
        let mut fleet = Fleet::new(2, lock, &[&k1]);
        assert!(fleet.one(0, &token(&k1), NOW).is_allowed());
        fleet.idp.down = true;
        fleet.warm(1, NOW + 5);
        assert!(fleet.one(1, &token(&k1), NOW + 5).is_allowed());
        assert_eq!(fleet.idp.hits, 1);
    }
}

#[test]
fn rotation_reaches_the_fleet_with_one_fetch() {
    let k1 = Signer::new(Algorithm::ES256, "k1");
    let k2 = Signer::new(Algorithm::RS256, "k2");
    for lock in [false, true] {
        let mut fleet = Fleet::new(20, lock, &[&k1]);
        for g in 0..20 {
            fleet.warm(g, NOW);
            assert!(fleet.one(g, &token(&k1), NOW).is_allowed());
        }
        assert_eq!(fleet.idp.hits, 1);
        fleet.idp.body = jwks(&[&k1, &k2]);
        // Past the cooldown, a token with the new kid arrives everywhere.
        let t = token(&k2);
        let all: Vec<usize> = (0..20).collect();
        let out = if lock {
            fleet.concurrent(&all, &t, NOW + 40, false)
        } else {
            (0..20).map(|g| fleet.one(g, &t, NOW + 40)).collect()
        };
        assert!(out.iter().all(Decision::is_allowed), "lock {lock}: {out:?}");
        assert_eq!(fleet.idp.hits, 2, "lock {lock}");
    }
}

#[test]
fn an_unknown_kid_flood_costs_one_fetch_per_cooldown_across_the_fleet() {
    let k1 = Signer::new(Algorithm::ES256, "k1");
    for lock in [false, true] {
        let mut fleet = Fleet::new(10, lock, &[&k1]);
        for g in 0..10 {
            fleet.warm(g, NOW);
            assert!(fleet.one(g, &token(&k1), NOW).is_allowed());
        }
        // 120 s of forged kids on every instance.
        let mut refused = 0;
        for second in 0..120 {
            for g in 0..10 {
                let kid = format!("forged-{second}-{g}");
                let forged = Signer::new(Algorithm::ES256, &kid);
                let d = fleet.one(g, &token(&forged), NOW + 1 + second);
                assert!(!d.is_allowed());
                refused += 1;
            }
        }
        assert_eq!(refused, 1200);
        // The first fetch, then at most one per 30 s cooldown.
        assert!(
            fleet.idp.hits <= 1 + 120 / 30 + 1,
            "lock {lock}: {} fetches",
            fleet.idp.hits
        );
    }
}

#[test]
fn an_idp_outage_is_served_stale_across_the_fleet_then_503_never_a_pass() {
    let k1 = Signer::new(Algorithm::ES256, "k1");
    let mut fleet = Fleet::new(10, false, &[&k1]);
    for g in 0..10 {
        fleet.warm(g, NOW);
        assert!(fleet.one(g, &token(&k1), NOW).is_allowed());
    }
    fleet.idp.down = true;
    // Fresh for 600 s, then stale-if-error for a day (the defaults).
    let usable_until = NOW + 600 + 86_400;
    let mut t = NOW + 700;
    let mut rounds = 0;
    while t < usable_until {
        rounds += 1;
        let t1 = token_at(&k1, t);
        for g in 0..10 {
            let d = fleet.one(g, &t1, t);
            assert!(d.is_allowed(), "at +{}: {d:?}", t - NOW);
        }
        t += 3_600;
    }
    let hits_during = fleet.idp.hits;
    eprintln!(
        "fleet outage: {hits_during} IdP fetches over {} s on 10 instances",
        t - NOW
    );
    // Each round (an hour apart) the first instance's background refresh
    // fails and says so in the tier; the other nine obey that: one fetch
    // per round across the fleet, not ten.
    assert!(
        hits_during > rounds,
        "refreshes were attempted: {hits_during}"
    );
    assert!(
        hits_during <= 1 + rounds,
        "{hits_during} fetches in {rounds} rounds"
    );
    let t1 = token_at(&k1, usable_until + 1);
    for g in 0..10 {
        let d = fleet.one(g, &t1, usable_until + 1);
        assert_eq!(d.status(), 503, "{d:?}");
    }
}

#[test]
fn a_failed_fetch_is_shared_so_a_cold_fleet_does_not_hammer_a_down_idp() {
    let k1 = Signer::new(Algorithm::ES256, "k1");
    let mut fleet = Fleet::new(30, false, &[&k1]);
    fleet.idp.down = true;
    for g in 0..30 {
        fleet.warm(g, NOW + g as i64 / 10);
        let d = fleet.one(g, &token(&k1), NOW + g as i64 / 10);
        assert_eq!(d.status(), 503);
    }
    assert_eq!(
        fleet.idp.hits, 1,
        "the first failure is shared for the cooldown"
    );
}

#[test]
fn a_failing_tier_degrades_to_memory_and_the_idp() {
    let k1 = Signer::new(Algorithm::ES256, "k1");
    for lock in [false, true] {
        let mut fleet = Fleet::new(5, lock, &[&k1]);
        fleet.tier.reads_fail = true;
        for g in 0..5 {
            assert!(fleet.one(g, &token(&k1), NOW).is_allowed());
            // Memory serves the next request without the tier or the IdP.
            assert!(fleet.one(g, &token(&k1), NOW + 1).is_allowed());
        }
        assert_eq!(fleet.idp.hits, 5, "one fetch per instance, like no tier");
    }
}

#[test]
fn a_tier_that_loses_writes_costs_one_fetch_per_instance_and_no_failures() {
    let k1 = Signer::new(Algorithm::ES256, "k1");
    let mut fleet = Fleet::new(5, false, &[&k1]);
    fleet.tier.loses_writes = true;
    for g in 0..5 {
        fleet.warm(g, NOW);
        assert!(fleet.one(g, &token(&k1), NOW).is_allowed());
    }
    assert_eq!(fleet.idp.hits, 5);
}

#[test]
fn a_lock_holder_that_dies_is_replaced_after_its_deadline() {
    let k1 = Signer::new(Algorithm::ES256, "k1");
    let mut fleet = Fleet::new(5, true, &[&k1]);
    let all: Vec<usize> = (0..5).collect();
    let out = fleet.concurrent(&all, &token(&k1), NOW, true);
    // The crashed starter's own request never ends; the other four are
    // served once the holder's deadline has passed (fetching themselves,
    // at worst: as many fetches as without a lock, once).
    assert_eq!(out.len(), 4);
    assert!(out.iter().all(Decision::is_allowed), "{out:?}");
    assert!((1..=4).contains(&fleet.idp.hits), "{}", fleet.idp.hits);
}

#[test]
fn writes_are_at_most_one_per_issuer_per_second_per_instance() {
    let k1 = Signer::new(Algorithm::ES256, "k1");
    let mut fleet = Fleet::new(1, false, &[&k1]);
    assert!(fleet.one(0, &token(&k1), NOW).is_allowed());
    let writes = fleet.tier.writes;
    // An operator refresh in the same second changes the keys, but the
    // write waits for a later fetch.
    let k2 = Signer::new(Algorithm::RS256, "k2");
    fleet.idp.body = jwks(&[&k1, &k2]);
    let f = fleet.gates[0].refresh(ISSUER, NOW).unwrap();
    let body = fleet.idp.body.clone();
    let _ = fleet.gates[0].ingest(&f, 200, &[], body.as_bytes(), NOW);
    assert!(fleet.gates[0].shared_writes(&f, NOW).is_empty());
    let f = fleet.gates[0].refresh(ISSUER, NOW + 1).unwrap();
    let _ = fleet.gates[0].ingest(&f, 200, &[], body.as_bytes(), NOW + 1);
    assert_eq!(fleet.gates[0].shared_writes(&f, NOW + 1).len(), 1);
    assert_eq!(writes, 1);
}
