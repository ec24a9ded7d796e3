// Observability: options.onDecision gets one event per decision (the
// core's DecisionEvent plus latency_ms and key_fetch) and gate.metrics()
// counts under the Envoy filter's names, through a real Express app in
// front of a real OpenID provider (oidc-provider on loopback).
import assert from "node:assert/strict";
import http from "node:http";
import express from "express";
import { createGate } from "edgeward";
import { test } from "./harness.js";
import { resourceFor, startIdp } from "./fixtures.js";

async function serve(app) {
  const server = http.createServer(app);
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  const base = `http://127.0.0.1:${server.address().port}`;
  return { base, close: () => new Promise((r) => server.close(r)) };
}

const config = (idp) => ({
  issuers: [{ issuer: idp.issuer, audiences: [resourceFor("ES256")] }],
  routes: [
    { path: "/health", access: "anonymous" },
    { path: "/orders/**", scopes: { any: ["orders:read"] } },
    { path: "/admin/**", scopes: { all: ["admin"] } },
  ],
});

test("onDecision: one event per decision with the shared fields; metrics() counts them", async () => {
  const idp = await startIdp();
  const events = [];
  const gate = createGate(config(idp), { onDecision: (e) => events.push(e) });
  const app = express();
  app.use(gate.express());
  app.get("*splat", (req, res) => res.json({ ok: true }));
  const s = await serve(app);
  try {
    const t = await idp.token("ES256");
    const [h, p] = t.split(".");
    const forged = `${h}.${p}.${Buffer.alloc(64, 1).toString("base64url")}`;
    const get = (path, token, extra = {}) =>
      fetch(`${s.base}${path}`, { headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...extra } }).then((r) => r.status);
    assert.equal(await get("/orders/1?secret=x", t), 200);
    assert.equal(await get("/orders/2", t), 200);
    assert.equal(await get("/orders/3"), 401);
    assert.equal(await get("/admin/x", t), 403);
    assert.equal(await get("/orders/4", forged), 401);
    assert.equal(await get("/health"), 200);
    assert.equal(events.length, 6, JSON.stringify(events));

    const [first, cached, missing, scope, bad, health] = events;
    assert.deepEqual(
      { ...first, latency_ms: 0 },
      {
        outcome: "allow", status: 200, reason: null, detail: null, method: "GET", path: "/orders/1", route: "/orders/**",
        issuer: idp.issuer, unverified_issuer: null, kid: JSON.parse(Buffer.from(h, "base64url")).kid, alg: "ES256",
        identity: "jwt", tenant: null, jwt_cache: "miss", latency_ms: 0, key_fetch: true,
      },
    );
    assert.equal(typeof first.latency_ms, "number");
    assert.ok(first.latency_ms >= 0);
    assert.equal(cached.key_fetch, false);
    assert.equal(cached.jwt_cache, "hit");
    assert.equal(missing.outcome, "deny");
    assert.equal(missing.status, 401);
    assert.equal(missing.reason, "token_missing");
    assert.equal(missing.jwt_cache, null);
    assert.equal(missing.identity, null);
    assert.equal(scope.reason, "scope_missing");
    assert.equal(scope.route, "/admin/**");
    assert.equal(scope.issuer, idp.issuer, "verified, then refused by the policy");
    assert.equal(bad.reason, "signature_invalid");
    assert.equal(bad.issuer, null);
    assert.equal(bad.unverified_issuer, idp.issuer);
    assert.equal(health.identity, "anonymous");
    for (const e of events) {
      const text = JSON.stringify(e);
      for (const part of t.split(".")) assert.ok(!text.includes(part), "no token material");
      assert.ok(!text.includes("edgeward-tests"), "no subject");
      assert.ok(!text.includes("secret=x"), "no query string");
    }

    const m = gate.metrics();
    assert.deepEqual(m, {
      allowed: 3,
      denied: 3,
      preflight_answered: 0,
      jwks_fetch_success: 1,
      jwks_fetch_failed: 0,
      jwt_cache_hit: 2,
      jwt_cache_miss: 2,
      "denied.scope_missing": 1,
      "denied.signature_invalid": 1,
      "denied.token_missing": 1,
    });
    const prom = gate.metrics({ format: "prometheus" });
    assert.match(prom, /^# TYPE edgeward_allowed_total counter\nedgeward_allowed_total 3\n/);
    assert.match(prom, /\nedgeward_denied_reason_total\{reason="token_missing"\} 1\n/);
    assert.match(prom, /\nedgeward_jwks_fetch_success_total 1\n/);
    assert.throws(() => gate.metrics({ format: "xml" }), TypeError);
  } finally {
    await s.close();
    idp.close();
  }
});

test("onDecision that throws changes no decision and is reported once", async () => {
  const idp = await startIdp();
  const errors = [];
  let calls = 0;
  const gate = createGate(config(idp), {
    onDecision: () => {
      calls++;
      throw new Error("hook broke");
    },
    onError: (e, where) => errors.push([e.message, where]),
  });
  const app = express();
  app.use(gate.express());
  app.get("*splat", (req, res) => res.json({ ok: true }));
  const s = await serve(app);
  try {
    const t = await idp.token("ES256");
    for (let i = 0; i < 3; i++) {
      const r = await fetch(`${s.base}/orders/${i}`, { headers: { authorization: `Bearer ${t}` } });
      assert.equal(r.status, 200);
      assert.deepEqual(await r.json(), { ok: true });
    }
    const r = await fetch(`${s.base}/orders/9`);
    assert.equal(r.status, 401);
    assert.equal(calls, 4);
    assert.deepEqual(errors, [["hook broke", "onDecision"]]);
    assert.equal(gate.metrics().allowed, 3);
  } finally {
    await s.close();
    idp.close();
  }
});

test("options.onDecision must be a function; without one, counters still count", async () => {
  assert.throws(() => createGate({ issuers: [] }, { onDecision: "log" }), /options\.onDecision/);
  const gate = createGate({ routes: [{ path: "/**", access: "anonymous" }] });
  await gate.check({ method: "GET", path: "/x", headers: {} });
  assert.equal(gate.metrics().allowed, 1);
  assert.equal(gate.metrics().jwt_cache_miss, 0);
});
