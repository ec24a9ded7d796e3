// The public API: createGate validation, verify, check, errors, keys(),
// refresh(), the crypto option, request shapes.
import assert from "node:assert/strict";
import { EdgewardError, createGate, forwardHeaders, reasons } from "edgeward";
import { test } from "./harness.js";
import { AUDIENCE, ISSUER, NOW, Signer, baseConfig, clock, fakeFetch } from "./fixtures.js";

const rs = new Signer("RS256", "rsa-1");
const es = new Signer("ES256", "ec-1");
const jwks = { keys: [rs.jwk(), es.jwk()] };

function gateWith(opts = {}, config = baseConfig()) {
  const fetch = opts.fetch ?? fakeFetch(jwks);
  const now = opts.now ?? clock();
  return { gate: createGate(config, { fetch, now, ...(opts.crypto ? { crypto: opts.crypto } : {}) }), fetch, now };
}

async function rejects(promise, code) {
  try {
    await promise;
  } catch (e) {
    assert.ok(e instanceof EdgewardError, `not an EdgewardError: ${e}`);
    assert.equal(e.code, code, e.message);
    return e;
  }
  assert.fail(`expected ${code}, got a result`);
}

test("createGate: configuration errors name the field", () => {
  const bad = (config, options) => {
    try {
      createGate(config, options);
    } catch (e) {
      assert.ok(e instanceof EdgewardError);
      assert.equal(e.code, "config_invalid");
      return e;
    }
    assert.fail("accepted");
  };
  let e = bad({ issuers: [{ issuer: "https://idp.test/", audiences: [] }] });
  assert.deepEqual(e.errors.map((x) => x.field), ["issuers[0].audiences"]);
  assert.match(e.message, /issuers\[0\]\.audiences: at least one audience/);
  e = bad({ issuers: [{ issuer: "https://idp.test/", audiences: ["a"], audience: "a" }] });
  assert.equal(e.errors[0].field, "issuers[0].audience");
  assert.doesNotMatch(e.message, /line \d+ column/);
  e = bad({ issuers: [{ issuer: "http://idp.example.com/", audiences: ["a"], algorithms: ["RS256", "none"] }] });
  assert.deepEqual(e.errors.map((x) => x.field).sort(), ["issuers[0].algorithms[1]", "issuers[0].issuer"]);
  e = bad({ routes: [{ path: "/a", access: "maybe" }] });
  assert.equal(e.errors[0].field, "routes[0].access");
  e = bad({}, { crypto: "fast", store: {}, fetch: 1, now: 5, colour: "red" });
  assert.deepEqual(e.errors.map((x) => x.field).sort(), [
    "options.colour",
    "options.crypto",
    "options.fetch",
    "options.now",
    "options.store",
  ]);
  e = bad(42);
  assert.equal(e.errors[0].field, ".");
  e = bad({ policy: { preflight: true } });
  assert.equal(e.errors[0].field, "policy.preflight");
  assert.match(e.message, /\[cors\]/);
  // JSON text works too.
  assert.equal(createGate(JSON.stringify(baseConfig())).config.issuers[0].leeway, 60);
});

test("createGate: defaults are filled in and frozen", () => {
  const { gate } = gateWith();
  assert.equal(gate.config.keys.fetch_timeout, 10);
  assert.equal(gate.config.cache.capacity, 10000);
  assert.ok(Object.isFrozen(gate.config.issuers[0]));
  assert.ok(["native", "wasm"].includes(gate.crypto));
});

test("verify: identity and claims; errors carry code, status, headers", async () => {
  for (const crypto of ["native", "wasm"]) {
    const { gate } = gateWith({ crypto });
    const id = await gate.verify(rs.mint({ sub: "bob", roles: ["admin"], tid: "acme" }));
    assert.equal(id.kind, "jwt");
    assert.equal(id.subject, "bob");
    assert.equal(id.issuer, ISSUER);
    assert.deepEqual(id.scopes, ["orders:read"]);
    assert.deepEqual(id.roles, ["admin"]);
    assert.equal(id.expiresAt, NOW + 3600);
    assert.equal(id.claims.aud, AUDIENCE);
    assert.ok(Object.isFrozen(id) && Object.isFrozen(id.claims) && Object.isFrozen(id.scopes));
    assert.equal((await gate.verify(es.mint())).subject, "alice");

    let e = await rejects(gate.verify("not.a.jwt"), "token_malformed");
    assert.equal(e.status, 401);
    assert.match(e.headers["www-authenticate"], /^Bearer realm="orders", error="invalid_token"/);
    assert.equal(JSON.parse(e.body).reason, "token_malformed");
    await rejects(gate.verify(rs.mint({ exp: NOW - 3600 })), "token_expired");
    await rejects(gate.verify(rs.mint({ aud: "api://other" })), "audience_invalid");
    await rejects(gate.verify(rs.mint({ iss: "https://evil.test/" })), "issuer_unknown");
    const t = rs.mint();
    await rejects(gate.verify(t.slice(0, -4) + (t.endsWith("AAAA") ? "BBBB" : "AAAA")), "signature_invalid");
    await rejects(gate.verify(new Signer("RS256", "rsa-1").mint()), "signature_invalid");
    await rejects(gate.verify(rs.mint({}, { alg: "none" })), "alg_not_allowed");
    await rejects(gate.verify("x".repeat(9000)), "token_too_large");
    await assert.rejects(gate.verify(42), TypeError);
  }
});

