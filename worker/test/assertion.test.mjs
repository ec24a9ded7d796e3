// Identity forwarding in workerd: the oauth2-proxy header preset and the
// signed identity assertion. The built Worker in front of the sample origin,
// tokens from a real OpenID provider (oidc-provider) on loopback; the origin's
// side verifies the assertion with jose against the key set the gate serves.
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { createLocalJWKSet, jwtVerify, decodeProtectedHeader } from "jose";
import { startIdp, startOrigin, startWorker, gateConfig, until, RESOURCES } from "./support.mjs";

// RFC 8032 section 7.1 TEST 1's secret key, base64url.
const KEY = "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A";
const ASSERTION = { audience: "https://orders.internal", issuer: "https://gate.test", ttl: 30 };
const JWKS_PATH = "/.well-known/edgeward/jwks.json";
const bearer = (t) => ({ authorization: `Bearer ${t}` });

describe("identity forwarding in workerd", () => {
  let idp, origin, gate;

  before(async () => {
    idp = await startIdp({ tag: "k1" });
    origin = await startOrigin();
    gate = await startWorker({
      config: { ...gateConfig(idp, { headers: { preset: "edgeward+oauth2-proxy" } }), assertion: ASSERTION },
      origin: origin.url,
      bindings: { EDGEWARD_ASSERTION_KEY: KEY },
    });
  });
  after(async () => {
    await gate?.stop();
    await idp?.stop().catch(() => {});
    await origin?.stop();
  });

  it("the origin gets oauth2-proxy's headers and an assertion that verifies against the gate's key set; spoofed copies are gone", async () => {
    const t = await idp.token(RESOURCES.es256, "orders:read");
    const r = await gate.fetch("/orders/7", {
      headers: {
        ...bearer(t),
        "X-Auth-Request-User": "root",
        "x_auth_request_email": "root@evil.test",
        "x-edgeward-assertion": "forged",
      },
    });
    assert.equal(r.status, 200);
    const seen = await r.json();
    const sub = seen.headers["x-auth-subject"];
    assert.ok(sub && sub !== "root", JSON.stringify(seen.headers));
    assert.equal(seen.headers["x-auth-request-user"], sub);
    assert.equal(seen.headers["x-auth-request-email"], undefined);
    assert.equal(seen.headers["x_auth_request_email"], undefined);
    const jwt = seen.headers["x-edgeward-assertion"];
    assert.notEqual(jwt, "forged");

    const k = await gate.fetch(JWKS_PATH);
    assert.equal(k.status, 200);
    assert.equal(k.headers.get("cache-control"), "public, max-age=300");
    assert.equal(k.headers.get("content-type"), "application/jwk-set+json");
    const jwks = await k.json();
    assert.equal(jwks.keys[0].kty, "OKP");
    assert.equal(jwks.keys[0].kid, decodeProtectedHeader(jwt).kid);
    const { payload } = await jwtVerify(jwt, createLocalJWKSet(jwks), {
      issuer: ASSERTION.issuer,
      audience: ASSERTION.audience,
      algorithms: ["EdDSA"],
    });
    assert.equal(payload.sub, sub);
    assert.equal(payload.kind, "jwt");
    assert.equal(payload.idp_iss, idp.issuer);
    assert.equal(payload.scope, "orders:read");
    assert.ok(payload.exp - payload.iat <= 30);
    // Another audience: refused.
    await assert.rejects(
      jwtVerify(jwt, createLocalJWKSet(jwks), { issuer: ASSERTION.issuer, audience: "https://billing.internal" }),
      /aud/,
    );
  });

  it("anonymous requests carry no assertion, and a client's is stripped", async () => {
    const r = await gate.fetch("/health", { headers: { "x-edgeward-assertion": "forged" } });
    assert.equal(r.status, 200);
    const seen = await r.json();
    assert.equal(seen.headers["x-edgeward-assertion"], undefined);
  });

  it("a key in the config var is refused: it belongs in the EDGEWARD_ASSERTION_KEY secret", async () => {
    const w = await startWorker({
      config: { ...gateConfig(idp), assertion: { ...ASSERTION, key: KEY } },
      origin: origin.url,
    });
    try {
      const r = await w.fetch("/health");
      assert.equal(r.status, 500);
      await r.arrayBuffer();
      const line = await until(() => w.logs.find((l) => l.event === "config_error"));
      assert.match(line.error, /assertion\.key.*EDGEWARD_ASSERTION_KEY/);
    } finally {
      await w.stop();
    }
  });

  it("[assertion] without the secret is a configuration error naming assertion.key", async () => {
    const w = await startWorker({ config: { ...gateConfig(idp), assertion: ASSERTION }, origin: origin.url });
    try {
      const r = await w.fetch("/health");
      assert.equal(r.status, 500);
      await r.arrayBuffer();
      const line = await until(() => w.logs.find((l) => l.event === "config_error"));
      assert.match(line.error, /assertion\.key/);
    } finally {
      await w.stop();
    }
  });
});
