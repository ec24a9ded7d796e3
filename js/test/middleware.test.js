// Middleware: Hono (app.request, every runtime) and Express / Connect /
// node:http (a real server on loopback, every runtime's node:http).
import assert from "node:assert/strict";
import http from "node:http";
import { Hono } from "hono";
import express from "express";
import { createGate } from "edgeward";
import { test } from "./harness.js";
import { Signer, baseConfig, clock, fakeFetch } from "./fixtures.js";

const es = new Signer("ES256", "ec-1");
const jwks = { keys: [es.jwk()] };
const gateFor = () => createGate(baseConfig(), { fetch: fakeFetch(jwks), now: clock() });

test("hono: refuses with the core's answer; the identity reaches the handler", async () => {
  const gate = gateFor();
  const app = new Hono();
  app.use("*", gate.hono());
  app.get("/health", (c) => c.text("ok"));
  app.get("/orders/:id", (c) => c.json({ id: c.req.param("id"), sub: c.get("identity").subject, scopes: c.get("identity").scopes }));
  app.post("/orders/:id", (c) => c.json({ posted: true }));
  app.get("/users/:user/profile", (c) => c.json({ user: c.req.param("user") }));

  let res = await app.request("/orders/7", { headers: { authorization: `Bearer ${es.mint()}` } });
  assert.equal(res.status, 200);
  assert.deepEqual(await res.json(), { id: "7", sub: "alice", scopes: ["orders:read"] });

  res = await app.request("/orders/7");
  assert.equal(res.status, 401);
  assert.equal(res.headers.get("www-authenticate"), 'Bearer realm="orders"');
  assert.equal((await res.json()).reason, "token_missing");

  res = await app.request("/orders/7", { method: "POST", headers: { authorization: `Bearer ${es.mint()}` } });
  assert.equal(res.status, 403);
  assert.match(res.headers.get("www-authenticate"), /error="insufficient_scope", .*scope="orders:write"/);

  res = await app.request("/users/bob/profile", { headers: { authorization: `Bearer ${es.mint()}` } });
  assert.equal(res.status, 403);
  assert.equal((await res.json()).reason, "owner_mismatch");
  res = await app.request("/users/alice/profile", { headers: { authorization: `Bearer ${es.mint()}` } });
  assert.equal(res.status, 200);

  res = await app.request("/health");
  assert.equal(await res.text(), "ok");
  res = await app.request("/admin");
  assert.equal(res.status, 403);
  assert.equal((await res.json()).reason, "route_denied");
});

async function serve(handler) {
  const server = http.createServer(handler);
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  const base = `http://127.0.0.1:${server.address().port}`;
  return { base, close: () => new Promise((r) => server.close(r)) };
}

test("express: refuses or sets req.auth and the identity headers; spoofed ones are stripped", async () => {
  const gate = gateFor();
  const app = express();
  app.use(gate.express());
  app.get("/orders/:id", (req, res) =>
    res.json({
      id: req.params.id,
      auth: req.auth.subject,
      header: req.get("x-auth-subject"),
      raw: req.rawHeaders.filter((h, i) => i % 2 === 0 && h.toLowerCase() === "x-auth-subject").length,
    }),
  );
  const mounted = express.Router();
  mounted.get("/:id", (req, res) => res.json({ sub: req.auth.subject }));
  app.use("/users/alice", mounted);
  const s = await serve(app);
  try {
    let res = await fetch(`${s.base}/orders/7`, {
      headers: { authorization: `Bearer ${es.mint()}`, "x-auth-subject": "mallory" },
    });
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { id: "7", auth: "alice", header: "alice", raw: 1 });

    res = await fetch(`${s.base}/orders/7`, { headers: { authorization: `Bearer ${es.mint({ exp: 1 })}` } });
    assert.equal(res.status, 401);
    assert.match(res.headers.get("www-authenticate"), /error="invalid_token"/);
    assert.equal(res.headers.get("content-type"), "application/json");
    assert.equal((await res.json()).reason, "token_expired");

    // A router mounted at /users/alice sees req.url = "/x"; the gate uses the full path.
    res = await fetch(`${s.base}/users/alice/x`, { headers: { authorization: `Bearer ${es.mint({ sub: "bob" })}` } });
    assert.equal(res.status, 403);
    res = await fetch(`${s.base}/users/alice/x`, { headers: { authorization: `Bearer ${es.mint()}` } });
    assert.equal(res.status, 200);
  } finally {
    await s.close();
  }
});

test("node:http: connect-style middleware; repeated Authorization headers are a 400", async () => {
  const gate = gateFor();
  const mw = gate.connect();
  const s = await serve((req, res) =>
    mw(req, res, (err) => {
      if (err) {
        res.statusCode = 500;
        res.end(String(err));
        return;
      }
      res.setHeader("content-type", "application/json");
      res.end(JSON.stringify({ sub: req.auth.subject, header: req.headers["x-auth-subject"] }));
    }),
  );
  try {
    let res = await fetch(`${s.base}/orders/1`, { headers: { authorization: `Bearer ${es.mint()}` } });
    assert.deepEqual(await res.json(), { sub: "alice", header: "alice" });
    // Node keeps only the first Authorization in req.headers; rawHeaders has both.
    const status = await new Promise((resolve, reject) => {
      const req = http.request(`${s.base}/orders/1`, { headers: [["authorization", `Bearer ${es.mint()}`], ["authorization", `Bearer ${es.mint()}`]].flat() });
      req.on("response", (r) => {
        r.resume();
        resolve(r.statusCode);
      });
      req.on("error", reject);
      req.end();
    });
    assert.equal(status, 400);
  } finally {
    await s.close();
  }
});
