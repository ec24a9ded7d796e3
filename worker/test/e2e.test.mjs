// End-to-end: the built Worker (worker/build/worker, the shipped build) in
// workerd via Miniflare, in front of the sample origin, verifying tokens
// issued by a real OpenID provider (oidc-provider) on loopback.
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import {
  startIdp, startOrigin, startWorker, gateConfig, forgedToken, tmpDir, sleep, until, RESOURCES, testBuildDir,
} from "./support.mjs";

const bearer = (t) => ({ authorization: `Bearer ${t}` });
const kvKey = (issuer) => `edgeward:jwks:${issuer}`;

describe("the Worker in workerd with oidc-provider tokens", () => {
  let idp, idp2, origin, gate, kvDir;

  before(async () => {
    idp = await startIdp({ tag: "k1" });
    idp2 = await startIdp({ tag: "other" });
    origin = await startOrigin();
    kvDir = tmpDir("kv");
    gate = await startWorker({
      config: gateConfig(idp, { keys: { refetch_cooldown: 1 } }),
      origin: origin.url,
      kvPersist: kvDir,
    });
  });
  after(async () => {
    await gate?.stop();
    await idp?.stop().catch(() => {});
    await idp2?.stop().catch(() => {});
    await origin?.stop();
  });

  it("no token: 401 with a Bearer realm challenge and no error attribute; origin not reached", async () => {
    const before = origin.seen.length;
    const r = await gate.fetch("/orders/1");
    assert.equal(r.status, 401);
    assert.equal(r.headers.get("www-authenticate"), 'Bearer realm="orders"');
    const body = await r.json();
    assert.equal(body.reason, "token_missing");
    assert.equal(origin.seen.length, before);
  });

  it("malformed token: 401 invalid_token", async () => {
    const r = await gate.fetch("/orders/1", { headers: bearer("not.a.jwt") });
    assert.equal(r.status, 401);
    assert.match(r.headers.get("www-authenticate"), /^Bearer realm="orders", error="invalid_token"/);
    assert.equal((await r.json()).reason, "token_malformed");
  });

  it("two tokens: 400 invalid_request", async () => {
    const t = await idp.token();
    const h = new Headers();
    h.append("authorization", `Bearer ${t}`);
    h.append("authorization", `Bearer ${t}`);
    const r = await gate.fetch("/orders/1", { headers: h });
    assert.equal(r.status, 400);
    assert.match(r.headers.get("www-authenticate"), /error="invalid_request"/);
    assert.equal((await r.json()).reason, "multiple_tokens");
  });

  it("valid RS256 token: the origin gets method, path, query, body and identity headers; spoofed ones are replaced", async () => {
    const t = await idp.token(RESOURCES.rs256, "orders:read orders:write");
    const body = "x".repeat(300_000);
    const r = await gate.fetch("/orders/7?verbose=1&a=%2F", {
      method: "POST",
      headers: {
        ...bearer(t),
        "x-auth-subject": "admin",
        "X-Auth-Scopes": "everything",
        "x-auth-client": "spoofed",
        "x-custom": "kept",
        "content-type": "text/plain",
      },
      body,
    });
    assert.equal(r.status, 200);
    assert.equal(r.headers.get("x-origin"), "yes");
    const seen = await r.json();
    assert.equal(seen.method, "POST");
    assert.equal(seen.url, "/orders/7?verbose=1&a=%2F");
    assert.equal(seen.headers["x-auth-subject"], "svc");
    assert.equal(seen.headers["x-auth-issuer"], idp.issuer);
    assert.equal(seen.headers["x-auth-scopes"], "orders:read orders:write");
    assert.equal(seen.headers["x-auth-client"], "svc");
    assert.equal(seen.headers["x-custom"], "kept");
    assert.equal(seen.headers.authorization, `Bearer ${t}`);
    assert.equal(seen.body_bytes, body.length);
  });

  it("valid ES256 token: 200", async () => {
    const t = await idp.token(RESOURCES.es256);
    const r = await gate.fetch("/orders/1", { headers: bearer(t) });
    assert.equal(r.status, 200);
    assert.equal((await r.json()).headers["x-auth-scopes"], "orders:read");
  });

  it("missing scope: 403 insufficient_scope naming the scope", async () => {
    const t = await idp.token(RESOURCES.es256, "orders:read");
    const r = await gate.fetch("/orders/1", { method: "POST", headers: bearer(t), body: "{}" });
    assert.equal(r.status, 403);
    const w = r.headers.get("www-authenticate");
    assert.match(w, /error="insufficient_scope"/);
    assert.match(w, /scope="orders:write"/);
    assert.equal((await r.json()).reason, "scope_missing");
  });

  it("wrong audience: 401 audience_invalid", async () => {
    const t = await idp.token(RESOURCES.other);
    const r = await gate.fetch("/orders/1", { headers: bearer(t) });
    assert.equal(r.status, 401);
    assert.equal((await r.json()).reason, "audience_invalid");
  });

  it("wrong issuer (another oidc-provider): 401 issuer_unknown", async () => {
    const t = await idp2.token(RESOURCES.rs256);
    const r = await gate.fetch("/orders/1", { headers: bearer(t) });
    assert.equal(r.status, 401);
    assert.equal((await r.json()).reason, "issuer_unknown");
  });

  it("tampered payload: 401 signature_invalid", async () => {
    const t = await idp.token(RESOURCES.rs256);
    const [h, p, s] = t.split(".");
    const claims = JSON.parse(Buffer.from(p, "base64url"));
    claims.scope = "orders:read orders:write orders:admin";
    const forged = [h, Buffer.from(JSON.stringify(claims)).toString("base64url"), s].join(".");
    const r = await gate.fetch("/orders/1", { headers: bearer(forged) });
    assert.equal(r.status, 401);
    assert.equal((await r.json()).reason, "signature_invalid");
  });

  it("expired token: 401 token_expired", async () => {
    const t = await idp.token(RESOURCES.short);
    await sleep(2100);
    const r = await gate.fetch("/orders/1", { headers: bearer(t) });
    assert.equal(r.status, 401);
    assert.equal((await r.json()).reason, "token_expired");
  });

  it("after the first fetch KV holds the keys (the core's snapshot)", async () => {
    const snap = await until(async () => {
      const v = await gate.kvGet(kvKey(idp.issuer));
      return v && JSON.parse(v);
    });
    assert.ok(snap, "snapshot in KV");
    assert.equal(snap.v, 1);
    assert.equal(snap.iss, idp.issuer);
    assert.deepEqual(snap.keys.map((k) => k.kid).sort(), ["k1-es256", "k1-rs256"]);
  });

  it("logs: one JSON line per denial (reason, route, issuer, kid; never the token) and per key fetch", async () => {
    const t = await idp.token(RESOURCES.rs256, "profile");
    const r = await gate.fetch("/orders/9", { headers: bearer(t) });
    assert.equal(r.status, 403);
    await r.arrayBuffer();
    const line = await until(() => gate.logs.find((l) => l.event === "deny" && l.path === "/orders/9"));
    assert.equal(line.reason, "scope_missing");
    assert.equal(line.status, 403);
    assert.equal(line.route, "/orders/**");
    assert.equal(line.issuer, idp.issuer);
    assert.equal(line.kid, "k1-rs256");
    for (const l of gate.logs) {
      const text = JSON.stringify(l);
      assert.ok(!text.includes(t.split(".")[2]), "no token signature in logs");
      assert.ok(!text.includes(t.split(".")[1]), "no token payload in logs");
    }
    const fetchLine = gate.logs.find((l) => l.event === "key_fetch" && l.kind === "jwks");
    assert.ok(fetchLine, "key_fetch line");
    assert.equal(fetchLine.status, 200);
    assert.equal(typeof fetchLine.duration_ms, "number");
    assert.ok(fetchLine.bytes > 100);
  });

  it("origin responses pass back as they are (status, headers, redirects not followed)", async () => {
    const t = await idp.token();
    let r = await gate.fetch("/teapot", { headers: bearer(t) });
    assert.equal(r.status, 418);
    await r.arrayBuffer();
    r = await gate.fetch("/redirect", { headers: bearer(t), redirect: "manual" });
    assert.equal(r.status, 302);
    assert.equal(r.headers.get("location"), "/elsewhere");
  });

  it("CORS preflight passes to the origin without a token", async () => {
    const r = await gate.fetch("/orders/1", {
      method: "OPTIONS",
      headers: { origin: "https://app.test", "access-control-request-method": "GET" },
    });
    assert.equal(r.status, 200);
    assert.equal((await r.json()).method, "OPTIONS");
  });

  it("WebSocket upgrades pass after auth (and are refused without a token)", async () => {
    let r = await gate.fetch("/ws", { headers: { upgrade: "websocket" } });
    assert.equal(r.status, 401);
    const t = await idp.token();
    r = await gate.fetch("/ws", { headers: { upgrade: "websocket", ...bearer(t), "x-auth-subject": "spoof" } });
    assert.equal(r.status, 101);
    const socket = r.webSocket;
    assert.ok(socket, "a WebSocket in the response");
    socket.accept();
    const got = new Promise((resolve) => socket.addEventListener("message", (e) => resolve(e.data)));
    socket.send("hi");
    assert.equal(await got, "echo:hi:svc");
    socket.close();
  });

  it("KV is written only when the key set changed: once so far, for many requests", async () => {
    const writes = gate.logs.filter((l) => l.event === "kv_write");
    assert.equal(writes.length, 1, JSON.stringify(writes));
    assert.ok(gate.logs.filter((l) => l.event === "deny").length > 5);
  });

  it("the IdP rotates its signing key: tokens with the new kid verify without a restart", async () => {
    await idp.rotate("k2");
    await sleep(1100); // refetch_cooldown is 1 s in this suite
    const before = idp.hits.jwks;
    const t = await idp.token(RESOURCES.rs256);
    assert.equal(JSON.parse(Buffer.from(t.split(".")[0], "base64url")).kid, "k2-rs256");
    const r = await gate.fetch("/orders/1", { headers: bearer(t) });
    assert.equal(r.status, 200);
    assert.equal(idp.hits.jwks, before + 1);
    const snap = await until(async () => {
      const s = JSON.parse(await gate.kvGet(kvKey(idp.issuer)));
      return s.keys.some((k) => k.kid === "k2-rs256") && s;
    });
    assert.ok(snap, "the rotated key set reached KV");
    assert.equal(gate.logs.filter((l) => l.event === "kv_write").length, 2, "one more write, for the new key set");
  });

  it("the IdP is stopped: requests keep being verified from cached keys", async () => {
    const tokens = [await idp.token(RESOURCES.rs256), await idp.token(RESOURCES.es256)];
    await idp.stop();
    for (const t of tokens) {
      const r = await gate.fetch("/orders/1", { headers: bearer(t) });
      assert.equal(r.status, 200);
      await r.arrayBuffer();
    }
    await idp.start();
  });

  it("a fresh Worker instance with warm KV verifies without calling the IdP (JWKS hits: 0), with the IdP up or down", async () => {
    const t1 = await idp.token(RESOURCES.es256);
    const t2 = await idp.token(RESOURCES.rs256);
    await gate.stop();
    gate = null;
    const before = idp.hits;
    const snapshot = { ...before };
    const fresh = await startWorker({ config: gateConfig(idp, { keys: { refetch_cooldown: 1 } }), origin: origin.url, kvPersist: kvDir });
    try {
      const r = await fresh.fetch("/orders/1", { headers: bearer(t1) });
      assert.equal(r.status, 200);
      await r.arrayBuffer();
      assert.equal(idp.hits.jwks - snapshot.jwks, 0, "no JWKS fetch");
      assert.equal(idp.hits.discovery - snapshot.discovery, 0, "no discovery fetch");
      assert.ok(fresh.logs.some((l) => l.event === "key_load" && l.source === "kv" && l.adopted));
    } finally {
      await fresh.stop();
    }
    await idp.stop();
    const down = await startWorker({ config: gateConfig(idp, { keys: { refetch_cooldown: 1 } }), origin: origin.url, kvPersist: kvDir });
    try {
      const r = await down.fetch("/orders/1", { headers: bearer(t2) });
      assert.equal(r.status, 200);
      await r.arrayBuffer();
    } finally {
      await down.stop();
      await idp.start();
    }
  });

  it("IdP stopped and KV empty in a fresh isolate: 503, not 401, not a pass-through", async () => {
    const t = await idp.token(RESOURCES.rs256);
    await idp.stop();
    const before = origin.seen.length;
    const cold = await startWorker({ config: gateConfig(idp), origin: origin.url, kvPersist: tmpDir("empty") });
    try {
      const r = await cold.fetch("/orders/1", { headers: bearer(t) });
      assert.equal(r.status, 503);
      assert.equal(r.headers.get("retry-after"), "30");
      assert.equal((await r.json()).reason, "keys_unavailable");
      assert.equal(origin.seen.length, before);
      assert.ok(cold.logs.some((l) => l.event === "key_fetch" && l.error));
    } finally {
      await cold.stop();
      await idp.start();
    }
  });
});

