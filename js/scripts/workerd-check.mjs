// The pack test's Workers leg: bundles a Worker that imports "edgeward" the
// way wrangler does (esbuild, conditions workerd/worker/browser, the .wasm
// kept as a module beside the bundle), and runs it in workerd (Miniflare),
// with and without the nodejs_compat flag, against the IdP of the pack test.
//
//   node scripts/workerd-check.mjs <app dir with edgeward installed>
// Env: ISSUER, TOKEN_RS256, TOKEN_ES256, TOKEN_EDDSA, TOKEN_PS256.
import { copyFileSync, mkdirSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const esbuild = require("esbuild");
const { Miniflare } = require("miniflare");

const app = resolve(process.argv[2]);
const out = join(app, "worker-out");
mkdirSync(out, { recursive: true });
writeFileSync(
  join(app, "worker.mjs"),
  `import { createGate, runtime } from "edgeward";
let gate;
export default {
  async fetch(request, env) {
    gate ??= createGate({
      issuers: [{ issuer: env.ISSUER, audiences: ["http://api.test/rs256", "http://api.test/ps256", "http://api.test/es256", "http://api.test/eddsa"] }],
      routes: [{ path: "/orders/**", scopes: { any: ["orders:read"] } }],
    });
    const r = await gate.check(request);
    if (!r.allowed) return new Response(r.status === 503 ? JSON.stringify(gate.keys()) : r.body, { status: r.status, headers: r.headers });
    return Response.json({ subject: r.identity.subject, crypto: gate.crypto, runtime: runtime.name, native: runtime.nativeAlgorithms() });
  },
};
`,
);

let wasmSource;
await esbuild.build({
  entryPoints: [join(app, "worker.mjs")],
  bundle: true,
  format: "esm",
  platform: "neutral",
  conditions: ["workerd", "worker", "browser"],
  outfile: join(out, "worker.mjs"),
  logLevel: "warning",
  plugins: [
    {
      name: "wasm-module",
      setup(b) {
        b.onResolve({ filter: /\.wasm$/ }, (args) => {
          wasmSource = resolve(args.resolveDir, args.path);
          return { path: "./edgeward_bg.wasm", external: true };
        });
      },
    },
  ],
});
if (!wasmSource) throw new Error("the bundle imports no .wasm: the workerd build was not picked");
copyFileSync(wasmSource, join(out, "edgeward_bg.wasm"));

for (const flags of [["nodejs_compat"], []]) {
  const mf = new Miniflare({
    // The bundle's modules listed, as wrangler hands them to workerd (no
    // import scan: the bundle keeps edgeward's import("hono/http-exception"),
    // unresolved without hono and run only by hono({ throwErrors: true })).
    modules: [
      { type: "ESModule", path: join(out, "worker.mjs") },
      { type: "CompiledWasm", path: join(out, "edgeward_bg.wasm") },
    ],
    modulesRoot: out,
    compatibilityDate: "2025-09-01",
    compatibilityFlags: flags,
    bindings: { ISSUER: process.env.ISSUER },
  });
  try {
    const label = flags.length ? "workerd + nodejs_compat" : "workerd";
    for (const alg of ["RS256", "PS256", "ES256", "EDDSA"]) {
      const res = await mf.dispatchFetch("https://api.example.com/orders/1", {
        headers: { authorization: `Bearer ${process.env[`TOKEN_${alg}`]}` },
      });
      const body = await res.text();
      if (res.status !== 200) throw new Error(`${label} ${alg}: ${res.status} ${body}`);
      const info = JSON.parse(body);
      if (info.subject !== "edgeward-tests" || info.runtime !== "workerd") throw new Error(`${label}: ${body}`);
      if (alg === "EDDSA") {
        console.log(`${label}: 4 algorithms verified with ${info.crypto} crypto (node:crypto for: ${info.native.join(" ") || "none"})`);
      }
    }
    const res = await mf.dispatchFetch("https://api.example.com/orders/1");
    if (res.status !== 401) throw new Error(`${label}: no token answered ${res.status}`);
  } finally {
    await mf.dispose();
  }
}
