//! # edgeward
//!
//! A sans-IO OAuth 2.0 / OpenID Connect access-token gate. The host (a
//! Cloudflare Worker, a JS runtime, an Envoy filter, the CLI) passes request
//! parts and the time in; the [`Gate`] answers with a [`Decision`] or with a
//! [`KeyFetch`] for the host to perform and feed back. The core does no I/O,
//! reads no clock and holds no globals.
//!
//! ```
//! use edgeward::{Config, Gate, Outcome, Request, Decision};
//! let config = Config::parse(r#"
//!     [[issuers]]
//!     issuer = "https://idp.example.com/"
//!     audiences = ["api"]
//!     [[routes]]
//!     path = "/health"
//!     access = "anonymous"
//! "#).unwrap();
//! let mut gate = Gate::new(config).unwrap();
//! let req = Request { method: "GET", path: "/orders", headers: &[] };
//! match gate.check(&req, 1_700_000_000) {
//!     Outcome::Decided(Decision::Deny(d)) => assert_eq!(d.reason.code(), "route_denied"),
//!     other => panic!("{other:?}"),
//! }
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod assertion;
pub mod cache;
mod casefold;
pub mod claims;
pub mod config;
mod config_de;
pub mod crypto;
pub mod decision;
pub mod gate;
pub mod json;
pub mod jws;
pub mod keys;
pub mod keystore;
pub mod observe;
pub mod policy;
pub mod token;

pub use config::{Config, ConfigError, ConfigErrors};
pub use crypto::{RingBackend, SignatureAnswer, SignatureBackend, SignatureCheck};
pub use decision::{header_key, Allow, Answer, Decision, Deny, Identity, IdentityKind, Reason};
pub use gate::{Gate, Outcome, Step, Verification};
pub use keys::Algorithm;
pub use keys::PublicKey;
pub use keystore::{
    FetchKind, Freshness, IngestReport, KeyFetch, KeyStore, SharedNext, SharedRead, SharedTier,
    SharedWrite,
};
pub use observe::{CacheUse, DecisionEvent, EventOutcome};
pub use token::Request;
