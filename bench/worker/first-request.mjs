// How fast wasm runs in an isolate's first request, against later ones.
//
//   EDGEWARD_WORKER_FEATURES=probe EDGEWARD_WORKER_OUT=/tmp/probe-build worker/scripts/build.sh
//   node bench/worker/first-request.mjs /tmp/probe-build [--at-eval] [--v8-flags "--no-flush-liftoff-code ..."]
//
// A Worker whose request `/?n=K` runs the probe build's `warmUp` K times
// (worker/src/probe.rs: the whole request path on a throwaway gate:
// configuration, gate, JWKS ingest and snapshot, adopt, an RS256 and an
// ES256 check), in a bare `workerd serve` (the binary Miniflare ships),
// once alone in its process and once beside two idle Workers, as an isolate
// is in Miniflare and in production. `--at-eval`: `warmUp` also runs once
// when workerd evaluates the module, before any request. Requests in order:
// n=0 (the isolate's first request, no wasm), then n=1, n=1, n=5, n=5;
// reported per request: the CPU of every workerd thread over it (schedstat),
// ms. Loopback only; workerd is stopped by PID.
import fs from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { spawn } from "node:child_process";
import { createRequire } from "node:module";
import { freePort, listening, workerDir, workerdModules } from "./common.mjs";

const build = path.resolve(process.argv[2] ?? "");
const atEval = process.argv.includes("--at-eval");
// V8 flags for workerd (its config's v8Flags), to see what a first request
// pays for: e.g. --no-wasm-lazy-compilation, --no-flush-liftoff-code.
const flagsAt = process.argv.indexOf("--v8-flags");
const v8Flags = flagsAt > 0 ? (process.argv[flagsAt + 1] ?? "").split(" ").filter(Boolean) : [];
if (!fs.existsSync(path.join(build, "edgeward_worker_bg.wasm")) || (flagsAt > 0 && v8Flags.length === 0)) {
  throw new Error('usage: node bench/worker/first-request.mjs <probe build dir> [--at-eval] [--v8-flags "FLAG ..."]');
}
const workerd = createRequire(path.join(workerDir, "package.json")).resolve("@cloudflare/workerd-linux-64/bin/workerd");
const SEQUENCE = [0, 1, 1, 5, 5];

const get = (port, n) =>
  new Promise((resolve, reject) => {
    http
      .get({ host: "127.0.0.1", port, path: `/?n=${n}` }, (res) => {
        let body = "";
        res.on("data", (d) => (body += d));
        res.on("end", () => resolve(body));
      })
      .on("error", reject);
  });
const cpuMs = (pid) =>
  fs
    .readdirSync(`/proc/${pid}/task`)
    .reduce((sum, t) => sum + Number(fs.readFileSync(`/proc/${pid}/task/${t}/schedstat`, "utf8").split(" ")[0]), 0) / 1e6;

async function run(idle) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "edgeward-first-"));
  fs.cpSync(build, path.join(dir, "w"), { recursive: true });
  fs.writeFileSync(
    path.join(dir, "w", "first-entry.mjs"),
    `import wasmModule from "./edgeward_worker_bg.wasm";
import { initSync, warmUp } from "./edgeward_worker.js";
initSync({ module: wasmModule });
${atEval ? "globalThis.atEval = warmUp();" : ""}
export default {
  fetch(request) {
    const n = Number(new URL(request.url).searchParams.get("n") ?? 0);
    let steps = 0;
    for (let i = 0; i < n; i++) steps += warmUp();
    return new Response(String(steps));
  },
};
`,
  );
  fs.writeFileSync(path.join(dir, "idle.mjs"), `export default { fetch() { return new Response("idle"); } };\n`);
  const modules = workerdModules(dir, "w", "first-entry.mjs");
  const port = await freePort();
  const services = ['(name = "main", worker = .main)'];
  for (let i = 0; i < idle; i++) services.push(`(name = "idle${i}", worker = .idle)`);
  fs.writeFileSync(
    path.join(dir, "config.capnp"),
    `using Workerd = import "/workerd/workerd.capnp";
const config :Workerd.Config = (
  v8Flags = [ ${v8Flags.map((f) => JSON.stringify(f)).join(", ")} ],
  services = [ ${services.join(", ")} ],
  sockets = [ (name = "http", address = "127.0.0.1:${port}", http = (), service = "main") ],
);
const main :Workerd.Worker = (
  modules = [ ${modules.join(",\n    ")} ],
  compatibilityDate = "2025-09-01",
  compatibilityFlags = ["nodejs_compat"],
);
const idle :Workerd.Worker = (
  modules = [ (name = "idle.mjs", esModule = embed "idle.mjs") ],
  compatibilityDate = "2025-09-01",
);
`,
  );
  const child = spawn(workerd, ["serve", path.join(dir, "config.capnp"), "--experimental"], { stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr.on("data", (d) => (stderr += d));
  try {
    await listening(port, child, () => stderr);
    const out = [];
    for (const n of SEQUENCE) {
      const before = cpuMs(child.pid);
      const steps = await get(port, n);
      out.push({ n, ms: cpuMs(child.pid) - before, steps: Number(steps) });
    }
    return out;
  } finally {
    child.kill();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

console.log(`warmUp per request, workerd CPU (all threads), ms${atEval ? "; warmUp also ran at module evaluation" : ""}${v8Flags.length ? `; V8 flags: ${v8Flags.join(" ")}` : ""}`);
console.log(`| Worker's process | ${SEQUENCE.map((n, i) => `request ${i + 1}: n=${n}`).join(" | ")} |`);
console.log(`|---|${SEQUENCE.map(() => "---").join("|")}|`);
for (const [label, idle] of [["alone", 0], ["with 2 idle Workers", 2]]) {
  const r = await run(idle);
  if (r.some((x) => x.steps !== x.n * 7)) throw new Error(`warmUp did not run all its steps: ${JSON.stringify(r)}`);
  console.log(`| ${label} | ${r.map((x) => x.ms.toFixed(1)).join(" | ")} |`);
}
