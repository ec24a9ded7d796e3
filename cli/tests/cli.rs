//! `edgeward` check / keygen / mint / config check, run as a built binary.

mod common;

use common::*;
use serde_json::{json, Value};

const ISS: &str = "https://dev.local";
const T0: i64 = 1_700_000_000;

/// An ES256 key and a token for ISS/api minted at T0 with a 1h lifetime.
struct Fixture {
    dir: TempDir,
    kid: String,
    token: String,
}

impl Fixture {
    fn new(name: &str) -> Fixture {
        let dir = TempDir::new(name);
        let kid = keygen(&dir.0, "ES256");
        let token = mint(
            &dir.path("private.pem"),
            &[
                "--iss",
                ISS,
                "--aud",
                "api",
                "--sub",
                "alice",
                "--scope",
                "orders:read profile",
                "--now",
                "1700000000",
            ],
        );
        Fixture { dir, kid, token }
    }

    fn jwks(&self) -> String {
        self.dir.str("jwks.json")
    }

    /// `check --issuer ISS --audience api --jwks FILE --now T0+60 <extra> TOKEN`.
    fn check(&self, token: &str, extra: &[&str]) -> Run {
        let jwks = self.jwks();
        let mut args = vec![
            "check",
            "--issuer",
            ISS,
            "--audience",
            "api",
            "--jwks",
            &jwks,
        ];
        if !extra.contains(&"--now") {
            args.extend(["--now", "1700000060"]);
        }
        args.extend_from_slice(extra);
        args.push(token);
        run(&args)
    }

    fn reason(&self, token: &str, extra: &[&str]) -> (i32, Value) {
        let mut e = extra.to_vec();
        e.push("--json");
        let r = self.check(token, &e);
        let v = r.json();
        (r.code, v)
    }
}

// ---------------------------------------------------------------- help, usage

#[test]
fn help_on_every_command_with_examples() {
    for args in [
        vec!["--help"],
        vec!["check", "--help"],
        vec!["keygen", "--help"],
        vec!["mint", "--help"],
        vec!["dev-idp", "--help"],
        vec!["config", "check", "--help"],
    ] {
        let r = run(&args).ok();
        assert!(r.stdout.contains("Examples:"), "{args:?}: {}", r.stdout);
        assert!(r.stdout.contains("Usage:"), "{args:?}");
    }
    let r = run(&["config", "--help"]).ok();
    assert!(r.stdout.contains("check") && r.stdout.contains("Examples:"));
    assert!(run(&["--version"]).ok().stdout.contains("edgeward"));
}

#[test]
fn usage_errors_exit_2() {
    for args in [
        vec![],
        vec!["frobnicate"],
        vec!["check", "--bogus"],
        vec!["check", "--config", "x.toml", "--issuer", ISS, "t"],
        vec!["check", "--leeway", "soon", "t"],
        vec!["keygen", "--alg", "ES256"],
        vec!["mint", "--key", "k.pem", "--iss", ISS],
        vec!["config", "check"],
    ] {
        let r = run(&args).code(2);
        assert!(!r.stderr.is_empty(), "{args:?}");
    }
}

// ------------------------------------------------------- keygen, mint, check

fn round_trip(alg: &str) {
    let dir = TempDir::new(&format!("rt-{alg}"));
    let kid = keygen(&dir.0, alg);
    assert_eq!(kid.len(), 16, "default kid is a short thumbprint: {kid}");

    let pem = std::fs::read_to_string(dir.path("private.pem")).unwrap();
    assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----\n"), "{pem}");
    assert!(pem.trim_end().ends_with("-----END PRIVATE KEY-----"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path("private.pem"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "private.pem is private: {mode:o}");
    }

    let jwks: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path("jwks.json")).unwrap()).unwrap();
    let jwk = &jwks["keys"][0];
    assert_eq!(jwks["keys"].as_array().unwrap().len(), 1);
    assert_eq!(jwk["alg"], alg);
    assert_eq!(jwk["use"], "sig");
    assert_eq!(jwk["kid"], kid.as_str());
    for private in ["d", "p", "q", "dp", "dq", "qi", "k"] {
        assert!(jwk.get(private).is_none(), "{alg} JWK leaks {private}");
    }

    // --alg given explicitly; kid defaults to the keygen thumbprint.
    let token = mint(
        &dir.path("private.pem"),
        &["--alg", alg, "--iss", ISS, "--aud", "api", "--sub", "alice"],
    );
    let header = part(&token, 0);
    assert_eq!(header["alg"], alg);
    assert_eq!(header["kid"], kid.as_str());
    assert_eq!(header["typ"], "at+jwt");

    let jwks_path = dir.str("jwks.json");
    let r = run(&[
        "check",
        "--issuer",
        ISS,
        "--audience",
        "api",
        "--jwks",
        &jwks_path,
        &token,
    ])
    .ok();
    assert!(r.stdout.contains("ALLOWED (200)"), "{}", r.stdout);
    assert!(
        r.stdout.contains(&format!("{alg} signature verifies")),
        "{}",
        r.stdout
    );

    // The allow-list is honoured per algorithm.
    let other = if alg == "EdDSA" { "ES256" } else { "EdDSA" };
    let r = run(&[
        "check",
        "--issuer",
        ISS,
        "--audience",
        "api",
        "--jwks",
        &jwks_path,
        "--alg",
        other,
        "--json",
        &token,
    ])
    .code(1);
    assert_eq!(r.json()["reason"], "alg_not_allowed");
}

