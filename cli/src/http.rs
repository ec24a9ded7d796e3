//! HTTP GET for discovery documents and key sets (blocking, https via rustls).

use std::time::Duration;

/// A response: status, headers, body.
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// GETs `url`, reading at most `limit` bytes of body (one more than the
/// gate accepts, so the gate can say the response is too large).
pub fn get(url: &str, limit: usize, timeout_secs: u64) -> Result<Response, String> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(timeout_secs.max(1))))
        .http_status_as_error(false)
        .user_agent(concat!("edgeward-cli/", env!("CARGO_PKG_VERSION")))
        .build()
        .into();
    let mut resp = agent
        .get(url)
        .header("accept", "application/json")
        .call()
        .map_err(|e| e.to_string())?;
    let status = resp.status().as_u16();
    let headers = resp
        .headers()
        .iter()
        .filter_map(|(k, v)| Some((k.as_str().to_owned(), v.to_str().ok()?.to_owned())))
        .collect();
    let body = resp
        .body_mut()
        .with_config()
        .limit(limit as u64 + 1)
        .read_to_vec();
    let body = match body {
        Ok(b) => b,
        // Over the limit: hand the gate a body that is too large so it says so.
        Err(ureq::Error::BodyExceedsLimit(_)) => vec![b' '; limit + 1],
        Err(e) => return Err(e.to_string()),
    };
    Ok(Response {
        status,
        headers,
        body,
    })
}
