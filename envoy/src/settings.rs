//! The plugin configuration: the edgeward configuration every host reads,
//! plus what only Envoy needs (which cluster reaches which IdP origin, and
//! which signature backend to use). JSON, in the filter's
//! `plugin_config.configuration`; every error names its field.
//!
//! ```json
//! {
//!   "edgeward": { "issuers": [...], "routes": [...] },
//!   "clusters": { "https://login.example.com": "idp" },
//!   "crypto": "auto"
//! }
//! ```

use edgeward::Config;
use serde::Deserialize;
use std::collections::BTreeMap;

/// Which signature backend verifies RS* and ES*.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Crypto {
    /// Envoy's `verify_signature` when its self-test passes, else ring.
    #[default]
    Auto,
    /// Envoy's `verify_signature`, or the configuration is refused.
    Envoy,
    /// ring compiled into the filter (the reference; ~10x slower). Needs
    /// the `ring-ecdsa` build feature (ring has no ES256/ES384 without it).
    Ring,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    edgeward: serde_json::Value,
    #[serde(default)]
    clusters: BTreeMap<String, String>,
    #[serde(default)]
    crypto: Crypto,
}

/// A validated plugin configuration.
#[derive(Debug)]
pub struct Settings {
    /// The gate's configuration (the root context moves it into the gate).
    pub config: Config,
    /// IdP origin (`https://host[:port]`) → Envoy cluster name.
    pub clusters: BTreeMap<String, String>,
    /// The backend choice.
    pub crypto: Crypto,
}

/// Why ring alone cannot verify in this build; `{choice}` is the setting.
pub const NO_RING_ECDSA: &str = "crypto: {choice} would leave ES256/ES384 unverifiable: this filter is built without ring's ECDSA (Envoy's verify_signature does it); use \"envoy\", or build the filter with `--features ring-ecdsa`";

/// A problem with the plugin configuration, naming the field.
pub type Problems = Vec<String>;

impl Settings {
    /// Parses and checks the plugin configuration.
    pub fn parse(text: &[u8]) -> Result<Settings, Problems> {
        let raw: Raw = serde_json::from_slice(text).map_err(|e| {
            vec![format!(
                "configuration: {e} (expected JSON {{\"edgeward\": {{...}}, \"clusters\": {{origin: cluster}}, \"crypto\": \"auto\"|\"envoy\"|\"ring\"}})"
            )]
        })?;
        let config = Config::from_json(&raw.edgeward.to_string()).map_err(|errors| {
            errors
                .0
                .iter()
                .map(|e| format!("edgeward.{}: {}", e.field, e.message))
                .collect::<Vec<_>>()
        })?;
        let mut problems = Vec::new();
        if raw.crypto == Crypto::Ring && !cfg!(feature = "ring-ecdsa") {
            problems.push(NO_RING_ECDSA.replace("{choice}", "\"ring\""));
        }
        let mut clusters = BTreeMap::new();
        for (origin, cluster) in &raw.clusters {
            match origin_of(origin) {
                Some(o) if o == origin.trim_end_matches('/') => {
                    clusters.insert(o, cluster.clone());
                }
                _ => problems.push(format!(
                    "clusters.{origin}: must be an origin like https://login.example.com (scheme, host, optional port)"
                )),
            }
            if cluster.is_empty() {
                problems.push(format!("clusters.{origin}: the cluster name is empty"));
            }
        }
        for (i, iss) in config.issuers.iter().enumerate() {
            let url = iss.jwks_uri.as_deref().unwrap_or(&iss.issuer);
            let field = if iss.jwks_uri.is_some() {
                "jwks_uri"
            } else {
                "issuer"
            };
            match origin_of(url) {
                Some(o) if clusters.contains_key(&o) => {}
                Some(o) => problems.push(format!(
                    "clusters: no cluster for {o} (edgeward.issuers[{i}].{field}); add \"{o}\": \"<cluster name>\" and a cluster that reaches it"
                )),
                None => problems.push(format!("edgeward.issuers[{i}].{field}: not an http(s) URL")),
            }
        }
        if problems.is_empty() {
            Ok(Settings {
                config,
                clusters,
                crypto: raw.crypto,
            })
        } else {
            Err(problems)
        }
    }

