// Where a Worker request's gate time goes, measured inside workerd.
//
//   node bench/worker/probe.mjs [N]                  (N requests per probe, default 2000)
//   EDGEWARD_WORKER_FEATURES=probe EDGEWARD_WORKER_OUT=/tmp/probe-build worker/scripts/build.sh
//   BENCH_EDGEWARD_DIR=/tmp/probe-build node bench/worker/probe.mjs    (adds the Rust steps)
//
// workerd freezes its clock while a request runs, so every probe is one
// request that runs one step over N requests, timed from outside (wall
// clock, on an otherwise idle machine), minus a probe that only builds the
// N requests. One workerd process holds the edgeward Worker's module, jose 6
// bundled, and a probe entry:
//   floor     the forwarding Worker's own JS (new Headers, delete, set)
//   edgeward  fetchFast(request): the whole synchronous path up to fetch's
//             arguments (repeated: verdict-cache hits; distinct: new tokens)
//   jose      jwtVerify + the same header work
//   node:crypto / WebCrypto verify alone, on the same tokens
//   reading a request's headers: `headers` alone, get, keys(), keys() + get,
//   forEach (what js/glue.js readParts does)
// Requests carry authorization, user-agent and accept; PROBE_HEADERS=many
// adds twelve more, as a browser's request reaches a Worker on Cloudflare.
// and, in a `probe` build, the Rust steps one by one (worker/src/probe.rs).
// µs per request, median of 5 (steps: fastest of 7); "gate" = step − floor.
import http from "node:http";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { Miniflare, bundleJose, edgewardConfig, edgewardDir, edgewardOptions, jose, mint } from "./common.mjs";

const N = Number(process.argv[2] ?? 2000);
const MANY = {
  "user-agent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36",
  "accept-encoding": "gzip, br",
  "accept-language": "en-US,en;q=0.9",
  "cf-connecting-ip": "203.0.113.7",
  "cf-ipcountry": "DE",
  "cf-ray": "8c1234567890abcd-FRA",
  "cf-visitor": '{"scheme":"https"}',
  "x-forwarded-proto": "https",
  "x-real-ip": "203.0.113.7",
  "content-type": "application/json",
  "sec-fetch-mode": "cors",
  "sec-fetch-site": "same-site",
  origin: "https://app.example",
};
const listen = (server) => new Promise((r) => server.listen(0, "127.0.0.1", () => r(server.address().port)));

