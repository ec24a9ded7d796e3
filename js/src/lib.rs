//! wasm-bindgen bindings of the edgeward core for the npm package (`js/lib`).
//!
//! A thin, synchronous layer: the JS side (`lib/gate.js`) owns I/O (key
//! fetches, the shared store, timers) and drives the core's sans-IO loop.
//! Results cross the boundary as one short string each (a tag letter and
//! JSON), which costs less than building JS objects field by field.
//!
//! Signatures: [`HostBackend`] calls a JS verifier (`node:crypto`'s
//! synchronous `verify`, see `lib/native.js`) when one is given, and ring
//! otherwise or when the verifier says it cannot do an algorithm. The core
//! has already matched key type, curve, `alg`, `use` and `key_ops` to the
//! header before a backend runs, so the JS side only does arithmetic. The
//! same verifier supplies an opaque token's SHA-256 (the API-token hash; the
//! core names JWTs in its verdict cache by its own keyed hash), checked
//! against ring's on first use.

/// talc in place of std's dlmalloc: a verification makes some thirty small
/// allocations and frees, and talc takes about 0.2 µs (4%) less for the
/// binding's share of an uncached verify (BENCHMARKS.md, sixth pass).
#[cfg(all(target_family = "wasm", not(target_feature = "atomics")))]
#[global_allocator]
static ALLOC: talc::wasm::WasmDynamicTalc = talc::wasm::new_wasm_dynamic_allocator();

use edgeward::keys::KeyMaterial;
use edgeward::keystore::{FetchKind, KeyFetch};
use edgeward::{
    Algorithm, Config, Decision, Gate, Identity, IdentityKind, Outcome, PublicKey, Request,
    RingBackend, SharedNext, SharedRead, SharedTier, SharedWrite, SignatureBackend, Verification,
};
use serde::Serialize;
use serde_json::{json, Value};
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::sync::Arc;
use wasm_bindgen::prelude::*;

#[wasm_bindgen]
extern "C" {
    /// The host's native signature verifier (`lib/native.js`).
    #[derive(Clone)]
    pub type NativeVerifier;

    /// Verifies `signature` over `message` with the key numbered `slot`
    /// (one number per key, never reused in this module instance, so a
    /// verifier shared by several gates keeps their keys apart). `jwk` is
    /// the public JWK when the verifier asked for it, else `undefined` (no
    /// string to decode on every call). Answers 0 (invalid), 1 (valid), 2
    /// (unknown key: call again with `jwk`), 3 (this algorithm is not
    /// available natively: ring from now on) or 4 (ring decides this call).
    #[wasm_bindgen(method, structural)]
    fn verify(
        this: &NativeVerifier,
        alg: u8,
        slot: u32,
        jwk: Option<&str>,
        message: &[u8],
        signature: &[u8],
    ) -> u8;

    /// Whether the verifier does algorithm `alg` (its self-test passes).
    #[wasm_bindgen(method, structural)]
    fn supports(this: &NativeVerifier, alg: u8) -> bool;

    /// Writes the SHA-256 of `data` to `out` (32 bytes). False when the
    /// host cannot (ring from now on).
    #[wasm_bindgen(method, structural)]
    fn sha256(this: &NativeVerifier, data: &[u8], out: &mut [u8]) -> bool;
}

const NATIVE_INVALID: u8 = 0;
const NATIVE_VALID: u8 = 1;
const NATIVE_NEED_JWK: u8 = 2;
const NATIVE_UNSUPPORTED: u8 = 3;

/// Index of an asymmetric algorithm in the JS verifier's table.
fn alg_index(alg: Algorithm) -> Option<u8> {
    Some(match alg {
        Algorithm::RS256 => 0,
        Algorithm::RS384 => 1,
        Algorithm::RS512 => 2,
        Algorithm::PS256 => 3,
        Algorithm::PS384 => 4,
        Algorithm::PS512 => 5,
        Algorithm::ES256 => 6,
        Algorithm::ES384 => 7,
        Algorithm::EdDSA => 8,
        Algorithm::ES512 => 9,
        _ => return None,
    })
}

/// Most distinct keys whose slots are remembered (a key set rotates a few
/// keys; the list is cleared when it fills).
const SLOTS: usize = 64;

/// The next key slot: process-wide (one wasm instance), so slots from
/// different gates sharing one JS verifier never collide.
static NEXT_SLOT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(1);

/// Whether the host's SHA-256 is used: not yet checked, checked, refused.
#[derive(Clone, Copy, PartialEq)]
enum HostHash {
    Untested,
    Native,
    Ring,
}

