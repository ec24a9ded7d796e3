//! Native benchmarks for the edgeward core (`cargo bench --bench core`).
//!
//! A plain harness: `std::time::Instant`, a calibrated number of iterations
//! per batch, the median of N batches, in µs per operation. Per algorithm:
//!
//! * (a) raw ring verification of the tokens' signatures with the same key
//!   and messages (the reference the core is measured against);
//! * (b) a full uncached `Gate::check` of `Authorization: Bearer <token>`
//!   (verdict cache off: `[cache] capacity = 0`), and its ratio to (a);
//! * (e) the same check with a no-op signature backend: the core alone;
//! * (b') the check with the cache on, each token once (miss + insert);
//! * (c) a verdict-cache hit (the same token again);
//! * (d) ingesting a 3-key JWKS of the algorithm's key type.
//!
//! (a), (b) and (e) cycle through the same distinct tokens.
//!
//! Then a breakdown of the uncached path into the public pieces the gate is
//! made of, so the core's overhead over raw ring is visible.
//!
//! Environment: `EDGEWARD_BENCH_BATCHES` (default 51), `EDGEWARD_BENCH_BATCH_MS`
//! (default 2), `EDGEWARD_BENCH_DISTINCT` (distinct tokens per
//! algorithm, default 512).
//! Pass `--quick` (after `--`) for a fast smoke run; run without `--bench`
//! (as `cargo test --benches` does) it is always the smoke run.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use edgeward::cache::digest;
use edgeward::claims;
use edgeward::crypto::{sign, RingBackend, SignatureBackend};
use edgeward::jws;
use edgeward::keystore::{FetchKind, KeyFetch, Selection};
use edgeward::policy::{gather, split_path, Policy};
use edgeward::token::extract;
use edgeward::{Algorithm, Config, Gate, Outcome, PublicKey, Request};
use ring::rand::SystemRandom;
use ring::signature::{self as sig, KeyPair};
use serde_json::json;
use std::hint::black_box;
use std::time::{Duration, Instant};

const ISSUER: &str = "https://idp.example.com/";
const JWKS_URI: &str = "https://idp.example.com/.well-known/jwks.json";
const NOW: i64 = 1_700_000_000;
const PATH: &str = "/orders/42";

const RSA_FIXTURES: [&[u8]; 3] = [
    include_bytes!("fixtures/rsa2048-a.pk8.der"),
    include_bytes!("fixtures/rsa2048-b.pk8.der"),
    include_bytes!("fixtures/rsa2048-c.pk8.der"),
];

// ---------------------------------------------------------------- harness

struct Opts {
    batches: usize,
    batch: Duration,
    distinct: usize,
}

fn opts() -> Opts {
    // `cargo bench` passes `--bench`; without it (`cargo test --benches`)
    // run the quick smoke version only.
    let quick =
        std::env::args().any(|a| a == "--quick") || !std::env::args().any(|a| a == "--bench");
    let env = |k: &str, d: u64| {
        std::env::var(k)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(d)
    };
    let (b, ms, n) = if quick { (7, 1, 64) } else { (51, 2, 512) };
    Opts {
        batches: env("EDGEWARD_BENCH_BATCHES", b) as usize,
        batch: Duration::from_millis(env("EDGEWARD_BENCH_BATCH_MS", ms)),
        distinct: env("EDGEWARD_BENCH_DISTINCT", n) as usize,
    }
}

#[derive(Clone, Copy, Default)]
struct Stats {
    median: f64,
    min: f64,
    iters: u64,
}

fn summarize(mut samples: Vec<f64>, iters: u64) -> Stats {
    samples.sort_by(f64::total_cmp);
    Stats {
        median: samples[samples.len() / 2],
        min: samples[0],
        iters,
    }
}

/// Median µs/op of `o.batches` batches, each about `o.batch` long.
fn bench(o: &Opts, mut f: impl FnMut()) -> Stats {
    let iters = calibrate(o, &mut f);
    let samples = (0..o.batches).map(|_| batch(iters, &mut f)).collect();
    summarize(samples, iters * o.batches as u64)
}

