// What the Worker benchmarks share (run.mjs, profile.mjs, probe.mjs): the
// tools from worker/node_modules, token minting, the jose bundle, and the
// Miniflare options for the edgeward Worker, the jose Worker and the floor.
import fs from "node:fs";
import net from "node:net";
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

// BENCH_TOKEN=rich: the claims an Auth0 or Keycloak access token carries
// beside the ones a gate reads (the default is a minimal token).
const RICH = {
  azp: "Xk3kd93kdk3kd93", gty: "password", sid: "3d1c0e9a-6f1b-4d6e-9b1e-2f0c8c1d7a55",
  auth_time: 1_700_000_000, acr: "urn:mace:incommon:iap:silver", amr: ["pwd", "mfa"],
  email: "user@example.com", email_verified: true, name: "User Name", preferred_username: "user",
  realm_access: { roles: ["offline_access", "uma_authorization"] },
  resource_access: { account: { roles: ["manage-account", "view-profile"] } },
  permissions: ["read:orders"], org_id: "org_123",
};
/**
 * An access token as the benchmarks use them: `scope orders:read`, one hour
 * (with BENCH_TOKEN=rich, RICH's claims besides).
 */
export function mint(alg, privateKey, { issuer, audience, kid, sub, jti }) {
  const now = Math.floor(Date.now() / 1000);
  const extra = process.env.BENCH_TOKEN === "rich" ? { ...RICH, email: `${sub}@example.com`, sid: `${jti}-session` } : {};
  return new jose.SignJWT({ scope: "orders:read", client_id: "bench", ...extra })
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

/** A free loopback port (bound, then released). */
export const freePort = () =>
  new Promise((resolve) => {
    const srv = net.createServer().listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });

/**
 * The `modules` of a bare `workerd serve` config for the Worker files in
 * `dir/sub` (its JS modules and wasm, embedded as `sub/...`), `entry` first
 * (workerd's main module).
 */
export function workerdModules(dir, sub, entry) {
  const modules = [];
  const walk = (d, rel = "") => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) walk(path.join(d, e.name), r);
      else if (/\.m?js$/.test(e.name)) modules.push(`(name = "${r}", esModule = embed "${sub}/${r}")`);
      else if (e.name.endsWith(".wasm")) modules.push(`(name = "${r}", wasm = embed "${sub}/${r}")`);
    }
  };
  walk(path.join(dir, sub));
  const first = `(name = "${entry}",`;
  return modules.sort((a, b) => (a.startsWith(first) ? -1 : b.startsWith(first) ? 1 : 0));
}

/**
 * Waits until `child` (a workerd) listens on loopback `port`; throws with
 * its stderr (`stderr()`) when it exits or 5 s pass first.
 */
export async function listening(port, child, stderr) {
  for (let i = 0; ; i++) {
    const up = await new Promise((r) =>
      net
        .connect(port, "127.0.0.1")
        .on("connect", function () {
          this.end();
          r(true);
        })
        .on("error", () => r(false)),
    );
    if (up) return;
    if (i > 100 || child.exitCode !== null) throw new Error(`workerd did not start: ${stderr()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