/// Native crypto through the host when given, ring otherwise.
pub struct HostBackend {
    native: Option<NativeVerifier>,
    /// Key material → its slot, the number the JS verifier keeps the key's
    /// `KeyObject` under (a number crosses the boundary for free; a
    /// thumbprint string had to be decoded on every call).
    slots: RefCell<Vec<(KeyMaterial, u32)>>,
    /// Algorithms (bit per `alg_index`) the host said it cannot verify.
    ring_only: Cell<u16>,
    hash: Cell<HostHash>,
}

impl HostBackend {
    fn new(native: Option<NativeVerifier>) -> Self {
        let hash = if native.is_some() {
            HostHash::Untested
        } else {
            HostHash::Ring
        };
        HostBackend {
            native,
            slots: RefCell::new(Vec::new()),
            ring_only: Cell::new(0),
            hash: Cell::new(hash),
        }
    }

    /// The host's SHA-256 of `data`, or `None` (use ring).
    fn host_sha256(&self, data: &[u8]) -> Option<[u8; 32]> {
        let native = self.native.as_ref()?;
        let mut out = [0u8; 32];
        native.sha256(data, &mut out).then_some(out)
    }

    /// Checks the host's SHA-256 against ring's once, on test inputs (empty,
    /// one block, several blocks): a wrong digest would merge verdict-cache
    /// entries, so a host that gets any of them wrong is not used.
    fn host_hash_ok(&self) -> bool {
        let long = "edgeward host sha-256 self-test ".repeat(40);
        ["", "abc", long.as_str()]
            .iter()
            .all(|t| self.host_sha256(t.as_bytes()) == Some(RingBackend.sha256(t)))
    }

    fn slot(&self, key: &PublicKey) -> u32 {
        let mut known = self.slots.borrow_mut();
        if let Some((_, n)) = known.iter().find(|(m, _)| same_material(m, &key.material)) {
            return *n;
        }
        if known.len() >= SLOTS {
            known.clear();
        }
        let n = NEXT_SLOT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        known.push((key.material.clone(), n));
        n
    }
}

/// `KeyMaterial`'s `==`, eight bytes at a time: in wasm, `==` on byte
/// slices is compiler-builtins' `memcmp`, one byte per step, and a key's
/// slot is looked up by its RSA modulus (256 to 512 bytes) on every verify.
fn same_material(a: &KeyMaterial, b: &KeyMaterial) -> bool {
    use KeyMaterial::{Ec, Ed25519, Rsa};
    match (a, b) {
        (Rsa { n, e }, Rsa { n: n2, e: e2 }) => same_bytes(n, n2) && same_bytes(e, e2),
        (
            Ec { curve, x, y },
            Ec {
                curve: c2,
                x: x2,
                y: y2,
            },
        ) => curve == c2 && same_bytes(x, x2) && same_bytes(y, y2),
        (Ed25519 { x }, Ed25519 { x: x2 }) => same_bytes(x, x2),
        _ => a == b,
    }
}

fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let (wa, wb) = (a.chunks_exact(8), b.chunks_exact(8));
    let (ra, rb) = (wa.remainder(), wb.remainder());
    let word = |c: &[u8]| u64::from_ne_bytes(c.try_into().unwrap_or([0; 8]));
    wa.zip(wb).all(|(x, y)| word(x) == word(y)) && ra == rb
}

impl SignatureBackend for HostBackend {
    fn name(&self) -> &'static str {
        if self.native.is_some() {
            "native"
        } else {
            "ring"
        }
    }

    fn verify(&self, alg: Algorithm, key: &PublicKey, message: &[u8], signature: &[u8]) -> bool {
        if let (Some(native), Some(i)) = (&self.native, alg_index(alg)) {
            if self.ring_only.get() & (1 << i) == 0 {
                let slot = self.slot(key);
                let mut answer = native.verify(i, slot, None, message, signature);
                if answer == NATIVE_NEED_JWK {
                    let jwk = key.to_jwk().to_string();
                    answer = native.verify(i, slot, Some(&jwk), message, signature);
                }
                match answer {
                    NATIVE_INVALID => return false,
                    NATIVE_VALID => return true,
                    NATIVE_UNSUPPORTED => self.ring_only.set(self.ring_only.get() | (1 << i)),
                    _ => {}
                }
            }
        }
        RingBackend.verify(alg, key, message, signature)
    }

    /// ES512 has no wasm fallback (no P-521 in ring, and this crate leaves
    /// the core's `p521` feature off): only a verifier that passes its
    /// ES512 self-test makes it supported.
    fn supports(&self, alg: Algorithm) -> bool {
        RingBackend.supports(alg)
            || match (&self.native, alg_index(alg)) {
                (Some(native), Some(i)) => {
                    self.ring_only.get() & (1 << i) == 0 && native.supports(i)
                }
                _ => false,
            }
    }

    fn sha256(&self, token: &str) -> [u8; 32] {
        let mut state = self.hash.get();
        if state == HostHash::Untested {
            state = if self.host_hash_ok() {
                HostHash::Native
            } else {
                HostHash::Ring
            };
            self.hash.set(state);
        }
        if state == HostHash::Native {
            if let Some(d) = self.host_sha256(token.as_bytes()) {
                return d;
            }
            self.hash.set(HostHash::Ring);
        }
        RingBackend.sha256(token)
    }
}

