// Envoy CPU per request, filter by filter, in one run: no filter (the
// floor), Envoy's own jwt_authn (local JWKS, cache off and on), edgeward
// (verdict cache off and on; Envoy's verify_signature, and ring only), each in
// a fresh Envoy with one worker in front of the same minimal origin, driven
// by the same keep-alive load from this process. Envoy's CPU time (utime +
// stime from /proc) over the measured requests, divided by their number,
// minus the floor's, is the filter's cost; wall-clock rate and p99 latency
// are reported too but are noisier on 2 shared cores.
//
//   node bench/envoy/run.mjs [--requests N] [--alg RS256|ES256] [--rounds K] [--json out.json] [--baseline other.wasm]
//   node bench/envoy/run.mjs --probe [--alg RS256|ES256] [--n 2000]   step by step (envoy/scripts/build.sh --probe)
//
// Needs envoy/.venv (envoy/scripts/test.sh installs it),
// envoy/build/edgeward.wasm (envoy/scripts/build.sh) and, for the ring-only
// row, envoy/build/test/edgeward.wasm (build.sh --test: the shipped filter
// leaves ring's ECDSA out and refuses crypto "ring"). --baseline adds rows for
// another build of the filter (say, the previous commit's), interleaved with
// this one's in the same run. The tokens are signed here with node:crypto.
import http from "node:http";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import crypto from "node:crypto";
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, "..", "..");
const envoyBin = path.join(root, "envoy", ".venv", "bin", "envoy");
const wasm = path.join(root, "envoy", "build", "edgeward.wasm");
const ringWasm = path.join(root, "envoy", "build", "test", "edgeward.wasm");
const arg = (name, dflt) => {
  const i = process.argv.indexOf(name);
  return i < 0 ? dflt : process.argv[i + 1];
};
const REQUESTS = Number(arg("--requests", 20000));
const ALG = arg("--alg", "RS256");
const CONCURRENCY = 8;
const ISSUER = "https://idp.test/";

const b64 = (x) => Buffer.from(typeof x === "string" ? x : JSON.stringify(x)).toString("base64url");
const { privateKey, publicKey } =
  ALG === "RS256"
    ? crypto.generateKeyPairSync("rsa", { modulusLength: 2048 })
    : crypto.generateKeyPairSync("ec", { namedCurve: "P-256" });
const jwk = { ...publicKey.export({ format: "jwk" }), kid: "k1", alg: ALG, use: "sig" };
const jwks = JSON.stringify({ keys: [jwk] });
function mint(sub) {
  const now = Math.floor(Date.now() / 1000);
  const input = `${b64({ alg: ALG, kid: "k1", typ: "JWT" })}.${b64({ iss: ISSUER, aud: "api", sub, scope: "read", iat: now, exp: now + 3600 })}`;
  const sig = crypto.sign(ALG === "RS256" ? "sha256" : "sha256", Buffer.from(input), ALG === "RS256" ? privateKey : { key: privateKey, dsaEncoding: "ieee-p1363" });
  return `${input}.${sig.toString("base64url")}`;
}

function listen(server) {
  return new Promise((r) => server.listen(0, "127.0.0.1", () => r(server.address().port)));
}
async function freePort() {
  const s = http.createServer();
  const p = await listen(s);
  await new Promise((r) => s.close(r));
  return p;
}

function cluster(name, port) {
  return {
    name,
    type: "STATIC",
    connect_timeout: "2s",
    load_assignment: { cluster_name: name, endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: "127.0.0.1", port_value: port } } } }] }] },
  };
}

