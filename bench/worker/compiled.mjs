// What a new isolate's first request compiles: V8 compiles each wasm
// function on its first call (Liftoff, on the main thread) and drops that
// code whenever another isolate starts in the process, so the wasm a first
// request calls is compiled inside it. This counts it, per function, with
// V8's --trace-wasm-compilation-times, in a bare `workerd serve` (Miniflare
// passes no V8 flags): the Worker build's entry evaluated at load (as
// Cloudflare starts an isolate during the TLS handshake), then an idle
// Worker started beside it (which makes V8 drop the baseline code module
// evaluation compiled, as any other isolate does), then one request with
// a valid token and warm KV (a KV service on loopback holding the snapshot
// an earlier workerd wrote after fetching the keys from a loopback IdP).
//
//   node bench/worker/compiled.mjs [BUILD_DIR] [--alg ES256|RS256] [--top N] [--no-flush] [--json out.json]
//   EDGEWARD_WORKER_NAMES=1 EDGEWARD_WORKER_OUT=/tmp/ew-names worker/scripts/build.sh   (Rust names)
//
// BUILD_DIR defaults to BENCH_EDGEWARD_DIR or the shipped build. Reported:
// functions and bytes of wasm code compiled at module evaluation, by the
// first request (up to its response), and after it (the rest of the event:
// node:crypto, held log lines); with --top N the request's N largest
// functions (names from the wasm's name section, when it has one). The
// bytes are deterministic for a build; V8's timings are inflated by the
// tracing. Loopback only; every server is stopped, workerd by PID.
import fs from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { spawn } from "node:child_process";
import { createRequire } from "node:module";
import { edgewardConfig, edgewardDir, freePort, listening, jose, mint, workerDir, workerdModules } from "./common.mjs";

const args = process.argv.slice(2);
const opt = (name, dflt) => (args.includes(name) ? args[args.indexOf(name) + 1] : dflt);
const positional = args.filter((a, i) => !a.startsWith("--") && !(i > 0 && args[i - 1].startsWith("--")));
const build = path.resolve(positional[0] ?? edgewardDir);
const ALG = opt("--alg", "ES256");
const TOP = Number(opt("--top", 0));
const jsonOut = opt("--json", null);
// --no-flush: no idle Worker, so no other isolate starts after module
// evaluation and what it compiled is still there at the request.
const FLUSH = !args.includes("--no-flush");
if (!fs.existsSync(path.join(build, "entry.mjs")) || !fs.existsSync(path.join(build, "edgeward_worker_bg.wasm"))) {
  throw new Error(`no Worker build in ${build}: worker/scripts/build.sh (usage: node bench/worker/compiled.mjs [BUILD_DIR] [--alg ES256|RS256] [--top N] [--json out.json])`);
}
const workerd = createRequire(path.join(workerDir, "package.json")).resolve("@cloudflare/workerd-linux-64/bin/workerd");

// ---- the wasm's functions: index -> [name, body bytes] (name section when present).
function wasmFunctions(bytes) {
  let i = 8;
  const leb = () => {
    let r = 0, s = 0, b;
    do {
      b = bytes[i++];
      r += (b & 0x7f) * 2 ** s;
      s += 7;
    } while (b & 0x80);
    return r;
  };
  let imported = 0;
  const bodies = [];
  const names = new Map();
  while (i < bytes.length) {
    const id = bytes[i++];
    const size = leb();
    const end = i + size;
    if (id === 2) {
      for (let n = leb(); n > 0; n--) {
        // (`i += leb()` would read `i` before leb() moves it.)
        const moduleLen = leb();
        i += moduleLen;
        const nameLen = leb();
        i += nameLen;
        const kind = bytes[i++];
        if (kind === 0) {
          leb();
          imported++;
        } else if (kind === 1) {
          i++;
          const flags = leb();
          leb();
          if (flags & 1) leb();
        } else if (kind === 2) {
          const flags = leb();
          leb();
          if (flags & 1) leb();
        } else if (kind === 3) i += 2;
        else throw new Error(`import kind ${kind}`);
      }
    } else if (id === 10) {
      for (let n = leb(); n > 0; n--) {
        const len = leb();
        bodies.push(len);
        i += len;
      }
    } else if (id === 0) {
      const nameLen = leb();
      const section = Buffer.from(bytes.subarray(i, i + nameLen)).toString();
      i += nameLen;
      while (section === "name" && i < end) {
        const sub = bytes[i++];
        const subSize = leb();
        const subEnd = i + subSize;
        if (sub === 1) {
          for (let n = leb(); n > 0; n--) {
            const index = leb();
            const len = leb();
            names.set(index, Buffer.from(bytes.subarray(i, i + len)).toString());
            i += len;
          }
        }
        i = subEnd;
      }
    }
    i = end;
  }
  return { imported, bodies, names };
}
const wasm = wasmFunctions(fs.readFileSync(path.join(build, "edgeward_worker_bg.wasm")));
const nameOf = (index) => wasm.names.get(index) ?? `function #${index}`;

