// Middleware: Hono (app.request, every runtime) and Express / Connect /
// node:http (a real server on loopback, every runtime's node:http).
import assert from "node:assert/strict";
import http from "node:http";
import { Hono } from "hono";
import { HTTPException } from "hono/http-exception";
import express from "express";
import { EdgewardError, createGate } from "edgeward";
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
    // (A raw header list gets no Host from Node: without one, Node's own 400.)
    const [status, body] = await new Promise((resolve, reject) => {
      const req = http.request(`${s.base}/orders/1`, {
        headers: [["host", "127.0.0.1"], ["authorization", `Bearer ${es.mint()}`], ["authorization", `Bearer ${es.mint()}`]].flat(),
      });
      req.on("response", (r) => {
        let text = "";
        r.on("data", (d) => (text += d));
        r.on("end", () => resolve([r.statusCode, text]));
      });
      req.on("error", reject);
      req.end();
    });
    assert.equal(status, 400);
    assert.equal(JSON.parse(body).reason, "multiple_tokens");
  } finally {
    await s.close();
  }
});

const corsConfig = () =>
  baseConfig({
    top: {
      cors: { allowed_origins: ["https://app.example.test"], max_age: 600 },
      routes: [
        { path: "/health", access: "anonymous" },
        { path: "/orders/**", methods: ["GET"], scopes: { any: ["orders:read"] } },
        { path: "/orders/**", methods: ["POST"], scopes: { all: ["orders:write"] } },
        { path: "/users/{user}/**", owner: { user: "sub" } },
      ],
    },
  });
const APP = "https://app.example.test";
const preflight = { origin: APP, "access-control-request-method": "GET" };

test("hono: client-sent identity headers never reach the handler, _ look-alikes and anonymous routes included (issue 9, defects 5, 6)", async () => {
  const gate = gateFor();
  const app = new Hono();
  app.use("*", gate.hono());
  const seen = (c) => {
    const raw = {};
    c.req.raw.headers.forEach((v, k) => (raw[k] = v));
    return c.json({ header: c.req.header(), one: c.req.header("x-auth-subject") ?? null, raw });
  };
  app.get("/health", seen);
  app.get("/orders/:id", seen);
  const spoof = [
    ["x-auth-subject", "root"],
    ["x_auth_subject", "root"],
    ["X_Auth_Issuer", "https://evil.test/"],
    ["accept", "text/plain"],
  ];
  let body = await (await app.request("/health", { headers: spoof })).json();
  for (const view of [body.header, body.raw]) {
    assert.deepEqual(Object.keys(view).sort(), ["accept"], JSON.stringify(view));
  }
  assert.equal(body.one, null);
  body = await (await app.request("/orders/7", { headers: [...spoof, ["authorization", `Bearer ${es.mint()}`]] })).json();
  for (const view of [body.header, body.raw]) {
    assert.equal(view["x-auth-subject"], "alice");
    assert.equal(view["x-auth-issuer"], "https://idp.test/");
    assert.equal(view["x_auth_subject"], undefined);
    assert.equal(view["x_auth_issuer"], undefined);
    assert.equal(view.accept, "text/plain");
  }
  assert.equal(body.one, "alice");
});

test("hono: request bodies still reach the handler after the headers are edited", async () => {
  const gate = gateFor();
  const app = new Hono();
  // An earlier middleware that reads the body (Hono caches it on c.req).
  app.use("/orders/early/*", async (c, next) => {
    await c.req.text();
    await next();
  });
  app.use("*", gate.hono());
  app.post("/orders/*", async (c) => c.json({ got: await c.req.json(), sub: c.req.header("x-auth-subject") }));
  const write = `Bearer ${es.mint({ scope: "orders:read orders:write" })}`;
  for (const path of ["/orders/7", "/orders/early/7"]) {
    const res = await app.request(path, {
      method: "POST",
      headers: { authorization: write, "content-type": "application/json", "x-auth-subject": "root" },
      body: JSON.stringify({ n: 42 }),
    });
    assert.equal(res.status, 200, path);
    assert.deepEqual(await res.json(), { got: { n: 42 }, sub: "alice" }, path);
  }
  // A streamed body too.
  const stream = new ReadableStream({
    start(c) {
      c.enqueue(new TextEncoder().encode('{"n":'));
      c.enqueue(new TextEncoder().encode("7}"));
      c.close();
    },
  });
  const res = await app.request(
    new Request("http://localhost/orders/9", {
      method: "POST",
      headers: { authorization: write, "content-type": "application/json" },
      body: stream,
      duplex: "half",
    }),
  );
  assert.deepEqual(await res.json(), { got: { n: 7 }, sub: "alice" });
});

