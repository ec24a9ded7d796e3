// Worker benchmark: edgeward's Worker vs the jose reference Worker
// (bench/worker/jose-worker.mjs), both in workerd (Miniflare, one workerd
// process each), same origin, same issuer, same tokens, same run.
//
//   node bench/worker/run.mjs [--quick] [--json out.json]
//
// Measured from outside (workerd freezes its clock during a request):
//   - requests/s with a keep-alive client at fixed concurrency,
//   - CPU time per request of the Worker's workerd process (/proc utime+stime),
// for RS256 and ES256, with one repeated token and with many distinct tokens;
// time to first verdict in a fresh isolate (edgeward with warm KV vs jose,
// which has no shared cache); startup (workerd ready) and bundle sizes.
import http from "node:http";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import zlib from "node:zlib";
import { FLOOR_SCRIPT, Miniflare, bundleJose, common, edgewardConfig as gateConfig, edgewardDir, edgewardOptions, here, jose, mint } from "./common.mjs";

const args = process.argv.slice(2);
const quick = args.includes("--quick");
const jsonOut = args.includes("--json") ? args[args.indexOf("--json") + 1] : null;
const DURATION_MS = quick ? 2000 : 6000;
const WARMUP_MS = quick ? 500 : 1500;
const CONCURRENCY = 16;
const DISTINCT = quick ? 6000 : 30000;
const ROUNDS = quick ? 1 : 3;

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const listen = (server) => new Promise((r) => server.listen(0, "127.0.0.1", () => r(server.address().port)));

// ---- issuer: a static JWKS on loopback (optionally slow, like a remote IdP)
const keys = {};
for (const alg of ["RS256", "ES256"]) {
  const { privateKey, publicKey } = await jose.generateKeyPair(alg, { extractable: true });
  keys[alg] = { privateKey, jwk: { ...(await jose.exportJWK(publicKey)), kid: `bench-${alg}`, alg, use: "sig" } };
}
let idpDelay = 0;
let jwksHits = 0;
const idp = http.createServer(async (q, s) => {
  if (q.url === "/jwks") {
    jwksHits++;
    if (idpDelay) await sleep(idpDelay);
    s.writeHead(200, { "content-type": "application/json", "cache-control": "max-age=600" });
    return s.end(JSON.stringify({ keys: [keys.RS256.jwk, keys.ES256.jwk] }));
  }
  s.writeHead(404).end();
});
const idpPort = await listen(idp);
const issuer = `http://127.0.0.1:${idpPort}`;
const audience = "https://api.bench";

// ---- origin: a tiny fixed answer, in a child process (its own core share)
const originSrc = `require("http").createServer((q,s)=>{q.resume();q.on("end",()=>{s.writeHead(200,{"content-type":"text/plain"});s.end("ok "+(q.headers["x-auth-subject"]||"-"))})}).listen(0,"127.0.0.1",function(){console.log(this.address().port)})`;
const { spawn } = await import("node:child_process");
const originProc = spawn(process.execPath, ["-e", originSrc], { stdio: ["ignore", "pipe", "inherit"] });
const originPort = await new Promise((r) => originProc.stdout.once("data", (d) => r(Number(String(d).trim()))));
const origin = `http://127.0.0.1:${originPort}`;

// ---- tokens
function token(alg, i) {
  return mint(alg, keys[alg].privateKey, { issuer, audience, kid: `bench-${alg}`, sub: `user-${i}`, jti: `j${i}` });
}
const tokens = {};
for (const alg of ["RS256", "ES256"]) {
  tokens[alg] = [];
  for (let i = 0; i < DISTINCT; i++) tokens[alg].push(await token(alg, i));
}

// ---- the two Workers
if (!fs.existsSync(path.join(edgewardDir, "entry.mjs"))) throw new Error("build the Worker first: worker/scripts/build.sh");
const joseDir = path.join(here, "build");
fs.mkdirSync(joseDir, { recursive: true });
await bundleJose({ entry: path.join(here, "jose-worker.mjs"), outfile: path.join(joseDir, "jose-worker.js") });