#[test]
fn round_trip_rs256() {
    round_trip("RS256");
}

#[test]
fn round_trip_ps256() {
    round_trip("PS256");
}

#[test]
fn round_trip_es256() {
    round_trip("ES256");
}

#[test]
fn round_trip_es384() {
    round_trip("ES384");
}

#[test]
fn round_trip_es512() {
    round_trip("ES512");
}

#[test]
fn round_trip_eddsa() {
    round_trip("EdDSA");
}

#[test]
fn keygen_options_and_errors() {
    let dir = TempDir::new("keygen");
    let out = dir.str("k");
    let r = run(&["keygen", "--alg", "EdDSA", "--kid", "my-key", "--out", &out]).ok();
    assert!(r.stdout.contains("kid my-key"), "{}", r.stdout);
    let jwks: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path("k/jwks.json")).unwrap()).unwrap();
    assert_eq!(jwks["keys"][0]["kid"], "my-key");
    assert_eq!(jwks["keys"][0]["crv"], "Ed25519");

    let r = run(&["keygen", "--alg", "EdDSA", "--out", &out]).code(2);
    assert!(
        r.stderr.contains("already exists") && r.stderr.contains("--force"),
        "{}",
        r.stderr
    );
    run(&["keygen", "--alg", "ES384", "--out", &out, "--force"]).ok();

    for (args, needle) in [
        (vec!["--alg", "HS256"], "--alg"),
        (vec!["--alg", "none"], "--alg"),
        (vec!["--alg", "RS256", "--bits", "1024"], "--bits"),
        (vec!["--alg", "ES256", "--kid", ""], "--kid"),
    ] {
        let o = dir.str("bad");
        let mut all = vec!["keygen", "--out", &o];
        all.extend(args);
        let r = run(&all).code(2);
        assert!(
            r.stderr.starts_with("edgeward: ") && r.stderr.contains(needle),
            "{}",
            r.stderr
        );
        assert_eq!(
            r.stderr.trim_end().lines().count(),
            1,
            "one line: {}",
            r.stderr
        );
    }
}

#[test]
fn mint_claims_and_options() {
    let dir = TempDir::new("mint");
    keygen(&dir.0, "ES256");
    let key = dir.path("private.pem");
    let token = mint(
        &key,
        &[
            "--iss",
            ISS,
            "--aud",
            "api",
            "--aud",
            "admin",
            "--sub",
            "bob",
            "--scope",
            "a b",
            "--ttl",
            "15m",
            "--now",
            "1700000000",
            "--kid",
            "custom",
            "--typ",
            "JWT",
            "--claim",
            "tenant=acme",
            "--claim",
            "roles=[\"admin\"]",
            "--claim",
            "n=5",
            "--claim",
            "flag=true",
            "--claim",
            "note=hello world",
            "--claims",
            r#"{"email":"bob@example.com","n":1}"#,
        ],
    );
    let h = part(&token, 0);
    assert_eq!(h, json!({"alg": "ES256", "kid": "custom", "typ": "JWT"}));
    let c = part(&token, 1);
    assert_eq!(c["iss"], ISS);
    assert_eq!(c["aud"], json!(["api", "admin"]));
    assert_eq!(c["sub"], "bob");
    assert_eq!(c["scope"], "a b");
    assert_eq!(c["iat"], 1_700_000_000);
    assert_eq!(c["exp"], 1_700_000_900);
    assert_eq!(c["tenant"], "acme");
    assert_eq!(c["roles"], json!(["admin"]));
    assert_eq!(c["n"], 5, "--claim wins over --claims");
    assert_eq!(c["flag"], true);
    assert_eq!(c["note"], "hello world");
    assert_eq!(c["email"], "bob@example.com");
    assert!(c["jti"].as_str().unwrap().len() >= 16);

    // jti is random; --typ "" leaves typ out; --claim overrides registered claims.
    let a = mint(
        &key,
        &[
            "--iss", ISS, "--aud", "api", "--typ", "", "--claim", "exp=1",
        ],
    );
    let b = mint(&key, &["--iss", ISS, "--aud", "api"]);
    assert_ne!(part(&a, 1)["jti"], part(&b, 1)["jti"]);
    assert!(part(&a, 0).get("typ").is_none());
    assert_eq!(part(&a, 1)["exp"], 1);
    assert_eq!(part(&b, 1)["aud"], "api");
    assert!(part(&b, 1).get("sub").is_none());
}