const keys = {};
for (const alg of ["RS256", "ES256"]) {
  const { privateKey, publicKey } = await jose.generateKeyPair(alg, { extractable: true });
  keys[alg] = { privateKey, jwk: { ...(await jose.exportJWK(publicKey)), kid: `bench-${alg}`, alg, use: "sig" } };
}
const idp = http.createServer((q, s) => {
  s.writeHead(200, { "content-type": "application/json", "cache-control": "max-age=600" });
  s.end(JSON.stringify({ keys: [keys.RS256.jwk, keys.ES256.jwk] }));
});
const issuer = `http://127.0.0.1:${await listen(idp)}`;
const audience = "https://api.bench";
const tokens = {};
for (const alg of ["RS256", "ES256"]) {
  tokens[alg] = [];
  const now = Math.floor(Date.now() / 1000);
  for (let i = 0; i < N + 1; i++) {
    tokens[alg].push(await mint(alg, keys[alg].privateKey, { issuer, audience, kid: `bench-${alg}`, sub: `user-${i}`, jti: `j${i}` }));
  }
}

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "edgeward-probe-"));
fs.cpSync(edgewardDir, dir, { recursive: true });
await bundleJose({ contents: `export { createRemoteJWKSet, jwtVerify } from "jose";`, outfile: path.join(dir, "jose.js") });
const snippet = fs.readdirSync(path.join(dir, "snippets"))[0];
fs.writeFileSync(
  path.join(dir, "probe-entry.mjs"),
  `
import wasmModule from "./edgeward_worker_bg.wasm";
import * as glue from "./edgeward_worker.js";
const { initSync, fetch: edgewardFetch, fetchFast } = glue;
import { createRemoteJWKSet, jwtVerify } from "./jose.js";
import * as native from "./snippets/${snippet}/js/native.js";
initSync({ module: wasmModule });
let jwks;
const IDENTITY = ["x-auth-subject", "x-auth-issuer", "x-auth-scopes"];
function forward(request, payload, scopes) {
  const url = new URL(request.url);
  const headers = new Headers(request.headers);
  for (const h of IDENTITY) headers.delete(h);
  headers.delete("host");
  headers.set("x-auth-subject", String(payload.sub ?? ""));
  headers.set("x-auth-issuer", String(payload.iss));
  headers.set("x-auth-scopes", scopes.join(" "));
  return { url: env_origin + url.pathname + url.search, init: { method: request.method, headers, body: request.body, redirect: "manual" } };
}
let env_origin;
let afterFirst = false;
// PROBE_HEADERS=many: twelve more headers, as a browser's request reaches a
// Worker on Cloudflare (cf-*, x-forwarded-*, sec-fetch-*, ...).
const EXTRA = ${JSON.stringify(process.env.PROBE_HEADERS === "many" ? MANY : {})};
export default {
  async fetch(request, env, ctx) {
    env_origin = env.ORIGIN;
    jwks ??= createRemoteJWKSet(new URL(env.JWKS), { cacheMaxAge: 600_000 });
    const u = new URL(request.url);
    if (u.pathname !== "/__probe") return edgewardFetch(request, env, ctx);
    // What js/entry.mjs runs after a new isolate's first verdict: node:crypto
    // loaded, so the steps below verify as a warm isolate does.
    if (!afterFirst) {
      afterFirst = true;
      glue.afterFirstVerdict();
    }
    const { what, n, toks } = await request.json();
    const reqs = toks.map((t) => new Request("http://gate.test/orders/1", { headers: { authorization: "Bearer " + t, "user-agent": "probe", accept: "*/*", ...EXTRA } }));
    let sink = 0;
    if (what === "floor") {
      for (let i = 0; i < n; i++) sink += forward(reqs[i], { sub: "x", iss: "y" }, ["orders:read"]) ? 1 : 0;
    } else if (what === "edgeward") {
      for (let i = 0; i < n; i++) {
        const out = fetchFast(reqs[i], ctx);
        if (out === undefined || out instanceof Response) throw new Error("not allowed: " + (out && out.status));
        if (out.check !== undefined) throw new Error("handed to WebCrypto: this loop measures the synchronous path");
        sink++;
      }
    } else if (what === "jose") {
      for (let i = 0; i < n; i++) {
        const m = /^Bearer[ \\t]+([A-Za-z0-9._~+/=-]+)$/i.exec(reqs[i].headers.get("authorization") ?? "");
        const { payload } = await jwtVerify(m[1], jwks, { issuer: env.ISSUER, audience: env.AUDIENCE, algorithms: ["RS256", "ES256"], clockTolerance: 60 });
        const scopes = payload.scope.split(" ");
        if (!scopes.includes("orders:read")) throw new Error("scope");
        sink += forward(reqs[i], payload, scopes) ? 1 : 0;
      }
    } else if (what === "nodeverify" || what === "subtleverify" || what === "b64") {
      const parts = toks.map((t) => t.split("."));
      const enc = new TextEncoder();
      const b64 = (s) => Uint8Array.from(atob(s.replace(/-/g, "+").replace(/_/g, "/")), (c) => c.charCodeAt(0));
      const hdr = JSON.parse(new TextDecoder().decode(b64(parts[0][0])));
      const jwk = (await (await fetch(env.JWKS)).json()).keys.find((k) => k.kid === hdr.kid);
      const msgs = parts.map((p) => enc.encode(p[0] + "." + p[1]));
      const sigs = parts.map((p) => b64(p[2]));
      if (what === "nodeverify") {
        // Slot 4095: far above the few the gate numbers. The key as its
        // numbers and ECDSA signatures as DER, as src/native.rs hands them
        // over (kind 1 RSA: n, e; 2 EC P-256: x, y).
        const [kind, a, b] = jwk.kty === "RSA" ? [1, jwk.n, jwk.e] : [2, jwk.x, jwk.y];
        if (!native.nativeLoad() || native.nativeAddKey(4095, kind, b64(a), b64(b)) !== 1) throw new Error("nodeverify: no node:crypto");
        const der = (rs) => {
          const int = (b) => {
            let i = 0;
            while (i < b.length - 1 && b[i] === 0) i++;
            b = b.subarray(i);
            return b[0] & 0x80 ? [0x02, b.length + 1, 0, ...b] : [0x02, b.length, ...b];
          };
          const body = [...int(rs.subarray(0, rs.length / 2)), ...int(rs.subarray(rs.length / 2))];
          return Uint8Array.from([0x30, body.length, ...body]);
        };
        const nsigs = hdr.alg === "ES256" ? sigs.map(der) : sigs;
        for (let i = 0; i < n; i++) if (native.nativeVerify(1, 4095, msgs[i], nsigs[i]) !== 1) throw new Error("nodeverify");
      } else if (what === "subtleverify") {
        const ec = hdr.alg === "ES256";
        const algo = ec ? { name: "ECDSA", namedCurve: "P-256" } : { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" };
        const key = await crypto.subtle.importKey("jwk", jwk, algo, false, ["verify"]);
        const valgo = ec ? { name: "ECDSA", hash: "SHA-256" } : algo;
        for (let i = 0; i < n; i++) if (!(await crypto.subtle.verify(valgo, key, sigs[i], msgs[i]))) throw new Error("subtleverify");
      }
      sink = n;
    } else if (what.startsWith("step:")) {
      sink = glue.probe(what.slice(5), reqs);
    } else if (what.startsWith("headers:")) {
      // Ways to read a request's headers (js/glue.js readParts uses forEach).
      const how = what.slice(8);
      for (let i = 0; i < n; i++) {
        const h = reqs[i].headers;
        if (how === "keys") for (const name of h.keys()) sink += name.length;
        else if (how === "keys+get") for (const name of h.keys()) sink += name === "authorization" ? h.get(name).length : name.length;
        else if (how === "forEach") h.forEach((value, name) => (sink += name.length + value.length));
        else if (how === "get") sink += h.get("authorization").length;
        else sink += h === null ? 0 : 1;
      }
    } else if (what === "requests") {
      sink = reqs.length;
    }
    return new Response(String(sink));
  },
};
`,
);

