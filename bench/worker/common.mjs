// What the Worker benchmarks share (run.mjs, profile.mjs, probe.mjs): the
// tools from worker/node_modules, token minting, the jose bundle, and the
// Miniflare options for the edgeward Worker, the jose Worker and the floor.
import path from "node:path";
import { createRequire } from "node:module";
import { fileURLToPath, pathToFileURL } from "node:url";

export const here = path.dirname(fileURLToPath(import.meta.url));
export const workerDir = path.resolve(here, "..", "..", "worker");
const req = createRequire(path.join(workerDir, "package.json"));
export const { Miniflare } = await import(pathToFileURL(req.resolve("miniflare")).href);
export const jose = await import(pathToFileURL(req.resolve("jose")).href);
export const esbuild = req("esbuild");
export const WebSocket = req("ws");

/** The edgeward Worker to measure: BENCH_EDGEWARD_DIR or the shipped build. */
export const edgewardDir = process.env.BENCH_EDGEWARD_DIR ?? path.join(workerDir, "build", "worker");

/** An access token as the benchmarks use them: `scope orders:read`, one hour. */
export function mint(alg, privateKey, { issuer, audience, kid, sub, jti }) {
  const now = Math.floor(Date.now() / 1000);
  return new jose.SignJWT({ scope: "orders:read", client_id: "bench" })
    .setProtectedHeader({ alg, kid, typ: "at+jwt" })
    .setIssuer(issuer)
    .setAudience(audience)
    .setSubject(sub)
    .setIssuedAt(now - 5)
    .setExpirationTime(now + 3600)
    .setJti(jti)
    .sign(privateKey);
}

/** Bundles jose for workerd: `entry` (a file) or `contents` (module text). */
export function bundleJose({ entry, contents, outfile }) {
  return esbuild.build({
    ...(entry ? { entryPoints: [entry] } : { stdin: { contents, resolveDir: workerDir } }),
    bundle: true,
    format: "esm",
    platform: "neutral",
    mainFields: ["module", "main"],
    conditions: ["workerd", "worker", "browser"],
    minify: true,
    nodePaths: [path.join(workerDir, "node_modules")],
    outfile,
    logLevel: "error",
  });
}

/** Options every benchmark Worker shares. */
export const common = {
  modules: true,
  compatibilityDate: "2025-09-01",
  compatibilityFlags: ["nodejs_compat"],
  handleRuntimeStdio(o, e) {
    o.resume();
    e.resume();
  },
};

/** The gate's configuration in every benchmark: one issuer, one route. */
export function edgewardConfig(issuer, audience, extra = {}) {
  return {
    realm: "api",
    issuers: [{ issuer, jwks_uri: `${issuer}/jwks`, audiences: [audience] }],
    routes: [{ path: "/orders/**", methods: ["GET"], scopes: { any: ["orders:read"] } }],
    ...extra,
  };
}

/** Miniflare options for an edgeward build in `dir` (entry `entry`). */
export function edgewardOptions(dir, bindings, { entry = "entry.mjs", ...more } = {}) {
  return {
    ...common,
    scriptPath: path.join(dir, entry),
    modulesRoot: dir,
    modulesRules: [
      { type: "ESModule", include: ["**/*.js", "**/*.mjs"] },
      { type: "CompiledWasm", include: ["**/*.wasm"] },
    ],
    kvNamespaces: ["EDGEWARD_KV"],
    bindings,
    ...more,
  };
}

/** Forwarding alone, no token check: the floor both gates stand on. */
export const FLOOR_SCRIPT = `export default { fetch(r, env) { const u = new URL(r.url); const h = new Headers(r.headers); h.delete("host"); h.set("x-auth-subject", "floor"); return fetch(env.ORIGIN + u.pathname + u.search, { method: r.method, headers: h, body: r.body, redirect: "manual" }); } }`;
