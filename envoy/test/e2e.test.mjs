// The filter in a real Envoy, loaded from the shipped envoy.yaml, in front
// of an echo origin, with a real OpenID provider (oidc-provider) on loopback
// issuing the tokens: the Worker suite's scenarios, through Envoy.
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import { startEnvoy, validate, sleep, freePort } from "./support.mjs";
import { startIdp, startOrigin, RESOURCES, forgedToken } from "../../worker/test/support.mjs";

function plugin(idp, extra = {}) {
  return {
    edgeward: {
      realm: "orders",
      issuers: [{ issuer: idp.issuer, audiences: [RESOURCES.rs256, RESOURCES.es256, RESOURCES.eddsa, RESOURCES.short], leeway: 0 }],
      headers: { claims: { client_id: "x-auth-client" } },
      keys: extra.keys ?? {},
      routes: [
        { path: "/health", access: "anonymous" },
        { path: "/orders/**", methods: ["GET"], scopes: { any: ["orders:read"] } },
        { path: "/orders/**", methods: ["POST"], scopes: { all: ["orders:write"] } },
        { path: "/**" },
      ],
      ...(extra.edgeward ?? {}),
    },
    clusters: { [idp.issuer]: "idp" },
    crypto: extra.crypto ?? "auto",
  };
}

const bearer = (t) => ({ authorization: `Bearer ${t}` });

describe("Envoy filter with oidc-provider", () => {
  let idp, origin, envoy;
  before(async () => {
    idp = await startIdp();
    origin = await startOrigin();
    envoy = await startEnvoy({
      plugin: plugin(idp, { keys: { refetch_cooldown: 1 } }),
      originPort: origin.port,
      idpPort: idp.port,
      concurrency: 2,
    });
  });
  after(async () => {
    await envoy?.stop();
    await origin?.stop();
    await idp?.stop();
  });

  it("no token: 401 with a Bearer challenge; the origin is not reached", async () => {
    const before = origin.seen.length;
    const res = await envoy.fetch("/orders/1");
    assert.equal(res.status, 401);
    assert.equal(res.headers.get("www-authenticate"), 'Bearer realm="orders"');
    assert.equal((await res.json()).reason, "token_missing");
    assert.equal(origin.seen.length, before);
  });

  it("RS256 from the IdP: 200; the origin gets identity headers, spoofed ones removed", async () => {
    const t = await idp.token(RESOURCES.rs256);
    const res = await envoy.fetch("/orders/7?x=1", {
      headers: { ...bearer(t), "x-auth-subject": "root", "x-auth-client": "evil" },
    });
    assert.equal(res.status, 200, await res.clone().text());
    const seen = await res.json();
    assert.equal(seen.url, "/orders/7?x=1");
    assert.equal(seen.headers["x-auth-subject"], "svc");
    assert.equal(seen.headers["x-auth-client"], "svc");
    assert.equal(seen.headers["x-auth-issuer"], idp.issuer);
    assert.equal(idp.hits.discovery, 1);
    assert.equal(idp.hits.jwks, 1);
  });

  it("EdDSA (Ed25519, verified by ring in the filter): 200", async () => {
    const t = await idp.token(RESOURCES.eddsa);
    assert.equal(JSON.parse(Buffer.from(t.split(".")[0], "base64url")).alg, "EdDSA");
    const res = await envoy.fetch("/orders/1", { headers: bearer(t) });
    assert.equal(res.status, 200, await res.text());
  });

  it("ES256: 200; a missing scope: 403 naming it", async () => {
    const t = await idp.token(RESOURCES.es256);
    assert.equal((await envoy.fetch("/orders/1", { headers: bearer(t) })).status, 200);
    const res = await envoy.fetch("/orders/1", { method: "POST", headers: bearer(t) });
    assert.equal(res.status, 403);
    assert.match(res.headers.get("www-authenticate"), /insufficient_scope.*scope="orders:write"/);
  });

  it("a tampered token: 401 signature_invalid (Envoy's verify_signature says no, and that is final)", async () => {
    const t = await idp.token(RESOURCES.rs256);
    const [h, p, s] = t.split(".");
    const body = JSON.parse(Buffer.from(p, "base64url"));
    body.scope = "orders:read orders:write";
    const forged = [h, Buffer.from(JSON.stringify(body)).toString("base64url"), s].join(".");
    const res = await envoy.fetch("/orders/1", { method: "POST", headers: bearer(forged) });
    assert.equal(res.status, 401);
    assert.equal((await res.json()).reason, "signature_invalid");
  });

  it("the IdP rotates its keys: a token with the new kid verifies without a restart", async () => {
    await sleep(1100); // refetch_cooldown is 1 s in this suite
    await idp.rotate("k2");
    const t = await idp.token(RESOURCES.rs256);
    assert.equal(JSON.parse(Buffer.from(t.split(".")[0], "base64url")).kid, "k2-rs256");
    const res = await envoy.fetch("/orders/1", { headers: bearer(t) });
    assert.equal(res.status, 200, await res.text());
  });

  it("the IdP is down: cached keys keep serving", async () => {
    const t = await idp.token(RESOURCES.rs256);
    await idp.stop();
    try {
      const res = await envoy.fetch("/orders/1", { headers: bearer(t) });
      assert.equal(res.status, 200);
    } finally {
      await idp.start();
    }
  });

  it("counters: allowed, denied with reasons, key fetches", async () => {
    // One token three times: each worker keeps its own verdict cache, so of
    // three requests on two workers at least two meet on one worker, and
    // the second of those is a cache hit.
    const t = await idp.token(RESOURCES.rs256);
    for (let i = 0; i < 3; i++) {
      const res = await envoy.fetch("/orders/1", { headers: bearer(t) });
      assert.equal(res.status, 200);
    }
    const s = await envoy.stats();
    assert.ok(s.allowed >= 3, JSON.stringify(s));
    assert.ok(s.denied >= 3, JSON.stringify(s));
    assert.ok(s["denied.token_missing"] >= 1, JSON.stringify(s));
    assert.ok(s.jwks_fetch_success >= 1, JSON.stringify(s));
    assert.ok(s.jwt_cache_miss >= 1, JSON.stringify(s));
    assert.ok(s.jwt_cache_hit >= 1, JSON.stringify(s));
    assert.ok(!/panicked|wasm trap|Function: proxy_on/.test(envoy.logs.raw ?? ""), "no VM failure in the whole run");
  });
});

