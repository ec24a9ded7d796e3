//! `edgeward dev-idp`: a development OAuth 2.0 / OIDC issuer on 127.0.0.1.
//!
//! A plain HTTP/1.1 server on `std::net` (one thread per connection,
//! `Connection: close`): discovery, a JWKS with key rotation and a grace
//! period, client-credentials tokens, request counters for tests, and fault
//! injection for the key set endpoint.

use crate::keys::{generate, signing_alg, SigningKey};
use crate::mint::{self, Spec};
use crate::util::{b64url, b64url_decode, form_decode, io_reason, parse_duration, unix_now};
use crate::{errln, outln, CliError, CliResult, DevIdpArgs};
use edgeward::keys::alg_name;
use edgeward::Algorithm;
use serde_json::{json, Map, Value};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

pub const EXAMPLES: &str = "\
Examples:
  edgeward dev-idp                       # a free port, printed at start
  edgeward dev-idp --port 8080 --alg RS256 --state-dir .dev-idp
  edgeward dev-idp --json > idp.json &   # in the background; line 1: {\"issuer\":...,\"port\":...}

Endpoints (ISSUER = http://127.0.0.1:PORT unless --issuer-url):
  GET  /.well-known/openid-configuration   discovery (also /.well-known/oauth-authorization-server)
  GET  /jwks                               public keys, Cache-Control: max-age=300 (--jwks-max-age)
  POST /token                              client_credentials; form: scope, audience or resource
                                           (repeatable), sub, client_id, ttl, claims (JSON object)
  GET  /mint?sub=&scope=&aud=&ttl=         a token as text/plain, for curl
  POST /rotate[?grace=10m]                 new signing key; the old public key stays in the
                                           JWKS for the grace period, then drops
  GET  /stats                              request counters (jwks_requests, ...) as JSON
  POST /stats/reset                        zero the counters
  POST /faults?jwks_status=503&jwks_delay_ms=500   make /jwks fail or slow; POST /faults clears

  curl -s -d grant_type=client_credentials -d scope=read -d audience=api ISSUER/token
  TOKEN=$(curl -s 'ISSUER/mint?sub=alice&scope=read')
  edgeward check --issuer ISSUER --audience api \"$TOKEN\"

Tokens are RFC 9068 access tokens (typ at+jwt) with iss, sub, aud, iat, exp, jti,
client_id and scope. SIGINT or SIGTERM stops the server (exit 0). Development
only: it hands a token to anyone who asks.";

const STATE_FILE: &str = "state.json";
const MAX_HEAD: usize = 16 * 1024;
const MAX_BODY: usize = 64 * 1024;

struct Retired {
    kid: String,
    jwk: Value,
    until: i64,
}

#[derive(Default, Clone, Copy)]
struct Stats {
    requests: u64,
    discovery: u64,
    jwks: u64,
    token: u64,
    mint: u64,
    rotations: u64,
}

#[derive(Default, Clone, Copy)]
struct Faults {
    jwks_status: Option<u16>,
    jwks_delay_ms: u64,
}

struct Idp {
    issuer: String,
    base: String,
    kid: String,
    key: SigningKey,
    retired: Vec<Retired>,
    grace: u64,
    token_ttl: u64,
    max_age: u64,
    audience: String,
    state_dir: Option<PathBuf>,
    stats: Stats,
    faults: Faults,
}

impl Idp {
    fn published(&mut self, now: i64) -> Vec<Value> {
        self.retired.retain(|r| r.until > now);
        let mut keys = vec![self.key.jwk(&self.kid)];
        keys.extend(self.retired.iter().map(|r| r.jwk.clone()));
        keys
    }

    fn discovery(&self) -> Value {
        json!({
            "issuer": self.issuer,
            "jwks_uri": format!("{}/jwks", self.base),
            "token_endpoint": format!("{}/token", self.base),
            "grant_types_supported": ["client_credentials"],
            "response_types_supported": ["token"],
            "token_endpoint_auth_methods_supported": ["none", "client_secret_basic", "client_secret_post"],
            "id_token_signing_alg_values_supported": [alg_name(self.key.alg)],
            "subject_types_supported": ["public"],
            "scopes_supported": ["openid"],
        })
    }

    fn rotate(&mut self, alg: Algorithm, grace: u64, now: i64) -> CliResult<Value> {
        let key = generate(alg, 2048)?;
        let kid = unique_kid(&key, &self.kid, &self.retired);
        let old_kid = std::mem::replace(&mut self.kid, kid);
        let old_key = std::mem::replace(&mut self.key, key);
        let until = now.saturating_add(grace.min(i64::MAX as u64) as i64);
        self.retired.retain(|r| r.until > now);
        self.retired.push(Retired {
            jwk: old_key.jwk(&old_kid),
            kid: old_kid.clone(),
            until,
        });
        self.stats.rotations += 1;
        self.save()?;
        Ok(json!({
            "kid": self.kid,
            "alg": alg_name(self.key.alg),
            "previous_kid": old_kid,
            "previous_until": until,
        }))
    }

    fn token(&self, req: TokenRequest, now: i64) -> CliResult<(String, Value)> {
        let aud = if req.aud.is_empty() {
            vec![self.audience.clone()]
        } else {
            req.aud
        };
        let spec = Spec {
            iss: self.issuer.clone(),
            aud,
            sub: Some(req.sub.clone()),
            scope: req.scope,
            iat: now,
            ttl: req.ttl.unwrap_or(self.token_ttl),
            extra: {
                let mut m = Map::new();
                m.insert("client_id".into(), req.client_id.unwrap_or(req.sub).into());
                m.extend(req.claims);
                m
            },
        };
        let claims = mint::claims(&spec)?;
        let token = mint::sign(&self.key, Some(&self.kid), Some("at+jwt"), &claims)?;
        Ok((token, claims))
    }

    fn stats_json(&mut self, now: i64) -> Value {
        let kids: Vec<Value> = self
            .published(now)
            .iter()
            .map(|k| k["kid"].clone())
            .collect();
        let s = self.stats;
        json!({
            "requests": s.requests,
            "discovery_requests": s.discovery,
            "jwks_requests": s.jwks,
            "token_requests": s.token,
            "mint_requests": s.mint,
            "rotations": s.rotations,
            "current_kid": self.kid,
            "published_kids": kids,
            "faults": {
                "jwks_status": self.faults.jwks_status,
                "jwks_delay_ms": self.faults.jwks_delay_ms,
            },
        })
    }

    fn save(&self) -> CliResult {
        let Some(dir) = &self.state_dir else {
            return Ok(());
        };
        let retired: Vec<Value> = self
            .retired
            .iter()
            .map(|r| json!({"kid": r.kid, "jwk": r.jwk, "until": r.until}))
            .collect();
        let doc = json!({
            "version": 1,
            "current": {"kid": self.kid, "alg": alg_name(self.key.alg), "pkcs8": b64url(&self.key.der)},
            "retired": retired,
        });
        let path = dir.join(STATE_FILE);
        let tmp = dir.join(format!("{STATE_FILE}.tmp"));
        crate::keys::write_private(&tmp, doc.to_string().as_bytes())?;
        std::fs::rename(&tmp, &path).map_err(|e| CliError::at(path.display(), io_reason(&e)))
    }
}

/// A kid not in use: the thumbprint, suffixed if it ever collides.
fn unique_kid(key: &SigningKey, current: &str, retired: &[Retired]) -> String {
    let base = key.thumbprint_kid();
    let taken = |k: &str| k == current || retired.iter().any(|r| r.kid == k);
    let mut kid = base.clone();
    let mut n = 2;
    while taken(&kid) {
        kid = format!("{base}-{n}");
        n += 1;
    }
    kid
}

struct Loaded {
    kid: String,
    key: SigningKey,
    retired: Vec<Retired>,
}

fn load_state(dir: &std::path::Path) -> CliResult<Option<Loaded>> {
    let path = dir.join(STATE_FILE);
    let text = match std::fs::read(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(CliError::at(path.display(), io_reason(&e))),
    };
    let bad = |why: &str| CliError::at(path.display(), why);
    let doc: Value = serde_json::from_slice(&text)
        .map_err(|_| bad("not valid JSON; delete it to start over"))?;
    let cur = &doc["current"];
    let (Some(kid), Some(alg), Some(der)) = (
        cur["kid"].as_str(),
        cur["alg"].as_str(),
        cur["pkcs8"].as_str().and_then(b64url_decode),
    ) else {
        return Err(bad(
            "current key is incomplete; delete the file to start over",
        ));
    };
    let alg = signing_alg("state.json alg", alg)?;
    let key = SigningKey::from_der(der, Some(alg)).map_err(|e| bad(&e))?;
    let retired = doc["retired"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|r| {
                    Some(Retired {
                        kid: r["kid"].as_str()?.to_owned(),
                        jwk: r["jwk"].clone(),
                        until: r["until"].as_i64()?,
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    Ok(Some(Loaded {
        kid: kid.to_owned(),
        key,
        retired,
    }))
}

struct TokenRequest {
    sub: String,
    client_id: Option<String>,
    scope: Option<String>,
    aud: Vec<String>,
    ttl: Option<u64>,
    claims: Map<String, Value>,
}

impl TokenRequest {
    fn from_params(
        params: &[(String, String)],
        basic_user: Option<String>,
    ) -> Result<Self, String> {
        let get = |name: &str| {
            params
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
                .filter(|v| !v.is_empty())
        };
        let client_id = get("client_id").or(basic_user);
        let sub = get("sub")
            .or_else(|| client_id.clone())
            .unwrap_or_else(|| "dev-client".into());
        let aud: Vec<String> = params
            .iter()
            .filter(|(k, v)| (k == "audience" || k == "resource" || k == "aud") && !v.is_empty())
            .flat_map(|(_, v)| v.split_whitespace().map(str::to_owned).collect::<Vec<_>>())
            .collect();
        let ttl = get("ttl")
            .map(|t| parse_duration(&t).map_err(|e| format!("ttl: {e}")))
            .transpose()?;
        let claims = match get("claims") {
            None => Map::new(),
            Some(text) => match serde_json::from_str(&text) {
                Ok(Value::Object(m)) => m,
                _ => return Err("claims: must be a JSON object".into()),
            },
        };
        Ok(TokenRequest {
            sub,
            client_id,
            scope: get("scope"),
            aud,
            ttl,
            claims,
        })
    }
}

/// `edgeward dev-idp`.
pub fn run(a: DevIdpArgs) -> CliResult {
    let grace = parse_duration(&a.grace).map_err(|e| CliError::at("--grace", e))?;
    let token_ttl = parse_duration(&a.token_ttl).map_err(|e| CliError::at("--token-ttl", e))?;
    let want_alg = a
        .alg
        .as_deref()
        .map(|n| signing_alg("--alg", n))
        .transpose()?;
    if a.audience.is_empty() {
        return Err(CliError::at("--audience", "must not be empty"));
    }
    if let Some(u) = &a.issuer_url {
        if !(u.starts_with("http://") || u.starts_with("https://")) || u.len() < 10 {
            return Err(CliError::at(
                format!("--issuer-url {u}"),
                "must be an http:// or https:// URL",
            ));
        }
    }
    if let Some(dir) = &a.state_dir {
        std::fs::create_dir_all(dir)
            .map_err(|e| CliError::at(format!("--state-dir {}", dir.display()), io_reason(&e)))?;
    }
    let now = unix_now();
    let loaded = match &a.state_dir {
        Some(dir) => load_state(dir)?,
        None => None,
    };

    let listener = TcpListener::bind(("127.0.0.1", a.port))
        .map_err(|e| CliError::at(format!("--port {}", a.port), io_reason(&e)))?;
    let addr = listener
        .local_addr()
        .map_err(|e| CliError::at("listener", io_reason(&e)))?;
    let port = addr.port();
    let issuer = a
        .issuer_url
        .clone()
        .unwrap_or_else(|| format!("http://127.0.0.1:{port}"));
    let base = issuer.trim_end_matches('/').to_owned();

    let (kid, key, retired, rotate_to) = match loaded {
        Some(l) => {
            let rotate = want_alg.filter(|w| *w != l.key.alg);
            (l.kid, l.key, l.retired, rotate)
        }
        None => {
            let key = generate(want_alg.unwrap_or(Algorithm::ES256), 2048)?;
            let kid = key.thumbprint_kid();
            (kid, key, Vec::new(), None)
        }
    };
    let mut idp = Idp {
        issuer: issuer.clone(),
        base: base.clone(),
        kid,
        key,
        retired,
        grace,
        token_ttl,
        max_age: a.jwks_max_age,
        audience: a.audience.clone(),
        state_dir: a.state_dir.clone(),
        stats: Stats::default(),
        faults: Faults::default(),
    };
    if let Some(alg) = rotate_to {
        idp.rotate(alg, grace, now)?;
        idp.stats.rotations = 0;
    }
    idp.save()?;

    let example = idp.token(
        TokenRequest {
            sub: "dev-user".into(),
            client_id: None,
            scope: Some("read".into()),
            aud: Vec::new(),
            ttl: None,
            claims: Map::new(),
        },
        now,
    )?;
    // Handlers first, so a signal sent as soon as the start line is read stops cleanly.
    let stop = Arc::new(AtomicBool::new(false));
    watch_signals(&stop, addr)?;
    if a.json {
        let line = json!({
            "issuer": issuer,
            "port": port,
            "discovery": format!("{base}/.well-known/openid-configuration"),
            "jwks_uri": format!("{base}/jwks"),
            "token_endpoint": format!("{base}/token"),
            "alg": alg_name(idp.key.alg),
            "kid": idp.kid,
            "audience": idp.audience,
            "example_token": example.0,
        });
        outln!("{line}");
    } else {
        outln!("edgeward dev-idp listening on 127.0.0.1:{port}");
        outln!("  issuer     {issuer}");
        outln!("  discovery  {base}/.well-known/openid-configuration");
        outln!("  jwks       {base}/jwks");
        outln!("  token      POST {base}/token   (grant_type=client_credentials)");
        outln!("  mint       GET  {base}/mint?sub=alice&scope=read");
        outln!("  rotate     POST {base}/rotate  (grace {grace}s)");
        outln!("  stats      GET  {base}/stats");
        outln!("  key        {} kid {}", alg_name(idp.key.alg), idp.kid);
        outln!();
        outln!(
            "example token (sub dev-user, aud {}, scope read, {token_ttl}s):",
            idp.audience
        );
        outln!("{}", example.0);
        outln!();
        outln!("check it:");
        outln!(
            "  edgeward check --issuer {issuer} --audience {} <token>",
            idp.audience
        );
        outln!("stop with Ctrl-C");
    }

    let state = Arc::new(Mutex::new(idp));
    for conn in listener.incoming() {
        if stop.load(Ordering::SeqCst) {
            break;
        }
        let Ok(stream) = conn else { continue };
        let state = Arc::clone(&state);
        std::thread::spawn(move || handle(stream, &state));
    }
    errln!("edgeward dev-idp: stopped");
    Ok(())
}

#[cfg(unix)]
fn watch_signals(stop: &Arc<AtomicBool>, addr: SocketAddr) -> CliResult {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM])
        .map_err(|e| CliError::at("signal handler", io_reason(&e)))?;
    let stop = Arc::clone(stop);
    std::thread::spawn(move || {
        if signals.forever().next().is_some() {
            stop.store(true, Ordering::SeqCst);
            // Wake the accept loop.
            let _ = TcpStream::connect_timeout(&addr, Duration::from_secs(1));
        }
    });
    Ok(())
}

#[cfg(not(unix))]
fn watch_signals(_stop: &Arc<AtomicBool>, _addr: SocketAddr) -> CliResult {
    Ok(())
}

fn lock(state: &Mutex<Idp>) -> MutexGuard<'_, Idp> {
    state.lock().unwrap_or_else(|p| p.into_inner())
}

struct HttpRequest {
    method: String,
    path: String,
    query: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl HttpRequest {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

struct HttpResponse {
    status: u16,
    content_type: &'static str,
    headers: Vec<(&'static str, String)>,
    body: Vec<u8>,
}

impl HttpResponse {
    fn json(status: u16, v: &Value) -> HttpResponse {
        HttpResponse {
            status,
            content_type: "application/json",
            headers: vec![("cache-control", "no-store".into())],
            body: (serde_json::to_string_pretty(v).unwrap_or_default() + "\n").into_bytes(),
        }
    }

    fn text(status: u16, s: String) -> HttpResponse {
        HttpResponse {
            status,
            content_type: "text/plain; charset=utf-8",
            headers: vec![("cache-control", "no-store".into())],
            body: s.into_bytes(),
        }
    }

    fn error(status: u16, error: &str, description: &str) -> HttpResponse {
        HttpResponse::json(
            status,
            &json!({"error": error, "error_description": description}),
        )
    }

    fn cache(mut self, value: &str) -> HttpResponse {
        self.headers.retain(|(k, _)| *k != "cache-control");
        self.headers.push(("cache-control", value.into()));
        self
    }
}

fn reason_phrase(status: u16) -> &'static str {
    match status {
        200 => "OK",
        204 => "No Content",
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        405 => "Method Not Allowed",
        411 => "Length Required",
        413 => "Content Too Large",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Status",
    }
}

fn handle(mut stream: TcpStream, state: &Mutex<Idp>) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let _ = stream.set_write_timeout(Some(Duration::from_secs(10)));
    let mut readable_anywhere = false;
    let (resp, line) = match read_request(&mut stream) {
        Ok(req) => {
            let line = format!("{} {}", req.method, req.path);
            readable_anywhere = is_public(&req.path);
            // Minting, rotating and faults are for this machine's tools, not
            // for web pages: a browser sends Origin with every cross-origin
            // POST (even a plain form), so refuse those outright.
            if !readable_anywhere && req.header("origin").is_some() {
                (
                    HttpResponse::error(
                        403,
                        "access_denied",
                        "browser requests (with Origin) may only read discovery and keys",
                    ),
                    line,
                )
            } else {
                (route(&req, state), line)
            }
        }
        Err(None) => return, // the connection closed without a request (a wake-up)
        Err(Some(status)) => (
            HttpResponse::error(status, "invalid_request", reason_phrase(status)),
            "(unreadable request)".into(),
        ),
    };
    errln!("dev-idp: {line} {}", resp.status);
    let mut head = format!(
        "HTTP/1.1 {} {}\r\ncontent-type: {}\r\ncontent-length: {}\r\nconnection: close\r\n",
        resp.status,
        reason_phrase(resp.status),
        resp.content_type,
        resp.body.len()
    );
    if readable_anywhere {
        // Public, read-only documents: a browser demo may read them.
        head.push_str("access-control-allow-origin: *\r\n");
    }
    for (k, v) in &resp.headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(&resp.body);
    let _ = stream.flush();
    let _ = stream.shutdown(std::net::Shutdown::Write);
}

/// Discovery and the key set: public, read-only, readable by any web page.
fn is_public(path: &str) -> bool {
    matches!(
        path,
        "/.well-known/openid-configuration"
            | "/.well-known/oauth-authorization-server"
            | "/jwks"
            | "/jwks.json"
    )
}

/// Reads one request. `Err(None)`: nothing was sent; `Err(Some(status))`: refuse.
fn read_request(stream: &mut TcpStream) -> Result<HttpRequest, Option<u16>> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = find(&buf, b"\r\n\r\n") {
            break i;
        }
        if buf.len() > MAX_HEAD {
            return Err(Some(431));
        }
        match stream.read(&mut chunk) {
            Ok(0) => return Err(if buf.is_empty() { None } else { Some(400) }),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(_) => return Err(if buf.is_empty() { None } else { Some(400) }),
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let request_line = lines.next().unwrap_or("");
    let mut parts = request_line.split(' ');
    let (Some(method), Some(target), Some(_version)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err(Some(400));
    };
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| {
            let (k, v) = l.split_once(':')?;
            Some((k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        })
        .collect();
    let header = |n: &str| {
        headers
            .iter()
            .find(|(k, _)| k == n)
            .map(|(_, v)| v.as_str())
    };
    if header("transfer-encoding").is_some() {
        return Err(Some(411));
    }
    let length: usize = match header("content-length") {
        None => 0,
        Some(v) => v.parse().map_err(|_| Some(400))?,
    };
    if length > MAX_BODY {
        return Err(Some(413));
    }
    let mut body = buf[head_end + 4..].to_vec();
    if body.len() < length
        && header("expect").is_some_and(|e| e.eq_ignore_ascii_case("100-continue"))
    {
        let _ = stream.write_all(b"HTTP/1.1 100 Continue\r\n\r\n");
    }
    while body.len() < length {
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return Err(Some(400)),
            Ok(n) => body.extend_from_slice(&chunk[..n]),
        }
    }
    body.truncate(length);
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    Ok(HttpRequest {
        method: method.to_owned(),
        path: path.to_owned(),
        query: query.to_owned(),
        headers,
        body,
    })
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Query parameters, then (for form posts) body parameters.
fn params(req: &HttpRequest) -> Vec<(String, String)> {
    let mut p = form_decode(&req.query);
    let form = req
        .header("content-type")
        .is_none_or(|t| t.starts_with("application/x-www-form-urlencoded"));
    if form && !req.body.is_empty() {
        p.extend(form_decode(&String::from_utf8_lossy(&req.body)));
    }
    p
}

fn param(p: &[(String, String)], name: &str) -> Option<String> {
    p.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.clone())
        .filter(|v| !v.is_empty())
}

fn basic_user(req: &HttpRequest) -> Option<String> {
    use base64::Engine;
    let v = req.header("authorization")?;
    let (scheme, cred) = v.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let raw = base64::engine::general_purpose::STANDARD
        .decode(cred.trim())
        .ok()?;
    let text = String::from_utf8(raw).ok()?;
    let user = text.split(':').next()?.to_owned();
    (!user.is_empty()).then_some(user)
}

fn route(req: &HttpRequest, state: &Mutex<Idp>) -> HttpResponse {
    let now = unix_now();
    lock(state).stats.requests += 1;
    let allow = |methods: &str| {
        let mut r = HttpResponse::error(405, "invalid_request", "method not allowed");
        r.headers.push(("allow", methods.into()));
        r
    };
    let m = req.method.as_str();
    match req.path.as_str() {
        "/" if m == "GET" => {
            let base = lock(state).base.clone();
            HttpResponse::text(200, EXAMPLES.replace("ISSUER", &base) + "\n")
        }
        "/.well-known/openid-configuration" | "/.well-known/oauth-authorization-server" => {
            if m != "GET" {
                return allow("GET");
            }
            let mut idp = lock(state);
            idp.stats.discovery += 1;
            let cache = format!("max-age={}", idp.max_age);
            HttpResponse::json(200, &idp.discovery()).cache(&cache)
        }
        "/jwks" | "/jwks.json" => {
            if m != "GET" {
                return allow("GET");
            }
            let (faults, keys, max_age) = {
                let mut idp = lock(state);
                idp.stats.jwks += 1;
                (idp.faults, idp.published(now), idp.max_age)
            };
            if faults.jwks_delay_ms > 0 {
                std::thread::sleep(Duration::from_millis(faults.jwks_delay_ms));
            }
            match faults.jwks_status {
                Some(s) => HttpResponse::error(s, "injected", "fault injected with POST /faults"),
                None => HttpResponse::json(200, &json!({ "keys": keys }))
                    .cache(&format!("max-age={max_age}")),
            }
        }
        "/token" => {
            if m != "POST" {
                return allow("POST");
            }
            let p = params(req);
            match param(&p, "grant_type").as_deref() {
                Some("client_credentials") => {}
                None => {
                    return HttpResponse::error(400, "invalid_request", "grant_type is required")
                }
                Some(_) => {
                    return HttpResponse::error(
                        400,
                        "unsupported_grant_type",
                        "only client_credentials is supported",
                    )
                }
            }
            issue(state, &p, basic_user(req), now, false)
        }
        "/mint" => {
            if m != "GET" && m != "POST" {
                return allow("GET, POST");
            }
            issue(state, &params(req), None, now, true)
        }
        "/rotate" => {
            if m != "POST" {
                return allow("POST");
            }
            let p = params(req);
            let mut idp = lock(state);
            let grace = match param(&p, "grace").map(|g| parse_duration(&g)) {
                None => idp.grace,
                Some(Ok(g)) => g,
                Some(Err(e)) => return HttpResponse::error(400, "invalid_request", &e),
            };
            let alg = match param(&p, "alg").map(|a| signing_alg("alg", &a)) {
                None => idp.key.alg,
                Some(Ok(a)) => a,
                Some(Err(CliError(e))) => return HttpResponse::error(400, "invalid_request", &e),
            };
            match idp.rotate(alg, grace, now) {
                Ok(v) => HttpResponse::json(200, &v),
                Err(CliError(e)) => HttpResponse::error(500, "server_error", &e),
            }
        }
        "/stats" => {
            if m != "GET" {
                return allow("GET");
            }
            HttpResponse::json(200, &lock(state).stats_json(now))
        }
        "/stats/reset" => {
            if m != "POST" {
                return allow("POST");
            }
            let mut idp = lock(state);
            idp.stats = Stats::default();
            HttpResponse::json(200, &idp.stats_json(now))
        }
        "/faults" => {
            if m != "POST" {
                return allow("POST");
            }
            let p = params(req);
            let status = match param(&p, "jwks_status").map(|s| s.parse::<u16>()) {
                None => None,
                Some(Ok(s)) if (100..600).contains(&s) => Some(s),
                Some(_) => {
                    return HttpResponse::error(
                        400,
                        "invalid_request",
                        "jwks_status: an HTTP status",
                    )
                }
            };
            let delay = match param(&p, "jwks_delay_ms").map(|s| s.parse::<u64>()) {
                None => 0,
                Some(Ok(d)) if d <= 60_000 => d,
                Some(_) => {
                    return HttpResponse::error(400, "invalid_request", "jwks_delay_ms: 0 to 60000")
                }
            };
            let mut idp = lock(state);
            idp.faults = Faults {
                jwks_status: status,
                jwks_delay_ms: delay,
            };
            HttpResponse::json(200, &idp.stats_json(now))
        }
        _ => HttpResponse::error(404, "not_found", "no such endpoint; GET / lists them"),
    }
}

fn issue(
    state: &Mutex<Idp>,
    p: &[(String, String)],
    basic: Option<String>,
    now: i64,
    plain: bool,
) -> HttpResponse {
    let req = match TokenRequest::from_params(p, basic) {
        Ok(r) => r,
        Err(e) => return HttpResponse::error(400, "invalid_request", &e),
    };
    let scope = req.scope.clone();
    let mut idp = lock(state);
    if plain {
        idp.stats.mint += 1;
    } else {
        idp.stats.token += 1;
    }
    let ttl = req.ttl.unwrap_or(idp.token_ttl);
    match idp.token(req, now) {
        Ok((token, _)) if plain => HttpResponse::text(200, token),
        Ok((token, _)) => {
            let mut r = HttpResponse::json(
                200,
                &json!({
                    "access_token": token,
                    "token_type": "Bearer",
                    "expires_in": ttl,
                    "scope": scope.unwrap_or_default(),
                }),
            );
            r.headers.push(("pragma", "no-cache".into()));
            r
        }
        Err(CliError(e)) => HttpResponse::error(500, "server_error", &e),
    }
}
