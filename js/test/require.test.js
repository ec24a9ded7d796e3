// Per-route guards in code: gate.require(rule), checked by the core against
// the identity the gate's middleware set, in real Express, Hono and Fastify
// apps. A refusal must be the one a [[routes]] entry with the same keys
// gives (status, WWW-Authenticate, body).
import assert from "node:assert/strict";
import http from "node:http";
import express from "express";
import Fastify from "fastify";
import { Hono } from "hono";
import { HTTPException } from "hono/http-exception";
import { EdgewardError, createGate } from "edgeward";
import { test } from "./harness.js";
import { AUDIENCE, ISSUER, JWKS_URI, Signer, clock, fakeFetch } from "./fixtures.js";

const es = new Signer("ES256", "ec-1");
const jwks = { keys: [es.jwk()] };

/** Every path needs a valid token (the routes table asks nothing more); /public is optional. */
function config(top = {}) {
  return {
    realm: "orders",
    issuers: [{ issuer: ISSUER, jwks_uri: JWKS_URI, audiences: [AUDIENCE] }],
    routes: [{ path: "/public/**", access: "optional" }, { path: "/**" }],
    ...top,
  };
}
const gateFor = (top) => createGate(config(top), { fetch: fakeFetch(jwks), now: clock() });
const reader = () => ({ authorization: `Bearer ${es.mint({ scope: "orders:read" })}` });
const writer = () => ({ authorization: `Bearer ${es.mint({ scope: "orders:read orders:write" })}` });
const WRITE = { scopes: { all: ["orders:write"] } };

/** What the routes table answers for the same requirement: the reference. */
async function tableRefusal(rule, headers) {
  const gate = createGate(config({ routes: [{ path: "/**", ...rule }] }), { fetch: fakeFetch(jwks), now: clock() });
  const r = await gate.check({ method: "POST", path: "/orders/1", headers });
  assert.equal(r.allowed, false);
  return { status: r.status, www: r.headers["www-authenticate"], body: JSON.parse(r.body) };
}

async function expectRefusal(res, want) {
  assert.equal(res.status, want.status);
  assert.equal(res.headers.get("www-authenticate"), want.www);
  assert.deepEqual(await res.json(), want.body);
}

async function serve(handler) {
  const server = http.createServer(handler);
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  return { base: `http://127.0.0.1:${server.address().port}`, close: () => new Promise((r) => server.close(r)) };
}

test("require: a rule is validated when made, errors naming the field", () => {
  const gate = gateFor();
  const field = (rule) => {
    try {
      gate.require(rule);
    } catch (e) {
      assert.ok(e instanceof EdgewardError);
      assert.equal(e.code, "config_invalid");
      return e.errors[0].field;
    }
    assert.fail(`accepted ${JSON.stringify(rule)}`);
  };
  assert.equal(field({ scopes: { al: ["x"] } }), "require.scopes.al");
  assert.equal(field({ scopes: { all: "orders:write" } }), "require.scopes.all");
  assert.equal(field({ scope: { all: ["x"] } }), "require.scope");
  assert.equal(field({ path: "/orders" }), "require.path");
  assert.equal(field({ owner: { user: "" } }), "require.owner.user");
  assert.equal(field({ api_tokens: "no" }), "require.api_tokens");
  assert.equal(field("orders:write"), "require");
  assert.throws(() => gate.require({ roles: { any: [1] } }), /require\.roles\.any/);
  // Every key of a route's requirements is accepted.
  gate.require({ scopes: { any: ["a"], all: ["b"] }, roles: { all: ["r"] }, permissions: { any: ["p"] }, tenants: ["t"], owner: { user: "sub" }, api_tokens: false });
  gate.require({});
});

test("require: guard.express() after gate.express(): 403 insufficient_scope as the routes table gives it; with the scope the handler runs", async () => {
  const gate = gateFor();
  const app = express();
  app.use(gate.express());
  app.post("/orders/:id", gate.require(WRITE).express(), (req, res) => res.json({ posted: req.params.id, sub: req.auth.subject }));
  app.get("/users/:user", gate.require({ owner: { user: "sub" } }).express(), (req, res) => res.json({ user: req.params.user }));
  app.get("/public/:id", gate.require({}).express(), (req, res) => res.json({ ok: true }));
  app.delete("/orders/:id", gate.require(WRITE).express({ passErrors: true }), (req, res) => res.json({ deleted: true }));
  app.use((err, req, res, next) => res.status(err.statusCode ?? 500).json({ mine: err.code, isEdgeward: err instanceof EdgewardError }));
  const s = await serve(app);
  try {
    let res = await fetch(`${s.base}/orders/1`, { method: "POST", headers: reader() });
    await expectRefusal(res, await tableRefusal(WRITE, reader()));
    assert.match(res.headers.get("www-authenticate"), /^Bearer realm="orders", error="insufficient_scope".*scope="orders:write"/);

    res = await fetch(`${s.base}/orders/1`, { method: "POST", headers: writer() });
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { posted: "1", sub: "alice" });

    // owner reads Express's path parameters.
    assert.equal((await fetch(`${s.base}/users/alice`, { headers: reader() })).status, 200);
    res = await fetch(`${s.base}/users/bob`, { headers: reader() });
    assert.equal(res.status, 403);
    assert.equal((await res.json()).reason, "owner_mismatch");

    // An optional route let an anonymous caller through; the guard asks for a token.
    res = await fetch(`${s.base}/public/1`);
    assert.equal(res.status, 401);
    assert.equal((await res.json()).reason, "token_missing");
    assert.equal((await fetch(`${s.base}/public/1`, { headers: reader() })).status, 200);

    res = await fetch(`${s.base}/orders/1`, { method: "DELETE", headers: reader() });
    assert.equal(res.status, 403);
    assert.deepEqual(await res.json(), { mine: "scope_missing", isEdgeward: true });
  } finally {
    await s.close();
  }
});

