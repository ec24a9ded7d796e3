// Key fetching: single flight, timeout, size cap, failures, stale-if-error,
// background refresh, rotation, discovery, and the shared store.
import assert from "node:assert/strict";
import { EdgewardError, createGate } from "edgeward";
import { test } from "./harness.js";
import { AUDIENCE, ISSUER, JWKS_URI, NOW, Signer, baseConfig, clock, fakeFetch } from "./fixtures.js";

const rs = new Signer("RS256", "rsa-1");
const ed = new Signer("EdDSA", "ed-1");
const jwks = { keys: [rs.jwk(), ed.jwk()] };

const codeOf = (p) =>
  p.then(
    () => "ok",
    (e) => (e instanceof EdgewardError ? e.code : `threw ${e}`),
  );

test("single flight: 100 concurrent verifications needing keys share one fetch", async () => {
  const fetch = fakeFetch(jwks, { delay: 30 });
  const now = clock();
  const gate = createGate(baseConfig(), { fetch, now });
  gate.now = now;
  const tokens = Array.from({ length: 100 }, (_, i) => (i % 2 ? rs : ed).mint({ sub: `u${i}` }));
  const ids = await Promise.all(tokens.map((t) => gate.verify(t)));
  assert.deepEqual(ids.map((i) => i.subject), tokens.map((_, i) => `u${i}`));
  assert.equal(fetch.calls.length, 1);
  // check() and verify() share flights too, and an unknown kid costs one
  // refetch (after the cooldown that follows any fetch).
  gate.now.t += 31;
  const other = new Signer("ES256", "ec-new");
  const results = await Promise.all([
    ...Array.from({ length: 20 }, () => codeOf(gate.verify(other.mint()))),
    ...Array.from({ length: 20 }, () =>
      gate.check({ path: "/orders/1", headers: { authorization: `Bearer ${other.mint()}` } }).then((r) => r.reason),
    ),
  ]);
  assert.ok(results.every((r) => r === "key_not_found"), results.join());
  assert.equal(fetch.calls.length, 2);
});

test("single flight with discovery: one discovery fetch, one key-set fetch", async () => {
  const calls = [];
  const fetch = async (url) => {
    calls.push(url);
    await new Promise((r) => setTimeout(r, 10));
    if (url === "https://idp.test/.well-known/openid-configuration") {
      return Response.json({ issuer: ISSUER, jwks_uri: "https://idp.test/keys" });
    }
    if (url === "https://idp.test/keys") return Response.json(jwks);
    return new Response("not found", { status: 404 });
  };
  const config = baseConfig();
  delete config.issuers[0].jwks_uri;
  const gate = createGate(config, { fetch, now: clock() });
  await Promise.all(Array.from({ length: 30 }, () => gate.verify(rs.mint())));
  assert.deepEqual(calls, ["https://idp.test/.well-known/openid-configuration", "https://idp.test/keys"]);
  assert.equal(gate.keys()[0].jwksUri, "https://idp.test/keys");
});

test("a key fetch that never answers times out (keys.fetch_timeout)", async () => {
  let aborted = false;
  const fetch = (url, init) =>
    new Promise((_, reject) => {
      init.signal.addEventListener("abort", () => {
        aborted = true;
        reject(init.signal.reason);
      });
    });
  const config = baseConfig({ top: { keys: { fetch_timeout: 1 } } });
  const gate = createGate(config, { fetch, now: clock() });
  const t0 = Date.now();
  const e = await gate.verify(rs.mint()).catch((e) => e);
  assert.equal(e.code, "keys_unavailable");
  assert.equal(e.status, 503);
  assert.ok(Date.now() - t0 >= 900 && Date.now() - t0 < 5000, `${Date.now() - t0} ms`);
  assert.ok(aborted, "the request was aborted");
  assert.match(gate.keys()[0].lastError, /no answer within 1s/);
});

