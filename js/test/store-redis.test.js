// The Redis adapter (redisStore, node-redis) against a real redis-server on
// a free loopback port, started and stopped (by PID) here; the IdP is a
// node:http server on another loopback port, counting key-set requests.
// Each gate has its own Redis connection, as separate processes would, and
// the real clock (Redis expires locks by its own).
//
// js/scripts/test.sh installs redis-server (Debian's package); without it
// on PATH these tests are skipped.
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import http from "node:http";
import net from "node:net";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createClient } from "redis";
import { createGate, redisStore } from "edgeward";
import { runtime, testIf } from "./harness.js";
import { AUDIENCE, Signer, baseConfig } from "./fixtures.js";

const haveRedis = spawnSync("redis-server", ["--version"], { stdio: "ignore" }).status === 0;
const name = (s) => (haveRedis ? s : `${s} (redis-server not installed)`);

/** A free loopback TCP port (closed again before it is used). */
async function freePort() {
  const srv = net.createServer();
  await new Promise((r) => srv.listen(0, "127.0.0.1", r));
  const { port } = srv.address();
  await new Promise((r) => srv.close(r));
  return port;
}

/** Starts redis-server; resolves when it accepts connections. */
async function startRedis() {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), "edgeward-redis-"));
  const child = spawn(
    "redis-server",
    ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  let log = "";
  const exited = new Promise((r) => child.once("exit", r));
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`redis-server did not start:\n${log}`)), 10_000);
    child.stdout.on("data", (d) => {
      log += d;
      if (log.includes("Ready to accept connections")) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.stderr.on("data", (d) => (log += d));
    exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`redis-server exited (${code}):\n${log}`));
    });
  });
  const clients = [];
  return {
    port,
    /** A new connection (one per "process"); closed by stop(). */
    async client() {
      const c = createClient({
        socket: { host: "127.0.0.1", port, reconnectStrategy: () => 200, connectTimeout: 1000 },
      });
      c.on("error", () => {}); // reconnects are the point of the outage test
      clients.push(c);
      await c.connect();
      return c;
    },
    /** Stops the server by its PID (SIGTERM) and waits for it to exit. */
    async kill() {
      if (child.exitCode === null && child.signalCode === null) {
        process.kill(child.pid, "SIGTERM");
        await exited;
      }
    },
    async stop() {
      for (const c of clients) {
        try {
          if (typeof c.destroy === "function") c.destroy();
          else await c.disconnect();
        } catch {
          // already closed
        }
      }
      await this.kill();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A loopback IdP serving `keys` at /jwks (after `delay` ms); `down` resets every connection. */
async function startIdp(keys, { delay = 0 } = {}) {
  const idp = {
    keys,
    down: false,
    hits: 0,
  };
  const server = http.createServer((req, res) => {
    idp.hits++;
    if (idp.down) {
      req.socket.destroy();
      return;
    }
    setTimeout(() => {
      res.writeHead(200, { "content-type": "application/json", "cache-control": "max-age=600" });
      res.end(JSON.stringify({ keys: idp.keys }));
    }, delay);
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  idp.issuer = `http://127.0.0.1:${server.address().port}`;
  idp.close = () =>
    new Promise((r) => {
      server.closeAllConnections?.();
      server.close(r);
    });
  return idp;
}

const config = (issuer, keys = {}) => ({
  ...baseConfig(),
  issuers: [{ issuer, jwks_uri: `${issuer}/jwks`, audiences: [AUDIENCE] }],
  keys: { fetch_timeout: 2, ...keys },
});

/** A token for `issuer` valid by the real clock. */
function mint(signer, issuer, claims = {}) {
  const now = Math.floor(Date.now() / 1000);
  return signer.mint({ iss: issuer, iat: now - 10, exp: now + 3600, ...claims });
}

const codeOf = (p) => p.then(() => "ok", (e) => e.code ?? String(e));

async function withRedisAndIdp(keys, opts, fn) {
  const redis = await startRedis();
  const idp = await startIdp(keys, opts);
  try {
    await fn(redis, idp);
  } finally {
    await idp.close();
    await redis.stop();
  }
}

const rs = new Signer("RS256", "rsa-1");
const ed = new Signer("EdDSA", "ed-1");

// Node, Deno and Bun alike: node-redis and node:child_process work in all
// three (each test waits at most a few seconds on purpose; `runtime` only
// names a skip).
void runtime;

testIf(haveRedis, name("Redis: a second gate (another process) takes the keys from Redis, 0 IdP fetches"), async () => {
  await withRedisAndIdp([rs.jwk()], {}, async (redis, idp) => {
    const a = createGate(config(idp.issuer), { store: redisStore(await redis.client()) });
    assert.equal((await a.verify(mint(rs, idp.issuer))).subject, "alice");
    assert.equal(idp.hits, 1);

    const peek = await redis.client();
    const key = `edgeward:keys:v1:${idp.issuer}`;
    const stored = JSON.parse(await peek.get(key));
    assert.equal(stored.iss, idp.issuer);
    assert.deepEqual(stored.keys.map((k) => k.kid), ["rsa-1"]);
    const ttl = await peek.ttl(key);
    assert.ok(ttl > 172_700 && ttl <= 172_800, `TTL ${ttl}: keys.max_ttl + keys.stale_if_error`);

    const b = createGate(config(idp.issuer), { store: redisStore(await redis.client()) });
    const ids = await Promise.all(Array.from({ length: 10 }, (_, i) => b.verify(mint(rs, idp.issuer, { sub: `b${i}` }))));
    assert.equal(ids[9].subject, "b9");
    assert.equal(idp.hits, 1, "b made no IdP request");
    assert.equal(b.keys()[0].fetchedAt, stored.fetched_at);
  });
}, 30_000);

testIf(haveRedis, name("Redis with the lock: a cold start of 20 gates at once makes exactly 1 IdP key-set fetch"), async () => {
  // The IdP takes 300 ms: every gate is in its flight before the keys land.
  await withRedisAndIdp([rs.jwk(), ed.jwk()], { delay: 300 }, async (redis, idp) => {
    const locks = { granted: 0, refused: 0 };
    const counted = (store) => ({
      ...store,
      async lock(key, deadline) {
        const got = await store.lock(key, deadline);
        locks[got ? "granted" : "refused"]++;
        return got;
      },
    });
    const gates = await Promise.all(
      Array.from({ length: 20 }, async () => createGate(config(idp.issuer), { store: counted(redisStore(await redis.client())) })),
    );
    const lockKey = `edgeward:lock:v1:jwks:${idp.issuer}`;
    const peek = await redis.client();
    let lockTtl = -2;
    const watch = setInterval(() => {
      peek.ttl(lockKey).then((t) => (lockTtl = Math.max(lockTtl, t)), () => {});
    }, 50);
    const ids = await Promise.all(
      gates.map((g, i) => g.verify(mint(i % 2 ? ed : rs, idp.issuer, { sub: `g${i}` }))),
    ).finally(() => clearInterval(watch));
    assert.deepEqual(
      ids.map((id) => id.subject),
      gates.map((_, i) => `g${i}`),
    );
    assert.equal(idp.hits, 1, "one IdP fetch for the whole fleet");
    assert.equal(locks.granted, 1, JSON.stringify(locks));
    assert.ok(locks.refused >= 1, "the others waited for the holder's copy");
    // The lock lived in Redis with an expiry of at most fetch_timeout + grace.
    assert.ok(lockTtl > 0 && lockTtl <= 2 + 2, `lock TTL ${lockTtl}`);
    // Every gate holds the keys now: nothing more reaches the IdP or waits.
    await Promise.all(gates.map((g) => g.verify(mint(rs, idp.issuer, { sub: "again" }))));
    assert.equal(idp.hits, 1);
  });
}, 30_000);

testIf(haveRedis, name("Redis: an IdP outage with Redis empty is shared; other gates in the cooldown make 0 IdP requests"), async () => {
  await withRedisAndIdp([rs.jwk()], {}, async (redis, idp) => {
    idp.down = true;
    const cfg = config(idp.issuer, { refetch_cooldown: 2 });
    const a = createGate(cfg, { store: redisStore(await redis.client()) });
    assert.equal(await codeOf(a.verify(mint(rs, idp.issuer))), "keys_unavailable");
    assert.equal(idp.hits, 1);
    const failed = JSON.parse(await (await redis.client()).get(`edgeward:keys:v1:${idp.issuer}`));
    assert.ok(failed.failed_at > 0 && failed.keys.length === 0, JSON.stringify(failed));

    // Other processes within the cooldown: 503 at once, no IdP request.
    const others = await Promise.all(
      Array.from({ length: 5 }, async () => createGate(cfg, { store: redisStore(await redis.client()) })),
    );
    const codes = await Promise.all(others.map((g) => codeOf(g.verify(mint(rs, idp.issuer)))));
    assert.deepEqual(codes, Array(5).fill("keys_unavailable"));
    assert.equal(idp.hits, 1, "the failure was shared");
    assert.match(others[0].keys()[0].lastError, /another instance/);

    // After the cooldown, with the IdP back: one fetch, every gate verifies.
    idp.down = false;
    while (Math.floor(Date.now() / 1000) < failed.failed_at + 2) await new Promise((r) => setTimeout(r, 100));
    const ids = await Promise.all([a, ...others].map((g) => g.verify(mint(rs, idp.issuer))));
    assert.equal(ids.length, 6);
    assert.equal(idp.hits, 2, "one fetch after the cooldown, for the fleet");
  });
}, 30_000);

testIf(haveRedis, name("Redis stopped mid-way: gates verify from memory and the IdP, no failed request"), async () => {
  await withRedisAndIdp([rs.jwk()], {}, async (redis, idp) => {
    const errors = [];
    const opts = async () => ({ store: redisStore(await redis.client()), onError: (e, where) => errors.push(where) });
    // Store calls give up after half of fetch_timeout (500 ms); a 1 s
    // unknown-kid cooldown, for the rotation below.
    const cfg = config(idp.issuer, { fetch_timeout: 1, refetch_cooldown: 1 });
    const a = createGate(cfg, await opts());
    const b = createGate(cfg, await opts());
    const c = createGate(cfg, await opts());
    assert.equal((await a.verify(mint(rs, idp.issuer))).subject, "alice");
    assert.equal((await b.verify(mint(rs, idp.issuer, { sub: "b" }))).subject, "b");
    assert.equal(idp.hits, 1);

    await redis.kill();

    // Keys in memory: no store call at all.
    assert.equal((await a.verify(mint(rs, idp.issuer, { sub: "a2" }))).subject, "a2");
    assert.deepEqual(errors, []);
    // A gate starting now (c's first use): Redis does not answer, the IdP does.
    const t0 = Date.now();
    assert.equal((await c.verify(mint(rs, idp.issuer, { sub: "c" }))).subject, "c");
    assert.equal(idp.hits, 2);
    assert.ok(Date.now() - t0 < 2500, `${Date.now() - t0} ms: store reads give up after half of fetch_timeout`);
    assert.ok(errors.length > 0 && errors.every((w) => w.startsWith("store.")), errors.join());
    // A rotation on b (past the cooldown): the new kid from the IdP, Redis
    // still down.
    const next = new Signer("ES256", "ec-2");
    idp.keys = [rs.jwk(), next.jwk()];
    while (Math.floor(Date.now() / 1000) <= b.keys()[0].fetchedAt + 1) await new Promise((r) => setTimeout(r, 100));
    assert.equal((await b.verify(mint(next, idp.issuer, { sub: "rotated" }))).subject, "rotated");
    assert.equal(idp.hits, 3);
    // And concurrent requests on every gate still pass.
    const ids = await Promise.all([a, b, c].flatMap((g) => [g.verify(mint(rs, idp.issuer)), g.verify(mint(next, idp.issuer))]));
    assert.equal(ids.length, 6);
  });
}, 30_000);
