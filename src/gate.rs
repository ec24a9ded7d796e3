//! The gate: request in, decision (or a request for keys) out.
//!
//! A host drives it with a short loop:
//!
//! ```no_run
//! # use edgeward::{Gate, Config, Outcome, Request};
//! # fn http_get(url: &str) -> (u16, Vec<(String, String)>, Vec<u8>) { unimplemented!() }
//! # let mut gate = Gate::new(Config::parse("").unwrap()).unwrap();
//! # let (headers, now) = (vec![("authorization", "Bearer x")], 0);
//! let req = Request { method: "GET", path: "/items/1", headers: &headers };
//! let decision = loop {
//!     match gate.check(&req, now) {
//!         Outcome::Decided(d) => break d,
//!         Outcome::NeedKeys(fetch) => {
//!             let (status, h, body) = http_get(&fetch.url);
//!             let h: Vec<(&str, &str)> = h.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
//!             let _ = gate.ingest(&fetch, status, &h, &body, now);
//!         }
//!     }
//! };
//! ```
//!
//! The loop ends: after a fetch lands or fails, the key store does not ask
//! again within the cooldown, so the next `check` decides.

use crate::assertion::Signer;
use crate::cache::{Digest, Lru, TokenKeyer};
use crate::claims;
use crate::config::{
    Access, Config, ConfigErrors, IssuerConfig, MethodOverride, Mode, OAUTH2_PROXY_HEADERS,
};
use crate::crypto::{RingBackend, SignatureAnswer, SignatureBackend, SignatureCheck};
use crate::decision::{Allow, Answer, Decision, Deny, Identity, IdentityKind, Reason};
use crate::json::claim_at;
use crate::jws;
use crate::keys::Algorithm;
use crate::keys::{alg_name, parse_alg, KeyMaterial, PublicKey};
use crate::keystore::{
    IngestReport, KeyFetch, KeyStore, Selection, SharedNext, SharedRead, SharedTier, SharedWrite,
};
use crate::observe::{CacheUse, DecisionEvent, Observed};
use crate::policy::{
    claim_text, evaluate, gather, split_path, Policy, Requirement, RouteMatch, Subject,
};
use crate::token::{extract, Request};
use serde::Serialize;
use serde_json::Value;
use std::borrow::Cow;
use std::sync::Arc;

/// What `check` answers.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    /// The decision.
    Decided(Decision),
    /// Keys must be fetched (or a fetch another request started must land)
    /// before a decision; ingest the response and check again.
    NeedKeys(KeyFetch),
}

/// What `verify` answers (a token alone, no route policy).
#[derive(Clone, Debug, PartialEq)]
pub enum Verification {
    /// The token is valid. The second field is when the core's verdict
    /// cache drops it (`exp` + leeway, `iat` + `max_age`, `cache.ttl`,
    /// whichever comes first; sooner when the key is withdrawn): a host
    /// that remembers the identity must not keep it longer.
    Verified(Arc<Identity>, i64),
    /// The token is not.
    Denied(Deny),
    /// Keys are needed first.
    NeedKeys(KeyFetch),
}

/// One step of an explained check.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Step {
    /// What was checked (`route`, `token`, `header`, `key`, `signature`, ...).
    pub step: &'static str,
    /// Whether it passed.
    pub ok: bool,
    /// What was compared, in words.
    pub detail: String,
}

struct Trace<'a>(Option<&'a mut Vec<Step>>);

impl Trace<'_> {
    /// Keeps a step when steps are kept ([`Gate::explain`]). `detail` runs
    /// only then; it is a `dyn` closure so that its formatting is a function
    /// of its own, which a wasm host compiles only when it runs, not with
    /// every check that passes by.
    fn note(&mut self, step: &'static str, ok: bool, detail: &dyn Fn() -> String) {
        if let Some(steps) = self.0.as_mut() {
            steps.push(Step {
                step,
                ok,
                detail: detail(),
            });
        }
    }
}

enum Fail {
    Deny(Reason, String, Option<String>),
    Keys(KeyFetch),
    /// The signature does not verify, and no key refetch may change that
    /// before this time (the negative cache keeps the refusal no longer).
    BadSignature(i64),
    /// The host verifies this signature ([`Gate::check_deferring`]).
    Signature(Box<SignatureCheck>),
}

/// Whether the running check may hand signatures to the host.
enum Deferral {
    /// No: [`Gate::check`], [`Gate::verify`], [`Gate::explain`].
    Off,
    /// Yes, those the backend [`defers`](SignatureBackend::defers).
    On,
    /// No: the host answered this one; the backend verifies any other.
    Answered(Box<SignatureAnswer>),
}

impl From<jws::Failure> for Fail {
    fn from((reason, detail): jws::Failure) -> Fail {
        Fail::Deny(reason, detail, None)
    }
}

#[derive(Clone)]
struct Verdict {
    identity: Arc<Identity>,
    issuer: usize,
    until: i64,
}

/// The token gate. Holds configuration, keys and caches; does no I/O.
pub struct Gate<B: SignatureBackend = RingBackend> {
    config: Config,
    policy: Arc<Policy>,
    keys: KeyStore,
    backend: B,
    algs: Vec<Vec<Algorithm>>,
    hmac: Vec<Option<PublicKey>>,
    api_tokens: Vec<Digest>,
    /// Names tokens in `verdicts` and `rejects` (a secret per gate).
    keyer: TokenKeyer,
    verdicts: Lru<Verdict>,
    rejects: Lru<(Reason, String)>,
    strip: Arc<[String]>,
    /// `Some`: identities keep only these top-level claims (see
    /// [`Gate::keep_only_needed_claims`]); `None`: all of them.
    kept_claims: Option<Vec<ClaimKey>>,
    /// RFC 9728 metadata: (path served at, JSON document, absolute URL).
    resource: Option<(String, String, String)>,
    /// `[assertion]`: mints the signed identity assertion, serves its JWKS.
    assertion: Option<Signer>,
    /// What the latest `check` saw that its decision does not carry.
    observed: Observed,
    /// Set for the length of one [`Gate::check_deferring`].
    deferral: Deferral,
}

/// A top-level claim some configured path reads: exactly `name`, or (for a
/// dotted path) any key the path starts with followed by a dot.
#[derive(Debug)]
struct ClaimKey {
    path: String,
    dotted: bool,
}

impl ClaimKey {
    fn new(path: &str) -> ClaimKey {
        match path.strip_prefix('/') {
            // A JSON pointer: its first reference token, unescaped.
            Some(ptr) => ClaimKey {
                path: ptr
                    .split('/')
                    .next()
                    .unwrap_or_default()
                    .replace("~1", "/")
                    .replace("~0", "~"),
                dotted: false,
            },
            None => ClaimKey {
                path: path.to_owned(),
                dotted: path.contains('.'),
            },
        }
    }

    fn reads(&self, key: &str) -> bool {
        self.path == key
            || (self.dotted
                && self.path.len() > key.len()
                && self.path.starts_with(key)
                && self.path.as_bytes()[key.len()] == b'.')
    }
}

impl Gate<RingBackend> {
    /// A gate with the reference (ring) signature backend.
    pub fn new(config: Config) -> Result<Self, ConfigErrors> {
        Gate::with_backend(config, RingBackend)
    }
}

