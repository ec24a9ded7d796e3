//! A corpus of configurations, valid and broken in every way serde can
//! refuse (each field missing, of each wrong type, repeated, unknown; each
//! object given as a sequence of every length), with what each one parses
//! to: `cargo test --test config_corpus -- --ignored --nocapture` prints it.
//! Used to show that a change to how the configuration is deserialized
//! keeps every value and every error (message and position): print it
//! before and after, and compare.

use edgeward::Config;
use serde_json::{json, Value};

fn base() -> Value {
    json!({
        "mode": "report-only",
        "realm": "r",
        "issuers": [
            {"issuer": "https://a.test/", "jwks_uri": "https://a.test/k", "audiences": ["x"],
             "audience_claims": ["aud"], "claim_values": {"c": 1}, "algorithms": ["RS256"],
             "leeway": 5, "typ": "at+jwt", "max_age": 9, "required_claims": ["sub"],
             "scope_claims": ["scope"], "role_claims": ["roles"], "permission_claims": ["p"],
             "subject_claim": "sub", "tenant_claim": "tid", "tenants": ["t"], "any_tenant": false,
             "hmac_secret": "s"},
            {"issuer": "https://b.test/", "audiences": ["y"]}
        ],
        "token": {"max_size": 100, "cookie": "c", "header": "h", "query": "q"},
        "keys": {"min_ttl": 1, "max_ttl": 2, "default_ttl": 3, "stale_if_error": 4,
                 "refetch_cooldown": 5, "max_response_bytes": 6, "fetch_timeout": 7},
        "cache": {"ttl": 1, "capacity": 2, "negative_ttl": 3, "negative_capacity": 4},
        "headers": {"preset": "oauth2-proxy", "subject": "s", "issuer": "i", "tenant": "t",
                    "scopes": "sc", "claims": {"email": "x-email"}, "decision": "d",
                    "strip_authorization": true},
        "policy": {"default": "anonymous", "preflight": {"a": [1]}},
        "routes": [
            {"path": "/a", "methods": ["GET"], "access": "optional", "scopes": {"any": ["a"], "all": ["b"]},
             "roles": {"any": ["r"]}, "permissions": {"all": ["p"]}, "tenants": ["t"],
             "owner": {"id": "sub"}, "api_tokens": false, "forward_preflight": true}
        ],
        "api_tokens": [{"name": "n", "sha256": "00", "scopes": ["s"]}],
        "cors": {"allowed_origins": ["https://o.test"], "allowed_methods": ["GET"],
                 "allowed_headers": ["x"], "expose_headers": ["y"], "max_age": 5,
                 "allow_credentials": true},
        "resource": {"identifier": "https://r.test/", "authorization_servers": ["https://a.test/"],
                     "scopes_supported": ["s"], "name": "n", "documentation": "https://d.test/"},
        "assertion": {"audience": "aud", "issuer": "iss", "header": "x-a", "ttl": 30,
                      "jwks_path": "/j", "kid": "k", "key": "secret"}
    })
}

