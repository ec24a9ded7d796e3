// Adapters from common key-value stores to the gate's `store` option:
// `{ get(key) -> string | null, set(key, value, ttlSeconds) }`. The gate
// keeps one entry per issuer: the core's key-set snapshot (JSON, a few KiB).

/**
 * Cloudflare Workers KV (`env.MY_KV`). KV's shortest expiration is 60 s.
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
 * @param {any} kv a Deno.Kv
 * @param {unknown[]} [prefix]
 */
export function denoKvStore(kv, prefix = ["edgeward"]) {
  return {
    get: async (key) => (await kv.get([...prefix, key])).value ?? null,
    set: async (key, value, ttlSeconds) => {
      await kv.set([...prefix, key], value, { expireIn: Math.ceil(ttlSeconds) * 1000 });
    },
  };
}

/**
 * Redis through node-redis 4+ (`createClient().connect()`). For ioredis:
 * `{ get: (k) => r.get(k), set: (k, v, ttl) => r.set(k, v, "EX", ttl) }`.
 * @param {{ get(key: string): Promise<string | null>, set(key: string, value: string, o: { EX: number }): Promise<unknown> }} client
 */
export function redisStore(client) {
  return {
    get: (key) => client.get(key),
    set: async (key, value, ttlSeconds) => {
      await client.set(key, value, { EX: Math.max(1, Math.ceil(ttlSeconds)) });
    },
  };
}