/// The identity as the JS API shows it (camelCase).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct IdentityOut<'a> {
    kind: IdentityKind,
    subject: &'a Option<String>,
    issuer: &'a Option<String>,
    tenant: &'a Option<String>,
    scopes: &'a [String],
    roles: &'a [String],
    permissions: &'a [String],
    expires_at: Option<i64>,
    claims: &'a Value,
}

fn identity_json(id: &Identity) -> String {
    let mut out = Vec::with_capacity(512);
    write_identity(&mut out, id);
    String::from_utf8(out).unwrap_or_else(|_| "null".into())
}

/// Appends the identity's JSON (`null` if it cannot be written) to `out`.
fn write_identity(out: &mut Vec<u8>, id: &Identity) {
    let start = out.len();
    let written = serde_json::to_writer(
        &mut *out,
        &IdentityOut {
            kind: id.kind,
            subject: &id.subject,
            issuer: &id.issuer,
            tenant: &id.tenant,
            scopes: &id.scopes,
            roles: &id.roles,
            permissions: &id.permissions,
            expires_at: id.expires_at,
            claims: &id.claims,
        },
    );
    if written.is_err() {
        out.truncate(start);
        out.extend_from_slice(b"null");
    }
}

/// A verified token's answer for `gate.verify()`: `V` (verified now) or
/// `R` (a repeat: the core's verdict cache held it) and a JSON array of
/// the core's `until` and the identity's fields in [`IdentityOut`]'s order
/// (`kind, subject, issuer, tenant, scopes, roles, permissions, expiresAt,
/// claims`). JS builds the identity object from it with those names, in
/// that order: the object `JSON.parse` would make of `IdentityOut`'s JSON,
/// without the key names to write and parse on every verified token.
/// `V[until,null]` when the identity cannot be written (JS then resolves to
/// `null`, as it did with `IdentityOut`'s `null`).
fn verified_answer(tag: u8, until: i64, id: &Identity, token_len: usize) -> String {
    // Sized for a typical access token: the claims are most of the payload,
    // which is most of the token.
    let mut out = Vec::with_capacity(192 + token_len);
    out.push(tag);
    let fields = (
        until,
        id.kind,
        &id.subject,
        &id.issuer,
        &id.tenant,
        &id.scopes,
        &id.roles,
        &id.permissions,
        id.expires_at,
        &id.claims,
    );
    if serde_json::to_writer(&mut out, &fields).is_err() {
        out.truncate(1);
        out.extend_from_slice(format!("[{until},null]").as_bytes());
    }
    // serde_json writes UTF-8: the lossy path never replaces.
    String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// Header pairs as a JSON object, as the JS API shows headers; a name that
/// comes twice gets its values joined with ", " (none does today: the core
/// sends each response header once).
fn header_map<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Value {
    let mut map = serde_json::Map::new();
    for (k, v) in pairs {
        match map.get_mut(k) {
            Some(Value::String(held)) => {
                held.push_str(", ");
                held.push_str(v);
            }
            _ => {
                map.insert(k.to_owned(), Value::String(v.to_owned()));
            }
        }
    }
    Value::Object(map)
}

fn deny_json(d: &edgeward::Deny) -> Value {
    let pairs = d.headers();
    let headers = header_map(pairs.iter().map(|(k, v)| (*k, v.as_str())));
    json!({
        "status": d.status,
        "reason": d.reason.code(),
        "detail": d.detail,
        "headers": headers,
        "body": d.body,
    })
}

fn fetch_json(f: &KeyFetch) -> String {
    serde_json::to_string(f).unwrap_or_default()
}

/// `name\nvalue\nname\nvalue...` into pairs (the JS side guarantees that
/// names and values hold no line feed).
fn header_pairs(joined: &str) -> Vec<(&str, &str)> {
    if joined.is_empty() {
        return Vec::new();
    }
    let mut parts = joined.split('\n');
    let mut out = Vec::new();
    while let (Some(k), Some(v)) = (parts.next(), parts.next()) {
        out.push((k, v));
    }
    out
}

fn fetch_from(issuer: &str, url: &str, kind: u8, flight: f64, start: bool) -> KeyFetch {
    KeyFetch {
        issuer: issuer.to_owned(),
        url: url.to_owned(),
        kind: if kind == 0 {
            FetchKind::Discovery
        } else {
            FetchKind::Jwks
        },
        flight: flight as u64,
        start,
        shared_key: None,
    }
}

/// A shared-tier step's answer for JS: a tag letter and JSON.
/// `D{"removed"}` the flight is over, check again; `F{"removed"}` GET the
/// fetch's URL from the IdP, then `ingest`/`fetchFailed` and
/// `sharedWrites`; `L{"key","deadline","removed"}` take the store's lock
/// (`deadline` in Unix seconds), then `lockResult`;
/// `W{"retry_ms","removed"}` after `retry_ms`, read the fetch's
/// `shared_key` again and `ingestShared`.
fn next_tag(next: &SharedNext, removed: bool) -> String {
    match next {
        SharedNext::Done => format!("D{}", json!({ "removed": removed })),
        SharedNext::Fetch => format!("F{}", json!({ "removed": removed })),
        SharedNext::Lock { key, deadline } => format!(
            "L{}",
            json!({ "key": key, "deadline": deadline, "removed": removed })
        ),
        SharedNext::Wait { retry_ms } => {
            format!("W{}", json!({ "retry_ms": retry_ms, "removed": removed }))
        }
    }
}

/// One gate: configuration, key store, verdict caches.
#[wasm_bindgen]
pub struct WasmGate {
    gate: Gate<HostBackend>,
    /// Identities already sent to JS, by the address of the core's `Arc`
    /// (the `Arc` is held, so the address cannot be reused meanwhile). JS
    /// keeps the parsed object under the same number and clears both sides
    /// with `forgetIdentities` when its map fills.
    sent: HashMap<usize, (Arc<Identity>, u32)>,
    next_id: u32,
    /// `check` answers carry the decision's `event` (the core's
    /// `DecisionEvent`) for `onDecision` hooks and counters.
    observe: bool,
    /// Where JS writes a token's UTF-8 (`inputBuffer`, `verifyInput`):
    /// `TextEncoder.encodeInto` straight into wasm memory, about ten times
    /// cheaper in Node than the binding's per-character string copy.
    input: Vec<u8>,
}

#[wasm_bindgen]
impl WasmGate {
    /// A gate from a JSON configuration. Throws a JSON array of
    /// `{field, message}` when the configuration is invalid.
    #[wasm_bindgen(constructor)]
    pub fn new(config_json: &str, native: Option<NativeVerifier>) -> Result<WasmGate, JsValue> {
        let errors = |e: edgeward::ConfigErrors| {
            let list: Vec<Value> =
                e.0.iter()
                    .map(|e| json!({"field": e.field, "message": e.message}))
                    .collect();
            JsValue::from_str(&Value::Array(list).to_string())
        };
        let config = Config::from_json(config_json).map_err(errors)?;
        let gate = Gate::with_backend(config, HostBackend::new(native)).map_err(errors)?;
        Ok(WasmGate {
            gate,
            sent: HashMap::new(),
            next_id: 1,
            observe: false,
            input: Vec::new(),
        })
    }

    /// The configuration with every default filled in, as JSON.
    #[wasm_bindgen(js_name = configJson)]
    pub fn config_json(&self) -> String {
        serde_json::to_string(self.gate.config()).unwrap_or_default()
    }

    /// Which backend verifies signatures (`native` or `ring`).
    pub fn backend(&self) -> String {
        self.gate.backend().name().to_owned()
    }

    /// Which SHA-256 hashes tokens: `native`, `ring`, or `untested` before
    /// the first token.
    #[wasm_bindgen(js_name = hashBackend)]
    pub fn hash_backend(&self) -> String {
        match self.gate.backend().hash.get() {
            HostHash::Untested => "untested",
            HostHash::Native => "native",
            HostHash::Ring => "ring",
        }
        .to_owned()
    }

    /// Decides a request. `headers` is `name\nvalue\n...`. Answers a tag and
    /// JSON: `A{...}` allow (`headers` to set and `remove` on the request,
    /// `response` headers to add to the origin's response), `D{...}` deny,
    /// `R{"status","headers","body"}` a response the gate sends itself (a
    /// CORS preflight, the RFC 9728 metadata; the origin is not reached),
    /// `K{...}` keys needed.
    pub fn check(&mut self, method: &str, path: &str, headers: &str, now: f64) -> String {
        let pairs = header_pairs(headers);
        let req = Request {
            method,
            path,
            headers: &pairs,
        };
        let outcome = self.gate.check(&req, now as i64);
        let event = match &outcome {
            Outcome::Decided(d) if self.observe => {
                serde_json::to_value(self.gate.describe(&req, d)).ok()
            }
            _ => None,
        };
        // For the jwt_cache_hit / jwt_cache_miss counters, on every answer.
        let cache = self.gate.jwt_cache().map(|c| match c {
            edgeward::CacheUse::Hit => "hit",
            edgeward::CacheUse::Miss => "miss",
        });
        match outcome {
            Outcome::Decided(Decision::Allow(a)) => {
                let (id, fresh) = self.identity_ref(&a.identity);
                let set = header_map(
                    a.headers_to_set
                        .iter()
                        .map(|(k, v)| (k.as_str(), v.as_str())),
                );
                let response = header_map(
                    a.response_headers
                        .iter()
                        .map(|(k, v)| (k.as_str(), v.as_str())),
                );
                let mut out = json!({
                    "id": id,
                    "headers": set,
                    "remove": &a.headers_to_remove[..],
                    "response": response,
                    "reason": a.report_only.as_ref().map(|d| d.reason.code()),
                    "event": event,
                    "jwt_cache": cache,
                })
                .to_string();
                if fresh {
                    // Append the identity as raw JSON: `..."identity":{...}}`.
                    out.pop();
                    out.push_str(",\"identity\":");
                    out.push_str(&identity_json(&a.identity));
                    out.push('}');
                }
                format!("A{out}")
            }
            Outcome::Decided(Decision::Deny(d)) => {
                let mut out = deny_json(&d);
                out["jwt_cache"] = cache.into();
                if let Some(e) = event {
                    out["event"] = e;
                }
                format!("D{out}")
            }
            Outcome::Decided(Decision::Answer(a)) => {
                let headers = header_map(a.headers.iter().map(|(k, v)| (k.as_str(), v.as_str())));
                format!(
                    "R{}",
                    json!({"status": a.status, "headers": headers, "body": a.body, "event": event})
                )
            }
            Outcome::NeedKeys(f) => format!("K{}", fetch_json(&f)),
        }
    }

    /// From now on, `check` answers carry the decision's `event`.
    #[wasm_bindgen(js_name = setObserve)]
    pub fn set_observe(&mut self, on: bool) {
        self.observe = on;
    }

    /// Verifies a token alone. Answers `V[until,kind,subject,issuer,
    /// tenant,scopes,roles,permissions,expiresAt,claims]` (see
    /// [`verified_answer`]; `R[...]` when the core's verdict cache held the
    /// token), `D{...}` or `K{...}`. `until` is the core's: when its verdict
    /// cache drops the token (`exp` + leeway, `iat` + `max_age`,
    /// `cache.ttl`, whichever comes first). JS keeps its own copy no longer.
    pub fn verify(&mut self, token: &str, now: f64) -> String {
        match self.gate.verify(token, now as i64) {
            Verification::Verified(id, until) => {
                let tag = match self.gate.jwt_cache() {
                    Some(edgeward::CacheUse::Hit) => b'R',
                    _ => b'V',
                };
                verified_answer(tag, until, &id, token.len())
            }
            Verification::Denied(d) => format!("D{}", deny_json(&d)),
            Verification::NeedKeys(f) => format!("K{}", fetch_json(&f)),
        }
    }

    /// The address of a buffer of at least `len` bytes in wasm memory, for
    /// `verifyInput`. It stays where it is until a call asks for more room
    /// (JS keeps its view, and takes a new one when memory has grown).
    #[wasm_bindgen(js_name = inputBuffer)]
    pub fn input_buffer(&mut self, len: usize) -> *mut u8 {
        if self.input.len() < len {
            self.input.resize(len, 0);
        }
        self.input.as_mut_ptr()
    }

    /// `verify` on the input buffer, as JS wrote it with
    /// `TextEncoder.encodeInto`: the token's UTF-8 in its first `len`
    /// bytes. No string crosses the boundary on the way in.
    #[wasm_bindgen(js_name = verifyInput)]
    pub fn verify_input(&mut self, len: usize, now: f64) -> String {
        let input = std::mem::take(&mut self.input);
        let bytes = &input[..len.min(input.len())];
        let out = match std::str::from_utf8(bytes) {
            Ok(token) => self.verify(token, now),
            // encodeInto writes valid UTF-8 only; anything else is decoded
            // as the binding's string copy would (U+FFFD).
            Err(_) => self.verify(&String::from_utf8_lossy(bytes), now),
        };
        self.input = input;
        out
    }

    /// Feeds a fetch response back. Answers the report as JSON
    /// (`{"keys","changed","removed","ttl","skipped"}`); throws the error text
    /// when the response was refused (the core keeps the keys it held).
    #[allow(clippy::too_many_arguments)] // the fetch's fields and the response's, flat across the boundary
    pub fn ingest(
        &mut self,
        issuer: &str,
        url: &str,
        kind: u8,
        flight: f64,
        status: u16,
        headers: &str,
        body: &[u8],
        now: f64,
    ) -> Result<String, JsValue> {
        let fetch = fetch_from(issuer, url, kind, flight, true);
        let pairs = header_pairs(headers);
        let report = self
            .gate
            .ingest(&fetch, status, &pairs, body, now as i64)
            .map_err(|e| JsValue::from_str(&e))?;
        if report.removed {
            // The core dropped its verdicts; identities sent for them go too.
            self.sent.clear();
        }
        let skipped: Vec<Value> = report
            .skipped
            .iter()
            .map(|s| json!({"index": s.index, "kid": s.kid, "reason": s.reason}))
            .collect();
        Ok(json!({
            "kind": report.kind,
            "keys": report.keys,
            "changed": report.changed,
            "removed": report.removed,
            "ttl": report.ttl,
            "skipped": skipped,
        })
        .to_string())
    }

    /// Where a key fetch at `url` may follow a redirect to `location`: the
    /// absolute URL (https, or http on a loopback issuer's own origin), or
    /// throws why not. JS fetches with `redirect: "manual"` and asks here at
    /// each hop.
    pub fn redirect(
        &self,
        issuer: &str,
        url: &str,
        kind: u8,
        flight: f64,
        location: &str,
    ) -> Result<String, JsValue> {
        self.gate
            .redirect(&fetch_from(issuer, url, kind, flight, true), location)
            .map_err(|e| JsValue::from_str(&e))
    }

    /// Records that a fetch got no response.
    #[wasm_bindgen(js_name = fetchFailed)]
    pub fn fetch_failed(
        &mut self,
        issuer: &str,
        url: &str,
        kind: u8,
        flight: f64,
        error: &str,
        now: f64,
    ) {
        let fetch = fetch_from(issuer, url, kind, flight, true);
        self.gate.fetch_failed(&fetch, error, now as i64);
    }

    /// Background refreshes due now, as a JSON array of fetches (each with
    /// `start`: the caller runs them).
    #[wasm_bindgen(js_name = dueRefreshes)]
    pub fn due_refreshes(&mut self, now: f64) -> String {
        let due = self.gate.due_refreshes(now as i64);
        serde_json::to_string(&due).unwrap_or_else(|_| "[]".into())
    }

    /// A fetch of `issuer`'s keys now, whatever their freshness
    /// (`refresh()`), as JSON: a new flight (`start`) or the outstanding one.
    /// `None` for an issuer that is not configured.
    pub fn refresh(&mut self, issuer: &str, now: f64) -> Option<String> {
        self.gate
            .refresh(issuer, now as i64)
            .map(|f| fetch_json(&f))
    }

    /// Gives up a fetch without blaming the IdP (a no-op when the flight has
    /// already ended): the next lookup may start another at once.
    pub fn abandon(&mut self, issuer: &str, url: &str, kind: u8, flight: f64) {
        self.gate
            .abandon(&fetch_from(issuer, url, kind, flight, true));
    }

    /// Declares the shared store (`options.store`): from now on a flight's
    /// starter is told to read it first (`shared_key` in the fetch). `lock`:
    /// the store can take a lock atomically (it has `lock()`).
    #[wasm_bindgen(js_name = useSharedTier)]
    pub fn use_shared_tier(&mut self, lock: bool) {
        self.gate.use_shared_tier(SharedTier { lock });
    }

    /// The store keys to read at first use, as a JSON array; hand each value
    /// to `adoptShared`.
    #[wasm_bindgen(js_name = sharedKeys)]
    pub fn shared_keys(&self) -> String {
        serde_json::to_string(&self.gate.shared_keys()).unwrap_or_else(|_| "[]".into())
    }

    /// A value read from the store at first use (`None`: absent). True when
    /// it was adopted (JS then drops its caches; so does this side). Throws
    /// why a value was not readable (it then counts as absent).
    #[wasm_bindgen(js_name = adoptShared)]
    pub fn adopt_shared(
        &mut self,
        key: &str,
        value: Option<String>,
        now: f64,
    ) -> Result<bool, JsValue> {
        let adopted = self
            .gate
            .adopt_shared(key, value.as_deref(), now as i64)
            .map_err(|e| JsValue::from_str(&e))?;
        if adopted {
            self.sent.clear();
        }
        Ok(adopted)
    }

    /// The starter's read of the fetch's `shared_key`: `value` (`None`:
    /// absent) or, when `failed`, a store error or timeout. Answers what
    /// next (see [`next_tag`]); `removed` in it says an adopted copy withdrew
    /// a key held before (the core dropped verdicts made with it; JS drops
    /// its caches).
    #[wasm_bindgen(js_name = ingestShared)]
    #[allow(clippy::too_many_arguments)] // the fetch's fields and the read, flat across the boundary
    pub fn ingest_shared(
        &mut self,
        issuer: &str,
        url: &str,
        kind: u8,
        flight: f64,
        value: Option<String>,
        failed: bool,
        now: f64,
    ) -> String {
        let fetch = fetch_from(issuer, url, kind, flight, true);
        let read = if failed {
            SharedRead::Failed
        } else {
            SharedRead::Value(value.as_deref())
        };
        let before: Vec<KeyMaterial> = self.held(issuer);
        let next = self.gate.ingest_shared(&fetch, read, now as i64);
        let after = self.gate.keys().keys(issuer);
        let removed = before
            .iter()
            .any(|m| !after.iter().any(|k| k.material == *m));
        if removed {
            self.sent.clear();
        }
        next_tag(&next, removed)
    }

    /// The store's answer to a `L` step: the lock was taken (`acquired`) or
    /// is held by another instance. Answers what next (see [`next_tag`]).
    #[wasm_bindgen(js_name = lockResult)]
    pub fn lock_result(
        &mut self,
        issuer: &str,
        url: &str,
        kind: u8,
        flight: f64,
        acquired: bool,
        now: f64,
    ) -> String {
        let fetch = fetch_from(issuer, url, kind, flight, true);
        next_tag(&self.gate.lock_result(&fetch, acquired, now as i64), false)
    }

    /// After the flight's IdP fetch was ingested (or refused, or failed):
    /// the store writes to perform, as a JSON array of
    /// `{"key","value","ttl"}` (`ttl` in seconds). Often empty.
    #[wasm_bindgen(js_name = sharedWrites)]
    pub fn shared_writes(
        &mut self,
        issuer: &str,
        url: &str,
        kind: u8,
        flight: f64,
        now: f64,
    ) -> String {
        let fetch = fetch_from(issuer, url, kind, flight, true);
        serde_json::to_string(&self.gate.shared_writes(&fetch, now as i64))
            .unwrap_or_else(|_| "[]".into())
    }

    /// A write from `sharedWrites` failed (an error or a timeout).
    #[wasm_bindgen(js_name = sharedWriteFailed)]
    pub fn shared_write_failed(&mut self, key: &str, value: &str, ttl: f64) {
        self.gate.shared_write_failed(&SharedWrite {
            key: key.to_owned(),
            value: value.to_owned(),
            ttl: ttl as u64,
        });
    }

    /// What is cached, per issuer, as JSON.
    pub fn keys(&self, now: f64) -> String {
        let now = now as i64;
        let store = self.gate.keys();
        let list: Vec<Value> = store
            .issuers()
            .map(|iss| {
                let snap: Value = store
                    .snapshot(iss)
                    .and_then(|s| serde_json::from_str(&s).ok())
                    .unwrap_or(Value::Null);
                let keys: Vec<Value> = store
                    .keys(iss)
                    .iter()
                    .map(|k| {
                        let jwk = k.to_jwk();
                        json!({
                            "kid": k.kid,
                            "kty": k.kty(),
                            "alg": jwk.get("alg"),
                            "use": k.usage,
                            "crv": jwk.get("crv"),
                            "thumbprint": k.thumbprint(),
                        })
                    })
                    .collect();
                json!({
                    "issuer": iss,
                    "jwksUri": store.jwks_uri(iss),
                    "freshness": store.freshness(iss, now),
                    "fetchedAt": snap.get("fetched_at"),
                    "freshUntil": snap.get("fresh_until"),
                    "usableUntil": snap.get("usable_until"),
                    "lastError": store.last_error(iss),
                    "keys": keys,
                })
            })
            .collect();
        Value::Array(list).to_string()
    }

    /// Drops the identities sent to JS (JS clears its map at the same time).
    #[wasm_bindgen(js_name = forgetIdentities)]
    pub fn forget_identities(&mut self) {
        self.sent.clear();
    }
}

impl WasmGate {
    /// The key material `issuer`'s keys hold now.
    fn held(&self, issuer: &str) -> Vec<KeyMaterial> {
        self.gate
            .keys()
            .keys(issuer)
            .iter()
            .map(|k| k.material.clone())
            .collect()
    }

    /// The number JS knows `identity` by, and whether it is new to JS.
    fn identity_ref(&mut self, identity: &Arc<Identity>) -> (u32, bool) {
        let addr = Arc::as_ptr(identity) as usize;
        if let Some((held, id)) = self.sent.get(&addr) {
            if Arc::ptr_eq(held, identity) {
                return (*id, false);
            }
        }
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1).max(1);
        self.sent.insert(addr, (identity.clone(), id));
        (id, true)
    }
}

