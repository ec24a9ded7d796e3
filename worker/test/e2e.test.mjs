// End-to-end: the built Worker (worker/build/worker, the shipped build) in
// workerd via Miniflare, in front of the sample origin, verifying tokens
// issued by a real OpenID provider (oidc-provider) on loopback.
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import * as jose from "jose";
import {
  startIdp, startOrigin, startWorker, startServer, es256Key, gateConfig, forgedToken, tmpDir, sleep, until, RESOURCES, testBuildDir,
} from "./support.mjs";

const bearer = (t) => ({ authorization: `Bearer ${t}` });
// The core's snapshot key (src/keystore/shared.rs `snapshot_key`).
const kvKey = (issuer) => `edgeward:keys:v1:${issuer}`;

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

  it("valid EdDSA (Ed25519) token: 200", async () => {
    const t = await idp.token(RESOURCES.eddsa);
    assert.equal(JSON.parse(Buffer.from(t.split(".")[0], "base64url")).alg, "EdDSA");
    const r = await gate.fetch("/orders/1", { headers: bearer(t) });
    assert.equal(r.status, 200);
    assert.equal((await r.json()).headers["x-auth-subject"], "svc");
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

  it("large request parts (past the isolate's 4 KB read buffer, non-ASCII too) read whole: a long Origin still allowed, an oversized token refused as too large, then small requests as before", async () => {
    const t = await idp.token(RESOURCES.es256, "orders:read");
    const origin = "https://" + "a".repeat(6000) + ".example";
    let r = await gate.fetch("/orders/1", { headers: { ...bearer(t), origin } });
    assert.equal(r.status, 200);
    assert.equal((await r.json()).headers.origin, origin);
    // A Latin-1 value is two bytes a character in UTF-8.
    r = await gate.fetch("/orders/1", { headers: { ...bearer(t), origin: "é".repeat(3000) } });
    assert.equal(r.status, 200);
    await r.arrayBuffer();
    r = await gate.fetch("/orders/1", { headers: bearer(t + "A".repeat(9000)) });
    assert.equal(r.status, 401);
    assert.equal((await r.json()).reason, "token_too_large");
    r = await gate.fetch("/orders/1", { headers: bearer(t) });
    assert.equal(r.status, 200);
    assert.equal((await r.json()).headers["x-auth-subject"], "svc");
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
    assert.deepEqual(snap.keys.map((k) => k.kid).sort(), ["k1-eddsa", "k1-es256", "k1-rs256"]);
  });

  it("logs: one JSON line per denial (reason, route, issuer, kid; never the token) and per key fetch", async () => {
    const t = await idp.token(RESOURCES.rs256, "profile");
    const r = await gate.fetch("/orders/9?secret=q", { headers: { ...bearer(t), "cf-ray": "8f1e2d3c4b5a6978-AMS", traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01" } });
    assert.equal(r.status, 403);
    await r.arrayBuffer();
    const line = await until(() => gate.logs.find((l) => l.event === "decision" && l.outcome === "deny" && l.path === "/orders/9"));
    assert.equal(line.reason, "scope_missing");
    assert.equal(line.status, 403);
    assert.equal(line.method, "GET");
    assert.equal(line.route, "/orders/**");
    assert.equal(line.issuer, idp.issuer, "verified before the policy refused it");
    assert.equal(line.unverified_issuer, null);
    assert.equal(line.identity, "jwt");
    assert.equal(line.kid, "k1-rs256");
    assert.equal(line.alg, "RS256");
    assert.equal(line.cf_ray, "8f1e2d3c4b5a6978-AMS");
    assert.equal(line.traceparent, "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
    assert.equal(line.sample_rate, 1);
    assert.equal(typeof line.latency_ms, "number");
    assert.equal(line.key_fetch, false);
    assert.equal(line.subject, undefined, "no subject (personal data)");
    assert.ok(!JSON.stringify(line).includes("secret=q"), "no query string");
    // The first request waited for the key set: logged although allowed.
    const first = gate.logs.find((l) => l.event === "decision" && l.key_fetch === true);
    assert.ok(first, "a decision line for the request that fetched keys");
    // The gate's default sample (0.01) leaves most allows unlogged.
    const allows = gate.logs.filter((l) => l.event === "decision" && l.outcome === "allow" && !l.key_fetch).length;
    assert.ok(allows < 5, `${allows} sampled allow lines`);
    for (const l of gate.logs) {
      const text = JSON.stringify(l);
      assert.ok(!text.includes(t.split(".")[2]), "no token signature in logs");
      assert.ok(!text.includes(t.split(".")[1]), "no token payload in logs");
    }
    const fetchLine = await until(() => gate.logs.find((l) => l.event === "key_fetch" && l.kind === "jwks"));
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

  it("without [cors], a CORS preflight on a protected route is 401 and never reaches the origin", async () => {
    const before = origin.seen.length;
    const r = await gate.fetch("/orders/1", {
      method: "OPTIONS",
      headers: { origin: "https://app.test", "access-control-request-method": "GET" },
    });
    assert.equal(r.status, 401);
    assert.equal((await r.json()).reason, "token_missing");
    assert.equal(r.headers.get("access-control-allow-origin"), null);
    assert.equal(origin.seen.length, before);
  });

  it("client headers named like identity headers with _ for - (or in any case) are stripped, on protected and anonymous routes", async () => {
    const t = await idp.token();
    const spoof = { x_auth_subject: "root", X_Auth_Scopes: "admin", "X-AUTH-ISSUER": "evil", x_auth_client: "evil", "x-auth-subjects": "kept" };
    let r = await gate.fetch("/orders/1", { headers: { ...bearer(t), ...spoof } });
    assert.equal(r.status, 200);
    let seen = await r.json();
    assert.equal(seen.headers["x-auth-subject"], "svc");
    assert.equal(seen.headers["x-auth-scopes"], "orders:read");
    assert.equal(seen.headers["x-auth-issuer"], idp.issuer);
    assert.equal(seen.headers["x-auth-client"], "svc");
    for (const k of ["x_auth_subject", "x_auth_scopes", "x_auth_client"]) assert.equal(seen.headers[k], undefined, k);
    assert.equal(seen.headers["x-auth-subjects"], "kept", "only names that read as an identity header");
    r = await gate.fetch("/health", { headers: spoof });
    assert.equal(r.status, 200);
    seen = await r.json();
    for (const k of ["x-auth-subject", "x_auth_subject", "x_auth_scopes", "x-auth-issuer", "x_auth_client"]) assert.equal(seen.headers[k], undefined, k);
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

  it("KV is written only when that changes what other isolates do: one key set so far, for many requests", async () => {
    const writes = gate.logs.filter((l) => l.event === "kv_write");
    // One write of the key set; a signature that failed with keys older
    // than the cooldown (the tampered token) may have refetched them (the
    // same keys: after "keys_unchanged"), and that refetch's cooldown is
    // shared too, never more than one write per IdP fetch.
    assert.deepEqual(writes.filter((l) => l.after !== "keys_unchanged").map((l) => l.after), ["keys_changed"], JSON.stringify(writes));
    assert.ok(writes.every((l) => l.key === kvKey(idp.issuer)), JSON.stringify(writes));
    const fetches = gate.logs.filter((l) => l.event === "key_fetch" && l.kind === "jwks");
    assert.ok(writes.length <= fetches.length, `${writes.length} writes, ${fetches.length} fetches`);
    assert.ok(gate.logs.filter((l) => l.event === "decision" && l.outcome === "deny").length > 5);
  });

  it("the IdP rotates its signing key: tokens with the new kid verify without a restart", async () => {
    await idp.rotate("k2");
    await sleep(1100); // refetch_cooldown is 1 s in this suite
    const before = idp.hits.jwks;
    const keySets = (l) => l.event === "kv_write" && l.after === "keys_changed";
    const written = gate.logs.filter(keySets).length;
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
    await until(() => gate.logs.filter(keySets).length > written);
    assert.equal(gate.logs.filter(keySets).length, written + 1, "one more write, for the new key set");
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
      // A new isolate writes its log lines after its first verdict (src/log.rs).
      const load = await until(() => fresh.logs.find((l) => l.event === "key_load" && l.source === "kv" && l.adopted));
      assert.ok(load, "the snapshot was adopted from KV");
      assert.equal(load.prefetched, true, "the entry started the KV read (js/entry.mjs)");
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
      assert.ok(await until(() => cold.logs.some((l) => l.event === "key_fetch" && l.error)));
    } finally {
      await cold.stop();
      await idp.start();
    }
  });
});

describe("signatures WebCrypto verifies (two-phase checks)", () => {
  // A new isolate's first verdicts (node:crypto not loaded yet), RSA-PSS
  // always, and every alg without nodejs_compat go to crypto.subtle
  // (src/native.rs `defers`). Judged by what the origin sees: valid tokens
  // reach it with their identity, forged ones never do.
  const ALGS = ["RS256", "PS256", "ES256", "ES384", "EdDSA"];
  let jwksSrv, origin, kvDir, signers, config;

  before(async () => {
    signers = {};
    const keys = [];
    for (const alg of ALGS) {
      const opts = alg.startsWith("RS") || alg.startsWith("PS") ? { modulusLength: 2048 } : alg === "EdDSA" ? { crv: "Ed25519" } : {};
      const { privateKey, publicKey } = await jose.generateKeyPair(alg, { extractable: true, ...opts });
      const kid = `web-${alg.toLowerCase()}`;
      keys.push({ ...(await jose.exportJWK(publicKey)), kid, alg, use: "sig" });
      signers[alg] = (sub, exp = "10m", aud = RESOURCES.rs256) =>
        new jose.SignJWT({ sub, scope: "orders:read" })
          .setProtectedHeader({ alg, kid, typ: "at+jwt" })
          .setIssuer(jwksSrv.url)
          .setAudience(aud)
          .setIssuedAt()
          .setExpirationTime(exp)
          .sign(privateKey);
    }
    jwksSrv = await startServer((req, res) => {
      res.writeHead(200, { "content-type": "application/json", "cache-control": "max-age=600" });
      res.end(JSON.stringify({ keys }));
    });
    origin = await startOrigin();
    kvDir = tmpDir("kv-web");
    config = gateConfig({ issuer: jwksSrv.url }, { issuer: { jwks_uri: `${jwksSrv.url}/jwks`, algorithms: ALGS } });
    // Warm KV, so that a new isolate decides its first request from the
    // snapshot (the synchronous path, where the core defers).
    const warm = await startWorker({ config, origin: origin.url, kvPersist: kvDir });
    try {
      const r = await warm.fetch("/orders/1", { headers: bearer(await signers.ES256("warm")) });
      assert.equal(r.status, 200);
      await r.arrayBuffer();
    } finally {
      await warm.stop();
    }
  });
  after(async () => {
    await jwksSrv?.stop();
    await origin?.stop();
  });

  const tamper = (t, i) => {
    // One bit of the signature flipped, or the payload changed.
    const [h, p, s] = t.split(".");
    if (i % 2 === 0) {
      const sig = Buffer.from(s, "base64url");
      sig[sig.length >> 1] ^= 1;
      return [h, p, sig.toString("base64url")].join(".");
    }
    const claims = JSON.parse(Buffer.from(p, "base64url"));
    claims.sub = "admin";
    return [h, Buffer.from(JSON.stringify(claims)).toString("base64url"), s].join(".");
  };

  // `alone`: no other request is in flight, so the origin's count must not move.
  async function expectRefused(w, token, what, alone = true) {
    const before = origin.seen.length;
    const r = await w.fetch("/orders/1", { headers: bearer(token) });
    assert.equal(r.status, 401, what);
    assert.equal((await r.json()).reason, "signature_invalid", what);
    if (alone) assert.equal(origin.seen.length, before, `${what}: the origin was reached`);
  }
  async function expectAllowed(w, token, sub, what) {
    const r = await w.fetch("/orders/1", { headers: bearer(token) });
    assert.equal(r.status, 200, what);
    assert.equal((await r.json()).headers["x-auth-subject"], sub, what);
  }

  it("a new isolate's first request, each alg: a forged token is refused and reaches nothing; in the next new isolate a valid one passes with its identity", async () => {
    for (const alg of ALGS) {
      for (const [i, first] of ["forged-signature", "forged-payload", "valid"].entries()) {
        const w = await startWorker({ config, origin: origin.url, kvPersist: kvDir });
        try {
          const t = await signers[alg](`user-${alg}`);
          if (first === "valid") await expectAllowed(w, t, `user-${alg}`, `${alg} first request`);
          else await expectRefused(w, tamper(t, i), `${alg} ${first}, first request`);
          // Concurrent first-phase checks of one key in a new isolate: the
          // forged one (subject "c1-<alg>") never reaches the origin.
          const seen = origin.seen.length;
          const again = await Promise.all([0, 1, 2].map(async (k) => [k, await signers[alg](`c${k}-${alg}`)]));
          await Promise.all(
            again.map(([k, t]) =>
              k === 1 ? expectRefused(w, tamper(t, k + i), `${alg} concurrent`, false) : expectAllowed(w, t, `c${k}-${alg}`, `${alg} concurrent`),
            ),
          );
          assert.deepEqual(origin.seen.slice(seen).map((r) => r.headers["x-auth-subject"]).sort(), [`c0-${alg}`, `c2-${alg}`]);
        } finally {
          await w.stop();
        }
      }
    }
  });

  // A new isolate runs the keyless part of its first request's check while
  // the snapshot is read (src/lib.rs `rehearse`) and throws it away: the
  // check that decides refuses what it must, and the tokens after it are
  // decided as if nothing ran before.
  it("a new isolate's first request, rehearsed while KV is read: expired, wrong-audience and malformed tokens are refused with their reasons and reach nothing; a valid token then passes", async () => {
    const now = Math.floor(Date.now() / 1000);
    const firsts = [
      ["expired", await signers.ES256("late", now - 600), "token_expired"],
      ["wrong audience", await signers.RS256("aud", "10m", "https://elsewhere.example"), "audience_invalid"],
      ["malformed", "eyJhbGciOiJFUzI1NiJ9.e30", "token_malformed"],
    ];
    for (const [what, token, reason] of firsts) {
      const w = await startWorker({ config, origin: origin.url, kvPersist: kvDir });
      try {
        const before = origin.seen.length;
        const r = await w.fetch("/orders/1", { headers: bearer(token) });
        assert.equal(r.status, 401, what);
        assert.equal((await r.json()).reason, reason, what);
        assert.equal(origin.seen.length, before, `${what}: the origin was reached`);
        const again = await w.fetch("/orders/1", { headers: bearer(token) });
        assert.equal(again.status, 401, `${what}, again`);
        await again.arrayBuffer();
        await expectAllowed(w, await signers.ES256(`after-${what}`), `after-${what}`, `${what}: then a valid token`);
        const load = await until(() => w.logs.find((l) => l.event === "key_load" && l.source === "kv"));
        assert.equal(load.adopted, true, `${what}: the snapshot was adopted`);
      } finally {
        await w.stop();
      }
    }
  });

  it("a new isolate with no key snapshot (the path that fetches the keys first), each alg: a forged first token is refused, a valid one passes", async () => {
    for (const alg of ALGS) {
      for (const [i, first] of ["forged", "valid"].entries()) {
        const w = await startWorker({ config, origin: origin.url, kvPersist: tmpDir("kv-cold") });
        try {
          const t = await signers[alg](`cold-${alg}`);
          if (first === "valid") await expectAllowed(w, t, `cold-${alg}`, `${alg} first request, keys fetched`);
          else await expectRefused(w, tamper(t, i + alg.length), `${alg} forged first request, keys fetched`);
        } finally {
          await w.stop();
        }
      }
    }
  });

  it("RSA-PSS after node:crypto is loaded, and every alg without nodejs_compat: forged refused, valid allowed, many times over", async () => {
    for (const flags of [["nodejs_compat"], []]) {
      const w = await startWorker({ config, origin: origin.url, kvPersist: kvDir, compatibilityFlags: flags });
      try {
        await expectAllowed(w, await signers.ES256("first"), "first", `${flags} first`);
        await sleep(100); // past the first verdict: node:crypto is loaded where there is one
        for (const alg of flags.length ? ["PS256"] : ALGS) {
          for (let i = 0; i < 4; i++) {
            const t = await signers[alg](`u${i}`);
            await expectRefused(w, tamper(t, i), `${alg} ${flags} #${i}`);
            await expectAllowed(w, t, `u${i}`, `${alg} ${flags} #${i}`);
          }
        }
      } finally {
        await w.stop();
      }
    }
  });
});

describe("CORS with [cors] in the configuration", () => {
  let idp, origin, gate;
  const APP = "https://app.test";
  before(async () => {
    idp = await startIdp({ tag: "c1" });
    origin = await startOrigin();
    const config = gateConfig(idp);
    config.cors = { allowed_origins: [APP], allowed_headers: ["authorization", "content-type"], max_age: 300 };
    config.routes = [{ path: "/cors-by-origin/**", forward_preflight: true }, ...config.routes];
    gate = await startWorker({ config, origin: origin.url });
  });
  after(async () => {
    await gate?.stop();
    await idp?.stop().catch(() => {});
    await origin?.stop();
  });

  it("the gate answers an allowed preflight itself: 204 with the CORS headers, no body, origin not reached", async () => {
    const before = origin.seen.length;
    const r = await gate.fetch("/orders/1", {
      method: "OPTIONS",
      headers: { origin: APP, "access-control-request-method": "POST", "access-control-request-headers": "authorization, content-type" },
    });
    assert.equal(r.status, 204);
    assert.equal(r.headers.get("access-control-allow-origin"), APP);
    assert.equal(r.headers.get("access-control-allow-methods"), "GET, HEAD, POST, PUT, PATCH, DELETE");
    assert.equal(r.headers.get("access-control-allow-headers"), "authorization, content-type");
    assert.equal(r.headers.get("access-control-max-age"), "300");
    assert.match(r.headers.get("vary"), /Origin/);
    assert.equal(await r.text(), "");
    assert.equal(origin.seen.length, before);
  });

  it("a preflight asking for another origin or a header not allowed is refused (403 preflight_refused), origin not reached", async () => {
    const before = origin.seen.length;
    for (const headers of [
      { origin: "https://evil.test", "access-control-request-method": "GET" },
      { origin: APP, "access-control-request-method": "GET", "access-control-request-headers": "x-secret" },
    ]) {
      const r = await gate.fetch("/orders/1", { method: "OPTIONS", headers });
      assert.equal(r.status, 403);
      assert.equal((await r.json()).reason, "preflight_refused");
    }
    assert.equal(origin.seen.length, before);
  });

  it("an allowed actual request: the origin's response (status, body, headers) carries access-control-allow-origin; a refusal does too", async () => {
    const t = await idp.token();
    // The first requests of an isolate take the async path, the next ones
    // the synchronous one (js/entry.mjs): both add the headers.
    for (let i = 0; i < 3; i++) {
      const r = await gate.fetch("/orders/1", { headers: { ...bearer(t), origin: APP } });
      assert.equal(r.status, 200);
      assert.equal(r.headers.get("x-origin"), "yes");
      assert.equal(r.headers.get("content-type"), "application/json");
      assert.equal(r.headers.get("access-control-allow-origin"), APP);
      assert.match(r.headers.get("access-control-expose-headers"), /www-authenticate/);
      assert.match(r.headers.get("vary"), /Origin/);
      const seen = await r.json();
      assert.equal(seen.headers["x-auth-subject"], "svc");
      assert.equal(seen.headers.origin, APP);
    }
    let r = await gate.fetch("/teapot", { headers: { ...bearer(t), origin: APP } });
    assert.equal(r.status, 418);
    assert.equal(r.headers.get("access-control-allow-origin"), APP);
    await r.arrayBuffer();
    r = await gate.fetch("/redirect", { headers: { ...bearer(t), origin: APP }, redirect: "manual" });
    assert.equal(r.status, 302);
    assert.equal(r.headers.get("location"), "/elsewhere");
    assert.equal(r.headers.get("access-control-allow-origin"), APP);
    await r.arrayBuffer();
    // No Origin, or one not allowed: the origin's response as it is.
    r = await gate.fetch("/orders/1", { headers: { ...bearer(t), origin: "https://evil.test" } });
    assert.equal(r.status, 200);
    assert.equal(r.headers.get("access-control-allow-origin"), null);
    await r.arrayBuffer();
    r = await gate.fetch("/orders/1", { headers: { origin: APP } });
    assert.equal(r.status, 401);
    assert.equal(r.headers.get("access-control-allow-origin"), APP);
    await r.arrayBuffer();
  });

  it("a WebSocket upgrade from an allowed origin still passes (the 101 is not re-wrapped)", async () => {
    const t = await idp.token();
    const r = await gate.fetch("/ws", { headers: { upgrade: "websocket", origin: APP, ...bearer(t) } });
    assert.equal(r.status, 101);
    const socket = r.webSocket;
    assert.ok(socket, "a WebSocket in the response");
    socket.accept();
    const got = new Promise((resolve) => socket.addEventListener("message", (e) => resolve(e.data)));
    socket.send("hi");
    assert.equal(await got, "echo:hi:svc");
    socket.close();
  });

  it("forward_preflight: the preflight reaches the origin without a token, identity headers stripped", async () => {
    const before = origin.seen.length;
    const r = await gate.fetch("/cors-by-origin/x", {
      method: "OPTIONS",
      headers: { origin: APP, "access-control-request-method": "DELETE", "x-auth-subject": "root", x_auth_subject: "root" },
    });
    assert.equal(r.status, 200);
    const seen = await r.json();
    assert.equal(seen.method, "OPTIONS");
    assert.equal(seen.headers["access-control-request-method"], "DELETE");
    assert.equal(seen.headers["x-auth-subject"], undefined);
    assert.equal(seen.headers["x_auth_subject"], undefined);
    assert.equal(origin.seen.length, before + 1);
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

  it("IdP down and KV empty: the first isolate's failure is shared in KV, so a second isolate within the cooldown makes 0 IdP requests and answers 503", async (t) => {
    // Accepts connections and drops them: every IdP request is counted, none answered.
    const down = await startServer((req) => req.socket.destroy());
    t.after(() => down.stop());
    const config = gateConfig({ issuer: down.url }); // refetch_cooldown: 30 s (the default)
    const dir = tmpDir("down");
    const token = forgedToken(down.url, "k1");
    const a = await startWorker({ config, origin: origin.url, kvPersist: dir });
    let first;
    try {
      const r = await a.fetch("/orders/1", { headers: bearer(token) });
      assert.equal(r.status, 503);
      assert.equal((await r.json()).reason, "keys_unavailable");
      first = down.hits.length;
      assert.ok(first >= 1, "the first isolate asked the IdP");
      assert.ok(await until(() => a.logs.some((l) => l.event === "key_fetch" && l.error)));
      const snap = await until(async () => {
        const v = await a.kvGet(kvKey(down.url));
        return v && JSON.parse(v);
      });
      assert.ok(snap?.failed_at > 0, `the failure is in KV: ${JSON.stringify(snap)}`);
      assert.deepEqual(snap.keys, []);
      await until(() => a.logs.some((l) => l.event === "kv_write"));
      assert.ok(a.logs.some((l) => l.event === "kv_write" && l.after === "fetch_failed"), JSON.stringify(a.logs));
    } finally {
      await a.stop();
    }
    // A new isolate (new workerd) sharing KV, within the cooldown.
    const b = await startWorker({ config, origin: origin.url, kvPersist: dir });
    try {
      const results = await Promise.all(
        Array.from({ length: 5 }, () =>
          b.fetch("/orders/1", { headers: bearer(token) }).then(async (r) => ({ status: r.status, reason: (await r.json()).reason })),
        ),
      );
      for (const r of results) assert.deepEqual(r, { status: 503, reason: "keys_unavailable" });
      assert.equal(down.hits.length - first, 0, `IdP requests from the second isolate: ${JSON.stringify(down.hits.slice(first))}`);
      assert.ok(await until(() => b.logs.some((l) => l.event === "key_load" && l.source === "kv" && !l.error)), "KV was read at start");
      assert.ok(!b.logs.some((l) => l.event === "key_fetch"), "no key fetch in the second isolate");
    } finally {
      await b.stop();
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

describe("key fetches: size cap, redirects, a hung IdP", () => {
  let origin;
  before(async () => {
    origin = await startOrigin();
  });
  after(async () => {
    await origin?.stop();
  });

  // A configuration whose issuers are `${base}/${name}` with their key set
  // at `${base}/${name}/jwks` (no discovery).
  const issuersConfig = (base, names, keys = {}) => {
    const config = gateConfig({ issuer: `${base}/${names[0]}` }, { keys });
    config.issuers = names.map((n) => ({ ...config.issuers[0], issuer: `${base}/${n}`, jwks_uri: `${base}/${n}/jwks` }));
    return config;
  };
  const status = async (w, token) => {
    const r = await w.fetch("/orders/1", { headers: bearer(token) });
    const body = r.headers.get("content-type") === "application/json" ? await r.json() : await r.text();
    return { status: r.status, body };
  };

  it("defect 14: a key set streamed without Content-Length is read only up to max_response_bytes, then refused as too large", async (t) => {
    // An IdP that streams JSON forever, 16 KB every 5 ms, and never sets
    // Content-Length: a host that reads the body whole never gets an end.
    const stream = { written: 0, aborted: false, timer: null };
    const srv = await startServer((req, res) => {
      res.writeHead(200, { "content-type": "application/json" });
      res.write('{"keys":[');
      const filler = Buffer.alloc(16 * 1024, 0x20);
      stream.timer = setInterval(() => {
        stream.written += filler.length;
        res.write(filler);
      }, 5);
      res.on("close", () => {
        clearInterval(stream.timer);
        stream.aborted = !res.writableFinished;
      });
    });
    t.after(() => srv.stop());
    const w = await startWorker({ config: issuersConfig(srv.url, ["huge"], { max_response_bytes: 65536, fetch_timeout: 10 }), origin: origin.url });
    try {
      const started = Date.now();
      const got = await status(w, forgedToken(`${srv.url}/huge`, "k"));
      const took = Date.now() - started;
      assert.equal(got.status, 503, JSON.stringify(got.body));
      assert.equal(got.body.reason, "keys_unavailable");
      assert.ok(took < 3000, `refused in ${took} ms, long before fetch_timeout (10 s)`);
      const line = await until(() => w.logs.find((l) => l.event === "key_fetch" && l.error));
      assert.match(line.error, /exceeds keys\.max_response_bytes \(65536\)/, line.error);
      assert.equal(line.cut, true);
      assert.equal(line.bytes, 65537);
      assert.ok(await until(() => stream.aborted, 3000), "the IdP saw the client stop reading");
      assert.ok(stream.written < 4 * 1024 * 1024, `the IdP wrote ${stream.written} bytes`);
      assert.deepEqual(srv.hits, ["/huge/jwks"]);
    } finally {
      clearInterval(stream.timer);
      await w.stop();
    }
  });

  it("defect 14: key fetch redirects follow the core's rule: same loopback origin followed; another port, plain http elsewhere, and a sixth hop refused unfetched", async (t) => {
    const key = await es256Key("r1");
    const other = await startServer((req, res) => {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify(key.jwks));
    });
    t.after(() => other.stop());
    const srv = await startServer((req, res) => {
      const u = new URL(req.url, "http://x");
      const go = (location) => {
        res.writeHead(302, { location });
        res.end();
      };
      if (u.pathname === "/same/jwks") return go("/same/keys");
      if (u.pathname === "/same/keys") {
        res.writeHead(200, { "content-type": "application/json" });
        return res.end(JSON.stringify(key.jwks));
      }
      if (u.pathname === "/port/jwks") return go(`${other.url}/port/keys`);
      if (u.pathname === "/away/jwks") return go("http://keys.example.invalid/away/keys");
      if (u.pathname === "/loop/jwks") return go(`/loop/jwks?n=${Number(u.searchParams.get("n") ?? 0) + 1}`);
      res.writeHead(404);
      res.end();
    });
    t.after(() => srv.stop());
    const w = await startWorker({ config: issuersConfig(srv.url, ["same", "port", "away", "loop"]), origin: origin.url });
    try {
      let got = await status(w, await key.sign(`${srv.url}/same`));
      assert.equal(got.status, 200, JSON.stringify(got.body));
      assert.equal(got.body.headers["x-auth-subject"], "svc");
      assert.deepEqual(srv.hits, ["/same/jwks", "/same/keys"]);
      const fetched = await until(() => w.logs.find((l) => l.event === "key_fetch" && l.issuer === `${srv.url}/same`));
      assert.equal(fetched.redirects, 1);
      assert.equal(fetched.final_url, `${srv.url}/same/keys`);

      for (const [name, error] of [
        ["port", new RegExp(`redirect to "http://127\\.0\\.0\\.1:${other.port}/port/keys" refused`)],
        ["away", /redirect to "http:\/\/keys\.example\.invalid\/away\/keys" refused/],
        ["loop", /more than 5 redirects/],
      ]) {
        got = await status(w, await key.sign(`${srv.url}/${name}`));
        assert.equal(got.status, 503, `${name}: ${JSON.stringify(got.body)}`);
        assert.equal(got.body.reason, "keys_unavailable");
        const line = await until(() => w.logs.find((l) => l.event === "key_fetch" && l.issuer === `${srv.url}/${name}` && l.error));
        assert.match(line.error, error, `${name}: ${line.error}`);
      }
      assert.deepEqual(other.hits, [], "the other port was never fetched");
      assert.equal(srv.hits.filter((h) => h.startsWith("/loop/")).length, 6, "the first request and 5 followed hops");
    } finally {
      await w.stop();
    }
  });

  it("defect 14: https to https redirects are followed, https to plain http is refused without fetching it", async (t) => {
    const key = await es256Key("h1");
    const seen = [];
    const w = await startWorker({
      config: (() => {
        const c = gateConfig({ issuer: "https://idp.test" });
        c.issuers = [
          { ...c.issuers[0], issuer: "https://idp.test", jwks_uri: "https://idp.test/jwks" },
          { ...c.issuers[0], issuer: "https://idp2.test", jwks_uri: "https://idp2.test/jwks" },
        ];
        return c;
      })(),
      origin: "https://origin.test",
      outboundService: (request) => {
        seen.push(request.url);
        const u = new URL(request.url);
        if (request.url === "https://idp.test/jwks") return new Response(null, { status: 301, headers: { location: "https://keys.test/idp/jwks" } });
        if (request.url === "https://keys.test/idp/jwks") return Response.json(key.jwks);
        if (request.url === "https://idp2.test/jwks") return new Response(null, { status: 307, headers: { location: "http://keys.test/idp2/jwks" } });
        if (u.origin === "https://origin.test") return Response.json({ headers: Object.fromEntries(request.headers) });
        return Response.json(key.jwks);
      },
    });
    try {
      let got = await status(w, await key.sign("https://idp.test"));
      assert.equal(got.status, 200, JSON.stringify(got.body));
      assert.equal(got.body.headers["x-auth-subject"], "svc");
      got = await status(w, await key.sign("https://idp2.test"));
      assert.equal(got.status, 503, JSON.stringify(got.body));
      const line = await until(() => w.logs.find((l) => l.event === "key_fetch" && l.issuer === "https://idp2.test" && l.error));
      assert.match(line.error, /redirect to "http:\/\/keys\.test\/idp2\/jwks" refused/);
      assert.deepEqual(
        seen.filter((u) => !u.startsWith("https://origin.test")),
        ["https://idp.test/jwks", "https://keys.test/idp/jwks", "https://idp2.test/jwks"],
      );
    } finally {
      await w.stop();
    }
  });

  it("defect 13: a hung IdP, an empty cache and 5 concurrent requests: 1 IdP request, every request 503 within fetch_timeout + 1.5 s", async (t) => {
    // Accepts connections, reads requests, never answers.
    const hung = await startServer(() => {});
    t.after(() => hung.stop());
    const config = gateConfig({ issuer: hung.url }, { keys: { fetch_timeout: 2 } });
    const w = await startWorker({ config, origin: origin.url, kvPersist: tmpDir("hung") });
    try {
      // The isolate is loaded first (settings, KV), so only the flight is timed.
      const warm = await w.fetch("/health");
      assert.equal(warm.status, 200);
      await warm.arrayBuffer();
      const started = Date.now();
      const results = await Promise.all(
        Array.from({ length: 5 }, (_, i) =>
          w.fetch("/orders/1", { headers: bearer(forgedToken(hung.url, `k${i}`)) }).then(async (r) => ({
            status: r.status,
            reason: (await r.json()).reason,
            ms: Date.now() - started,
          })),
        ),
      );
      for (const r of results) {
        assert.equal(r.status, 503, JSON.stringify(results));
        assert.equal(r.reason, "keys_unavailable");
        assert.ok(r.ms <= 3500, `answered after ${r.ms} ms: ${JSON.stringify(results)}`);
      }
      assert.equal(hung.hits.length, 1, `IdP requests: ${JSON.stringify(hung.hits)}`);
      assert.equal(hung.hits[0], "/.well-known/openid-configuration");
    } finally {
      await w.stop();
    }
  });

  it("defect 13: with a slow KV before the IdP, the whole flight still ends within fetch_timeout (the IdP gets what KV left)", async (t) => {
    // EDGEWARD_KV is a KV look-alike whose get() answers after 3 s (longer than
    // the Worker's 1.5 s KV timeout); the IdP never answers. A flight that
    // gave KV its 1.5 s and then the IdP a full fetch_timeout would answer
    // after ~3.5 s.
    const hung = await startServer(() => {});
    t.after(() => hung.stop());
    const config = gateConfig({ issuer: hung.url }, { keys: { fetch_timeout: 2 }, issuer: { jwks_uri: `${hung.url}/jwks` } });
    const w = await startWorker({
      config,
      origin: origin.url,
      kv: false,
      // A wrapped binding: a plain object in the gate's own isolate, whose
      // get() answers after 3 s.
      wrappedBindings: { EDGEWARD_KV: { scriptName: "slow-kv" } },
      others: [
        {
          name: "slow-kv",
          modules: true,
          script: `export default function () {
  return {
    async get(key, options) { await scheduler.wait(3000); return null; },
    async getWithMetadata(key, options) { await scheduler.wait(3000); return { value: null, metadata: null }; },
    async put(key, value, options) {},
    async list() { return { keys: [], list_complete: true }; },
    async delete(key) {},
  };
}`,
        },
      ],
    });
    try {
      const warm = await w.fetch("/health");
      assert.equal(warm.status, 200);
      await warm.arrayBuffer();
      assert.ok(await until(() => w.logs.some((l) => l.event === "key_load" && l.error)), "KV was read (and timed out) at start: the binding is used");
      const started = Date.now();
      const results = await Promise.all(
        Array.from({ length: 5 }, (_, i) =>
          w.fetch("/orders/1", { headers: bearer(forgedToken(hung.url, `k${i}`)) }).then(async (r) => ({
            status: r.status,
            reason: (await r.json()).reason,
            ms: Date.now() - started,
          })),
        ),
      );
      for (const r of results) {
        assert.equal(r.status, 503, JSON.stringify(results));
        assert.equal(r.reason, "keys_unavailable");
        assert.ok(r.ms <= 2750, `answered after ${r.ms} ms: ${JSON.stringify(results)}`);
      }
      assert.deepEqual(hung.hits, ["/jwks"]);
      const kvLine = await until(() => w.logs.filter((l) => l.event === "kv_error" && l.op === "get").at(-1));
      assert.match(kvLine?.error ?? "", /no answer within 1000 ms/, JSON.stringify(kvLine));
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

  it("a bad ORIGIN is a 500 naming ORIGIN on every request, never a forward", async () => {
    for (const bad of ["ftp://origin.test", "https://origin.test/?x=1", "https://origin test", "https://origin.test\u0000x", "https://"]) {
      const w = await startWorker({ config: gateConfig(idp), origin: bad });
      const before = origin.seen.length;
      try {
        const r = await w.fetch("/orders/1", { headers: bearer(await idp.token()) });
        assert.equal(r.status, 500, bad);
        assert.equal((await r.json()).reason, "config_invalid");
        const line = await until(() => w.logs.find((l) => l.event === "config_error"));
        assert.match(line?.error ?? "", /ORIGIN/, JSON.stringify(line));
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
      const line = await until(() => w.logs.find((l) => l.event === "decision" && l.outcome === "report_only" && l.reason === "scope_missing"));
      assert.ok(line);
      assert.equal(line.status, 403, "the status enforce mode would send");
      assert.equal(line.issuer, idp.issuer);
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

describe("observability: decision lines and Analytics Engine", () => {
  let idp, origin;
  before(async () => {
    idp = await startIdp({ tag: "obs" });
    origin = await startOrigin();
  });
  after(async () => {
    await idp?.stop().catch(() => {});
    await origin?.stop();
  });

  // The recorder stands in for the dataset (Miniflare's local Analytics
  // Engine binding drops every point): it logs what the Worker writes.
  const recorder = {
    name: "ae-recorder",
    modules: true,
    script: `export default function () {
  return { writeDataPoint(p) { console.log(JSON.stringify({ event: "test_data_point", point: p })); } };
}`,
  };

  it("EDGEWARD_LOG_SAMPLE=1 logs every allow; =0 none, while refusals are always logged; no token material in any line", async () => {
    const t = await idp.token(RESOURCES.rs256, "orders:read");
    const forged = forgedToken(idp.issuer, "no-such-kid");
    const allowLines = async (sample) => {
      const w = await startWorker({ config: gateConfig(idp), origin: origin.url, bindings: { EDGEWARD_LOG_SAMPLE: sample } });
      try {
        for (let i = 0; i < 4; i++) {
          const r = await w.fetch(`/orders/${i}`, { headers: bearer(t) });
          assert.equal(r.status, 200);
          await r.arrayBuffer();
        }
        const d = await w.fetch("/orders/x", { headers: { ...bearer(forged), traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01" } });
        assert.equal(d.status, 401);
        await d.arrayBuffer();
        const denied = await until(() => w.logs.find((l) => l.event === "decision" && l.outcome === "deny"));
        assert.ok(denied, `sample ${sample}: the refusal is logged`);
        assert.equal(denied.reason, "key_not_found");
        assert.equal(denied.issuer, null, "a forged token's issuer is not verified");
        assert.equal(denied.unverified_issuer, idp.issuer);
        assert.equal(denied.kid, "no-such-kid");
        assert.equal(denied.traceparent, "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
        assert.equal(denied.cf_ray, undefined, "no cf-ray header, no field");
        for (const l of w.logs) {
          const text = JSON.stringify(l);
          for (const part of [...t.split("."), ...forged.split(".")]) assert.ok(!text.includes(part), `token material in ${text}`);
        }
        return w.logs.filter((l) => l.event === "decision" && l.outcome === "allow" && !l.key_fetch);
      } finally {
        await w.stop();
      }
    };
    const all = await allowLines("1");
    assert.equal(all.length, 3, JSON.stringify(all)); // the first allow waited for keys: logged as such
    assert.ok(all.every((l) => l.sample_rate === 1 && l.issuer === idp.issuer && l.route === "/orders/**" && l.identity === "jwt"));
    assert.deepEqual(all.map((l) => l.jwt_cache), ["hit", "hit", "hit"], "the same token: the verdict cache answers");
    assert.equal((await allowLines(0)).length, 0);
  });

  it("a new isolate's log: its start line first, after its first verdict, naming the backend that verifies; then the lines it held, in order", async () => {
    for (const [flags, crypto] of [[["nodejs_compat"], "node:crypto"], [[], "webcrypto"]]) {
      const w = await startWorker({ config: gateConfig(idp), origin: origin.url, compatibilityFlags: flags });
      try {
        // A refusal needs no keys: the synchronous path decides the first request.
        const r = await w.fetch("/orders/1");
        assert.equal(r.status, 401);
        await r.arrayBuffer();
        await until(() => w.logs.find((l) => l.event === "decision"));
        const events = w.logs.map((l) => l.event);
        assert.equal(events[0], "start", JSON.stringify(events));
        assert.equal(w.logs[0].crypto, crypto);
        assert.equal(events.filter((e) => e === "start").length, 1);
        assert.ok(events.indexOf("key_load") > 0, "the KV read at start is logged, after the start line");
        assert.ok(events.indexOf("key_load") < events.indexOf("decision"), JSON.stringify(events));
        // A second request: one more decision line, no second start line.
        const again = await w.fetch("/orders/1");
        assert.equal(again.status, 401);
        await again.arrayBuffer();
        await until(() => w.logs.filter((l) => l.event === "decision").length === 2);
        assert.equal(w.logs.filter((l) => l.event === "start").length, 1);
      } finally {
        await w.stop();
      }
    }
  });

  it("a bad EDGEWARD_LOG_SAMPLE is a configuration error naming the var", async () => {
    const w = await startWorker({ config: gateConfig(idp), origin: origin.url, bindings: { EDGEWARD_LOG_SAMPLE: "often" } });
    try {
      const r = await w.fetch("/health");
      assert.equal(r.status, 500);
      await r.arrayBuffer();
      const line = await until(() => w.logs.find((l) => l.event === "config_error"));
      assert.match(line.error, /EDGEWARD_LOG_SAMPLE must be a number from 0 to 1.*"often"/);
    } finally {
      await w.stop();
    }
  });

  it("EDGEWARD_ANALYTICS: one data point per decision with the documented layout", async () => {
    const w = await startWorker({
      config: gateConfig(idp),
      origin: origin.url,
      bindings: { EDGEWARD_LOG_SAMPLE: "0" },
      wrappedBindings: { EDGEWARD_ANALYTICS: { scriptName: "ae-recorder" } },
      others: [recorder],
    });
    try {
      const t = await idp.token(RESOURCES.rs256, "orders:read");
      for (const [path, headers, status] of [
        ["/orders/1", bearer(t), 200],
        ["/orders/2", bearer(t), 200],
        ["/orders/3", {}, 401],
        ["/health", {}, 200],
      ]) {
        const r = await w.fetch(path, { headers });
        assert.equal(r.status, status, path);
        await r.arrayBuffer();
      }
      const points = await until(() => {
        const p = w.logs.filter((l) => l.event === "test_data_point").map((l) => l.point);
        return p.length >= 4 && p;
      });
      assert.equal(points.length, 4, JSON.stringify(points));
      const [fetched, cached, missing, health] = points;
      assert.deepEqual(fetched.indexes, ["/orders/**"]);
      assert.deepEqual(fetched.blobs.slice(0, 5), ["allow", "", "/orders/**", idp.issuer, "GET"]);
      assert.equal(fetched.blobs[6], "obs-rs256");
      assert.equal(fetched.blobs[8], "jwt");
      assert.equal(fetched.doubles[0], 200);
      assert.equal(typeof fetched.doubles[1], "number");
      assert.equal(fetched.doubles[2], 1, "waited for the key set");
      assert.equal(fetched.doubles[3], 0, "verdict cache miss");
      assert.equal(cached.doubles[2], 0);
      assert.equal(cached.doubles[3], 1, "verdict cache hit");
      assert.deepEqual(missing.blobs.slice(0, 5), ["deny", "token_missing", "/orders/**", "", "GET"]);
      assert.equal(missing.doubles[0], 401);
      assert.equal(missing.doubles[3], -1, "no JWT looked at");
      assert.deepEqual(health.blobs.slice(0, 3), ["allow", "", "/health"]);
      assert.equal(health.blobs[8], "anonymous");
      assert.ok(!w.logs.some((l) => l.event === "decision" && l.outcome === "allow" && !l.key_fetch), "sample 0: no plain allow logged");
    } finally {
      await w.stop();
    }
  });

  it("Miniflare's own Analytics Engine binding is taken as the dataset (its local writes are dropped)", async () => {
    const w = await startWorker({ config: gateConfig(idp), origin: origin.url, analytics: true });
    try {
      const r = await w.fetch("/orders/1");
      assert.equal(r.status, 401);
      await r.arrayBuffer();
      const start = await until(() => w.logs.find((l) => l.event === "start"));
      assert.equal(start.analytics, "EDGEWARD_ANALYTICS");
      await until(() => w.logs.find((l) => l.event === "decision"));
      assert.ok(!w.logs.some((l) => l.event === "analytics_error"), JSON.stringify(w.logs));
    } finally {
      await w.stop();
    }
  });
});
