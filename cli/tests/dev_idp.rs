//! `edgeward dev-idp` over loopback, and `edgeward check` against it.

mod common;

use common::*;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

fn check(idp: &DevIdp, token: &str, extra: &[&str]) -> Run {
    let mut args = vec!["check", "--issuer", &idp.issuer, "--audience", "api"];
    args.extend_from_slice(extra);
    args.push(token);
    run(&args)
}

#[test]
fn discovery_token_check_rotate_grace() {
    let idp = DevIdp::start(&[]);
    assert_eq!(idp.issuer, format!("http://127.0.0.1:{}", idp.port));
    assert_eq!(idp.info["jwks_uri"], idp.url("/jwks"));

    // Discovery.
    let d = get(&idp.url("/.well-known/openid-configuration"));
    assert_eq!(d.status, 200);
    let doc = d.json();
    assert_eq!(doc["issuer"], idp.issuer.as_str());
    assert_eq!(doc["jwks_uri"], idp.url("/jwks"));
    assert_eq!(doc["token_endpoint"], idp.url("/token"));
    assert_eq!(doc["grant_types_supported"], json!(["client_credentials"]));

    // JWKS.
    let j = get(&idp.url("/jwks"));
    assert_eq!(j.status, 200);
    assert_eq!(j.header("cache-control"), Some("max-age=300"));
    let keys = j.json()["keys"].as_array().unwrap().clone();
    assert_eq!(keys.len(), 1);
    let kid1 = keys[0]["kid"].as_str().unwrap().to_owned();
    assert_eq!(keys[0]["alg"], "ES256");
    assert!(keys[0].get("d").is_none());

    // POST /token.
    let t = post_form(
        &idp.url("/token"),
        &[
            ("grant_type", "client_credentials"),
            ("scope", "orders:read"),
            ("audience", "api"),
            ("client_id", "svc-a"),
        ],
    );
    assert_eq!(t.status, 200, "{}", t.body);
    assert_eq!(t.header("cache-control"), Some("no-store"));
    let body = t.json();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3600);
    assert_eq!(body["scope"], "orders:read");
    let old_token = body["access_token"].as_str().unwrap().to_owned();
    let h = part(&old_token, 0);
    assert_eq!(h["typ"], "at+jwt");
    assert_eq!(h["kid"], kid1.as_str());
    let c = part(&old_token, 1);
    assert_eq!(c["iss"], idp.issuer.as_str());
    assert_eq!(c["aud"], "api");
    assert_eq!(c["sub"], "svc-a");
    assert_eq!(c["client_id"], "svc-a");
    assert_eq!(
        c["exp"].as_i64().unwrap() - c["iat"].as_i64().unwrap(),
        3600
    );
    assert!(c["jti"].is_string());

    // check --issuer: OIDC discovery, then the key set, through the gate's NeedKeys loop.
    let before = idp.stats()["jwks_requests"].as_u64().unwrap();
    let r = check(&idp, &old_token, &["--json"]).ok();
    let v = r.json();
    assert_eq!(v["allowed"], true);
    assert_eq!(v["fetches"][0]["kind"], "discovery");
    assert_eq!(v["fetches"][1]["kind"], "jwks");
    assert_eq!(v["fetches"][1]["status"], 200);
    assert_eq!(v["identity"]["scopes"], json!(["orders:read"]));
    let stats = idp.stats();
    assert_eq!(stats["jwks_requests"].as_u64().unwrap(), before + 1);
    assert!(stats["discovery_requests"].as_u64().unwrap() >= 2);
    let human = check(&idp, &old_token, &[]).ok().stdout;
    assert!(human.contains("discovery http://127.0.0.1:"), "{human}");
    assert!(human.contains("fresh for 300s"), "{human}");

    // Rotate: a new key signs; the old public key stays during the grace period.
    let rot = post(&idp.url("/rotate"));
    assert_eq!(rot.status, 200, "{}", rot.body);
    let rot = rot.json();
    let kid2 = rot["kid"].as_str().unwrap().to_owned();
    assert_ne!(kid2, kid1);
    assert_eq!(rot["previous_kid"], kid1.as_str());
    let kids: Vec<Value> = get(&idp.url("/jwks")).json()["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].clone())
        .collect();
    assert_eq!(kids, vec![json!(kid2), json!(kid1)]);

    let new_token = idp.token(&[("scope", "orders:read"), ("audience", "api")]);
    assert_eq!(part(&new_token, 0)["kid"], kid2.as_str());
    check(&idp, &new_token, &[]).ok();
    check(&idp, &old_token, &[]).ok();

    // GET /mint for curl.
    let m = get(&idp.url("/mint?sub=bob&scope=a+b&aud=api"));
    assert_eq!(m.status, 200);
    assert!(m.header("content-type").unwrap().starts_with("text/plain"));
    // The body is the token alone: a script's fetch().text() needs no trim.
    assert_eq!(m.body, m.body.trim(), "no newline after the token");
    let minted = m.body.clone();
    let c = part(&minted, 1);
    assert_eq!(
        (c["sub"].as_str(), c["scope"].as_str()),
        (Some("bob"), Some("a b"))
    );
    check(&idp, &minted, &[]).ok();

    // Rotate with no grace: the previous key drops at once, the first one stays
    // for what is left of its own grace period.
    let rot = post(&idp.url("/rotate?grace=0")).json();
    assert_eq!(rot["previous_kid"], kid2.as_str());
    let v = check(&idp, &new_token, &["--json"]).code(1).json();
    assert_eq!(v["reason"], "key_not_found");
    check(&idp, &old_token, &[]).ok();
    assert_eq!(idp.stats()["rotations"], 2);
}

