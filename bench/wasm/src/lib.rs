//! A benchmark-only wasm-bindgen wrapper around the edgeward core, driven by
//! `bench/run.mjs`. Not a product API: the npm package has its own bindings.

use edgeward::crypto::{RingBackend, SignatureBackend};
use edgeward::keystore::{FetchKind, KeyFetch};
use edgeward::{Algorithm, Config, Gate, Outcome, PublicKey, Request};
use wasm_bindgen::prelude::*;

struct Prepared {
    alg: Algorithm,
    key: PublicKey,
    message: Vec<u8>,
    signature: Vec<u8>,
}

/// ring, or (to time the core alone) a backend that accepts every signature.
struct Backend {
    no_crypto: bool,
}

impl SignatureBackend for Backend {
    fn name(&self) -> &'static str {
        if self.no_crypto {
            "none (benchmark)"
        } else {
            RingBackend.name()
        }
    }
    fn verify(&self, alg: Algorithm, key: &PublicKey, message: &[u8], signature: &[u8]) -> bool {
        self.no_crypto || RingBackend.verify(alg, key, message, signature)
    }
}

/// One gate (one configuration, one key store, one verdict cache).
#[wasm_bindgen]
pub struct BenchGate {
    gate: Gate<Backend>,
    path: String,
    auth: String,
    prepared: Vec<Prepared>,
}

fn err(e: impl std::fmt::Display) -> JsError {
    JsError::new(&e.to_string())
}

#[wasm_bindgen]
impl BenchGate {
    /// A gate from a JSON configuration; `path` is the request path checked.
    /// With `no_crypto` every signature passes: the gate then times the
    /// core's own work alone.
    #[wasm_bindgen(constructor)]
    pub fn new(config_json: &str, path: &str, no_crypto: bool) -> Result<BenchGate, JsError> {
        let config = Config::from_json(config_json).map_err(err)?;
        Ok(BenchGate {
            gate: Gate::with_backend(config, Backend { no_crypto }).map_err(err)?,
            path: path.to_owned(),
            auth: String::with_capacity(2048),
            prepared: Vec::new(),
        })
    }

    /// Feeds a key set for the first issuer, as a host does after `NeedKeys`
    /// (status 200, `max-age=3600`). Returns the number of usable keys.
    pub fn ingest(&mut self, jwks_json: &[u8], now: f64) -> Result<u32, JsError> {
        let issuer = &self.gate.config().issuers[0];
        let fetch = KeyFetch {
            issuer: issuer.issuer.clone(),
            url: issuer.jwks_uri.clone().unwrap_or_default(),
            kind: FetchKind::Jwks,
            flight: 0,
            start: true,
            shared_key: None,
        };
        let report = self
            .gate
            .ingest(
                &fetch,
                200,
                &[("cache-control", "max-age=3600")],
                jwks_json,
                now as i64,
            )
            .map_err(err)?;
        Ok(report.keys as u32)
    }

    /// `GET path` with `Authorization: Bearer <token>`: the decision's HTTP
    /// status (200 allow, 401/403 deny), or 0 when keys must be fetched.
    pub fn check(&mut self, token: &str, now: f64) -> u16 {
        self.auth.clear();
        self.auth.push_str("Bearer ");
        self.auth.push_str(token);
        let headers = [("authorization", self.auth.as_str())];
        let req = Request {
            method: "GET",
            path: &self.path,
            headers: &headers,
        };
        match self.gate.check(&req, now as i64) {
            Outcome::Decided(d) => d.status(),
            Outcome::NeedKeys(_) => 0,
        }
    }

    /// The same request on an anonymous route (`/health`): the per-call cost
    /// of the bridge, routing and building the decision, without the token.
    pub fn check_anonymous(&mut self, token: &str, now: f64) -> u16 {
        self.auth.clear();
        self.auth.push_str("Bearer ");
        self.auth.push_str(token);
        let headers = [("authorization", self.auth.as_str())];
        let req = Request {
            method: "GET",
            path: "/health",
            headers: &headers,
        };
        match self.gate.check(&req, now as i64) {
            Outcome::Decided(d) => d.status(),
            Outcome::NeedKeys(_) => 0,
        }
    }

    /// Only the SHA-256 of the token (the verdict-cache key).
    pub fn digest_only(&self, token: &str) -> u8 {
        edgeward::cache::digest(token)[0]
    }

    /// Only `jws::parse` (base64url + strict JSON of header and payload).
    pub fn parse_only(&self, token: &str) -> bool {
        edgeward::jws::parse(token).is_ok()
    }

    /// Decodes `token` and finds its key, so `verify_prepared` can time the
    /// signature alone. Each call adds one token to the prepared list.
    pub fn prepare(&mut self, token: &str) -> Result<(), JsError> {
        let jws = edgeward::jws::parse(token).map_err(|(_, d)| err(d))?;
        let issuer = self.gate.config().issuers[0].issuer.clone();
        let key = self
            .gate
            .keys()
            .keys(&issuer)
            .iter()
            .find(|k| k.kid == jws.header.kid)
            .ok_or_else(|| err("no key with the token's kid"))?
            .clone();
        self.prepared.push(Prepared {
            alg: jws.header.alg,
            key,
            message: jws.signing_input.as_bytes().to_vec(),
            signature: jws.signature,
        });
        Ok(())
    }

    /// The per-call key setup alone: the prepared key and message with a
    /// 1-byte signature, which ring rejects only after parsing the key (for
    /// RSA: building the Montgomery modulus).
    pub fn verify_prepared_short(&self) -> bool {
        self.prepared
            .first()
            .is_some_and(|p| RingBackend.verify(p.alg, &p.key, &p.message, &[0]))
    }

    /// The signature check alone (ring backend) of prepared token `i` (modulo
    /// the number prepared).
    pub fn verify_prepared(&self, i: u32) -> bool {
        let n = self.prepared.len().max(1);
        self.prepared
            .get(i as usize % n)
            .is_some_and(|p| RingBackend.verify(p.alg, &p.key, &p.message, &p.signature))
    }
}