test("verify and check give the same identity: a plain object, keys in order, frozen all the way down", async () => {
  const frozenDeep = (v, where) => {
    if (v === null || typeof v !== "object") return;
    assert.ok(Object.isFrozen(v), `${where} is not frozen`);
    assert.equal(Object.getPrototypeOf(v), Array.isArray(v) ? Array.prototype : Object.prototype, where);
    for (const k of Object.keys(v)) frozenDeep(v[k], `${where}.${k}`);
  };
  // Keys in the order the binding's identity JSON had them (IdentityOut).
  const keys = ["kind", "subject", "issuer", "tenant", "scopes", "roles", "permissions", "expiresAt", "claims"];
  for (const crypto of ["native", "wasm"]) {
    const claims = {
      sub: "bob",
      aud: [AUDIENCE, "api://other"],
      realm_access: { roles: ["admin", "ops"], nested: [{ deep: [1, { x: null }] }] },
      empty: {},
      list: [],
      ["__proto__"]: { polluted: true },
      big: 12345678901234567890,
      float: 1.5,
      uni: "é\u2028\ud83d\ude00",
    };
    for (const [token, proto] of [[rs.mint(claims), true], [rs.mint(), false]]) {
      const { gate } = gateWith({ crypto });
      const v = await gate.verify(token);
      const c = (await gate.check(new Request("https://api.example.com/orders/7", { headers: { authorization: `Bearer ${token}` } }))).identity;
      assert.deepEqual(Object.keys(v), keys);
      assert.deepEqual(Object.keys(c), keys);
      assert.deepStrictEqual(v, c);
      assert.deepEqual(Object.keys(v.claims), Object.keys(c.claims));
      assert.equal(JSON.stringify(v), JSON.stringify(c));
      frozenDeep(v, "verify()");
      frozenDeep(c, "check()");
      assert.equal(Object.getPrototypeOf(v.claims), Object.prototype);
      assert.equal(v.claims.polluted, undefined);
      assert.equal(Object.hasOwn(v.claims, "__proto__"), proto);
    }
  }
});

test("EdgewardError: statusCode mirrors status; claim names the claim a code blames", async () => {
  const now = clock();
  const config = baseConfig({ issuer: { max_age: 300, typ: "at+jwt" } });
  const gate = createGate(config, { fetch: fakeFetch(jwks), now });
  const cases = [
    [rs.mint({ exp: NOW - 3600 }), "token_expired", "exp"],
    [rs.mint({ aud: "api://other" }), "audience_invalid", "aud"],
    [rs.mint({ iss: "https://evil.test/" }), "issuer_unknown", "iss"],
    [rs.mint({ iat: NOW - 3600 }), "token_too_old", "iat"],
    [rs.mint({}, { typ: "JWT" }), "typ_invalid", "typ"],
    // nbf or iat: no single claim.
    [rs.mint({ nbf: NOW + 3600 }), "token_not_yet_valid", undefined],
    ["not.a.jwt", "token_malformed", undefined],
  ];
  for (const [token, code, claim] of cases) {
    const e = await rejects(gate.verify(token), code);
    assert.equal(e.statusCode, e.status, code);
    assert.equal(e.statusCode, 401, code);
    assert.equal(e.claim, claim, code);
    assert.equal("claim" in e, claim !== undefined, code);
  }
  const direct = new EdgewardError("token_expired", 401, "expired", { cause: "x" });
  assert.deepEqual([direct.statusCode, direct.claim, direct.cause], [401, "exp", "x"]);
  try {
    createGate({ issuers: "nope" });
    assert.fail("no error");
  } catch (e) {
    assert.equal(e.code, "config_invalid");
    assert.equal(e.statusCode, 500);
    assert.equal(e.claim, undefined);
  }
});

