//! The Worker's settings: the core's configuration plus secrets and `ORIGIN`.
//!
//! | binding | kind | what |
//! |---|---|---|
//! | `EDGEWARD_CONFIG` | var: a table in wrangler.toml (`[vars.EDGEWARD_CONFIG]`, arrives as an object), JSON text, or TOML text in builds with the `toml` feature | the core's configuration; when unset, the file bundled at build time (`EDGEWARD_CONFIG_FILE=path worker/scripts/build.sh`) |
//! | `EDGEWARD_API_TOKENS` | secret | JSON array of `{"name","sha256","scopes"}` (the core's `api_tokens`) |
//! | `EDGEWARD_HMAC_SECRETS` | secret | JSON object `{"<issuer>": "<secret>"}` for HS256/384/512 issuers |
//! | `EDGEWARD_ASSERTION_KEY` | secret | the `[assertion]` signing key: a 32-byte Ed25519 seed, base64url |
//! | `ORIGIN` | var | where allowed requests go (`https://api.internal:8443`, may carry a path prefix); unset: the request's own URL |
//! | `EDGEWARD_KV` | KV namespace | the shared key cache (optional) |
//! | `EDGEWARD_LOG_SAMPLE` | var | share of *allowed* requests with a `decision` log line, 0 to 1 (default 0.01); refusals, answers, report-only and key-fetching requests are always logged |
//! | `EDGEWARD_ANALYTICS` | Analytics Engine dataset | one data point per decision (optional) |
//!
//! Secrets never come from vars or the bundled file: a configuration there
//! that holds `api_tokens` or an `hmac_secret` is refused (every request then
//! answers 500), so a secret cannot end up in `wrangler.toml` by mistake.

use edgeward::config::ApiTokenConfig;
use edgeward::Config;
use std::collections::BTreeMap;
use wasm_bindgen::JsValue;

/// The var holding the configuration.
pub const CONFIG_VAR: &str = "EDGEWARD_CONFIG";
/// The secret holding static API token hashes.
pub const API_TOKENS_SECRET: &str = "EDGEWARD_API_TOKENS";
/// The secret holding HMAC secrets per issuer.
pub const HMAC_SECRET: &str = "EDGEWARD_HMAC_SECRETS";
/// The secret holding the `[assertion]` signing key.
pub const ASSERTION_KEY_SECRET: &str = "EDGEWARD_ASSERTION_KEY";
/// The var naming the origin.
pub const ORIGIN_VAR: &str = "ORIGIN";
/// The KV namespace binding.
pub const KV_BINDING: &str = "EDGEWARD_KV";
/// The var: share of allowed requests logged.
pub const LOG_SAMPLE_VAR: &str = "EDGEWARD_LOG_SAMPLE";
/// The Analytics Engine dataset binding.
pub const ANALYTICS_BINDING: &str = "EDGEWARD_ANALYTICS";
/// Share of allowed requests logged when the var is unset.
pub const DEFAULT_LOG_SAMPLE: f64 = 0.01;

/// The configuration file bundled at build time (empty when none was).
const BUNDLED: &str = include_str!(concat!(env!("OUT_DIR"), "/bundled_config.txt"));

/// Everything the Worker reads from its environment, validated.
pub struct Settings {
    /// The core's configuration, secrets merged in.
    pub config: Config,
    /// Where allowed requests go (no trailing slash), or `None`: the request's own URL.
    pub origin: Option<String>,
    /// Where the configuration came from (for the startup log line).
    pub source: &'static str,
    /// Share of allowed requests with a decision log line (0 to 1).
    pub log_sample: f64,
    /// The Analytics Engine dataset, when bound.
    pub analytics: Option<JsValue>,
}

/// A string binding: a string var/secret as is, a JSON-object var as JSON.
fn binding(env: &JsValue, name: &str) -> Option<String> {
    let v = js_sys::Reflect::get(env, &JsValue::from_str(name)).ok()?;
    if v.is_undefined() || v.is_null() {
        return None;
    }
    if let Some(s) = v.as_string() {
        return Some(s);
    }
    if v.is_object() && !v.is_function() {
        // wrangler.toml `[vars] EDGEWARD_CONFIG = { ... }` arrives as an object.
        return js_sys::JSON::stringify(&v).ok().and_then(|s| s.as_string());
    }
    None
}