test("a key set over keys.max_response_bytes is refused without reading it all", async () => {
  let pulled = 0;
  const huge = () =>
    new ReadableStream({
      pull(c) {
        pulled += 16384;
        c.enqueue(new Uint8Array(16384).fill(32));
        if (pulled > 50_000_000) c.close();
      },
    });
  const config = baseConfig({ top: { keys: { max_response_bytes: 4096 } } });
  const gate = createGate(config, { fetch: async () => new Response(huge()), now: clock() });
  assert.equal(await codeOf(gate.verify(rs.mint())), "keys_unavailable");
  assert.ok(pulled < 100_000, `read ${pulled} bytes`);
  assert.match(gate.keys()[0].lastError, /exceeds keys.max_response_bytes/);
  // A declared Content-Length over the cap is not read at all.
  let read = false;
  const declared = async () =>
    new Response(new ReadableStream({ pull() { read = true; } }, { highWaterMark: 0 }), { headers: { "content-length": "9999999" } });
  const gate2 = createGate(config, { fetch: declared, now: clock() });
  assert.equal(await codeOf(gate2.verify(rs.mint())), "keys_unavailable");
  assert.equal(read, false);
});

test("IdP errors: 503 when nothing is cached, never a pass", async () => {
  for (const fetch of [
    fakeFetch(jwks, { fail: true }),
    fakeFetch(jwks, { status: 500 }),
    fakeFetch("<html>", {}),
    fakeFetch({ keys: [{ kty: "oct", k: "c2VjcmV0" }] }),
  ]) {
    const gate = createGate(baseConfig(), { fetch, now: clock() });
    assert.equal(await codeOf(gate.verify(rs.mint())), "keys_unavailable");
    const r = await gate.check({ path: "/orders/1", headers: { authorization: `Bearer ${rs.mint()}` } });
    assert.equal(r.status, 503);
    assert.equal(r.headers["retry-after"], "30");
    // Within the cooldown no new fetch is made.
    assert.equal(fetch.calls.length, 1);
  }
});

test("stale keys serve while the IdP is down; refreshes run in the background", async () => {
  const now = clock();
  let down = false;
  let calls = 0;
  const fetch = async () => {
    calls++;
    if (down) throw new TypeError("fetch failed");
    return new Response(JSON.stringify(jwks), { headers: { "cache-control": "max-age=60" } });
  };
  const onError = [];
  const gate = createGate(baseConfig(), { fetch, now, onError: (e, where) => onError.push(where) });
  await gate.verify(rs.mint());
  assert.equal(calls, 1);
  now.t += 120; // stale: past max-age, within stale_if_error
  assert.equal(gate.keys()[0].freshness, "stale");
  down = true;
  assert.equal((await gate.verify(rs.mint({ sub: "s1" }))).subject, "s1");
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(calls, 2, "a background refresh ran");
  assert.ok(onError.includes("refresh"));
  assert.equal((await gate.verify(rs.mint({ sub: "s2" }))).subject, "s2");
  // The IdP is back: the next due refresh makes the keys fresh again.
  down = false;
  now.t += 31; // past the failure cooldown
  await gate.verify(rs.mint({ sub: "s3" }));
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(calls, 3);
  assert.equal(gate.keys()[0].freshness, "fresh");
});

test("rotation: a new kid is fetched once; the old key's tokens stop passing", async () => {
  const now = clock();
  const next = new Signer("RS256", "rsa-2");
  let keys = [rs.jwk()];
  const fetch = fakeFetch(() => ({ keys }));
  const gate = createGate(baseConfig(), { fetch, now });
  const old = rs.mint();
  await gate.verify(old);
  keys = [next.jwk()];
  now.t += 40; // past the refetch cooldown after the first fetch
  assert.equal((await gate.verify(next.mint({ sub: "new" }))).subject, "new");
  assert.equal(fetch.calls.length, 2);
  assert.equal(await codeOf(gate.verify(old)), "key_not_found");
});

function memoryStore() {
  const m = new Map();
  const s = {
    m,
    gets: 0,
    sets: [],
    async get(k) {
      s.gets++;
      return m.get(k) ?? null;
    },
    async set(k, v, ttl) {
      s.sets.push([k, ttl]);
      m.set(k, v);
    },
  };
  return s;
}