/// A base64url thumbprint kid may start with `-` (one in 64 keys): it is a
/// value, not a flag (this once failed a test one run in 64).
#[test]
fn kid_may_start_with_a_dash() {
    let dir = TempDir::new("dash-kid");
    let out = dir.str("k");
    let r = run(&["keygen", "--alg", "ES256", "--kid", "--dash", "--out", &out]).ok();
    assert!(r.stdout.contains("kid --dash"), "{}", r.stdout);
    let token = mint(
        &dir.path("k/private.pem"),
        &[
            "--iss",
            ISS,
            "--aud",
            "api",
            "--kid",
            "-Mu",
            "--now",
            "1700000000",
        ],
    );
    assert_eq!(part(&token, 0)["kid"], "-Mu");
}

#[test]
fn mint_errors_name_the_problem() {
    let dir = TempDir::new("minterr");
    keygen(&dir.0, "ES256");
    let key = dir.str("private.pem");
    let jwks = dir.str("jwks.json");
    let not_pem = dir.write("not.pem", "hello");
    let public = dir.write(
        "pub.pem",
        "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n",
    );
    let missing = dir.str("missing.pem");
    for (args, needle) in [
        (vec!["--key", &missing], "--key"),
        (vec!["--key", &not_pem], "PEM"),
        (vec!["--key", &public], "not a private key"),
        (vec!["--key", &jwks], "PEM"),
        (vec!["--key", &key, "--alg", "RS256"], "cannot sign RS256"),
        (vec!["--key", &key, "--alg", "HS256"], "--alg"),
        (vec!["--key", &key, "--ttl", "soon"], "--ttl"),
        (vec!["--key", &key, "--claims", "[1]"], "--claims"),
        (vec!["--key", &key, "--claims", "{"], "--claims"),
        (vec!["--key", &key, "--claim", "novalue"], "--claim"),
    ] {
        let mut all = vec!["mint", "--iss", ISS, "--aud", "api"];
        all.extend(args);
        let r = run(&all).code(2);
        assert!(
            r.stderr.starts_with("edgeward: ") && r.stderr.contains(needle),
            "{all:?}: {}",
            r.stderr
        );
        assert_eq!(
            r.stderr.trim_end().lines().count(),
            1,
            "one line: {}",
            r.stderr
        );
        assert!(r.stdout.is_empty());
    }
}

// ------------------------------------------------------------------ check

#[test]
fn check_explains_an_allowed_token() {
    let f = Fixture::new("explain");
    let r = f.check(&f.token, &[]).ok();
    let out = &r.stdout;
    for needle in [
        "\"alg\": \"ES256\"",       // pretty header
        "\"sub\": \"alice\"",       // pretty claims
        "exp 2023-11-14T23:13:20Z", // times, readable
        "key set",                  // where the keys came from
        &format!("kid \"{}\" EC alg ES256: candidate", f.kid),
        "[ ok ] issuer",
        "[ ok ] alg",
        "[ ok ] claims     aud is one of [\"api\"]",
        "[ ok ] signature  ES256 signature verifies",
        "ALLOWED (200)",
        "subject      alice",
        "scopes       orders:read profile",
    ] {
        assert!(out.contains(needle), "missing {needle:?} in\n{out}");
    }
}