test("reasons: index.d.ts's ReasonCode union lists every code of the core", async () => {
  const { readFileSync } = await import("node:fs");
  const dts = readFileSync(new URL("../lib/index.d.ts", import.meta.url), "utf8");
  const union = dts.match(/export type ReasonCode =([^;]*);/)[1];
  const typed = [...union.matchAll(/"([a-z_]+)"/g)].map((m) => m[1]);
  assert.deepEqual(typed.sort(), reasons.map((r) => r.code).sort());
});

test("verify: the issuer's tenant list applies to a token alone", async () => {
  const config = baseConfig({ issuer: { tenant_claim: "tid", tenants: ["acme"] } });
  const gate = createGate(config, { fetch: fakeFetch(jwks), now: clock() });
  assert.equal((await gate.verify(rs.mint({ tid: "acme" }))).tenant, "acme");
  for (let i = 0; i < 2; i++) {
    const e = await rejects(gate.verify(rs.mint({ tid: "other" })), "tenant_not_allowed");
    assert.equal(e.status, 403);
    assert.match(e.headers["www-authenticate"], /error="insufficient_scope"/);
  }
  await rejects(gate.verify(rs.mint()), "tenant_not_allowed");
});

test("verify: a repeated token is served from the cache, never past exp", async () => {
  const now = clock();
  const { gate } = gateWith({ now });
  const t = rs.mint({ exp: NOW + 100 });
  const a = await gate.verify(t);
  const b = await gate.verify(t); // the core's verdict cache
  const c = await gate.verify(t); // JS's own, from a token's second use on
  assert.deepEqual(b, a);
  assert.equal(c, b, "the cached identity object");
  now.t = NOW + 100 + 59; // within leeway (60 s)
  assert.equal((await gate.verify(t)).subject, "alice");
  now.t = NOW + 100 + 61;
  await rejects(gate.verify(t), "token_expired");
});

test("verify: past the cache's capacity every token still gets its own identity; a cached one the same object, never past exp", async () => {
  const now = clock();
  const { gate } = gateWith({ now }, { ...baseConfig(), cache: { capacity: 16 } });
  const tokens = Array.from({ length: 40 }, (_, i) => rs.mint({ sub: `u${i}`, jti: `j${i}` }));
  for (const t of tokens) await gate.verify(t);
  for (let round = 0; round < 2; round++) {
    for (const [i, t] of tokens.entries()) assert.equal((await gate.verify(t)).subject, `u${i}`);
  }
  const last = tokens.at(-1);
  assert.equal(await gate.verify(last), await gate.verify(last), "the cached identity object");
  now.t = NOW + 3600 + 61;
  await rejects(gate.verify(last), "token_expired");
  await rejects(gate.verify(tokens[0]), "token_expired");
});

test("verify: a token forged to end like a cached one is verified, never served from the front cache", async () => {
  // The front cache finds a token by its last characters (the signature's):
  // a forgery that keeps a cached token's signature and changes its claims
  // ends the same, and must still be verified and refused. Capacity 4: the
  // front cache turns a generation every 2 tokens it keeps (a token is kept
  // from its second use), so the cached token is looked up in the newer and
  // the older one.
  for (const signer of [rs, es]) {
    const { gate } = gateWith({}, baseConfig({ top: { cache: { capacity: 4 } } }));
    const good = signer.mint({ sub: "alice", scope: "orders:read" });
    await gate.verify(good);
    const [h, p, sig] = good.split(".");
    const claims = JSON.parse(Buffer.from(p, "base64url").toString());
    const evil = Buffer.from(JSON.stringify({ ...claims, sub: "mallory", scope: "orders:admin" })).toString("base64url");
    const forged = `${h}.${evil}.${sig}`;
    for (let round = 0; round < 3; round++) {
      const id = await gate.verify(good);
      assert.equal(id.subject, "alice", signer.alg);
      await rejects(gate.verify(forged), "signature_invalid");
      assert.equal(await gate.verify(good), id, `${signer.alg}: still the cached identity`);
      const other = signer.mint({ sub: `other-${round}` });
      for (let use = 0; use < 2; use++) await gate.verify(other);
    }
  }
});