describe("cold starts and outages", () => {
  it("a cold Envoy with 2 workers and 40 concurrent requests fetches the key set once", async () => {
    const idp = await startIdp();
    const origin = await startOrigin();
    const envoy = await startEnvoy({ plugin: plugin(idp), originPort: origin.port, idpPort: idp.port, concurrency: 2 });
    try {
      const t = await idp.token(RESOURCES.es256);
      const statuses = await Promise.all(
        Array.from({ length: 40 }, () => envoy.fetch("/orders/1", { headers: bearer(t) }).then((r) => r.status)),
      );
      assert.ok(statuses.every((s) => s === 200), JSON.stringify(statuses));
      assert.equal(idp.hits.jwks, 1);
      assert.equal(idp.hits.discovery, 1);
    } finally {
      await envoy.stop();
      await origin.stop();
      await idp.stop();
    }
  });

  it("200 requests with unknown kids on 2 workers: at most one key-set fetch (the workers share the cooldown)", async () => {
    const idp = await startIdp();
    const origin = await startOrigin();
    const envoy = await startEnvoy({
      plugin: plugin(idp, { keys: { refetch_cooldown: 2 } }),
      originPort: origin.port,
      idpPort: idp.port,
      concurrency: 2,
    });
    try {
      assert.equal((await envoy.fetch("/orders/1", { headers: bearer(await idp.token()) })).status, 200);
      await sleep(2100); // the keys are now older than the cooldown: a refetch is allowed
      const before = idp.hits.jwks;
      const flood = await Promise.all(
        Array.from({ length: 200 }, (_, i) =>
          envoy.fetch("/orders/1", { headers: bearer(forgedToken(idp.issuer, `flood-${i}`)) }).then((r) => r.status),
        ),
      );
      assert.ok(flood.every((s) => s === 401), JSON.stringify([...new Set(flood)]));
      assert.ok(idp.hits.jwks - before <= 1, `${idp.hits.jwks - before} fetches`);
    } finally {
      await envoy.stop();
      await origin.stop();
      await idp.stop();
    }
  });

  it("a request with a body that waits for keys reaches the origin whole once resumed", async () => {
    const idp = await startIdp();
    const origin = await startOrigin();
    const p = plugin(idp);
    p.edgeward.routes.splice(1, 0, { path: "/upload", methods: ["POST"], scopes: { any: ["orders:read"] } });
    const envoy = await startEnvoy({ plugin: p, originPort: origin.port, idpPort: idp.port });
    try {
      const body = Buffer.alloc(300_000, 7);
      const res = await envoy.fetch("/upload", { method: "POST", headers: bearer(await idp.token()), body });
      assert.equal(res.status, 200, await res.clone().text());
      const seen = await res.json();
      assert.equal(seen.body_bytes, body.length);
      const { createHash } = await import("node:crypto");
      assert.equal(seen.body_sha256, createHash("sha256").update(body).digest("hex"));
    } finally {
      await envoy.stop();
      await origin.stop();
      await idp.stop();
    }
  });

  it("no keys yet and the IdP down: 503 with Retry-After, never a pass", async () => {
    const idp = await startIdp();
    const t = await idp.token(RESOURCES.rs256);
    const origin = await startOrigin();
    const envoy = await startEnvoy({ plugin: plugin(idp), originPort: origin.port, idpPort: idp.port });
    await idp.stop();
    try {
      const res = await envoy.fetch("/orders/1", { headers: bearer(t) });
      assert.equal(res.status, 503);
      assert.equal(res.headers.get("retry-after"), "30");
      assert.equal((await res.json()).reason, "keys_unavailable");
      assert.equal(origin.seen.length, 0);
      // The 503 was sent by the root context on the waiting request's behalf.
      assert.ok(!/panicked|wasm trap/.test(envoy.logs.raw ?? ""), envoy.logs.raw);
    } finally {
      await envoy.stop();
      await origin.stop();
    }
  });

  it("a slow IdP and a client that gives up: the fetch still lands, the next request needs none", async () => {
    const idp = await startIdp();
    const t = await idp.token(RESOURCES.rs256);
    const inner = idp.callback;
    let delay = 1500;
    idp.callback = (req, res) => setTimeout(() => inner(req, res), req.url.startsWith("/jwks") ? delay : 0);
    const origin = await startOrigin();
    const envoy = await startEnvoy({ plugin: plugin(idp), originPort: origin.port, idpPort: idp.port });
    try {
      // The first client hangs up while the key set is on its way.
      await new Promise((resolve) => {
        const req = http.get(`${envoy.base}/orders/1`, { headers: bearer(t) });
        req.on("error", () => resolve());
        setTimeout(() => {
          req.destroy();
          resolve();
        }, 300);
      });
      await sleep(2000);
      delay = 0;
      const before = idp.hits.jwks;
      const res = await envoy.fetch("/orders/1", { headers: bearer(t) });
      assert.equal(res.status, 200, await res.text());
      assert.equal(idp.hits.jwks, before, "the abandoned request's fetch was used");
      assert.equal(idp.hits.jwks, 1);
    } finally {
      await envoy.stop();
      await origin.stop();
      await idp.stop();
    }
  });
});

