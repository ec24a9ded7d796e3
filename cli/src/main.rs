//! `edgeward`: debug why a token is rejected, make keys and test tokens, run
//! a development issuer, and validate configuration.
//!
//! Exit status everywhere: 0 success (for `check`: allowed), 1 denied
//! (`check` only), 2 usage, configuration or I/O error. Errors are one line
//! on stderr, `edgeward: <what>: <why>`, and never a panic.

mod check;
mod configcmd;
mod devidp;
mod http;
mod keys;
mod mint;
mod util;

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

/// A failure that ends the command with exit status 2.
#[derive(Debug)]
pub struct CliError(pub String);

impl CliError {
    /// An error naming `what` (a flag, a file, a URL).
    pub fn at(what: impl std::fmt::Display, why: impl std::fmt::Display) -> CliError {
        CliError(format!("{what}: {why}"))
    }
}

impl From<String> for CliError {
    fn from(s: String) -> Self {
        CliError(s)
    }
}

impl From<&str> for CliError {
    fn from(s: &str) -> Self {
        CliError(s.to_owned())
    }
}

/// Result of a command.
pub type CliResult<T = ()> = Result<T, CliError>;

/// Prints a line to stdout, ignoring a closed pipe (`edgeward ... | head`).
#[macro_export]
macro_rules! outln {
    () => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout());
    }};
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

/// Prints a line to stderr, ignoring errors.
#[macro_export]
macro_rules! errln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

const MAIN_EXAMPLES: &str = "\
Examples:
  # Why is this token rejected? (keys by OIDC discovery from the issuer)
  edgeward check --issuer https://idp.example.com/ --audience api \"$TOKEN\"

  # The same against a configuration file and one route
  edgeward check --config edgeward.toml --method POST --path /orders \"$TOKEN\"

  # Local keys and tokens for tests
  edgeward keygen --alg ES256 --out keys/
  edgeward mint --key keys/private.pem --iss https://dev.local --aud api --sub alice --scope read

  # A development issuer on 127.0.0.1
  edgeward dev-idp --port 8080

Exit status: 0 allowed / success, 1 denied (check), 2 usage, configuration or I/O error.";

/// edgeward: an OAuth 2.0 / OIDC access-token gate, on the command line.
#[derive(Parser, Debug)]
#[command(
    name = "edgeward",
    version,
    about = "Debug JWT access tokens, mint test tokens, run a development issuer, validate edgeward configuration",
    after_help = MAIN_EXAMPLES,
    propagate_version = true,
    arg_required_else_help = true,
    disable_help_subcommand = true
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Verify a token and explain every step of the decision.
    #[command(after_help = check::EXAMPLES)]
    Check(CheckArgs),
    /// Generate a signing key: DIR/private.pem and DIR/jwks.json.
    #[command(after_help = keys::EXAMPLES)]
    Keygen(KeygenArgs),
    /// Print a signed test access token (compact JWS).
    #[command(after_help = mint::EXAMPLES)]
    Mint(MintArgs),
    /// Run a development OAuth 2.0 / OIDC issuer on 127.0.0.1.
    #[command(name = "dev-idp", after_help = devidp::EXAMPLES)]
    DevIdp(DevIdpArgs),
    /// Configuration tools.
    #[command(subcommand, after_help = configcmd::EXAMPLES)]
    Config(ConfigCommand),
}

#[derive(Subcommand, Debug)]
enum ConfigCommand {
    /// Validate a configuration file and print the effective settings.
    #[command(after_help = configcmd::EXAMPLES)]
    Check(ConfigCheckArgs),
}

/// `edgeward check`.
#[derive(Args, Debug)]
pub struct CheckArgs {
    /// The token, or `-` (or nothing) to read it from stdin. A leading
    /// `Bearer ` is ignored.
    #[arg(value_name = "TOKEN")]
    pub token: Option<String>,
    /// Configuration file (TOML or JSON), as the gate uses it.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["issuer", "audience", "alg", "leeway"])]
    pub config: Option<PathBuf>,
    /// Trusted issuer (the exact `iss`); repeat for several.
    #[arg(long, value_name = "URL")]
    pub issuer: Vec<String>,
    /// Accepted audience; repeat for several.
    #[arg(long, value_name = "AUD")]
    pub audience: Vec<String>,
    /// Key set: a local JWKS file or an http(s) URL. Without it, keys are
    /// found by OIDC discovery from the issuer.
    #[arg(long, value_name = "FILE_OR_URL")]
    pub jwks: Option<String>,
    /// Accepted algorithm; repeat for several (default: every asymmetric one).
    #[arg(long, value_name = "ALG")]
    pub alg: Vec<String>,
    /// Clock skew allowed on exp/nbf/iat, in seconds (default 60).
    #[arg(long, value_name = "SECS")]
    pub leeway: Option<u64>,
    /// Request method for the route policy.
    #[arg(long, value_name = "METHOD", default_value = "GET")]
    pub method: String,
    /// Request path for the route policy. Without it the token is checked
    /// alone (any valid token passes).
    #[arg(long, value_name = "PATH")]
    pub path: Option<String>,
    /// Evaluate as of this time (Unix seconds) instead of the system clock.
    #[arg(long, value_name = "UNIX_SECONDS")]
    pub now: Option<i64>,
    /// Print one JSON object instead of the explanation.
    #[arg(long)]
    pub json: bool,
}

