// Tokens from a real OpenID provider (oidc-provider 8.8.1 on loopback,
// client-credentials grant, JWT access tokens): RS256, PS256, ES256 and
// EdDSA, found by OIDC discovery, with each signature backend.
import assert from "node:assert/strict";
import { createGate } from "edgeward";
import { test } from "./harness.js";
import { resourceFor, startIdp } from "./fixtures.js";

const ALGS = ["RS256", "PS256", "ES256", "EdDSA"];

test("oidc-provider: discovery, then every algorithm, with both backends; one fetch each", async () => {
  const idp = await startIdp();
  try {
    const tokens = {};
    for (const alg of ALGS) tokens[alg] = await idp.token(alg);
    for (const crypto of ["native", "wasm"]) {
      const gate = createGate(
        {
          issuers: [{ issuer: idp.issuer, audiences: ALGS.map(resourceFor), typ: "at+jwt" }],
          routes: [{ path: "/orders/**", scopes: { any: ["orders:read"] } }],
        },
        { crypto },
      );
      const before = await idp.stats();
      // Concurrent first requests: one discovery fetch, one key-set fetch.
      const ids = await Promise.all(ALGS.flatMap((alg) => [gate.verify(tokens[alg]), gate.verify(tokens[alg])]));
      for (const id of ids) {
        assert.equal(id.issuer, idp.issuer);
        assert.equal(id.subject, "edgeward-tests");
        assert.deepEqual(id.scopes, ["orders:read"]);
        assert.equal(id.claims.client_id, "edgeward-tests");
      }
      const after = await idp.stats();
      assert.equal(after.discovery - before.discovery, 1);
      assert.equal(after.jwks - before.jwks, 1);
      const r = await gate.check(new Request("http://api.test/orders/1", { headers: { authorization: `Bearer ${tokens.EdDSA}` } }));
      assert.equal(r.allowed, true);
      assert.equal(r.headers["x-auth-subject"], "edgeward-tests");
      const [k] = gate.keys();
      assert.equal(k.jwksUri, `${idp.issuer}/jwks`);
      assert.deepEqual(k.keys.map((x) => x.kid).sort(), ["ec-1", "ed-1", "rsa-1"]);
    }
    // A token for another resource has another audience.
    const narrow = createGate({ issuers: [{ issuer: idp.issuer, audiences: [resourceFor("RS256")] }] });
    await assert.rejects(narrow.verify(tokens.ES256), { code: "audience_invalid", status: 401 });
    assert.equal((await narrow.verify(tokens.RS256)).subject, "edgeward-tests");
  } finally {
    idp.close();
  }
});