// ---- loopback servers: the IdP, the origin, Workers KV's HTTP protocol.
const listen = (server) => new Promise((r) => server.listen(0, "127.0.0.1", () => r(server.address().port)));
const { privateKey, publicKey } = await jose.generateKeyPair(ALG, { extractable: true });
const jwk = { ...(await jose.exportJWK(publicKey)), kid: "compiled", alg: ALG, use: "sig" };
const idpHits = { discovery: 0, jwks: 0 };
const idp = http.createServer((q, s) => {
  const kind = q.url === "/.well-known/openid-configuration" ? "discovery" : q.url === "/jwks" ? "jwks" : null;
  if (!kind) return s.writeHead(404).end();
  idpHits[kind]++;
  s.writeHead(200, { "content-type": "application/json", "cache-control": "max-age=600" });
  s.end(JSON.stringify(kind === "jwks" ? { keys: [jwk] } : { issuer, jwks_uri: `${issuer}/jwks` }));
});
const issuer = `http://127.0.0.1:${await listen(idp)}`;
const origin = http.createServer((q, s) => {
  q.resume();
  q.on("end", () => s.end("ok"));
});
const originUrl = `http://127.0.0.1:${await listen(origin)}`;
// workerd's KV binding speaks HTTP to its service: GET or PUT
// https://fake-host/<encoded key>?urlencoded=true (src/workerd/api/kv.c++).
const kvData = new Map();
const kv = http.createServer((q, s) => {
  const key = decodeURIComponent(new URL(q.url, "http://x").pathname.slice(1));
  const chunks = [];
  q.on("data", (c) => chunks.push(c));
  q.on("end", () => {
    if (q.method === "GET") {
      if (!kvData.has(key)) return s.writeHead(404).end();
      return s.writeHead(200).end(kvData.get(key));
    }
    if (q.method === "PUT") {
      kvData.set(key, Buffer.concat(chunks).toString());
      return s.writeHead(200).end();
    }
    if (q.method === "DELETE") {
      kvData.delete(key);
      return s.writeHead(200).end();
    }
    s.writeHead(405).end();
  });
});
const kvPort = await listen(kv);
const audience = "https://api.bench";
const config = edgewardConfig(issuer, audience);

