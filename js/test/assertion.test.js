// Identity forwarding: the oauth2-proxy header preset and the signed identity
// assertion, in real Express (a server on loopback) and Hono; the origin
// handler checks the assertion with verifyAssertion (and with jose).
import assert from "node:assert/strict";
import http from "node:http";
import { Hono } from "hono";
import express from "express";
import { createRemoteJWKSet, jwtVerify } from "jose";
import { EdgewardError, createGate, verifyAssertion } from "edgeward";
import { test } from "./harness.js";
import { NOW, Signer, baseConfig, clock, fakeFetch } from "./fixtures.js";

// RFC 8032 section 7.1 TEST 1's secret key, base64url.
const KEY = "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A";
const OTHER_KEY = Buffer.alloc(32, 7).toString("base64url");
const JWKS_PATH = "/.well-known/edgeward/jwks.json";
const ASSERTION = { audience: "https://orders.internal", issuer: "https://gate.test" };
const es = new Signer("ES256", "ec-1");
const idpKeys = { keys: [es.jwk()] };
const config = (assertion = ASSERTION) => ({
  ...baseConfig(),
  headers: { preset: "edgeward+oauth2-proxy" },
  assertion,
});
const gateFor = (key = KEY, assertion = ASSERTION) =>
  createGate(config(assertion), { fetch: fakeFetch(idpKeys), now: clock(), assertionKey: key });
const verifyOpts = (more) => ({ ...ASSERTION, now: () => NOW, ...more });

async function serve(handler) {
  const server = http.createServer(handler);
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  const base = `http://127.0.0.1:${server.address().port}`;
  return { base, close: () => new Promise((r) => server.close(r)) };
}

test("express: the origin handler verifies the gate's assertion in one call, against the key set the gate serves", async () => {
  const gate = gateFor();
  const app = express();
  app.use(gate.express());
  let jwksUrl;
  app.get("/orders/:id", async (req, res, next) => {
    try {
      const claims = await verifyAssertion(req, verifyOpts({ jwksUrl }));
      res.json({
        claims,
        user: req.get("x-auth-request-user"),
        email: req.get("x-auth-request-email") ?? null,
        groups: req.get("x-auth-request-groups") ?? null,
        assertion: req.get("x-edgeward-assertion"),
      });
    } catch (e) {
      next(e);
    }
  });
  app.get("/health", async (req, res) => {
    const e = await verifyAssertion(req, verifyOpts({ jwksUrl })).catch((e) => e);
    res.json({ code: e.code, status: e.status });
  });
  const s = await serve(app);
  jwksUrl = `${s.base}${JWKS_PATH}`;
  try {
    const token = es.mint({ email: "alice@example.test", groups: ["ops", "eu,west"], tid: "acme" });
    let res = await fetch(`${s.base}/orders/7`, {
      headers: {
        authorization: `Bearer ${token}`,
        "x-edgeward-assertion": "forged",
        "x_auth_request_user": "root",
        "x-auth-request-email": "root@evil.test",
      },
    });
    assert.equal(res.status, 200);
    const seen = await res.json();
    assert.equal(seen.claims.sub, "alice");
    assert.equal(seen.claims.kind, "jwt");
    assert.equal(seen.claims.iss, ASSERTION.issuer);
    assert.equal(seen.claims.aud, ASSERTION.audience);
    assert.equal(seen.claims.scope, "orders:read");
    assert.equal(seen.claims.exp, NOW + 60);
    assert.equal(seen.user, "alice");
    assert.equal(seen.email, "alice@example.test");
    assert.equal(seen.groups, "ops,eu%2Cwest");

    // The key set is the gate's own answer, cacheable.
    res = await fetch(jwksUrl);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("cache-control"), "public, max-age=300");
    const jwks = await res.json();
    assert.deepEqual(Object.keys(jwks.keys[0]).sort(), ["alg", "crv", "kid", "kty", "use", "x"]);

    // Any JOSE library reads the same key set.
    const { payload } = await jwtVerify(seen.assertion, createRemoteJWKSet(new URL(jwksUrl)), {
      ...ASSERTION,
      algorithms: ["EdDSA"],
      currentDate: new Date(NOW * 1000),
    });
    assert.equal(payload.sub, "alice");

    // Anonymous: no assertion reaches the origin, a client's included.
    res = await fetch(`${s.base}/health`, { headers: { "x-edgeward-assertion": seen.assertion } });
    assert.deepEqual(await res.json(), { code: "assertion_missing", status: 401 });
  } finally {
    await s.close();
  }
});