test("require: guard.hono() after gate.hono(): 403 insufficient_scope, or the handler; throwErrors throws HTTPException", async () => {
  const gate = gateFor();
  const app = new Hono();
  app.use("*", gate.hono());
  app.post("/orders/:id", gate.require(WRITE).hono(), (c) => c.json({ posted: c.req.param("id") }));
  app.get("/users/:user", gate.require({ owner: { user: "sub" } }).hono(), (c) => c.json({ user: c.req.param("user") }));
  app.delete("/orders/:id", gate.require(WRITE).hono({ throwErrors: true }), (c) => c.json({ deleted: true }));
  app.onError((err, c) => {
    if (err instanceof HTTPException) return c.json({ mine: err.cause.code }, err.status);
    return c.text(String(err), 500);
  });
  let res = await app.request("/orders/1", { method: "POST", headers: reader() });
  await expectRefusal(res, await tableRefusal(WRITE, reader()));
  res = await app.request("/orders/1", { method: "POST", headers: writer() });
  assert.equal(res.status, 200);
  assert.deepEqual(await res.json(), { posted: "1" });
  assert.equal((await app.request("/users/alice", { headers: reader() })).status, 200);
  assert.equal((await app.request("/users/bob", { headers: reader() })).status, 403);
  res = await app.request("/orders/1", { method: "DELETE", headers: reader() });
  assert.equal(res.status, 403);
  assert.deepEqual(await res.json(), { mine: "scope_missing" });
});

test("require: guard.fastify() as a preHandler after the plugin: 403 insufficient_scope, or the handler; throwErrors", async () => {
  const gate = gateFor();
  const app = Fastify();
  app.register(gate.fastify());
  app.post("/orders/:id", { preHandler: gate.require(WRITE).fastify() }, async (request) => ({ posted: request.params.id }));
  app.get("/users/:user", { preHandler: gate.require({ owner: { user: "sub" } }).fastify() }, async (request) => ({ user: request.params.user }));
  app.delete("/orders/:id", { preHandler: gate.require(WRITE).fastify({ throwErrors: true }) }, async () => ({ deleted: true }));
  await app.listen({ port: 0, host: "127.0.0.1" });
  const base = `http://127.0.0.1:${app.server.address().port}`;
  try {
    let res = await fetch(`${base}/orders/1`, { method: "POST", headers: reader() });
    await expectRefusal(res, await tableRefusal(WRITE, reader()));
    res = await fetch(`${base}/orders/1`, { method: "POST", headers: writer() });
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { posted: "1" });
    assert.equal((await fetch(`${base}/users/alice`, { headers: reader() })).status, 200);
    assert.equal((await fetch(`${base}/users/bob`, { headers: reader() })).status, 403);
    res = await fetch(`${base}/orders/1`, { method: "DELETE", headers: reader() });
    assert.equal(res.status, 403);
    assert.match(res.headers.get("www-authenticate"), /error="insufficient_scope"/);
    assert.equal((await res.json()).code, "scope_missing");
  } finally {
    await app.close();
  }
});

test("require: a guard without the gate's middleware before it is an error, not a pass", async () => {
  const gate = gateFor();
  const app = express();
  app.post("/orders/:id", gate.require(WRITE).express(), (req, res) => res.json({ reached: true }));
  app.use((err, req, res, next) => res.status(500).json({ error: err.message }));
  const s = await serve(app);
  try {
    const res = await fetch(`${s.base}/orders/1`, { method: "POST", headers: writer() });
    assert.equal(res.status, 500);
    assert.match((await res.json()).error, /mount gate\.express\(\) before the guard/);
  } finally {
    await s.close();
  }
});

test("require: report-only: the guard lets through with the core's decision header; CORS on refusals", async () => {
  const app = express();
  const gate = gateFor({ mode: "report-only" });
  app.use(gate.express());
  app.post("/orders/:id", gate.require(WRITE).express(), (req, res) => res.json({ decision: req.headers["x-edgeward-decision"] }));
  const cors = gateFor({ cors: { allowed_origins: ["https://app.test"] } });
  const app2 = express();
  app2.use(cors.express());
  app2.post("/orders/:id", cors.require(WRITE).express(), (req, res) => res.json({}));
  const [s, s2] = [await serve(app), await serve(app2)];
  try {
    let res = await fetch(`${s.base}/orders/1`, { method: "POST", headers: reader() });
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { decision: "deny; status=403; reason=scope_missing" });
    res = await fetch(`${s2.base}/orders/1`, { method: "POST", headers: { ...reader(), origin: "https://app.test" } });
    assert.equal(res.status, 403);
    assert.equal(res.headers.get("access-control-allow-origin"), "https://app.test");
  } finally {
    await s.close();
    await s2.close();
  }
});

test("require: guard.check() on an identity from verify()", async () => {
  const gate = gateFor();
  const guard = gate.require({ scopes: { any: ["orders:write", "admin"] }, api_tokens: false });
  const weak = await gate.verify(es.mint({ scope: "orders:read" }));
  const strong = await gate.verify(es.mint({ scope: "admin" }));
  assert.equal(guard.check(strong).allowed, true);
  const r = guard.check(weak);
  assert.equal(r.allowed, false);
  assert.equal(r.reason, "scope_missing");
  assert.equal(guard.check(null).reason, "token_missing");
});