const get = (port, token) =>
  new Promise((resolve, reject) => {
    http
      .get({ host: "127.0.0.1", port, path: "/orders/1", headers: { authorization: `Bearer ${token}` } }, (res) => {
        res.resume();
        res.on("end", () => resolve(res.statusCode));
      })
      .on("error", reject);
  });
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// One workerd: the Worker (its entry behind markers on stdout) and an idle
// Worker; `touchIdle`: request the idle Worker before the measured request.
async function run({ traced, touchIdle }) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "edgeward-compiled-"));
  fs.cpSync(build, path.join(dir, "w"), { recursive: true });
  fs.writeFileSync(
    path.join(dir, "w", "compiled-entry.mjs"),
    `import real from "./entry.mjs";
export default {
  async fetch(request, env, ctx) {
    console.log("EDGEWARD-COMPILED request");
    const response = await real.fetch(request, env, ctx);
    console.log("EDGEWARD-COMPILED response");
    return response;
  },
};
`,
  );
  fs.writeFileSync(path.join(dir, "idle.mjs"), `export default { fetch() { return new Response("idle"); } };\n`);
  const modules = workerdModules(dir, "w", "compiled-entry.mjs");
  const [port, idlePort] = [await freePort(), await freePort()];
  const text = (s) => JSON.stringify(s);
  fs.writeFileSync(
    path.join(dir, "config.capnp"),
    `using Workerd = import "/workerd/workerd.capnp";
const config :Workerd.Config = (
  v8Flags = [ ${traced ? '"--trace-wasm-compilation-times"' : ""} ],
  services = [
    (name = "main", worker = .main),
    ${FLUSH ? '(name = "idle", worker = .idle),' : ""}
    (name = "kv", external = (address = "127.0.0.1:${kvPort}", http = ())),
    (name = "internet", network = (allow = ["public", "private", "local"])),
  ],
  sockets = [
    (name = "http", address = "127.0.0.1:${port}", http = (), service = "main"),
    ${FLUSH ? `(name = "idle", address = "127.0.0.1:${idlePort}", http = (), service = "idle"),` : ""}
  ],
);
const main :Workerd.Worker = (
  modules = [ ${modules.join(",\n    ")} ],
  compatibilityDate = "2025-09-01",
  compatibilityFlags = ["nodejs_compat"],
  bindings = [
    (name = "EDGEWARD_CONFIG", text = ${text(JSON.stringify(config))}),
    (name = "ORIGIN", text = ${text(originUrl)}),
    (name = "EDGEWARD_KV", kvNamespace = "kv"),
  ],
  globalOutbound = "internet",
);
const idle :Workerd.Worker = (
  modules = [ (name = "idle.mjs", esModule = embed "idle.mjs") ],
  compatibilityDate = "2025-09-01",
);
`,
  );
  const child = spawn(workerd, ["serve", path.join(dir, "config.capnp"), "--experimental"], { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  let stderr = "";
  child.stdout.on("data", (d) => (out += d));
  child.stderr.on("data", (d) => (stderr += d));
  try {
    await listening(port, child, () => stderr);
    if (touchIdle) {
      await new Promise((r, j) => http.get({ host: "127.0.0.1", port: idlePort, path: "/" }, (res) => res.resume().on("end", r)).on("error", j));
    }
    const token = await mint(ALG, privateKey, { issuer, audience, kid: "compiled", sub: "u1", jti: "j1" });
    const status = await get(port, token);
    // The rest of the event (after its first verdict the Worker loads
    // node:crypto and writes its held log lines, 20 ms later).
    await sleep(300);
    return { status, out, stderr };
  } finally {
    child.kill();
    await new Promise((r) => (child.exitCode !== null ? r() : child.on("exit", r)));
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

try {
  // An earlier isolate: fetches the keys from the IdP and writes the snapshot.
  const warm = await run({ traced: false, touchIdle: false });
  if (warm.status !== 200) throw new Error(`the warm-up request answered ${warm.status}: ${warm.stderr}`);
  const snapshotKey = `edgeward:keys:v1:${issuer}`;
  for (let i = 0; i < 40 && !kvData.has(snapshotKey); i++) await sleep(50);
  if (!kvData.has(snapshotKey)) throw new Error(`no snapshot in KV after the warm-up; KV holds ${[...kvData.keys()].join(", ") || "nothing"}`);
  const hitsBefore = { ...idpHits };
  const r = await run({ traced: true, touchIdle: FLUSH });
  if (r.status !== 200) throw new Error(`the measured request answered ${r.status}: ${r.stderr}`);
  if (idpHits.jwks !== hitsBefore.jwks || idpHits.discovery !== hitsBefore.discovery) throw new Error("the measured isolate called the IdP: KV was not warm");

  // ---- split the trace at the markers.
  const phases = { evaluation: [], request: [], after: [] };
  let phase = "evaluation";
  for (const line of r.out.split("\n")) {
    if (line.includes("EDGEWARD-COMPILED request")) phase = "request";
    else if (line.includes("EDGEWARD-COMPILED response")) phase = "after";
    const m = /^Compiled function 0x[0-9a-f]+#(\d+) using (\w+), took (\d+) .s and \d+ bytes; bodysize (\d+)/.exec(line);
    if (m) phases[phase].push({ index: Number(m[1]), tier: m[2], us: Number(m[3]), bytes: Number(m[4]) });
  }
  if (phases.request.length === 0) throw new Error(`no compilation traced in the request (markers missing?):\n${r.out.slice(0, 2000)}`);
  const sum = (xs, f) => xs.reduce((a, x) => a + f(x), 0);
  const results = {
    build,
    alg: ALG,
    wasm_functions: wasm.bodies.length,
    wasm_code_bytes: sum(wasm.bodies, (x) => x),
    phases: Object.fromEntries(
      Object.entries(phases).map(([k, xs]) => [k, { functions: xs.length, bytes: sum(xs, (x) => x.bytes), traced_ms: sum(xs, (x) => x.us) / 1000 }]),
    ),
    request_top: [...phases.request].sort((a, b) => b.bytes - a.bytes).slice(0, TOP).map((x) => ({ bytes: x.bytes, name: nameOf(x.index) })),
  };
  console.log(`- ${build} (${ALG}): ${results.wasm_functions} wasm functions, ${results.wasm_code_bytes} bytes of code`);
  console.log("");
  console.log("| compiled | functions | bytes of wasm code | V8's compile time, traced (ms) |");
  console.log("|---|---:|---:|---:|");
  for (const [k, v] of Object.entries(results.phases)) console.log(`| ${k === "after" ? "after the response" : k === "request" ? "first request, to its response" : "module evaluation"} | ${v.functions} | ${v.bytes} | ${v.traced_ms.toFixed(1)} |`);
  if (TOP > 0) {
    console.log("");
    console.log(`The first request's ${TOP} largest:`);
    for (const x of results.request_top) console.log(`  ${String(x.bytes).padStart(6)}  ${x.name.slice(0, 140)}`);
  }
  if (jsonOut) fs.writeFileSync(jsonOut, JSON.stringify(results, null, 2));
} finally {
  idp.close();
  origin.close();
  kv.close();
}