test("verify: a cached token is refused once iat + max_age has passed (issue 9, defect 3)", async () => {
  // exp and cache.ttl are far away: only max_age ends the cached verdict,
  // and the JS front cache keeps it no longer than the core says.
  const now = clock();
  const config = baseConfig({ issuer: { max_age: 300, leeway: 60 }, top: { cache: { ttl: 3600 } } });
  const gate = createGate(config, { fetch: fakeFetch(jwks), now });
  const t = rs.mint({ iat: NOW - 10, exp: NOW + 7200 });
  await gate.verify(t);
  const first = await gate.verify(t); // kept by JS from its second use
  now.t = NOW - 10 + 300 + 60 - 1; // within max_age + leeway
  assert.equal(await gate.verify(t), first, "served from the cache");
  now.t = NOW - 10 + 300 + 60 + 1; // past it, before exp and cache.ttl
  const e = await rejects(gate.verify(t), "token_too_old");
  assert.equal(e.status, 401);
});

test("verify: a cached verdict is dropped when the IdP withdraws the key", async () => {
  const now = clock();
  let keys = [rs.jwk(), es.jwk()];
  const fetch = fakeFetch(() => ({ keys }));
  const { gate } = gateWith({ now, fetch });
  const t = rs.mint();
  await gate.verify(t);
  keys = [es.jwk()];
  await gate.refresh();
  await rejects(gate.verify(t), "key_not_found");
});

test("check: a Fetch Request in, a ready-to-send answer out", async () => {
  const { gate } = gateWith();
  const ok = await gate.check(
    new Request("https://api.example.com/orders/7?x=1", {
      headers: { authorization: `Bearer ${rs.mint()}`, "x-auth-subject": "mallory" },
    }),
  );
  assert.equal(ok.allowed, true);
  assert.equal(ok.status, 200);
  assert.equal(ok.reason, null);
  assert.equal(ok.headers["x-auth-subject"], "alice");
  assert.ok(ok.remove.includes("x-auth-subject"));
  assert.equal(ok.identity.subject, "alice");
  const fwd = forwardHeaders(ok, { "x-auth-subject": "mallory", accept: "text/plain" });
  assert.equal(fwd.get("x-auth-subject"), "alice");
  assert.equal(fwd.get("accept"), "text/plain");

  const no = await gate.check(new Request("https://api.example.com/orders/7"));
  assert.equal(no.allowed, false);
  assert.equal(no.status, 401);
  assert.equal(no.reason, "token_missing");
  assert.equal(no.identity, null);
  assert.equal(no.headers["www-authenticate"], 'Bearer realm="orders"');
  const res = new Response(no.body, { status: no.status, headers: no.headers });
  assert.equal(res.status, 401);
  assert.equal((await res.json()).reason, "token_missing");

  const scope = await gate.check(
    new Request("https://api.example.com/orders/7", { method: "POST", headers: { authorization: `Bearer ${rs.mint()}` } }),
  );
  assert.equal(scope.status, 403);
  assert.equal(scope.reason, "scope_missing");
  assert.match(scope.headers["www-authenticate"], /error="insufficient_scope"/);

  const anon = await gate.check(new Request("https://api.example.com/health"));
  assert.equal(anon.allowed, true);
  assert.equal(anon.identity.kind, "anonymous");
});

test("check: CORS: a preflight answered by the gate, CORS headers on refusals and allows (issue 9, defect 4)", async () => {
  const config = baseConfig({ top: { cors: { allowed_origins: ["https://app.example.test"], max_age: 600 } } });
  const { gate } = gateWith({}, config);
  const origin = "https://app.example.test";
  const pre = await gate.check({
    method: "OPTIONS",
    path: "/users/alice/x", // a route for every method
    headers: { origin, "access-control-request-method": "GET" },
  });
  assert.equal(pre.allowed, false);
  assert.equal(pre.outcome, "answer");
  assert.equal(pre.status, 204);
  assert.equal(pre.reason, null);
  assert.equal(pre.body, null);
  assert.equal(pre.identity, null);
  assert.equal(pre.headers["access-control-allow-origin"], origin);
  assert.equal(pre.headers["access-control-max-age"], "600");
  assert.deepEqual(pre.responseHeaders, pre.headers);
  // Existing code that answers every !allowed result sends it right.
  const res = new Response(pre.body, { status: pre.status, headers: pre.headers });
  assert.equal(res.status, 204);
  assert.equal(await res.text(), "");

  const refused = await gate.check({
    method: "OPTIONS",
    path: "/users/alice/x", // a route for every method
    headers: { origin: "https://evil.example.test", "access-control-request-method": "GET" },
  });
  assert.equal(refused.outcome, "deny");
  assert.equal(refused.status, 403);
  assert.equal(refused.reason, "preflight_refused");
  assert.equal(refused.headers["access-control-allow-origin"], undefined);

  const no = await gate.check({ path: "/orders/1", headers: { origin } });
  assert.equal(no.outcome, "deny");
  assert.equal(no.headers["access-control-allow-origin"], origin);
  assert.match(no.headers["access-control-expose-headers"], /www-authenticate/);
  assert.deepEqual(no.responseHeaders, no.headers);

  const ok = await gate.check({ path: "/orders/1", headers: { origin, authorization: `Bearer ${rs.mint()}` } });
  assert.equal(ok.outcome, "allow");
  assert.equal(ok.responseHeaders["access-control-allow-origin"], origin);
  assert.equal(ok.responseHeaders.vary, "Origin");
  assert.equal(ok.headers["access-control-allow-origin"], undefined, "request headers hold no CORS");
  const plain = await gate.check({ path: "/orders/1", headers: { authorization: `Bearer ${rs.mint()}` } });
  assert.deepEqual(plain.responseHeaders, {});
});