impl<B: SignatureBackend> Gate<B> {
    /// A gate verifying signatures with `backend`.
    pub fn with_backend(config: Config, backend: B) -> Result<Self, ConfigErrors> {
        config.validate()?;
        let policy = Policy::new(&config.routes, config.policy.default).map_err(|e| {
            ConfigErrors(vec![crate::config::ConfigError {
                field: "routes".into(),
                message: e,
            }])
        })?;
        let algs = config
            .issuers
            .iter()
            .map(|i| i.algorithms.iter().filter_map(|a| parse_alg(a)).collect())
            .collect();
        let hmac = config
            .issuers
            .iter()
            .map(|i| {
                i.hmac_secret.as_ref().map(|s| {
                    PublicKey::from_material(KeyMaterial::Hmac {
                        secret: s.as_bytes().to_vec(),
                    })
                })
            })
            .collect();
        let api_tokens = config
            .api_tokens
            .iter()
            .map(|t| {
                let mut d = [0u8; 32];
                for (i, byte) in d.iter_mut().enumerate() {
                    *byte = u8::from_str_radix(&t.sha256[2 * i..2 * i + 2], 16).unwrap_or(0);
                }
                d
            })
            .collect();
        let h = &config.headers;
        let mut strip: Vec<String> = [&h.subject, &h.issuer, &h.tenant, &h.scopes, &h.decision]
            .into_iter()
            .cloned()
            .collect();
        strip.extend(h.claims.values().cloned());
        // Whatever the preset: an origin written for oauth2-proxy must never
        // see a client's own X-Auth-Request-User.
        strip.extend(OAUTH2_PROXY_HEADERS.map(|(name, _)| name.to_owned()));
        let assertion = match &config.assertion {
            None => None,
            Some(a) => Some(Signer::new(a).map_err(|(field, message)| {
                ConfigErrors(vec![crate::config::ConfigError {
                    field: field.into(),
                    message,
                }])
            })?),
        };
        if let Some(a) = &assertion {
            strip.push(a.header().to_owned());
        }
        if h.strip_authorization {
            strip.push("authorization".into());
        }
        Ok(Gate {
            keys: KeyStore::new(&config.issuers, config.keys.clone()),
            keyer: TokenKeyer::random(),
            verdicts: Lru::new(config.cache.capacity),
            rejects: Lru::new(config.cache.negative_capacity),
            policy: Arc::new(policy),
            backend,
            algs,
            hmac,
            api_tokens,
            strip: strip.into(),
            kept_claims: None,
            assertion,
            observed: Observed::default(),
            deferral: Deferral::Off,
            resource: config.resource.as_ref().map(|r| {
                (
                    r.metadata_path(),
                    resource_metadata(&config, r),
                    r.metadata_url(),
                )
            }),
            config,
        })
    }

    /// The configuration in force.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The header names every allow removes from the request before it goes
    /// on (`Allow::headers_to_remove` is this same list, shared): the
    /// identity headers' names, and `authorization` when configured. Names
    /// as [`crate::header_key`] reads them.
    pub fn headers_to_remove(&self) -> &Arc<[String]> {
        &self.strip
    }

    /// The key store (for snapshots and operations).
    pub fn keys(&self) -> &KeyStore {
        &self.keys
    }

    /// The key store, mutably (to restore a snapshot).
    pub fn keys_mut(&mut self) -> &mut KeyStore {
        &mut self.keys
    }

    /// The signature backend.
    pub fn backend(&self) -> &B {
        &self.backend
    }

    /// Feeds the response to a [`KeyFetch`] back. When the IdP withdrew a
    /// key, cached verdicts are dropped so tokens signed with it stop passing.
    pub fn ingest(
        &mut self,
        fetch: &KeyFetch,
        status: u16,
        headers: &[(&str, &str)],
        body: &[u8],
        now: i64,
    ) -> Result<IngestReport, String> {
        let report = self.keys.ingest(fetch, status, headers, body, now)?;
        if report.removed {
            self.verdicts.clear();
        }
        Ok(report)
    }

    /// Records that a [`KeyFetch`] got no response.
    pub fn fetch_failed(&mut self, fetch: &KeyFetch, error: &str, now: i64) {
        self.keys.fetch_failed(fetch, error, now);
    }

    /// Background refreshes due now (stale keys); see [`KeyStore::due_refreshes`].
    pub fn due_refreshes(&mut self, now: i64) -> Vec<KeyFetch> {
        self.keys.due_refreshes(now)
    }

    /// From now on, verified identities keep only the claims this gate's
    /// configuration reads later: route `owner` rules and `headers.claims`
    /// (subject, issuer, tenant, scopes, roles and permissions are kept in
    /// their own fields regardless). For hosts that never hand
    /// [`Identity::claims`] to anyone (the Worker): every cached verdict is
    /// then a few small strings instead of the whole claim set, which keeps
    /// the verdict cache's memory, and the time spent building and dropping
    /// entries, small. Verdicts already cached are dropped.
    pub fn keep_only_needed_claims(&mut self) {
        let keys: Vec<ClaimKey> = self
            .config
            .routes
            .iter()
            .flat_map(|r| r.owner.values())
            .chain(self.config.headers.claims.keys())
            .map(|p| ClaimKey::new(p))
            .chain(
                (self.config.headers.preset.oauth2_proxy())
                    .then_some(OAUTH2_PROXY_HEADERS.map(|(_, claim)| ClaimKey::new(claim)))
                    .into_iter()
                    .flatten(),
            )
            .collect();
        self.kept_claims = Some(keys);
        self.verdicts.clear();
    }

    /// Decides `req` at `now` (Unix seconds).
    pub fn check(&mut self, req: &Request, now: i64) -> Outcome {
        self.check_traced(req, now, &mut Trace(None))
    }

    /// [`Gate::check`] in two phases, for a host whose fastest verifier
    /// answers later (a promise): where the backend
    /// [`defers`](SignatureBackend::defers) a signature, the check stops
    /// there and hands it over (`Err`), caching nothing. The host verifies
    /// it and checks the same request again with the
    /// [answer](SignatureCheck::answer), which this check uses for that exact
    /// signature only (alg, key, message, signature): it then decides
    /// (never `Err`), from the start, with the keys and caches of that
    /// moment; any other signature it meets (another candidate key, keys
    /// changed meanwhile) the backend verifies at once.
    ///
    /// ```
    /// # use edgeward::{Gate, Outcome, Request};
    /// # fn host_verifies(_: &edgeward::crypto::SignatureCheck) -> bool { true }
    /// # fn run(gate: &mut Gate, req: &Request, now: i64) -> Outcome {
    /// match gate.check_deferring(req, now, None) {
    ///     Ok(outcome) => outcome,
    ///     Err(check) => {
    ///         let valid = host_verifies(&check); // e.g. crypto.subtle.verify, awaited
    ///         gate.check_deferring(req, now, Some(check.answer(valid)))
    ///             .expect("an answered check decides")
    ///     }
    /// }
    /// # }
    /// ```
    pub fn check_deferring(
        &mut self,
        req: &Request,
        now: i64,
        answer: Option<SignatureAnswer>,
    ) -> Result<Outcome, Box<SignatureCheck>> {
        self.deferral = match answer {
            Some(a) => Deferral::Answered(Box::new(a)),
            None => Deferral::On,
        };
        let outcome = self.check_or_signature(req, now, &mut Trace(None));
        self.deferral = Deferral::Off;
        outcome
    }

    /// Describes the decision the latest [`Gate::check`] made for `req`, for
    /// logs, analytics and hooks: the same fields on every host (see
    /// [`DecisionEvent`]). Call it before the next `check`: the route and
    /// the verdict-cache use come from that check. Never holds the token,
    /// its signature or the subject.
    pub fn describe(&self, req: &Request, decision: &Decision) -> DecisionEvent {
        crate::observe::event(&self.config, &self.observed, req, decision)
    }

