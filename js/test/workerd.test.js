// The workerd build (lib/workerd.js) inside Cloudflare's runtime, through
// Miniflare: the conformance cases with both backends, and the Wycheproof
// vectors through node:crypto (nodejs_compat) and ring. Node only: it
// drives workerd from outside.
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { runtime, testIf } from "./harness.js";
import { conformanceCases } from "./fixtures.js";

const root = fileURLToPath(new URL("..", import.meta.url));

async function withWorker(flags, fn) {
  const { Miniflare } = await import("miniflare");
  const mf = new Miniflare({
    // Listed, not found by Miniflare's import scan: gate.js holds an
    // import("hono/http-exception") (run only by hono({ throwErrors: true }),
    // which a bundler resolves) that the scan cannot follow unbundled.
    modules: [
      ...["test/workerd/worker.mjs", "lib/workerd.js", "lib/api.js", "lib/gate.js", "lib/native.js", "lib/stores.js", "dist/edgeward.js"].map(
        (path) => ({ type: "ESModule", path: root + path }),
      ),
      { type: "CompiledWasm", path: `${root}dist/edgeward_bg.wasm` },
    ],
    modulesRoot: root,
    compatibilityDate: "2025-09-01",
    compatibilityFlags: flags,
  });
  try {
    return await fn(mf);
  } finally {
    await mf.dispose();
  }
}

testIf(runtime === "node", "workerd: conformance cases and Wycheproof vectors, with and without nodejs_compat", async () => {
  const cases = conformanceCases();
  const vectors = readFileSync(new URL("./.vectors.json", import.meta.url), "utf8");
  assert.ok(existsSync(new URL("./.vectors.json", import.meta.url)));
  for (const flags of [["nodejs_compat"], []]) {
    await withWorker(flags, async (mf) => {
      const conf = await (await mf.dispatchFetch("http://test/conformance", { method: "POST", body: JSON.stringify(cases) })).json();
      assert.deepEqual(conf.failures, []);
      assert.equal(conf.cases, cases.length);
      const v = await (await mf.dispatchFetch("http://test/vectors", { method: "POST", body: vectors })).json();
      assert.deepEqual(v.failures, []);
      assert.ok(v.run > 2000);
      const label = flags.length ? "workerd + nodejs_compat" : "workerd";
      console.log(`${label}: ${cases.length} conformance cases x 2 backends pass; wycheproof ${v.run} vectors agree (node:crypto answered ${v.answered.native}, ring ${v.answered.ring}; native: ${v.native.join(" ") || "none"}; ES512 ${v.byAlg.ES512 ?? 0})`);
      if (flags.length) {
        assert.deepEqual(v.native, ["RS256", "RS384", "RS512", "ES256", "ES384", "EdDSA", "ES512"]);
        assert.ok(v.answered.native > 1500);
        assert.ok(v.byAlg.ES512 >= 800, `ES512: ${v.byAlg.ES512} vectors`);
      } else {
        assert.deepEqual(v.native, []);
        // No native crypto: ES512 is refused (no P-521 in the wasm build).
        assert.equal(v.byAlg.ES512, undefined);
      }
    });
  }
});