/// Field order of each object, as the structs declare them (for sequences).
fn order(path: &str) -> Option<&'static [&'static str]> {
    let issuer: &[&str] = &[
        "issuer",
        "jwks_uri",
        "audiences",
        "audience_claims",
        "claim_values",
        "algorithms",
        "leeway",
        "typ",
        "max_age",
        "required_claims",
        "scope_claims",
        "role_claims",
        "permission_claims",
        "subject_claim",
        "tenant_claim",
        "tenants",
        "any_tenant",
        "hmac_secret",
    ];
    Some(match path {
        "" => &[
            "mode",
            "realm",
            "issuers",
            "token",
            "keys",
            "cache",
            "headers",
            "policy",
            "routes",
            "api_tokens",
            "cors",
            "resource",
            "assertion",
        ],
        "/issuers/0" | "/issuers/1" => issuer,
        "/token" => &["max_size", "cookie", "header", "query"],
        "/keys" => &[
            "min_ttl",
            "max_ttl",
            "default_ttl",
            "stale_if_error",
            "refetch_cooldown",
            "max_response_bytes",
            "fetch_timeout",
        ],
        "/cache" => &["ttl", "capacity", "negative_ttl", "negative_capacity"],
        "/headers" => &[
            "preset",
            "subject",
            "issuer",
            "tenant",
            "scopes",
            "claims",
            "decision",
            "strip_authorization",
        ],
        "/policy" => &["default", "preflight"],
        "/routes/0" => &[
            "path",
            "methods",
            "access",
            "scopes",
            "roles",
            "permissions",
            "tenants",
            "owner",
            "api_tokens",
            "forward_preflight",
        ],
        "/routes/0/scopes" | "/routes/0/roles" | "/routes/0/permissions" => &["any", "all"],
        "/api_tokens/0" => &["name", "sha256", "scopes"],
        "/cors" => &[
            "allowed_origins",
            "allowed_methods",
            "allowed_headers",
            "expose_headers",
            "max_age",
            "allow_credentials",
        ],
        "/resource" => &[
            "identifier",
            "authorization_servers",
            "scopes_supported",
            "name",
            "documentation",
        ],
        "/assertion" => &[
            "audience",
            "issuer",
            "header",
            "ttl",
            "jwks_path",
            "kid",
            "key",
        ],
        _ => return None,
    })
}

fn objects(v: &Value, path: String, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            if order(&path).is_some() {
                out.push(path.clone());
            }
            for (k, x) in m {
                objects(x, format!("{path}/{k}"), out);
            }
        }
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                objects(x, format!("{path}/{i}"), out);
            }
        }
        _ => {}
    }
}

fn with(base: &Value, path: &str, f: impl FnOnce(&mut Value)) -> Value {
    let mut v = base.clone();
    f(if path.is_empty() {
        &mut v
    } else {
        v.pointer_mut(path).unwrap()
    });
    v
}

fn corpus() -> Vec<String> {
    let base = base();
    let wrong = [
        json!(null),
        json!(true),
        json!(1),
        json!(-1),
        json!(1.5),
        json!(1e300),
        json!(18446744073709551615u64),
        json!("x"),
        json!(""),
        json!([]),
        json!(["x"]),
        json!([1]),
        json!({}),
        json!({"a": 1}),
        json!({"any": "x"}),
    ];
    let mut paths = Vec::new();
    objects(&base, String::new(), &mut paths);
    let mut out = vec![base.to_string()];
    for p in &paths {
        let fields = order(p).unwrap();
        for f in fields {
            // Missing.
            out.push(
                with(&base, p, |o| {
                    o.as_object_mut().unwrap().remove(*f);
                })
                .to_string(),
            );
            // Every wrong type.
            for w in &wrong {
                out.push(
                    with(&base, p, |o| {
                        o[*f] = w.clone();
                    })
                    .to_string(),
                );
            }
            // Repeated (the text keeps both).
            let v = with(&base, p, |_| {});
            let text = v.to_string();
            let obj = if p.is_empty() {
                &v
            } else {
                v.pointer(p).unwrap()
            };
            if let Some(x) = obj.get(*f) {
                let entry = format!("\"{f}\":{x}");
                if let Some(i) = text.find(&entry) {
                    out.push(format!("{}{entry},{}", &text[..i], &text[i..]));
                }
            }
        }
        // Unknown fields, an empty object, and the object as a sequence of
        // every length (and one too many), also with a wrong element.
        out.push(with(&base, p, |o| o["zzz"] = json!(1)).to_string());
        out.push(with(&base, p, |o| o["Mode"] = json!(1)).to_string());
        out.push(with(&base, p, |o| *o = json!({})).to_string());
        let obj = if p.is_empty() {
            base.clone()
        } else {
            base.pointer(p).unwrap().clone()
        };
        for n in 0..=fields.len() + 1 {
            let seq: Vec<Value> = fields
                .iter()
                .take(n)
                .map(|f| obj.get(*f).cloned().unwrap_or(Value::Null))
                .chain((n > fields.len()).then(|| json!(0)))
                .collect();
            out.push(with(&base, p, |o| *o = Value::Array(seq.clone())).to_string());
            if n > 0 {
                let mut bad = seq.clone();
                bad[n - 1] = json!({"q": []});
                out.push(with(&base, p, |o| *o = Value::Array(bad)).to_string());
            }
        }
    }
    // Enums in every form: a name, a one-entry map, a sequence.
    for (p, f) in [
        ("", "mode"),
        ("/policy", "default"),
        ("/routes/0", "access"),
        ("/headers", "preset"),
    ] {
        for v in [
            json!("enforce"),
            json!("deny"),
            json!("oauth2-proxy"),
            json!("Deny"),
            json!({"enforce": null}),
            json!({"report-only": 1}),
            json!({"deny": null}),
            json!({"anonymous": []}),
            json!({"edgeward": {}}),
            json!({"edgeward": null, "x": 1}),
            json!(["deny"]),
            json!([]),
            json!(0),
            json!(3),
            json!(-2),
        ] {
            out.push(with(&base, p, |o| o[f] = v.clone()).to_string());
        }
    }
    for t in [
        "",
        "null",
        "1",
        "\"x\"",
        "[]",
        "{}",
        "[[]]",
        "{\"issuers\":[]}",
        "{\"issuers\":[{}]}",
        "{\"realm\":\"a\",\"realm\":\"b\"}",
        "{\"realm\":1",
        "{\"realm\" 1}",
        "{\"re\\u0061lm\":\"x\"}",
        "{\"issuers\":[{\"issuer\":\"https://a/\",\"audiences\":[\"x\"]}],}",
    ] {
        out.push(t.to_string());
    }
    out
}