/// Like `bench` for several functions, their batches interleaved round by
/// round, so load from other processes falls on all of them alike. Also
/// returns, for each function after the first, the median over rounds of
/// its time divided by the first's.
fn bench_interleaved(o: &Opts, fs: &mut [&mut dyn FnMut()]) -> (Vec<Stats>, Vec<f64>) {
    let iters: Vec<u64> = fs.iter_mut().map(|f| calibrate(o, f)).collect();
    let mut samples = vec![Vec::with_capacity(o.batches); fs.len()];
    let mut ratios = vec![Vec::with_capacity(o.batches); fs.len()];
    for _ in 0..o.batches {
        for (k, f) in fs.iter_mut().enumerate() {
            samples[k].push(batch(iters[k], f));
        }
        for k in 1..fs.len() {
            ratios[k].push(samples[k].last().unwrap() / samples[0].last().unwrap());
        }
    }
    let ratio = ratios
        .into_iter()
        .skip(1)
        .map(|mut r| {
            r.sort_by(f64::total_cmp);
            r[r.len() / 2]
        })
        .collect();
    let stats = samples
        .into_iter()
        .zip(iters)
        .map(|(s, n)| summarize(s, n * o.batches as u64))
        .collect();
    (stats, ratio)
}

fn batch(iters: u64, f: &mut dyn FnMut()) -> f64 {
    let t = Instant::now();
    for _ in 0..iters {
        f();
    }
    t.elapsed().as_secs_f64() * 1e6 / iters as f64
}

/// Iterations for one batch of about `o.batch` (doubles as warm-up).
fn calibrate(o: &Opts, f: &mut dyn FnMut()) -> u64 {
    let mut iters: u64 = 1;
    loop {
        let t = Instant::now();
        for _ in 0..iters {
            f();
        }
        let e = t.elapsed();
        if e >= o.batch {
            break;
        }
        let grow = if e.is_zero() {
            16.0
        } else {
            (o.batch.as_secs_f64() / e.as_secs_f64() * 1.1).clamp(1.1, 16.0)
        };
        iters = ((iters as f64 * grow).ceil() as u64).max(iters + 1);
    }
    iters
}

// ---------------------------------------------------------------- keys and tokens

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Rsa,
    P256,
    P384,
    Ed,
}

struct Key {
    kind: Kind,
    kid: String,
    pkcs8: Vec<u8>,
    /// RSA: (n, e); EC: the uncompressed point; Ed25519: the 32-byte key.
    public: Public,
}

enum Public {
    Rsa { n: Vec<u8>, e: Vec<u8> },
    Point(Vec<u8>),
}

fn b64(b: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(b)
}

fn make_key(kind: Kind, kid: &str, rsa_index: usize) -> Key {
    let rng = SystemRandom::new();
    let (pkcs8, public) = match kind {
        Kind::Rsa => {
            let der = RSA_FIXTURES[rsa_index].to_vec();
            let pair = sig::RsaKeyPair::from_pkcs8(&der).expect("RSA fixture");
            let c = sig::RsaPublicKeyComponents::<Vec<u8>>::from(pair.public());
            let (n, e) = (c.n, c.e);
            (der, Public::Rsa { n, e })
        }
        Kind::P256 | Kind::P384 => {
            let alg = if kind == Kind::P256 {
                &sig::ECDSA_P256_SHA256_FIXED_SIGNING
            } else {
                &sig::ECDSA_P384_SHA384_FIXED_SIGNING
            };
            let doc = sig::EcdsaKeyPair::generate_pkcs8(alg, &rng).unwrap();
            let pair = sig::EcdsaKeyPair::from_pkcs8(alg, doc.as_ref(), &rng).unwrap();
            let point = pair.public_key().as_ref().to_vec();
            (doc.as_ref().to_vec(), Public::Point(point))
        }
        Kind::Ed => {
            let doc = sig::Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
            let pair = sig::Ed25519KeyPair::from_pkcs8(doc.as_ref()).unwrap();
            let x = pair.public_key().as_ref().to_vec();
            (doc.as_ref().to_vec(), Public::Point(x))
        }
    };
    Key {
        kind,
        kid: kid.into(),
        pkcs8,
        public,
    }
}

