// The shared store with a real one: Deno KV on disk (SQLite), opened twice
// as two processes would. Runs under `deno test`; skipped elsewhere.
import assert from "node:assert/strict";
import { createGate, denoKvStore } from "edgeward";
import { runtime, testIf } from "./harness.js";
import { ISSUER, NOW, Signer, baseConfig, clock, fakeFetch } from "./fixtures.js";

testIf(runtime === "deno", "Deno KV: a second instance takes the keys from KV, not the IdP", async () => {
  const Deno = globalThis.Deno;
  const path = await Deno.makeTempFile({ suffix: ".kv" });
  const rs = new Signer("RS256", "rsa-1");
  const jwks = { keys: [rs.jwk()] };
  const kvA = await Deno.openKv(path);
  const kvB = await Deno.openKv(path);
  try {
    const fetchA = fakeFetch(jwks);
    const a = createGate(baseConfig(), { fetch: fetchA, store: denoKvStore(kvA), now: clock() });
    await a.verify(rs.mint());
    assert.equal(fetchA.calls.length, 1);
    const stored = await kvB.get(["edgeward", `edgeward:keys:v1:${ISSUER}`]);
    assert.equal(JSON.parse(stored.value).fetched_at, NOW);

    const fetchB = fakeFetch(jwks);
    const b = createGate(baseConfig(), { fetch: fetchB, store: denoKvStore(kvB), now: clock(NOW + 1) });
    assert.equal((await b.verify(rs.mint({ sub: "b" }))).subject, "b");
    assert.equal(fetchB.calls.length, 0);
  } finally {
    kvA.close();
    kvB.close();
    await Deno.remove(path).catch(() => {});
  }
});