describe("RFC 9728: a client finds the authorization server from a 401", () => {
  it("401 → resource_metadata → authorization server → discovery → token → 200", async () => {
    const idp = await startIdp();
    const origin = await startOrigin();
    const port = await freePort();
    const identifier = `http://127.0.0.1:${port}`;
    const p = plugin(idp);
    p.edgeward.issuers[0].audiences.push(identifier);
    p.edgeward.resource = { identifier, name: "Orders API" };
    const envoy = await startEnvoy({ plugin: p, originPort: origin.port, idpPort: idp.port, port });
    try {
      // A client that knows only the API's URL.
      const first = await fetch(`${identifier}/orders/1`);
      assert.equal(first.status, 401);
      const challenge = first.headers.get("www-authenticate");
      const metadataUrl = challenge.match(/resource_metadata="([^"]+)"/)?.[1];
      assert.equal(metadataUrl, `${identifier}/.well-known/oauth-protected-resource`);
      const metadata = await (await fetch(metadataUrl)).json();
      assert.equal(metadata.resource, identifier);
      assert.deepEqual(metadata.scopes_supported, ["orders:read", "orders:write"]);
      const [server] = metadata.authorization_servers;
      assert.equal(server, idp.issuer);
      const discovery = await (await fetch(`${server}/.well-known/openid-configuration`)).json();
      const tokenRes = await fetch(discovery.token_endpoint, {
        method: "POST",
        headers: {
          authorization: "Basic " + Buffer.from("svc:svc-secret").toString("base64"),
          "content-type": "application/x-www-form-urlencoded",
        },
        body: new URLSearchParams({ grant_type: "client_credentials", resource: metadata.resource, scope: "orders:read" }),
      });
      const { access_token } = await tokenRes.json();
      assert.ok(access_token, "a token for the advertised resource");
      const again = await fetch(`${identifier}/orders/1`, { headers: bearer(access_token) });
      assert.equal(again.status, 200, await again.text());
      assert.equal(origin.seen.length, 1, "only the authorized request reached the origin");
    } finally {
      await envoy.stop();
      await origin.stop();
      await idp.stop();
    }
  });
});