test("store: a second gate (another process) takes the keys from the store, not the IdP", async () => {
  const store = memoryStore();
  const fetchA = fakeFetch(jwks);
  const a = createGate(baseConfig(), { fetch: fetchA, store, now: clock() });
  await a.verify(rs.mint());
  assert.equal(fetchA.calls.length, 1);
  assert.equal(store.sets.length, 1);
  const [key, ttl] = store.sets[0];
  assert.equal(key, `edgeward:keys:v1:${ISSUER}`);
  assert.equal(ttl, 86400 + 86400, "the core's TTL: keys.max_ttl + keys.stale_if_error");
  assert.equal(store.gets, 1, "one read at first use; no second read before the IdP (no lock)");

  const fetchB = fakeFetch(jwks);
  const nowB = clock(NOW + 5);
  const b = createGate(baseConfig(), { fetch: fetchB, store, now: nowB });
  const ids = await Promise.all(Array.from({ length: 10 }, (_, i) => b.verify(ed.mint({ sub: `b${i}` }))));
  assert.equal(ids[9].subject, "b9");
  assert.equal(fetchB.calls.length, 0, "no IdP fetch");
  assert.equal(b.keys()[0].fetchedAt, NOW);
  // A kid missing from the stored keys: within the cooldown after the
  // stored fetch (the restore ended b's flight), no IdP fetch; after it,
  // one fetch however many ask.
  const other = new Signer("ES256", "ec-9");
  assert.equal(await codeOf(b.verify(other.mint())), "key_not_found");
  assert.equal(fetchB.calls.length, 0);
  nowB.t = NOW + 31;
  const codes = await Promise.all([codeOf(b.verify(other.mint())), codeOf(b.verify(other.mint()))]);
  assert.deepEqual(codes, ["key_not_found", "key_not_found"]);
  assert.equal(fetchB.calls.length, 1);
});

/** A store with `lock` (by the test's clock), like Redis's SET NX EXAT. */
function lockingStore(now) {
  const s = memoryStore();
  s.locks = { granted: 0, refused: 0 };
  s.lock = async (k, deadline) => {
    const held = Number(s.m.get(k) ?? 0);
    if (held > now()) {
      s.locks.refused++;
      return false;
    }
    s.m.set(k, String(deadline));
    s.locks.granted++;
    return true;
  };
  return s;
}

test("store: a cold start of 20 gates makes 1 IdP fetch with a lock, at most 1 per gate without", async () => {
  const now = clock();
  const store = lockingStore(now);
  const fetch = fakeFetch(jwks, { delay: 50 });
  const gates = Array.from({ length: 20 }, () => createGate(baseConfig(), { fetch, store, now }));
  const ids = await Promise.all(gates.map((g, i) => g.verify(rs.mint({ sub: `g${i}` }))));
  assert.equal(ids[19].subject, "g19");
  assert.equal(fetch.calls.length, 1);
  assert.deepEqual(store.sets.map(([k]) => k), [`edgeward:keys:v1:${ISSUER}`]);
  assert.equal(store.locks.granted, 1);
  assert.ok(store.locks.refused >= 1);
  assert.ok(store.m.has(`edgeward:lock:v1:jwks:${ISSUER}`));

  // Without a lock (Workers KV): each gate may fetch once, not more.
  const kv = memoryStore();
  const fetch2 = fakeFetch(jwks, { delay: 50 });
  const cold = Array.from({ length: 20 }, () => createGate(baseConfig(), { fetch: fetch2, store: kv, now: clock() }));
  await Promise.all(cold.flatMap((g) => [g.verify(rs.mint()), g.verify(ed.mint())]));
  assert.ok(fetch2.calls.length >= 1 && fetch2.calls.length <= 20, String(fetch2.calls.length));
  // One after another, the first one's copy serves the rest.
  const fetch3 = fakeFetch(jwks);
  const kv3 = memoryStore();
  for (let i = 0; i < 5; i++) await createGate(baseConfig(), { fetch: fetch3, store: kv3, now: clock() }).verify(rs.mint());
  assert.equal(fetch3.calls.length, 1);
});

test("store: a lock held by a peer that never publishes: the waiter fetches itself after fetch_timeout + grace", async () => {
  const now = clock();
  const store = lockingStore(now);
  store.m.set(`edgeward:lock:v1:jwks:${ISSUER}`, String(NOW + 3600)); // a crashed holder's
  const fetch = fakeFetch(jwks);
  const gate = createGate(baseConfig({ top: { keys: { fetch_timeout: 2 } } }), { fetch, store, now });
  const pending = gate.verify(rs.mint());
  await new Promise((r) => setTimeout(r, 350));
  assert.equal(fetch.calls.length, 0, "waiting for the holder's copy");
  assert.ok(store.locks.refused >= 1);
  now.t += 2 + 2;
  assert.equal((await pending).subject, "alice");
  assert.equal(fetch.calls.length, 1);
});