    /// Whether the latest [`Gate::check`] found the token's verdict in its
    /// cache (`None`: no JWT was looked at). The one field of
    /// [`Gate::describe`] counters need, without building the event.
    pub fn jwt_cache(&self) -> Option<CacheUse> {
        self.observed.cache
    }

    /// Like [`Gate::check`], also returning every step taken, for people
    /// (the CLI's `check`). Never includes the signature or key material.
    pub fn explain(&mut self, req: &Request, now: i64) -> (Outcome, Vec<Step>) {
        let mut steps = Vec::new();
        let outcome = self.check_traced(req, now, &mut Trace(Some(&mut steps)));
        (outcome, steps)
    }

    /// Runs the steps of a check of `req` that need no keys (route match,
    /// token extraction, JWS and claims parsing, issuer, claim checks) and
    /// keeps nothing: no verdict, no cache entry, no key fetch, no trace.
    /// For a host that waits on I/O before its first check (a new Worker
    /// isolate reading its key snapshot): in wasm each function is compiled
    /// on its first call, and this spends the wait on compiling what that
    /// check then runs. It decides nothing: only [`Gate::check`] does.
    pub fn rehearse(&self, req: &Request, now: i64) {
        if let Ok(segments) = split_path(req.path_only()) {
            std::hint::black_box(self.policy.matches(req.method, &segments));
        }
        let Ok(Some(presented)) = extract(req, &self.config.token) else {
            return;
        };
        let Ok(jws) = jws::parse(&presented.token) else {
            return;
        };
        let issuer = claims::issuer(&jws.claims)
            .ok()
            .and_then(|iss| self.issuer_index(iss, &jws.claims).ok())
            .and_then(|i| self.config.issuers.get(i));
        if let Some(icfg) = issuer {
            let _ = std::hint::black_box(claims::check(&jws.claims, &jws.header, icfg, now));
        }
        std::hint::black_box(jws);
    }

    /// Verifies a token alone: signature and claims, no route policy (the
    /// issuer's tenant list still applies).
    pub fn verify(&mut self, token: &str, now: i64) -> Verification {
        if token.len() > self.config.token.max_size {
            return Verification::Denied(self.deny(
                Reason::TokenTooLarge,
                "the token is larger than the configured maximum".into(),
                None,
            ));
        }
        let trace = &mut Trace(None);
        let verified = self.verify_jwt(token, now, trace).and_then(|v| {
            self.tenant_allowed(&v, trace)?;
            Ok(v)
        });
        match verified {
            Ok(v) => Verification::Verified(v.identity, v.until),
            Err(Fail::Keys(f)) => Verification::NeedKeys(f),
            Err(Fail::Deny(r, d, s)) => Verification::Denied(self.deny(r, d, s.as_deref())),
            // Only a deferring check defers.
            Err(Fail::BadSignature(_) | Fail::Signature(_)) => {
                Verification::Denied(bad_signature(self))
            }
        }
    }

    /// Adopts a key-store snapshot (Workers KV, shared data) when it is newer
    /// than the keys held, ending the issuer's outstanding fetch. Verdicts made
    /// with keys the snapshot no longer holds are dropped.
    pub fn restore(&mut self, snapshot: &str) -> Result<bool, String> {
        let report = self.keys.restore_report(snapshot)?;
        if report == Some(true) {
            self.verdicts.clear();
        }
        Ok(report.is_some())
    }

    /// Starts a fetch of `issuer`'s keys now whatever their freshness, or
    /// joins the outstanding one (an operator's "refresh").
    pub fn refresh(&mut self, issuer: &str, now: i64) -> Option<KeyFetch> {
        self.keys.refresh(issuer, now)
    }

    /// Declares the host's shared key tier (Workers KV, Redis, Deno KV,
    /// Envoy shared data); see [`crate::keystore::SharedTier`] and the
    /// protocol in `keystore/shared.rs`. Without it nothing changes.
    pub fn use_shared_tier(&mut self, tier: SharedTier) {
        self.keys.use_shared_tier(tier);
    }

    /// The tier keys a new instance reads before its first check; hand each
    /// value to [`Gate::adopt_shared`].
    pub fn shared_keys(&self) -> Vec<String> {
        self.keys.shared_keys()
    }

    /// The lock keys a compare-and-swap tier creates at start; see
    /// [`KeyStore::shared_lock_keys`].
    pub fn shared_lock_keys(&self) -> Vec<String> {
        self.keys.shared_lock_keys()
    }

    /// Takes a value read from the tier at start (see
    /// [`KeyStore::adopt_shared`]); verdicts made with withdrawn keys go.
    pub fn adopt_shared(
        &mut self,
        key: &str,
        value: Option<&str>,
        now: i64,
    ) -> Result<bool, String> {
        let adopted = self.keys.adopt_shared(key, value, now)?;
        if adopted == Some(true) {
            self.verdicts.clear();
        }
        Ok(adopted.is_some())
    }

    /// The starter's read of [`KeyFetch::shared_key`]; see
    /// [`KeyStore::ingest_shared`].
    pub fn ingest_shared(
        &mut self,
        fetch: &KeyFetch,
        read: SharedRead<'_>,
        now: i64,
    ) -> SharedNext {
        let (next, removed) = self.keys.ingest_shared(fetch, read, now);
        if removed {
            self.verdicts.clear();
        }
        next
    }

    /// The answer to [`SharedNext::Lock`]; see [`KeyStore::lock_result`].
    pub fn lock_result(&mut self, fetch: &KeyFetch, acquired: bool, now: i64) -> SharedNext {
        self.keys.lock_result(fetch, acquired, now)
    }

    /// Writes to perform after a flight's IdP fetch; see
    /// [`KeyStore::shared_writes`].
    pub fn shared_writes(&mut self, fetch: &KeyFetch, now: i64) -> Vec<SharedWrite> {
        self.keys.shared_writes(fetch, now)
    }

    /// A shared write failed; see [`KeyStore::shared_write_failed`].
    pub fn shared_write_failed(&mut self, write: &SharedWrite) {
        self.keys.shared_write_failed(write);
    }

    /// Where a key fetch may follow a redirect; see [`KeyStore::redirect`].
    pub fn redirect(&self, fetch: &KeyFetch, location: &str) -> Result<String, String> {
        self.keys.redirect(fetch, location)
    }

    /// Gives up on an outstanding fetch; see [`KeyStore::abandon`].
    pub fn abandon(&mut self, fetch: &KeyFetch) {
        self.keys.abandon(fetch);
    }

    /// Which configured issuer `iss` is: an exact one, or a template whose
    /// `{claim}` the token's own claim fills, for an accepted tenant. A
    /// made-up tenant costs nothing: templated issuers share one key set.
    fn issuer_index(&self, iss: &str, claims: &Value) -> Result<usize, (Reason, String)> {
        if let Some(i) = self.config.issuers.iter().position(|i| i.issuer == iss) {
            return Ok(i);
        }
        for (i, cfg) in self.config.issuers.iter().enumerate() {
            let Some((before, name, after)) = cfg.template() else {
                continue;
            };
            let Some(value) = iss
                .strip_prefix(before)
                .and_then(|rest| rest.strip_suffix(after))
                .filter(|v| !v.is_empty() && !v.contains(['/', '?', '#']))
            else {
                continue;
            };
            if claims.get(name).and_then(Value::as_str) != Some(value) {
                return Err((
                    Reason::ClaimValueMismatch,
                    format!("iss names tenant {value:?} but the token's {name} claim differs"),
                ));
            }
            if !cfg.any_tenant && !cfg.tenants.iter().any(|t| t == value) {
                return Err((
                    Reason::IssuerUnknown,
                    format!("tenant {value:?} of issuers[{i}] is not in its tenants"),
                ));
            }
            return Ok(i);
        }
        Err((
            Reason::IssuerUnknown,
            format!("iss \"{iss}\" is not a configured issuer"),
        ))
    }

