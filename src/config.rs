//! Configuration: one schema for every host, read from JSON or TOML.
//!
//! Unknown keys are errors (a misspelt `audiences` must not silently turn the
//! audience check off). Every error names the field (`issuers[0].audiences`)
//! and says what is wrong. See `docs/configuration.md` for every key.
//!
//! The structs and enums below derive `Serialize`; their `Deserialize` is in
//! `config_de.rs`, a table per type that does what the derive would from the
//! `#[serde(...)]` attributes here (kept, and read by `Serialize`): a field
//! added here goes into its table there too (the struct does not build
//! without it), with the same default.

use crate::keys::parse_alg;
use crate::keys::Algorithm;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// A configuration problem, naming the field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    /// Dotted path of the field (`issuers[0].audiences`), or `.` for the document.
    pub field: String,
    /// What is wrong and how to fix it.
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

/// All the problems found in one configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

/// `enforce` denies; `report-only` computes the decision, annotates the
/// request and lets it through (for rolling a policy out safely).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// Deny what the policy denies.
    #[default]
    Enforce,
    /// Let everything through, annotated with the decision.
    ReportOnly,
}

/// What a route (or the default for unmatched routes) asks of a request.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Access {
    /// No token needed; a presented token is not checked.
    Anonymous,
    /// A valid token (JWT or static API token), plus the route's requirements.
    #[default]
    Authenticated,
    /// No token needed, but a token that is sent must be valid (401
    /// otherwise); identity headers only from a valid token.
    Optional,
    /// Refused whatever the token.
    Deny,
}

/// The whole configuration.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// `enforce` (default) or `report-only`.
    #[serde(default)]
    pub mode: Mode,
    /// The `realm` in `WWW-Authenticate` challenges.
    #[serde(default = "default_realm")]
    pub realm: String,
    /// Trusted token issuers.
    #[serde(default)]
    pub issuers: Vec<IssuerConfig>,
    /// Where tokens are read from and how big they may be.
    #[serde(default)]
    pub token: TokenConfig,
    /// Key-set cache.
    #[serde(default)]
    pub keys: KeyCacheConfig,
    /// Verdict cache.
    #[serde(default)]
    pub cache: VerdictCacheConfig,
    /// Identity headers for the origin.
    #[serde(default)]
    pub headers: HeaderConfig,
    /// Defaults for requests no route matches.
    #[serde(default)]
    pub policy: PolicyConfig,
    /// Ordered routes; the first match wins.
    #[serde(default)]
    pub routes: Vec<RouteConfig>,
    /// Static API tokens, stored as SHA-256 hashes.
    #[serde(default)]
    pub api_tokens: Vec<ApiTokenConfig>,
    /// CORS: when set, the gate answers preflights itself and adds the CORS
    /// headers to responses for allowed origins.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cors: Option<CorsConfig>,
    /// RFC 9728 protected-resource metadata: when set, the gate serves it
    /// and points its challenges at it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<ResourceConfig>,
    /// Signed identity assertion: when set, allowed requests carry a
    /// short-lived JWT the gate signs, and the gate serves its key set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assertion: Option<AssertionConfig>,
}

/// A short-lived JWT the gate signs (EdDSA, Ed25519) for the origin, so the
/// origin can check that a request came through the gate. See
/// `src/assertion.rs` and docs/configuration.md.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AssertionConfig {
    /// The origin's identifier: the assertion's `aud`. Required.
    pub audience: String,
    /// The gate's identifier: the assertion's `iss`. Required.
    pub issuer: String,
    /// The request header carrying it.
    #[serde(default = "default_assertion_header")]
    pub header: String,
    /// Lifetime in seconds (5 to 300), never past the access token's `exp`.
    #[serde(default = "default_assertion_ttl")]
    pub ttl: u64,
    /// Where the gate serves the public key set.
    #[serde(default = "default_assertion_jwks_path")]
    pub jwks_path: String,
    /// The key id; default: the RFC 7638 thumbprint of the public key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kid: Option<String>,
    /// The Ed25519 private key: a 32-byte seed, base64url. A secret: hosts
    /// take it from a secret store; it is never serialized back out.
    #[serde(default, skip_serializing)]
    pub key: Option<SecretText>,
}

/// Text that is never printed (`Debug` shows `[redacted]`).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SecretText(pub String);

impl fmt::Debug for SecretText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

pub(crate) fn default_assertion_header() -> String {
    "x-edgeward-assertion".into()
}
pub(crate) fn default_assertion_ttl() -> u64 {
    60
}
pub(crate) fn default_assertion_jwks_path() -> String {
    "/.well-known/edgeward/jwks.json".into()
}

/// RFC 9728 OAuth 2.0 protected-resource metadata, served by the gate.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ResourceConfig {
    /// The resource identifier (`https://api.example.com`), as clients use it.
    pub identifier: String,
    /// Authorization servers (issuer URLs); default: every issuer's `issuer`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub authorization_servers: Vec<String>,
    /// Scopes to advertise; default: every scope a route names.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scopes_supported: Option<Vec<String>>,
    /// A human-readable name (`resource_name`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// A documentation URL (`resource_documentation`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub documentation: Option<String>,
}

impl ResourceConfig {
    /// The path the metadata is served at: `/.well-known/oauth-protected-resource`
    /// followed by the identifier's path, if any (RFC 9728 section 3.1).
    pub fn metadata_path(&self) -> String {
        let path = parse_origin(&self.identifier).map_or("", |u| u.path);
        let path = path
            .split(['?', '#'])
            .next()
            .unwrap_or("")
            .trim_end_matches('/');
        format!("/.well-known/oauth-protected-resource{path}")
    }

    /// The metadata's absolute URL, for `resource_metadata` in challenges.
    pub fn metadata_url(&self) -> String {
        let origin = parse_origin(&self.identifier).map_or(String::new(), |u| {
            let port = u.port.map(|p| format!(":{p}")).unwrap_or_default();
            format!("{}://{}{port}", u.scheme, u.host)
        });
        format!("{origin}{}", self.metadata_path())
    }
}

/// Cross-origin resource sharing, answered by the gate.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct CorsConfig {
    /// Origins allowed (`https://app.example.com`), or `["*"]` for any.
    pub allowed_origins: Vec<String>,
    /// Methods a preflight may ask for.
    pub allowed_methods: Vec<String>,
    /// Request headers a preflight may ask for (lowercase).
    pub allowed_headers: Vec<String>,
    /// Response headers scripts may read (`www-authenticate` always).
    pub expose_headers: Vec<String>,
    /// Seconds a browser may cache a preflight answer.
    pub max_age: u64,
    /// Send `Access-Control-Allow-Credentials: true` (cookies, not `*`).
    pub allow_credentials: bool,
}

impl Default for CorsConfig {
    fn default() -> Self {
        CorsConfig {
            allowed_origins: Vec::new(),
            allowed_methods: ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]
                .map(String::from)
                .to_vec(),
            allowed_headers: ["authorization", "content-type"].map(String::from).to_vec(),
            expose_headers: Vec::new(),
            max_age: 600,
            allow_credentials: false,
        }
    }
}

pub(crate) fn default_realm() -> String {
    "api".into()
}

