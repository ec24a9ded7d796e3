// The Worker's ES module entry: instantiates the wasm (a CompiledWasm module
// import, so no compile at request time) and hands requests to Rust.
// worker/scripts/build.sh copies this next to the wasm-bindgen output.
//
// `fetchFast` decides synchronously when it can (keys in memory): a Response
// (a refusal, or the gate's answer to a CORS preflight), or what to fetch
// from the origin ({url, init, respond?}), fetched here and passed back as
// it is, or through `respond` when the gate adds headers to the origin's
// response (CORS); or, for a signature the core hands to WebCrypto
// ({check, verdict}), decides once `verdict` is in. Otherwise (keys to
// fetch) the async `fetch` export does the whole request.
import wasmModule from "./edgeward_worker_bg.wasm";
import { env as moduleEnv } from "cloudflare:workers";
import { initSync, fetch as edgewardFetch, fetchFast, prime, adoptSnapshot, afterFirstVerdict, rehearse } from "./edgeward_worker.js";

initSync({ module: wasmModule });

// The gate is built when workerd evaluates this module: Cloudflare starts a
// Worker's isolate while the TLS handshake of the connection that needs it
// is still running, so reading the settings, parsing the configuration and
// building the gate (with V8 compiling that code on its first call) are then
// off the first request's path. The bindings come from `cloudflare:workers`
// (vars and secrets are readable at module scope; KV is not: its reads start
// on the first request). Without them (a runtime that does not offer them),
// the first request builds the gate. The KV keys to read: see `load`.
let primed = null;
try {
  if (moduleEnv != null && Object.keys(moduleEnv).length > 0) primed = prime(moduleEnv);
} catch {}

// How long a KV read at start may take (src/keycache.rs KV_TIMEOUT_MS): past
// it the isolate starts without that snapshot and its first flight reads KV
// again or goes to the IdP.
const KV_TIMEOUT_MS = 1500;
// How long a request that arrives while the isolate loads waits for it
// (the load takes at most one KV read); then it is decided anyway.
const LOAD_WAIT_MS = 5000;
// When, after a new isolate's first decision, what it did not need runs:
// node:crypto loaded, the held log lines written (src/lib.rs
// `afterFirstVerdict`).
const AFTER_FIRST_VERDICT_MS = 20;

// 0: a new isolate; 1: its first request is loading it; 2: loaded (ready,
// or broken settings, which Rust answers with a 500 on every request).
let phase = 0;

// A KV read that never rejects and ends within KV_TIMEOUT_MS: {value}
// (a string, or null when absent) or {error}.
function readKv(kv, key) {
  let timer;
  const late = new Promise((r) => {
    timer = setTimeout(() => r({ error: `no answer within ${KV_TIMEOUT_MS} ms` }), KV_TIMEOUT_MS);
  });
  let read;
  try {
    read = Promise.resolve(kv.get(key)).then((value) => ({ value }), (e) => ({ error: String(e?.message ?? e) }));
  } catch (e) {
    read = Promise.resolve({ error: String(e?.message ?? e) });
  }
  return Promise.race([read, late]).finally(() => clearTimeout(timer));
}

// The snapshot reads, started before the settings are read and the gate is
// built (which then run while the reads are in flight): one per configured
// issuer, of the core's snapshot key "edgeward:keys:v1:<issuer>"
// (src/keystore/shared.rs). Only for a configuration readable here without a
// parser: a wrangler.toml table (an object) or JSON text. The core names the
// keys it reads (`prime`); a read is used only for a key it names, so a name
// that drifted costs a read, never a wrong answer. Errors are Rust's to report.
function prefetch(env) {
  const reads = new Map();
  try {
    const kv = env.EDGEWARD_KV;
    let c = env.EDGEWARD_CONFIG;
    if (typeof c === "string") c = c.trimStart().startsWith("{") ? JSON.parse(c) : null;
    if (typeof kv?.get !== "function" || !Array.isArray(c?.issuers)) return reads;
    for (const i of c.issuers) {
      if (typeof i?.issuer !== "string") continue;
      const key = "edgeward:keys:v1:" + i.issuer;
      if (!reads.has(key)) reads.set(key, readKv(kv, key));
    }
  } catch {}
  return reads;
}

// A new isolate's first request: the gate built and its key snapshots read
// from KV and adopted before the first check, all without the async export,
// whose promise machinery costs a new isolate's first request milliseconds.
async function load(request, env, ctx) {
  phase = 1;
  try {
    const started = Date.now();
    const reads = prefetch(env);
    const keys = primed ?? prime(env);
    if (keys.length > 0) {
      const pending = Promise.all(keys.map((k) => reads.get(k) ?? readKv(env.EDGEWARD_KV, k)));
      // While the reads are in flight: the keyless part of this request's
      // check, thrown away, so that V8 compiles its wasm now rather than
      // after the reads (src/lib.rs `rehearse`). It decides nothing.
      try {
        rehearse(request);
      } catch {}
      const got = await pending;
      const ms = Date.now() - started;
      for (let i = 0; i < keys.length; i++) {
        adoptSnapshot(i, got[i].value ?? undefined, got[i].error, reads.has(keys[i]), ms);
      }
    }
  } finally {
    phase = 2;
  }
  const answer = decide(request, env, ctx);
  ctx.waitUntil(new Promise((r) => setTimeout(r, AFTER_FIRST_VERDICT_MS)).then(() => afterFirstVerdict()));
  return answer;
}

// Requests that arrive while the first one loads the isolate wait for it on
// timers of their own (1, 2, 4, 8, then 16 ms): workerd does not let one
// request wake on another's I/O.
async function waitForLoad(request, env, ctx) {
  const deadline = Date.now() + LOAD_WAIT_MS;
  for (let pause = 1; phase === 1 && Date.now() < deadline; pause = Math.min(pause * 2, 16)) {
    await new Promise((r) => setTimeout(r, pause));
  }
  return decide(request, env, ctx);
}

function originUnreachable(request, error) {
  console.log(JSON.stringify({ event: "origin_error", error: String(error?.message ?? error), path: new URL(request.url).pathname }));
  return new Response(
    JSON.stringify({ error: "bad_gateway", reason: "origin_unreachable", detail: "the origin could not be reached" }),
    { status: 502, headers: { "content-type": "application/json", "cache-control": "no-store" } },
  );
}

// `check`, `verdict`: a signature the core handed to WebCrypto (its number,
// and WebCrypto's answer), on the call that decides with it.
function decide(request, env, ctx, check, verdict) {
  const fast = fetchFast(request, ctx, check, verdict ?? -1);
  if (fast === undefined) return edgewardFetch(request, env, ctx);
  // The common case first, by a plain property (an `instanceof Response`
  // on every request costs more): {url, init, respond?} for the origin.
  const init = fast.init;
  if (init !== undefined) return fetch(fast.url, init).then(fast.respond, (e) => originUnreachable(request, e));
  if (fast.check !== undefined) return fast.verdict.then((v) => decide(request, env, ctx, fast.check, v));
  return fast;
}

export default {
  fetch(request, env, ctx) {
    if (phase === 2) return decide(request, env, ctx);
    return phase === 0 ? load(request, env, ctx) : waitForLoad(request, env, ctx);
  },
};