test("check: the RFC 9728 metadata is a gate answer with a body (none for HEAD)", async () => {
  const config = baseConfig({ top: { resource: { identifier: "https://api.example.test/orders" } } });
  const { gate } = gateWith({}, config);
  const path = "/.well-known/oauth-protected-resource/orders";
  const r = await gate.check({ method: "GET", path, headers: {} });
  assert.equal(r.outcome, "answer");
  assert.equal(r.status, 200);
  assert.equal(JSON.parse(r.body).resource, "https://api.example.test/orders");
  const head = await gate.check({ method: "HEAD", path, headers: {} });
  assert.equal(head.status, 200);
  assert.equal(head.body, null);
});

test("forwardHeaders: identity headers go by the core's rule, _ look-alikes and any case included (issue 9, defect 6)", async () => {
  const { gate } = gateWith();
  const incoming = [
    ["authorization", `Bearer ${rs.mint()}`],
    ["x_auth_subject", "root"],
    ["X_Auth_Scopes", "admin"],
    ["X-AUTH-ISSUER", "https://evil.test/"],
    ["x-auth-subjects", "kept"],
    ["accept", "text/plain"],
  ];
  const ok = await gate.check({ path: "/orders/1", headers: incoming });
  assert.equal(ok.allowed, true);
  const fwd = forwardHeaders(ok, incoming);
  assert.equal(fwd.get("x_auth_subject"), null);
  assert.equal(fwd.get("x_auth_scopes"), null);
  assert.equal(fwd.get("x-auth-subject"), "alice");
  assert.equal(fwd.get("x-auth-scopes"), "orders:read");
  assert.equal(fwd.get("x-auth-issuer"), ISSUER);
  assert.equal(fwd.get("x-auth-subjects"), "kept");
  assert.equal(fwd.get("accept"), "text/plain");
  // Anonymous routes strip too; nothing is set there.
  const anon = await gate.check({ path: "/health", headers: incoming });
  assert.equal(anon.identity.kind, "anonymous");
  const a = forwardHeaders(anon, incoming);
  assert.equal(a.get("x_auth_subject"), null);
  assert.equal(a.get("x-auth-issuer"), null);
  assert.equal(a.get("accept"), "text/plain");
  // A refusal forwards nothing; the headers are returned unchanged.
  const no = await gate.check({ path: "/orders/1", headers: [["x_auth_subject", "root"]] });
  assert.equal(forwardHeaders(no, [["x_auth_subject", "root"]]).get("x_auth_subject"), "root");
});

test("check: request shapes (plain objects, header arrays, url without path)", async () => {
  const { gate } = gateWith();
  const auth = `Bearer ${rs.mint({ sub: "u1" })}`;
  const shapes = [
    { method: "get", path: "/users/u1/x", headers: { Authorization: auth } },
    { method: "GET", url: "https://api.example.com/users/u1/x", headers: [["authorization", auth]] },
    { method: "GET", url: "/users/u1/x", headers: new Headers({ authorization: auth }) },
    { url: "https://api.example.com/users/u1/x", headers: { authorization: [auth] } },
  ];
  for (const s of shapes) {
    const r = await gate.check(s);
    assert.equal(r.status, 200, JSON.stringify(s.url ?? s.path));
  }
  const two = await gate.check({ path: "/orders/1", headers: [["authorization", auth], ["authorization", auth]] });
  assert.equal(two.reason, "multiple_tokens");
  const dots = await gate.check({ path: "/orders/../admin", headers: { authorization: auth } });
  assert.equal(dots.reason, "path_invalid");
  assert.equal((await gate.check({ url: "https://api.example.com" })).reason, "route_denied");
  await assert.rejects(gate.check({ path: "/x", headers: { a: "1\nauthorization\nBearer x" } }), TypeError);
  await assert.rejects(gate.check(null), TypeError);
});