/// One trusted issuer.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(deny_unknown_fields)]
pub struct IssuerConfig {
    /// The exact `iss` value; discovery is at `{issuer}/.well-known/openid-configuration`.
    pub issuer: String,
    /// The key set URL; when absent it is found by OIDC discovery.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks_uri: Option<String>,
    /// Accepted `aud` values (any one must be in the token). Required.
    #[serde(default)]
    pub audiences: Vec<String>,
    /// Claims that carry the audience (`["aud"]`; Cognito access tokens:
    /// `["aud", "client_id"]`).
    #[serde(default = "default_audience_claims")]
    pub audience_claims: Vec<String>,
    /// Claims that must have exactly these values (`{ token_use = "access" }`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub claim_values: BTreeMap<String, serde_json::Value>,
    /// Accepted `alg` values.
    #[serde(default = "default_algorithms")]
    pub algorithms: Vec<String>,
    /// Clock skew allowed on `exp`, `nbf` and `iat`, in seconds.
    #[serde(default = "default_leeway")]
    pub leeway: u64,
    /// Required `typ` header (`at+jwt` for RFC 9068 access tokens).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub typ: Option<String>,
    /// Oldest accepted token by `iat`, in seconds (requires `iat`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_age: Option<u64>,
    /// Claims that must be present.
    #[serde(default)]
    pub required_claims: Vec<String>,
    /// Where scopes are read (space-separated string or array).
    #[serde(default = "default_scope_claims")]
    pub scope_claims: Vec<String>,
    /// Where roles are read.
    #[serde(default = "default_role_claims")]
    pub role_claims: Vec<String>,
    /// Where permissions are read.
    #[serde(default = "default_permission_claims")]
    pub permission_claims: Vec<String>,
    /// Claim holding the subject (`sub`).
    #[serde(default = "default_subject_claim")]
    pub subject_claim: String,
    /// Claim holding the tenant (a name, dotted path or JSON pointer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant_claim: Option<String>,
    /// Tenants accepted from this issuer (empty: any). For a templated
    /// issuer, the values its `{claim}` may take.
    #[serde(default)]
    pub tenants: Vec<String>,
    /// A templated issuer (`https://login.microsoftonline.com/{tid}/v2.0`)
    /// accepts every tenant: set explicitly, never by omission.
    #[serde(default, skip_serializing_if = "is_false")]
    pub any_tenant: bool,
    /// Shared secret for HS256/384/512. Never taken from a key set; put it in
    /// a host secret, not in a committed file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hmac_secret: Option<String>,
}

impl IssuerConfig {
    /// A templated issuer's parts: the text before `{claim}`, the claim
    /// name, the text after. `None` for a plain issuer.
    pub fn template(&self) -> Option<(&str, &str, &str)> {
        let open = self.issuer.find('{')?;
        let close = open + self.issuer[open..].find('}')?;
        Some((
            &self.issuer[..open],
            &self.issuer[open + 1..close],
            &self.issuer[close + 1..],
        ))
    }

    /// The claim a templated issuer binds (`tid`), when templated.
    pub fn template_claim(&self) -> Option<&str> {
        self.template().map(|(_, name, _)| name)
    }
}

pub(crate) fn default_algorithms() -> Vec<String> {
    [
        "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA",
    ]
    .map(String::from)
    .to_vec()
}
pub(crate) fn default_audience_claims() -> Vec<String> {
    vec!["aud".into()]
}
pub(crate) fn default_leeway() -> u64 {
    60
}
pub(crate) fn default_scope_claims() -> Vec<String> {
    vec!["scope".into(), "scp".into()]
}
pub(crate) fn default_role_claims() -> Vec<String> {
    vec!["roles".into()]
}
pub(crate) fn default_permission_claims() -> Vec<String> {
    vec!["permissions".into()]
}
pub(crate) fn default_subject_claim() -> String {
    "sub".into()
}

/// Token sources and limits.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TokenConfig {
    /// Largest accepted token, in bytes, checked before any decoding.
    #[serde(default = "default_max_size")]
    pub max_size: usize,
    /// Also read the token from this cookie.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cookie: Option<String>,
    /// Also read the token from this request header (the raw token, no scheme).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub header: Option<String>,
    /// Also read the token from this query parameter (discouraged by RFC 6750).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query: Option<String>,
}

pub(crate) fn default_max_size() -> usize {
    8192
}

impl Default for TokenConfig {
    fn default() -> Self {
        TokenConfig {
            max_size: default_max_size(),
            cookie: None,
            header: None,
            query: None,
        }
    }
}

/// Key-set cache timing and limits, in seconds and bytes.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct KeyCacheConfig {
    /// Shortest freshness, whatever `Cache-Control` says.
    pub min_ttl: u64,
    /// Longest freshness, whatever `Cache-Control` says.
    pub max_ttl: u64,
    /// Freshness when the response has no `max-age`.
    pub default_ttl: u64,
    /// How long past freshness stale keys still serve while the IdP fails.
    pub stale_if_error: u64,
    /// At most one refetch per issuer per this many seconds for unknown `kid`s
    /// and after failures.
    pub refetch_cooldown: u64,
    /// Largest accepted discovery or key-set response.
    pub max_response_bytes: usize,
    /// A fetch outstanding longer than this is considered lost.
    pub fetch_timeout: u64,
}

impl Default for KeyCacheConfig {
    fn default() -> Self {
        KeyCacheConfig {
            min_ttl: 60,
            max_ttl: 86_400,
            default_ttl: 600,
            stale_if_error: 86_400,
            refetch_cooldown: 30,
            max_response_bytes: 256 * 1024,
            fetch_timeout: 10,
        }
    }
}

/// Verdict cache sizes and lifetimes.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct VerdictCacheConfig {
    /// Longest a verified token is remembered (never past its `exp`), seconds.
    pub ttl: u64,
    /// Most tokens remembered.
    pub capacity: usize,
    /// How long a token that failed format or signature checks is remembered.
    pub negative_ttl: u64,
    /// Most failed tokens remembered.
    pub negative_capacity: usize,
}

impl Default for VerdictCacheConfig {
    fn default() -> Self {
        VerdictCacheConfig {
            ttl: 300,
            capacity: 10_000,
            negative_ttl: 30,
            negative_capacity: 1_000,
        }
    }
}

/// Which family of identity headers the origin receives.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub enum HeaderPreset {
    /// edgeward's own: `headers.subject`, `.issuer`, `.tenant`, `.scopes`.
    #[default]
    #[serde(rename = "edgeward")]
    Edgeward,
    /// oauth2-proxy's `X-Auth-Request-*` ([`OAUTH2_PROXY_HEADERS`]) instead.
    #[serde(rename = "oauth2-proxy")]
    Oauth2Proxy,
    /// Both families (for moving an origin from one to the other).
    #[serde(rename = "edgeward+oauth2-proxy")]
    Both,
}

impl HeaderPreset {
    /// Whether edgeward's own headers are set.
    pub fn edgeward(self) -> bool {
        self != HeaderPreset::Oauth2Proxy
    }
    /// Whether oauth2-proxy's headers are set.
    pub fn oauth2_proxy(self) -> bool {
        self != HeaderPreset::Edgeward
    }
}

/// oauth2-proxy's identity headers (`--set-xauthrequest`) and the claim each
/// carries: (header, claim). `x-auth-request-user` carries the subject (the
/// issuer's `subject_claim`); groups are comma-separated.
pub const OAUTH2_PROXY_HEADERS: [(&str, &str); 4] = [
    ("x-auth-request-user", "sub"),
    ("x-auth-request-email", "email"),
    ("x-auth-request-preferred-username", "preferred_username"),
    ("x-auth-request-groups", "groups"),
];

