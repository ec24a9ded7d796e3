// The bundler / browser build (lib/web.js: the wasm fetched next to the
// module, top-level await, ring for signatures), where a runtime's fetch
// can read file: URLs (Deno, Bun). Node's fetch cannot; Node uses lib/node.js.
import assert from "node:assert/strict";
import { runtime, testIf } from "./harness.js";
import { Signer, baseConfig, clock, fakeFetch } from "./fixtures.js";

testIf(runtime !== "node", "web entry: loads the wasm by URL and verifies with ring", async () => {
  const web = await import("../lib/web.js");
  assert.equal(web.runtime.name, "web");
  assert.deepEqual(web.runtime.nativeAlgorithms(), []);
  const es = new Signer("ES256", "ec-1");
  const gate = web.createGate(baseConfig(), { fetch: fakeFetch({ keys: [es.jwk()] }), now: clock() });
  assert.equal(gate.crypto, "wasm");
  assert.equal((await gate.verify(es.mint())).subject, "alice");
  await assert.rejects(gate.verify("a.b.c"), web.EdgewardError);
  assert.throws(() => web.createGate(baseConfig(), { crypto: "native" }), /options.crypto/);
});