fn show<T: std::fmt::Debug>(r: Result<T, impl std::fmt::Display>) -> String {
    match r {
        Ok(v) => format!("ok {v:?}"),
        Err(e) => format!("err {e}"),
    }
}

/// The str and slice readers agree on every case (`Config::from_json`
/// reads the bytes).
#[test]
fn str_and_slice_readers_agree() {
    for text in corpus() {
        let by_str = show(serde_json::from_str::<Config>(&text));
        let by_bytes = show(serde_json::from_slice::<Config>(text.as_bytes()));
        assert_eq!(by_str, by_bytes, "{text}");
    }
}

#[test]
#[ignore]
fn print_corpus() {
    let cases = corpus();
    assert!(cases.len() > 2000, "{}", cases.len());
    for text in cases {
        println!("== {text}");
        let parsed = serde_json::from_str::<Config>(&text);
        if let Ok(c) = &parsed {
            println!(
                "key {:?}",
                c.assertion
                    .as_ref()
                    .and_then(|a| a.key.as_ref())
                    .map(|k| &k.0)
            );
        }
        println!("str {}", show(parsed));
        println!(
            "bytes {}",
            show(serde_json::from_slice::<Config>(text.as_bytes()))
        );
        println!("json {}", show(Config::from_json(&text)));
        if let Ok(v) = serde_json::from_str::<Value>(&text) {
            println!("value {}", show(serde_json::from_value::<Config>(v)));
        }
    }
    // TOML (the CLI's reader, through serde_path_to_error).
    let iss = "[[issuers]]\nissuer = \"https://a/\"\naudiences = [\"x\"]\n";
    for text in [
        iss.to_string(),
        format!("{iss}leeway = \"x\"\n"),
        format!("{iss}zzz = 1\n"),
        format!("{iss}[[issuers]]\naudiences = [\"y\"]\n"),
        format!("{iss}[token]\nmax_size = -1\n"),
        format!("{iss}[keys]\nmin_ttl = 1.5\n"),
        format!("{iss}[[routes]]\npath = \"/a\"\nscopes = {{ any = [\"a\"], one = [] }}\n"),
        format!("{iss}[[routes]]\npath = \"/a\"\nscopes = [[\"a\"], [\"b\"]]\n"),
        format!("{iss}[[routes]]\npath = \"/a\"\nscopes = [[\"a\"], [\"b\"], 1]\n"),
        format!("{iss}[[routes]]\nmethods = []\n"),
        format!("{iss}[headers]\npreset = \"x\"\nclaims = {{ email = \"x-email\" }}\n"),
        format!("{iss}[assertion]\naudience = \"a\"\n"),
        format!("{iss}[cors]\nmax_age = true\n"),
        format!("{iss}[policy]\ndefault = \"anonymous\"\npreflight = {{ a = 1 }}\n"),
        format!("token = [100, \"c\"]\n{iss}"),
        format!("cache = [1, 2, 3, 4, 5]\n{iss}"),
        format!("cache = [1, 2]\n{iss}"),
        format!("keys = [1, \"x\"]\n{iss}"),
        format!("api_tokens = [[\"n\"]]\n{iss}"),
    ] {
        println!("== toml {text:?}");
        println!("toml {}", show(Config::parse(&text)));
    }
}