/// Headers set on allowed requests for the origin. Client-sent copies of every
/// one of them are removed first, so the origin can trust them.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct HeaderConfig {
    /// Which identity headers are set: `edgeward` (default), `oauth2-proxy`
    /// or `edgeward+oauth2-proxy`. `claims` and `decision` apply to all.
    pub preset: HeaderPreset,
    /// Header carrying the subject.
    pub subject: String,
    /// Header carrying the issuer.
    pub issuer: String,
    /// Header carrying the tenant (when a tenant claim is configured).
    pub tenant: String,
    /// Header carrying the granted scopes, space-separated.
    pub scopes: String,
    /// Extra claim → header map (claim path as for `scope_claims`).
    pub claims: BTreeMap<String, String>,
    /// Report-only annotation header (`allow`, or `deny; status=401; reason=token_missing`).
    pub decision: String,
    /// Remove `Authorization` before the request reaches the origin.
    pub strip_authorization: bool,
}

impl Default for HeaderConfig {
    fn default() -> Self {
        HeaderConfig {
            preset: HeaderPreset::Edgeward,
            subject: "x-auth-subject".into(),
            issuer: "x-auth-issuer".into(),
            tenant: "x-auth-tenant".into(),
            scopes: "x-auth-scopes".into(),
            claims: BTreeMap::new(),
            decision: "x-edgeward-decision".into(),
            strip_authorization: false,
        }
    }
}

/// Defaults for the policy.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct PolicyConfig {
    /// Access for requests no route matches (`deny` by default).
    pub default: Access,
    /// Whether a method named by a method-override header or the `_method`
    /// query parameter is held to its own routes as well.
    pub method_override: MethodOverride,
    /// Removed (it let every preflight through, on every route). Kept only
    /// to name the replacement when an old configuration sets it.
    #[serde(skip_serializing)]
    pub preflight: Option<serde_json::Value>,
}

impl Default for PolicyConfig {
    fn default() -> Self {
        PolicyConfig {
            default: Access::Deny,
            method_override: MethodOverride::Evaluate,
            preflight: None,
        }
    }
}

/// Methods a request names besides its own: many frameworks take the
/// method from `X-HTTP-Method-Override` (Rack, so Rails and Sinatra;
/// Symfony, so Laravel; express's method-override), `X-HTTP-Method` or
/// `X-Method-Override`, or from a `_method` query parameter (Symfony and
/// Laravel), and route the request by it. A `POST` carrying `DELETE` there
/// runs the origin's DELETE handler.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum MethodOverride {
    /// The request must satisfy the routes for its own method and for
    /// every method it names, so an override can never reach a handler the
    /// token could not reach with that method.
    #[default]
    Evaluate,
    /// Only the request line's method counts: for an origin known to take
    /// no override, where such a header or `_method` means something else.
    Ignore,
}

/// Needed values: any one of `any` (when non-empty) and all of `all`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Need {
    /// At least one of these.
    pub any: Vec<String>,
    /// Every one of these.
    pub all: Vec<String>,
}

impl Need {
    /// True when nothing is needed.
    pub fn is_empty(&self) -> bool {
        self.any.is_empty() && self.all.is_empty()
    }
}

/// One route: methods + path pattern → requirement.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RouteConfig {
    /// Path pattern: literal segments, `*` (one segment), `{name}` (one
    /// segment, captured), and a final `**` (any rest, even none).
    pub path: String,
    /// Methods (empty: any).
    #[serde(default)]
    pub methods: Vec<String>,
    /// `authenticated` (default), `anonymous` or `deny`.
    #[serde(default)]
    pub access: Access,
    /// Needed scopes.
    #[serde(default)]
    pub scopes: Need,
    /// Needed roles.
    #[serde(default)]
    pub roles: Need,
    /// Needed permissions.
    #[serde(default)]
    pub permissions: Need,
    /// Tenants allowed on this route (empty: whatever the issuer allows).
    #[serde(default)]
    pub tenants: Vec<String>,
    /// Ownership: path parameter → claim that must equal it (`{ user = "sub" }`).
    #[serde(default)]
    pub owner: BTreeMap<String, String>,
    /// Accept static API tokens on this route (default true).
    #[serde(default = "yes")]
    pub api_tokens: bool,
    /// Let CORS preflights (`OPTIONS` with `Origin` and
    /// `Access-Control-Request-Method`) on this route reach the origin
    /// without a token, for an origin that answers CORS itself. Off by
    /// default: a preflight is then answered by the gate (`[cors]`) or needs
    /// a token like any request.
    #[serde(default, skip_serializing_if = "is_false")]
    pub forward_preflight: bool,
}

fn is_false(b: &bool) -> bool {
    !*b
}

pub(crate) fn yes() -> bool {
    true
}

/// A static API token: only its SHA-256 is stored.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ApiTokenConfig {
    /// Name, used as the subject.
    pub name: String,
    /// Lowercase hex SHA-256 of the token.
    pub sha256: String,
    /// Scopes the token grants.
    #[serde(default)]
    pub scopes: Vec<String>,
}

impl Config {
    /// Parses JSON or TOML (a document starting with `{` is JSON) and
    /// validates it.
    ///
    /// ```
    /// let cfg = edgeward::Config::parse(r#"
    ///     [[issuers]]
    ///     issuer = "https://idp.example.com/"
    ///     audiences = ["api"]
    /// "#).unwrap();
    /// assert_eq!(cfg.issuers[0].leeway, 60);
    /// let err = edgeward::Config::parse(r#"{"issuers":[{"issuer":"https://x/","audience":["a"]}]}"#).unwrap_err();
    /// assert!(err.to_string().contains("issuers[0]"));
    /// ```
    pub fn parse(text: &str) -> Result<Config, ConfigErrors> {
        if text.trim_start().starts_with('{') {
            Self::from_json(text)
        } else {
            Self::from_toml(text)
        }
    }

