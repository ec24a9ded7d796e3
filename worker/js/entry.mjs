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
import { initSync, fetch as edgewardFetch, fetchFast } from "./edgeward_worker.js";

initSync({ module: wasmModule });

function originUnreachable(request, error) {
  console.log(JSON.stringify({ event: "origin_error", error: String(error?.message ?? error), path: new URL(request.url).pathname }));
  return new Response(
    JSON.stringify({ error: "bad_gateway", reason: "origin_unreachable", detail: "the origin could not be reached" }),
    { status: 502, headers: { "content-type": "application/json", "cache-control": "no-store" } },
  );
}

export default {
  fetch(request, env, ctx) {
    const fast = fetchFast(request, ctx);
    if (fast === undefined) return edgewardFetch(request, env, ctx);
    if (fast instanceof Response) return fast;
    return fetch(fast.url, fast.init).then(fast.respond, (e) => originUnreachable(request, e));
  },
};
