// The Worker's ES module entry: instantiates the wasm (a CompiledWasm module
// import, so no compile at request time) and hands requests to Rust.
// worker/scripts/build.sh copies this next to the wasm-bindgen output.
//
// `fetchFast` decides synchronously when it can (isolate ready, no key fetch
// needed): a Response (a refusal, or the gate's answer to a CORS preflight),
// or what to fetch from the origin ({url, init, respond?}), fetched here and
// passed back as it is, or through `respond` when the gate adds headers to
// the origin's response (CORS). Otherwise (first request of an isolate, keys
// to fetch) the async `fetch` export does the whole request.
import wasmModule from "./edgeward_worker_bg.wasm";
import { initSync, fetch as edgewardFetch, fetchFast, kvPrefetched } from "./edgeward_worker.js";

initSync({ module: wasmModule });

// A new isolate's first event starts its KV reads before anything else, so
// that reading the settings and building the gate (src/lib.rs `load`) run
// while they are in flight: one read per configured issuer, of the core's
// snapshot key "edgeward:keys:v1:<issuer>" (src/keystore/shared.rs), handed
// to Rust, which uses a read only when the core names that very key and
// reads any other key itself (src/keycache.rs `warm_from_kv`): a name that
// drifted costs a read, never a wrong answer. Only for a configuration
// readable here without a parser: a wrangler.toml table (an object) or JSON
// text. Errors are Rust's to report.
let started = false;
function prefetchSnapshots(env) {
  try {
    const kv = env.EDGEWARD_KV;
    let c = env.EDGEWARD_CONFIG;
    if (typeof c === "string") c = c.trimStart().startsWith("{") ? JSON.parse(c) : null;
    if (typeof kv?.get !== "function" || !Array.isArray(c?.issuers)) return;
    const reads = new Map();
    for (const i of c.issuers) {
      if (typeof i?.issuer !== "string") continue;
      const key = "edgeward:keys:v1:" + i.issuer;
      const read = kv.get(key);
      read.catch(() => {}); // a read Rust does not take must not reject unhandled
      reads.set(key, read);
    }
    kvPrefetched(reads);
  } catch {}
}

function originUnreachable(request, error) {
  console.log(JSON.stringify({ event: "origin_error", error: String(error?.message ?? error), path: new URL(request.url).pathname }));
  return new Response(
    JSON.stringify({ error: "bad_gateway", reason: "origin_unreachable", detail: "the origin could not be reached" }),
    { status: 502, headers: { "content-type": "application/json", "cache-control": "no-store" } },
  );
}

export default {
  fetch(request, env, ctx) {
    if (!started) {
      started = true;
      prefetchSnapshots(env);
    }
    const fast = fetchFast(request, ctx);
    if (fast === undefined) return edgewardFetch(request, env, ctx);
    if (fast instanceof Response) return fast;
    return fetch(fast.url, fast.init).then(fast.respond, (e) => originUnreachable(request, e));
  },
};