function edgewardFilter({ cache, crypto: backend, idpPort, module = wasm }) {
  const config = {
    edgeward: {
      issuers: [{ issuer: ISSUER, jwks_uri: `http://127.0.0.1:${idpPort}/jwks`, audiences: ["api"], algorithms: [ALG] }],
      routes: [{ path: "/**", scopes: { all: ["read"] } }],
      cache: cache ? {} : { capacity: 0 },
    },
    clusters: { [`http://127.0.0.1:${idpPort}`]: "idp" },
    crypto: backend,
  };
  return {
    name: "edgeward",
    typed_config: {
      "@type": "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm",
      config: {
        name: "edgeward",
        root_id: "edgeward",
        failure_policy: "FAIL_CLOSED",
        vm_config: { vm_id: "edgeward", runtime: "envoy.wasm.runtime.v8", code: { local: { filename: module } } },
        configuration: { "@type": "type.googleapis.com/google.protobuf.StringValue", value: JSON.stringify(config) },
      },
    },
  };
}

function jwtAuthnFilter({ cache }) {
  return {
    name: "envoy.filters.http.jwt_authn",
    typed_config: {
      "@type": "type.googleapis.com/envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication",
      providers: {
        p: {
          issuer: ISSUER,
          audiences: ["api"],
          local_jwks: { inline_string: jwks },
          forward: true,
          ...(cache ? { jwt_cache_config: { jwt_cache_size: 1000 } } : {}),
        },
      },
      rules: [{ match: { prefix: "/" }, requires: { provider_name: "p" } }],
    },
  };
}

