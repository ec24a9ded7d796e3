// The shared store with a real one: Deno KV on disk (SQLite), opened twice
// as two processes would. Runs under `deno test`; skipped elsewhere.
import assert from "node:assert/strict";
import { createGate, denoKvStore } from "edgeward";
import { runtime, testIf } from "./harness.js";
import { ISSUER, NOW, Signer, baseConfig, clock, fakeFetch } from "./fixtures.js";

/** Two handles on one KV file (two processes); closed and removed after `fn`. */
async function withTwoHandles(fn) {
  const Deno = globalThis.Deno;
  const path = await Deno.makeTempFile({ suffix: ".kv" });
  const kvA = await Deno.openKv(path);
  const kvB = await Deno.openKv(path);
  try {
    await fn(kvA, kvB);
  } finally {
    kvA.close();
    kvB.close();
    await Deno.remove(path).catch(() => {});
  }
}

testIf(runtime === "deno", "Deno KV: a second instance takes the keys from KV, not the IdP", async () => {
  const rs = new Signer("RS256", "rsa-1");
  const jwks = { keys: [rs.jwk()] };
  await withTwoHandles(async (kvA, kvB) => {
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
  });
});

testIf(runtime === "deno", "Deno KV lock: one holder across handles; a stored deadline already past is free", async () => {
  await withTwoHandles(async (kvA, kvB) => {
    const a = denoKvStore(kvA);
    const b = denoKvStore(kvB);
    const soon = Math.floor(Date.now() / 1000) + 30;
    const got = await Promise.all([a.lock("l", soon), b.lock("l", soon), a.lock("l", soon), b.lock("l", soon)]);
    assert.equal(got.filter(Boolean).length, 1, JSON.stringify(got));
    assert.equal(await b.lock("l", soon + 5), false);
    // A lapsed deadline left in KV (expiry is lazy there) does not hold.
    await kvA.set(["edgeward", "old"], String(Math.floor(Date.now() / 1000) - 1));
    assert.equal(await b.lock("old", soon), true);
    assert.equal((await kvA.get(["edgeward", "old"])).value, String(soon));
  });
});

testIf(runtime === "deno", "Deno KV: a cold start of 12 gates on two handles makes 1 IdP fetch (the lock)", async () => {
  const rs = new Signer("RS256", "rsa-1");
  await withTwoHandles(async (kvA, kvB) => {
    const fetch = fakeFetch({ keys: [rs.jwk()] }, { delay: 100 });
    const now = clock();
    const gates = Array.from({ length: 12 }, (_, i) =>
      createGate(baseConfig(), { fetch, store: denoKvStore(i % 2 ? kvB : kvA), now }),
    );
    const ids = await Promise.all(gates.map((g, i) => g.verify(rs.mint({ sub: `g${i}` }))));
    assert.deepEqual(
      ids.map((id) => id.subject),
      gates.map((_, i) => `g${i}`),
    );
    assert.equal(fetch.calls.length, 1);
    assert.ok((await kvB.get(["edgeward", `edgeward:lock:v1:jwks:${ISSUER}`])).value !== null);
  });
});