const mf = new Miniflare(
  edgewardOptions(
    dir,
    {
      EDGEWARD_CONFIG: JSON.stringify(edgewardConfig(issuer, audience)),
      ORIGIN: "http://127.0.0.1:9",
      JWKS: `${issuer}/jwks`,
      ISSUER: issuer,
      AUDIENCE: audience,
    },
    { entry: "probe-entry.mjs" },
  ),
);
const base = await mf.ready;
// Warm up: the isolate loads, keys arrive in both gates.
const warm = await mf.dispatchFetch(new URL("/orders/1", base), { headers: { authorization: `Bearer ${tokens.ES256[0]}` } });
await warm.text();

async function probe(what, toks) {
  const t0 = performance.now();
  const r = await mf.dispatchFetch(new URL("/__probe", base), { method: "POST", body: JSON.stringify({ what, n: toks.length, toks }) });
  const text = await r.text();
  if (r.status !== 200) throw new Error(`${what}: ${r.status} ${text.slice(0, 300)}`);
  return performance.now() - t0;
}
async function per(what, toks) {
  const xs = [];
  for (let k = 0; k < 5; k++) {
    const full = await probe(what, toks);
    const none = await probe("requests", toks);
    xs.push(((full - none) * 1000) / toks.length);
  }
  xs.sort((a, b) => a - b);
  return xs[2];
}