test("check: report-only mode lets a refusal through, annotated", async () => {
  const { gate } = gateWith({}, { ...baseConfig(), mode: "report-only" });
  const r = await gate.check({ path: "/orders/1", headers: {} });
  assert.equal(r.allowed, true);
  assert.equal(r.reason, "token_missing");
  assert.match(r.headers["x-edgeward-decision"], /^deny; status=401; reason=token_missing/);
});

test("keys() shows what is cached; refresh() refetches", async () => {
  const now = clock();
  const fetch = fakeFetch(jwks);
  const { gate } = gateWith({ now, fetch });
  let [k] = gate.keys();
  assert.equal(k.issuer, ISSUER);
  assert.equal(k.freshness, "missing");
  assert.deepEqual(k.keys, []);
  await gate.verify(rs.mint());
  [k] = gate.keys();
  assert.equal(k.freshness, "fresh");
  assert.equal(k.fetchedAt, NOW);
  assert.equal(k.freshUntil, NOW + 600);
  assert.deepEqual(k.keys.map((x) => x.kid), ["rsa-1", "ec-1"]);
  assert.equal(k.keys[0].thumbprint.length, 43);
  assert.equal(fetch.calls.length, 1);
  now.t += 5;
  const after = await gate.refresh();
  assert.equal(fetch.calls.length, 2);
  assert.equal(after[0].fetchedAt, NOW + 5);
  // Concurrent refreshes share one fetch.
  await Promise.all([gate.refresh(), gate.refresh(), gate.refresh(ISSUER)]);
  assert.equal(fetch.calls.length, 3);
  await assert.rejects(gate.refresh("https://nope.test/"), TypeError);
});

test("refresh() joins a key fetch already under way, and its failure", async () => {
  const fetch = fakeFetch(jwks, { delay: 20 });
  const { gate } = gateWith({ fetch });
  const v = gate.verify(rs.mint()); // starts the fetch
  const [k] = await gate.refresh();
  assert.equal(k.freshness, "fresh");
  assert.equal((await v).subject, "alice");
  assert.equal(fetch.calls.length, 1);

  const down = fakeFetch(jwks, { delay: 20, fail: true });
  const { gate: g2 } = gateWith({ fetch: down });
  const v2 = g2.verify(rs.mint()).catch((e) => e.code);
  const e = await rejects(g2.refresh(), "keys_unavailable");
  assert.match(e.message, /connection refused/);
  assert.equal(await v2, "keys_unavailable");
  assert.equal(down.calls.length, 1);
});

test("refresh() failing keeps the keys held before", async () => {
  let fail = false;
  const fetch = async (url) => {
    if (fail) return new Response("oops", { status: 500 });
    return new Response(JSON.stringify(jwks));
  };
  const { gate } = gateWith({ fetch });
  await gate.verify(rs.mint());
  fail = true;
  const e = await rejects(gate.refresh(), "keys_unavailable");
  assert.match(e.message, /HTTP status 500/);
  assert.equal(gate.keys()[0].keys.length, 2);
  assert.equal((await gate.verify(rs.mint({ sub: "z" }))).subject, "z");
});

test("now() must return Unix seconds", async () => {
  const gate = createGate(baseConfig(), { fetch: fakeFetch(jwks), now: () => Date.now() });
  await assert.rejects(gate.verify(rs.mint()), /Unix seconds/);
  const dated = createGate(baseConfig(), { fetch: fakeFetch(jwks), now: () => new Date(NOW * 1000) });
  assert.equal((await dated.verify(rs.mint())).subject, "alice");
});

test("reasons: the core's table", () => {
  const codes = reasons.map((r) => r.code);
  for (const c of ["token_missing", "token_expired", "signature_invalid", "scope_missing", "keys_unavailable"]) {
    assert.ok(codes.includes(c), c);
  }
  assert.equal(reasons.find((r) => r.code === "keys_unavailable").status, 503);
});
