//! Helpers shared by the CLI integration tests: run the built binary, temp
//! directories, decoding tokens, a dev issuer guard and a tiny HTTP client.
#![allow(dead_code)]

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::Value;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

pub const BIN: &str = env!("CARGO_BIN_EXE_edgeward");

/// What a run of the binary produced.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {}", self.stdout))
    }

    #[track_caller]
    pub fn ok(self) -> Run {
        assert_eq!(self.code, 0, "expected success: {self:#?}");
        self
    }

    #[track_caller]
    pub fn code(self, want: i32) -> Run {
        assert_eq!(self.code, want, "unexpected exit status: {self:#?}");
        self
    }
}

/// Runs `edgeward args...` with `stdin` (closed when `None`).
pub fn run_with(args: &[&str], stdin: Option<&str>) -> Run {
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        });
    let mut child = cmd.spawn().expect("spawn edgeward");
    if let Some(input) = stdin {
        let mut pipe = child.stdin.take().unwrap();
        pipe.write_all(input.as_bytes()).unwrap();
    }
    let out = child.wait_with_output().expect("wait for edgeward");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        !stderr.contains("panicked"),
        "edgeward panicked on {args:?}: {stderr}"
    );
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr,
    }
}

pub fn run(args: &[&str]) -> Run {
    run_with(args, None)
}

/// A directory removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(name: &str) -> TempDir {
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "edgeward-cli-{}-{}-{name}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    pub fn path(&self, file: &str) -> PathBuf {
        self.0.join(file)
    }

    pub fn str(&self, file: &str) -> String {
        self.path(file).display().to_string()
    }

    pub fn write(&self, file: &str, contents: &str) -> String {
        std::fs::write(self.path(file), contents).unwrap();
        self.str(file)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Decodes part `i` (0 header, 1 claims) of a compact JWS.
pub fn part(token: &str, i: usize) -> Value {
    let p = token.split('.').nth(i).expect("token part");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(p).expect("base64url")).expect("JSON")
}

/// Re-encodes a token with edited claims and the original signature.
pub fn with_claims(token: &str, edit: impl FnOnce(&mut Value)) -> String {
    let parts: Vec<&str> = token.split('.').collect();
    let mut claims = part(token, 1);
    edit(&mut claims);
    let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
    format!("{}.{payload}.{}", parts[0], parts[2])
}

/// `keygen` into `dir` and return the kid.
pub fn keygen(dir: &Path, alg: &str) -> String {
    let d = dir.display().to_string();
    run(&["keygen", "--alg", alg, "--out", &d]).ok();
    let jwks: Value =
        serde_json::from_slice(&std::fs::read(dir.join("jwks.json")).unwrap()).unwrap();
    jwks["keys"][0]["kid"].as_str().unwrap().to_owned()
}

/// `mint` with `key` and extra args; returns the token.
pub fn mint(key: &Path, args: &[&str]) -> String {
    let k = key.display().to_string();
    let mut all = vec!["mint", "--key", &k];
    all.extend_from_slice(args);
    let r = run(&all).ok();
    let token = r.stdout.trim().to_owned();
    assert_eq!(token.split('.').count(), 3, "{token}");
    token
}

/// A running `edgeward dev-idp`, killed on drop.
pub struct DevIdp {
    pub child: Child,
    pub issuer: String,
    pub port: u16,
    pub info: Value,
}

impl DevIdp {
    /// Starts `edgeward dev-idp --json <args>` and reads its start line.
    pub fn start(args: &[&str]) -> DevIdp {
        let mut child = Command::new(BIN)
            .arg("dev-idp")
            .arg("--json")
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn dev-idp");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let info: Value = match serde_json::from_str(&line) {
            Ok(v) => v,
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("dev-idp did not print its JSON line: {line:?}");
            }
        };
        DevIdp {
            issuer: info["issuer"].as_str().unwrap().to_owned(),
            port: info["port"].as_u64().unwrap() as u16,
            info,
            child,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub fn stats(&self) -> Value {
        get(&self.url("/stats")).json()
    }

    /// POST /token (client_credentials) with extra form fields.
    pub fn token(&self, form: &[(&str, &str)]) -> String {
        let mut fields = vec![("grant_type", "client_credentials")];
        fields.extend_from_slice(form);
        let r = post_form(&self.url("/token"), &fields);
        assert_eq!(r.status, 200, "{}", r.body);
        r.json()["access_token"].as_str().unwrap().to_owned()
    }

    /// Sends `signal` (TERM, INT) and waits for the exit status.
    pub fn signal(&mut self, signal: &str) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        let ok = Command::new("kill")
            .args([&format!("-{signal}"), &pid])
            .status()
            .unwrap();
        assert!(ok.success());
        for _ in 0..100 {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("dev-idp did not exit after SIG{signal}");
    }
}

impl Drop for DevIdp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Resp {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(20)))
        .build()
        .into()
}

fn finish(resp: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> Resp {
    let mut resp = resp.expect("HTTP request");
    Resp {
        status: resp.status().as_u16(),
        headers: resp
            .headers()
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_owned()))
            .collect(),
        body: resp.body_mut().read_to_string().unwrap(),
    }
}

pub fn get(url: &str) -> Resp {
    finish(agent().get(url).call())
}

pub fn post_form(url: &str, fields: &[(&str, &str)]) -> Resp {
    finish(agent().post(url).send_form(fields.iter().copied()))
}

pub fn post_form_auth(url: &str, auth: &str, fields: &[(&str, &str)]) -> Resp {
    finish(
        agent()
            .post(url)
            .header("authorization", auth)
            .send_form(fields.iter().copied()),
    )
}

pub fn post(url: &str) -> Resp {
    finish(agent().post(url).send_empty())
}