#[test]
fn check_json_schema() {
    let f = Fixture::new("schema");
    let (code, v) = f.reason(&f.token, &[]);
    assert_eq!(code, 0);
    assert_eq!(v["allowed"], true);
    assert_eq!(v["status"], 200);
    assert_eq!(v["reason"], Value::Null);
    assert_eq!(v["www_authenticate"], Value::Null);
    assert_eq!(v["now"], 1_700_000_060);
    assert_eq!(v["claims"]["sub"], "alice");
    assert_eq!(v["header"]["kid"], f.kid.as_str());
    assert_eq!(v["identity"]["subject"], "alice");
    assert_eq!(v["identity"]["scopes"], json!(["orders:read", "profile"]));
    assert_eq!(v["keys"][0]["candidate"], true);
    assert_eq!(v["fetches"][0]["kind"], "jwks");
    let steps = v["steps"].as_array().unwrap();
    assert!(steps.len() >= 8);
    for s in steps {
        assert!(
            s["step"].is_string() && s["ok"].is_boolean() && s["detail"].is_string(),
            "{s}"
        );
    }
    let names: Vec<&str> = steps.iter().map(|s| s["step"].as_str().unwrap()).collect();
    for want in [
        "token",
        "header",
        "issuer",
        "alg",
        "claims",
        "key",
        "signature",
        "decision",
    ] {
        assert!(names.contains(&want), "{want} in {names:?}");
    }

    let (code, v) = f.reason(&f.token, &["--now", "1800000000"]);
    assert_eq!(code, 1);
    assert_eq!(v["allowed"], false);
    assert_eq!(v["status"], 401);
    assert_eq!(v["reason"], "token_expired");
    assert!(v["detail"].as_str().unwrap().contains("expired"));
    assert!(v["www_authenticate"]
        .as_str()
        .unwrap()
        .starts_with("Bearer realm=\"api\", error=\"invalid_token\""));
    assert_eq!(v["identity"], Value::Null);
    assert_eq!(v["claims"]["sub"], "alice", "claims shown when decodable");
    assert!(!v["hints"].as_array().unwrap().is_empty());

    let (code, v) = f.reason("not-a-jwt.at.all!", &[]);
    assert_eq!(code, 1);
    assert_eq!(v["reason"], "token_malformed");
    assert_eq!(v["claims"], Value::Null);
}

#[test]
fn check_denials_carry_reason_codes() {
    let f = Fixture::new("deny");
    let key = f.dir.path("private.pem");
    let expired = mint(
        &key,
        &[
            "--iss",
            ISS,
            "--aud",
            "api",
            "--now",
            "1600000000",
            "--ttl",
            "1h",
        ],
    );
    let future = mint(&key, &["--iss", ISS, "--aud", "api", "--now", "1800000000"]);
    let wrong_aud = mint(
        &key,
        &["--iss", ISS, "--aud", "billing", "--now", "1700000000"],
    );
    let wrong_iss = mint(
        &key,
        &[
            "--iss",
            "https://evil.example",
            "--aud",
            "api",
            "--now",
            "1700000000",
        ],
    );
    let other_kid = mint(
        &key,
        &[
            "--iss",
            ISS,
            "--aud",
            "api",
            "--kid",
            "rotated-away",
            "--now",
            "1700000000",
        ],
    );
    let tampered_claims = with_claims(&f.token, |c| c["sub"] = json!("mallory"));
    let sig_start = f.token.rfind('.').unwrap() + 1;
    let mut tampered_sig = f.token.clone();
    let flip = if &f.token[sig_start..sig_start + 1] == "A" {
        "B"
    } else {
        "A"
    };
    tampered_sig.replace_range(sig_start..sig_start + 1, flip);

    // A different key under the same kid: the signature does not verify.
    let other = TempDir::new("deny-other");
    keygen(&other.0, "ES256");
    let impostor = mint(
        &other.path("private.pem"),
        &[
            "--iss",
            ISS,
            "--aud",
            "api",
            "--kid",
            &f.kid,
            "--now",
            "1700000000",
        ],
    );

    for (token, want, status) in [
        (&expired, "token_expired", 401),
        (&future, "token_not_yet_valid", 401),
        (&wrong_aud, "audience_invalid", 401),
        (&wrong_iss, "issuer_unknown", 401),
        (&other_kid, "key_not_found", 401),
        (&tampered_claims, "signature_invalid", 401),
        (&tampered_sig, "signature_invalid", 401),
        (&impostor, "signature_invalid", 401),
    ] {
        let now = if token == &expired || token == &future {
            "1700000000"
        } else {
            "1700000060"
        };
        let (code, v) = f.reason(token, &["--now", now]);
        assert_eq!(code, 1, "{want}: {v}");
        assert_eq!(v["reason"], want, "{v}");
        assert_eq!(v["status"], status);
        assert!(v["www_authenticate"]
            .as_str()
            .unwrap()
            .contains("error=\"invalid_token\""));

        let human = f.check(token, &["--now", now]).code(1);
        assert!(
            human.stdout.contains(&format!("DENIED: {status} {want}")),
            "{}",
            human.stdout
        );
        assert!(
            human
                .stdout
                .contains("WWW-Authenticate  Bearer realm=\"api\""),
            "{}",
            human.stdout
        );
    }

    // Hints say what was compared.
    let h = f.check(&wrong_aud, &[]).code(1).stdout;
    assert!(
        h.contains("the token's aud is \"billing\"; accepted audiences are [\"api\"]"),
        "{h}"
    );
    let h = f.check(&other_kid, &[]).code(1).stdout;
    assert!(h.contains("the token's kid is \"rotated-away\""), "{h}");
    assert!(h.contains("kid differs"), "{h}");
}