test("store: errors do not stop verification", async () => {
  const errors = [];
  const store = {
    get: async () => {
      throw new Error("store down");
    },
    set: async () => {
      throw new Error("store down");
    },
  };
  const gate = createGate(baseConfig(), {
    fetch: fakeFetch(jwks),
    store,
    now: clock(),
    onError: (e, where) => errors.push(where),
  });
  assert.equal((await gate.verify(rs.mint())).subject, "alice");
  // The read at first use, the flight's read (the core did not learn what
  // the store holds), the write after the IdP fetch.
  assert.deepEqual(errors, ["store.get", "store.get", "store.set"]);
  // A corrupt snapshot is ignored too.
  const bad = { get: async () => '{"v":99}', set: async () => {} };
  const g2 = createGate(baseConfig(), { fetch: fakeFetch(jwks), store: bad, now: clock(), onError: (e, w) => errors.push(w) });
  assert.equal((await g2.verify(rs.mint())).subject, "alice");
  assert.ok(errors.includes("store.value"));
  // A store that never answers, or whose lock throws: the IdP after half of
  // keys.fetch_timeout, no failed request.
  errors.length = 0;
  const hung = { get: () => new Promise(() => {}), set: () => new Promise(() => {}), lock: async () => { throw new Error("down"); } };
  const fetch3 = fakeFetch(jwks);
  const g3 = createGate(baseConfig({ top: { keys: { fetch_timeout: 1 } } }), { fetch: fetch3, store: hung, now: clock(), onError: (e, w) => errors.push(w) });
  const t0 = Date.now();
  assert.equal((await g3.verify(rs.mint())).subject, "alice");
  assert.ok(Date.now() - t0 < 3000, `${Date.now() - t0} ms`);
  assert.equal(fetch3.calls.length, 1);
  assert.deepEqual(errors, ["store.get", "store.get", "store.set"]);
  const flaky = { get: async () => null, set: async () => {}, lock: async () => { throw new Error("down"); } };
  errors.length = 0;
  const fetch4 = fakeFetch(jwks);
  const g4 = createGate(baseConfig(), { fetch: fetch4, store: flaky, now: clock(), onError: (e, w) => errors.push(w) });
  assert.equal((await g4.verify(rs.mint())).subject, "alice");
  assert.equal(fetch4.calls.length, 1);
  assert.deepEqual(errors, ["store.lock"]);
});

test("store: a newer snapshot withdrawing a key drops verdicts made with it", async () => {
  const store = memoryStore();
  let published = [rs.jwk(), ed.jwk()];
  const idp = () => fakeFetch(() => ({ keys: published }), { headers: { "cache-control": "max-age=60" } });
  const config = baseConfig({ top: { cache: { ttl: 3600 } } });
  const now = clock();
  const a = createGate(config, { fetch: idp(), store, now });
  const t = rs.mint();
  await a.verify(t);
  // The IdP drops rsa-1; another instance refreshes and writes the store.
  published = [ed.jwk()];
  now.t += 100; // a's keys are stale; its verdict for t is not expired
  const b = createGate(config, { fetch: idp(), store, now: clock(now.t) });
  await b.refresh();
  await a.verify(ed.mint()); // a's due refresh restores b's newer snapshot
  await new Promise((r) => setTimeout(r, 20));
  assert.deepEqual(a.keys()[0].keys.map((k) => k.kid), ["ed-1"]);
  assert.equal(await codeOf(a.verify(t)), "key_not_found");
});

/**
 * A fake IdP answering by URL: `routes[url]` is a key set (200) or
 * { redirect: location, status? }. Records each URL and the redirect mode.
 */
function redirectingFetch(routes) {
  const f = async (url, init) => {
    f.calls.push(url);
    f.modes.push(init?.redirect);
    const r = routes[url];
    if (r === undefined) return new Response("not found", { status: 404 });
    if (r.redirect !== undefined) {
      return new Response("moved", { status: r.status ?? 302, headers: { location: r.redirect } });
    }
    return Response.json(r, { headers: { "cache-control": "max-age=600" } });
  };
  f.calls = [];
  f.modes = [];
  return f;
}

