// The Fastify plugin (gate.fastify()) in real Fastify apps on loopback:
// registration and request.identity, encapsulation, the error-handler path,
// the gate's own answers (CORS preflight, RFC 9728 metadata), optional
// routes. Every conformance case also goes through Fastify in seam.test.js.
import assert from "node:assert/strict";
import Fastify from "fastify";
import fp from "fastify-plugin";
import { EdgewardError, createGate } from "edgeward";
import { test } from "./harness.js";
import { Signer, baseConfig, clock, fakeFetch } from "./fixtures.js";

const es = new Signer("ES256", "ec-1");
const jwks = { keys: [es.jwk()] };
const gateFor = (top) => createGate(baseConfig({ top }), { fetch: fakeFetch(jwks), now: clock() });
const bearer = (claims) => ({ authorization: `Bearer ${es.mint(claims)}` });

/** Starts `app` on a free loopback port; resolves to its base URL. */
async function listen(app) {
  await app.listen({ port: 0, host: "127.0.0.1" });
  return `http://127.0.0.1:${app.server.address().port}`;
}

test("fastify: app.register(gate.fastify()): refusals answered, request.identity and edited headers in the handler", async () => {
  const app = Fastify();
  app.register(gateFor().fastify());
  app.get("/orders/:id", async (request) => ({
    id: request.params.id,
    sub: request.identity.subject,
    scopes: request.identity.scopes,
    header: request.headers["x-auth-subject"],
    outcome: request.edgeward.outcome,
  }));
  app.get("/health", async (request) => ({ spoofed: request.headers["x-auth-subject"] ?? null, kind: request.identity.kind }));
  const base = await listen(app);
  try {
    let res = await fetch(`${base}/orders/7`, { headers: { ...bearer(), "x-auth-subject": "root" } });
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { id: "7", sub: "alice", scopes: ["orders:read"], header: "alice", outcome: "allow" });

    res = await fetch(`${base}/orders/7`);
    assert.equal(res.status, 401);
    assert.equal(res.headers.get("www-authenticate"), 'Bearer realm="orders"');
    assert.equal(res.headers.get("content-type"), "application/json");
    assert.equal((await res.json()).reason, "token_missing");

    res = await fetch(`${base}/orders/7`, { method: "POST", headers: bearer() });
    // No POST route in Fastify, but the gate runs first (onRequest of the 404 handler too).
    assert.equal(res.status, 403);
    assert.match(res.headers.get("www-authenticate"), /error="insufficient_scope", .*scope="orders:write"/);

    res = await fetch(`${base}/health`, { headers: { "x-auth-subject": "root" } });
    assert.deepEqual(await res.json(), { spoofed: null, kind: "anonymous" });
  } finally {
    await app.close();
  }
});

test("fastify: encapsulation: the plugin gates the context it is registered in, not its siblings", async () => {
  const app = Fastify();
  app.get("/open", async (request) => ({ identity: request.identity ?? null }));
  app.register(async (child) => {
    child.register(gateFor().fastify());
    child.get("/orders/:id", async (request) => ({ sub: request.identity.subject }));
  });
  const base = await listen(app);
  try {
    // /open is not in the gated context: no token needed, nothing decorated.
    let res = await fetch(`${base}/open`);
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { identity: null });
    res = await fetch(`${base}/orders/1`);
    assert.equal(res.status, 401);
    res = await fetch(`${base}/orders/1`, { headers: bearer() });
    assert.deepEqual(await res.json(), { sub: "alice" });
  } finally {
    await app.close();
  }
});

test("fastify: wrapped once more by fastify-plugin itself, it still works", async () => {
  const gate = gateFor();
  const app = Fastify();
  app.register(fp(gate.fastify()));
  app.get("/orders/:id", async (request) => ({ sub: request.identity.subject }));
  const base = await listen(app);
  try {
    assert.equal((await fetch(`${base}/orders/1`)).status, 401);
    assert.deepEqual(await (await fetch(`${base}/orders/1`, { headers: bearer() })).json(), { sub: "alice" });
  } finally {
    await app.close();
  }
});