    /// Parses and validates JSON.
    pub fn from_json(text: &str) -> Result<Config, ConfigErrors> {
        // Not serde_path_to_error: its wrappers instantiate every config
        // type's deserializer again (~14 KB gzip of a wasm build); the field
        // is found from the error's position instead (`json_path_at`).
        // From the bytes: for valid UTF-8 serde_json's slice reader reads
        // exactly as its str reader does (same values, errors, positions),
        // and the slice reader is in every build anyway (tokens, key sets),
        // so serde_json's parser is compiled once, not twice.
        let cfg: Config = serde_json::from_slice(text.as_bytes()).map_err(|e| {
            let field = json_path_at(text, e.line(), e.column());
            single(&field, e.to_string())
        })?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// Parses and validates TOML.
    #[cfg(feature = "toml")]
    pub fn from_toml(text: &str) -> Result<Config, ConfigErrors> {
        let de = toml::Deserializer::parse(text).map_err(|e| single(".", toml_message(&e)))?;
        let cfg: Config = serde_path_to_error::deserialize(de).map_err(|e| {
            let field = e.path().to_string();
            single(&field, toml_message(e.inner()))
        })?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// Without the `toml` feature only JSON is read.
    #[cfg(not(feature = "toml"))]
    pub fn from_toml(_text: &str) -> Result<Config, ConfigErrors> {
        Err(single(
            ".",
            "TOML support is not compiled in; use JSON".into(),
        ))
    }

    /// Checks everything serde cannot: URLs, algorithms, patterns, bounds.
    pub fn validate(&self) -> Result<(), ConfigErrors> {
        let mut v = Validator(Vec::new());
        v.check(
            !self.realm.contains('"') && !self.realm.contains('\\'),
            "realm",
            "must not contain quotes or backslashes",
        );
        for (i, iss) in self.issuers.iter().enumerate() {
            let at = |f: &str| format!("issuers[{i}].{f}");
            match iss.template() {
                None => {
                    v.url(&at("issuer"), &iss.issuer);
                    v.check(
                        !iss.issuer.contains('}'),
                        &at("issuer"),
                        "a } without {: a templated issuer is https://host/{claim}/...",
                    );
                    v.check(!iss.any_tenant, &at("any_tenant"), "only for a templated issuer (https://login.microsoftonline.com/{tid}/v2.0)");
                }
                Some((before, name, after)) => {
                    v.url(&at("issuer"), &format!("{before}tenant{after}"));
                    v.check(
                        !name.is_empty()
                            && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
                            && !after.contains(['{', '}']),
                        &at("issuer"),
                        "a template takes one {claim} (letters, digits, _), e.g. https://login.microsoftonline.com/{tid}/v2.0",
                    );
                    v.check(
                        iss.jwks_uri.is_some(),
                        &at("jwks_uri"),
                        "a templated issuer needs the key set its tenants share (Entra ID: https://login.microsoftonline.com/common/discovery/v2.0/keys); no per-tenant discovery",
                    );
                    v.check(
                        iss.tenants.is_empty() == iss.any_tenant,
                        &at("tenants"),
                        "list the tenants a templated issuer accepts, or set any_tenant = true to accept every one (not both)",
                    );
                }
            }
            if self.issuers[..i].iter().any(|o| o.issuer == iss.issuer) {
                v.push(at("issuer"), "duplicate issuer; merge the two entries");
            }
            if let Some(uri) = &iss.jwks_uri {
                v.url(&at("jwks_uri"), uri);
            }
            v.check(!iss.audiences.is_empty(), &at("audiences"), "at least one audience is required, so that a token minted for another API does not pass");
            v.check(
                !iss.algorithms.is_empty(),
                &at("algorithms"),
                "list at least one algorithm",
            );
            let mut hmac = false;
            for (j, a) in iss.algorithms.iter().enumerate() {
                match parse_alg(a) {
                    None => v.push(format!("issuers[{i}].algorithms[{j}]"), &format!("unknown algorithm \"{a}\"; use one of RS256 RS384 RS512 PS256 PS384 PS512 ES256 ES384 ES512 EdDSA HS256 HS384 HS512")),
                    Some(Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512) => hmac = true,
                    Some(_) => {}
                }
            }
            match (&iss.hmac_secret, hmac) {
                (None, true) => v.push(
                    at("hmac_secret"),
                    "HS* algorithms need hmac_secret (keys from a JWKS are never used for HMAC)",
                ),
                (Some(_), false) => v.push(
                    at("hmac_secret"),
                    "set, but algorithms lists no HS256/HS384/HS512",
                ),
                (Some(s), true) => v.check(
                    s.len() >= 32,
                    &at("hmac_secret"),
                    "must be at least 32 bytes",
                ),
                (None, false) => {}
            }
            v.check(iss.leeway <= 600, &at("leeway"), "at most 600 seconds");
            v.check(iss.max_age != Some(0), &at("max_age"), "must be positive");
            if let Some(t) = &iss.typ {
                v.check(
                    !t.is_empty(),
                    &at("typ"),
                    "must not be empty (omit it to skip the check)",
                );
            }
            v.check(
                !iss.tenants.is_empty() <= (iss.tenant_claim.is_some() || iss.template().is_some()),
                &at("tenants"),
                "needs tenant_claim to say where the tenant is",
            );
            v.check(
                !iss.audience_claims.is_empty(),
                &at("audience_claims"),
                "list at least one claim (normally \"aud\")",
            );
            for (name, list) in [
                ("audience_claims", &iss.audience_claims),
                ("scope_claims", &iss.scope_claims),
                ("role_claims", &iss.role_claims),
                ("permission_claims", &iss.permission_claims),
            ] {
                v.check(
                    list.iter().all(|c| !c.is_empty()),
                    &at(name),
                    "claim paths must not be empty",
                );
            }
        }
        v.check(
            (256..=65_536).contains(&self.token.max_size),
            "token.max_size",
            "must be between 256 and 65536 bytes",
        );
        for (name, value) in [
            ("token.cookie", &self.token.cookie),
            ("token.header", &self.token.header),
            ("token.query", &self.token.query),
        ] {
            if let Some(s) = value {
                v.check(
                    is_token_name(s),
                    name,
                    "must be a non-empty name of letters, digits and -_.",
                );
            }
        }
        let k = &self.keys;
        // Bounds keep every sum of times finite and a typo from turning a
        // cache or a cooldown off for good.
        for (field, value, max) in [
            ("keys.min_ttl", k.min_ttl, 30 * DAY),
            ("keys.max_ttl", k.max_ttl, 30 * DAY),
            ("keys.default_ttl", k.default_ttl, 30 * DAY),
            ("keys.stale_if_error", k.stale_if_error, 30 * DAY),
            ("keys.refetch_cooldown", k.refetch_cooldown, DAY),
            ("keys.fetch_timeout", k.fetch_timeout, 120),
            ("cache.ttl", self.cache.ttl, DAY),
            ("cache.negative_ttl", self.cache.negative_ttl, DAY),
        ] {
            v.check(value <= max, field, &format!("at most {max} seconds"));
        }
        for (i, iss) in self.issuers.iter().enumerate() {
            if let Some(m) = iss.max_age {
                v.check(
                    m <= 365 * DAY,
                    &format!("issuers[{i}].max_age"),
                    &format!("at most {} seconds (a year)", 365 * DAY),
                );
            }
        }
        if self.policy.preflight.is_some() {
            v.push(
                "policy.preflight",
                "was removed: it let every CORS preflight through without a token, on every route. Set [cors] to have the gate answer preflights, or forward_preflight = true on the routes whose origin answers them",
            );
        }
        if let Some(r) = &self.resource {
            let ok = parse_origin(&r.identifier).is_some_and(|u| {
                !u.userinfo
                    && !u.path.contains(['?', '#'])
                    && (u.scheme == "https" || u.is_loopback())
            });
            v.check(
                ok,
                "resource.identifier",
                "must be an https:// URL without query or fragment (http:// only for loopback), the resource clients ask tokens for",
            );
            for (j, a) in r.authorization_servers.iter().enumerate() {
                v.url(&format!("resource.authorization_servers[{j}]"), a);
            }
            if let Some(d) = &r.documentation {
                v.url("resource.documentation", d);
            }
            v.check(
                !r.authorization_servers.is_empty() || !self.issuers.is_empty(),
                "resource.authorization_servers",
                "list at least one (or configure [[issuers]], which are the default)",
            );
        }
        if let Some(c) = &self.cors {
            v.check(
                !c.allowed_origins.is_empty(),
                "cors.allowed_origins",
                "list at least one origin (https://app.example.com), or \"*\"",
            );
            for (j, o) in c.allowed_origins.iter().enumerate() {
                let ok = o == "*"
                    || (!o.ends_with('/')
                        && parse_origin(o).is_some_and(|u| u.path.is_empty() && !u.userinfo));
                v.check(
                    ok,
                    &format!("cors.allowed_origins[{j}]"),
                    "must be an origin like https://app.example.com (scheme, host, optional port; no path), or \"*\"",
                );
            }
            v.check(
                !(c.allow_credentials && c.allowed_origins.iter().any(|o| o == "*")),
                "cors.allow_credentials",
                "cannot be combined with allowed_origins = [\"*\"] (browsers refuse it); list the origins",
            );
            for (j, m) in c.allowed_methods.iter().enumerate() {
                v.check(
                    !m.is_empty() && m.bytes().all(|b| b.is_ascii_uppercase()),
                    &format!("cors.allowed_methods[{j}]"),
                    "must be an uppercase method name like GET",
                );
            }
            for (field, list) in [
                ("allowed_headers", &c.allowed_headers),
                ("expose_headers", &c.expose_headers),
            ] {
                for (j, h) in list.iter().enumerate() {
                    v.check(
                        is_header_name(h),
                        &format!("cors.{field}[{j}]"),
                        "must be a lowercase header name (letters, digits, -)",
                    );
                }
            }
            v.check(c.max_age <= DAY, "cors.max_age", "at most 86400 seconds");
        }
        v.check(
            k.min_ttl <= k.max_ttl,
            "keys.min_ttl",
            "must not exceed keys.max_ttl",
        );
        v.check(
            (k.min_ttl..=k.max_ttl).contains(&k.default_ttl),
            "keys.default_ttl",
            "must lie between keys.min_ttl and keys.max_ttl",
        );
        v.check(
            k.fetch_timeout > 0,
            "keys.fetch_timeout",
            "must be positive",
        );
        v.check(
            (1024..=16 * 1024 * 1024).contains(&k.max_response_bytes),
            "keys.max_response_bytes",
            "must be between 1024 and 16777216",
        );
        v.check(
            self.cache.capacity <= 10_000_000,
            "cache.capacity",
            "at most 10000000",
        );
        v.check(
            self.cache.negative_capacity <= 10_000_000,
            "cache.negative_capacity",
            "at most 10000000",
        );
        let h = &self.headers;
        let mut names: Vec<(String, &str)> = vec![
            ("headers.subject".into(), &h.subject),
            ("headers.issuer".into(), &h.issuer),
            ("headers.tenant".into(), &h.tenant),
            ("headers.scopes".into(), &h.scopes),
            ("headers.decision".into(), &h.decision),
        ];
        if h.preset.oauth2_proxy() {
            for (header, _) in OAUTH2_PROXY_HEADERS {
                names.push(("headers.preset".into(), header));
            }
        }
        for (claim, header) in &h.claims {
            names.push((format!("headers.claims.{claim}"), header));
        }
        if let Some(a) = &self.assertion {
            names.push(("assertion.header".into(), &a.header));
            a.validate(&mut v);
        }
        for (i, (field, name)) in names.iter().enumerate() {
            if !is_header_name(name) {
                v.push(
                    field.clone(),
                    "must be a lowercase header name (letters, digits, -)",
                );
            } else if RESERVED_HEADERS.contains(name) {
                v.push(
                    field.clone(),
                    &format!("\"{name}\" is reserved; choose another header"),
                );
            } else if let Some((other, _)) = names[..i].iter().find(|(_, n)| n == name) {
                v.push(
                    field.clone(),
                    &format!("\"{name}\" is used twice (also by {other})"),
                );
            }
        }
        for (i, r) in self.routes.iter().enumerate() {
            let at = |f: &str| format!("routes[{i}].{f}");
            match crate::policy::Pattern::parse(&r.path) {
                Err(e) => v.push(at("path"), &e),
                Ok(p) => {
                    for param in r.owner.keys() {
                        v.check(
                            p.has_param(param),
                            &at("owner"),
                            &format!("path has no {{{param}}} segment"),
                        );
                    }
                }
            }
            for (j, m) in r.methods.iter().enumerate() {
                v.check(
                    !m.is_empty() && m.bytes().all(|b| b.is_ascii_uppercase()),
                    &format!("routes[{i}].methods[{j}]"),
                    "must be an uppercase method name like GET",
                );
            }
            let needs = !r.scopes.is_empty()
                || !r.roles.is_empty()
                || !r.permissions.is_empty()
                || !r.tenants.is_empty()
                || !r.owner.is_empty();
            v.check(
                r.access == Access::Authenticated || !needs,
                &at("access"),
                "scopes, roles, permissions, tenants and owner need access = \"authenticated\" (on an \"optional\" route they would be skipped whenever no token is sent)",
            );
        }
        for (i, t) in self.api_tokens.iter().enumerate() {
            v.check(
                t.sha256.len() == 64
                    && t.sha256
                        .bytes()
                        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
                &format!("api_tokens[{i}].sha256"),
                "must be 64 lowercase hex digits (sha256sum of the token)",
            );
            v.check(
                !t.name.is_empty(),
                &format!("api_tokens[{i}].name"),
                "must not be empty",
            );
            if self.api_tokens[..i].iter().any(|o| o.name == t.name) {
                v.push(format!("api_tokens[{i}].name"), "duplicate name");
            }
        }
        if v.0.is_empty() {
            Ok(())
        } else {
            Err(ConfigErrors(v.0))
        }
    }
}

const DAY: u64 = 86_400;

impl AssertionConfig {
    /// The shortest and longest `ttl`, in seconds.
    pub const TTL_BOUNDS: (u64, u64) = (5, 300);

    fn validate(&self, v: &mut Validator) {
        v.check(
            !self.audience.trim().is_empty(),
            "assertion.audience",
            "must not be empty: the origin's identifier (https://orders.internal), the assertion's aud",
        );
        v.check(
            !self.issuer.trim().is_empty(),
            "assertion.issuer",
            "must not be empty: the gate's identifier (https://gate.example.com), the assertion's iss",
        );
        let (lo, hi) = Self::TTL_BOUNDS;
        v.check(
            (lo..=hi).contains(&self.ttl),
            "assertion.ttl",
            &format!("must be between {lo} and {hi} seconds"),
        );
        v.check(
            self.jwks_path.starts_with('/')
                && !self.jwks_path.starts_with("//")
                && self
                    .jwks_path
                    .bytes()
                    .all(|b| b.is_ascii_graphic() && !b"?#%\\".contains(&b)),
            "assertion.jwks_path",
            "must be a path starting with / (no query, fragment, escapes or spaces), like /.well-known/edgeward/jwks.json",
        );
        if let Some(kid) = &self.kid {
            v.check(
                is_token_name(kid),
                "assertion.kid",
                "must be a non-empty name of letters, digits and -_.",
            );
        }
        if let Some(key) = &self.key {
            if let Err(e) = crate::assertion::seed(&key.0) {
                v.push("assertion.key", &e);
            }
        }
    }
}

/// The parts of an absolute http(s) URL the checks need.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct UrlParts<'a> {
    /// `https` or `http`.
    pub scheme: &'a str,
    /// Host as written (`[::1]` keeps its brackets), lowercased by the caller when compared.
    pub host: &'a str,
    /// Port as written, if any.
    pub port: Option<&'a str>,
    /// Path, query and fragment (may be empty).
    pub path: &'a str,
    /// Whether a `user:pass@` part was present.
    pub userinfo: bool,
}

impl UrlParts<'_> {
    /// `scheme://host:port` with the default port made explicit, for comparing origins.
    pub fn origin(&self) -> String {
        let port = self
            .port
            .unwrap_or(if self.scheme == "https" { "443" } else { "80" });
        format!(
            "{}://{}:{}",
            self.scheme,
            self.host.to_ascii_lowercase(),
            port
        )
    }

