// The core's cross-host conformance cases (tests/cases/*.json) through the
// npm package's check(), with each signature backend: the same decision as
// the core, judged the way tests/conformance.rs does (what the origin would
// see after forwardHeaders, the response headers, a gate answer's body).
// test/seam.test.js runs the same cases through real Express, Hono and
// node:http request paths.
import assert from "node:assert/strict";
import { createGate, forwardHeaders } from "edgeward";
import { test } from "./harness.js";
import { caseFetch, caseMismatches, conformanceCases, expectFor } from "./fixtures.js";

const cases = conformanceCases();

for (const crypto of ["native", "wasm"]) {
  test(`conformance: ${cases.length} cases pass with ${crypto} crypto`, async () => {
    assert.ok(cases.length >= 20, `only ${cases.length} cases`);
    const failures = [];
    for (const c of cases) {
      const gate = createGate(c.config, { fetch: caseFetch(c), now: () => c.now, crypto });
      assert.equal(gate.crypto, crypto);
      const r = await gate.check({ method: c.request.method, path: c.request.path, headers: c.request.headers });
      const errs = [];
      const outcome = r.allowed ? "allow" : r.reason === null ? "answer" : "deny";
      if (r.outcome !== outcome) errs.push(`outcome ${r.outcome}, want ${outcome}`);
      // What the origin would see: the client's headers after the edits.
      const origin = r.allowed ? forwardHeaders(r, c.request.headers) : null;
      const response = new Headers(r.responseHeaders);
      errs.push(
        ...caseMismatches(c, {
          status: r.status,
          reason: r.reason,
          wwwAuthenticate: r.allowed ? null : (r.headers["www-authenticate"] ?? null),
          reached: r.allowed,
          originHeader: (name) => (origin?.has(name) ? [origin.get(name)] : []),
          responseHeader: (name) => response.get(name),
          answerBody: r.outcome === "answer" ? r.body : null,
        }, expectFor(c, crypto)),
      );
      if (r.outcome === "deny") {
        if (JSON.parse(r.body).reason !== r.reason) errs.push("body.reason differs from reason");
        if (r.status === 200) errs.push("a deny with status 200");
      }
      if (!r.allowed && JSON.stringify(r.responseHeaders) !== JSON.stringify(r.headers)) {
        errs.push("responseHeaders differ from headers on a response the gate sends");
      }
      if (errs.length) failures.push(`${c.file}: ${errs.join("; ")}`);
    }
    assert.deepEqual(failures, []);
  });
}