// A probe build exports `probe` (plainly, or renamed by the minifier).
const glueText = fs.readFileSync(path.join(dir, "edgeward_worker.js"), "utf8");
const stepped = glueText.includes("export function probe(") || /export\s*\{[^}]*\bas probe\b/.test(glueText);
async function freshTokens(alg, tag) {
  const out = [];
  for (let i = 0; i < N; i++) out.push(await mint(alg, keys[alg].privateKey, { issuer, audience, kid: `bench-${alg}`, sub: `user-${tag}-${i}`, jti: `${tag}-${i}` }));
  return out;
}
if (stepped) {
  // Cumulative steps of the synchronous path (a build with feature probe).
  let tag = 0;
  for (const alg of ["RS256", "ES256"]) {
    for (const mode of ["repeated", "distinct"]) {
      const line = [];
      for (const step of ["parts", "sha", "jws", "check", "finish"]) {
        // Least-disturbed estimate: the fastest of 7 runs, minus the
        // fastest of 7 runs that only build the requests.
        let full = Infinity;
        let none = Infinity;
        for (let k = 0; k < 7; k++) {
          const toks = mode === "repeated" ? Array(N).fill(tokens[alg][0]) : await freshTokens(alg, `s${tag++}`);
          full = Math.min(full, await probe(`step:${step}`, toks));
          none = Math.min(none, await probe("requests", toks));
        }
        line.push(`${step} ${(((full - none) * 1000) / N).toFixed(1)}`);
      }
      console.log(`${alg} ${mode} steps (µs, cumulative from parts): ${line.join(", ")}`);
    }
  }
}
{
  // Reading the headers, each way on its own (one request's three headers:
  // authorization, user-agent, accept), µs per request.
  const line = [];
  for (const how of ["headers", "get", "keys", "keys+get", "forEach"]) {
    let full = Infinity;
    let none = Infinity;
    const toks = Array(N).fill(tokens.RS256[0]);
    for (let k = 0; k < 7; k++) {
      full = Math.min(full, await probe(`headers:${how}`, toks));
      none = Math.min(none, await probe("requests", toks));
    }
    line.push(`${how} ${(((full - none) * 1000) / N).toFixed(2)}`);
  }
  console.log(`reading the headers (µs per request): ${line.join(", ")}`);
}
if (process.env.PROBE_STEPS_ONLY) {
  await mf.dispose();
  idp.close();
  fs.rmSync(dir, { recursive: true, force: true });
  process.exit(0);
}
const rows = [];
for (const alg of ["RS256", "ES256"]) {
  for (const mode of ["repeated", "distinct"]) {
    const toks = mode === "repeated" ? Array(N).fill(tokens[alg][0]) : tokens[alg].slice(1);
    const floor = await per("floor", toks);
    const row = { alg, mode, floor_us: floor };
    for (const what of ["nodeverify", "subtleverify", "b64"]) row[`${what}_us`] = await per(what, toks);
    console.log(`${alg} ${mode}: node:crypto verify ${(row.nodeverify_us - row.b64_us).toFixed(1)} µs, WebCrypto verify ${(row.subtleverify_us - row.b64_us).toFixed(1)} µs (after ${row.b64_us.toFixed(1)} µs of decoding)`);
    for (const what of ["edgeward", "jose"]) {
      if (mode === "distinct" && what === "edgeward") {
        // Each sample gets tokens edgeward has not seen: signed anew.
        const xs = [];
        for (let k = 0; k < 5; k++) {
          const fresh = await freshTokens(alg, `p${k}`);
          const full = await probe("edgeward", fresh);
          const none = await probe("requests", fresh);
          xs.push(((full - none) * 1000) / N);
        }
        xs.sort((a, b) => a - b);
        row.edgeward_us = xs[2];
      } else {
        row[`${what}_us`] = await per(what, toks);
      }
    }
    row.edgeward_gate_us = row.edgeward_us - floor;
    row.jose_gate_us = row.jose_us - floor;
    rows.push(row);
    console.log(
      `${alg} ${mode}: floor ${floor.toFixed(1)} µs; edgeward ${row.edgeward_us.toFixed(1)} (gate ${row.edgeward_gate_us.toFixed(1)}); jose ${row.jose_us.toFixed(1)} (gate ${row.jose_gate_us.toFixed(1)})`,
    );
  }
}
await mf.dispose();
idp.close();
fs.rmSync(dir, { recursive: true, force: true });