    /// A loopback host: `localhost`, an IPv4 literal in 127.0.0.0/8, `[::1]`.
    pub fn is_loopback(&self) -> bool {
        let host = self.host.to_ascii_lowercase();
        if host == "localhost" || host == "[::1]" {
            return true;
        }
        let parts: Vec<&str> = host.split('.').collect();
        parts.len() == 4
            && parts[0] == "127"
            && parts.iter().all(|p| {
                !p.is_empty()
                    && p.len() <= 3
                    && p.bytes().all(|b| b.is_ascii_digit())
                    && p.parse::<u8>().is_ok()
            })
    }
}

/// Splits an absolute `http://` or `https://` URL. `None` when it is not
/// one, or its authority is empty or malformed.
pub(crate) fn parse_origin(url: &str) -> Option<UrlParts<'_>> {
    let (scheme, rest) = url.split_once("://")?;
    if scheme != "https" && scheme != "http" {
        return None;
    }
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(end);
    let (userinfo, hostport) = match authority.rsplit_once('@') {
        Some((_, hp)) => (true, hp),
        None => (false, authority),
    };
    let (host, port) = if hostport.starts_with('[') {
        let close = hostport.find(']')?;
        let (h, after) = hostport.split_at(close + 1);
        match after.strip_prefix(':') {
            Some(p) => (h, Some(p)),
            None if after.is_empty() => (h, None),
            None => return None,
        }
    } else {
        match hostport.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (hostport, None),
        }
    };
    if host.is_empty()
        || port.is_some_and(|p| p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()))
        || host
            .bytes()
            .any(|b| b <= b' ' || b"\\<>^`{|}%\"".contains(&b))
    {
        return None;
    }
    Some(UrlParts {
        scheme,
        host,
        port,
        path,
        userinfo,
    })
}