describe("key fetches under load", () => {
  let idp, origin, kvDir;
  before(async () => {
    idp = await startIdp({ tag: "f1" });
    origin = await startOrigin();
    kvDir = tmpDir("flood");
  });
  after(async () => {
    await idp?.stop().catch(() => {});
    await origin?.stop();
  });

  it("200 concurrent requests with distinct unknown kids cause at most one JWKS fetch, per isolate and across isolates sharing KV", async () => {
    const config = gateConfig(idp, { keys: { refetch_cooldown: 30 } });
    const a = await startWorker({ config, origin: origin.url, kvPersist: kvDir });
    let first;
    try {
      // Warm: keys fetched once, more than a moment ago.
      const ok = await a.fetch("/orders/1", { headers: bearer(await idp.token()) });
      assert.equal(ok.status, 200);
      await ok.arrayBuffer();
      const warm = idp.hits.jwks;
      assert.equal(warm, 1);
      const flood = await Promise.all(
        Array.from({ length: 200 }, (_, i) =>
          a.fetch("/orders/1", { headers: bearer(forgedToken(idp.issuer, `unknown-${i}`)) }).then(async (r) => {
            await r.arrayBuffer();
            return r.status;
          }),
        ),
      );
      assert.ok(flood.every((s) => s === 401), `all 401: ${[...new Set(flood)]}`);
      first = idp.hits.jwks - warm;
      assert.ok(first <= 1, `JWKS fetches for the flood: ${first}`);
    } finally {
      await a.stop();
    }
    // A new isolate (new workerd) sharing KV: the cooldown is in KV too.
    const b = await startWorker({ config, origin: origin.url, kvPersist: kvDir });
    try {
      const before = idp.hits.jwks;
      const flood = await Promise.all(
        Array.from({ length: 200 }, (_, i) =>
          b.fetch("/orders/1", { headers: bearer(forgedToken(idp.issuer, `other-${i}`)) }).then(async (r) => {
            await r.arrayBuffer();
            return r.status;
          }),
        ),
      );
      assert.ok(flood.every((s) => s === 401));
      assert.equal(idp.hits.jwks - before, 0, "the second isolate obeys the cooldown found in KV");
    } finally {
      await b.stop();
    }
  });

  it("stale keys are refreshed in the background while requests are served from the stale copy", async () => {
    const config = gateConfig(idp, { keys: { min_ttl: 1, max_ttl: 1, default_ttl: 1, refetch_cooldown: 1 } });
    const w = await startWorker({ config, origin: origin.url, kvPersist: tmpDir("stale") });
    try {
      const t = await idp.token(RESOURCES.es256);
      let r = await w.fetch("/orders/1", { headers: bearer(t) });
      assert.equal(r.status, 200);
      await r.arrayBuffer();
      const before = idp.hits.jwks;
      await sleep(1600);
      await idp.stop(); // the refresh fails; stale keys still serve
      r = await w.fetch("/orders/1", { headers: bearer(t) });
      assert.equal(r.status, 200, "served from the stale copy");
      await r.arrayBuffer();
      const failed = await until(() => w.logs.some((l) => l.event === "key_fetch" && l.error));
      assert.ok(failed, "the background refresh ran (and failed, logged) after the response");
      await idp.start();
      await sleep(1100); // refetch_cooldown after the failure
      const t2 = await idp.token(RESOURCES.rs256);
      r = await w.fetch("/orders/2", { headers: bearer(t2) });
      assert.equal(r.status, 200);
      await r.arrayBuffer();
      const refreshed = await until(() => idp.hits.jwks > before);
      assert.ok(refreshed, "a background refresh reached the IdP");
    } finally {
      await w.stop();
    }
  });

  it("KV unavailable (no binding): memory and the IdP, never a failure of its own", async () => {
    const w = await startWorker({ config: gateConfig(idp), origin: origin.url, kv: false });
    try {
      const r = await w.fetch("/orders/1", { headers: bearer(await idp.token()) });
      assert.equal(r.status, 200);
      await r.arrayBuffer();
    } finally {
      await w.stop();
    }
  });
});