test("hono: the handler verifies c.req.raw; the wrong audience, a tampered or expired assertion, another key are refused", async () => {
  const gate = gateFor();
  const app = new Hono();
  app.use("*", gate.hono());
  app.get("/orders/:id", (c) => c.json({ assertion: c.req.header("x-edgeward-assertion") }));
  const jwks = await (await app.request(JWKS_PATH)).json();
  const raw = new Request("http://gate.test/orders/1", { headers: { authorization: `Bearer ${es.mint()}` } });
  const { assertion } = await (await app.request(raw)).json();

  const req = new Request("http://origin.internal/orders/1", { headers: { "x-edgeward-assertion": assertion } });
  const claims = await verifyAssertion(req, verifyOpts({ jwks }));
  assert.equal(claims.sub, "alice");
  assert.equal((await verifyAssertion(assertion, verifyOpts({ publicKey: jwks.keys[0] }))).sub, "alice");

  const refused = async (input, opts, code) => {
    const e = await verifyAssertion(input, opts).then(
      () => assert.fail(`accepted (${code} expected)`),
      (e) => e,
    );
    assert.ok(e instanceof EdgewardError, String(e));
    assert.equal(e.code, code, e.message);
    assert.equal(e.status, 401);
  };
  await refused(assertion, verifyOpts({ jwks, audience: "https://billing.internal" }), "audience_invalid");
  await refused(assertion, verifyOpts({ jwks, issuer: "https://other-gate.test" }), "issuer_invalid");
  await refused(assertion, verifyOpts({ jwks, now: () => NOW + 61 }), "assertion_expired");
  await refused(assertion.slice(0, -4) + (assertion.endsWith("AAAA") ? "BBBB" : "AAAA"), verifyOpts({ jwks }), "signature_invalid");
  // Another key under the same kid: the signature is what fails.
  const other = gateFor(OTHER_KEY, { ...ASSERTION, kid: jwks.keys[0].kid });
  const otherApp = new Hono().use("*", other.hono());
  const otherJwks = await (await otherApp.request(JWKS_PATH)).json();
  await refused(assertion, verifyOpts({ jwks: otherJwks }), "signature_invalid");
  await refused(new Request("http://origin.internal/"), verifyOpts({ jwks }), "assertion_missing");
  await refused("not-a-jwt", verifyOpts({ jwks }), "assertion_malformed");
});

test("verifyAssertion with jwksUrl refetches the key set once when the gate's key changed", async () => {
  let current = KEY;
  const gates = new Map();
  const gateWith = (key) => gates.get(key) ?? gates.set(key, gateFor(key, { ...ASSERTION })).get(key);
  const app = new Hono();
  app.use("*", (c, next) => gateWith(current).hono()(c, next));
  app.get("/orders/:id", (c) => c.json({ assertion: c.req.header("x-edgeward-assertion") }));
  const fetchJwks = async (url) => {
    fetchJwks.calls++;
    return app.request(new URL(url).pathname);
  };
  fetchJwks.calls = 0;
  const mint = async () => {
    const r = await app.request("/orders/1", { headers: { authorization: `Bearer ${es.mint()}` } });
    return (await r.json()).assertion;
  };
  const opts = verifyOpts({ jwksUrl: "http://gate.test" + JWKS_PATH, fetch: fetchJwks });
  assert.equal((await verifyAssertion(await mint(), opts)).sub, "alice");
  assert.equal((await verifyAssertion(await mint(), opts)).sub, "alice");
  assert.equal(fetchJwks.calls, 1, "the key set is cached by its max-age");
  current = OTHER_KEY;
  assert.equal((await verifyAssertion(await mint(), opts)).sub, "alice");
  assert.equal(fetchJwks.calls, 2, "an unknown kid: one refetch");
});

test("the signing key: from the assertionKey option, never shown in gate.config; bad keys and options name the field", () => {
  const gate = gateFor();
  assert.equal(gate.config.assertion.key, undefined);
  assert.ok(!JSON.stringify(gate.config).includes(KEY));
  const fields = (fn) => {
    try {
      fn();
    } catch (e) {
      assert.equal(e.code, "config_invalid", String(e));
      return e.errors.map((x) => x.field);
    }
    assert.fail("accepted");
  };
  assert.deepEqual(fields(() => gateFor("c2hvcnQ")), ["assertion.key"]);
  assert.deepEqual(fields(() => createGate(config(), { fetch: fakeFetch(idpKeys) })), ["assertion.key"]);
  assert.deepEqual(fields(() => createGate(baseConfig(), { assertionKey: KEY })), ["options.assertionKey"]);
  assert.deepEqual(fields(() => createGate(config({ ...ASSERTION, key: KEY }), { assertionKey: KEY })), ["options.assertionKey"]);
  assert.deepEqual(fields(() => gateFor(KEY, { ...ASSERTION, ttl: 3600 })), ["assertion.ttl"]);
  assert.deepEqual(fields(() => gateFor(KEY, { ...ASSERTION, jwks_path: "jwks" })), ["assertion.jwks_path"]);
  // In the configuration itself (npm configuration is code, often from the environment).
  assert.equal(createGate(config({ ...ASSERTION, key: KEY }), { fetch: fakeFetch(idpKeys) }).config.assertion.key, undefined);
});