test("hono: a CORS preflight is answered by the gate; CORS headers go on the handler's response (issue 9, defect 4)", async () => {
  const gate = createGate(corsConfig(), { fetch: fakeFetch(jwks), now: clock() });
  const app = new Hono();
  let ran = 0;
  app.use("*", gate.hono());
  app.all("/users/*", (c) => {
    ran++;
    return c.text("handler");
  });
  app.get("/orders/vary", (c) => {
    c.header("vary", "Accept-Encoding");
    return c.text("varied");
  });
  // A response whose headers cannot change (Response.redirect's).
  app.get("/orders/frozen", () => Response.redirect("https://example.test/elsewhere", 302));
  app.get("/orders/:id", (c) => c.text("order"));

  let res = await app.request("/users/alice/x", { method: "OPTIONS", headers: preflight });
  assert.equal(res.status, 204);
  assert.equal(await res.text(), "");
  assert.equal(res.headers.get("access-control-allow-origin"), APP);
  assert.equal(res.headers.get("access-control-max-age"), "600");
  assert.equal(ran, 0, "the handler did not run");

  res = await app.request("/users/alice/x", { method: "OPTIONS", headers: { ...preflight, origin: "https://evil.test" } });
  assert.equal(res.status, 403);
  assert.equal((await res.json()).reason, "preflight_refused");
  assert.equal(ran, 0);

  res = await app.request("/orders/1", { headers: { origin: APP } });
  assert.equal(res.status, 401);
  assert.equal(res.headers.get("access-control-allow-origin"), APP);

  const auth = { origin: APP, authorization: `Bearer ${es.mint()}` };
  res = await app.request("/orders/1", { headers: auth });
  assert.equal(await res.text(), "order");
  assert.equal(res.headers.get("access-control-allow-origin"), APP);
  assert.equal(res.headers.get("vary"), "Origin");
  res = await app.request("/orders/vary", { headers: auth });
  assert.equal(res.headers.get("vary"), "Accept-Encoding, Origin");
  res = await app.request("/orders/frozen", { headers: auth });
  assert.equal(res.status, 302);
  assert.equal(res.headers.get("access-control-allow-origin"), APP);
  // No Origin: nothing added.
  res = await app.request("/orders/1", { headers: { authorization: auth.authorization } });
  assert.equal(res.headers.get("access-control-allow-origin"), null);
});

test("express: a CORS preflight is answered by the gate; CORS headers go on the handler's response (issue 9, defect 4)", async () => {
  const gate = createGate(corsConfig(), { fetch: fakeFetch(jwks), now: clock() });
  const app = express();
  let ran = 0;
  app.use((req, res, next) => {
    if (req.path === "/orders/vary") res.setHeader("vary", "Accept-Encoding");
    next();
  });
  app.use(gate.express());
  app.use("/users", (req, res) => {
    ran++;
    res.send("handler");
  });
  app.get("/orders/:id", (req, res) => res.send("order"));
  const s = await serve(app);
  try {
    let res = await fetch(`${s.base}/users/alice/x`, { method: "OPTIONS", headers: preflight });
    assert.equal(res.status, 204);
    assert.equal(await res.text(), "");
    assert.equal(res.headers.get("access-control-allow-origin"), APP);
    assert.equal(ran, 0, "next() was not called");

    res = await fetch(`${s.base}/orders/1`, { headers: { origin: APP } });
    assert.equal(res.status, 401);
    assert.equal(res.headers.get("access-control-allow-origin"), APP);

    const auth = { origin: APP, authorization: `Bearer ${es.mint()}` };
    res = await fetch(`${s.base}/orders/1`, { headers: auth });
    assert.equal(await res.text(), "order");
    assert.equal(res.headers.get("access-control-allow-origin"), APP);
    assert.equal(res.headers.get("vary"), "Origin");
    res = await fetch(`${s.base}/orders/vary`, { headers: auth });
    assert.equal(res.headers.get("vary"), "Accept-Encoding, Origin");
  } finally {
    await s.close();
  }
});