test("fastify: { throwErrors: true } hands refusals to Fastify's error handler (custom and default)", async () => {
  const custom = Fastify();
  custom.register(gateFor().fastify({ throwErrors: true }));
  let caught = null;
  custom.setErrorHandler((err, request, reply) => {
    caught = err;
    reply.code(err.statusCode).header("www-authenticate", err.headers["www-authenticate"]).send({ mine: err.code });
  });
  custom.get("/orders/:id", async () => ({ ok: true }));
  // Through register's options, with the default error handler.
  const plain = Fastify();
  plain.register(gateFor().fastify(), { throwErrors: true });
  plain.get("/orders/:id", async () => ({ ok: true }));
  const [a, b] = [await listen(custom), await listen(plain)];
  try {
    let res = await fetch(`${a}/orders/1`);
    assert.equal(res.status, 401);
    assert.deepEqual(await res.json(), { mine: "token_missing" });
    assert.ok(caught instanceof EdgewardError);
    assert.equal(caught.statusCode, 401);
    assert.equal(res.headers.get("www-authenticate"), 'Bearer realm="orders"');

    res = await fetch(`${b}/orders/1`, { headers: bearer({ exp: 1 }) });
    assert.equal(res.status, 401);
    assert.match(res.headers.get("www-authenticate"), /error="invalid_token"/);
    const body = await res.json();
    assert.equal(body.statusCode, 401);
    assert.equal(body.code, "token_expired");
    // A valid token still reaches the handler.
    res = await fetch(`${b}/orders/1`, { headers: bearer() });
    assert.deepEqual(await res.json(), { ok: true });
  } finally {
    await custom.close();
    await plain.close();
  }
});

test("fastify: the gate's own answers (CORS preflight, RFC 9728 metadata) are served; CORS headers on allows", async () => {
  const gate = gateFor({
    routes: [{ path: "/orders/**" }],
    cors: { allowed_origins: ["https://app.test"] },
    resource: { identifier: "https://api.test/orders" },
  });
  const app = Fastify();
  app.register(gate.fastify({ throwErrors: true }));
  let reached = 0;
  app.all("*", async (request, reply) => {
    reached++;
    reply.header("vary", "Accept");
    return { ok: true };
  });
  const base = await listen(app);
  try {
    let res = await fetch(`${base}/orders/1`, {
      method: "OPTIONS",
      headers: { origin: "https://app.test", "access-control-request-method": "GET" },
    });
    assert.equal(res.status, 204);
    assert.equal(res.headers.get("access-control-allow-origin"), "https://app.test");

    res = await fetch(`${base}/.well-known/oauth-protected-resource/orders`);
    assert.equal(res.status, 200);
    assert.equal((await res.json()).resource, "https://api.test/orders");
    assert.equal(reached, 0);

    res = await fetch(`${base}/orders/1`, { headers: { ...bearer(), origin: "https://app.test" } });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("access-control-allow-origin"), "https://app.test");
    assert.equal(res.headers.get("vary"), "Accept, Origin");
    assert.equal(reached, 1);
  } finally {
    await app.close();
  }
});

test("fastify: an optional route runs without a token (anonymous identity), refuses a bad one", async () => {
  const gate = gateFor({
    routes: [{ path: "/feed", access: "optional" }],
  });
  const app = Fastify();
  app.register(gate.fastify());
  app.get("/feed", async (request) => ({ kind: request.identity.kind, sub: request.headers["x-auth-subject"] ?? null }));
  const base = await listen(app);
  try {
    assert.deepEqual(await (await fetch(`${base}/feed`)).json(), { kind: "anonymous", sub: null });
    assert.deepEqual(await (await fetch(`${base}/feed`, { headers: bearer() })).json(), { kind: "jwt", sub: "alice" });
    assert.equal((await fetch(`${base}/feed`, { headers: { authorization: "Bearer a.b.c" } })).status, 401);
  } finally {
    await app.close();
  }
});

test("fastify: bad plugin options are refused by name", () => {
  const gate = gateFor();
  assert.throws(() => gate.fastify({ throwError: true }), /unknown option "throwError"; use throwErrors/);
  assert.throws(() => gate.fastify({ throwErrors: "yes" }), /throwErrors must be a boolean/);
});