fn jwk(k: &Key) -> serde_json::Value {
    match (&k.public, k.kind) {
        (Public::Rsa { n, e }, _) => {
            json!({"kty":"RSA","use":"sig","kid":k.kid,"n":b64(n),"e":b64(e)})
        }
        (Public::Point(p), Kind::P256 | Kind::P384) => {
            let len = (p.len() - 1) / 2;
            let crv = if k.kind == Kind::P256 {
                "P-256"
            } else {
                "P-384"
            };
            json!({"kty":"EC","use":"sig","kid":k.kid,"crv":crv,
                   "x":b64(&p[1..1 + len]),"y":b64(&p[1 + len..])})
        }
        (Public::Point(x), _) => {
            json!({"kty":"OKP","use":"sig","kid":k.kid,"crv":"Ed25519","x":b64(x)})
        }
    }
}

fn jwks(keys: &[&Key]) -> Vec<u8> {
    json!({"keys": keys.iter().map(|k| jwk(k)).collect::<Vec<_>>()})
        .to_string()
        .into_bytes()
}

fn alg_str(alg: Algorithm) -> &'static str {
    edgeward::keys::alg_name(alg)
}

/// A typical RFC 9068 access token, distinct per `n` (`jti`).
fn mint(alg: Algorithm, key: &Key, n: usize) -> String {
    let header = json!({"alg": alg_str(alg), "typ": "at+jwt", "kid": key.kid});
    let claims = json!({
        "iss": ISSUER,
        "sub": "user-1234",
        "aud": ["api", "https://api.example.com"],
        "exp": NOW + 3600,
        "iat": NOW - 60,
        "nbf": NOW - 60,
        "jti": format!("token-{n:08}"),
        "client_id": "web-app",
        "scope": "openid profile orders:read orders:write",
        "roles": ["customer"],
    });
    let input = format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    );
    let s = sign(alg, &key.pkcs8, input.as_bytes()).expect("sign");
    format!("{input}.{}", b64(&s))
}

fn raw_verify(alg: Algorithm, key: &Key, msg: &[u8], signature: &[u8]) -> bool {
    match &key.public {
        Public::Rsa { n, e } => {
            let params = match alg {
                Algorithm::RS256 => &sig::RSA_PKCS1_2048_8192_SHA256,
                Algorithm::PS256 => &sig::RSA_PSS_2048_8192_SHA256,
                _ => unreachable!(),
            };
            sig::RsaPublicKeyComponents { n, e }
                .verify(params, msg, signature)
                .is_ok()
        }
        Public::Point(p) => {
            let v: &dyn sig::VerificationAlgorithm = match alg {
                Algorithm::ES256 => &sig::ECDSA_P256_SHA256_FIXED,
                Algorithm::ES384 => &sig::ECDSA_P384_SHA384_FIXED,
                Algorithm::EdDSA => &sig::ED25519,
                _ => unreachable!(),
            };
            sig::UnparsedPublicKey::new(v, p)
                .verify(msg, signature)
                .is_ok()
        }
    }
}

// ---------------------------------------------------------------- gates

fn config(cache_capacity: Option<usize>) -> Config {
    let cache = match cache_capacity {
        Some(c) => format!("[cache]\ncapacity = {c}\n"),
        None => String::new(),
    };
    Config::parse(&format!(
        r#"
[[issuers]]
issuer = "{ISSUER}"
jwks_uri = "{JWKS_URI}"
audiences = ["api"]
typ = "at+jwt"
{cache}
[[routes]]
path = "/health"
access = "anonymous"

[[routes]]
path = "/orders/**"
scopes = {{ any = ["orders:read", "orders:admin"] }}
"#
    ))
    .expect("bench config")
}

fn fetch() -> KeyFetch {
    KeyFetch {
        issuer: ISSUER.into(),
        url: JWKS_URI.into(),
        kind: FetchKind::Jwks,
        flight: 0,
        start: true,
        shared_key: None,
    }
}

const HEADERS_CC: [(&str, &str); 1] = [("cache-control", "max-age=3600")];

/// A gate with `jwks` loaded the way a host loads it (check → NeedKeys → ingest).
/// A backend that accepts every signature: a gate with it measures the
/// core's own work (everything but the signature arithmetic).
struct NoCrypto;

impl SignatureBackend for NoCrypto {
    fn name(&self) -> &'static str {
        "none (benchmark)"
    }
    fn verify(&self, _: Algorithm, key: &PublicKey, message: &[u8], signature: &[u8]) -> bool {
        black_box((key, message, signature));
        true
    }
}