test("node:http: req.headers, req.rawHeaders and req.headersDistinct agree after the edits", async () => {
  const gate = gateFor();
  const mw = gate.connect();
  let seen;
  const s = await serve((req, res) => {
    // Read before the gate: the edits must reach the already-derived views.
    void req.headers;
    mw(req, res, () => {
      const raw = [];
      for (let i = 0; i < req.rawHeaders.length; i += 2) raw.push(req.rawHeaders[i].toLowerCase());
      seen = { headers: req.headers, raw, distinct: "headersDistinct" in req ? req.headersDistinct : null };
      res.end("ok");
    });
  });
  try {
    for (const path of ["/health", "/orders/1"]) {
      const status = await new Promise((resolve, reject) => {
        // A raw header list: Node adds no Host to it.
        const headers = ["host", "127.0.0.1", "x-auth-subject", "root", "X_Auth_Subject", "root", "accept", "*/*"];
        if (path !== "/health") headers.push("authorization", `Bearer ${es.mint()}`);
        const req = http.request(`${s.base}${path}`, { headers });
        req.on("response", (r) => {
          r.resume();
          resolve(r.statusCode);
        });
        req.on("error", reject);
        req.end();
      });
      assert.equal(status, 200, path);
      const want = path === "/health" ? undefined : "alice";
      assert.equal(seen.headers["x-auth-subject"], want, path);
      assert.equal(seen.headers["x_auth_subject"], undefined, path);
      assert.ok(!seen.raw.includes("x_auth_subject"), path);
      assert.equal(seen.raw.filter((n) => n === "x-auth-subject").length, want ? 1 : 0, path);
      if (seen.distinct) {
        assert.deepEqual(seen.distinct["x-auth-subject"], want && [want], path);
        assert.equal(seen.distinct["x_auth_subject"], undefined, path);
      }
    }
  } finally {
    await s.close();
  }
});

test("express: passErrors sends refusals to the app's error handler; gate answers and allows are unchanged", async () => {
  const gate = createGate(corsConfig(), { fetch: fakeFetch(jwks), now: clock() });
  assert.throws(() => gate.express({ passErors: true }), TypeError);
  assert.throws(() => gate.express({ passErrors: "yes" }), TypeError);
  const app = express();
  let reached = 0;
  const errors = [];
  app.use(gate.express({ passErrors: true }));
  app.get("/orders/:id", (req, res) => {
    reached++;
    res.json({ sub: req.auth.subject });
  });
  app.use("/users", (req, res) => {
    reached++;
    res.send("handler");
  });
  app.use((err, req, res, next) => {
    errors.push(err);
    res.status(err.statusCode).set(err.headers).json({ mine: true, code: err.code, challenge: err.headers["www-authenticate"] ?? null });
  });
  const s = await serve(app);
  try {
    let res = await fetch(`${s.base}/orders/7`, { headers: { authorization: `Bearer ${es.mint({ exp: 1 })}` } });
    assert.equal(res.status, 401);
    let body = await res.json();
    assert.equal(body.mine, true);
    assert.equal(body.code, "token_expired");
    assert.match(body.challenge, /^Bearer realm="orders", error="invalid_token"/);
    assert.equal(res.headers.get("www-authenticate"), body.challenge);
    let err = errors.at(-1);
    assert.ok(err instanceof EdgewardError);
    assert.equal(err.status, 401);
    assert.equal(err.claim, "exp");
    assert.equal(JSON.parse(err.body).reason, "token_expired");
    assert.match(err.message, /expired/);

    res = await fetch(`${s.base}/orders/7`, { method: "POST", headers: { authorization: `Bearer ${es.mint()}` } });
    assert.equal(res.status, 403);
    body = await res.json();
    assert.equal(body.code, "scope_missing");
    assert.match(body.challenge, /error="insufficient_scope", .*scope="orders:write"/);

    res = await fetch(`${s.base}/admin`, { headers: { authorization: `Bearer ${es.mint()}`, origin: APP } });
    assert.equal(res.status, 403);
    body = await res.json();
    assert.deepEqual(body, { mine: true, code: "route_denied", challenge: null });
    assert.equal(res.headers.get("access-control-allow-origin"), APP, "CORS headers ride on err.headers");

    res = await fetch(`${s.base}/orders/7`);
    assert.equal(res.status, 401);
    assert.deepEqual(await res.json(), { mine: true, code: "token_missing", challenge: 'Bearer realm="orders"' });
    assert.equal(reached, 0, "the handler behind the gate was not reached");

    // Gate answers are not errors: sent directly.
    const before = errors.length;
    res = await fetch(`${s.base}/users/alice/x`, { method: "OPTIONS", headers: preflight });
    assert.equal(res.status, 204);
    assert.equal(res.headers.get("access-control-allow-origin"), APP);
    assert.equal(errors.length, before);
    assert.equal(reached, 0);

    res = await fetch(`${s.base}/orders/7`, { headers: { authorization: `Bearer ${es.mint()}` } });
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { sub: "alice" });
    assert.equal(reached, 1);
  } finally {
    await s.close();
  }
});