/// Reads and validates the settings. The error is one line for the log.
pub fn load(env: &JsValue) -> Result<Settings, String> {
    let (text, source) = match binding(env, CONFIG_VAR) {
        Some(t) if !t.trim().is_empty() => (t, "var EDGEWARD_CONFIG"),
        _ if !BUNDLED.trim().is_empty() => (BUNDLED.to_owned(), "bundled file"),
        _ => {
            return Err(format!(
                "no configuration: set the {CONFIG_VAR} var (JSON or TOML) or bundle a file at build time (EDGEWARD_CONFIG_FILE)"
            ))
        }
    };
    let mut config =
        parse(&text).map_err(|e| format!("{CONFIG_VAR} ({source}) is invalid: {e}"))?;
    if !config.api_tokens.is_empty() {
        return Err(format!(
            "{CONFIG_VAR} ({source}) holds api_tokens: put them in the {API_TOKENS_SECRET} secret (`wrangler secret put {API_TOKENS_SECRET}`), never in a var or a file"
        ));
    }
    if let Some(i) = config.issuers.iter().position(|i| i.hmac_secret.is_some()) {
        return Err(format!(
            "{CONFIG_VAR} ({source}) holds issuers[{i}].hmac_secret: put it in the {HMAC_SECRET} secret, never in a var or a file"
        ));
    }
    if config.assertion.as_ref().is_some_and(|a| a.key.is_some()) {
        return Err(format!(
            "{CONFIG_VAR} ({source}) holds assertion.key: put it in the {ASSERTION_KEY_SECRET} secret (`wrangler secret put {ASSERTION_KEY_SECRET}`), never in a var or a file"
        ));
    }
    if let Some(key) = binding(env, ASSERTION_KEY_SECRET) {
        let Some(a) = config.assertion.as_mut() else {
            return Err(format!(
                "secret {ASSERTION_KEY_SECRET} is set, but {CONFIG_VAR} has no [assertion] section"
            ));
        };
        a.key = Some(edgeward::config::SecretText(key));
    } else if config.assertion.is_some() {
        return Err(format!(
            "{CONFIG_VAR} ({source}) has [assertion] but assertion.key is not set: put the signing key in the {ASSERTION_KEY_SECRET} secret"
        ));
    }
    if let Some(t) = binding(env, API_TOKENS_SECRET) {
        config.api_tokens = serde_json::from_str::<Vec<ApiTokenConfig>>(&t).map_err(|e| {
            format!("secret {API_TOKENS_SECRET} is not a JSON array of {{\"name\",\"sha256\",\"scopes\"}}: {e}")
        })?;
    }
    if let Some(t) = binding(env, HMAC_SECRET) {
        let secrets: BTreeMap<String, String> = serde_json::from_str(&t).map_err(|e| {
            format!("secret {HMAC_SECRET} is not a JSON object {{\"<issuer>\": \"<secret>\"}}: {e}")
        })?;
        for (issuer, secret) in secrets {
            let Some(i) = config.issuers.iter_mut().find(|i| i.issuer == issuer) else {
                return Err(format!(
                    "secret {HMAC_SECRET} names issuer {issuer:?}, which is not configured"
                ));
            };
            i.hmac_secret = Some(secret);
        }
    }
    config
        .validate()
        .map_err(|e| format!("configuration with secrets merged is invalid: {e}"))?;
    let origin = match binding(env, ORIGIN_VAR) {
        None => None,
        Some(o) if o.trim().is_empty() => None,
        Some(o) => Some(parse_origin(o.trim())?),
    };
    Ok(Settings {
        config,
        origin,
        source,
        log_sample: log_sample(env)?,
        analytics: analytics(env)?,
    })
}