#[test]
fn check_leeway_and_now() {
    let f = Fixture::new("leeway");
    // exp is T0+3600; 30 s later passes with the default 60 s leeway, not with 0.
    let late = (T0 + 3630).to_string();
    assert_eq!(f.reason(&f.token, &["--now", &late]).0, 0);
    let (code, v) = f.reason(&f.token, &["--now", &late, "--leeway", "0"]);
    assert_eq!((code, v["reason"].as_str()), (1, Some("token_expired")));
    let r = run(&[
        "check",
        "--issuer",
        ISS,
        "--audience",
        "api",
        "--leeway",
        "601",
        "t.t.t",
    ])
    .code(2);
    assert!(r.stderr.contains("--leeway"), "{}", r.stderr);
    // Default clock: a token minted now passes.
    let fresh = mint(&f.dir.path("private.pem"), &["--iss", ISS, "--aud", "api"]);
    let jwks = f.jwks();
    run(&[
        "check",
        "--issuer",
        ISS,
        "--audience",
        "api",
        "--jwks",
        &jwks,
        &fresh,
    ])
    .ok();
}

#[test]
fn check_reads_the_token_from_stdin() {
    let f = Fixture::new("stdin");
    let jwks = f.jwks();
    let base = [
        "check",
        "--issuer",
        ISS,
        "--audience",
        "api",
        "--jwks",
        &jwks,
        "--now",
        "1700000060",
    ];
    let mut dash = base.to_vec();
    dash.push("-");
    run_with(&dash, Some(&format!("{}\n", f.token))).ok();
    run_with(&dash, Some(&format!("Bearer {}\r\n", f.token))).ok();
    run_with(&base, Some(&f.token)).ok();
    let r = run_with(&dash, Some("  \n")).code(2);
    assert!(r.stderr.contains("no token"), "{}", r.stderr);
    let tampered = with_claims(&f.token, |c| c["scope"] = json!("admin"));
    let mut j = dash.clone();
    j.push("--json");
    let r = run_with(&j, Some(&tampered)).code(1);
    assert_eq!(r.json()["reason"], "signature_invalid");
}

#[test]
fn check_never_prints_the_signature_or_key_material() {
    let f = Fixture::new("secret");
    let sig = f.token.rsplit('.').next().unwrap().to_owned();
    let jwks: Value = serde_json::from_str(&std::fs::read_to_string(f.jwks()).unwrap()).unwrap();
    let x = jwks["keys"][0]["x"].as_str().unwrap().to_owned();
    let pem = std::fs::read_to_string(f.dir.path("private.pem")).unwrap();
    let pem_line = pem.lines().nth(1).unwrap().to_owned();
    for extra in [
        vec![],
        vec!["--json"],
        vec!["--now", "1800000000"],
        vec!["--json", "--leeway", "0", "--now", "1800000000"],
    ] {
        let r = f.check(&f.token, &extra);
        for out in [&r.stdout, &r.stderr] {
            assert!(!out.contains(&sig), "signature echoed");
            assert!(!out.contains(&x), "key material echoed");
            assert!(!out.contains(&pem_line), "private key echoed");
            assert!(!out.contains(&f.token), "token echoed");
        }
    }
}