/// `edgeward keygen`.
#[derive(Args, Debug)]
pub struct KeygenArgs {
    /// Algorithm the key is for: RS256 RS384 RS512 PS256 PS384 PS512 ES256 ES384 ES512 EdDSA.
    #[arg(long, value_name = "ALG")]
    pub alg: String,
    /// Key id (default: a short thumbprint of the public key).
    #[arg(long, value_name = "ID", allow_hyphen_values = true)]
    pub kid: Option<String>,
    /// Directory for private.pem and jwks.json (created if missing).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// RSA modulus size in bits (2048, 3072 or 4096).
    #[arg(long, value_name = "BITS", default_value_t = 2048)]
    pub bits: usize,
    /// Overwrite an existing private.pem.
    #[arg(long)]
    pub force: bool,
}

/// `edgeward mint`.
#[derive(Args, Debug)]
pub struct MintArgs {
    /// Private key: PKCS#8 PEM ("PRIVATE KEY"), or PKCS#1 ("RSA PRIVATE KEY").
    #[arg(long, value_name = "PEM")]
    pub key: PathBuf,
    /// `kid` header (default: the same thumbprint `keygen` uses; a
    /// base64url thumbprint may start with `-`).
    #[arg(long, value_name = "ID", allow_hyphen_values = true)]
    pub kid: Option<String>,
    /// Algorithm (default: from the key: ES256, ES384, ES512, EdDSA or RS256).
    #[arg(long, value_name = "ALG")]
    pub alg: Option<String>,
    /// `iss` claim.
    #[arg(long, value_name = "ISSUER")]
    pub iss: String,
    /// `aud` claim; repeat for several (then `aud` is an array).
    #[arg(long, value_name = "AUD", required = true)]
    pub aud: Vec<String>,
    /// `sub` claim.
    #[arg(long, value_name = "SUBJECT")]
    pub sub: Option<String>,
    /// `scope` claim, space-separated.
    #[arg(long, value_name = "SCOPES")]
    pub scope: Option<String>,
    /// Extra claim `name=value`; a value that parses as JSON is JSON, else a
    /// string. Repeatable; overrides everything else.
    #[arg(long, value_name = "NAME=VALUE")]
    pub claim: Vec<String>,
    /// Extra claims as one JSON object.
    #[arg(long, value_name = "JSON")]
    pub claims: Option<String>,
    /// Lifetime: exp = iat + ttl (`90`, `90s`, `15m`, `1h`, `2d`).
    #[arg(long, value_name = "DURATION", default_value = "1h")]
    pub ttl: String,
    /// `typ` header (`""` to leave it out).
    #[arg(long, value_name = "TYP", default_value = "at+jwt")]
    pub typ: String,
    /// `iat` as Unix seconds (default: now).
    #[arg(long, value_name = "UNIX_SECONDS")]
    pub now: Option<i64>,
}

/// `edgeward dev-idp`.
#[derive(Args, Debug)]
pub struct DevIdpArgs {
    /// Port on 127.0.0.1 (0: a free one, printed at start).
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub port: u16,
    /// Issuer URL to announce (default http://127.0.0.1:PORT), e.g. when a
    /// proxy or port mapping sits in front.
    #[arg(long, value_name = "URL")]
    pub issuer_url: Option<String>,
    /// Signing algorithm (default ES256, or the one in --state-dir).
    #[arg(long, value_name = "ALG")]
    pub alg: Option<String>,
    /// Keep signing keys here across restarts (state.json, mode 0600).
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    /// How long a rotated-out public key stays in the JWKS.
    #[arg(long, value_name = "DURATION", default_value = "10m")]
    pub grace: String,
    /// Lifetime of issued tokens.
    #[arg(long, value_name = "DURATION", default_value = "1h")]
    pub token_ttl: String,
    /// `Cache-Control: max-age` of the JWKS and discovery responses, in seconds.
    #[arg(long, value_name = "SECS", default_value_t = 300)]
    pub jwks_max_age: u64,
    /// Audience of tokens that ask for none.
    #[arg(long, value_name = "AUD", default_value = "api")]
    pub audience: String,
    /// Print one JSON line ({"issuer","port",...}) on stdout at start.
    #[arg(long)]
    pub json: bool,
}

/// `edgeward config check`.
#[derive(Args, Debug)]
pub struct ConfigCheckArgs {
    /// Configuration file (TOML, or JSON when it starts with `{`); `-` for stdin.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// Print the effective configuration (or the errors) as JSON.
    #[arg(long)]
    pub json: bool,
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // --help and --version print and succeed; usage errors exit 2.
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    let result = match cli.command {
        Command::Check(a) => check::run(a),
        Command::Keygen(a) => keys::run_keygen(a).map(|()| 0),
        Command::Mint(a) => mint::run(a).map(|()| 0),
        Command::DevIdp(a) => devidp::run(a).map(|()| 0),
        Command::Config(ConfigCommand::Check(a)) => configcmd::run(a),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(CliError(msg)) => {
            errln!("edgeward: {msg}");
            ExitCode::from(2)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }
}