function envoyConfig({ port, adminPort, originPort, idpPort, filter }) {
  return {
    admin: { address: { socket_address: { address: "127.0.0.1", port_value: adminPort } } },
    static_resources: {
      listeners: [
        {
          name: "main",
          address: { socket_address: { address: "127.0.0.1", port_value: port } },
          filter_chains: [
            {
              filters: [
                {
                  name: "envoy.filters.network.http_connection_manager",
                  typed_config: {
                    "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
                    stat_prefix: "ingress",
                    route_config: { virtual_hosts: [{ name: "o", domains: ["*"], routes: [{ match: { prefix: "/" }, route: { cluster: "origin" } }] }] },
                    http_filters: [
                      ...(filter ? [filter] : []),
                      { name: "envoy.filters.http.router", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" } },
                    ],
                  },
                },
              ],
            },
          ],
        },
      ],
      clusters: [cluster("origin", originPort), cluster("idp", idpPort)],
    },
  };
}

function cpuTicks(pid) {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return Number(fields[11]) + Number(fields[12]); // utime + stime, in clock ticks
}
const TICK_US = 1e6 / 100; // CLK_TCK is 100 on Linux

async function startEnvoy(cfg) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "edgeward-bench-"));
  const file = path.join(dir, "envoy.json");
  fs.writeFileSync(file, JSON.stringify(cfg));
  const child = spawn(envoyBin, ["-c", file, "--concurrency", "1", "--disable-hot-restart", "--base-id", String(Math.floor(Math.random() * 1e6)), "--log-level", "error"], { stdio: ["ignore", "ignore", "pipe"] });
  let err = "";
  child.stderr.on("data", (c) => (err += c));
  const admin = `http://127.0.0.1:${cfg.admin.address.socket_address.port_value}`;
  for (let i = 0; i < 200; i++) {
    try {
      if ((await fetch(`${admin}/ready`)).status === 200) break;
    } catch {}
    if (child.exitCode !== null) throw new Error(`envoy exited: ${err}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    child,
    stop: async () => {
      child.kill("SIGTERM");
      await new Promise((r) => child.once("exit", r));
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function load(port, n, tokens) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY });
  const latencies = [];
  let next = 0;
  let failures = 0;
  const one = () =>
    new Promise((resolve) => {
      const i = next++;
      const t0 = process.hrtime.bigint();
      const req = http.get({ host: "127.0.0.1", port, path: "/x", agent, headers: { authorization: `Bearer ${tokens[i % tokens.length]}` } }, (res) => {
        if (res.statusCode !== 200) failures++;
        res.resume();
        res.on("end", () => {
          latencies.push(Number(process.hrtime.bigint() - t0) / 1e3);
          resolve();
        });
      });
      req.on("error", () => {
        failures++;
        resolve();
      });
    });
  const worker = async () => {
    while (next < n) await one();
  };
  const t0 = Date.now();
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  const ms = Date.now() - t0;
  agent.destroy();
  latencies.sort((a, b) => a - b);
  return { ms, failures, p50: latencies[Math.floor(latencies.length / 2)], p99: latencies[Math.floor(latencies.length * 0.99)] };
}

const origin = http.createServer((req, res) => {
  req.resume();
  res.end("ok");
});
const idp = http.createServer((req, res) => {
  res.writeHead(200, { "content-type": "application/json", "cache-control": "max-age=3600" });
  res.end(jwks);
});
const originPort = await listen(origin);
const idpPort = await listen(idp);

// Distinct tokens defeat every verdict cache; one token hits it every time.
const distinct = Array.from({ length: REQUESTS + 1000 }, (_, i) => mint(`user-${i}`));
const same = [distinct[0]];
const runs = [
  ["no filter", null, same],
  ["jwt_authn, cache off", jwtAuthnFilter({ cache: false }), same],
  ["jwt_authn, cache on (repeated token)", jwtAuthnFilter({ cache: true }), same],
  ["edgeward, distinct tokens (no cache hit)", edgewardFilter({ cache: true, crypto: "envoy", idpPort }), distinct],
  ["edgeward, cache off (same token, verified every time)", edgewardFilter({ cache: false, crypto: "envoy", idpPort }), same],
  ["edgeward, cache on (repeated token)", edgewardFilter({ cache: true, crypto: "envoy", idpPort }), same],
  ["edgeward, ring only, cache off (test build, with ring's ECDSA)", edgewardFilter({ cache: false, crypto: "ring", idpPort, module: ringWasm }), same],
];
const baseline = arg("--baseline");
if (baseline) {
  // Each baseline row right after the same row of this build.
  for (const [i, label, cache, tokens] of [
    [4, "distinct tokens (no cache hit)", true, distinct],
    [6, "cache off (same token, verified every time)", false, same],
    [8, "cache on (repeated token)", true, same],
  ]) {
    runs.splice(i, 0, [`baseline ${path.basename(baseline)}, ${label}`, edgewardFilter({ cache, crypto: "envoy", idpPort, module: path.resolve(baseline) }), tokens]);
  }
}
if (process.argv.includes("--probe")) {
  // Where the uncached check's time goes, step by step, in the real V8: the
  // probe build (envoy/scripts/build.sh --probe) repeats one step n times in
  // a request and times it with Envoy's clock. Rounds interleave the steps;
  // the median per step is reported.
  const probeWasm = path.join(root, "envoy", "build", "probe", "edgeward.wasm");
  const [port, adminPort] = [await freePort(), await freePort()];
  const filter = edgewardFilter({ cache: false, crypto: "envoy", idpPort, module: probeWasm });
  const envoy = await startEnvoy(envoyConfig({ port, adminPort, originPort, idpPort, filter }));
  const get = (p) =>
    new Promise((resolve, reject) => {
      http
        .get({ host: "127.0.0.1", port, path: p, headers: { authorization: `Bearer ${same[0]}` } }, (res) => {
          let body = "";
          res.on("data", (c) => (body += c));
          res.on("end", () => resolve({ status: res.statusCode, body }));
        })
        .on("error", reject);
    });
  try {
    for (let i = 0; i < 20; i++) await get("/x"); // keys fetched, JIT warm
    const steps = ["none", "read", "sha", "jws", `verify-${ALG.toLowerCase()}`, "check", "apply"];
    const ns = Object.fromEntries(steps.map((s) => [s, []]));
    const N = Number(arg("--n", 2000));
    for (let round = 0; round < 7; round++) {
      for (const step of steps) {
        const r = await get(`/__edgeward/probe/${step}?n=${N}`);
        if (r.status !== 200) throw new Error(`probe ${step}: ${r.status} ${r.body}`);
        const j = JSON.parse(r.body);
        if (step !== "none" && !j.sink) throw new Error(`probe ${step} did nothing: ${r.body}`);
        ns[step].push(j.ns);
      }
    }
    const med = (a) => [...a].sort((x, y) => x - y)[a.length >> 1];
    console.log(`\n### Envoy ${ALG}: the uncached check step by step, inside Envoy (probe build, ${N} iterations x 7 rounds, median; load ${os.loadavg()[0].toFixed(2)})\n`);
    console.log("| step | µs per iteration | min–max of rounds |");
    console.log("|---|---|---|");
    for (const s of steps) console.log(`| ${s} | ${(med(ns[s]) / 1000).toFixed(2)} | ${(Math.min(...ns[s]) / 1000).toFixed(2)}–${(Math.max(...ns[s]) / 1000).toFixed(2)} |`);
  } finally {
    await envoy.stop();
    origin.close();
    idp.close();
  }
  process.exit(0);
}

