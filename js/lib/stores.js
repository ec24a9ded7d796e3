// Adapters from common key-value stores to the gate's `store` option:
//
//   get(key)                   -> string | null
//   set(key, value, ttlSeconds)
//   lock?(key, deadline)       -> boolean
//
// Which keys, what values, when to write, how long they live and when to
// lock are the core's (src/keystore/shared.rs): per issuer one snapshot of
// its keys (`edgeward:keys:v1:<issuer>`, JSON, a few KiB) and, on stores
// that can lock, a short-lived lock per fetch (`edgeward:lock:v1:...`).
// `lock(key, deadline)` sets `key` to `deadline` (Unix seconds) only when
// the key is absent or holds a deadline already past, expiring at
// `deadline`; true when it did. Without `lock`, concurrent cold starts may
// each fetch once (the shared cooldown still bounds every later fetch).

/** Unix seconds by the host's clock (a lock's stored deadline is compared with it). */
const wallSeconds = () => Date.now() / 1000;

/**
 * Cloudflare Workers KV (`env.MY_KV`). KV cannot lock (it is eventually
 * consistent), and its shortest expiration is 60 s.
 * @param {{ get(key: string): Promise<string | null>, put(key: string, value: string, o?: { expirationTtl?: number }): Promise<void> }} namespace
 */
export function workersKvStore(namespace) {
  return {
    get: (key) => namespace.get(key),
    set: (key, value, ttlSeconds) =>
      namespace.put(key, value, { expirationTtl: Math.max(60, Math.ceil(ttlSeconds)) }),
  };
}

/**
 * Deno KV (`await Deno.openKv()`); entries live under `[...prefix, key]`.
 * Locks with an atomic check of the versionstamp read; a stored deadline
 * already past counts as free (Deno KV deletes expired entries lazily).
 * @param {any} kv a Deno.Kv
 * @param {unknown[]} [prefix]
 */
export function denoKvStore(kv, prefix = ["edgeward"]) {
  return {
    get: async (key) => (await kv.get([...prefix, key])).value ?? null,
    set: async (key, value, ttlSeconds) => {
      await kv.set([...prefix, key], value, { expireIn: Math.max(1, Math.ceil(ttlSeconds)) * 1000 });
    },
    lock: async (key, deadline) => {
      const k = [...prefix, key];
      for (let attempt = 1; ; attempt++) {
        const held = await kv.get(k);
        if (held.value != null && Number(held.value) > wallSeconds()) return false;
        try {
          const res = await kv
            .atomic()
            .check(held)
            .set(k, String(deadline), { expireIn: Math.max(1000, Math.ceil(deadline * 1000 - Date.now())) })
            .commit();
          return res.ok === true;
        } catch (e) {
          // A KV file opened by several processes refuses a write while
          // another one commits ("database is locked"): read and try again.
          if (attempt >= 5) throw e;
          await new Promise((r) => setTimeout(r, 5 * attempt));
        }
      }
    },
  };
}

/**
 * Redis through node-redis 4 or 5 (`await createClient().connect()`).
 * The lock is `SET key deadline NX EXAT deadline` (Redis 6.2+). For
 * ioredis:
 *
 *   {
 *     get: (k) => r.get(k),
 *     set: (k, v, ttl) => r.set(k, v, "EX", Math.max(1, Math.ceil(ttl))),
 *     lock: async (k, deadline) => (await r.set(k, String(deadline), "EXAT", deadline, "NX")) === "OK",
 *   }
 *
 * Give the client an `error` listener; while Redis is down the gate reads
 * through its timeout (half of `keys.fetch_timeout`) and goes to the IdP.
 * @param {{ get(key: string): Promise<string | null>, set(key: string, value: string, o: object): Promise<unknown> }} client
 */
export function redisStore(client) {
  return {
    get: (key) => client.get(key),
    set: async (key, value, ttlSeconds) => {
      await client.set(key, value, { EX: Math.max(1, Math.ceil(ttlSeconds)) });
    },
    lock: async (key, deadline) => (await client.set(key, String(deadline), { NX: true, EXAT: deadline })) === "OK",
  };
}
