//! Route policy: ordered routes (methods + path pattern) → requirement.
//!
//! Paths are checked strictly before matching: a policy keyed on `/admin`
//! must not be walked around with `/public/../admin`, `/%61dmin` or
//! `/admin%2Fx`, which an origin may normalise differently than we match.
//! Such paths are refused (400) rather than guessed at.
//!
//! Letter case: origins differ (Express and ASP.NET route `/Admin` to an
//! `/admin` handler, most others do not), so a request is matched twice, by
//! exact literals and by case-folded ones, and must meet the requirements of
//! both routes found ([`Policy::matches`]). The gate never applies a weaker
//! requirement than either kind of origin router would.

use crate::config::{Access, ConfigError, ConfigErrors, Need, RouteConfig};
use crate::decision::{IdentityKind, Reason};
use crate::json::{claim_at, claim_strings};
use crate::token::percent_decode;

/// One segment of a path pattern.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Segment {
    /// The literal and its case fold.
    Literal(String, String),
    Param(String),
    Star,
    Rest,
}

/// A compiled path pattern: `/users/{id}/files/*/**`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pattern(Vec<Segment>);

impl Pattern {
    /// Parses a pattern; `**` is allowed only as the last segment.
    pub fn parse(pattern: &str) -> Result<Pattern, String> {
        let rest = pattern.strip_prefix('/').ok_or("must start with /")?;
        let mut out = Vec::new();
        if rest.is_empty() {
            return Ok(Pattern(out));
        }
        let parts: Vec<&str> = rest.split('/').collect();
        for (i, part) in parts.iter().enumerate() {
            let seg = match *part {
                "" => return Err("empty segment (//) in pattern".into()),
                "**" if i + 1 == parts.len() => Segment::Rest,
                "**" => return Err("** is only allowed as the last segment".into()),
                "*" => Segment::Star,
                p if p.starts_with('{') && p.ends_with('}') => {
                    let name = &p[1..p.len() - 1];
                    if name.is_empty()
                        || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
                    {
                        return Err(format!("bad parameter name in {p}"));
                    }
                    if out
                        .iter()
                        .any(|s| matches!(s, Segment::Param(n) if n == name))
                    {
                        return Err(format!("parameter {p} appears twice"));
                    }
                    Segment::Param(name.into())
                }
                p if p.contains(['{', '}', '*', '?', '#', '%']) => {
                    return Err(format!(
                        "segment \"{p}\" mixes literal text with * {{}} ? # or %"
                    ));
                }
                "." | ".." => return Err("dot segments are not allowed".into()),
                p => Segment::Literal(p.into(), fold(p)),
            };
            out.push(seg);
        }
        Ok(Pattern(out))
    }

    /// Whether the pattern captures `{name}`.
    pub fn has_param(&self, name: &str) -> bool {
        self.0
            .iter()
            .any(|s| matches!(s, Segment::Param(n) if n == name))
    }

    /// Matches decoded path segments, returning captured parameters (as
    /// sent, also when matching case-folded). `folded`: the case folds of
    /// `path`, to compare literals case-insensitively; `None`: exactly.
    fn matches<'p>(
        &self,
        path: &'p [String],
        folded: Option<&[String]>,
    ) -> Option<Vec<(&str, &'p str)>> {
        let mut params = Vec::new();
        for (i, seg) in self.0.iter().enumerate() {
            match seg {
                Segment::Rest => return Some(params),
                _ if i >= path.len() => return None,
                Segment::Literal(l, lf) => {
                    let same = match folded {
                        None => *l == path[i],
                        Some(f) => *lf == f[i],
                    };
                    if !same {
                        return None;
                    }
                }
                Segment::Star => {}
                Segment::Param(name) => params.push((name.as_str(), path[i].as_str())),
            }
        }
        (self.0.len() == path.len()).then_some(params)
    }
}

/// A case fold wide enough for every router's case-insensitive mode: ASCII,
/// Unicode lowercase, and the letters whose uppercase folds further (`ſ`,
/// the Kelvin sign, `ß`). Folding more than a router does only makes the
/// gate stricter (more routes apply), never weaker.
///
/// It is `s.to_uppercase().to_lowercase()`, computed from smaller tables
/// (`casefold.rs`).
pub fn fold(s: &str) -> String {
    crate::casefold::fold(s)
}

