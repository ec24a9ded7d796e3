//! Arbitrary bytes as a key set (and as a discovery document and a key store
//! snapshot).
//!
//! Invariants: no panic; every key `parse_jwks` keeps survives `to_jwk` →
//! `parse_jwk` unchanged; an ingest that succeeds holds exactly the keys
//! `parse_jwks` keeps; its snapshot restores into a fresh store with the same
//! keys and snapshots back to the same text; a failed ingest keeps the keys
//! held before; lookups after any of it do not panic.

#![no_main]

use edgeward::jws::Header;
use edgeward::keys::{parse_jwk, parse_jwks, PublicKey};
use edgeward::keystore::Selection;
use edgeward::{Algorithm, FetchKind, KeyFetch, KeyStore};
use edgeward_fuzz as fx;
use libfuzzer_sys::fuzz_target;

fn same(a: &PublicKey, b: &PublicKey) -> bool {
    a.material == b.material
        && a.kid == b.kid
        && a.alg == b.alg
        && a.usage == b.usage
        && a.key_ops == b.key_ops
}

fn store() -> KeyStore {
    let cfg = fx::shared_config();
    KeyStore::new(&cfg.issuers, cfg.keys.clone())
}

/// Every kind of lookup, to reach the selection code with odd key sets.
fn lookups(store: &mut KeyStore, kids: &[Option<String>]) {
    for alg in [Algorithm::RS256, Algorithm::ES384, Algorithm::EdDSA] {
        for kid in kids {
            let header = Header {
                alg,
                kid: kid.clone(),
                typ: None,
            };
            if let Selection::Candidates(keys) = store.select(fx::ISSUER, &header, fx::NOW) {
                assert!(!keys.is_empty());
                for k in keys {
                    assert!(k.usable_for(alg).is_ok());
                    assert!(kid.is_none() || k.kid == *kid);
                }
            }
        }
    }
    let _ = store.due_refreshes(fx::NOW + 1_000_000);
    let _ = store.freshness(fx::ISSUER, fx::NOW);
}

fuzz_target!(|data: &[u8]| {
    // The parser alone.
    let parsed = parse_jwks(data);
    if let Ok(set) = &parsed {
        for key in &set.keys {
            let again = parse_jwk(&key.to_jwk()).expect("a kept key re-parses from its JWK");
            assert!(same(key, &again), "JWK round trip changed {key:?}");
        }
        for s in &set.skipped {
            assert!(!s.reason.is_empty());
        }
    }

    // Ingest into a store that already holds the fixture keys.
    let mut held = store();
    held.ingest(
        &fx::jwks_fetch(),
        200,
        &[],
        fx::shared_jwks(),
        fx::NOW - 100,
    )
    .expect("fixture key set ingests");
    let before: Vec<PublicKey> = held.keys(fx::ISSUER).to_vec();
    let result = held.ingest(
        &fx::jwks_fetch(),
        200,
        &[("cache-control", "public, max-age=300")],
        data,
        fx::NOW,
    );
    let now_held = held.keys(fx::ISSUER);
    match &result {
        Ok(report) => {
            let set = parsed
                .as_ref()
                .expect("ingest took what parse_jwks refused");
            assert_eq!(report.kind, FetchKind::Jwks);
            assert_eq!(report.keys, set.keys.len());
            assert!(report.keys > 0);
            assert_eq!(now_held.len(), set.keys.len());
            assert!(now_held.iter().zip(&set.keys).all(|(a, b)| same(a, b)));
        }
        Err(_) => {
            assert_eq!(now_held.len(), before.len(), "a failed ingest dropped keys");
            assert!(now_held.iter().zip(&before).all(|(a, b)| same(a, b)));
        }
    }
    let kids: Vec<Option<String>> = std::iter::once(None)
        .chain(now_held.iter().take(3).map(|k| k.kid.clone()))
        .chain(std::iter::once(Some("absent".into())))
        .collect();

    // Snapshot → restore → snapshot.
    let snap = held
        .snapshot(fx::ISSUER)
        .expect("a store with keys snapshots");
    let mut fresh = store();
    assert_eq!(fresh.restore(&snap), Ok(true), "own snapshot not adopted");
    let restored = fresh.keys(fx::ISSUER);
    assert_eq!(restored.len(), held.keys(fx::ISSUER).len());
    assert!(restored
        .iter()
        .zip(held.keys(fx::ISSUER))
        .all(|(a, b)| same(a, b)));
    assert_eq!(fresh.snapshot(fx::ISSUER).as_deref(), Some(snap.as_str()));
    assert_eq!(
        fresh.freshness(fx::ISSUER, fx::NOW),
        held.freshness(fx::ISSUER, fx::NOW)
    );
    lookups(&mut held, &kids);

    // The same bytes as a snapshot someone else wrote to the shared store.
    if let Ok(text) = std::str::from_utf8(data) {
        let mut other = store();
        if other.restore(text).is_ok() {
            if let Some(again) = other.snapshot(fx::ISSUER) {
                let mut third = store();
                let _ = third.restore(&again);
            }
            lookups(&mut other, &kids);
        }
    }

    // And as a discovery document, for an issuer configured without a
    // jwks_uri.
    let mut discovering = store();
    let discovery = KeyFetch {
        issuer: fx::ISSUER.into(),
        url: format!("{}.well-known/openid-configuration", fx::ISSUER),
        kind: FetchKind::Discovery,
        flight: 7,
        start: true,
        shared_key: None,
    };
    if let Ok(report) = discovering.ingest(&discovery, 200, &[], data, fx::NOW) {
        assert_eq!(report.kind, FetchKind::Discovery);
        let uri = discovering
            .jwks_uri(fx::ISSUER)
            .expect("discovery sets jwks_uri");
        assert!(uri.starts_with("https://"));
    }
});
