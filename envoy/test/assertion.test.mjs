// Identity forwarding through a real Envoy: the oauth2-proxy header preset
// and the signed identity assertion (key in the plugin configuration). The
// origin's side verifies the assertion with node:crypto (OpenSSL's Ed25519)
// against the key set the filter serves.
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import crypto from "node:crypto";
import { startEnvoy, validate } from "./support.mjs";
import { startIdp, startOrigin, RESOURCES } from "../../worker/test/support.mjs";

// RFC 8032 section 7.1 TEST 1's secret key, base64url.
const KEY = "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A";
const JWKS_PATH = "/.well-known/edgeward/jwks.json";
const ASSERTION = { audience: "https://orders.internal", issuer: "https://gate.test" };
const bearer = (t) => ({ authorization: `Bearer ${t}` });

function plugin(idp, assertion = { ...ASSERTION, key: KEY }) {
  return {
    edgeward: {
      realm: "orders",
      issuers: [{ issuer: idp.issuer, audiences: [RESOURCES.es256], leeway: 0 }],
      headers: { preset: "oauth2-proxy" },
      routes: [
        { path: "/health", access: "anonymous" },
        { path: "/orders/**", scopes: { any: ["orders:read"] } },
      ],
      assertion,
    },
    clusters: { [idp.issuer]: "idp" },
  };
}

/** Verifies a compact EdDSA JWS with a JWK; answers the payload. */
function verifyEd25519(jwt, jwk) {
  const [h, p, s] = jwt.split(".");
  const key = crypto.createPublicKey({ key: { kty: jwk.kty, crv: jwk.crv, x: jwk.x }, format: "jwk" });
  const ok = crypto.verify(null, Buffer.from(`${h}.${p}`), key, Buffer.from(s, "base64url"));
  assert.ok(ok, "the assertion's signature does not verify with the served key");
  return JSON.parse(Buffer.from(p, "base64url"));
}

describe("Envoy filter: identity forwarding", () => {
  let idp, origin, envoy;
  before(async () => {
    idp = await startIdp();
    origin = await startOrigin();
    envoy = await startEnvoy({ plugin: plugin(idp), originPort: origin.port, idpPort: idp.port });
  });
  after(async () => {
    await envoy?.stop();
    await origin?.stop();
    await idp?.stop();
  });

  it("the origin gets oauth2-proxy's headers and an assertion the filter's key set verifies; spoofed copies are gone", async () => {
    const t = await idp.token(RESOURCES.es256);
    const res = await envoy.fetch("/orders/1", {
      headers: { ...bearer(t), "x-edgeward-assertion": "forged", "X-Auth-Request-User": "root", "x-auth-subject": "root" },
    });
    assert.equal(res.status, 200, await res.clone().text());
    const seen = await res.json();
    assert.equal(seen.headers["x-auth-request-user"], "svc");
    // preset = "oauth2-proxy": edgeward's own names are not set, and a client's are still removed.
    assert.equal(seen.headers["x-auth-subject"], undefined);
    const jwt = seen.headers["x-edgeward-assertion"];
    assert.notEqual(jwt, "forged");

    const k = await envoy.fetch(JWKS_PATH);
    assert.equal(k.status, 200);
    assert.equal(k.headers.get("cache-control"), "public, max-age=300");
    const jwks = await k.json();
    const header = JSON.parse(Buffer.from(jwt.split(".")[0], "base64url"));
    assert.equal(header.alg, "EdDSA");
    assert.equal(header.kid, jwks.keys[0].kid);
    const claims = verifyEd25519(jwt, jwks.keys[0]);
    assert.equal(claims.iss, ASSERTION.issuer);
    assert.equal(claims.aud, ASSERTION.audience);
    assert.equal(claims.sub, "svc");
    assert.equal(claims.idp_iss, idp.issuer);
    const now = Math.floor(Date.now() / 1000);
    assert.ok(claims.iat <= now + 1 && claims.exp > now && claims.exp - claims.iat <= 60, JSON.stringify(claims));
  });

  it("anonymous requests carry no assertion, and a client's is stripped", async () => {
    const res = await envoy.fetch("/health", { headers: { "x-edgeward-assertion": "forged" } });
    assert.equal(res.status, 200);
    assert.equal((await res.json()).headers["x-edgeward-assertion"], undefined);
  });

  it("a bad key or ttl is refused at load, naming the field", async () => {
    const bad = await validate({ plugin: plugin(idp, { ...ASSERTION, key: "c2hvcnQ", ttl: 9999 }) });
    assert.notEqual(bad.code, 0);
    assert.match(bad.out, /edgeward\.assertion\.key: must decode to 32 bytes/);
    assert.match(bad.out, /edgeward\.assertion\.ttl: must be between 5 and 300/);
  });
});