/// A requirement stated in code (`gate.require({...})` in `lib/gate.js`):
/// the core's [`edgeward::policy::Requirement`], validated once.
#[wasm_bindgen]
pub struct WasmRequirement(edgeward::policy::Requirement);

#[wasm_bindgen]
impl WasmRequirement {
    /// Parses a requirement from JSON. Throws a JSON array of
    /// `{field, message}` when it is invalid.
    #[wasm_bindgen(constructor)]
    pub fn new(json: &str) -> Result<WasmRequirement, JsValue> {
        edgeward::policy::Requirement::from_json(json)
            .map(WasmRequirement)
            .map_err(|e| {
                let list: Vec<Value> =
                    e.0.iter()
                        .map(|e| json!({"field": e.field, "message": e.message}))
                        .collect();
                JsValue::from_str(&Value::Array(list).to_string())
            })
    }
}

/// An identity as the JS API shows it (`IdentityOut`), read back.
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct IdentityIn {
    kind: String,
    #[serde(default)]
    subject: Option<String>,
    #[serde(default)]
    issuer: Option<String>,
    #[serde(default)]
    tenant: Option<String>,
    #[serde(default)]
    scopes: Vec<String>,
    #[serde(default)]
    roles: Vec<String>,
    #[serde(default)]
    permissions: Vec<String>,
    #[serde(default)]
    expires_at: Option<i64>,
    #[serde(default)]
    claims: Value,
}

