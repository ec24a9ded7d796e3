// The core's cross-host conformance cases (tests/cases/*.json) through the
// npm package, with each signature backend: the same decision as the core.
import assert from "node:assert/strict";
import { createGate } from "edgeward";
import { test } from "./harness.js";
import { conformanceCases } from "./fixtures.js";

const cases = conformanceCases();

function caseFetch(c) {
  return async (url) => {
    if (c.idp.jwks === null || url !== c.config.issuers[0].jwks_uri) {
      throw new TypeError("fetch failed: connection refused");
    }
    return new Response(JSON.stringify(c.idp.jwks), {
      status: c.idp.status ?? 200,
      headers: { "cache-control": "max-age=600" },
    });
  };
}

for (const crypto of ["native", "wasm"]) {
  test(`conformance: ${cases.length} cases pass with ${crypto} crypto`, async () => {
    assert.ok(cases.length >= 20, `only ${cases.length} cases`);
    const failures = [];
    for (const c of cases) {
      const gate = createGate(c.config, { fetch: caseFetch(c), now: () => c.now, crypto });
      assert.equal(gate.crypto, crypto);
      const r = await gate.check({ method: c.request.method, path: c.request.path, headers: c.request.headers });
      const want = c.expect;
      const errs = [];
      const eq = (what, got, exp) => {
        if (exp !== undefined && exp !== null && JSON.stringify(got) !== JSON.stringify(exp)) {
          errs.push(`${what}: got ${JSON.stringify(got)}, want ${JSON.stringify(exp)}`);
        }
      };
      eq("status", r.status, want.status);
      if ("reason" in want) {
        if (JSON.stringify(r.reason) !== JSON.stringify(want.reason)) errs.push(`reason: got ${r.reason}, want ${want.reason}`);
      }
      if (!r.allowed) {
        eq("www-authenticate", r.headers["www-authenticate"], want.www_authenticate);
        eq("body.reason", JSON.parse(r.body).reason, want.reason);
        if (r.status === 200) errs.push("a deny with status 200");
      } else {
        for (const [k, v] of Object.entries(want.set_headers ?? {})) eq(`set ${k}`, r.headers[k], v);
        for (const h of want.removed_headers ?? []) if (!r.remove.includes(h)) errs.push(`${h} is not removed`);
      }
      if (errs.length) failures.push(`${c.file}: ${errs.join("; ")}`);
    }
    assert.deepEqual(failures, []);
  });
}