    /// The issuer's `tenants` list, applied to a verified token.
    fn tenant_allowed(&self, v: &Verdict, trace: &mut Trace) -> Result<(), Fail> {
        let issuer = &self.config.issuers[v.issuer];
        let tenant = v.identity.tenant.as_ref();
        if issuer.tenants.is_empty() || tenant.is_some_and(|t| issuer.tenants.contains(t)) {
            return Ok(());
        }
        trace.note("tenant", false, &|| {
            format!(
                "tenant {tenant:?} is not in the issuer's tenants {:?}",
                issuer.tenants
            )
        });
        Err(Fail::Deny(
            Reason::TenantNotAllowed,
            "the token's tenant is not allowed".into(),
            None,
        ))
    }

    fn deny(&self, reason: Reason, detail: String, scope: Option<&str>) -> Deny {
        let mut d = Deny::new(&self.config.realm, reason, detail, scope);
        if let (Some(w), Some((_, _, url))) = (d.www_authenticate.as_mut(), &self.resource) {
            // RFC 9728 section 5.1: where to learn which servers issue tokens here.
            w.push_str(&format!(", resource_metadata=\"{url}\""));
        }
        d
    }

    fn check_traced(&mut self, req: &Request, now: i64, trace: &mut Trace) -> Outcome {
        match self.check_or_signature(req, now, trace) {
            Ok(outcome) => outcome,
            // Only a deferring check defers; were it ever to happen here,
            // the request is refused, never let through.
            Err(_) => Outcome::Decided(Decision::Deny(bad_signature(self))),
        }
    }

    fn check_or_signature(
        &mut self,
        req: &Request,
        now: i64,
        trace: &mut Trace,
    ) -> Result<Outcome, Box<SignatureCheck>> {
        // Methods are case-sensitive in HTTP, but routers disagree (Express
        // lowercases them; Node refuses `patch`): one form, uppercase, so
        // `patch` meets the rules for PATCH.
        let method = if req.method.bytes().any(|b| b.is_ascii_lowercase()) {
            Cow::Owned(req.method.to_ascii_uppercase())
        } else {
            Cow::Borrowed(req.method)
        };
        let req = &Request {
            method: &method,
            ..*req
        };
        let mut identity = None;
        self.observed = Observed::default();
        Ok(match self.decide(req, now, trace, &mut identity) {
            Ok(Some(answer)) => {
                trace.note("decision", true, &|| {
                    "answered by the gate (CORS preflight)".into()
                });
                Outcome::Decided(Decision::Answer(answer))
            }
            Ok(None) => {
                let who = identity.unwrap_or_else(|| Arc::new(Identity::anonymous()));
                trace.note("decision", true, &|| "allow".into());
                Outcome::Decided(self.allow(who, None, req, now))
            }
            Err(Fail::Keys(f)) => {
                trace.note("keys", false, &|| {
                    format!("keys for {} must be fetched from {}", f.issuer, f.url)
                });
                Outcome::NeedKeys(f)
            }
            Err(Fail::Signature(check)) => return Err(check),
            Err(fail) => {
                let mut deny = match fail {
                    Fail::Deny(reason, detail, scope) => {
                        self.deny(reason, detail, scope.as_deref())
                    }
                    _ => bad_signature(self),
                };
                deny.extra_headers = self.cors_headers(req);
                trace.note("decision", false, &|| {
                    format!(
                        "deny {} {}: {}",
                        deny.status,
                        deny.reason.code(),
                        deny.detail
                    )
                });
                if self.config.mode == Mode::ReportOnly {
                    let who = identity.unwrap_or_else(|| Arc::new(Identity::anonymous()));
                    Outcome::Decided(self.allow(who, Some(deny), req, now))
                } else {
                    self.observed.verified = identity;
                    Outcome::Decided(Decision::Deny(deny))
                }
            }
        })
    }

    /// `Ok(None)`: allow (with `who` set when a token was verified);
    /// `Ok(Some)`: the gate answers itself.
    fn decide(
        &mut self,
        req: &Request,
        now: i64,
        trace: &mut Trace,
        who: &mut Option<Arc<Identity>>,
    ) -> Result<Option<Answer>, Fail> {
        if let Some((path, json, _)) = &self.resource {
            if req.path_only() == path && matches!(req.method, "GET" | "HEAD" | "OPTIONS") {
                return Ok(Some(resource_answer(req, json, trace)));
            }
        }
        if let Some(a) = self
            .assertion
            .as_ref()
            .filter(|a| req.path_only() == a.jwks_path())
        {
            if matches!(req.method, "GET" | "HEAD") {
                return Ok(Some(assertion_jwks_answer(a.jwks(), trace)));
            }
        }
        // A request target has no fragment (RFC 9112 3.2), but Node passes
        // `#x` on in `req.url` and routers then cut it: refuse rather than
        // match a path the origin will not see.
        if req.path.contains('#') {
            trace.note("path", false, &|| {
                "fragment (#) in the request target".into()
            });
            return Err(Fail::Deny(
                Reason::PathInvalid,
                "fragment (#) in the request target".into(),
                None,
            ));
        }
        let segments = split_path(req.path_only()).map_err(|e| {
            trace.note("path", false, &|| e.to_string());
            Fail::Deny(Reason::PathInvalid, e.into(), None)
        })?;
        let policy = Arc::clone(&self.policy);
        let mut routes = policy.matches(req.method, &segments);
        self.observed.route = routes.first().and_then(|r| r.route).map(|r| r.index);
        if self.config.policy.method_override == MethodOverride::Evaluate {
            let named = method_overrides(req).map_err(|detail| {
                trace.note("method_override", false, &|| detail.clone());
                Fail::Deny(Reason::PathInvalid, detail, None)
            })?;
            for (method, source) in named.into_iter().filter(|(m, _)| m != req.method) {
                trace.note("method_override", true, &|| {
                    format!("{source} names {method}: the routes for {method} apply too")
                });
                for m in policy.matches(&method, &segments) {
                    let index = m.route.map(|r| r.index);
                    if !routes.iter().any(|r| r.route.map(|r| r.index) == index) {
                        routes.push(m);
                    }
                }
            }
        }
        for (i, route) in routes.iter().enumerate() {
            trace.note("route", route.access != Access::Deny, &|| {
                let how = if i == 0 {
                    "matches"
                } else {
                    "also matches, case-folded,"
                };
                match route.route {
                    Some(r) => format!(
                        "{} {} {how} routes[{}] (path {}): access {:?}",
                        req.method,
                        req.path_only(),
                        r.index,
                        r.config.path,
                        route.access
                    ),
                    None => format!(
                        "{} {} {how} no route: default access {:?}",
                        req.method,
                        req.path_only(),
                        route.access
                    ),
                }
            });
        }
        if routes.iter().any(|r| r.access == Access::Deny) {
            return Err(Fail::Deny(
                Reason::RouteDenied,
                "this route is closed".into(),
                None,
            ));
        }
        let preflight = req.method == "OPTIONS"
            && req.header("origin").is_some()
            && req.header("access-control-request-method").is_some();
        if preflight {
            if routes
                .iter()
                .all(|r| r.route.is_some_and(|r| r.config.forward_preflight))
            {
                trace.note("preflight", true, &|| {
                    "CORS preflight goes to the origin (forward_preflight)".into()
                });
                return Ok(None);
            }
            if let Some(cors) = &self.config.cors {
                return self.preflight(cors, req, trace).map(Some);
            }
        }
        if routes.iter().all(|r| r.access == Access::Anonymous) {
            return Ok(None);
        }
        let required = routes.iter().any(|r| r.access == Access::Authenticated);
        let presented = extract(req, &self.config.token).map_err(|(r, d)| {
            trace.note("token", false, &|| d.into());
            Fail::Deny(r, d.into(), None)
        })?;
        let Some(presented) = presented else {
            if !required {
                trace.note("token", true, &|| {
                    "no access token: the route's access is optional".into()
                });
                return Ok(None);
            }
            trace.note("token", false, &|| "no access token in the request".into());
            return Err(Fail::Deny(
                Reason::TokenMissing,
                "an access token is required".into(),
                None,
            ));
        };
        trace.note("token", true, &|| {
            format!(
                "found in {:?}, {} bytes",
                presented.source,
                presented.token.len()
            )
        });
        let token = presented.token.as_ref();
        let identity = if token.contains('.') {
            let v = self.verify_jwt(token, now, trace)?;
            *who = Some(v.identity.clone());
            self.tenant_allowed(&v, trace)?;
            v.identity
        } else {
            let id = self.verify_api_token(token, trace)?;
            *who = Some(id.clone());
            if routes
                .iter()
                .any(|r| r.route.is_some_and(|r| !r.config.api_tokens))
            {
                return Err(Fail::Deny(
                    Reason::ApiTokenNotAllowed,
                    "this route does not accept API tokens".into(),
                    None,
                ));
            }
            id
        };
        for route in &routes {
            self.apply_policy(route, &identity, trace)?;
        }
        Ok(None)
    }