#[wasm_bindgen]
impl WasmGate {
    /// Checks an identity this gate gave out (its JSON, `"null"` for none)
    /// against `rule`. `params`: the framework's path parameters, a JSON
    /// object of strings; `headers`: `name\nvalue\n...` (for CORS).
    /// Answers `""` (met), `P{"name","value"}` (report-only: set this
    /// decision header and go on) or `D{...}` (the refusal).
    #[wasm_bindgen(js_name = require)]
    pub fn require_rule(
        &self,
        rule: &WasmRequirement,
        identity: &str,
        params: &str,
        method: &str,
        path: &str,
        headers: &str,
    ) -> String {
        let identity = match serde_json::from_str::<Option<IdentityIn>>(identity) {
            Ok(Some(i)) => Identity {
                kind: match i.kind.as_str() {
                    "jwt" => IdentityKind::Jwt,
                    "api_token" => IdentityKind::ApiToken,
                    _ => IdentityKind::Anonymous,
                },
                subject: i.subject,
                issuer: i.issuer,
                tenant: i.tenant,
                scopes: i.scopes,
                roles: i.roles,
                permissions: i.permissions,
                expires_at: i.expires_at,
                claims: i.claims,
            },
            // No identity (or one this binding cannot read): anonymous.
            _ => Identity::anonymous(),
        };
        let params: HashMap<String, String> = serde_json::from_str(params).unwrap_or_default();
        let params: Vec<(&str, String)> = params
            .iter()
            .map(|(k, v)| (k.as_str(), v.clone()))
            .collect();
        let pairs = header_pairs(headers);
        let req = Request {
            method,
            path,
            headers: &pairs,
        };
        match self.gate.require(&rule.0, &identity, &params, &req) {
            Ok(None) => String::new(),
            Ok(Some((name, value))) => format!("P{}", json!({"name": name, "value": value})),
            Err(d) => format!("D{}", deny_json(&d)),
        }
    }
}

