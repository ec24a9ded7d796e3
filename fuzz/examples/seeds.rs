//! Writes the seed corpora: `cargo run --manifest-path fuzz/Cargo.toml
//! --example seeds [-- DIR]` (DIR defaults to fuzz/seeds). The seeds are
//! checked in; rerun this after changing the fixtures.
//!
//! `token/`: genuinely signed tokens (allowed and refused) and well-formed
//! attacks. `jwks/`: the fixture key set, key sets with every kind of odd
//! key, a discovery document and a key store snapshot.

use edgeward_fuzz as fx;
use serde_json::{json, Value};
use std::path::Path;

fn write(dir: &Path, name: &str, body: &str) {
    std::fs::write(dir.join(name), body).unwrap_or_else(|e| panic!("{name}: {e}"));
}

fn main() {
    let root = std::env::args()
        .nth(1)
        .unwrap_or_else(|| concat!(env!("CARGO_MANIFEST_DIR"), "/seeds").into());
    let root = Path::new(&root);
    let token_dir = root.join("token");
    let jwks_dir = root.join("jwks");
    for d in [&token_dir, &jwks_dir] {
        std::fs::create_dir_all(d).expect("seed dir");
    }

    // Each token seed with what the fuzz target's gate decides for it, so
    // a fixture change that makes the seeds meaningless is seen at once.
    let mut n = 0;
    for (name, token) in fx::deterministic_tokens()
        .into_iter()
        .chain(fx::refused_tokens())
    {
        write(&token_dir, &format!("{name}.txt"), &token);
        n += 1;
        let auth = format!("Bearer {token}");
        let headers = [("authorization", auth.as_str())];
        let req = edgeward::Request {
            method: "GET",
            path: fx::PATH,
            headers: &headers,
        };
        let verdict = match fx::gate().check(&req, fx::NOW) {
            edgeward::Outcome::Decided(d) => d
                .reason()
                .map_or("allow".to_string(), |r| r.code().to_string()),
            edgeward::Outcome::NeedKeys(_) => "need_keys".into(),
        };
        println!("  {name:<24} {verdict}");
    }
    write(&token_dir, "api-token.txt", fx::API_TOKEN);
    write(&token_dir, "garbage.txt", "e30.e30.");
    n += 2;

    let jwks: Value = serde_json::from_str(&fx::jwks()).expect("fixture JWKS");
    write(&jwks_dir, "fixture.json", &jwks.to_string());
    let rsa = jwks["keys"][0].clone();
    let odd = json!({"keys": [
        {"kty": "oct", "k": "c2VjcmV0", "kid": "hmac"},
        {"kty": "OKP", "crv": "X25519", "x": "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE", "kid": "x"},
        {"kty": "EC", "crv": "P-521", "x": "AQ", "y": "AQ", "kid": "p521"},
        {"kty": "RSA", "n": "xcXF", "e": "AQAB", "kid": "short"},
        {"kty": "RSA", "n": rsa["n"], "e": "AQAB", "use": "enc", "kid": "enc"},
        {"kty": "RSA", "n": rsa["n"], "e": "AQAB", "alg": "ES256", "kid": "mismatch"},
        {"kty": "RSA", "n": rsa["n"], "e": "AQAB", "alg": "PS256", "key_ops": ["verify"], "kid": "ps"},
        {"kty": "EC", "crv": "P-256", "x": jwks["keys"][1]["x"], "y": jwks["keys"][1]["y"], "alg": "ES256", "kid": "p256b"},
        "not a key",
        {"kty": 5}
    ]});
    write(&jwks_dir, "odd-keys.json", &odd.to_string());
    write(&jwks_dir, "empty.json", r#"{"keys":[]}"#);
    write(
        &jwks_dir,
        "discovery.json",
        &json!({"issuer": fx::ISSUER, "jwks_uri": "https://idp.fuzz/keys", "token_endpoint": "https://idp.fuzz/token"})
            .to_string(),
    );
    let cfg = fx::shared_config();
    let mut store = edgeward::KeyStore::new(&cfg.issuers, cfg.keys.clone());
    store
        .ingest(
            &fx::jwks_fetch(),
            200,
            &[("cache-control", "max-age=300")],
            fx::shared_jwks(),
            fx::NOW,
        )
        .expect("fixture ingests");
    write(
        &jwks_dir,
        "snapshot.json",
        &store.snapshot(fx::ISSUER).expect("snapshot"),
    );
    println!(
        "wrote {n} token seeds to {} and 5 jwks seeds to {}",
        token_dir.display(),
        jwks_dir.display()
    );
}
