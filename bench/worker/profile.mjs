// Where the Worker isolate's time goes under load, by V8's sampling profiler
// (workerd's inspector), for edgeward's Worker and the jose reference Worker.
//
//   node bench/worker/profile.mjs [RS256|ES256] [distinct|repeated] [--json out.json]
//   BENCH_EDGEWARD_DIR=dir: another build of the Worker; BENCH_TOKEN=rich:
//   tokens with an Auth0 / Keycloak access token's claims (common.mjs)
//
// A third Worker that only forwards gives the floor (gate = busy − floor).
// Each Worker runs alone in its own workerd (Miniflare, inspector on), takes
// 4,000 warm-up requests, then 8,000 profiled ones (8 concurrent keep-alive
// connections). Reported: the isolate thread's busy time per request
// (samples that are not "(idle)", × the 50 µs sampling interval) and the
// functions with the most self time. Busy time counts only the isolate's
// thread, none of workerd's own HTTP work, so it is a cleaner comparison of
// the two gates than process CPU (bench/worker/run.mjs), though sampled.
import http from "node:http";
import fs from "node:fs";
import path from "node:path";
import { FLOOR_SCRIPT, Miniflare, WebSocket, bundleJose, common as base, edgewardConfig, edgewardDir, edgewardOptions, here, jose, mint } from "./common.mjs";

const alg = process.argv[2] ?? "RS256";
const mode = process.argv[3] ?? "distinct";
const WARM = 4000;
const PROFILED = 8000;
const INTERVAL_US = 50;
const listen = (s) => new Promise((r) => s.listen(0, "127.0.0.1", () => r(s.address().port)));

const { privateKey, publicKey } = await jose.generateKeyPair(alg, { extractable: true });
const jwk = { ...(await jose.exportJWK(publicKey)), kid: "k", alg, use: "sig" };
const idp = http.createServer((q, s) => {
  s.writeHead(200, { "content-type": "application/json", "cache-control": "max-age=600" });
  s.end(JSON.stringify({ keys: [jwk] }));
});
const issuer = `http://127.0.0.1:${await listen(idp)}`;
const origin = http.createServer((q, s) => {
  q.resume();
  q.on("end", () => s.end("ok"));
});
const originUrl = `http://127.0.0.1:${await listen(origin)}`;
const aud = "https://api.bench";
const now = Math.floor(Date.now() / 1000);
const tokens = [];
for (let i = 0; i < (mode === "distinct" ? WARM + PROFILED : 1); i++) {
  tokens.push(await mint(alg, privateKey, { issuer, audience: aud, kid: "k", sub: `u${i}`, jti: `j${i}` }));
}

const joseOut = path.join(here, "build", "jose-worker.js");
await bundleJose({ entry: path.join(here, "jose-worker.mjs"), outfile: joseOut });
const common = { ...base, inspectorPort: 0 };
const workers = {
  edgeward: () =>
    new Miniflare(
      edgewardOptions(edgewardDir, { EDGEWARD_CONFIG: JSON.stringify(edgewardConfig(issuer, aud)), ORIGIN: originUrl }, { inspectorPort: 0 }),
    ),
  // Forwarding alone, no token check: what both gates stand on.
  floor: () =>
    new Miniflare({ ...common, script: FLOOR_SCRIPT, bindings: { ORIGIN: originUrl } }),
  jose: () =>
    new Miniflare({
      ...common,
      scriptPath: joseOut,
      modulesRoot: path.dirname(joseOut),
      bindings: {
        JOSE_CONFIG: JSON.stringify({ realm: "api", issuer, jwks_uri: `${issuer}/jwks`, audiences: [aud], algorithms: [alg], scopes: ["orders:read"], origin: originUrl }),
      },
    }),
};

async function profile(name) {
  const mf = workers[name]();
  const url = new URL(await mf.ready);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });
  const get = (t) =>
    new Promise((res, rej) =>
      http
        .get({ host: url.hostname, port: url.port, path: "/orders/1", agent, headers: { authorization: `Bearer ${t}` } }, (r) => {
          r.resume();
          r.on("end", () => res(r.statusCode));
        })
        .on("error", rej),
    );
  let i = 0;
  const load = (n) =>
    Promise.all(
      Array.from({ length: 8 }, async () => {
        while (i < n) {
          const s = await get(tokens[i++ % tokens.length]);
          if (s !== 200) throw new Error(`${name}: status ${s}`);
        }
      }),
    );
  await load(WARM);
  const port = (await mf.getInspectorURL?.())?.port;
  const list = await (await fetch(`http://127.0.0.1:${port}/json`)).json();
  const target = list.find((t) => t.title.includes("core:user"));
  const ws = new WebSocket(target.webSocketDebuggerUrl);
  await new Promise((r) => ws.on("open", r));
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
  await call("Profiler.enable");
  await call("Profiler.setSamplingInterval", { interval: INTERVAL_US });
  await call("Profiler.start");
  await load(WARM + PROFILED);
  const { profile: p } = await call("Profiler.stop");
  ws.close();
  agent.destroy();
  await mf.dispose();
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const self = new Map();
  for (const s of p.samples) {
    const f = byId.get(s).callFrame;
    const key = `${f.functionName || "(anonymous)"} ${f.url.split("/").pop()}`.trim();
    self.set(key, (self.get(key) ?? 0) + 1);
  }
  const total = p.samples.length;
  const idle = self.get("(idle)") ?? 0;
  return { name, busy_us: ((total - idle) * INTERVAL_US) / PROFILED, total, top: [...self].sort((a, b) => b[1] - a[1]).slice(0, Number(process.env.PROFILE_TOP ?? 15)) };
}

const results = [];
for (const name of ["edgeward", "jose", "floor"]) results.push(await profile(name));
const floorUs = results[2].busy_us;
idp.close();
origin.close();
console.log(`${alg}, ${mode} tokens: isolate busy time per request (V8 sampling profiler, ${INTERVAL_US} µs interval, ${PROFILED} requests)`);
for (const r of results) console.log(`  ${r.name}: ${r.busy_us.toFixed(1)} µs${r.name === "floor" ? "" : ` (gate: ${(r.busy_us - floorUs).toFixed(1)} µs above the floor)`}`);
if (process.argv.includes("--json")) fs.writeFileSync(process.argv[process.argv.indexOf("--json") + 1], JSON.stringify({ alg, mode, busy_us: Object.fromEntries(results.map((r) => [r.name, r.busy_us])) }));
for (const r of results.slice(0, 2)) {
  console.log(`\n${r.name}, self time:`);
  for (const [k, c] of r.top) console.log(`  ${((100 * c) / r.total).toFixed(1).padStart(5)}%  ${k.slice(0, 110)}`);
}
process.exit(0);