fn gate_with(cache_capacity: Option<usize>, jwks: &[u8], probe: &str) -> Gate {
    gate_with_backend(cache_capacity, jwks, probe, RingBackend)
}

fn gate_with_backend<B: SignatureBackend>(
    cache_capacity: Option<usize>,
    jwks: &[u8],
    probe: &str,
    backend: B,
) -> Gate<B> {
    let mut gate = Gate::with_backend(config(cache_capacity), backend).expect("gate");
    let auth = format!("Bearer {probe}");
    let headers = [("authorization", auth.as_str())];
    let req = Request {
        method: "GET",
        path: PATH,
        headers: &headers,
    };
    match gate.check(&req, NOW) {
        Outcome::NeedKeys(f) => {
            gate.ingest(&f, 200, &HEADERS_CC, jwks, NOW)
                .expect("ingest");
        }
        other => panic!("expected NeedKeys, got {other:?}"),
    }
    gate
}

fn check_status<B: SignatureBackend>(gate: &mut Gate<B>, auth: &str) -> u16 {
    let headers = [("authorization", auth)];
    let req = Request {
        method: "GET",
        path: PATH,
        headers: &headers,
    };
    match gate.check(&req, NOW) {
        Outcome::Decided(d) => d.status(),
        Outcome::NeedKeys(_) => 0,
    }
}

// ---------------------------------------------------------------- run

