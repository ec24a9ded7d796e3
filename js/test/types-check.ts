// Type-level test of lib/index.d.ts: `deno check test/types-check.ts`
// (scripts/test.sh runs it). Never executed.
import {
  type CheckResult,
  type Config,
  createGate,
  type DecisionEvent,
  type Metrics,
  denoKvStore,
  EdgewardError,
  forwardHeaders,
  type Gate,
  type Identity,
  type KeyStore,
  reasons,
  redisStore,
  runtime,
  verifyAssertion,
  workersKvStore,
} from "edgeward";
import { Hono } from "hono";
import { HTTPException } from "hono/http-exception";

const config: Config = {
  issuers: [{ issuer: "https://login.example.com/", audiences: ["api://orders"], algorithms: ["RS256", "EdDSA"] }],
  routes: [
    { path: "/health", access: "anonymous" },
    { path: "/orders/**", methods: ["GET"], scopes: { any: ["orders:read"] } },
  ],
};
const gate: Gate = createGate(config, { crypto: "native", now: () => Date.now() / 1000, onError: (e, where) => console.warn(where, e) });
createGate(JSON.stringify(config));
// @ts-expect-error: audiences is required
createGate({ issuers: [{ issuer: "https://x/" }] });
// @ts-expect-error: not a backend
createGate(config, { crypto: "fast" });
createGate({
  ...config,
  cors: { allowed_origins: ["https://app.example.com"], max_age: 600, allow_credentials: true },
  resource: { identifier: "https://api.example.com/orders", name: "Orders" },
  routes: [{ path: "/cors/**", forward_preflight: true }, { path: "/catalog/**", access: "optional" }],
});
// @ts-expect-error: policy.preflight was removed (use cors / forward_preflight)
createGate({ ...config, policy: { preflight: true } });

async function use(req: Request): Promise<Response> {
  const id: Identity = await gate.verify("eyJ...");
  const sub: string | null = id.subject;
  const scopes: readonly string[] = id.scopes;
  // @ts-expect-error: identities are read-only
  id.subject = "mallory";
  const r: CheckResult = await gate.check(req);
  await gate.check({ method: "GET", path: "/orders/1", headers: { authorization: "Bearer x" } });
  await gate.check({ url: "/orders/1", headers: [["authorization", "Bearer x"]] });
  if (!r.allowed) return new Response(r.body, { status: r.status, headers: r.headers });
  const outcome: "allow" | "deny" | "answer" = r.outcome;
  const cors: Readonly<Record<string, string>> = r.responseHeaders;
  console.log(outcome, cors["access-control-allow-origin"]);
  const h: Headers = forwardHeaders(r, req.headers);
  try {
    await gate.verify("x");
  } catch (e) {
    if (e instanceof EdgewardError) console.log(e.code, e.status, e.headers["www-authenticate"], sub, scopes);
    if (e instanceof EdgewardError) {
      const code: "token_expired" | "config_invalid" | string = e.code;
      const status: number = e.statusCode;
      const claim: "exp" | "aud" | "iss" | "iat" | "typ" | undefined = e.claim;
      console.log(code, status, claim, e.cause);
      // @ts-expect-error: not a reason code
      if (e.code === "token_expird") console.log("typo");
    }
  }
  const cached = gate.keys()[0];
  const fresh: "missing" | "fresh" | "stale" | "expired" = cached.freshness;
  await gate.refresh(cached.issuer);
  console.log(fresh, reasons[0].code, runtime.name, runtime.nativeAlgorithms());
  return fetch(req.url, { headers: h });
}

declare const kv: { get(k: string): Promise<string | null>; put(k: string, v: string, o?: { expirationTtl?: number }): Promise<void> };
createGate(config, { store: workersKvStore(kv) });
createGate(config, { store: denoKvStore({}) });
createGate(config, { store: { get: async () => null, set: async () => {} } });
const locking: KeyStore = { get: () => null, set: () => {}, lock: async (_k: string, deadline: number) => deadline > 0 };
createGate(config, { store: locking });
declare const redis: { get(k: string): Promise<string | null>; set(k: string, v: string, o: object): Promise<string | null> };
createGate(config, { store: redisStore(redis) });
// Hono: the context carries the identity, typed; refusals can be thrown.
const hono = new Hono()
  .use("*", gate.hono())
  .use("*", gate.hono({ throwErrors: true }))
  .get("/orders/:id", (c) => c.json({ sub: c.get("identity").subject, reason: c.get("edgeward").reason }));