/// Headers an identity header may never be named after.
const RESERVED_HEADERS: &[&str] = &[
    "authorization",
    "cookie",
    "host",
    "content-length",
    "content-type",
    "transfer-encoding",
    "connection",
    "upgrade",
];

/// The field a JSON parse error at `line`:`column` (serde_json's position:
/// 1-based line, bytes consumed on it) is in, written as
/// serde_path_to_error writes paths (`issuers[0].audience`, `.` for the
/// top): the keys and indices open at that point. A key counts once its
/// value is due, or when the error is at its closing quote (an unknown field
/// is named), an index once its element has begun or is
/// peeked at (a value refused at its opening `[` is its key's, an element
/// refused at its first byte its index's), a closed object or array no
/// longer (a missing field is its object's).
fn json_path_at(text: &str, line: usize, column: usize) -> String {
    enum Frame {
        Object {
            key: Option<String>,
            at_value: bool,
            key_end: usize,
        },
        Array {
            index: usize,
            begun: bool,
        },
    }
    let bytes = text.as_bytes();
    let mut end = 0;
    for _ in 1..line {
        match bytes[end..].iter().position(|&b| b == b'\n') {
            Some(i) => end += i + 1,
            None => break,
        }
    }
    let end = (end + column).min(bytes.len());
    let mut stack: Vec<Frame> = Vec::new();
    let mut i = 0;
    while i < end {
        let b = bytes[i];
        if b.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        // A value begins: the array it is in has begun an element.
        if let Some(Frame::Array { begun, .. }) = stack.last_mut() {
            if !matches!(b, b',' | b']') {
                *begun = true;
            }
        }
        match b {
            b'{' => stack.push(Frame::Object {
                key: None,
                at_value: false,
                key_end: 0,
            }),
            b'[' => stack.push(Frame::Array {
                index: 0,
                begun: false,
            }),
            b'}' | b']' => {
                stack.pop();
            }
            b':' => {
                if let Some(Frame::Object { at_value, .. }) = stack.last_mut() {
                    *at_value = true;
                }
            }
            b',' => match stack.last_mut() {
                Some(Frame::Object { key, at_value, .. }) => {
                    *key = None;
                    *at_value = false;
                }
                Some(Frame::Array { index, begun }) => {
                    *index += 1;
                    *begun = false;
                }
                None => {}
            },
            b'"' => {
                let start = i + 1;
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
                if let Some(Frame::Object {
                    key,
                    at_value: false,
                    key_end,
                }) = stack.last_mut()
                {
                    let raw = &text[start..i.min(text.len())];
                    let unescaped = raw
                        .contains('\\')
                        .then(|| serde_json::from_slice(format!("\"{raw}\"").as_bytes()).ok())
                        .flatten();
                    *key = Some(unescaped.unwrap_or_else(|| raw.to_string()));
                    *key_end = i + 1;
                }
            }
            _ => {}
        }
        i += 1;
    }
    // An error on peeking at an element (not consumed yet) is in it too.
    if let Some(Frame::Array { begun, .. }) = stack.last_mut() {
        let next = bytes[end..].iter().find(|b| !b.is_ascii_whitespace());
        if next.is_some_and(|b| !matches!(b, b',' | b']')) {
            *begun = true;
        }
    }
    let mut path = String::new();
    for frame in &stack {
        match frame {
            // A key is refused as it is read (unknown field), or its value.
            Frame::Object {
                key: Some(k),
                at_value,
                key_end,
            } if *at_value || *key_end == end => {
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(k);
            }
            Frame::Array { index, begun: true } => path.push_str(&format!("[{index}]")),
            _ => {}
        }
    }
    if path.is_empty() {
        path.push('.');
    }
    path
}

fn single(field: &str, message: String) -> ConfigErrors {
    let field = if field.is_empty() { "." } else { field };
    ConfigErrors(vec![ConfigError {
        field: field.into(),
        message,
    }])
}

#[cfg(feature = "toml")]
fn toml_message(e: &toml::de::Error) -> String {
    // toml's Display repeats the source snippet over several lines; one line reads better.
    e.message().trim().to_string()
}