/// `EDGEWARD_LOG_SAMPLE`: a number or numeric string from 0 to 1.
fn log_sample(env: &JsValue) -> Result<f64, String> {
    let v =
        js_sys::Reflect::get(env, &JsValue::from_str(LOG_SAMPLE_VAR)).unwrap_or(JsValue::UNDEFINED);
    if v.is_undefined() || v.is_null() {
        return Ok(DEFAULT_LOG_SAMPLE);
    }
    let n = v
        .as_f64()
        .or_else(|| v.as_string().and_then(|s| s.trim().parse::<f64>().ok()));
    match n {
        Some(n) if (0.0..=1.0).contains(&n) => Ok(n),
        _ => Err(format!(
            "{LOG_SAMPLE_VAR} must be a number from 0 to 1 (the share of allowed requests logged: \"1\" all, \"0\" none), got {}",
            v.as_string()
                .map(|s| format!("{s:?}"))
                .or_else(|| js_sys::JSON::stringify(&v).ok().and_then(|s| s.as_string()))
                .unwrap_or_else(|| "a non-number".into())
        )),
    }
}

/// `EDGEWARD_ANALYTICS`: an Analytics Engine dataset (has `writeDataPoint`).
fn analytics(env: &JsValue) -> Result<Option<JsValue>, String> {
    let v = js_sys::Reflect::get(env, &JsValue::from_str(ANALYTICS_BINDING))
        .unwrap_or(JsValue::UNDEFINED);
    if v.is_undefined() || v.is_null() {
        return Ok(None);
    }
    let write = js_sys::Reflect::get(&v, &JsValue::from_str("writeDataPoint"))
        .map(|f| f.is_function())
        .unwrap_or(false);
    if !write {
        return Err(format!(
            "{ANALYTICS_BINDING} is bound but is not an Analytics Engine dataset (no writeDataPoint): bind it with [[analytics_engine_datasets]] in wrangler.toml"
        ));
    }
    Ok(Some(v))
}

/// JSON as is; TOML read into a JSON value first, then validated by the
/// core's JSON reader, so errors name fields the same way (`issuers[0].audiences`).
fn parse(text: &str) -> Result<Config, String> {
    if text.trim_start().starts_with('{') {
        return Config::from_json(text).map_err(|e| e.to_string());
    }
    #[cfg(feature = "toml")]
    {
        let value: serde_json::Value =
            toml::from_str(text).map_err(|e| format!("TOML: {}", e.message().trim()))?;
        Config::from_json(&value.to_string()).map_err(|e| e.to_string())
    }
    #[cfg(not(feature = "toml"))]
    Err("this is TOML text, and this build reads JSON text only: write the configuration as a TOML table in wrangler.toml ([vars.EDGEWARD_CONFIG]), as JSON text, bundle the file at build time (EDGEWARD_CONFIG_FILE), or build with EDGEWARD_WORKER_FEATURES=toml".into())
}

fn parse_origin(o: &str) -> Result<String, String> {
    let rest = o
        .strip_prefix("https://")
        .or_else(|| o.strip_prefix("http://"))
        .ok_or_else(|| format!("{ORIGIN_VAR} must be an http(s) URL, got {o:?}"))?;
    if o.contains(|c: char| c.is_whitespace() || c.is_control()) {
        return Err(format!(
            "{ORIGIN_VAR} must be a URL without spaces or control characters, got {o:?}"
        ));
    }
    if rest.is_empty() || rest.starts_with('/') || o.contains(['?', '#']) {
        return Err(format!(
            "{ORIGIN_VAR} must be scheme://host[:port][/prefix] without query or fragment, got {o:?}"
        ));
    }
    Ok(o.trim_end_matches('/').to_owned())
}

/// Whether a JS value looks like a KV namespace (has `get` and `put`).
pub fn is_kv(v: &JsValue) -> bool {
    let has = |m: &str| {
        js_sys::Reflect::get(v, &JsValue::from_str(m))
            .map(|f| f.is_function())
            .unwrap_or(false)
    };
    v.is_object() && has("get") && has("put")
}

/// The KV binding, when there is one.
pub fn kv(env: &JsValue) -> Option<worker::kv::KvStore> {
    let v = js_sys::Reflect::get(env, &JsValue::from_str(KV_BINDING)).ok()?;
    if !is_kv(&v) {
        return None;
    }
    worker::kv::KvStore::from_this(env, KV_BINDING).ok()
}