    /// Answers a CORS preflight from `[cors]`.
    fn preflight(
        &self,
        cors: &crate::config::CorsConfig,
        req: &Request,
        trace: &mut Trace,
    ) -> Result<Answer, Fail> {
        let refuse = |detail: String, trace: &mut Trace| {
            trace.note("preflight", false, &|| detail.clone());
            Fail::Deny(Reason::PreflightRefused, detail, None)
        };
        let origin = req.header("origin").unwrap_or_default();
        if !self.origin_allowed(origin) {
            return Err(refuse(
                format!("origin {origin:?} is not in cors.allowed_origins"),
                trace,
            ));
        }
        let method = req
            .header("access-control-request-method")
            .unwrap_or_default()
            .trim();
        if !cors.allowed_methods.iter().any(|m| m == method) {
            return Err(refuse(
                format!("method {method:?} is not in cors.allowed_methods"),
                trace,
            ));
        }
        for asked in req
            .header_values("access-control-request-headers")
            .flat_map(|v| v.split(','))
            .map(|h| h.trim().to_ascii_lowercase())
            .filter(|h| !h.is_empty())
        {
            if !cors.allowed_headers.contains(&asked) {
                return Err(refuse(
                    format!("header {asked:?} is not in cors.allowed_headers"),
                    trace,
                ));
            }
        }
        trace.note("preflight", true, &|| {
            format!("CORS preflight from {origin} for {method} answered by the gate")
        });
        let mut headers = vec![(
            "access-control-allow-origin".to_string(),
            self.allow_origin_value(origin),
        )];
        if cors.allow_credentials {
            headers.push(("access-control-allow-credentials".into(), "true".into()));
        }
        headers.push((
            "access-control-allow-methods".into(),
            cors.allowed_methods.join(", "),
        ));
        if !cors.allowed_headers.is_empty() {
            headers.push((
                "access-control-allow-headers".into(),
                cors.allowed_headers.join(", "),
            ));
        }
        headers.push(("access-control-max-age".into(), cors.max_age.to_string()));
        headers.push((
            "vary".into(),
            "Origin, Access-Control-Request-Method, Access-Control-Request-Headers".into(),
        ));
        Ok(Answer {
            status: 204,
            headers,
            body: String::new(),
        })
    }

    fn origin_allowed(&self, origin: &str) -> bool {
        self.config.cors.as_ref().is_some_and(|c| {
            c.allowed_origins
                .iter()
                .any(|o| o == "*" || o.eq_ignore_ascii_case(origin))
        })
    }

    fn allow_origin_value(&self, origin: &str) -> String {
        match &self.config.cors {
            Some(c) if !c.allow_credentials && c.allowed_origins.iter().any(|o| o == "*") => {
                "*".into()
            }
            _ => origin.into(),
        }
    }

    /// CORS headers for a response to an actual (not preflight) request
    /// from an allowed `Origin`; none without `[cors]`.
    fn cors_headers(&self, req: &Request) -> Vec<(String, String)> {
        let (Some(cors), Some(origin)) = (&self.config.cors, req.header("origin")) else {
            return Vec::new();
        };
        if !self.origin_allowed(origin) {
            return Vec::new();
        }
        let mut h = vec![(
            "access-control-allow-origin".to_string(),
            self.allow_origin_value(origin),
        )];
        if cors.allow_credentials {
            h.push(("access-control-allow-credentials".into(), "true".into()));
        }
        let mut expose = vec!["www-authenticate".to_string()];
        expose.extend(cors.expose_headers.iter().cloned());
        h.push(("access-control-expose-headers".into(), expose.join(", ")));
        h.push(("vary".into(), "Origin".into()));
        h
    }

    fn apply_policy(
        &self,
        route: &RouteMatch,
        id: &Identity,
        trace: &mut Trace,
    ) -> Result<(), Fail> {
        let subject = Subject {
            scopes: &id.scopes,
            roles: &id.roles,
            permissions: &id.permissions,
            tenant: id.tenant.as_deref(),
            claims: (id.kind == IdentityKind::Jwt).then_some(&id.claims),
        };
        match evaluate(route, &subject) {
            Ok(()) => {
                trace.note("policy", true, &|| {
                    format!(
                        "requirements met (scopes {:?}, roles {:?}, permissions {:?})",
                        id.scopes, id.roles, id.permissions
                    )
                });
                Ok(())
            }
            Err(r) => {
                trace.note("policy", false, &|| {
                    format!(
                        "{} (token has scopes {:?}, roles {:?}, permissions {:?})",
                        r.detail, id.scopes, id.roles, id.permissions
                    )
                });
                Err(Fail::Deny(r.reason, r.detail, r.scope))
            }
        }
    }