struct Row {
    alg: &'static str,
    raw: Stats,
    uncached: Stats,
    /// Median over rounds of (b)/(a).
    ratio: f64,
    core_only: Stats,
    distinct: Stats,
    hit: Stats,
    ingest: Stats,
    parts: Vec<(&'static str, Stats)>,
    extra: Vec<(&'static str, Stats)>,
}

fn main() {
    let o = opts();
    let algs = [
        (Algorithm::RS256, Kind::Rsa),
        (Algorithm::PS256, Kind::Rsa),
        (Algorithm::ES256, Kind::P256),
        (Algorithm::ES384, Kind::P384),
        (Algorithm::EdDSA, Kind::Ed),
    ];
    // One key per type in the gate's key set, plus two more per type for the
    // per-type ingest benchmark.
    let kinds = [
        (Kind::Rsa, "rsa"),
        (Kind::P256, "p256"),
        (Kind::P384, "p384"),
        (Kind::Ed, "ed"),
    ];
    let sets: Vec<(Kind, Vec<Key>)> = kinds
        .iter()
        .map(|&(kind, name)| {
            let keys = (0..3)
                .map(|i| make_key(kind, &format!("{name}-{i}"), i))
                .collect();
            (kind, keys)
        })
        .collect();
    let key_of = |kind: Kind| &sets.iter().find(|(k, _)| *k == kind).unwrap().1[0];
    let set_of = |kind: Kind| &sets.iter().find(|(k, _)| *k == kind).unwrap().1;
    let gate_jwks = jwks(&kinds.map(|(k, _)| key_of(k)));

    eprintln!(
        "edgeward core bench: {} batches of ~{} ms each, {} distinct tokens for (b')",
        o.batches,
        o.batch.as_millis(),
        o.distinct
    );
    let mut rows = Vec::new();
    for (alg, kind) in algs {
        let name = alg_str(alg);
        eprintln!("{name}: minting {} tokens ...", o.distinct + 1);
        let key = key_of(kind);
        let token = mint(alg, key, 0);
        let auth = format!("Bearer {token}");
        let parsed = jws::parse(&token).expect("parse");
        let msg = parsed.signing_input.as_bytes().to_vec();
        let signature = parsed.signature.clone();
        assert!(raw_verify(alg, key, &msg, &signature));
        // (a) and (b) cycle through distinct tokens: verifying one signature
        // over and over trains the branch predictor on its exact (variable
        // time) path and flatters both numbers.
        let tokens: Vec<String> = (1..=o.distinct)
            .map(|n| format!("Bearer {}", mint(alg, key, n)))
            .collect();
        let pool: Vec<(Vec<u8>, Vec<u8>)> = tokens
            .iter()
            .map(|t| {
                let j = jws::parse(&t["Bearer ".len()..]).unwrap();
                (j.signing_input.as_bytes().to_vec(), j.signature)
            })
            .collect();

        eprintln!("{name}: (a) raw ring verify, (b) uncached check, (e) no-op backend");
        let mut uncached_gate = gate_with(Some(0), &gate_jwks, &token);
        assert_eq!(check_status(&mut uncached_gate, &auth), 200);
        let mut null_gate = gate_with_backend(Some(0), &gate_jwks, &token, NoCrypto);
        let (mut ia, mut ib, mut ie) = (0, 0, 0);
        let mut fa = || {
            let (m, s) = &pool[ia % pool.len()];
            ia += 1;
            assert!(raw_verify(alg, key, black_box(m), black_box(s)))
        };
        let mut fb = || {
            let t = &tokens[ib % tokens.len()];
            ib += 1;
            assert_eq!(check_status(&mut uncached_gate, black_box(t)), 200)
        };
        let mut fe = || {
            let t = &tokens[ie % tokens.len()];
            ie += 1;
            assert_eq!(check_status(&mut null_gate, black_box(t)), 200)
        };
        let (stats, ratios) = bench_interleaved(&o, &mut [&mut fa, &mut fb, &mut fe]);
        let (raw, uncached, core_only) = (stats[0], stats[1], stats[2]);
        let ratio = ratios[0];

        eprintln!("{name}: (b') distinct tokens, cache on");
        let distinct = {
            let mut gate = gate_with(None, &gate_jwks, &token);
            let chunk = (o.distinct / 16).max(1);
            // Warm up on the first chunk, measure the rest chunk by chunk.
            for t in &tokens[..chunk] {
                assert_eq!(check_status(&mut gate, t), 200);
            }
            let samples: Vec<f64> = tokens[chunk..]
                .chunks(chunk)
                .map(|c| {
                    let t0 = Instant::now();
                    for t in c {
                        assert_eq!(check_status(&mut gate, black_box(t)), 200);
                    }
                    t0.elapsed().as_secs_f64() * 1e6 / c.len() as f64
                })
                .collect();
            summarize(samples, (o.distinct - chunk) as u64)
        };

        eprintln!("{name}: (c) verdict-cache hit");
        let mut cached_gate = gate_with(None, &gate_jwks, &token);
        assert_eq!(check_status(&mut cached_gate, &auth), 200);
        let hit = bench(&o, || {
            assert_eq!(check_status(&mut cached_gate, black_box(&auth)), 200)
        });

        eprintln!("{name}: (d) JWKS ingest (3 keys)");
        let set: Vec<&Key> = set_of(kind).iter().collect();
        let body = jwks(&set);
        let mut ingest_gate = gate_with(None, &body, &token);
        let f = fetch();
        let ingest = bench(&o, || {
            let r = ingest_gate
                .ingest(&f, 200, &HEADERS_CC, black_box(&body), NOW)
                .unwrap();
            assert_eq!(r.keys, 3);
        });

        eprintln!("{name}: breakdown");
        let cfg = config(Some(0));
        let policy = Policy::new(&cfg.routes, cfg.policy.default).unwrap();
        let icfg = cfg.issuers[0].clone();
        let mut parts = Vec::new();
        let headers = [("authorization", auth.as_str())];
        let req = Request {
            method: "GET",
            path: PATH,
            headers: &headers,
        };
        parts.push((
            "request+route",
            bench(&o, || {
                let req = black_box(&req);
                let segs = split_path(req.path_only()).unwrap();
                let m = policy.route(req.method, &segs);
                let p = extract(req, &cfg.token).unwrap().unwrap();
                black_box((&m.access, &p));
            }),
        ));
        parts.push((
            "sha256",
            bench(&o, || {
                black_box(digest(black_box(&token)));
            }),
        ));
        parts.push((
            "jws::parse",
            bench(&o, || {
                black_box(jws::parse(black_box(&token)).unwrap());
            }),
        ));
        parts.push((
            "claims",
            bench(&o, || {
                let iss = claims::issuer(&parsed.claims).unwrap();
                assert_eq!(iss, ISSUER);
                black_box(claims::check(&parsed.claims, &parsed.header, &icfg, NOW).unwrap());
            }),
        ));
        let mut store_gate = gate_with(Some(0), &gate_jwks, &token);
        parts.push((
            "key select",
            bench(&o, || {
                let s = store_gate
                    .keys_mut()
                    .select(ISSUER, black_box(&parsed.header), NOW);
                assert!(matches!(s, Selection::Candidates(ref c) if c.len() == 1));
            }),
        ));
        let pk = store_gate
            .keys()
            .keys(ISSUER)
            .iter()
            .find(|k| k.kid.as_deref() == Some(key.kid.as_str()))
            .unwrap()
            .clone();
        parts.push(("backend verify", {
            let mut i = 0;
            bench(&o, || {
                let (m, s) = &pool[i % pool.len()];
                i += 1;
                assert!(RingBackend.verify(alg, &pk, black_box(m), black_box(s)))
            })
        }));
        parts.push((
            "identity",
            bench(&o, || {
                // What identity_from does with the (moved) claims: gather
                // scopes, roles and permissions, copy subject and issuer.
                let c = black_box(&parsed.claims);
                let s = gather(c, &icfg.scope_claims);
                let r = gather(c, &icfg.role_claims);
                let p = gather(c, &icfg.permission_claims);
                let sub = edgeward::json::claim_at(c, &icfg.subject_claim).cloned();
                black_box((s, r, p, sub, icfg.issuer.clone()));
            }),
        ));
        // Sub-measurements (not part of the sum above).
        let mut extra = Vec::new();
        let anon_headers = [("authorization", auth.as_str())];
        let anon = Request {
            method: "GET",
            path: "/health",
            headers: &anon_headers,
        };
        extra.push((
            "anonymous-route check (route + decision, no token work)",
            bench(&o, || {
                let out = uncached_gate.check(black_box(&anon), NOW);
                assert!(matches!(out, Outcome::Decided(ref d) if d.status() == 200));
            }),
        ));
        let segs: Vec<&str> = token.split('.').collect();
        extra.push((
            "jws: base64url of 3 parts",
            bench(&o, || {
                for part in black_box(&segs) {
                    black_box(URL_SAFE_NO_PAD.decode(part).unwrap());
                }
            }),
        ));
        let header_bytes = URL_SAFE_NO_PAD.decode(segs[0]).unwrap();
        let payload_bytes = URL_SAFE_NO_PAD.decode(segs[1]).unwrap();
        extra.push((
            "jws: strict JSON of header+payload",
            bench(&o, || {
                for b in [&header_bytes, &payload_bytes] {
                    black_box(edgeward::json::parse_strict(black_box(b), 16).unwrap());
                }
            }),
        ));
        extra.push((
            "(ref) serde_json::Value, not strict",
            bench(&o, || {
                for b in [&header_bytes, &payload_bytes] {
                    black_box(serde_json::from_slice::<serde_json::Value>(black_box(b)).unwrap());
                }
            }),
        ));
        let short_sig = [0u8; 1];
        extra.push((
            "ring per-call key setup (short signature, rejected)",
            bench(&o, || {
                assert!(!raw_verify(
                    alg,
                    key,
                    black_box(&msg),
                    black_box(&short_sig)
                ));
            }),
        ));
        extra.push((
            "same through RingBackend (jsonwebtoken provider glue)",
            bench(&o, || {
                assert!(!RingBackend.verify(alg, &pk, black_box(&msg), black_box(&short_sig)));
            }),
        ));
        rows.push(Row {
            extra,
            alg: name,
            raw,
            uncached,
            ratio,
            core_only,
            distinct,
            hit,
            ingest,
            parts,
        });
    }
    report(&rows, &o);
    assertion(&o);
}

/// `[assertion]`: minting the signed identity assertion (an Ed25519
/// signature, a miss in the signer's cache) and reusing one (a hit).
fn assertion(o: &Opts) {
    let cfg: edgeward::config::AssertionConfig = serde_json::from_value(json!({
        "audience": "https://orders.internal", "issuer": "https://gate.example.com",
        "key": "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A"
    }))
    .unwrap();
    let mut signer = edgeward::assertion::Signer::new(&cfg).unwrap();
    let mut id = edgeward::Identity {
        kind: edgeward::IdentityKind::Jwt,
        subject: Some("alice".into()),
        issuer: Some(ISSUER.into()),
        tenant: Some("acme".into()),
        scopes: vec!["orders:read".into(), "orders:write".into()],
        roles: vec!["admin".into()],
        permissions: Vec::new(),
        expires_at: Some(NOW + 3600),
        claims: serde_json::Value::Null,
    };
    let hit = bench(o, || {
        black_box(signer.mint(black_box(&id), NOW));
    });
    let mut n = 0u64;
    let miss = bench(o, || {
        n += 1;
        id.expires_at = Some(NOW + 3600 + (n % 1_000_000) as i64);
        black_box(signer.mint(black_box(&id), NOW));
    });
    println!(
        "\n[assertion] mint (Ed25519 sign, cache miss): {:.2} µs; reuse (cache hit): {:.2} µs",
        miss.median, hit.median
    );
}

fn report(rows: &[Row], o: &Opts) {
    let f = |x: f64| {
        if x >= 100.0 {
            format!("{x:.0}")
        } else if x >= 10.0 {
            format!("{x:.1}")
        } else {
            format!("{x:.2}")
        }
    };
    println!();
    println!(
        "### Native: full check vs raw ring (median µs/op, {} batches)",
        o.batches
    );
    println!();
    println!("| alg | (a) raw ring verify | (b) check, uncached | (b)/(a) | ≤ 1.3x | (b)/(a), fastest batches | ((a)+(e))/(a), (e) = core alone | (b') check, fresh token, cache on | (c) cache hit | < 5 µs | (d) JWKS ingest, 3 keys |");
    println!("|---|---:|---:|---:|:-:|---:|---:|---:|---:|:-:|---:|");
    for r in rows {
        let ratio = r.ratio;
        println!(
            "| {} | {} | {} | {:.3}x | {} | {:.3}x | {:.3}x | {} | {} | {} | {} |",
            r.alg,
            f(r.raw.median),
            f(r.uncached.median),
            ratio,
            if ratio <= 1.3 { "met" } else { "MISSED" },
            r.uncached.min / r.raw.min,
            (r.raw.median + r.core_only.median) / r.raw.median,
            f(r.distinct.median),
            f(r.hit.median),
            if r.hit.median < 5.0 { "met" } else { "MISSED" },
            f(r.ingest.median),
        );
    }
    println!();
    println!("### Native: where the uncached check's time goes (median µs/op)");
    println!();
    let names: Vec<&str> = rows[0].parts.iter().map(|p| p.0).collect();
    print!("| alg |");
    for n in &names {
        print!(" {n} |");
    }
    println!(" sum of parts | full check | rest (decision, glue) | check − raw ring | backend − raw ring | (e) check, no-op backend = core alone | (a) + (e) |");
    print!("|---|");
    for _ in &names {
        print!("---:|");
    }
    println!("---:|---:|---:|---:|---:|---:|---:|");
    for r in rows {
        print!("| {} |", r.alg);
        let mut sum = 0.0;
        let mut backend = 0.0;
        for (n, s) in &r.parts {
            print!(" {} |", f(s.median));
            sum += s.median;
            if *n == "backend verify" {
                backend = s.median;
            }
        }
        println!(
            " {} | {} | {} | {} | {} | {} | {} |",
            f(sum),
            f(r.uncached.median),
            f(r.uncached.median - sum),
            f(r.uncached.median - r.raw.median),
            f(backend - r.raw.median),
            f(r.core_only.median),
            f(r.raw.median + r.core_only.median),
        );
    }
    println!();
    println!("### Native: inside the pieces (median µs/op; not added to the sum above)");
    println!();
    print!("| alg |");
    for (n, _) in &rows[0].extra {
        print!(" {n} |");
    }
    println!();
    print!("|---|");
    for _ in &rows[0].extra {
        print!("---:|");
    }
    println!();
    for r in rows {
        print!("| {} |", r.alg);
        for (_, s) in &r.extra {
            print!(" {} |", f(s.median));
        }
        println!();
    }
    println!();
    println!("Fastest batch (min µs/op), for noise: ");
    for r in rows {
        println!(
            "- {}: raw {} / check {} / hit {} (iterations: raw {}, check {})",
            r.alg,
            f(r.raw.min),
            f(r.uncached.min),
            f(r.hit.min),
            r.raw.iters,
            r.uncached.iters
        );
    }
}