hono.onError((err, c) => (err instanceof HTTPException ? err.getResponse() : c.text("oops", 500)));
// @ts-expect-error: not an option
gate.hono({ passErrors: true });

// Express: req.auth / req.edgeward on Express.Request by declaration
// merging (@types/express extends the same global namespace); refusals to
// next(err) as an EdgewardError.
const passing: (req: any, res: any, next: (err?: unknown) => void) => void = gate.express({ passErrors: true });
function handler(req: Express.Request): string | null {
  const who: Identity | undefined = req.auth;
  const result: CheckResult | undefined = req.edgeward;
  return result?.allowed ? (who?.subject ?? null) : null;
}
function errorHandler(err: unknown, res: { status(n: number): { set(h: Record<string, string>): { json(b: unknown): void } } }) {
  if (err instanceof EdgewardError) res.status(err.statusCode).set({ ...err.headers }).json({ code: err.code, claim: err.claim });
}
// @ts-expect-error: not an option
gate.connect({ throwErrors: true });
export { errorHandler, handler, hono, passing, use };

// Fastify: the plugin, request.identity by declaration merging, guards.
import Fastify from "fastify";
const fastifyApp = Fastify();
fastifyApp.register(gate.fastify());
fastifyApp.register(gate.fastify(), { throwErrors: true });
const writeGuard = gate.require({ scopes: { all: ["orders:write"] }, owner: { user: "sub" }, api_tokens: false });
fastifyApp.post("/orders/:id", { preHandler: writeGuard.fastify({ throwErrors: true }) }, async (request) => {
  const who: Identity | null = request.identity;
  const sub: string | null | undefined = who?.subject;
  return { sub, outcome: request.edgeward?.outcome };
});
const guarded: CheckResult = writeGuard.check(null, { params: { user: "alice" } });
const expressGuard: (req: any, res: any, next: (err?: unknown) => void) => void = writeGuard.express({ passErrors: true });
new Hono().post("/orders/:id", writeGuard.hono({ throwErrors: true }), (c) => c.json({ sub: c.get("identity").subject }));
// @ts-expect-error: path belongs in [[routes]]
gate.require({ path: "/orders" });
// @ts-expect-error: not a fastify option
gate.fastify({ passErrors: true });
void guarded;
void expressGuard;
// Observability (docs/observability.md).
const observed: Gate = createGate(config, {
  onDecision: (e: DecisionEvent) => {
    const outcome: "allow" | "deny" | "answer" | "report_only" = e.outcome;
    const cache: "hit" | "miss" | null = e.jwt_cache;
    const ms: number = e.latency_ms;
    void [outcome, cache, ms, e.key_fetch, e.unverified_issuer];
  },
});
const counters: Metrics = observed.metrics();
const deniedExpired: number = counters["denied.token_expired"];
const promText: string = observed.metrics({ format: "prometheus" });
void [deniedExpired, promText];
// Identity forwarding: header presets and the signed identity assertion.
const forwarding: Config = {
  headers: { preset: "oauth2-proxy" },
  assertion: { audience: "https://orders.internal", issuer: "https://gate.example.com", ttl: 60 },
};
createGate(forwarding, { assertionKey: "seed" });
async function originSide(req: Request): Promise<string | undefined> {
  const asserted = await verifyAssertion(req, {
    jwksUrl: "https://gate.example.com/.well-known/edgeward/jwks.json",
    audience: "https://orders.internal",
    issuer: "https://gate.example.com",
  });
  const assertedKind: "jwt" | "api_token" = asserted.kind;
  void [assertedKind, asserted.scope];
  return asserted.sub;
}
void originSide;
// @ts-expect-error: audience is required
verifyAssertion("token", { jwks: { keys: [] }, issuer: "g" });
