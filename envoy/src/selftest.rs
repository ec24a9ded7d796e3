//! Known answers for the signature backend's self-test at configure time:
//! an RS256, an ES256 and an ES512 signature from the conformance cases
//! (`tests/cases/01-rs256-valid.json`, `02-es256-valid.json`,
//! `54-es512-valid.json`), each also with one bit of the message flipped.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use edgeward::keys::parse_jwk;
use edgeward::{Algorithm, PublicKey};

/// One known answer.
pub struct Vector {
    pub alg: Algorithm,
    pub key: PublicKey,
    pub message: Vec<u8>,
    pub signature: Vec<u8>,
    pub valid: bool,
}

const RS256_TOKEN: &str = "eyJhbGciOiJSUzI1NiIsImtpZCI6InJzYS0xIiwidHlwIjoiYXQrand0In0.eyJhdWQiOiJhcGk6Ly9vcmRlcnMiLCJlbWFpbCI6ImFsaWNlQGV4YW1wbGUudGVzdCIsImV4cCI6MTgwMDAwMzYwMCwiaWF0IjoxNzk5OTk5OTkwLCJpc3MiOiJodHRwczovL2lkcC50ZXN0LyIsInNjb3BlIjoib3JkZXJzOnJlYWQiLCJzdWIiOiJhbGljZSIsInRpZCI6ImFjbWUifQ.eLNKW3_ETP57Y8tYFVjWhAaZ1ynVv62POu7-GoC-xHYixX0BwqnaDCKNkHIny6CM6gwLg37hko3wQ8tQmjyHNay4voD6FrHCAnLRT81UDA8PmaH6uI3NAdnvCy3I7a3kkhKoeWmvJwycKbrs_jrgRp8hRBpo7qoXsP1Jn4r2UkQwTWpq1fFexnCSNdnMEb9o5QnSMEdMe_O_WgEfqY1JJhDMsMtNULoMlftUHFtiD_jvxWQpuZ-gHrQPrb4w6gSclrOVTd-OhDnbFKlCJcc9Ac90tuFmyvwJJwi1stnLeSKySLIZDSLBscfdpuvbzABUg1As7staBV3ARRiDNGBB2A";
const RS256_JWK: &str = r#"{"alg":"RS256","e":"AQAB","kid":"rsa-1","kty":"RSA","n":"ryyrFwWLE_nFhg3lGUV3mO__eStvcoC6m5-jsBOJ9Owae_Lfd4LizQOQseC3W_b5IANqYlhBXrxkBRDt3muAzy2OH7MN3TH19VgI5UQ_HorXlwfeJjO5n02enlswpfS2xA5x0tN5CrQjEz3g5uukWdODSHYBDrjHgnrYuJcUa0kt9G7WOLPIcyBvIC9eNdfRkdWmPyLI1QmrvkPaBvB2e0UfwpVVgQCgne8DhA-7rRsW1wadNwKd4B_wQ5i0chRoSwJgCIjwL4vmBYuQ7nQOuvNQ4ThcOZ-XxHeeHQBoBa0GA4QwY0uajpSBsoawpXWAm_DQ5_TNPp2G6ZCEl9b6-w","use":"sig"}"#;
const ES256_TOKEN: &str = "eyJhbGciOiJFUzI1NiIsImtpZCI6ImVjLTEiLCJ0eXAiOiJhdCtqd3QifQ.eyJhdWQiOiJhcGk6Ly9vcmRlcnMiLCJlbWFpbCI6ImFsaWNlQGV4YW1wbGUudGVzdCIsImV4cCI6MTgwMDAwMzYwMCwiaWF0IjoxNzk5OTk5OTkwLCJpc3MiOiJodHRwczovL2lkcC50ZXN0LyIsInNjb3BlIjoib3JkZXJzOnJlYWQiLCJzdWIiOiJhbGljZSIsInRpZCI6ImFjbWUifQ.pFzgyf9hj5hdPf7hSf4i7b81irVAssQAjfukJcjvOmNGUunixrjkXThKe0erYC0oA9zHqEcSB_MF32Odj1tboA";
const ES256_JWK: &str = r#"{"alg":"ES256","crv":"P-256","kid":"ec-1","kty":"EC","use":"sig","x":"knsLk8nAXGjZVFvUX_coeXGWb_jSbvZGS2gHGjozJ7E","y":"kB_MnoJw2L9NH6ZATeRhl_z-MXQPD916bcL8hGj3gvE"}"#;

const ES512_TOKEN: &str = "eyJhbGciOiJFUzUxMiIsImtpZCI6ImVjNTEyLTEiLCJ0eXAiOiJhdCtqd3QifQ.eyJhdWQiOiJhcGk6Ly9vcmRlcnMiLCJlbWFpbCI6ImFsaWNlQGV4YW1wbGUudGVzdCIsImV4cCI6MTgwMDAwMzYwMCwiaWF0IjoxNzk5OTk5OTkwLCJpc3MiOiJodHRwczovL2lkcC50ZXN0LyIsInNjb3BlIjoib3JkZXJzOnJlYWQiLCJzdWIiOiJhbGljZSIsInRpZCI6ImFjbWUifQ.AQEXzl_bikuoZzpnB2yILpuXbF_bYPRxMJGToYNE1n_mzFxNRJ_czsi4g3Mr-SgV-7v0Hokq8_X_HwhdoRTk001fAfQ762eLqEnapGxzac-pE0x5nNvVIRDFSNF3BBNtjlzL0xJefSfah8hG_jVFIAAkh8BHWrzeCTiAWVTMQ61Lmp3j";
const ES512_JWK: &str = r#"{"alg":"ES512","crv":"P-521","kid":"ec512-1","kty":"EC","use":"sig","x":"ALpix4V68EWFsG_m5FRdJosOtn_BfROyMQYncs8AuI01KVWzKNwdU1emME0cnRkOMAqYe0CSkpP_jCjQz86OucTj","y":"APsfV3-aK5frZCdonI26NY1M3LEvwwTBTaptH15Y4zf2wkEvyNrcJh75ishkoIgLAFTgh6i-6Lo97LdDpZj-WJvz"}"#;

/// The vectors (valid and altered, for each algorithm).
pub fn vectors() -> Vec<Vector> {
    let mut out = Vec::new();
    for (alg, token, jwk) in [
        (Algorithm::RS256, RS256_TOKEN, RS256_JWK),
        (Algorithm::ES256, ES256_TOKEN, ES256_JWK),
        (Algorithm::ES512, ES512_TOKEN, ES512_JWK),
    ] {
        let (Some((input, sig)), Ok(jwk)) = (
            token.rsplit_once('.'),
            serde_json::from_slice(jwk.as_bytes()),
        ) else {
            continue;
        };
        let (Ok(key), Ok(signature)) = (parse_jwk(&jwk), URL_SAFE_NO_PAD.decode(sig)) else {
            continue;
        };
        let mut altered = input.as_bytes().to_vec();
        altered[0] ^= 1;
        out.push(Vector {
            alg,
            key: key.clone(),
            message: input.as_bytes().to_vec(),
            signature: signature.clone(),
            valid: true,
        });
        out.push(Vector {
            alg,
            key,
            message: altered,
            signature,
            valid: false,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn six_vectors() {
        assert_eq!(super::vectors().len(), 6);
    }
}
