// The cold isolate: time and CPU from a new isolate's first event to its
// first verdict, for edgeward's Worker (warm KV) and the jose reference
// Worker doing the same job (OIDC discovery, then the JWKS), in one run.
//
//   node bench/worker/cold.mjs [--samples N] [--delays 0,50] [--alg ES256|RS256] [--before DIR] [--compare name=DIR,...] [--prewarm] [--kv-latency MS] [--json out.json] [--dump]
//   EDGEWARD_WORKER_NAMES=1 EDGEWARD_WORKER_OUT=/tmp/ew-names worker/scripts/build.sh
//   BENCH_EDGEWARD_DIR=/tmp/ew-names node bench/worker/cold.mjs    (Rust phases by name)
//
// Each sample is a new workerd (Miniflare) per Worker, the Workers
// interleaved. workerd evaluates a Worker's entry module when it loads it,
// before any request (and before an inspector can attach), so each Worker
// runs behind a two-line entry that imports the real one on the first
// request (`import()` of a module in the bundle): the module's evaluation
// (for edgeward: instantiating the wasm) then happens inside the first
// request, as in an isolate started for that request. For edgeward, KV
// holds the key snapshot (written by an earlier isolate), and Miniflare's KV
// simulator (a Durable Object in the same workerd) is woken by one read
// from Node before the request, as production KV is always up. Each sample
// is two runs: one plain, for
//   wall    request sent → response received (loopback HTTP included),
//   main    the workerd main thread's CPU over that span (schedstat, ns):
//           the isolate, plus workerd's HTTP and the KV simulator; V8's
//           background compiler threads not included,
//   proc    every workerd thread's CPU over that span,
//   KV read the snapshot read as the Worker timed it (log key_load),
// and one under V8's sampling profiler (workerd's inspector, 50 µs), for the
// isolate's busy time split into phases by the functions on each sample's
// stack (innermost match wins; Rust names need a names build, see above):
// instantiate (wasm instantiation), crypto (loading node:crypto), config
// (settings, config parse and validation), gate (policy, gate build), kv
// (the KV reads' JS and Rust side, not the wait), restore (adopting the
// snapshot: JWKS parse, key import), verify (the check: token, signature,
// claims, policy), forward (the origin request), log, gc, other (everything
// else; mostly the async state machine that inlines the rest, and V8's lazy
// compilation of each wasm function on its first call, which is charged to
// its caller). The profiler inflates what it watches (every function V8
// compiles is logged to it), module loading most: read its phases as
// shares, and main-thread CPU as the cost.
import http from "node:http";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { execSync } from "node:child_process";
import { Miniflare, WebSocket, bundleJose, common, edgewardConfig, edgewardDir, edgewardOptions, here, jose, mint } from "./common.mjs";

const args = process.argv.slice(2);
const opt = (name, dflt) => (args.includes(name) ? args[args.indexOf(name) + 1] : dflt);
const SAMPLES = Number(opt("--samples", 7));
const DELAYS = opt("--delays", "0,50").split(",").map(Number);
const jsonOut = opt("--json", null);
const dump = args.includes("--dump");
const INTERVAL_US = 50;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const listen = (server) => new Promise((r) => server.listen(0, "127.0.0.1", () => r(server.address().port)));

// ---- the IdP: OIDC discovery and a JWKS on loopback, each answer delayed
// by `idpDelay` ms (a remote IdP).
const alg = opt("--alg", "ES256");
const { privateKey, publicKey } = await jose.generateKeyPair(alg, { extractable: true });
const jwk = { ...(await jose.exportJWK(publicKey)), kid: "cold", alg, use: "sig" };
let idpDelay = 0;
const hits = { discovery: 0, jwks: 0 };
const idp = http.createServer(async (q, s) => {
  const kind = q.url === "/.well-known/openid-configuration" ? "discovery" : q.url === "/jwks" ? "jwks" : null;
  if (!kind) return s.writeHead(404).end();
  hits[kind]++;
  if (idpDelay) await sleep(idpDelay);
  s.writeHead(200, { "content-type": "application/json", "cache-control": "max-age=600" });
  s.end(JSON.stringify(kind === "jwks" ? { keys: [jwk] } : { issuer, jwks_uri: `${issuer}/jwks` }));
});
const issuer = `http://127.0.0.1:${await listen(idp)}`;
const audience = "https://api.bench";
const origin = http.createServer((q, s) => {
  q.resume();
  q.on("end", () => s.end("ok"));
});
const originUrl = `http://127.0.0.1:${await listen(origin)}`;
const tokens = [];
for (let i = 0; i < 20 * SAMPLES * DELAYS.length + 1; i++) tokens.push(await mint(alg, privateKey, { issuer, audience, kid: "cold", sub: `u${i}`, jti: `j${i}` }));