#[test]
fn check_with_a_config_file_and_routes() {
    let f = Fixture::new("routes");
    let config = f.dir.write(
        "edgeward.toml",
        r#"
realm = "orders"
[[issuers]]
issuer = "https://dev.local"
audiences = ["api"]
typ = "at+jwt"

[[routes]]
path = "/health"
access = "anonymous"

[[routes]]
path = "/admin/**"
access = "deny"

[[routes]]
path = "/orders/**"
methods = ["GET"]
scopes = { any = ["orders:read"] }

[[routes]]
path = "/orders/**"
methods = ["POST"]
scopes = { all = ["orders:write"] }
"#,
    );
    let jwks = f.jwks();
    let check = |extra: &[&str]| -> (i32, Value) {
        let mut args = vec![
            "check",
            "--config",
            &config,
            "--jwks",
            &jwks,
            "--now",
            "1700000060",
            "--json",
        ];
        args.extend_from_slice(extra);
        args.push(&f.token);
        let r = run(&args);
        let v = r.json();
        (r.code, v)
    };
    assert_eq!(check(&[]).0, 0, "no --path: the token alone");
    assert_eq!(
        check(&["--path", "/orders/7"]).0,
        0,
        "GET is the default method"
    );
    assert_eq!(check(&["--method", "get", "--path", "/orders/7?x=1"]).0, 0);
    let (code, v) = check(&["--method", "POST", "--path", "/orders/7"]);
    assert_eq!((code, v["status"].as_u64()), (1, Some(403)));
    assert_eq!(v["reason"], "scope_missing");
    let w = v["www_authenticate"].as_str().unwrap();
    assert!(
        w.contains("realm=\"orders\"")
            && w.contains("error=\"insufficient_scope\"")
            && w.contains("scope=\"orders:write\""),
        "{w}"
    );
    let (code, v) = check(&["--path", "/admin/users"]);
    assert_eq!((code, v["reason"].as_str()), (1, Some("route_denied")));
    let (code, v) = check(&["--path", "/unlisted"]);
    assert_eq!(
        (code, v["reason"].as_str()),
        (1, Some("route_denied")),
        "policy.default is deny"
    );
    let (code, _) = check(&["--path", "/health"]);
    assert_eq!(code, 0);
    let (code, v) = check(&["--path", "/orders/../admin"]);
    assert_eq!((code, v["reason"].as_str()), (1, Some("path_invalid")));

    // typ is enforced from the file.
    let jwt_typ = mint(
        &f.dir.path("private.pem"),
        &[
            "--iss",
            ISS,
            "--aud",
            "api",
            "--typ",
            "JWT",
            "--now",
            "1700000000",
        ],
    );
    let r = run(&[
        "check",
        "--config",
        &config,
        "--jwks",
        &jwks,
        "--now",
        "1700000060",
        &jwt_typ,
    ])
    .code(1);
    assert!(r.stdout.contains("DENIED: 401 typ_invalid"), "{}", r.stdout);

    // Human output names the route.
    let r = run(&[
        "check",
        "--config",
        &config,
        "--jwks",
        &jwks,
        "--now",
        "1700000060",
        "--method",
        "POST",
        "--path",
        "/orders/1",
        &f.token,
    ])
    .code(1);
    assert!(r.stdout.contains("matches routes[3]"), "{}", r.stdout);
    assert!(r.stdout.contains("[FAIL] policy"), "{}", r.stdout);
}