    fn verify_api_token(&self, token: &str, trace: &mut Trace) -> Result<Arc<Identity>, Fail> {
        let d = self.backend.sha256(token);
        // Compare against every hash, in constant time per hash, without
        // stopping early, so timing says nothing about which (if any) matched.
        let mut found = None;
        for (i, h) in self.api_tokens.iter().enumerate() {
            let diff = h
                .iter()
                .zip(d.iter())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b));
            if diff == 0 {
                found = Some(i);
            }
        }
        let Some(i) = found else {
            trace.note("api_token", false, &|| {
                "an opaque token matches no configured API token".into()
            });
            return Err(Fail::Deny(
                Reason::ApiTokenInvalid,
                "the token is not a JWT and matches no API token".into(),
                None,
            ));
        };
        let t = &self.config.api_tokens[i];
        trace.note("api_token", true, &|| format!("API token \"{}\"", t.name));
        Ok(Arc::new(Identity {
            kind: IdentityKind::ApiToken,
            subject: Some(t.name.clone()),
            scopes: t.scopes.clone(),
            ..Identity::anonymous()
        }))
    }

    fn verify_jwt(&mut self, token: &str, now: i64, trace: &mut Trace) -> Result<Verdict, Fail> {
        let key = self.keyer.key(token);
        if let Some(v) = self.verdicts.get(&key, now) {
            self.observed.cache = Some(CacheUse::Hit);
            trace.note("cache", true, &|| {
                "verified earlier; verdict cache hit".into()
            });
            return Ok(v);
        }
        if let Some((reason, detail)) = self.rejects.get(&key, now) {
            self.observed.cache = Some(CacheUse::Hit);
            trace.note("cache", false, &|| {
                format!("refused earlier ({}); negative cache hit", reason.code())
            });
            return Err(Fail::Deny(reason, detail, None));
        }
        self.observed.cache = Some(CacheUse::Miss);
        match self.verify_uncached(token, now, trace) {
            Ok(v) => {
                self.verdicts.insert(key, v.clone(), v.until);
                Ok(v)
            }
            Err(Fail::BadSignature(refetch_at)) => {
                // Remembered only while no key refetch could change it.
                let ttl = self.config.cache.negative_ttl as i64;
                let d = bad_signature(self);
                self.rejects.insert(
                    key,
                    (d.reason, d.detail),
                    now.saturating_add(ttl).min(refetch_at),
                );
                Err(Fail::BadSignature(refetch_at))
            }
            Err(Fail::Deny(reason, detail, scope)) => {
                // Only failures that time and key refreshes cannot change.
                if matches!(
                    reason,
                    Reason::TokenMalformed
                        | Reason::HeaderUnsupported
                        | Reason::AlgorithmNotAllowed
                ) {
                    let ttl = self.config.cache.negative_ttl as i64;
                    self.rejects
                        .insert(key, (reason, detail.clone()), now.saturating_add(ttl));
                }
                Err(Fail::Deny(reason, detail, scope))
            }
            Err(f) => Err(f),
        }
    }

    fn verify_uncached(
        &mut self,
        token: &str,
        now: i64,
        trace: &mut Trace,
    ) -> Result<Verdict, Fail> {
        let jws = jws::parse(token).inspect_err(|f| trace.note("parse", false, &|| f.1.clone()))?;
        trace.note("header", true, &|| jws.header_json().to_string());
        trace.note("claims", true, &|| jws.claims.to_string());
        let iss = claims::issuer(&jws.claims)
            .inspect_err(|f| trace.note("issuer", false, &|| f.1.clone()))?;
        let idx = match self.issuer_index(iss, &jws.claims) {
            Ok(idx) => idx,
            Err((reason, detail)) => {
                trace.note("issuer", false, &|| detail.clone());
                return Err(Fail::Deny(reason, detail, None));
            }
        };
        trace.note("issuer", true, &|| {
            format!("iss \"{iss}\" is issuers[{idx}]")
        });
        let alg = jws.header.alg;
        if !self.algs[idx].contains(&alg) {
            trace.note("alg", false, &|| {
                format!(
                    "alg {} is not in {:?}",
                    alg_name(alg),
                    self.config.issuers[idx].algorithms
                )
            });
            return Err(Fail::Deny(
                Reason::AlgorithmNotAllowed,
                format!("alg {} is not accepted from this issuer", alg_name(alg)),
                None,
            ));
        }
        if !self.backend.supports(alg) {
            // Allowed by configuration, but this build cannot verify it
            // (ES512 in a wasm host without the p521 feature or native
            // crypto): a plain refusal, never a verification that can only fail.
            trace.note("alg", false, &|| {
                format!(
                    "alg {} is allowed but the {} backend of this build cannot verify it",
                    alg_name(alg),
                    self.backend.name()
                )
            });
            return Err(Fail::Deny(
                Reason::AlgorithmNotAllowed,
                format!("alg {} is not supported here", alg_name(alg)),
                None,
            ));
        }
        trace.note("alg", true, &|| format!("alg {} is allowed", alg_name(alg)));
        let icfg: &IssuerConfig = &self.config.issuers[idx];
        let times = claims::check(&jws.claims, &jws.header, icfg, now)
            .inspect_err(|f| trace.note("claims", false, &|| f.1.clone()))?;
        trace.note("claims", true, &|| {
            format!(
                "aud is one of {:?}; exp {} is after now {} (leeway {}s)",
                icfg.audiences, times.exp, now, icfg.leeway
            )
        });
        for (name, path) in [
            ("subject", Some(&icfg.subject_claim)),
            ("tenant", icfg.tenant_claim.as_ref()),
        ] {
            // 1e20 and 100000000000000000001 are one f64: a subject must name
            // one caller, so only strings and exact integers qualify.
            if let Some(Value::Number(n)) = path.and_then(|p| claim_at(&jws.claims, p)) {
                if n.as_i64().is_none() && n.as_u64().is_none() {
                    trace.note("claims", false, &|| {
                        format!("the {name} claim {n} is not an integer")
                    });
                    return Err(Fail::Deny(
                        Reason::ClaimInvalid,
                        format!("the {name} claim must be a string or an integer"),
                        None,
                    ));
                }
            }
        }
        let message = jws.signing_input.as_bytes();
        let mut hmac = false;
        let verified = match &self.hmac[idx] {
            Some(secret)
                if matches!(alg, Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512) =>
            {
                trace.note("key", true, &|| {
                    "the issuer's configured HMAC secret".into()
                });
                hmac = true;
                self.backend.verify(alg, secret, message, &jws.signature)
            }
            _ => match self.keys.select(&icfg.issuer, &jws.header, now) {
                Selection::Candidates(keys) => {
                    trace.note("key", true, &|| {
                        let kids: Vec<_> = keys
                            .iter()
                            .map(|k| {
                                format!("{} {}", k.kty(), k.kid.as_deref().unwrap_or("(no kid)"))
                            })
                            .collect();
                        format!(
                            "candidates for kid {:?}: {}",
                            jws.header.kid,
                            kids.join(", ")
                        )
                    });
                    let mut verified = false;
                    for k in keys.iter() {
                        match signature(
                            &self.deferral,
                            &self.backend,
                            alg,
                            k,
                            message,
                            &jws.signature,
                        ) {
                            Some(false) => {}
                            Some(true) => {
                                verified = true;
                                break;
                            }
                            None => {
                                return Err(Fail::Signature(Box::new(SignatureCheck {
                                    alg,
                                    key: (*k).clone(),
                                    message: message.to_vec(),
                                    signature: jws.signature.clone(),
                                })))
                            }
                        }
                    }
                    verified
                }
                Selection::Fetch(f) => return Err(Fail::Keys(f)),
                Selection::Unusable(m) => {
                    trace.note("key", false, &|| {
                        format!("the key with kid {:?}: {m}", jws.header.kid)
                    });
                    return Err(Fail::Deny(
                        Reason::KeyUnusable,
                        format!("the key named by kid cannot verify {}: {m}", alg_name(alg)),
                        None,
                    ));
                }
                Selection::NotFound => {
                    trace.note("key", false, &|| {
                        format!(
                            "no key with kid {:?} fits {} in the issuer's key set",
                            jws.header.kid,
                            alg_name(alg)
                        )
                    });
                    return Err(Fail::Deny(
                        Reason::KeyNotFound,
                        "no key in the issuer's key set matches the token".into(),
                        None,
                    ));
                }
                Selection::Unavailable(why) => {
                    trace.note("key", false, &|| why.clone());
                    return Err(Fail::Deny(
                        Reason::KeysUnavailable,
                        "the issuer's keys cannot be fetched right now".into(),
                        None,
                    ));
                }
            },
        };
        trace.note("signature", verified, &|| {
            format!(
                "{} signature {} ({} backend)",
                alg_name(alg),
                if verified {
                    "verifies"
                } else {
                    "does not verify"
                },
                self.backend.name()
            )
        });
        if !verified {
            if hmac {
                return Err(Fail::BadSignature(i64::MAX));
            }
            // The IdP may have re-issued a key under the same kid (or
            // changed the set under kid-less tokens): like an unknown kid,
            // one refetch per cooldown.
            let configured = self.config.issuers[idx].issuer.clone();
            return match self.keys.refetch_after_bad_signature(&configured, now) {
                Ok(f) => {
                    trace.note("keys", false, &|| {
                        "the signature fails with keys older than the refetch cooldown: refetch"
                            .into()
                    });
                    Err(Fail::Keys(f))
                }
                Err(until) => Err(Fail::BadSignature(until)),
            };
        }
        let iss = iss.to_owned();
        let mut identity = identity_from(icfg, &iss, jws.claims, times.exp);
        if let (Some(keep), Value::Object(map)) = (&self.kept_claims, &mut identity.claims) {
            map.retain(|k, _| keep.iter().any(|c| c.reads(k)));
        }
        // A verdict lives no longer than the token, the cache TTL, or max_age.
        let leeway = icfg.leeway as i64;
        let mut until = times
            .exp
            .saturating_add(leeway)
            .min(now.saturating_add(self.config.cache.ttl as i64));
        if let (Some(max_age), Some(iat)) = (icfg.max_age, times.iat) {
            until = until.min(
                iat.saturating_add(max_age as i64)
                    .saturating_add(leeway)
                    .saturating_add(1),
            );
        }
        Ok(Verdict {
            identity: Arc::new(identity),
            issuer: idx,
            until,
        })
    }

    fn allow(
        &mut self,
        identity: Arc<Identity>,
        report_only: Option<Deny>,
        req: &Request,
        now: i64,
    ) -> Decision {
        let h = &self.config.headers;
        let mut set = Vec::new();
        let mut put = |name: &str, value: String| set.push((name.to_owned(), value));
        if h.preset.edgeward() {
            if let Some(s) = &identity.subject {
                put(&h.subject, header_value(s));
            }
            if let Some(i) = &identity.issuer {
                put(&h.issuer, header_value(i));
            }
            if let Some(t) = &identity.tenant {
                put(&h.tenant, header_value(t));
            }
            if identity.kind != IdentityKind::Anonymous {
                // Space-separated, each scope encoded whole: a scope holding a
                // space stays one scope.
                let scopes: Vec<String> = identity.scopes.iter().map(|s| encode(s, true)).collect();
                put(&h.scopes, scopes.join(" "));
            }
        }
        if h.preset.oauth2_proxy() {
            oauth2_proxy_headers(&identity, &mut put);
        }
        for (claim, header) in &h.claims {
            match claim_at(&identity.claims, claim) {
                None | Some(Value::Null) => {}
                Some(Value::String(s)) => put(header, header_value(s)),
                Some(other) => put(header, header_value(&other.to_string())),
            }
        }
        if self.config.mode == Mode::ReportOnly {
            put(&h.decision, report_only_verdict(&report_only));
        }
        if report_only.is_none() {
            if let Some(a) = self.assertion.as_mut() {
                if let Some(jwt) = a.mint(&identity, now) {
                    set.push((a.header().to_owned(), jwt));
                }
            }
        }
        Decision::Allow(Box::new(Allow {
            identity,
            headers_to_set: set,
            headers_to_remove: Arc::clone(&self.strip),
            report_only,
            response_headers: self.cors_headers(req),
        }))
    }
}