// ---- the Workers, each behind the lazy entry: edgeward (BENCH_EDGEWARD_DIR
// or the shipped build), edgeward as built in --before DIR when given (to
// compare two builds in one run), and jose
// --prewarm: the entry imported statically instead, so workerd evaluates it
// when it loads the Worker, before the first request: an isolate Cloudflare
// started ahead of its first request (it does, during the TLS handshake of
// the connection that needs it), whose top-level work is then off that
// request's path. The measured span is the same: first request sent to its
// answer.
const PREWARM = args.includes("--prewarm");
// --kv-latency MS: the first request's snapshot reads (js/entry.mjs, through
// the request's env) answer MS later, as a KV read that misses the
// location's cache does; Miniflare's simulator answers in about 1 ms.
const KV_LATENCY = Number(opt("--kv-latency", 0));
const SLOW_KV = KV_LATENCY > 0 ? `const slow = (env) => env.EDGEWARD_KV ? { ...env, EDGEWARD_KV: { get: (k, o) => new Promise((r) => setTimeout(r, ${KV_LATENCY})).then(() => env.EDGEWARD_KV.get(k, o)) } } : env;\n` : "const slow = (env) => env;\n";
const WRAPPER = (entry) => PREWARM ? `import real from "./${entry}";
${SLOW_KV}export default { fetch: (request, env, ctx) => real.fetch(request, slow(env), ctx) };
` : `let real;
${SLOW_KV}export default {
  async fetch(request, env, ctx) {
    real ??= (await import("./${entry}")).default;
    return real.fetch(request, slow(env), ctx);
  },
};
`;
if (!fs.existsSync(path.join(edgewardDir, "entry.mjs"))) throw new Error("build the Worker first: worker/scripts/build.sh");
const work = fs.mkdtempSync(path.join(os.tmpdir(), "edgeward-cold-"));
const builds = { edgeward: edgewardDir };
if (opt("--before", null)) builds.before = path.resolve(opt("--before", null));
// --compare name=dir,...: more builds in the same run.
for (const kv of (opt("--compare", "") || "").split(",").filter(Boolean)) builds[kv.split("=")[0]] = path.resolve(kv.split("=")[1]);
for (const [name, from] of Object.entries(builds)) {
  fs.cpSync(from, path.join(work, name), { recursive: true });
  fs.writeFileSync(path.join(work, name, "cold-entry.mjs"), WRAPPER("entry.mjs"));
}
const joDir = path.join(work, "jose");
await bundleJose({ entry: path.join(here, "jose-worker.mjs"), outfile: path.join(joDir, "jose-worker.js") });
fs.writeFileSync(path.join(joDir, "cold-entry.mjs"), WRAPPER("jose-worker.js"));
const kvDir = path.join(work, "kv");

// Both find the key set by discovery: no jwks_uri configured.
const egConfig = edgewardConfig(issuer, audience);
delete egConfig.issuers[0].jwks_uri;
const joConfig = { realm: "api", issuer, audiences: [audience], algorithms: [alg], scopes: ["orders:read"], origin: originUrl };