describe("failures of the filter itself", () => {
  it("a VM panic refuses that request, never passes it, and the next request gets a fresh VM", async () => {
    const idp = await startIdp();
    const origin = await startOrigin();
    const envoy = await startEnvoy({ plugin: plugin(idp), originPort: origin.port, idpPort: idp.port, test: true });
    try {
      const res = await envoy.fetch("/__edgeward/panic");
      assert.ok(res.status >= 500, `status ${res.status}`);
      assert.equal(origin.seen.length, 0, "the request that met the panic did not pass");
      // While the VM is reloaded (with backoff) requests are refused, then
      // the filter is back: refusing a request without a token, passing a
      // valid one.
      let status;
      for (let i = 0; i < 60; i++) {
        status = (await envoy.fetch("/orders/1")).status;
        if (status !== 503) break;
        await sleep(100);
      }
      assert.equal(status, 401, "the filter is back, and still refusing");
      assert.equal(origin.seen.length, 0);
      const ok = await envoy.fetch("/orders/1", { headers: bearer(await idp.token()) });
      assert.equal(ok.status, 200);
      assert.ok((await envoy.stats()).vm_reload_success >= 1, JSON.stringify(await envoy.stats()));
    } finally {
      await envoy.stop();
      await origin.stop();
      await idp.stop();
    }
  });
});

describe("configuration", () => {
  it("a bad configuration fails Envoy's own check, naming the field", async () => {
    const r = await validate({
      plugin: { edgeward: { issuers: [{ issuer: "https://idp.test/" }] }, clusters: { "https://idp.test": "idp" } },
    });
    assert.notEqual(r.code, 0);
    assert.match(r.out, /edgeward\.issuers\[0\]\.audiences: at least one audience/);
    const r2 = await validate({ plugin: { edgeward: { issuers: [{ issuer: "https://idp.test/", audiences: ["a"] }] } } });
    assert.notEqual(r2.code, 0);
    assert.match(r2.out, /clusters: no cluster for https:\/\/idp\.test/);
  });

  it("crypto \"ring\" is refused by the shipped filter, which leaves ring's ECDSA out", async () => {
    const r = await validate({
      plugin: {
        edgeward: { issuers: [{ issuer: "http://127.0.0.1:9411", audiences: ["api"] }] },
        clusters: { "http://127.0.0.1:9411": "idp" },
        crypto: "ring",
      },
    });
    assert.notEqual(r.code, 0);
    assert.match(r.out, /crypto: "ring" would leave ES256\/ES384 unverifiable: this filter is built without ring's ECDSA/);
  });

  it("the shipped configuration passes Envoy's check", async () => {
    const r = await validate({
      plugin: {
        edgeward: { issuers: [{ issuer: "http://127.0.0.1:9411", audiences: ["api"] }] },
        clusters: { "http://127.0.0.1:9411": "idp" },
      },
    });
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /"crypto":"envoy"/);
  });
});