impl<B: SignatureBackend> Gate<B> {
    /// Checks a caller this gate let through against a requirement stated
    /// in code (a [`Requirement`] mounted on a framework's route, the npm
    /// package's `gate.require`), and answers as [`Gate::check`] would for a
    /// `[[routes]]` entry with the same keys: the refusal with its challenge
    /// (`insufficient_scope` and the scopes that would do) and the CORS
    /// headers for `req`'s `Origin`. `params`: the framework's path
    /// parameters, for `owner`. In report-only mode nothing is refused:
    /// `Ok(Some((name, value)))` is the decision header to set on the
    /// request instead.
    pub fn require(
        &self,
        rule: &Requirement,
        identity: &Identity,
        params: &[(&str, String)],
        req: &Request,
    ) -> Result<Option<(String, String)>, Deny> {
        let subject = Subject {
            scopes: &identity.scopes,
            roles: &identity.roles,
            permissions: &identity.permissions,
            tenant: identity.tenant.as_deref(),
            claims: (identity.kind == IdentityKind::Jwt).then_some(&identity.claims),
        };
        let Err(r) = rule.check(identity.kind, &subject, params) else {
            return Ok(None);
        };
        let mut deny = self.deny(r.reason, r.detail, r.scope.as_deref());
        if self.config.mode == Mode::ReportOnly {
            let verdict = format!(
                "deny; status={}; reason={}",
                deny.status,
                deny.reason.code()
            );
            return Ok(Some((self.config.headers.decision.clone(), verdict)));
        }
        deny.extra_headers = self.cors_headers(req);
        Err(deny)
    }
}

// The gate's own answers and rarely taken branches, out of line: a new
// wasm isolate compiles each function whole on its first call, so code in a
// hot function's body is compiled whether or not its branch runs.

/// The protected-resource metadata (RFC 9728), `json`, as the gate serves it.
#[cold]
#[inline(never)]
fn resource_answer(req: &Request, json: &str, trace: &mut Trace) -> Answer {
    trace.note("route", true, &|| {
        "the protected-resource metadata (RFC 9728), served by the gate".into()
    });
    let mut headers = vec![("access-control-allow-origin".to_string(), "*".to_string())];
    if req.method == "OPTIONS" {
        headers.push(("access-control-allow-methods".into(), "GET, HEAD".into()));
        return Answer {
            status: 204,
            headers,
            body: String::new(),
        };
    }
    headers.push(("content-type".into(), "application/json".into()));
    headers.push(("cache-control".into(), "public, max-age=3600".into()));
    Answer {
        status: 200,
        headers,
        body: json.to_owned(),
    }
}

/// The identity assertion's key set, `jwks`, as the gate serves it.
#[cold]
#[inline(never)]
fn assertion_jwks_answer(jwks: &str, trace: &mut Trace) -> Answer {
    trace.note("route", true, &|| {
        "the identity assertion's key set, served by the gate".into()
    });
    Answer {
        status: 200,
        headers: vec![
            ("content-type".into(), "application/jwk-set+json".into()),
            ("cache-control".into(), "public, max-age=300".into()),
            ("access-control-allow-origin".into(), "*".into()),
        ],
        body: jwks.to_owned(),
    }
}