function workerdPids() {
  const out = new Set();
  for (const d of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${d}/stat`, "utf8");
      if (stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")")).startsWith("workerd")) out.add(Number(d));
    } catch {}
  }
  return out;
}
// CPU of a process's main thread, ms: where workerd runs the isolate (and
// its own HTTP, and Miniflare's KV simulator); V8's compiler threads aside.
function mainMs(pid) {
  return Number(fs.readFileSync(`/proc/${pid}/task/${pid}/schedstat`, "utf8").split(" ")[0]) / 1e6;
}
// CPU of every thread of a process, ms (schedstat: nanoseconds on CPU).
function cpuMs(pid) {
  let ns = 0;
  for (const t of fs.readdirSync(`/proc/${pid}/task`)) {
    try {
      ns += Number(fs.readFileSync(`/proc/${pid}/task/${t}/schedstat`, "utf8").split(" ")[0]);
    } catch {}
  }
  return ns / 1e6;
}

// The edgeward Worker's log lines ("event":"key_load" carries the KV
// read's duration, timed inside workerd, whose clock moves across I/O).
let logs = "";
function start(kind, profiled) {
  const inspect = profiled ? { inspectorPort: 0 } : {};
  if (kind !== "jose") {
    logs = "";
    const handleRuntimeStdio = (o, e) => {
      o.on("data", (d) => (logs += d));
      e.resume();
    };
    const dir = path.join(work, kind);
    return new Miniflare(
      edgewardOptions(dir, { EDGEWARD_CONFIG: JSON.stringify(egConfig), ORIGIN: originUrl }, { entry: "cold-entry.mjs", kvPersist: kvDir, handleRuntimeStdio, ...inspect }),
    );
  }
  return new Miniflare({
    ...common,
    ...inspect,
    scriptPath: path.join(joDir, "cold-entry.mjs"),
    modulesRoot: joDir,
    modulesRules: [{ type: "ESModule", include: ["**/*.js", "**/*.mjs"] }],
    bindings: { JOSE_CONFIG: JSON.stringify(joConfig) },
  });
}

async function inspector(mf) {
  const port = (await mf.getInspectorURL()).port;
  const list = await (await fetch(`http://127.0.0.1:${port}/json`)).json();
  const target = list.find((t) => t.title.includes("core:user"));
  const ws = new WebSocket(target.webSocketDebuggerUrl);
  await new Promise((r, j) => {
    ws.on("open", r);
    ws.on("error", j);
  });
  let id = 0;
  const pending = new Map();
  ws.on("message", (m) => {
    const d = JSON.parse(m);
    if (d.id && pending.has(d.id)) {
      pending.get(d.id)(d.result);
      pending.delete(d.id);
    }
  });
  const call = (method, params = {}) =>
    new Promise((r) => {
      const k = ++id;
      pending.set(k, r);
      ws.send(JSON.stringify({ id: k, method, params }));
    });
  return { call, close: () => ws.close() };
}

// One GET on a new connection; the body read to its end.
function get(url, tok) {
  return new Promise((resolve, reject) => {
    http
      .get({ host: url.hostname, port: url.port, path: "/orders/1", agent: false, headers: { authorization: `Bearer ${tok}` } }, (res) => {
        let body = "";
        res.on("data", (d) => (body += d));
        res.on("end", () => resolve({ status: res.statusCode, body }));
      })
      .on("error", reject);
  });
}

// Phases by function name; the innermost frame that matches decides.
const PHASES = [
  ["instantiate", /^(initSync|__wbg_init|__wbg_finalize_init|__wbindgen_start|Instance)$/],
  ["crypto", /^nativeLoad$|^getBuiltinModule$/],
  ["config", /edgeward_worker::settings::|edgeward::config::/],
  ["gate", /edgeward_worker::load::|edgeward_worker::prime|Gate<.*>::with_backend|Policy::new|keep_only_needed_claims|use_shared_tier|Wanted::new/],
  ["kv", /^readKv$|^prefetch$|kv_get|worker::kv::/],
  ["restore", /adopt_snapshot|adoptSnapshot|adopt_shared|take_copy|parse_snapshot|parse_jwk|nativeAddKey/],
  ["verify", /Gate<.*>::check|keycache::decide|fetch_fast|NativeBackend.*verify|nativeVerify|RingBackend/],
  ["forward", /edgeward_worker::finish|edgeward_worker::proxy::|forwardRequest|sendForward/],
  ["log", /edgeward_worker::log::line|formatLog/],
];
const PHASE_NAMES = ["instantiate", "crypto", "config", "gate", "kv", "restore", "verify", "forward", "log", "gc", "other"];
// Each sample stands for the time to the next one (the sampler falls behind
// its 50 µs on a busy thread; counting samples would undercount), at most
// CAP_US (a longer gap is the thread asleep: V8 records "(idle)" only once
// per sleep). Only samples in [from, to] (CLOCK_MONOTONIC µs, V8's profile
// clock and Node's hrtime alike) count: the request, not what the isolate
// does after answering it.
const CAP_US = 250;
function classify(p, from = -Infinity, to = Infinity) {
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const phaseOf = new Map();
  const phase = (id) => {
    if (!phaseOf.has(id)) {
      const name = byId.get(id).callFrame.functionName;
      let out = name === "(idle)" ? "idle" : name === "(garbage collector)" ? "gc" : null;
      for (const [ph, re] of PHASES) if (!out && re.test(name)) out = ph;
      if (!out && parent.has(id)) out = phase(parent.get(id));
      phaseOf.set(id, out);
    }
    return phaseOf.get(id);
  };
  const ms = {};
  const self = new Map();
  let at = p.startTime;
  for (let i = 0; i < p.samples.length; i++) {
    at += p.timeDeltas[i];
    if (at < from || at > to) continue;
    const dt = Math.min(CAP_US, i + 1 < p.timeDeltas.length ? p.timeDeltas[i + 1] : 0) / 1000;
    const ph = phase(p.samples[i]) ?? "other";
    ms[ph] = (ms[ph] ?? 0) + dt;
    const f = byId.get(p.samples[i]).callFrame;
    const key = `${ph}\t${f.functionName || "(anonymous)"} ${f.url.split("/").pop()}`;
    self.set(key, (self.get(key) ?? 0) + dt);
  }
  return { ms, top: [...self].sort((a, b) => b[1] - a[1]).slice(0, 40) };
}

async function sample(kind, tok, { kvWarm = true, profiled = true } = {}) {
  const before = workerdPids();
  const mf = start(kind, profiled);
  const url = new URL(await mf.ready);
  const pid = [...workerdPids()].find((p) => !before.has(p));
  // Miniflare's KV is a simulator (a Durable Object in the same workerd)
  // that starts cold with the process; production KV is a service that is
  // already up. kvWarm: one read from Node first (through Miniflare's own
  // proxy Worker, not the measured isolate), so that only the Worker's
  // isolate is new.
  if (kind !== "jose" && kvWarm) await (await mf.getKVNamespace("EDGEWARD_KV")).get("warm-up");
  const ins = profiled ? await inspector(mf) : null;
  await ins?.call("Profiler.enable");
  await ins?.call("Profiler.setSamplingInterval", { interval: INTERVAL_US });
  await ins?.call("Profiler.start");
  const h0 = { ...hits };
  await sleep(20); // the process settles (its startup threads)
  const cpu0 = cpuMs(pid);
  const main0 = mainMs(pid);
  const t0 = performance.now();
  const sent = Number(process.hrtime.bigint() / 1000n);
  const res = await get(url, tok);
  const received = Number(process.hrtime.bigint() / 1000n);
  const wall = performance.now() - t0;
  const proc = cpuMs(pid) - cpu0;
  const main = mainMs(pid) - main0;
  const { profile } = (await ins?.call("Profiler.stop")) ?? { profile: { nodes: [], samples: [], timeDeltas: [] } };
  ins?.close();
  if (res.status !== 200) throw new Error(`${kind}: first request answered ${res.status} ${res.body.slice(0, 200)}`);
  if (kind !== "jose") await sleep(100); // the KV write (first run) and the deferred work run in waitUntil
  await mf.dispose();
  if (process.env.COLD_SAVE_PROFILE && profiled) fs.writeFileSync(`${process.env.COLD_SAVE_PROFILE}-${kind}-${Date.now()}.cpuprofile`, JSON.stringify(profile));
  if (profiled && !(profile.startTime < received && profile.endTime > sent)) throw new Error("the profile's clock is not Node's hrtime");
  const { ms, top } = classify(profile, sent, received);
  const cpu = Object.entries(ms).reduce((a, [k, v]) => a + (k === "idle" ? 0 : v), 0);
  const kvLine = logs.split("\n").find((l) => l.includes('"key_load"'));
  const kvRead = kvLine ? JSON.parse(kvLine.slice(kvLine.indexOf("{"))).duration_ms : undefined;
  return { wall, cpu, proc, main, kvRead, phases: ms, fetches: hits.discovery - h0.discovery + hits.jwks - h0.jwks, top };
}

// Warm KV: one edgeward isolate takes a request and writes the snapshot.
await sample("edgeward", tokens[0], { profiled: false });

const results = { machine: `${os.cpus()[0].model}, ${os.cpus().length} cores`, node: process.version, samples: SAMPLES, interval_us: INTERVAL_US, builds, rows: [] };
const variants = [...Object.keys(builds), "jose"];
let t = 1;
for (const delay of DELAYS) {
  idpDelay = delay;
  const acc = Object.fromEntries(variants.map((v) => [v, []]));
  for (let s = 0; s < SAMPLES; s++) {
    // Interleaved, the order rotating per sample.
    const order = variants.map((_, i) => variants[(i + s) % variants.length]);
    for (const kind of order) {
      // Wall time and process CPU from a run without the inspector (the
      // profiler slows what it watches: every newly compiled function is
      // logged); the isolate's CPU and its phases from a profiled run.
      const plain = await sample(kind, tokens[t++], { profiled: false });
      const prof = await sample(kind, tokens[t++]);
      acc[kind].push({ ...prof, wall: plain.wall, proc: plain.proc, main: plain.main, kvRead: plain.kvRead, fetches: plain.fetches });
    }
  }
  for (const kind of variants) {
    const xs = acc[kind];
    const stat = (f) => {
      const v = xs.map(f).sort((a, b) => a - b);
      return { median: v[Math.floor(v.length / 2)], min: v[0], max: v[v.length - 1] };
    };
    const phases = Object.fromEntries(PHASE_NAMES.map((ph) => [ph, stat((x) => x.phases[ph] ?? 0).median]));
    const row = {
      kind,
      idp_delay_ms: delay,
      wall: stat((x) => x.wall),
      cpu: stat((x) => x.cpu),
      proc: stat((x) => x.proc),
      main: stat((x) => x.main),
      kv_read: kind === "jose" ? null : stat((x) => x.kvRead ?? NaN),
      phases,
      idp_fetches: xs.reduce((a, x) => a + x.fetches, 0),
    };
    results.rows.push(row);
    if (dump) {
      console.error(`\n${kind}, IdP +${delay} ms, first sample: busy ms by phase and function (self)`);
      for (const [k, ms] of xs[0].top) console.error(`  ${ms.toFixed(2).padStart(6)}  ${k.slice(0, 140)}`);
    }
  }
}
idp.close();
origin.close();
fs.rmSync(work, { recursive: true, force: true });

const f1 = (x) => x.toFixed(1);
const NAMES = { edgeward: "edgeward, warm KV", before: "edgeward before (--before), warm KV", jose: "jose, discovery + JWKS" };
const range = (s) => `${f1(s.median)} (${f1(s.min)}–${f1(s.max)})`;
const lines = [];
lines.push(`- ${results.machine}; Node ${results.node}; ${SAMPLES} new workerd per Worker and IdP latency, interleaved${PREWARM ? "; prewarmed (module evaluated before the request)" : ""}${KV_LATENCY ? `; first KV reads +${KV_LATENCY} ms` : ""}; median (min–max), ms`);
lines.push("");
lines.push(`| IdP latency | Worker | wall, first verdict | workerd main thread CPU | workerd process CPU | isolate CPU, profiled | KV read | IdP fetches | ${PHASE_NAMES.join(" | ")} |`);
lines.push(`|---|---|---|---|---|---|---|---|${PHASE_NAMES.map(() => "---").join("|")}|`);
for (const r of results.rows) {
  lines.push(
    `| ${r.idp_delay_ms} ms | ${NAMES[r.kind] ?? `edgeward ${r.kind}, warm KV`} | ${range(r.wall)} | ${range(r.main)} | ${range(r.proc)} | ${range(r.cpu)} | ${r.kv_read ? range(r.kv_read) : "–"} | ${r.idp_fetches} | ${PHASE_NAMES.map((ph) => f1(r.phases[ph])).join(" | ")} |`,
  );
}
console.log(lines.join("\n"));
if (jsonOut) fs.writeFileSync(jsonOut, JSON.stringify(results, null, 2));
process.exit(0);
