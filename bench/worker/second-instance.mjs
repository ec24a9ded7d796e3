// What a new isolate pays once, apart from the work of a first request:
// in each new workerd, request A goes to the edgeward Worker's module and
// request B to a second instance of the same wasm module (a copy of the
// wasm-bindgen glue and entry: its own memory, settings, gate and KV read,
// so the whole first-request path again) in the same isolate. V8 shares
// compiled code between instances of one module, workerd's own JS (console,
// fetch, KV, node:crypto) is loaded once per isolate, and wasm runs several
// times slower in an isolate's first request than in later ones
// (first-request.mjs): B pays none of it.
//
//   node bench/worker/second-instance.mjs [samples]    (BENCH_EDGEWARD_DIR: the build)
//
// Reported per sample: status, wall time and the workerd main thread's CPU
// (schedstat) of A and of B.
import http from "node:http";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { Miniflare, edgewardConfig, edgewardDir, edgewardOptions, jose, mint } from "./common.mjs";

const SAMPLES = Number(process.argv[2] ?? 5);
const listen = (s) => new Promise((r) => s.listen(0, "127.0.0.1", () => r(s.address().port)));
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const { privateKey, publicKey } = await jose.generateKeyPair("ES256", { extractable: true });
const jwk = { ...(await jose.exportJWK(publicKey)), kid: "k", alg: "ES256", use: "sig" };
let issuer;
const idp = http.createServer((q, s) => {
  s.writeHead(200, { "content-type": "application/json", "cache-control": "max-age=600" });
  s.end(JSON.stringify(q.url === "/jwks" ? { keys: [jwk] } : { issuer, jwks_uri: `${issuer}/jwks` }));
});
issuer = `http://127.0.0.1:${await listen(idp)}`;
const origin = http.createServer((q, s) => {
  q.resume();
  q.on("end", () => s.end("ok"));
});
const originUrl = `http://127.0.0.1:${await listen(origin)}`;

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "edgeward-second-"));
fs.cpSync(edgewardDir, dir, { recursive: true });
fs.copyFileSync(path.join(dir, "edgeward_worker.js"), path.join(dir, "edgeward_worker_b.js"));
fs.writeFileSync(path.join(dir, "entry_b.mjs"), fs.readFileSync(path.join(dir, "entry.mjs"), "utf8").replaceAll("./edgeward_worker.js", "./edgeward_worker_b.js"));
fs.writeFileSync(
  path.join(dir, "two.mjs"),
  `let a, b;
export default {
  async fetch(r, env, ctx) {
    if (r.headers.get("x-instance") === "b") return (b ??= (await import("./entry_b.mjs")).default).fetch(r, env, ctx);
    return (a ??= (await import("./entry.mjs")).default).fetch(r, env, ctx);
  },
};
`,
);
const config = edgewardConfig(issuer, "https://api.bench");
delete config.issuers[0].jwks_uri;
const kvDir = path.join(dir, "kv");
let n = 0;
const token = () => mint("ES256", privateKey, { issuer, audience: "https://api.bench", kid: "k", sub: `s${n}`, jti: `j${n++}` });
const mainMs = (pid) => Number(fs.readFileSync(`/proc/${pid}/task/${pid}/schedstat`, "utf8").split(" ")[0]) / 1e6;
const workerds = () =>
  new Set(
    fs.readdirSync("/proc").filter((d) => {
      try {
        return /^\d+$/.test(d) && fs.readFileSync(`/proc/${d}/comm`, "utf8").startsWith("workerd");
      } catch {
        return false;
      }
    }),
  );
const get = (url, tok, instance) =>
  new Promise((res, rej) =>
    http
      .get({ host: url.hostname, port: url.port, path: "/orders/1", agent: false, headers: { authorization: `Bearer ${tok}`, "x-instance": instance } }, (r) => {
        r.resume();
        r.on("end", () => res(r.statusCode));
      })
      .on("error", rej),
  );

for (let s = -1; s < SAMPLES; s++) {
  const before = workerds();
  const mf = new Miniflare(edgewardOptions(dir, { EDGEWARD_CONFIG: JSON.stringify(config), ORIGIN: originUrl }, { entry: "two.mjs", kvPersist: kvDir }));
  const url = new URL(await mf.ready);
  const pid = [...workerds()].find((p) => !before.has(p));
  await (await mf.getKVNamespace("EDGEWARD_KV")).get("warm-up");
  await sleep(20);
  const out = [];
  for (const instance of ["a", "b"]) {
    const tok = await token();
    const c0 = mainMs(pid);
    const t0 = performance.now();
    const status = await get(url, tok, instance);
    out.push(`${instance}: ${status}, wall ${(performance.now() - t0).toFixed(1)} ms, main thread ${(mainMs(pid) - c0).toFixed(1)} ms`);
    await sleep(150); // the KV write (first sample) and the deferred work
  }
  await mf.dispose();
  if (s >= 0) console.log(out.join(" | ")); // sample -1 only fills KV
}
idp.close();
origin.close();
fs.rmSync(dir, { recursive: true, force: true });
process.exit(0);