/// oauth2-proxy's headers for `identity` (the `oauth2-proxy` preset).
#[cold]
#[inline(never)]
fn oauth2_proxy_headers(identity: &Identity, put: &mut dyn FnMut(&str, String)) {
    for (header, claim) in OAUTH2_PROXY_HEADERS {
        let value = match claim {
            "sub" => identity.subject.as_deref().map(header_value),
            // Comma-separated as oauth2-proxy sends them; a comma
            // inside a group is encoded so the list splits right.
            "groups" => Some(
                gather(&identity.claims, &["groups".to_owned()])
                    .iter()
                    .map(|g| encode(g, true).replace(',', "%2C"))
                    .collect::<Vec<_>>()
                    .join(","),
            )
            .filter(|v| !v.is_empty()),
            _ => claim_text(claim_at(&identity.claims, claim)).map(|v| header_value(&v)),
        };
        if let Some(v) = value {
            put(header, v);
        }
    }
}

/// The report-only decision header's value.
#[cold]
#[inline(never)]
fn report_only_verdict(report_only: &Option<Deny>) -> String {
    match report_only {
        None => "allow".to_string(),
        Some(d) => format!("deny; status={}; reason={}", d.status, d.reason.code()),
    }
}

/// The RFC 9728 document: the identifier, the authorization servers (the
/// issuers by default), the scopes routes name (by default), the bearer
/// methods the token configuration reads.
fn resource_metadata(config: &Config, r: &crate::config::ResourceConfig) -> String {
    let servers: Vec<&str> = if r.authorization_servers.is_empty() {
        config.issuers.iter().map(|i| i.issuer.as_str()).collect()
    } else {
        r.authorization_servers.iter().map(String::as_str).collect()
    };
    let scopes: Vec<String> = match &r.scopes_supported {
        Some(s) => s.clone(),
        None => {
            let mut all: Vec<String> = config
                .routes
                .iter()
                .flat_map(|route| route.scopes.all.iter().chain(route.scopes.any.iter()))
                .cloned()
                .collect();
            all.sort_unstable();
            all.dedup();
            all
        }
    };
    let mut methods = vec!["header"];
    if config.token.query.is_some() {
        methods.push("query");
    }
    let mut doc = serde_json::json!({
        "resource": r.identifier,
        "authorization_servers": servers,
        "scopes_supported": scopes,
        "bearer_methods_supported": methods,
    });
    if let Some(n) = &r.name {
        doc["resource_name"] = n.clone().into();
    }
    if let Some(d) = &r.documentation {
        doc["resource_documentation"] = d.clone().into();
    }
    doc.to_string()
}

/// The methods `req` names besides its request line (see
/// [`MethodOverride`]), uppercase, each with where it was found: every
/// comma-separated value of the override headers (read as
/// [`crate::decision::header_is`] reads names: any case, and `_`
/// spellings count, which some servers read as the same header), and every
/// `_method` query parameter. At most [`MAX_METHOD_OVERRIDES`] distinct.
fn method_overrides(req: &Request) -> Result<Vec<(String, &'static str)>, String> {
    let mut out: Vec<(String, &'static str)> = Vec::new();
    let mut add = |value: &str, source: &'static str| {
        let m = value.trim().to_ascii_uppercase();
        if m.is_empty() || out.iter().any(|(x, _)| *x == m) {
            return Ok(());
        }
        if out.len() >= MAX_METHOD_OVERRIDES {
            return Err(format!(
                "more than {MAX_METHOD_OVERRIDES} methods named by method-override headers or _method"
            ));
        }
        out.push((m, source));
        Ok(())
    };
    for (name, value) in req.headers {
        if let Some(source) = METHOD_OVERRIDE_HEADERS
            .iter()
            .find(|h| crate::decision::header_is(name, h))
        {
            for v in value.split(',') {
                add(v, source)?;
            }
        }
    }
    if let Some(query) = req.query() {
        for pair in query.split('&') {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            // Names are decoded as frameworks decode them (`%5Fmethod`;
            // most need no decoding), and PHP (so Laravel and Symfony) reads
            // `.`, ` ` and `[` in a name as `_`: `.method` is `_method` there.
            let key = if k.contains(['%', '+']) {
                crate::token::percent_decode(k, true).map(std::borrow::Cow::Owned)
            } else {
                Some(std::borrow::Cow::Borrowed(k))
            };
            let named = key.as_deref().map(str::trim).is_some_and(|k| {
                k.len() == 7
                    && k.bytes().zip(b"_method").all(|(a, b)| {
                        (if matches!(a, b'.' | b' ' | b'[') {
                            b'_'
                        } else {
                            a
                        }) == *b
                    })
            });
            if named {
                // A value that does not decode is held to its routes as sent.
                let value = crate::token::percent_decode(v, true).unwrap_or_else(|| v.to_owned());
                add(&value, "the _method query parameter")?;
            }
        }
    }
    Ok(out)
}

/// Headers frameworks take a request's method from (see [`MethodOverride`]).
pub const METHOD_OVERRIDE_HEADERS: [&str; 3] = [
    "x-http-method-override",
    "x-http-method",
    "x-method-override",
];

/// More methods than this named by one request is refused (`path_invalid`).
pub const MAX_METHOD_OVERRIDES: usize = 8;

/// One signature of a key set's key: the backend's answer, the host's
/// answer to a deferred check, or `None` to defer it to the host.
fn signature<B: SignatureBackend>(
    deferral: &Deferral,
    backend: &B,
    alg: Algorithm,
    key: &PublicKey,
    message: &[u8],
    signature: &[u8],
) -> Option<bool> {
    match deferral {
        Deferral::Off => {}
        Deferral::On => {
            if backend.defers(alg, key) {
                return None;
            }
        }
        Deferral::Answered(a) => {
            if let Some(valid) = a.for_(alg, key, message, signature) {
                return Some(valid);
            }
        }
    }
    Some(backend.verify(alg, key, message, signature))
}

fn bad_signature<B: SignatureBackend>(gate: &Gate<B>) -> Deny {
    gate.deny(
        Reason::SignatureInvalid,
        "the signature does not verify".into(),
        None,
    )
}

/// Builds the identity the origin will see from verified claims.
fn identity_from(cfg: &IssuerConfig, iss: &str, claims: Value, exp: i64) -> Identity {
    let text = |path: &str| claim_text(claim_at(&claims, path));
    Identity {
        kind: IdentityKind::Jwt,
        subject: text(&cfg.subject_claim),
        issuer: Some(iss.to_owned()),
        tenant: cfg
            .tenant_claim
            .as_deref()
            .or(cfg.template_claim())
            .and_then(text),
        scopes: gather(&claims, &cfg.scope_claims),
        roles: gather(&claims, &cfg.role_claims),
        permissions: gather(&claims, &cfg.permission_claims),
        expires_at: Some(exp),
        claims,
    }
}

/// Identity header values are visible ASCII that decode back to exactly
/// the claim: `%`, control characters, non-ASCII bytes (UTF-8) and spaces
/// at either end (which HTTP trims) are percent-encoded, so a claim can
/// neither split a header, nor be refused by a host's header type (JS
/// `Headers` are ByteStrings), nor arrive changed.
pub fn header_value(s: &str) -> String {
    encode(s, false)
}

/// Percent-encodes what [`header_value`] does; with `all_spaces`, every
/// space and tab (for one item of a space-separated list).
fn encode(s: &str, all_spaces: bool) -> String {
    let last = s.len().saturating_sub(1);
    let keep = |i: usize, b: u8| match b {
        b'%' => false,
        b' ' | b'\t' => !all_spaces && b == b' ' && i != 0 && i != last,
        0x21..=0x7e => true,
        _ => false,
    };
    if s.bytes().enumerate().all(|(i, b)| keep(i, b)) {
        return s.to_owned();
    }
    let mut out = String::with_capacity(s.len() + 8);
    for (i, b) in s.bytes().enumerate() {
        if keep(i, b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