/// Splits and percent-decodes a request path (query already removed),
/// refusing anything ambiguous: dot segments, empty segments, encoded `/` or
/// `\`, `;` (path parameters, which servlet containers strip before routing:
/// `/admin;x` is `/admin` to them), control bytes, invalid escapes or UTF-8.
/// One trailing slash is ignored for matching (`/orders/` is `/orders`).
pub fn split_path(path: &str) -> Result<Vec<String>, &'static str> {
    let rest = path.strip_prefix('/').ok_or("path does not start with /")?;
    if rest.starts_with('/') {
        return Err("empty path segment (//)");
    }
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    if rest.is_empty() {
        return Ok(Vec::new());
    }
    rest.split('/')
        .map(|raw| {
            let seg = percent_decode(raw, false).ok_or("bad percent escape or non-UTF-8 path")?;
            if seg.is_empty() {
                return Err("empty path segment (//)");
            }
            if seg == "." || seg == ".." {
                return Err("dot segment in path");
            }
            if seg.contains(['/', '\\']) || seg.bytes().any(|b| b < 0x20 || b == 0x7f) {
                return Err("encoded slash, backslash or control character in path");
            }
            if seg.contains(';') {
                return Err("path parameter (;) in path");
            }
            Ok(seg)
        })
        .collect()
}

/// A compiled route.
#[derive(Clone, Debug)]
pub struct Route {
    /// Index in the configuration (for logs: `routes[3]`).
    pub index: usize,
    methods: Vec<String>,
    pattern: Pattern,
    /// The requirement.
    pub config: RouteConfig,
}

/// The outcome of matching a request to the routes.
#[derive(Clone, Debug)]
pub struct RouteMatch<'r> {
    /// The matched route, or `None` for the default.
    pub route: Option<&'r Route>,
    /// Access asked for.
    pub access: Access,
    /// Captured `{name}` parameters, decoded.
    pub params: Vec<(&'r str, String)>,
}

/// Ordered routes plus the default for unmatched requests.
#[derive(Clone, Debug)]
pub struct Policy {
    routes: Vec<Route>,
    default: Access,
    /// Some route literal is not its own case fold (`/Reports`).
    cased_literals: bool,
}

impl Policy {
    /// Compiles validated route configs.
    pub fn new(routes: &[RouteConfig], default: Access) -> Result<Policy, String> {
        let routes = routes
            .iter()
            .enumerate()
            .map(|(index, r)| {
                Ok(Route {
                    index,
                    methods: r.methods.clone(),
                    pattern: Pattern::parse(&r.path)
                        .map_err(|e| format!("routes[{index}].path: {e}"))?,
                    config: r.clone(),
                })
            })
            .collect::<Result<Vec<Route>, String>>()?;
        let cased_literals = routes.iter().any(|r| {
            r.pattern
                .0
                .iter()
                .any(|s| matches!(s, Segment::Literal(l, f) if l != f))
        });
        Ok(Policy {
            routes,
            default,
            cased_literals,
        })
    }

    /// The first route matching `method` (uppercase) and the decoded
    /// `segments`, comparing literals exactly.
    pub fn route<'r>(&'r self, method: &str, segments: &[String]) -> RouteMatch<'r> {
        self.first(method, segments, None)
    }

    /// Every requirement that applies to a request: the first route by exact
    /// literals, and, when it differs, the first by case-folded literals
    /// (what a case-insensitive origin router would pick). The request must
    /// satisfy all of them.
    pub fn matches<'r>(&'r self, method: &str, segments: &[String]) -> Vec<RouteMatch<'r>> {
        let exact = self.first(method, segments, None);
        let folds: Vec<String> = segments.iter().map(|s| fold(s)).collect();
        if folds == segments && !self.cased_literals {
            return vec![exact];
        }
        let folded = self.first(method, segments, Some(&folds));
        let same = match (exact.route, folded.route) {
            (Some(a), Some(b)) => a.index == b.index,
            (None, None) => true,
            _ => false,
        };
        if same {
            vec![exact]
        } else {
            vec![exact, folded]
        }
    }

    fn first<'r>(
        &'r self,
        method: &str,
        segments: &[String],
        folded: Option<&[String]>,
    ) -> RouteMatch<'r> {
        for r in &self.routes {
            // A route for GET also serves HEAD, as HTTP servers do.
            let listed = |m: &str| r.methods.iter().any(|x| x == m);
            let serves =
                r.methods.is_empty() || listed(method) || (method == "HEAD" && listed("GET"));
            if !serves {
                continue;
            }
            if let Some(params) = r.pattern.matches(segments, folded) {
                return RouteMatch {
                    route: Some(r),
                    access: r.config.access,
                    params: params.into_iter().map(|(k, v)| (k, v.to_owned())).collect(),
                };
            }
        }
        RouteMatch {
            route: None,
            access: self.default,
            params: Vec::new(),
        }
    }
}