fn is_header_name(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

fn is_token_name(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
}

struct Validator(Vec<ConfigError>);

impl Validator {
    fn push(&mut self, field: impl Into<String>, message: &str) {
        self.0.push(ConfigError {
            field: field.into(),
            message: message.into(),
        });
    }
    fn check(&mut self, ok: bool, field: &str, message: &str) {
        if !ok {
            self.push(field, message);
        }
    }
    /// https everywhere, http only to loopback (a dev issuer); no
    /// `user@` part, no fragment.
    fn url(&mut self, field: &str, url: &str) {
        let ok = parse_origin(url).is_some_and(|u| {
            !u.userinfo && !u.path.contains('#') && (u.scheme == "https" || u.is_loopback())
        });
        self.check(
            ok,
            field,
            "must be an https:// URL (http:// only for localhost/127.0.0.1/[::1])",
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(text: &str) -> Vec<String> {
        Config::parse(text)
            .unwrap_err()
            .0
            .into_iter()
            .map(|e| e.field)
            .collect()
    }

    #[test]
    fn minimal_toml_gets_defaults() {
        let c = Config::parse(
            "[[issuers]]\nissuer = \"https://idp.example.com/\"\naudiences = [\"api\"]\n",
        )
        .unwrap();
        assert_eq!(c.mode, Mode::Enforce);
        assert_eq!(c.token.max_size, 8192);
        assert_eq!(c.keys.refetch_cooldown, 30);
        assert_eq!(c.keys.max_response_bytes, 262_144);
        assert_eq!(c.policy.default, Access::Deny);
        assert_eq!(c.issuers[0].algorithms.len(), 10);
    }

    #[test]
    fn unknown_keys_name_the_field() {
        let e = Config::parse(
            r#"{"issuers":[{"issuer":"https://a/","audiences":["x"],"audience":"x"}]}"#,
        )
        .unwrap_err();
        assert_eq!(e.0[0].field, "issuers[0].audience");
        assert!(e.0[0].message.contains("unknown field `audience`"), "{e}");
        let e = Config::parse("[keys]\nmin_tll = 3\n").unwrap_err();
        assert_eq!(e.0[0].field, "keys.min_tll");
        assert!(e.0[0].message.contains("min_tll"), "{e}");
    }

    /// `json_path_at` names the field serde_path_to_error names (the TOML
    /// reader still uses it, so it is here to compare against).
    #[cfg(feature = "toml")]
    #[test]
    fn json_errors_name_the_field_serde_path_to_error_names() {
        let iss = r#""issuer":"https://a/","audiences":["x"]"#;
        let cases = [
            r#"{"issuers":[{"issuer":"https://a/","audiences":["x"],"audience":"x"}]}"#.to_string(),
            r#"{"routes":[{"path":"/a","access":"maybe"}]}"#.into(),
            r#"{"routes":[{"path":"/a"},{"path":"/b","scopes":{"any":"x"}}]}"#.into(),
            r#"{"routes":[{"path":"/a"},{"path":"/b","scopes":{"any":["x",7]}}]}"#.into(),
            r#"{"token":{"max_size":"big"}}"#.into(),
            r#"{"token":{"max_size":-1}}"#.into(),
            r#"{"keys":{"min_ttl":1.5}}"#.into(),
            r#"{"issuers":{}}"#.into(),
            r#"{"issuers":[{}]}"#.into(),
            format!(r#"{{"issuers":[{{{iss}}},{{"audiences":["a"]}}]}}"#),
            format!(r#"{{"issuers":[{{{iss}}},{{"issuer":5}}]}}"#),
            format!(r#"{{"issuers":[{{{iss},"claim_values":{{"a\"b":1}},"leeway":"x"}}]}}"#),
            format!(r#"{{"issuers":[{{{iss},"algorithms":["RS256",{{}}]}}]}}"#),
            format!("{{\n  \"issuers\": [\n    {{{iss},\n      \"tenants\": [\"a\", []]\n    }}\n  ]\n}}"),
            r#"{"issu\u0065rs":5}"#.into(),
            r#"{"headers":{"claims":{"email":5}}}"#.into(),
            r#"{"cors":{"allowed_origins":"x"}}"#.into(),
            r#"{"cors":{"max_age":true}}"#.into(),
            r#"{"resource":{"identifier":"https://r/"}}"#.into(),
            r#"{"mode":"loud"}"#.into(),
            r#"{"x":1}"#.into(),
            "[]".into(),
            "{}".into(),
        ];
        for text in &cases {
            let de = &mut serde_json::Deserializer::from_str(text);
            let Err(want) = serde_path_to_error::deserialize::<_, Config>(de) else {
                continue;
            };
            let got = Config::from_json(text).unwrap_err();
            assert_eq!(got.0[0].field, want.path().to_string(), "{text}: {got}");
            assert_eq!(got.0[0].message, want.inner().to_string(), "{text}");
        }
    }

    #[test]
    fn json_errors_name_the_field_serde_path_to_error_would() {
        let base = r#"{"issuers":[{"issuer":"https://a/","audiences":["x"]}]}"#;
        let cases = [
            r#"{"issuers":[{"issuer":"https://a/","audiences":["x"],"audience":"x"}]}"#,
            r#"{"issuers":[{"issuer":"https://a/"}]}"#,
            r#"{"issuers":[{"issuer":"https://a/","audiences":["x"]},{"audiences":["y"]}]}"#,
            r#"{"issuers":[{"issuer":"https://a/","audiences":["x", 3]}]}"#,
            r#"{"issuers":[{"issuer":["https://a/"],"audiences":["x"]}]}"#,
            r#"{"issuers":[{"issuer":{"a":1},"audiences":["x"]}]}"#,
            r#"{"issuers":[{"issuer":"https://a/","audiences":["x"],"leeway":-1}]}"#,
            r#"{"issuers":[{"issuer":"https://a/","audiences":["x"],"leeway":1.5}]}"#,
            r#"{"issuers":[{"issuer":"https://a/","audiences":["x"],"algorithms":["RS256","nope"]}]}"#,
            r#"{"issuers":{}}"#,
            r#"{"issuers":[], "token":{"max_size":"big"}}"#,
            "{\n  \"issuers\": [],\n  \"keys\": {\n    \"min_tll\": 3\n  }\n}",
            "{\n  \"routes\": [\n    {\"path\": \"/a\"},\n    {\"path\": \"/b\", \"access\": \"maybe\"}\n  ]\n}",
            r#"{"routes":[{"path":"/a","scopes":{"all":["a"],"one":["b"]}}]}"#,
            r#"{"routes":[{"path":"/a","methods":[[]]}]}"#,
            r#"{"headers":{"claims":{"email":3}}}"#,
            r#"{"headers":{"claims":{"a"b":3}}}"#,
            r#"{"headers":{"claims":{"a\"b":3}}}"#,
            r#"{"token":{"cookie" "x"}}"#,
            r#"{"policy":{"default":"sometimes"}}"#,
            r#"{"policy":{"default":"deny"},"extra":true}"#,
            r#"{"cors":{"allowed_origins":"*"}}"#,
            r#"{"api_tokens":[{"name":"ci"}]}"#,
            r#"{"issuers":[{"issuer":"https://a/","audiences":["x"]}],}"#,
            r#"{"issuers":[{"issuer":"https://a/","audiences":["x"]}]"#,
            r#"[1]"#,
            r#""#,
        ];
        assert!(Config::from_json(base).is_ok());
        let mut refused = 0;
        for text in cases {
            let de = &mut serde_json::Deserializer::from_str(text);
            let want = serde_path_to_error::deserialize::<_, Config>(de)
                .map(|_| ())
                .map_err(|e| (e.path().to_string(), e.into_inner().to_string()));
            let got = serde_json::from_str::<Config>(text)
                .map(|_| ())
                .map_err(|e| (json_path_at(text, e.line(), e.column()), e.to_string()));
            // serde_path_to_error writes `?` where a syntax error leaves the
            // next key unread; this names the object the key was due in.
            if let (Err((got_field, _)), Err((want_field, _))) = (&got, &want) {
                if want_field.contains('?') {
                    assert!(!got_field.contains('?'), "{text}");
                    continue;
                }
            }
            assert_eq!(got, want, "{text}");
            refused += usize::from(got.is_err());
        }
        assert!(refused >= 20, "{refused}");
        // Unlike serde_path_to_error::deserialize, which stops at the end of
        // the object, from_str refuses what follows it.
        let e = Config::from_json(&format!("{base} x")).unwrap_err();
        assert!(e.0[0].message.contains("trailing characters"), "{e}");
        // A duplicate is named (serde_path_to_error says `.`).
        let e = Config::from_json(r#"{"realm": "x", "realm": "y"}"#).unwrap_err();
        assert_eq!(e.0[0].field, "realm");
    }

    /// `from_json` reads the bytes; serde_json's str reader, which it used
    /// before, gives the same result and error (message and position) for
    /// any text.
    #[test]
    fn from_json_reads_as_the_str_reader_does() {
        let iss = r#""issuer":"https://a/","audiences":["x"]"#;
        let cases = [
            format!(r#"{{"issuers":[{{{iss}}}],"realm":"Zürich ✓ \u00e9\ud83d\ude00"}}"#),
            format!(r#"{{"issuers":[{{{iss}}}],"realm":"\ud800"}}"#),
            format!(r#"{{"issuers":[{{{iss}}}],"realm":"\udc00x"}}"#),
            format!(r#"{{"issuers":[{{{iss}}}],"realm":"\x"}}"#),
            format!(r#"{{"issuers":[{{{iss}}}],"realm":"a\u00"}}"#),
            format!("{{\"issuers\":[{{{iss}}}],\"realm\":\"tab\there\"}}"),
            format!(r#"{{"issuers":[{{{iss},"claim_values":{{"ü\u00fc":"é","n":1.5e300}}}}]}}"#),
            format!(r#"{{"issuers":[{{{iss},"leeway":1e400}}]}}"#),
            r#"{"räalm":"x"}"#.to_string(),
            r#"{"realm":"x""#.to_string(),
            "{\"realm\":\"é".to_string(),
            r#"{"routes":[{"path":"/ä/{id}","access":"anonymous"}]}"#.to_string(),
        ];
        for text in &cases {
            let by_str = serde_json::from_str::<Config>(text);
            let by_bytes = serde_json::from_slice::<Config>(text.as_bytes());
            match (by_str, by_bytes) {
                (Ok(a), Ok(b)) => assert_eq!(a, b, "{text}"),
                (Err(a), Err(b)) => {
                    assert_eq!(a.to_string(), b.to_string(), "{text}");
                    assert_eq!((a.line(), a.column()), (b.line(), b.column()), "{text}");
                }
                (a, b) => panic!("{text}: {a:?} / {b:?}"),
            }
        }
    }

    #[test]
    fn wrong_types_name_the_field() {
        let e = Config::parse("[token]\nmax_size = \"big\"\n").unwrap_err();
        assert_eq!(e.0[0].field, "token.max_size");
        let e = Config::parse(r#"{"routes":[{"path":"/a","access":"maybe"}]}"#).unwrap_err();
        assert_eq!(e.0[0].field, "routes[0].access");
    }

    #[test]
    fn semantic_errors_are_all_reported() {
        let f = fields(
            r#"{
            "issuers":[{"issuer":"http://idp.example.com","audiences":[],"algorithms":["RS256","none","HS256"]}],
            "token":{"max_size":10},
            "headers":{"subject":"Authorization","claims":{"email":"x-auth-subject"}},
            "routes":[{"path":"/users/{id}/**/x","owner":{"user":"sub"}},{"path":"/a","access":"anonymous","scopes":{"all":["a"]}}],
            "api_tokens":[{"name":"ci","sha256":"abc"}]
        }"#,
        );
        for want in [
            "issuers[0].issuer",
            "issuers[0].audiences",
            "issuers[0].algorithms[1]",
            "issuers[0].hmac_secret",
            "token.max_size",
            "headers.subject",
            "routes[0].path",
            "routes[1].access",
            "api_tokens[0].sha256",
        ] {
            assert!(f.iter().any(|x| x == want), "missing {want} in {f:?}");
        }
    }

    #[test]
    fn durations_are_bounded() {
        for (text, field) in [
            (
                r#"{"keys": {"max_ttl": 9223372036854775808}}"#,
                "keys.max_ttl",
            ),
            (
                r#"{"keys": {"stale_if_error": 18446744073709551615}}"#,
                "keys.stale_if_error",
            ),
            (
                r#"{"keys": {"fetch_timeout": 9223372036854775807}}"#,
                "keys.fetch_timeout",
            ),
            (
                r#"{"keys": {"refetch_cooldown": 9223372036854775807}}"#,
                "keys.refetch_cooldown",
            ),
            (r#"{"cache": {"ttl": 9223372036854775807}}"#, "cache.ttl"),
            (
                r#"{"cache": {"negative_ttl": 99999999999}}"#,
                "cache.negative_ttl",
            ),
        ] {
            assert!(
                fields(text).contains(&field.to_string()),
                "{text}: {:?}",
                fields(text)
            );
        }
        let text = "[[issuers]]\nissuer = \"https://i/\"\naudiences = [\"a\"]\nmax_age = 9223372036854775807\n";
        assert_eq!(fields(text), ["issuers[0].max_age"]);
    }

    #[test]
    fn the_old_preflight_switch_names_its_replacement() {
        let e = Config::parse("[policy]\npreflight = true\n").unwrap_err();
        assert_eq!(e.0[0].field, "policy.preflight");
        assert!(e.0[0].message.contains("[cors]"), "{}", e.0[0].message);
    }

    #[test]
    fn cors_settings_are_checked() {
        assert!(Config::parse("[cors]\nallowed_origins = [\"https://app.example.com\"]\n").is_ok());
        assert!(Config::parse("[cors]\nallowed_origins = [\"http://localhost:3000\"]\n").is_ok());
        assert_eq!(fields("[cors]\n"), ["cors.allowed_origins"]);
        assert_eq!(
            fields("[cors]\nallowed_origins = [\"https://app.example.com/\"]\n"),
            ["cors.allowed_origins[0]"]
        );
        assert_eq!(
            fields("[cors]\nallowed_origins = [\"*\"]\nallow_credentials = true\n"),
            ["cors.allow_credentials"]
        );
        assert_eq!(
            fields("[cors]\nallowed_origins = [\"*\"]\nallowed_methods = [\"get\"]\n"),
            ["cors.allowed_methods[0]"]
        );
    }

    #[test]
    fn loopback_http_is_allowed() {
        for ok in [
            "http://127.0.0.1:8080",
            "http://localhost/realms/x",
            "https://login.example.com/t/v2.0",
        ] {
            let text = format!("[[issuers]]\nissuer = \"{ok}\"\naudiences = [\"a\"]\n");
            assert!(Config::parse(&text).is_ok(), "{ok}");
        }
        for bad in [
            "http://localhost.evil.com/",
            "ftp://x",
            "https:///x",
            "http://10.0.0.1",
            "http://127.attacker.example/",
            "http://127.0.0.1@attacker.example/",
            "http://127.0.0.1.nip.io/",
            "http://127.0.0.256/",
            "https://user:pw@idp.example/",
            "https://idp.example/#x",
            "https://idp.example:/",
        ] {
            let text = format!("[[issuers]]\nissuer = \"{bad}\"\naudiences = [\"a\"]\n");
            assert!(Config::parse(&text).is_err(), "{bad}");
        }
    }

    #[test]
    fn duplicate_header_names_are_refused() {
        let f = fields("[headers]\nissuer = \"x-auth-subject\"\n");
        assert_eq!(f, ["headers.issuer"]);
    }

    #[test]
    fn serializes_with_defaults_filled_in() {
        let c =
            Config::parse("[[issuers]]\nissuer = \"https://a/\"\naudiences = [\"x\"]\n").unwrap();
        let json = serde_json::to_string(&c).unwrap();
        assert_eq!(Config::from_json(&json).unwrap(), c);
    }
}