test("hono: throwErrors throws an HTTPException whose res is the refusal, for app.onError; gate answers are returned", async () => {
  const gate = createGate(corsConfig(), { fetch: fakeFetch(jwks), now: clock() });
  assert.throws(() => gate.hono({ throwErors: true }), TypeError);
  const app = new Hono();
  let reached = 0;
  const caught = [];
  app.use("*", gate.hono({ throwErrors: true }));
  app.all("/users/*", (c) => {
    reached++;
    return c.text("handler");
  });
  app.get("/orders/:id", (c) => {
    reached++;
    return c.json({ sub: c.get("identity").subject });
  });
  app.onError((err, c) => {
    caught.push(err);
    if (!(err instanceof HTTPException)) return c.text("unexpected", 500);
    const res = err.getResponse();
    res.headers.set("x-rendered-by", "onError");
    return res;
  });

  let res = await app.request("/orders/7", { headers: { authorization: `Bearer ${es.mint({ exp: 1 })}` } });
  assert.equal(res.status, 401);
  assert.equal(res.headers.get("x-rendered-by"), "onError");
  assert.match(res.headers.get("www-authenticate"), /error="invalid_token"/);
  assert.equal((await res.json()).reason, "token_expired");
  let err = caught.at(-1);
  assert.ok(err instanceof HTTPException);
  assert.equal(err.status, 401);
  assert.equal(err.res.status, 401);
  assert.ok(err.cause instanceof EdgewardError);
  assert.equal(err.cause.code, "token_expired");
  assert.equal(err.cause.claim, "exp");

  res = await app.request("/orders/7", { method: "POST", headers: { authorization: `Bearer ${es.mint()}` } });
  assert.equal(res.status, 403);
  assert.equal(res.headers.get("x-rendered-by"), "onError");
  assert.match(res.headers.get("www-authenticate"), /error="insufficient_scope"/);
  assert.equal((await res.json()).reason, "scope_missing");
  err = caught.at(-1);
  assert.equal(err.res.status, 403);
  assert.equal(err.cause.statusCode, 403);
  assert.equal(reached, 0, "the handler behind the gate was not reached");

  // Gate answers are not errors: returned directly.
  const before = caught.length;
  res = await app.request("/users/alice/x", { method: "OPTIONS", headers: preflight });
  assert.equal(res.status, 204);
  assert.equal(res.headers.get("access-control-allow-origin"), APP);
  assert.equal(res.headers.get("x-rendered-by"), null);
  assert.equal(caught.length, before);

  res = await app.request("/orders/7", { headers: { authorization: `Bearer ${es.mint()}` } });
  assert.equal(res.status, 200);
  assert.deepEqual(await res.json(), { sub: "alice" });
  assert.equal(reached, 1);
});