/// What the policy knows about the caller.
pub struct Subject<'a> {
    /// Granted scopes.
    pub scopes: &'a [String],
    /// Granted roles.
    pub roles: &'a [String],
    /// Granted permissions.
    pub permissions: &'a [String],
    /// Tenant, when the issuer has a tenant claim.
    pub tenant: Option<&'a str>,
    /// All claims (JWT) or `None` (static API token).
    pub claims: Option<&'a serde_json::Value>,
}

/// A denial by the route's requirements.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    /// Stable reason.
    pub reason: Reason,
    /// Human-readable detail (what was needed).
    pub detail: String,
    /// The scopes that would satisfy the route, for `WWW-Authenticate`.
    pub scope: Option<String>,
}

fn need_met(need: &Need, have: &[String]) -> bool {
    let has = |x: &String| have.iter().any(|h| h == x);
    need.all.iter().all(has) && (need.any.is_empty() || need.any.iter().any(has))
}

fn describe(kind: &str, need: &Need) -> String {
    let mut parts = Vec::new();
    if !need.all.is_empty() {
        parts.push(format!("all of [{}]", need.all.join(", ")));
    }
    if !need.any.is_empty() {
        parts.push(format!("one of [{}]", need.any.join(", ")));
    }
    format!("requires {kind} {}", parts.join(" and "))
}

/// Checks a matched route's requirements against the caller.
pub fn evaluate(m: &RouteMatch, who: &Subject) -> Result<(), Refusal> {
    let Some(route) = m.route else { return Ok(()) };
    let r = &route.config;
    if !need_met(&r.scopes, who.scopes) {
        let mut scope: Vec<&str> = r.scopes.all.iter().map(String::as_str).collect();
        scope.extend(r.scopes.any.iter().map(String::as_str));
        return Err(Refusal {
            reason: Reason::ScopeMissing,
            detail: describe("scopes", &r.scopes),
            scope: Some(scope.join(" ")),
        });
    }
    for (need, have, reason, kind) in [
        (&r.roles, who.roles, Reason::RoleMissing, "roles"),
        (
            &r.permissions,
            who.permissions,
            Reason::PermissionMissing,
            "permissions",
        ),
    ] {
        if !need_met(need, have) {
            return Err(Refusal {
                reason,
                detail: describe(kind, need),
                scope: None,
            });
        }
    }
    if !r.tenants.is_empty() && !who.tenant.is_some_and(|t| r.tenants.iter().any(|x| x == t)) {
        return Err(Refusal {
            reason: Reason::TenantNotAllowed,
            detail: "the token's tenant is not allowed on this route".into(),
            scope: None,
        });
    }
    for (param, claim) in &r.owner {
        let value = m
            .params
            .iter()
            .find(|(k, _)| k == param)
            .map(|(_, v)| v.as_str());
        let owner = claim_text(who.claims.and_then(|c| claim_at(c, claim)));
        let same = matches!((value, owner), (Some(v), Some(o)) if v == o);
        if !same {
            return Err(Refusal {
                reason: Reason::OwnerMismatch,
                detail: format!("path parameter {{{param}}} must equal the token's {claim} claim"),
                scope: None,
            });
        }
    }
    Ok(())
}

/// A claim as the text that names one caller: a string, or an exact
/// integer in decimal. Other numbers (`1e20`, `1.5`) and other types are not.
pub fn claim_text(v: Option<&serde_json::Value>) -> Option<String> {
    match v? {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Number(n) if n.is_i64() || n.is_u64() => Some(n.to_string()),
        _ => None,
    }
}