#[test]
fn check_configuration_and_io_errors_exit_2() {
    let f = Fixture::new("errs");
    let jwks = f.jwks();
    let bad_config = f
        .dir
        .write("bad.toml", "[[issuers]]\nissuer = \"https://dev.local\"\n");
    let typo = f.dir.write(
        "typo.json",
        r#"{"issuers":[{"issuer":"https://dev.local","audience":["api"]}]}"#,
    );
    let empty_jwks = f
        .dir
        .write("empty.json", r#"{"keys":[{"kty":"oct","k":"c2VjcmV0"}]}"#);
    let not_json = f.dir.write("garbage.json", "hello");
    let missing = f.dir.str("missing.toml");
    // A token valid now, so that every check reaches the keys.
    let fresh = mint(&f.dir.path("private.pem"), &["--iss", ISS, "--aud", "api"]);
    let t = fresh.as_str();
    for (args, needles) in [
        (
            vec!["check", "--config", &missing, t],
            vec!["--config", "missing.toml"],
        ),
        (
            vec!["check", "--config", &bad_config, t],
            vec![
                "--config",
                "issuers[0].audiences: at least one audience is required",
            ],
        ),
        (
            vec!["check", "--config", &typo, t],
            vec!["issuers[0].audience", "unknown field"],
        ),
        (vec!["check", t], vec!["--config FILE, or --issuer URL"]),
        (vec!["check", "--issuer", ISS, t], vec!["--audience"]),
        (
            vec!["check", "--issuer", "ftp://x", "--audience", "api", t],
            vec!["--issuer ftp://x", "https://"],
        ),
        (
            vec![
                "check",
                "--issuer",
                ISS,
                "--audience",
                "api",
                "--alg",
                "none",
                t,
            ],
            vec!["--alg none"],
        ),
        (
            vec![
                "check",
                "--issuer",
                ISS,
                "--audience",
                "api",
                "--jwks",
                "/nonexistent/jwks.json",
                t,
            ],
            vec!["--jwks /nonexistent/jwks.json"],
        ),
        (
            vec![
                "check",
                "--issuer",
                ISS,
                "--audience",
                "api",
                "--jwks",
                &empty_jwks,
                t,
            ],
            vec!["--jwks", "no usable key"],
        ),
        (
            vec![
                "check",
                "--issuer",
                ISS,
                "--audience",
                "api",
                "--jwks",
                &not_json,
                t,
            ],
            vec!["--jwks", "JSON"],
        ),
        (
            vec![
                "check",
                "--issuer",
                ISS,
                "--audience",
                "api",
                "--jwks",
                "http://127.0.0.1:1/jwks",
                t,
            ],
            vec!["--jwks http://127.0.0.1:1/jwks"],
        ),
        (
            vec![
                "check",
                "--issuer",
                ISS,
                "--audience",
                "api",
                "--jwks",
                &jwks,
                "--path",
                "orders",
                t,
            ],
            vec!["--path"],
        ),
        (
            vec![
                "check",
                "--issuer",
                ISS,
                "--audience",
                "api",
                "--jwks",
                &jwks,
                "--method",
                "G T",
                t,
            ],
            vec!["--method"],
        ),
    ] {
        let r = run(&args).code(2);
        assert!(r.stderr.starts_with("edgeward: "), "{args:?}: {}", r.stderr);
        assert_eq!(
            r.stderr.trim_end().lines().count(),
            1,
            "one line: {}",
            r.stderr
        );
        for n in needles {
            assert!(r.stderr.contains(n), "{args:?}: {n:?} not in {}", r.stderr);
        }
    }
    // The discovery failure names the issuer; a token from another issuer is decided without keys.
    let r = run(&[
        "check",
        "--issuer",
        "http://127.0.0.1:1",
        "--audience",
        "api",
        "--json",
        t,
    ])
    .code(1);
    assert_eq!(r.json()["reason"], "issuer_unknown");
    let local = mint(
        &f.dir.path("private.pem"),
        &["--iss", "http://127.0.0.1:1", "--aud", "api"],
    );
    let r = run(&[
        "check",
        "--issuer",
        "http://127.0.0.1:1",
        "--audience",
        "api",
        &local,
    ])
    .code(2);
    assert!(
        r.stderr
            .contains("http://127.0.0.1:1/.well-known/openid-configuration"),
        "{}",
        r.stderr
    );
}

// ------------------------------------------------------------- config check

const GOOD: &str = r#"
[[issuers]]
issuer = "https://idp.example.com/"
audiences = ["api"]

[headers.claims]
email = "x-auth-email"

[[routes]]
path = "/orders/{id}"
methods = ["GET"]
scopes = { any = ["orders:read"] }
owner = { id = "sub" }
"#;

#[test]
fn config_check_prints_effective_settings() {
    let dir = TempDir::new("cfg");
    let file = dir.write("edgeward.toml", GOOD);
    let r = run(&["config", "check", &file]).ok();
    for needle in [
        "leeway = 60",
        "max_size = 8192",
        "refetch_cooldown = 30",
        "default = \"deny\"",
        "[[routes]]",
        "email = \"x-auth-email\"",
    ] {
        assert!(r.stdout.contains(needle), "{needle} in {}", r.stdout);
    }
    assert!(r.stderr.contains("note: issuers[0].typ"), "{}", r.stderr);
    // The printed TOML is itself a valid configuration, with the same meaning.
    let again = dir.write("again.toml", &r.stdout);
    let r2 = run(&["config", "check", "--json", &again]).ok();
    let r1 = run(&["config", "check", "--json", &file]).ok();
    assert_eq!(r1.json(), r2.json());
    let v = r1.json();
    assert_eq!(v["issuers"][0]["leeway"], 60);
    assert_eq!(v["keys"]["max_response_bytes"], 262_144);
    assert_eq!(v["routes"][0]["owner"]["id"], "sub");
    // Secrets are not printed back.
    let secret = "correct-horse-battery-staple-0123456789";
    let hs = dir.write(
        "hs.toml",
        &format!("[[issuers]]\nissuer = \"https://a.example\"\naudiences = [\"x\"]\nalgorithms = [\"HS256\"]\nhmac_secret = \"{secret}\"\n"),
    );
    for args in [
        vec!["config", "check", &hs],
        vec!["config", "check", "--json", &hs],
    ] {
        let r = run(&args).ok();
        assert!(!r.stdout.contains(secret) && !r.stderr.contains(secret));
        assert!(r.stdout.contains("redacted"), "{}", r.stdout);
    }
    // JSON in, stdin.
    let json_text = r1.stdout.clone();
    run_with(&["config", "check", "-"], Some(&json_text)).ok();
}

#[test]
fn config_check_names_every_bad_field() {
    let dir = TempDir::new("cfgbad");
    let file = dir.write(
        "bad.toml",
        "[[issuers]]\nissuer = \"http://idp.example.com\"\naudiences = []\nalgorithms = [\"RS256\", \"none\"]\n[token]\nmax_size = 10\n",
    );
    let r = run(&["config", "check", &file]).code(2);
    for field in [
        "issuers[0].issuer",
        "issuers[0].audiences",
        "issuers[0].algorithms[1]",
        "token.max_size",
    ] {
        assert!(
            r.stderr.contains(&format!("bad.toml: {field}: ")),
            "{field}: {}",
            r.stderr
        );
    }
    assert!(r.stdout.is_empty());
    let v = run(&["config", "check", "--json", &file]).code(2).json();
    assert_eq!(v["valid"], false);
    let fields: Vec<&str> = v["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields.len(), 4, "{fields:?}");

    let typo = dir.write("typo.toml", "[keys]\nmin_tll = 3\n");
    let r = run(&["config", "check", &typo]).code(2);
    assert!(
        r.stderr.contains("keys.min_tll: unknown field"),
        "{}",
        r.stderr
    );
    let syntax = dir.write("syntax.toml", "[[issuers]\n");
    run(&["config", "check", &syntax]).code(2);
    let missing = dir.str("nope.toml");
    let r = run(&["config", "check", &missing]).code(2);
    assert!(r.stderr.contains("nope.toml"), "{}", r.stderr);
}

#[test]
fn keys_interoperate_with_openssl() {
    let has_openssl = std::process::Command::new("openssl")
        .arg("version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !has_openssl {
        eprintln!("openssl not installed; skipping");
        return;
    }
    let openssl = |args: &[&str]| {
        let out = std::process::Command::new("openssl")
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    };
    for alg in ["ES256", "ES384", "ES512", "EdDSA"] {
        let dir = TempDir::new(&format!("ossl-{alg}"));
        keygen(&dir.0, alg);
        // OpenSSL (and so Node's crypto) reads what keygen writes ...
        openssl(&["pkey", "-in", &dir.str("private.pem"), "-noout"]);
    }
    // ... and mint signs with keys OpenSSL made.
    for (spec, alg) in [
        (
            vec!["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"],
            "ES256",
        ),
        (
            vec!["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-521"],
            "ES512",
        ),
        (vec!["-algorithm", "ED25519"], "EdDSA"),
    ] {
        let dir = TempDir::new(&format!("ossl-gen-{alg}"));
        let key = dir.str("k.pem");
        let mut args = vec!["genpkey"];
        args.extend(spec);
        args.extend(["-out", &key]);
        openssl(&args);
        let token = mint(&dir.path("k.pem"), &["--iss", ISS, "--aud", "api"]);
        assert_eq!(part(&token, 0)["alg"], alg);
    }
}