/// Verifies one signature with a backend chosen by the caller, for the
/// cross-backend vector tests: `backend` is `"wasm"` (ring) or `"native"`
/// (through `native`). `jwk` is the public key; `None` when it does not
/// parse or cannot verify `alg` (the core refuses such keys before any
/// backend runs), or when the backend cannot verify `alg` at all (ES512
/// without `native`).
#[wasm_bindgen(js_name = verifySignature)]
pub fn verify_signature(
    alg: &str,
    jwk: &str,
    message: &[u8],
    signature: &[u8],
    native: Option<NativeVerifier>,
) -> Option<bool> {
    let alg = edgeward::keys::parse_alg(alg)?;
    let jwk: Value = serde_json::from_str(jwk).ok()?;
    let key = edgeward::keys::parse_jwk(&jwk).ok()?;
    key.usable_for(alg).ok()?;
    let backend = HostBackend::new(native);
    // Unsupported (ES512 without native crypto): no answer, as the gate
    // refuses such a token before any backend runs.
    if !backend.supports(alg) {
        return None;
    }
    Some(backend.verify(alg, &key, message, signature))
}

/// The reason codes, statuses and descriptions, as JSON.
#[wasm_bindgen(js_name = reasonCodes)]
pub fn reason_codes() -> String {
    let list: Vec<Value> = edgeward::Reason::ALL
        .iter()
        .map(|r| json!({"code": r.code(), "status": r.status(), "description": r.description()}))
        .collect();
    Value::Array(list).to_string()
}

/// Verifies a signed identity assertion (`[assertion]`) against a key set:
/// the origin's side. Answers `{"claims":{...}}` or `{"code","detail"}`.
#[wasm_bindgen(js_name = verifyAssertion)]
pub fn verify_assertion(
    token: &str,
    jwks: &str,
    issuer: &str,
    audience: &str,
    now: f64,
    leeway: f64,
) -> String {
    match edgeward::assertion::verify(token, jwks, issuer, audience, now as i64, leeway as i64) {
        Ok(claims) => json!({ "claims": claims }).to_string(),
        Err(r) => json!({ "code": r.code, "detail": r.detail }).to_string(),
    }
}
