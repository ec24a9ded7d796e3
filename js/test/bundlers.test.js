// A real bundler build: test/bundle/app.mjs (an app importing edgeward)
// bundled by esbuild and by Vite (SSR build, dependencies bundled in) for
// Node, the package no longer resolvable from the app, then run with Node
// against a real OpenID provider on loopback: a token verifies, a token for
// another audience and a missing one are refused. Without the wasm copied
// next to the bundle (js/README.md, "Bundlers") it fails with an error that
// says so. Node only (the bundles run in Node).
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { runtime, testIf } from "./harness.js";
import { resourceFor, startIdp } from "./fixtures.js";

const JS = fileURLToPath(new URL("..", import.meta.url));
const WASM = join(JS, "dist", "edgeward_bg.wasm");

/** A fresh app directory with edgeward installed (a link to this package). */
function appDir() {
  const dir = mkdtempSync(join(tmpdir(), "edgeward-bundle-"));
  mkdirSync(join(dir, "node_modules"));
  symlinkSync(JS, join(dir, "node_modules", "edgeward"), "dir");
  copyFileSync(join(JS, "test", "bundle", "app.mjs"), join(dir, "app.mjs"));
  return dir;
}

const BUNDLERS = {
  async esbuild(dir) {
    const esbuild = await import("esbuild");
    const outfile = join(dir, "out", "app.mjs");
    await esbuild.build({ entryPoints: [join(dir, "app.mjs")], bundle: true, platform: "node", format: "esm", outfile, logLevel: "silent" });
    return outfile;
  },
  async vite(dir) {
    const { build } = await import("vite");
    await build({
      root: dir,
      configFile: false,
      logLevel: "silent",
      build: { ssr: join(dir, "app.mjs"), outDir: join(dir, "out"), target: "node18", rollupOptions: { output: { format: "es", entryFileNames: "app.mjs" } } },
      ssr: { noExternal: true, target: "node" },
    });
    return join(dir, "out", "app.mjs");
  },
};

for (const [name, bundle] of Object.entries(BUNDLERS)) {
  testIf(runtime === "node", `bundlers: ${name} bundles an app importing edgeward; the bundle verifies and refuses tokens in Node`, async () => {
    const dir = appDir();
    const idp = await startIdp();
    try {
      const out = await bundle(dir);
      // Bundled, not left as an import of the package.
      assert.doesNotMatch(readFileSync(out, "utf8"), /from\s*["']edgeward["']/);
      rmSync(join(dir, "node_modules"), { recursive: true });
      const args = JSON.stringify({
        issuer: idp.issuer,
        audience: resourceFor("RS256"),
        tokens: { good: await idp.token("RS256"), otherAudience: await idp.token("ES256"), none: "" },
      });

      // Without the wasm next to the bundle: a clear error, not a crash elsewhere.
      const missing = spawnSync(process.execPath, [out, args], { encoding: "utf8" });
      assert.notEqual(missing.status, 0);
      assert.match(missing.stderr, /copy node_modules\/edgeward\/dist\/edgeward_bg\.wasm next to the bundle/);

      copyFileSync(WASM, join(dir, "out", "edgeward_bg.wasm"));
      const got = JSON.parse(execFileSync(process.execPath, [out, args], { encoding: "utf8" }));
      assert.equal(got.runtime, "node");
      assert.equal(got.crypto, "native");
      assert.deepEqual(got.verdicts, {
        good: { allowed: true, subject: "edgeward-tests" },
        otherAudience: { allowed: false, status: 401, reason: "audience_invalid" },
        none: { allowed: false, status: 401, reason: "token_missing" },
      });
    } finally {
      idp.close();
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);
}