/// The same for key-set snapshots (the shared tier's), through
/// `KeyStore::restore`: every field missing, repeated, of every wrong type,
/// unknown; the snapshot as a sequence of every length.
fn snapshot_corpus() -> Vec<String> {
    let base = json!({
        "v": 1, "iss": "https://a.test/", "jwks_uri": "https://a.test/k",
        "fetched_at": 100, "fresh_until": 200, "usable_until": 300,
        "kid_refetch_at": 150, "failed_at": 120,
        "keys": [{"kty": "OKP", "crv": "Ed25519", "kid": "k1",
                  "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]
    });
    let fields = [
        "v",
        "iss",
        "jwks_uri",
        "fetched_at",
        "fresh_until",
        "usable_until",
        "kid_refetch_at",
        "failed_at",
        "keys",
    ];
    let wrong = [
        json!(null),
        json!(true),
        json!(1),
        json!(-1),
        json!(1.5),
        json!(4294967296u64),
        json!(-9223372036854775809i128 as f64),
        json!("x"),
        json!([]),
        json!([1]),
        json!({}),
    ];
    let mut out = vec![base.to_string()];
    for f in fields {
        let mut v = base.clone();
        v.as_object_mut().unwrap().remove(f);
        out.push(v.to_string());
        for w in &wrong {
            let mut v = base.clone();
            v[f] = w.clone();
            out.push(v.to_string());
        }
        let text = base.to_string();
        let entry = format!("\"{f}\":{}", base[f]);
        if let Some(i) = text.find(&entry) {
            out.push(format!("{}{entry},{}", &text[..i], &text[i..]));
        }
    }
    let mut v = base.clone();
    v["zzz"] = json!(1);
    out.push(v.to_string());
    for n in 0..=fields.len() + 1 {
        let seq: Vec<Value> = fields
            .iter()
            .take(n)
            .map(|f| base[*f].clone())
            .chain((n > fields.len()).then(|| json!(0)))
            .collect();
        out.push(Value::Array(seq.clone()).to_string());
        if n > 0 {
            let mut bad = seq;
            bad[n - 1] = json!({"q": []});
            out.push(Value::Array(bad).to_string());
        }
    }
    out.extend(["", "null", "{}", "[]", "{\"v\":1", "garbage"].map(String::from));
    out
}

#[test]
#[ignore]
fn print_snapshot_corpus() {
    let issuers =
        Config::from_json(r#"{"issuers":[{"issuer":"https://a.test/","audiences":["x"]}]}"#)
            .unwrap()
            .issuers;
    for text in snapshot_corpus() {
        let mut store = edgeward::KeyStore::new(&issuers, Default::default());
        println!("== {text}");
        println!("restore {}", show(store.restore(&text)));
        println!("snapshot {:?}", store.snapshot("https://a.test/"));
    }
}