/// Collects the strings at each claim path (deduplicated, in order).
pub fn gather(claims: &serde_json::Value, paths: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for p in paths {
        for s in claim_strings(claim_at(claims, p)) {
            if !out.iter().any(|o| o == s) {
                out.push(s.to_owned());
            }
        }
    }
    out
}

/// A route's requirements stated in code rather than in the routes table:
/// what the npm package's `gate.require({...})` mounts on a framework's own
/// route (Express, Hono, Fastify). The keys of a `[[routes]]` entry that say
/// what a caller must hold, with the same meaning and the same reasons;
/// `path`, `methods` and `access` are not among them (the framework routes),
/// and `owner` reads the framework's path parameters. A requirement always
/// asks for a verified caller: an anonymous one is `token_missing`.
///
/// ```
/// use edgeward::policy::Requirement;
/// let r = Requirement::from_json(r#"{"scopes": {"all": ["orders:write"]}}"#).unwrap();
/// let e = Requirement::from_json(r#"{"scopes": {"al": ["x"]}}"#).unwrap_err();
/// assert_eq!(e.0[0].field, "scopes.al");
/// # let _ = r;
/// ```
#[derive(Clone, Debug)]
pub struct Requirement(Route);

/// The keys [`Requirement`] reads (a `[[routes]]` entry's requirements).
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RequirementConfig {
    #[serde(default)]
    scopes: Need,
    #[serde(default)]
    roles: Need,
    #[serde(default)]
    permissions: Need,
    #[serde(default)]
    tenants: Vec<String>,
    #[serde(default)]
    owner: std::collections::BTreeMap<String, String>,
    #[serde(default = "accept_api_tokens")]
    api_tokens: bool,
}

fn accept_api_tokens() -> bool {
    true
}

impl Requirement {
    /// Parses and validates a requirement from JSON. Errors name the field
    /// (`scopes.all`, `owner.user`); a route-table key (`path`, `methods`,
    /// `access`, `forward_preflight`) is refused with a word on where it
    /// belongs.
    pub fn from_json(text: &str) -> Result<Requirement, ConfigErrors> {
        let one = |field: &str, message: String| {
            ConfigErrors(vec![ConfigError {
                field: if field.is_empty() {
                    ".".into()
                } else {
                    field.into()
                },
                message,
            }])
        };
        if let Ok(serde_json::Value::Object(map)) = serde_json::from_str(text) {
            for key in ["path", "methods", "access", "forward_preflight"] {
                if map.contains_key(key) {
                    return Err(one(key, "a requirement applies to the framework route it is mounted on; path, methods, access and forward_preflight belong in [[routes]]".into()));
                }
            }
        }
        let de = &mut serde_json::Deserializer::from_str(text);
        let c: RequirementConfig = serde_path_to_error::deserialize(de).map_err(|e| {
            let field = e.path().to_string();
            let message = e.into_inner().to_string();
            // serde_json's positions point into JSON the caller never wrote.
            let message = match message.find(" at line ") {
                Some(i) => message[..i].to_string(),
                None => message,
            };
            one(&field, message)
        })?;
        let mut errors = Vec::new();
        for (param, claim) in &c.owner {
            if param.is_empty()
                || !param
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_')
            {
                errors.push(ConfigError {
                    field: "owner".into(),
                    message: format!("{param:?} is not a path parameter name (letters, digits, _)"),
                });
            }
            if claim.is_empty() {
                errors.push(ConfigError {
                    field: format!("owner.{param}"),
                    message: "claim paths must not be empty".into(),
                });
            }
        }
        if !errors.is_empty() {
            return Err(ConfigErrors(errors));
        }
        Ok(Requirement(Route {
            index: 0,
            methods: Vec::new(),
            pattern: Pattern(vec![Segment::Rest]),
            config: RouteConfig {
                path: "/**".into(),
                methods: Vec::new(),
                access: Access::Authenticated,
                scopes: c.scopes,
                roles: c.roles,
                permissions: c.permissions,
                tenants: c.tenants,
                owner: c.owner,
                api_tokens: c.api_tokens,
                forward_preflight: false,
            },
        }))
    }