test("key fetch redirects: followed by hand, each hop where the core allows (issue 9, defect 14)", async () => {
  const fetch = redirectingFetch({
    [JWKS_URI]: { redirect: "/keys/v2" },
    "https://idp.test/keys/v2": { redirect: "https://cdn.idp.test/jwks.json", status: 301 },
    "https://cdn.idp.test/jwks.json": { redirect: "current", status: 307 },
    "https://cdn.idp.test/current": jwks,
  });
  const gate = createGate(baseConfig(), { fetch, now: clock() });
  assert.equal((await gate.verify(rs.mint())).subject, "alice");
  assert.deepEqual(fetch.calls, [JWKS_URI, "https://idp.test/keys/v2", "https://cdn.idp.test/jwks.json", "https://cdn.idp.test/current"]);
  assert.ok(fetch.modes.every((m) => m === "manual"), fetch.modes.join());
});

test("key fetch redirects: to plain http, to a user@ URL, or past 5 hops, are refused (issue 9, defect 14)", async () => {
  for (const [to, why] of [
    ["http://idp.test/jwks", /must be https/],
    ["https://user@evil.test/jwks", /user@/],
    ["ftp://idp.test/jwks", /cannot follow the redirect/],
  ]) {
    const fetch = redirectingFetch({ [JWKS_URI]: { redirect: to }, [to]: jwks });
    const gate = createGate(baseConfig(), { fetch, now: clock() });
    assert.equal(await codeOf(gate.verify(rs.mint())), "keys_unavailable", to);
    assert.deepEqual(fetch.calls, [JWKS_URI], `${to} was not fetched`);
    assert.match(gate.keys()[0].lastError, why);
  }
  const chain = { [JWKS_URI]: { redirect: "https://idp.test/1" } };
  for (let i = 1; i <= 6; i++) chain[`https://idp.test/${i}`] = { redirect: `https://idp.test/${i + 1}` };
  chain["https://idp.test/7"] = jwks;
  const fetch = redirectingFetch(chain);
  const gate = createGate(baseConfig(), { fetch, now: clock() });
  assert.equal(await codeOf(gate.verify(rs.mint())), "keys_unavailable");
  assert.equal(fetch.calls.length, 6, "the first fetch and 5 redirects");
  assert.match(gate.keys()[0].lastError, /more than 5 redirects/);
});

test("key fetch redirects: a loopback dev issuer over real HTTP stays on its own origin (issue 9, defect 14)", async () => {
  const http = await import("node:http");
  const other = http.createServer((req, res) => res.end(JSON.stringify(jwks)));
  await new Promise((r) => other.listen(0, "127.0.0.1", r));
  const otherBase = `http://127.0.0.1:${other.address().port}`;
  const served = [];
  const idp = http.createServer((req, res) => {
    served.push(req.url);
    if (req.url === "/jwks") {
      res.writeHead(302, { location: "/keys" });
      res.end();
    } else if (req.url === "/away") {
      res.writeHead(302, { location: `${otherBase}/keys` });
      res.end();
    } else {
      res.setHeader("content-type", "application/json");
      res.end(JSON.stringify(jwks));
    }
  });
  await new Promise((r) => idp.listen(0, "127.0.0.1", r));
  const issuer = `http://127.0.0.1:${idp.address().port}`;
  try {
    const config = (path) => ({ ...baseConfig(), issuers: [{ issuer, jwks_uri: `${issuer}${path}`, audiences: [AUDIENCE] }] });
    // The global fetch, following nothing by itself.
    const gate = createGate(config("/jwks"), { now: clock() });
    assert.equal((await gate.verify(rs.mint({ iss: issuer }))).issuer, issuer);
    assert.deepEqual(served, ["/jwks", "/keys"]);
    const away = createGate(config("/away"), { now: clock() });
    assert.equal(await codeOf(away.verify(rs.mint({ iss: issuer }))), "keys_unavailable");
    assert.match(away.keys()[0].lastError, /redirect to .* refused/);
  } finally {
    await new Promise((r) => idp.close(r));
    await new Promise((r) => other.close(r));
  }
});