// BENCH_CACHE_CAPACITY: to see what the verdict cache's size costs.
const edgewardConfig = gateConfig(issuer, audience, process.env.BENCH_CACHE_CAPACITY ? { cache: { capacity: Number(process.env.BENCH_CACHE_CAPACITY) } } : {});
const joseConfig = { realm: "api", issuer, jwks_uri: `${issuer}/jwks`, audiences: [audience], algorithms: ["RS256", "ES256"], scopes: ["orders:read"], origin };

function workerdPids() {
  const out = new Set();
  for (const d of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${d}/stat`, "utf8");
      const comm = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
      if (comm.startsWith("workerd")) out.add(Number(d));
    } catch {}
  }
  return out;
}
const { execSync } = await import("node:child_process");
const CLK_TCK = Number(execSync("getconf CLK_TCK").toString().trim()) || 100;
// utime + stime of a process, in ms.
function cpuMs(pid) {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return ((Number(f[11]) + Number(f[12])) * 1000) / CLK_TCK;
}

async function start(kind, { kvPersist } = {}) {
  const before = workerdPids();
  const t0 = performance.now();
  const mf =
    kind === "edgeward"
      ? new Miniflare(edgewardOptions(edgewardDir, { EDGEWARD_CONFIG: JSON.stringify(edgewardConfig), ORIGIN: origin }, kvPersist ? { kvPersist } : {}))
      : kind === "jose"
        ? new Miniflare({ ...common, scriptPath: path.join(joseDir, "jose-worker.js"), bindings: { JOSE_CONFIG: JSON.stringify(joseConfig) } })
        : kind === "floor"
          ? new Miniflare({ ...common, script: FLOOR_SCRIPT, bindings: { ORIGIN: origin } })
          : new Miniflare({ ...common, script: `export default { fetch() { return new Response("hello") } }` });
  const url = await mf.ready;
  const readyMs = performance.now() - t0;
  const pid = [...workerdPids()].find((p) => !before.has(p));
  return { mf, url: new URL(url), pid, readyMs };
}

const agent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY });
function get(url, tok) {
  return new Promise((resolve, reject) => {
    const r = http.get(
      { host: url.hostname, port: url.port, path: "/orders/1", agent, headers: tok ? { authorization: `Bearer ${tok}` } : {} },
      (res) => {
        res.resume();
        res.on("end", () => resolve(res.statusCode));
      },
    );
    r.on("error", reject);
  });
}

async function load(w, pick, ms) {
  let n = 0;
  let bad = 0;
  let i = 0;
  const end = performance.now() + ms;
  const cpu0 = cpuMs(w.pid);
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (performance.now() < end) {
        const s = await get(w.url, pick(i++));
        if (s === 200) n++;
        else bad++;
      }
    }),
  );
  const secs = (performance.now() - t0) / 1000;
  const cpu = cpuMs(w.pid) - cpu0;
  if (bad) throw new Error(`${bad} non-200 answers`);
  return { rps: n / secs, cpu_us: (cpu * 1000) / n, n };
}

const results = { machine: `${os.cpus()[0].model}, ${os.cpus().length} cores`, node: process.version, concurrency: CONCURRENCY, duration_ms: DURATION_MS, rows: [] };
const eg = await start("edgeward");
const jo = await start("jose");
const fl = await start("floor");
for (const w of [eg, jo, fl]) if ((await get(w.url, tokens.ES256[0])) !== 200) throw new Error("warm-up request failed");

const only = process.env.BENCH_ONLY; // e.g. "RS256:distinct"
for (const alg of ["RS256", "ES256"]) {
  for (const mode of ["repeated", "distinct"]) {
    if (only && !only.split(",").includes(`${alg}:${mode}`)) continue;
    const acc = { edgeward: [], jose: [], floor: [] };
    // Distinct tokens: a cursor per Worker that never goes back, so no token
    // is seen twice by a Worker (its verdict cache cannot help); both Workers
    // get the same tokens in the same order.
    const cursor = { edgeward: 0, jose: 0, floor: 0 };
    for (let round = 0; round < ROUNDS; round++) {
      const order = [["edgeward", eg], ["jose", jo], ["floor", fl]];
      for (const [name, w] of round % 2 ? order.reverse() : order) {
        const pick = mode === "repeated" ? () => tokens[alg][0] : () => tokens[alg][cursor[name]++ % DISTINCT];
        await load(w, pick, WARMUP_MS);
        acc[name].push(await load(w, pick, DURATION_MS));
      }
    }
    if (mode === "distinct" && Math.max(cursor.edgeward, cursor.jose) > DISTINCT) results.wrapped = true;
    const avg = (xs, k) => xs.reduce((a, x) => a + x[k], 0) / xs.length;
    const row = {
      alg,
      mode,
      edgeward_rps: avg(acc.edgeward, "rps"),
      jose_rps: avg(acc.jose, "rps"),
      edgeward_cpu_us: avg(acc.edgeward, "cpu_us"),
      jose_cpu_us: avg(acc.jose, "cpu_us"),
      floor_rps: avg(acc.floor, "rps"),
      floor_cpu_us: avg(acc.floor, "cpu_us"),
    };
    results.rows.push(row);
    console.error(`${alg} ${mode}: edgeward ${row.edgeward_rps.toFixed(0)} req/s ${row.edgeward_cpu_us.toFixed(0)} µs CPU; jose ${row.jose_rps.toFixed(0)} req/s ${row.jose_cpu_us.toFixed(0)} µs CPU; floor ${row.floor_rps.toFixed(0)} req/s ${row.floor_cpu_us.toFixed(0)} µs`);
  }
}
await eg.mf.dispose();
await jo.mf.dispose();
await fl.mf.dispose();

if (process.env.BENCH_ONLY) {
  console.log(JSON.stringify(results.rows));
  process.exit(0);
}
// ---- time to first verdict in a fresh isolate, and startup
const kvDir = fs.mkdtempSync(path.join(os.tmpdir(), "edgeward-bench-kv-"));
{
  const w = await start("edgeward", { kvPersist: kvDir });
  await get(w.url, tokens.RS256[1]);
  await sleep(300); // the KV write runs in waitUntil
  await w.mf.dispose();
}
const first = { edgeward: [], jose: [], edgeward_ready: [], jose_ready: [], hello_ready: [] };
const samples = quick ? 3 : 7;
for (const delay of [0, 50]) {
  idpDelay = delay;
  const e = [];
  const j = [];
  for (let s = 0; s < samples; s++) {
    for (const kind of ["edgeward", "jose"]) {
      const w = await start(kind, kind === "edgeward" ? { kvPersist: kvDir } : {});
      const hits = jwksHits;
      const t0 = performance.now();
      const status = await get(w.url, tokens.ES256[2 + s]);
      const ms = performance.now() - t0;
      if (status !== 200) throw new Error(`${kind} first request: ${status}`);
      (kind === "edgeward" ? e : j).push({ ms, jwks: jwksHits - hits });
      first[`${kind}_ready`].push(w.readyMs);
      await w.mf.dispose();
    }
  }
  const med = (xs) => xs.map((x) => x.ms).sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  first.edgeward.push({ idp_delay_ms: delay, median_ms: med(e), jwks_fetches: e.reduce((a, x) => a + x.jwks, 0) });
  first.jose.push({ idp_delay_ms: delay, median_ms: med(j), jwks_fetches: j.reduce((a, x) => a + x.jwks, 0) });
}
idpDelay = 0;
for (let s = 0; s < samples; s++) {
  const w = await start("hello");
  first.hello_ready.push(w.readyMs);
  await w.mf.dispose();
}
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
results.first_verdict = { edgeward: first.edgeward, jose: first.jose };
results.ready_ms = { edgeward: median(first.edgeward_ready), jose: median(first.jose_ready), hello: median(first.hello_ready) };

// Module instantiation + first call cost, in Node (V8 as workerd): compile and instantiate the wasm.
const wasmBytes = fs.readFileSync(path.join(edgewardDir, "edgeward_worker_bg.wasm"));
const tc = performance.now();
const mod = await WebAssembly.compile(wasmBytes);
results.wasm_compile_ms_node = performance.now() - tc;
void mod;

// ---- sizes
const gz = (buf) => zlib.gzipSync(buf, { level: 9 }).length;
const filesUnder = (d) => fs.readdirSync(d, { recursive: true }).map((f) => path.join(d, f)).filter((f) => fs.statSync(f).isFile() && !path.basename(f).startsWith("."));
const egFiles = filesUnder(edgewardDir);
const egAll = Buffer.concat(egFiles.map((f) => fs.readFileSync(f)));
results.size = {
  edgeward_wasm_bytes: wasmBytes.length,
  edgeward_wasm_gzip: gz(wasmBytes),
  edgeward_total_bytes: egAll.length,
  edgeward_total_gzip: egFiles.reduce((a, f) => a + gz(fs.readFileSync(f)), 0),
  jose_bytes: fs.statSync(path.join(joseDir, "jose-worker.js")).size,
  jose_gzip: gz(fs.readFileSync(path.join(joseDir, "jose-worker.js"))),
};

originProc.kill();
idp.close();
agent.destroy();
fs.rmSync(kvDir, { recursive: true, force: true });

// ---- report
const f0 = (x) => x.toFixed(0);
const lines = [];
lines.push(`- machine: ${results.machine}; Node ${results.node}; ${CONCURRENCY} concurrent keep-alive connections; ${DURATION_MS / 1000} s per measurement after ${WARMUP_MS / 1000} s warm-up; ${ROUNDS} interleaved round(s) averaged`);
lines.push("");
lines.push("CPU is the Worker's workerd process (user + system) per request; *gate* is that minus a forwarding-only Worker's (the floor: workerd's HTTP in, the subrequest to the origin, the response), i.e. what the token check itself costs.");
lines.push("");
lines.push("| alg | tokens | req/s edgeward | req/s jose | req/s floor | CPU µs/req edgeward | CPU µs/req jose | CPU µs/req floor | gate µs edgeward | gate µs jose |");
lines.push("|---|---|---|---|---|---|---|---|---|---|");
for (const r of results.rows) {
  lines.push(`| ${r.alg} | ${r.mode === "repeated" ? "one, repeated" : "distinct"} | ${f0(r.edgeward_rps)} | ${f0(r.jose_rps)} | ${f0(r.floor_rps)} | ${f0(r.edgeward_cpu_us)} | ${f0(r.jose_cpu_us)} | ${f0(r.floor_cpu_us)} | ${f0(r.edgeward_cpu_us - r.floor_cpu_us)} | ${f0(r.jose_cpu_us - r.floor_cpu_us)} |`);
}
lines.push("");
lines.push("Time to first verdict in a fresh isolate (new workerd; request sent after it is ready; median of " + samples + "):");
lines.push("");
lines.push("| IdP latency | edgeward, warm KV | jose (no shared cache) | JWKS fetches edgeward / jose |");
lines.push("|---|---|---|---|");
for (let i = 0; i < first.edgeward.length; i++) {
  const e = first.edgeward[i];
  const j = first.jose[i];
  lines.push(`| ${e.idp_delay_ms} ms | ${e.median_ms.toFixed(1)} ms | ${j.median_ms.toFixed(1)} ms | ${e.jwks_fetches} / ${j.jwks_fetches} |`);
}
lines.push("");
lines.push(`Startup, workerd process start to ready (median): edgeward ${results.ready_ms.edgeward.toFixed(0)} ms, jose ${results.ready_ms.jose.toFixed(0)} ms, a hello-world Worker ${results.ready_ms.hello.toFixed(0)} ms; compiling the wasm module in Node: ${results.wasm_compile_ms_node.toFixed(1)} ms.`);
lines.push("");
lines.push(`Size: edgeward wasm ${results.size.edgeward_wasm_bytes} bytes (${results.size.edgeward_wasm_gzip} gzip -9); whole Worker (wasm + JS glue + entry) ${results.size.edgeward_total_bytes} bytes, ${results.size.edgeward_total_gzip} gzip -9; the jose Worker bundled and minified ${results.size.jose_bytes} bytes, ${results.size.jose_gzip} gzip -9.`);
console.log(lines.join("\n"));
if (jsonOut) fs.writeFileSync(jsonOut, JSON.stringify(results, null, 2));
process.exit(0);