    /// Checks a caller, in the order the gate checks a route: a verified
    /// caller (`token_missing`), `api_tokens` (`api_token_not_allowed`),
    /// then [`evaluate`]'s scopes, roles, permissions, tenants and owner.
    /// `params`: the framework's path parameters, decoded; an `owner`
    /// parameter the framework did not capture fails (`owner_mismatch`).
    pub fn check(
        &self,
        kind: IdentityKind,
        who: &Subject,
        params: &[(&str, String)],
    ) -> Result<(), Refusal> {
        let refuse = |reason, detail: &str| Refusal {
            reason,
            detail: detail.into(),
            scope: None,
        };
        match kind {
            IdentityKind::Anonymous => {
                return Err(refuse(
                    Reason::TokenMissing,
                    "this route needs an access token",
                ))
            }
            IdentityKind::ApiToken if !self.0.config.api_tokens => {
                return Err(refuse(
                    Reason::ApiTokenNotAllowed,
                    "this route does not accept API tokens",
                ))
            }
            _ => {}
        }
        let m = RouteMatch {
            route: Some(&self.0),
            access: Access::Authenticated,
            params: params.iter().map(|(k, v)| (*k, v.clone())).collect(),
        };
        evaluate(&m, who)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn segs(p: &str) -> Vec<String> {
        split_path(p).unwrap()
    }

    impl Pattern {
        fn matches_exact<'p>(&self, path: &'p [String]) -> Option<Vec<(&str, &'p str)>> {
            self.matches(path, None)
        }
    }

    #[test]
    fn case_folded_routes_also_apply() {
        let routes: Vec<RouteConfig> = serde_json::from_value(json!([
            {"path": "/admin/**", "roles": {"all": ["admin"]}},
            {"path": "/Reports/**", "scopes": {"all": ["reports"]}},
            {"path": "/**", "access": "anonymous"},
        ]))
        .unwrap();
        let p = Policy::new(&routes, Access::Deny).unwrap();
        let idx = |path: &str| -> Vec<Option<usize>> {
            p.matches("GET", &segs(path))
                .iter()
                .map(|m| m.route.map(|r| r.index))
                .collect()
        };
        assert_eq!(idx("/admin/users"), [Some(0)]);
        // A case-insensitive origin runs the /admin handler for /Admin.
        assert_eq!(idx("/Admin/users"), [Some(2), Some(0)]);
        assert_eq!(idx("/ADMIN"), [Some(2), Some(0)]);
        assert_eq!(idx("/Reports/q1"), [Some(1)]);
        assert_eq!(idx("/reports/q1"), [Some(2), Some(1)]);
        assert_eq!(idx("/public/x"), [Some(2)]);
        // Parameters are captured as sent, not folded.
        let routes: Vec<RouteConfig> = serde_json::from_value(json!([
            {"path": "/users/{user}", "owner": {"user": "sub"}},
        ]))
        .unwrap();
        let p = Policy::new(&routes, Access::Anonymous).unwrap();
        let m = p.matches("GET", &segs("/Users/Alice"));
        assert_eq!(m.len(), 2);
        assert_eq!(m[1].params, [("user", "Alice".to_string())]);
        // Unicode letters fold too (ſ → s, K (Kelvin) → k).
        assert_eq!(fold("ſECRET\u{212A}"), "secretk");
    }

    #[test]
    fn patterns() {
        let p = Pattern::parse("/users/{id}/files/*").unwrap();
        assert_eq!(
            p.matches_exact(&segs("/users/42/files/a")).unwrap(),
            [("id", "42")]
        );
        assert!(p.matches_exact(&segs("/users/42/files")).is_none());
        assert!(p.matches_exact(&segs("/users/42/files/a/b")).is_none());
        let rest = Pattern::parse("/api/**").unwrap();
        assert!(rest.matches_exact(&segs("/api")).is_some());
        assert!(rest.matches_exact(&segs("/api/a/b/c")).is_some());
        assert!(rest.matches_exact(&segs("/apix")).is_none());
        let root = Pattern::parse("/").unwrap();
        assert!(root.matches_exact(&segs("/")).is_some());
        assert!(root.matches_exact(&segs("/a")).is_none());
        assert!(Pattern::parse("/**")
            .unwrap()
            .matches_exact(&segs("/"))
            .is_some());
    }