    /// The cluster, `:authority` and `:path` for GETting `url`; `Err` names
    /// what to add to `clusters`.
    pub fn route(&self, url: &str) -> Result<(&str, String, String), String> {
        let origin = origin_of(url).ok_or_else(|| format!("{url} is not an http(s) URL"))?;
        let cluster = self.clusters.get(&origin).ok_or_else(|| {
            format!("no cluster for {origin}: add it to the plugin configuration's clusters")
        })?;
        let rest = &url[url.find("://").map_or(0, |i| i + 3)..];
        let (authority, path) = match rest.find(['/', '?']) {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        let path = if path.starts_with('?') {
            format!("/{path}")
        } else {
            path.to_owned()
        };
        Ok((cluster, authority.to_owned(), path))
    }
}

/// `scheme://host[:port]` of an http(s) URL, lowercased, without a
/// default port; `None` for anything else.
pub fn origin_of(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    if scheme != "https" && scheme != "http" {
        return None;
    }
    let authority = rest.split(['/', '?', '#']).next()?.to_ascii_lowercase();
    if authority.is_empty() || authority.contains('@') {
        return None;
    }
    let authority = match authority.rsplit_once(':') {
        Some((h, "443")) if scheme == "https" => h.to_owned(),
        Some((h, "80")) if scheme == "http" => h.to_owned(),
        _ => authority,
    };
    Some(format!("{scheme}://{authority}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"{
        "edgeward": {"issuers": [{"issuer": "https://idp.test/", "audiences": ["api"]}]},
        "clusters": {"https://idp.test": "idp"}
    }"#;

    #[test]
    fn parses_and_routes() {
        let s = Settings::parse(GOOD.as_bytes()).unwrap();
        assert_eq!(s.crypto, Crypto::Auto);
        assert_eq!(
            s.route("https://idp.test/.well-known/openid-configuration")
                .unwrap(),
            (
                "idp",
                "idp.test".to_string(),
                "/.well-known/openid-configuration".to_string()
            )
        );
        assert_eq!(s.route("https://IDP.test:443/k?x=1").unwrap().2, "/k?x=1");
        assert!(s
            .route("https://other.test/k")
            .unwrap_err()
            .contains("no cluster for https://other.test"));
    }

    #[test]
    fn errors_name_the_field() {
        let e = Settings::parse(br#"{"edgeward": {"issuers": [{"issuer": "https://idp.test/"}]}, "clusters": {"https://idp.test": "idp"}}"#).unwrap_err();
        assert!(e[0].starts_with("edgeward.issuers[0].audiences:"), "{e:?}");
        let e = Settings::parse(
            br#"{"edgeward": {"issuers": [{"issuer": "https://idp.test/", "audiences": ["a"]}]}}"#,
        )
        .unwrap_err();
        assert!(
            e[0].starts_with("clusters: no cluster for https://idp.test"),
            "{e:?}"
        );
        let e = Settings::parse(br#"{"edgeward": {}, "cluster": {}}"#).unwrap_err();
        assert!(e[0].contains("unknown field `cluster`"), "{e:?}");
        let e = Settings::parse(br#"{"edgeward": {}, "crypto": "fast"}"#).unwrap_err();
        assert!(e[0].contains("fast"), "{e:?}");
        let e =
            Settings::parse(br#"{"edgeward": {}, "clusters": {"idp.test": "idp"}}"#).unwrap_err();
        assert!(e[0].starts_with("clusters.idp.test:"), "{e:?}");
        let e = Settings::parse(b"not json").unwrap_err();
        assert!(e[0].starts_with("configuration:"), "{e:?}");
    }

    #[test]
    fn ring_only_needs_ring_ecdsa() {
        let got = Settings::parse(br#"{"edgeward": {}, "crypto": "ring"}"#);
        if cfg!(feature = "ring-ecdsa") {
            assert_eq!(got.unwrap().crypto, Crypto::Ring);
        } else {
            let e = got.unwrap_err();
            assert!(
                e[0].starts_with("crypto: \"ring\" would leave ES256/ES384 unverifiable"),
                "{e:?}"
            );
        }
    }

    #[test]
    fn origins() {
        assert_eq!(origin_of("https://a.test:443/x").unwrap(), "https://a.test");
        assert_eq!(
            origin_of("http://127.0.0.1:9411").unwrap(),
            "http://127.0.0.1:9411"
        );
        assert_eq!(origin_of("http://a.test:80/").unwrap(), "http://a.test");
        assert!(origin_of("https://u@a.test/").is_none());
        assert!(origin_of("ftp://a").is_none());
    }
}