describe("settings", () => {
  let idp, origin;
  before(async () => {
    idp = await startIdp({ tag: "s1" });
    origin = await startOrigin();
  });
  after(async () => {
    await idp?.stop().catch(() => {});
    await origin?.stop();
  });

  it("a bad configuration answers every request 500 with a clear log line, never a pass", async () => {
    for (const config of ['{"issuers":[{"issuer":"https://x/","audience":["a"]}]}', "", "[[routes]]\npath = 3"]) {
      const w = await startWorker({ config, origin: origin.url });
      const before = origin.seen.length;
      try {
        for (const p of ["/health", "/orders/1"]) {
          const r = await w.fetch(p, { headers: bearer(await idp.token()) });
          assert.equal(r.status, 500);
          assert.equal((await r.json()).reason, "config_invalid");
        }
        const line = await until(() => w.logs.find((l) => l.event === "config_error"));
        assert.ok(line && line.error.length > 10, JSON.stringify(line));
        assert.equal(origin.seen.length, before);
      } finally {
        await w.stop();
      }
    }
  });

  it("secrets come from Worker secrets, never from vars", async () => {
    const withSecret = { ...gateConfig(idp), api_tokens: [{ name: "ci", sha256: "0".repeat(64) }] };
    let w = await startWorker({ config: withSecret, origin: origin.url });
    try {
      const r = await w.fetch("/health");
      assert.equal(r.status, 500);
      await r.arrayBuffer();
      const line = await until(() => w.logs.find((l) => l.event === "config_error"));
      assert.match(line.error, /EDGEWARD_API_TOKENS/);
    } finally {
      await w.stop();
    }
    const { createHash } = await import("node:crypto");
    const sha256 = createHash("sha256").update("ci-secret-token").digest("hex");
    w = await startWorker({
      config: gateConfig(idp),
      origin: origin.url,
      bindings: { EDGEWARD_API_TOKENS: JSON.stringify([{ name: "ci-bot", sha256, scopes: ["orders:read"] }]) },
    });
    try {
      let r = await w.fetch("/orders/1", { headers: bearer("ci-secret-token") });
      assert.equal(r.status, 200);
      assert.equal((await r.json()).headers["x-auth-subject"], "ci-bot");
      r = await w.fetch("/orders/1", { headers: bearer("wrong-token") });
      assert.equal(r.status, 401);
      await r.arrayBuffer();
    } finally {
      await w.stop();
    }
  });

  it("TOML config text (toml feature; the test build has it), Authorization stripped when configured, report-only lets everything through annotated", async () => {
    const toml = `
mode = "report-only"
[[issuers]]
issuer = "${idp.issuer}"
audiences = ["${RESOURCES.rs256}"]
[headers]
strip_authorization = true
[[routes]]
path = "/orders/**"
scopes.any = ["orders:admin"]
`;
    const w = await startWorker({ config: toml, origin: origin.url, dir: testBuildDir });
    try {
      let r = await w.fetch("/orders/1");
      assert.equal(r.status, 200);
      let seen = await r.json();
      assert.equal(seen.headers["x-edgeward-decision"], "deny; status=401; reason=token_missing");
      const t = await idp.token(RESOURCES.rs256);
      r = await w.fetch("/orders/1", { headers: { ...bearer(t), "x-edgeward-decision": "allow" } });
      assert.equal(r.status, 200);
      seen = await r.json();
      assert.equal(seen.headers.authorization, undefined, "Authorization stripped");
      assert.equal(seen.headers["x-edgeward-decision"], "deny; status=403; reason=scope_missing");
      assert.equal(seen.headers["x-auth-subject"], "svc");
      const line = await until(() => w.logs.find((l) => l.event === "report_only" && l.reason === "scope_missing"));
      assert.ok(line);
    } finally {
      await w.stop();
    }
  });

  it("the configuration as an object (a TOML table in wrangler.toml); TOML text in the shipped build is refused clearly", async () => {
    let w = await startWorker({ bindings: { EDGEWARD_CONFIG: gateConfig(idp) }, origin: origin.url });
    try {
      const r = await w.fetch("/orders/1", { headers: bearer(await idp.token()) });
      assert.equal(r.status, 200);
      await r.arrayBuffer();
    } finally {
      await w.stop();
    }
    w = await startWorker({ config: `[[issuers]]\nissuer = "${idp.issuer}"\naudiences = ["a"]\n`, origin: origin.url });
    try {
      const r = await w.fetch("/orders/1");
      assert.equal(r.status, 500);
      await r.arrayBuffer();
      const line = await until(() => w.logs.find((l) => l.event === "config_error"));
      assert.match(line.error, /TOML table in wrangler.toml/);
    } finally {
      await w.stop();
    }
  });

  it("ORIGIN unset: the allowed request goes to its own URL (a Worker on a route)", async () => {
    const w = await startWorker({ config: gateConfig(idp) });
    try {
      const r = await w.mf.dispatchFetch(`${origin.url}/orders/5?x=1`, { headers: bearer(await idp.token()) });
      assert.equal(r.status, 200);
      const seen = await r.json();
      assert.equal(seen.url, "/orders/5?x=1");
      assert.equal(seen.headers["x-auth-subject"], "svc");
    } finally {
      await w.stop();
    }
  });
});