    #[test]
    fn bad_patterns() {
        for bad in [
            "users", "/a//b", "/**/a", "/{}", "/{a}/{a}", "/a*", "/../x", "/{a-b}",
        ] {
            assert!(Pattern::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn ambiguous_paths_are_refused() {
        for bad in [
            "/a/../admin",
            "/a/./b",
            "/a//b",
            "/admin%2Fx",
            "/a%5cb",
            "/%2e%2e/admin",
            "/a%",
            "/a%zz",
            "/a%+5",
            "/%ff",
            "/a%00",
            "x",
        ] {
            assert!(split_path(bad).is_err(), "{bad}");
        }
        assert_eq!(segs("/%61dmin/x%20y"), ["admin", "x y"]);
    }

    #[test]
    fn one_trailing_slash_is_ignored() {
        assert_eq!(segs("/a/b/"), ["a", "b"]);
        assert_eq!(segs("/"), Vec::<String>::new());
        assert!(split_path("/a/b//").is_err());
        assert!(split_path("//").is_err());
    }

    #[test]
    fn path_parameters_are_refused() {
        assert!(split_path("/admin;jsessionid=1/x").is_err());
        assert!(split_path("/admin%3bx").is_err());
    }

    #[test]
    fn first_match_wins_and_methods_filter() {
        let routes: Vec<RouteConfig> = serde_json::from_value(json!([
            {"path": "/health", "access": "anonymous"},
            {"path": "/items/**", "methods": ["POST"], "scopes": {"all": ["items:write"]}},
            {"path": "/items/**"},
        ]))
        .unwrap();
        let p = Policy::new(&routes, Access::Deny).unwrap();
        assert_eq!(p.route("GET", &segs("/health")).access, Access::Anonymous);
        assert_eq!(p.route("POST", &segs("/items/1")).route.unwrap().index, 1);
        assert_eq!(p.route("HEAD", &segs("/items/1")).route.unwrap().index, 2);
        assert_eq!(p.route("GET", &segs("/items/1")).route.unwrap().index, 2);
        let none = p.route("GET", &segs("/other"));
        assert!(none.route.is_none());
        assert_eq!(none.access, Access::Deny);
    }

    fn check(route: serde_json::Value, path: &str, who: &Subject) -> Result<(), Refusal> {
        let routes: Vec<RouteConfig> = serde_json::from_value(json!([route])).unwrap();
        let p = Policy::new(&routes, Access::Deny).unwrap();
        let s = segs(path);
        let m = p.route("GET", &s);
        assert!(m.route.is_some());
        evaluate(&m, who)
    }

    #[test]
    fn requirements() {
        let claims = json!({"sub": "alice", "uid": 7});
        let scopes = vec!["read".to_string(), "write".to_string()];
        let roles = vec!["admin".to_string()];
        let who = Subject {
            scopes: &scopes,
            roles: &roles,
            permissions: &[],
            tenant: Some("t1"),
            claims: Some(&claims),
        };
        assert!(check(
            json!({"path": "/x", "scopes": {"all": ["read", "write"]}}),
            "/x",
            &who
        )
        .is_ok());
        let r = check(
            json!({"path": "/x", "scopes": {"all": ["read", "admin"]}}),
            "/x",
            &who,
        )
        .unwrap_err();
        assert_eq!(r.reason, Reason::ScopeMissing);
        assert_eq!(r.scope.as_deref(), Some("read admin"));
        assert!(check(
            json!({"path": "/x", "scopes": {"any": ["nope", "write"]}}),
            "/x",
            &who
        )
        .is_ok());
        assert!(check(
            json!({"path": "/x", "scopes": {"any": ["nope"]}}),
            "/x",
            &who
        )
        .is_err());
        assert!(check(
            json!({"path": "/x", "roles": {"any": ["admin"]}}),
            "/x",
            &who
        )
        .is_ok());
        assert_eq!(
            check(
                json!({"path": "/x", "roles": {"all": ["root"]}}),
                "/x",
                &who
            )
            .unwrap_err()
            .reason,
            Reason::RoleMissing
        );
        assert_eq!(
            check(
                json!({"path": "/x", "permissions": {"all": ["p"]}}),
                "/x",
                &who
            )
            .unwrap_err()
            .reason,
            Reason::PermissionMissing
        );
        assert!(check(json!({"path": "/x", "tenants": ["t1"]}), "/x", &who).is_ok());
        assert_eq!(
            check(json!({"path": "/x", "tenants": ["t2"]}), "/x", &who)
                .unwrap_err()
                .reason,
            Reason::TenantNotAllowed
        );
        assert!(check(
            json!({"path": "/u/{user}/**", "owner": {"user": "sub"}}),
            "/u/alice/docs",
            &who
        )
        .is_ok());
        assert!(check(
            json!({"path": "/n/{id}", "owner": {"id": "uid"}}),
            "/n/7",
            &who
        )
        .is_ok());
        assert_eq!(
            check(
                json!({"path": "/u/{user}/**", "owner": {"user": "sub"}}),
                "/u/bob/docs",
                &who
            )
            .unwrap_err()
            .reason,
            Reason::OwnerMismatch
        );
        let api = Subject {
            scopes: &scopes,
            roles: &[],
            permissions: &[],
            tenant: None,
            claims: None,
        };
        assert_eq!(
            check(
                json!({"path": "/u/{user}", "owner": {"user": "sub"}}),
                "/u/alice",
                &api
            )
            .unwrap_err()
            .reason,
            Reason::OwnerMismatch
        );
    }

    #[test]
    fn gather_dedups_across_paths() {
        let c = json!({"scope": "a b", "scp": ["b", "c"]});
        assert_eq!(gather(&c, &["scope".into(), "scp".into()]), ["a", "b", "c"]);
    }
    #[test]
    fn requirements_in_code_mean_what_routes_mean() {
        let r = Requirement::from_json(
            r#"{"scopes": {"all": ["orders:write"]}, "owner": {"user": "sub"}, "api_tokens": false}"#,
        )
        .unwrap();
        let claims = json!({"sub": "alice"});
        let scopes = vec!["orders:write".to_string()];
        let subject = Subject {
            scopes: &scopes,
            roles: &[],
            permissions: &[],
            tenant: None,
            claims: Some(&claims),
        };
        let alice = [("user", "alice".to_string())];
        assert_eq!(r.check(IdentityKind::Jwt, &subject, &alice), Ok(()));
        let bob = [("user", "bob".to_string())];
        let e = r.check(IdentityKind::Jwt, &subject, &bob).unwrap_err();
        assert_eq!(e.reason, Reason::OwnerMismatch);
        // A parameter the framework did not capture fails closed.
        let e = r.check(IdentityKind::Jwt, &subject, &[]).unwrap_err();
        assert_eq!(e.reason, Reason::OwnerMismatch);
        let none = Subject {
            scopes: &[],
            ..subject
        };
        let e = r.check(IdentityKind::Jwt, &none, &alice).unwrap_err();
        assert_eq!(e.reason, Reason::ScopeMissing);
        assert_eq!(e.scope.as_deref(), Some("orders:write"));
        let e = r
            .check(IdentityKind::ApiToken, &subject, &alice)
            .unwrap_err();
        assert_eq!(e.reason, Reason::ApiTokenNotAllowed);
        let e = r
            .check(IdentityKind::Anonymous, &subject, &alice)
            .unwrap_err();
        assert_eq!(e.reason, Reason::TokenMissing);
    }

    #[test]
    fn requirements_in_code_name_the_field_at_fault() {
        let field = |j: &str| Requirement::from_json(j).unwrap_err().0[0].field.clone();
        assert_eq!(field(r#"{"scopes": {"all": "x"}}"#), "scopes.all");
        assert_eq!(field(r#"{"roles": {"some": ["x"]}}"#), "roles.some");
        assert_eq!(field(r#"{"path": "/x"}"#), "path");
        assert_eq!(field(r#"{"scope": {"all": ["x"]}}"#), "scope");
        assert_eq!(field(r#"{"owner": {"user": ""}}"#), "owner.user");
        assert_eq!(field(r#"{"owner": {"a-b": "sub"}}"#), "owner");
        assert!(Requirement::from_json("{}").is_ok());
    }
}