// --rounds K: the whole list K times over, so that every configuration is
// measured early and late in the run alike; each round's floor is its own
// "no filter", and the tables give the median round with the spread.
const ROUNDS = Number(arg("--rounds", 1));
const loads = [];
const rounds = [];
for (let round = 0; round < ROUNDS; round++) {
  const results = [];
  for (const [name, filter, tokens] of runs) {
    const [port, adminPort] = [await freePort(), await freePort()];
    const envoy = await startEnvoy(envoyConfig({ port, adminPort, originPort, idpPort, filter }));
    try {
      await load(port, 500, tokens.slice(-500)); // warm-up: keys fetched, JIT warm
      const before = cpuTicks(envoy.child.pid);
      const r = await load(port, REQUESTS, tokens);
      const cpuUs = ((cpuTicks(envoy.child.pid) - before) * TICK_US) / REQUESTS;
      results.push({ name, cpu_us: cpuUs, rps: (REQUESTS / r.ms) * 1000, p50_us: r.p50, p99_us: r.p99, failures: r.failures });
    } finally {
      await envoy.stop();
    }
  }
  rounds.push(results);
  loads.push(os.loadavg()[0]);
}
origin.close();
idp.close();

const median = (a) => [...a].sort((x, y) => x - y)[a.length >> 1];
const spread = (a) => (a.length > 1 ? ` (${Math.min(...a).toFixed(1)}…${Math.max(...a).toFixed(1)})` : "");
const load1 = ROUNDS > 1 ? `load ${Math.min(...loads).toFixed(2)}–${Math.max(...loads).toFixed(2)}` : `load ${loads[0].toFixed(2)}`;
const rounds1 = ROUNDS > 1 ? `, median of ${ROUNDS} rounds (min…max)` : "";
console.log(`\n### Envoy ${ALG}: CPU per request (${REQUESTS} requests, 1 worker, ${CONCURRENCY} keep-alive connections${rounds1}; ${load1})\n`);
console.log("| configuration | Envoy CPU µs/req | above no filter | req/s | p50 µs | p99 µs | non-200 |");
console.log("|---|---|---|---|---|---|---|");
const results = runs.map(([name], i) => {
  const per = rounds.map((r) => r[i]);
  const above = rounds.map((r) => r[i].cpu_us - r[0].cpu_us);
  return {
    name,
    cpu_us: median(per.map((r) => r.cpu_us)),
    above_us: median(above),
    above_all: above,
    rps: median(per.map((r) => r.rps)),
    p50_us: median(per.map((r) => r.p50_us)),
    p99_us: median(per.map((r) => r.p99_us)),
    failures: per.reduce((n, r) => n + r.failures, 0),
  };
});
for (const [i, r] of results.entries()) {
  const above = i === 0 ? "—" : "+" + r.above_us.toFixed(1) + spread(r.above_all);
  console.log(`| ${r.name} | ${r.cpu_us.toFixed(1)} | ${above} | ${r.rps.toFixed(0)} | ${r.p50_us.toFixed(0)} | ${r.p99_us.toFixed(0)} | ${r.failures} |`);
}
const out = arg("--json");
if (out) fs.writeFileSync(out, JSON.stringify({ alg: ALG, requests: REQUESTS, rounds, results }, null, 2));
