//! proxy-wasm shared data as the core's shared key tier: one copy of each
//! issuer's keys for every worker thread of this Envoy, and a lock by
//! compare-and-swap so that a cold start or a rotation costs one IdP fetch,
//! not one per worker. Only I/O here; the rules are the core's
//! (`edgeward::keystore` shared-tier protocol).

use proxy_wasm::hostcalls;
use proxy_wasm::types::Status;

/// Reads a key: `Ok(None)` when absent, `Err` when the host failed.
pub fn get(key: &str) -> Result<Option<String>, Status> {
    match hostcalls::get_shared_data(key) {
        Ok((Some(v), _)) => Ok(String::from_utf8(v).ok()),
        Ok((None, _)) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Writes a key (last writer wins; values are whole snapshots).
pub fn put(key: &str, value: &str) -> bool {
    hostcalls::set_shared_data(key, Some(value.as_bytes()), None).is_ok()
}

/// Creates a lock key holding a lapsed deadline when it is absent: shared
/// data has compare-and-swap but no insert-if-absent, so locks must exist
/// before two workers race for them.
pub fn create_lock(key: &str) {
    if let Ok((None, _)) = hostcalls::get_shared_data(key) {
        let _ = hostcalls::set_shared_data(key, Some(b"0"), None);
    }
}

/// Takes the lock when it holds a deadline already past: sets it to
/// `deadline` under the compare-and-swap version just read.
pub fn try_lock(key: &str, deadline: i64, now: i64) -> bool {
    let Ok((value, cas)) = hostcalls::get_shared_data(key) else {
        return false;
    };
    let held = value
        .and_then(|v| String::from_utf8(v).ok())
        .and_then(|v| v.parse::<i64>().ok())
        .is_some_and(|d| d > now);
    if held || cas.is_none() {
        return false;
    }
    hostcalls::set_shared_data(key, Some(deadline.to_string().as_bytes()), cas).is_ok()
}

/// A number unique to this worker's VM among all VMs of the plugin (a
/// shared counter bumped by compare-and-swap), for names that must differ
/// per worker (shared queues: the last registration of a name wins).
pub fn worker_number() -> u64 {
    const KEY: &str = "edgeward:workers";
    for _ in 0..100 {
        let Ok((value, cas)) = hostcalls::get_shared_data(KEY) else {
            break;
        };
        let n = value
            .and_then(|v| String::from_utf8(v).ok())
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
            + 1;
        match hostcalls::set_shared_data(KEY, Some(n.to_string().as_bytes()), cas) {
            Ok(()) => return n,
            Err(Status::CasMismatch) => continue,
            Err(_) => break,
        }
    }
    // Without shared data, the clock is unique enough for one name.
    hostcalls::get_current_time()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos() as u64)
}