#[test]
fn es512_tokens_verify_against_the_issuer() {
    let idp = DevIdp::start(&["--alg", "ES512"]);
    let jwks = get(&idp.url("/jwks")).json();
    assert_eq!(jwks["keys"][0]["crv"], "P-521");
    assert_eq!(jwks["keys"][0]["alg"], "ES512");
    let r = post_form(
        &idp.url("/token"),
        &[("grant_type", "client_credentials"), ("resource", "api")],
    )
    .json();
    let token = r["access_token"].as_str().unwrap();
    assert_eq!(part(token, 0)["alg"], "ES512");
    let r = check(&idp, token, &[]).ok();
    assert!(r.stdout.contains("ALLOWED (200)"), "{}", r.stdout);
    assert!(
        r.stdout.contains("ES512 signature verifies"),
        "{}",
        r.stdout
    );
}

#[test]
fn token_endpoint_parameters_and_errors() {
    let idp = DevIdp::start(&[
        "--alg",
        "EdDSA",
        "--audience",
        "default-api",
        "--token-ttl",
        "5m",
        "--jwks-max-age",
        "42",
    ]);
    let url = idp.url("/token");
    assert_eq!(
        get(&idp.url("/jwks")).header("cache-control"),
        Some("max-age=42")
    );

    // Defaults: audience from --audience, sub dev-client, --token-ttl.
    let r = post_form(&url, &[("grant_type", "client_credentials")]).json();
    assert_eq!(r["expires_in"], 300);
    assert_eq!(r["scope"], "");
    let c = part(r["access_token"].as_str().unwrap(), 1);
    assert_eq!(c["aud"], "default-api");
    assert_eq!(c["sub"], "dev-client");
    assert!(c.get("scope").is_none());
    assert_eq!(part(r["access_token"].as_str().unwrap(), 0)["alg"], "EdDSA");

    // resource (repeatable), sub, claims, ttl; client id from Basic auth.
    let r = post_form_auth(
        &url,
        "Basic c3ZjLWI6c2VjcmV0", // svc-b:secret
        &[
            ("grant_type", "client_credentials"),
            ("resource", "api"),
            ("resource", "billing"),
            ("ttl", "90"),
            ("claims", r#"{"tenant":"acme","roles":["admin"]}"#),
        ],
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let c = part(r.json()["access_token"].as_str().unwrap(), 1);
    assert_eq!(c["aud"], json!(["api", "billing"]));
    assert_eq!(c["sub"], "svc-b");
    assert_eq!(c["client_id"], "svc-b");
    assert_eq!(c["tenant"], "acme");
    assert_eq!(c["roles"], json!(["admin"]));
    assert_eq!(c["exp"].as_i64().unwrap() - c["iat"].as_i64().unwrap(), 90);
    let r = post_form(
        &url,
        &[
            ("grant_type", "client_credentials"),
            ("sub", "alice"),
            ("client_id", "app"),
        ],
    )
    .json();
    let c = part(r["access_token"].as_str().unwrap(), 1);
    assert_eq!(
        (c["sub"].as_str(), c["client_id"].as_str()),
        (Some("alice"), Some("app"))
    );

    // Errors.
    let r = post_form(&url, &[("scope", "x")]);
    assert_eq!(
        (r.status, r.json()["error"].as_str()),
        (400, Some("invalid_request"))
    );
    let r = post_form(&url, &[("grant_type", "password")]);
    assert_eq!(
        (r.status, r.json()["error"].as_str()),
        (400, Some("unsupported_grant_type"))
    );
    let r = post_form(
        &url,
        &[("grant_type", "client_credentials"), ("claims", "[1]")],
    );
    assert_eq!(r.status, 400);
    let r = post_form(
        &url,
        &[("grant_type", "client_credentials"), ("ttl", "soon")],
    );
    assert_eq!(r.status, 400);
    let r = get(&url);
    assert_eq!(r.status, 405);
    assert_eq!(r.header("allow"), Some("POST"));
    assert_eq!(get(&idp.url("/nope")).status, 404);
    assert_eq!(post(&idp.url("/jwks")).status, 405);
    assert_eq!(post(&idp.url("/rotate?grace=soon")).status, 400);
    assert_eq!(post(&idp.url("/rotate?alg=HS256")).status, 400);
    let index = get(&idp.url("/"));
    assert!(
        index.body.contains(&format!("{}/token", idp.issuer)),
        "{}",
        index.body
    );
}

#[test]
fn stats_reset_and_fault_injection() {
    let idp = DevIdp::start(&[]);
    let token = idp.token(&[("audience", "api")]);
    for _ in 0..3 {
        get(&idp.url("/jwks"));
    }
    let s = idp.stats();
    assert_eq!(s["jwks_requests"], 3);
    assert_eq!(s["token_requests"], 1);
    let s = post(&idp.url("/stats/reset")).json();
    assert_eq!(s["jwks_requests"], 0);
    assert_eq!(s["published_kids"].as_array().unwrap().len(), 1);

    // /jwks fails on demand: check cannot get keys (exit 2, naming the issuer).
    let f = post(&idp.url("/faults?jwks_status=503")).json();
    assert_eq!(f["faults"]["jwks_status"], 503);
    let j = get(&idp.url("/jwks"));
    assert_eq!(j.status, 503);
    let r = check(&idp, &token, &[]).code(2);
    assert!(r.stderr.contains("HTTP status 503"), "{}", r.stderr);
    assert!(r.stderr.contains(&idp.issuer), "{}", r.stderr);
    assert_eq!(idp.stats()["jwks_requests"], 2);
    post(&idp.url("/faults"));
    check(&idp, &token, &[]).ok();
    assert_eq!(post(&idp.url("/faults?jwks_status=abc")).status, 400);
}

#[test]
fn sigterm_and_sigint_stop_cleanly() {
    for signal in ["TERM", "INT"] {
        // Right after the start line ...
        let mut idp = DevIdp::start(&[]);
        let status = idp.signal(signal);
        assert!(status.success(), "SIG{signal}: {status:?}");
        // ... and after serving.
        let mut idp = DevIdp::start(&[]);
        assert_eq!(get(&idp.url("/stats")).status, 200);
        let status = idp.signal(signal);
        assert!(status.success(), "SIG{signal}: {status:?}");
    }
}

#[test]
fn human_start_output_and_example_token() {
    let mut child = Command::new(BIN)
        .args(["dev-idp", "--port", "0"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut text = String::new();
    let mut example = None;
    let mut port = None;
    while let Some(Ok(line)) = lines.next() {
        if let Some(rest) = line.strip_prefix("edgeward dev-idp listening on 127.0.0.1:") {
            port = rest.trim().parse::<u16>().ok();
        }
        if text
            .lines()
            .last()
            .is_some_and(|l| l.starts_with("example token"))
        {
            example = Some(line.clone());
        }
        text.push_str(&line);
        text.push('\n');
        if line.starts_with("stop with") {
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    let port = port.unwrap_or_else(|| panic!("no port in {text}"));
    let issuer = format!("http://127.0.0.1:{port}");
    for needle in [
        format!("issuer     {issuer}"),
        format!("{issuer}/.well-known/openid-configuration"),
        format!("{issuer}/jwks"),
        format!("POST {issuer}/token"),
        format!("edgeward check --issuer {issuer} --audience api"),
    ] {
        assert!(text.contains(&needle), "{needle} in {text}");
    }
    let example = example.unwrap();
    assert_eq!(part(&example, 1)["iss"], issuer.as_str());
}

#[test]
fn state_dir_keeps_keys_and_issuer_url_is_announced() {
    let dir = TempDir::new("state");
    let state = dir.str("idp");
    let issuer = "http://localhost:9999/realms/dev";
    let (kid, token) = {
        let idp = DevIdp::start(&[
            "--state-dir",
            &state,
            "--issuer-url",
            issuer,
            "--alg",
            "ES384",
        ]);
        assert_eq!(idp.issuer, issuer);
        let doc = get(&idp.url("/.well-known/openid-configuration")).json();
        assert_eq!(doc["jwks_uri"], "http://localhost:9999/realms/dev/jwks");
        let token = idp.token(&[("audience", "api")]);
        (idp.info["kid"].as_str().unwrap().to_owned(), token)
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path("idp/state.json"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "state.json is private: {mode:o}");
    }
    // A restart keeps the key: the old token verifies against the new process' JWKS URL.
    let idp = DevIdp::start(&["--state-dir", &state, "--issuer-url", issuer]);
    assert_eq!(idp.info["kid"], kid.as_str());
    assert_eq!(idp.info["alg"], "ES384");
    let jwks = idp.url("/jwks");
    let r = run(&[
        "check",
        "--issuer",
        issuer,
        "--audience",
        "api",
        "--jwks",
        &jwks,
        "--json",
        &token,
    ])
    .ok();
    assert_eq!(r.json()["fetches"][0]["source"], jwks.as_str());
    drop(idp);
    // Asking for another algorithm rotates, keeping the old key for the grace period.
    let idp = DevIdp::start(&[
        "--state-dir",
        &state,
        "--issuer-url",
        issuer,
        "--alg",
        "EdDSA",
    ]);
    assert_eq!(idp.info["alg"], "EdDSA");
    assert_ne!(idp.info["kid"], kid.as_str());
    let jwks = idp.url("/jwks");
    run(&[
        "check",
        "--issuer",
        issuer,
        "--audience",
        "api",
        "--jwks",
        &jwks,
        &token,
    ])
    .ok();
}

#[test]
fn port_in_use_is_an_error() {
    let idp = DevIdp::start(&[]);
    let port = idp.port.to_string();
    let r = run(&["dev-idp", "--port", &port]).code(2);
    assert!(
        r.stderr.starts_with(&format!("edgeward: --port {port}: ")),
        "{}",
        r.stderr
    );
    let r = run(&["dev-idp", "--grace", "soon"]).code(2);
    assert!(r.stderr.contains("--grace"), "{}", r.stderr);
    let r = run(&["dev-idp", "--alg", "HS256"]).code(2);
    assert!(r.stderr.contains("--alg"), "{}", r.stderr);
    let r = run(&["dev-idp", "--issuer-url", "ftp://x"]).code(2);
    assert!(r.stderr.contains("--issuer-url"), "{}", r.stderr);
}

#[test]
fn expect_continue_and_raw_http() {
    use std::io::{Read, Write};
    let idp = DevIdp::start(&[]);
    let body = "grant_type=client_credentials&scope=raw";
    let mut s = std::net::TcpStream::connect(("127.0.0.1", idp.port)).unwrap();
    write!(
        s,
        "POST /token HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nExpect: 100-continue\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .unwrap();
    let mut first = [0u8; 25];
    s.read_exact(&mut first).unwrap();
    assert_eq!(&first, b"HTTP/1.1 100 Continue\r\n\r\n");
    s.write_all(body.as_bytes()).unwrap();
    let mut rest = String::new();
    s.read_to_string(&mut rest).unwrap();
    assert!(rest.starts_with("HTTP/1.1 200 OK\r\n"), "{rest}");
    assert!(rest.contains("\"scope\": \"raw\""), "{rest}");

    // Garbage and oversized requests get 4xx, and the server keeps serving.
    let mut s = std::net::TcpStream::connect(("127.0.0.1", idp.port)).unwrap();
    s.write_all(b"NONSENSE\r\n\r\n").unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    assert!(out.starts_with("HTTP/1.1 400"), "{out}");
    let mut s = std::net::TcpStream::connect(("127.0.0.1", idp.port)).unwrap();
    s.write_all(b"POST /token HTTP/1.1\r\nContent-Length: 999999\r\n\r\n")
        .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    assert!(out.starts_with("HTTP/1.1 413"), "{out}");
    assert_eq!(get(&idp.url("/jwks")).status, 200);
}

#[test]
fn web_pages_may_read_keys_but_never_mint_rotate_or_set_faults() {
    use std::io::{Read, Write};
    let idp = DevIdp::start(&[]);
    let raw = |req: String| {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", idp.port)).unwrap();
        s.write_all(req.as_bytes()).unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        out
    };
    // Read-only documents stay readable from a browser demo.
    for path in ["/jwks", "/.well-known/openid-configuration"] {
        let out = raw(format!(
            "GET {path} HTTP/1.1\r\nHost: x\r\nOrigin: https://any.example\r\n\r\n"
        ));
        assert!(out.starts_with("HTTP/1.1 200"), "{out}");
        assert!(out.contains("access-control-allow-origin: *\r\n"), "{out}");
    }
    // A page cannot mint (even with a form POST that needs no preflight),
    // rotate keys or set faults; no CORS header lets it read an answer.
    let form = "grant_type=client_credentials&scope=x";
    for (method, path, body) in [
        ("POST", "/token", form),
        ("GET", "/mint", ""),
        ("POST", "/mint", ""),
        ("POST", "/rotate", ""),
        ("POST", "/faults", "jwks=down"),
    ] {
        let out = raw(format!(
            "{method} {path} HTTP/1.1\r\nHost: x\r\nOrigin: https://evil.example\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        ));
        assert!(out.starts_with("HTTP/1.1 403"), "{method} {path}: {out}");
        assert!(
            !out.to_ascii_lowercase()
                .contains("access-control-allow-origin"),
            "{out}"
        );
    }
    // Local tools (no Origin) still mint, and the answer carries no CORS header.
    let out = raw(format!(
        "POST /token HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{form}",
        form.len()
    ));
    assert!(out.starts_with("HTTP/1.1 200"), "{out}");
    assert!(!out.contains("access-control-allow-origin"), "{out}");
    // The key set did not change.
    assert_eq!(
        get(&idp.url("/jwks")).json()["keys"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}
