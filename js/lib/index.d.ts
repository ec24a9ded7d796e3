// Type declarations for `edgeward` (every entry point: node, deno, bun,
// workerd, bundlers).

// Types only, for `gate.hono()`: nothing of hono is loaded at run time.
// Without hono installed the type is `any` (the ts-ignore keeps a missing
// module from being an error for Express-only users).
// @ts-ignore
import type { MiddlewareHandler } from "hono";
// Types only, for `gate.fastify()` and `request.identity`; `any` without fastify.
// @ts-ignore
import type { FastifyPluginCallback, FastifyReply, FastifyRequest } from "fastify";

/**
 * The gate configuration: the one schema every edgeward host reads
 * (docs/configuration.md). Unknown keys are errors. Shown here are the
 * commonest keys; `createGate` validates the whole document.
 */
export interface Config {
  /** `enforce` (default) or `report-only` (annotate and let through). */
  mode?: "enforce" | "report-only";
  /** The `realm` in `WWW-Authenticate` challenges (default `api`). */
  realm?: string;
  issuers?: IssuerConfig[];
  token?: {
    /** Largest accepted token in bytes, checked before decoding (default 8192). */
    max_size?: number;
    /** Also read the token from this cookie. */
    cookie?: string;
    /** Also read the token from this header (the raw token, no scheme). */
    header?: string;
    /** Also read the token from this query parameter. */
    query?: string;
  };
  keys?: {
    min_ttl?: number;
    max_ttl?: number;
    default_ttl?: number;
    /** Seconds stale keys still serve while the IdP fails (default 86400). */
    stale_if_error?: number;
    /** At most one refetch per issuer per this many seconds for unknown kids (default 30). */
    refetch_cooldown?: number;
    /** Largest accepted discovery / key-set response (default 262144). */
    max_response_bytes?: number;
    /** Seconds before a key fetch is abandoned (default 10). */
    fetch_timeout?: number;
  };
  cache?: {
    /** Longest a verified token is remembered, seconds (never past exp; default 300). */
    ttl?: number;
    /** Most tokens remembered (default 10000; 0 disables). */
    capacity?: number;
    negative_ttl?: number;
    negative_capacity?: number;
  };
  headers?: {
    /**
     * Which identity headers the origin gets: edgeward's own (`x-auth-subject`,
     * ..., the default), oauth2-proxy's (`x-auth-request-user`, `-email`,
     * `-preferred-username`, `-groups`), or both.
     */
    preset?: "edgeward" | "oauth2-proxy" | "edgeward+oauth2-proxy";
    subject?: string;
    issuer?: string;
    tenant?: string;
    scopes?: string;
    /** Extra claim → header map. */
    claims?: Record<string, string>;
    decision?: string;
    strip_authorization?: boolean;
  };
  policy?: {
    /** Access for requests no route matches (default `deny`). */
    default?: Access;
    /**
     * `evaluate` (default): a method named by `X-HTTP-Method-Override`,
     * `X-HTTP-Method`, `X-Method-Override` or a `_method` query parameter
     * must meet its own routes too; `ignore`: only the request's method.
     */
    method_override?: "evaluate" | "ignore";
  };
  /**
   * CORS answered by the gate: preflights from an allowed origin get a 204
   * from the gate itself (never the origin), others 403
   * `preflight_refused`; refusals and allowed responses to an allowed
   * `Origin` carry `Access-Control-Allow-Origin` (see
   * `CheckResult.responseHeaders`). Without it a preflight gets no
   * exemption (see `RouteConfig.forward_preflight`).
   */
  cors?: CorsConfig;
  /** RFC 9728 protected-resource metadata, served by the gate. */
  resource?: ResourceConfig;
  /** Signed identity assertion for the origin (see {@link verifyAssertion}). */
  assertion?: AssertionConfig;
  /** Ordered routes; the first match wins. */
  routes?: RouteConfig[];
  /** Static API tokens, stored as SHA-256 hashes. */
  api_tokens?: { name: string; sha256: string; scopes?: string[] }[];
}

/**
 * `[assertion]`: allowed requests with a verified token carry a short-lived
 * EdDSA JWT the gate signs; the gate serves its key set at `jwks_path`.
 */
export interface AssertionConfig {
  /** The origin's identifier: the assertion's `aud`. */
  audience: string;
  /** The gate's identifier: the assertion's `iss`. */
  issuer: string;
  /** Request header carrying it (default `x-edgeward-assertion`). */
  header?: string;
  /** Lifetime in seconds, 5 to 300 (default 60), never past the access token's `exp`. */
  ttl?: number;
  /** Where the gate serves its key set (default `/.well-known/edgeward/jwks.json`). */
  jwks_path?: string;
  /** Key id (default: the RFC 7638 thumbprint). */
  kid?: string;
  /** The Ed25519 seed (32 bytes, base64url); prefer `GateOptions.assertionKey`. */
  key?: string;
}

/** The claims of a verified assertion. */
export interface AssertionClaims {
  iss: string;
  aud: string;
  iat: number;
  exp: number;
  /** The caller (the access token's subject, or the API token's name). */
  sub?: string;
  kind: "jwt" | "api_token";
  /** The access token's issuer. */
  idp_iss?: string;
  tenant?: string;
  /** Granted scopes, space-separated. */
  scope: string;
  roles?: string[];
  permissions?: string[];
}

export interface VerifyAssertionOptions {
  /** The gate's key set (object or JSON text)... */
  jwks?: { keys: object[] } | string;
  /** ...or where the gate serves it (`https://gate.example.com/.well-known/edgeward/jwks.json`; cached by its max-age, refetched once on an unknown kid)... */
  jwksUrl?: string | URL;
  /** ...or the one public JWK. */
  publicKey?: object | string;
  /** Must equal the gate's `assertion.audience`. */
  audience: string;
  /** Must equal the gate's `assertion.issuer`. */
  issuer: string;
  /** Header to read from a request (default `x-edgeward-assertion`). */
  header?: string;
  /** Seconds of clock skew allowed on `iat` / `exp` (default 0). */
  clockTolerance?: number;
  /** The clock, Unix seconds. */
  now?: () => number;
  /** The fetch for `jwksUrl` (default: global fetch). */
  fetch?: (input: string, init?: RequestInit) => Promise<Response>;
}

/**
 * Checks that a request came through the gate: verifies its signed identity
 * assertion (EdDSA, `iss`, `aud`, `iat`/`exp`) and resolves to its claims.
 * `input` is the assertion, a `Request`, or a Node / Express request.
 * Rejects with an {@link EdgewardError} (`status` 401; `code`
 * `assertion_missing`, `assertion_malformed`, `key_not_found`,
 * `signature_invalid`, `issuer_invalid`, `audience_invalid`,
 * `assertion_expired`, `assertion_not_yet_valid`; 503
 * `assertion_keys_unavailable` when `jwksUrl` cannot be read).
 */
export function verifyAssertion(
  input: string | { headers: Headers | Record<string, string | string[] | undefined> },
  options: VerifyAssertionOptions,
): Promise<AssertionClaims>;

/**
 * `authenticated`: a valid token meeting the route's requirements.
 * `optional`: no token needed, but one that is sent must be valid.
 * `anonymous`: no token looked at. `deny`: refused.
 */
export type Access = "anonymous" | "optional" | "authenticated" | "deny";

export interface CorsConfig {
  /** Allowed origins (`https://app.example.com`), or `["*"]`. Required. */
  allowed_origins: string[];
  /** Methods a preflight may ask for (default GET, HEAD, POST, PUT, PATCH, DELETE). */
  allowed_methods?: string[];
  /** Request headers a preflight may ask for, lowercase (default authorization, content-type). */
  allowed_headers?: string[];
  /** Response headers scripts may read, besides `www-authenticate`. */
  expose_headers?: string[];
  /** Seconds a browser may cache a preflight answer (default 600, at most 86400). */
  max_age?: number;
  /** Send `Access-Control-Allow-Credentials: true` (not with `"*"`). */
  allow_credentials?: boolean;
}

export interface ResourceConfig {
  /** The resource identifier clients ask tokens for: an https URL. Required. */
  identifier: string;
  /** Issuers a client should use (default: every issuer). */
  authorization_servers?: string[];
  /** Scopes to advertise (default: every scope a route names). */
  scopes_supported?: string[];
  /** `resource_name`. */
  name?: string;
  /** `resource_documentation`, a URL. */
  documentation?: string;
}

export type Algorithm =
  | "RS256" | "RS384" | "RS512"
  | "PS256" | "PS384" | "PS512"
  | "ES256" | "ES384" | "ES512" | "EdDSA"
  | "HS256" | "HS384" | "HS512";

export interface IssuerConfig {
  /** The exact `iss`; discovery is at `{issuer}/.well-known/openid-configuration`. */
  issuer: string;
  /** The key set URL; found by OIDC discovery when absent. */
  jwks_uri?: string;
  /** Accepted `aud` values (one must be in the token). Required. */
  audiences: string[];
  /**
   * Top-level claims the token's audience is read from (default `["aud"]`;
   * Cognito access tokens: `["aud", "client_id"]`).
   */
  audience_claims?: string[];
  /**
   * Claims (claim paths) that must equal a value exactly, compared as JSON,
   * e.g. `{ token_use: "access" }`, `{ email_verified: true }`.
   */
  claim_values?: Record<string, unknown>;
  /** Accepted algorithms (default: every asymmetric one). */
  algorithms?: Algorithm[];
  /** Clock skew allowed on exp / nbf / iat, seconds (default 60). */
  leeway?: number;
  /** Required `typ` header, e.g. `at+jwt` (RFC 9068). */
  typ?: string;
  /** Oldest accepted token by `iat`, seconds. */
  max_age?: number;
  required_claims?: string[];
  scope_claims?: string[];
  role_claims?: string[];
  permission_claims?: string[];
  subject_claim?: string;
  tenant_claim?: string;
  tenants?: string[];
  /** A templated issuer (`{tid}` in `issuer`) accepts every tenant (default false). */
  any_tenant?: boolean;
  /** Shared secret for HS256/384/512 (never taken from a key set). */
  hmac_secret?: string;
}

export interface Need {
  any?: string[];
  all?: string[];
}

export interface RouteConfig {
  /** Literal segments, `*`, `{name}`, and a final `**`. */
  path: string;
  methods?: string[];
  access?: Access;
  scopes?: Need;
  roles?: Need;
  permissions?: Need;
  tenants?: string[];
  /** Path parameter → claim that must equal it, e.g. `{ user: "sub" }`. */
  owner?: Record<string, string>;
  api_tokens?: boolean;
  /**
   * Let CORS preflights on this route reach the origin without a token, as
   * anonymous requests (identity headers stripped), for an origin that
   * answers CORS itself (default false).
   */
  forward_preflight?: boolean;
}

/** Who a request is from, once verified. Frozen. */
export interface Identity {
  readonly kind: "jwt" | "api_token" | "anonymous";
  /** `sub` (or the configured subject claim; an API token's name). */
  readonly subject: string | null;
  readonly issuer: string | null;
  readonly tenant: string | null;
  readonly scopes: readonly string[];
  readonly roles: readonly string[];
  readonly permissions: readonly string[];
  /** `exp`, Unix seconds. */
  readonly expiresAt: number | null;
  /** Every claim of the token (`null` for API tokens and anonymous routes). */
  readonly claims: Readonly<Record<string, unknown>> | null;
}

/** What `gate.check` answers. */
export interface CheckResult {
  /**
   * Forward the request (true), or answer it with `status`, `headers` and
   * `body` (a refusal, or a response the gate sends itself).
   */
  readonly allowed: boolean;
  /**
   * `allow`: forward. `deny`: a refusal (`reason` says why). `answer`: a
   * response the gate sends itself, not a refusal (a CORS preflight: 204;
   * the RFC 9728 metadata: 200); the origin must not be reached.
   */
  readonly outcome: "allow" | "deny" | "answer";
  /** 200 when allowed; a refusal's 400 / 401 / 403 / 503; an answer's 204 or 200. */
  readonly status: number;
  /**
   * Refused or answered: the response headers (`content-type`,
   * `cache-control`, `www-authenticate`, `retry-after`, CORS). Allowed: the
   * identity headers to set on the request to the origin (`x-auth-subject`, ...).
   */
  readonly headers: Readonly<Record<string, string>>;
  /**
   * Allowed: request headers to delete first (client-sent identity headers,
   * lowercase). A client header goes when its name, lowercased with `_`
   * read as `-`, is in this list (`X_Auth_Subject` too); `forwardHeaders`
   * and the middleware apply this rule.
   */
  readonly remove: readonly string[];
  /**
   * Headers for the response the client gets. Allowed: add these to the
   * origin's response (CORS for an allowed `Origin`: `access-control-allow-origin`,
   * `vary`, ...; empty otherwise; merge `vary`). Refused or answered: the
   * same as `headers`.
   */
  readonly responseHeaders: Readonly<Record<string, string>>;
  /**
   * Refused: the JSON body `{"error","reason","detail"}`. Answered: the body
   * (the metadata JSON), or null (a 204, or a HEAD request). Allowed: null.
   */
  readonly body: string | null;
  /** The reason code of a refusal (or, in report-only mode, of the refusal that was let through). */
  readonly reason: ReasonCode | null;
  readonly identity: Identity | null;
}

/**
 * The async key-value store shared by processes (Workers KV, Deno KV,
 * Redis). Which keys, values, TTLs and locks are the core's; the store only
 * performs them. Errors and slow answers (over half of
 * `keys.fetch_timeout`) are reported to `onError` and never fail a request.
 */
export interface KeyStore {
  get(key: string): Promise<string | null | undefined> | string | null | undefined;
  set(key: string, value: string, ttlSeconds: number): Promise<unknown> | unknown;
  /**
   * Optional: set `key` to `deadline` (Unix seconds) only when it is absent
   * or holds a deadline already past, expiring at `deadline`; true when it
   * did (Redis `SET key deadline NX EXAT deadline`). With it, a cold fleet
   * fetches the keys from the IdP once; without it, at most once per
   * process.
   */
  lock?(key: string, deadline: number): Promise<boolean> | boolean;
}

export interface GateOptions {
  /** The fetch used for discovery and key sets (default: global fetch). */
  fetch?: (input: string, init?: RequestInit) => Promise<Response>;
  /** A store shared across processes; keys live in memory without one. */
  store?: KeyStore;
  /** The clock, in Unix seconds (or a Date). Default: the system clock. */
  now?: () => number | Date;
  /**
   * Signature backend: `native` (node:crypto: Node, Deno, Bun, workerd
   * with nodejs_compat), `wasm` (ring, compiled in; runs everywhere), or
   * `auto` (native where available; the default).
   */
  crypto?: "auto" | "native" | "wasm";
  /** Called with errors that do not fail a request (store, background refresh, a throwing `onDecision`). */
  onError?: (error: unknown, where: string) => void;
  /**
   * Called once per `check` decision with its {@link DecisionEvent}. What
   * it throws (or rejects with) never changes the decision: it is reported
   * once, to `onError` (or `console.error` without one).
   */
  onDecision?: (event: DecisionEvent) => void | Promise<void>;
  /**
   * The `[assertion]` signing key (a 32-byte Ed25519 seed, base64url), from
   * a secret store or the environment; kept out of `gate.config`.
   */
  assertionKey?: string;
}

/**
 * One decision, with the same fields on every host (docs/observability.md).
 * Never the token, its signature or the subject; client-controlled strings
 * are cut to 200 bytes.
 */
export interface DecisionEvent {
  outcome: "allow" | "deny" | "answer" | "report_only";
  /** The status sent (200 for allow); for report-only, the refusal's. */
  status: number;
  reason: ReasonCode | null;
  /** The refusal's detail (as in its body). */
  detail: string | null;
  method: string;
  /** The path, without the query string. */
  path: string;
  /** The matched route's `path` pattern. */
  route: string | null;
  /** The issuer of a verified token. */
  issuer: string | null;
  /** The `iss` of a token that was not verified: a claim, never trust it. */
  unverified_issuer: string | null;
  kid: string | null;
  alg: string | null;
  /** How a verified caller authenticated; null when refused before. */
  identity: "jwt" | "api_token" | "anonymous" | null;
  tenant: string | null;
  /** Whether the verdict cache answered (`null`: no JWT looked at). */
  jwt_cache: "hit" | "miss" | null;
  /** Milliseconds the check took, key fetches included. */
  latency_ms: number;
  /** The check waited for a key fetch (its own or another request's). */
  key_fetch: boolean;
}

/** The counters of `gate.metrics()`, named as the Envoy filter's. */
export interface Metrics {
  allowed: number;
  denied: number;
  preflight_answered: number;
  jwks_fetch_success: number;
  jwks_fetch_failed: number;
  jwt_cache_hit: number;
  jwt_cache_miss: number;
  /** Refusals by reason: `denied.token_expired`, ... (only reasons seen). */
  [reason: `denied.${string}`]: number;
}

/** A request of any of the shapes `check` reads. */
export type RequestLike =
  | Request
  | {
      /** Node's IncomingMessage (Express, Connect, node:http). */
      method?: string;
      url?: string;
      originalUrl?: string;
      rawHeaders: string[];
      headers: Record<string, string | string[] | undefined>;
    }
  | {
      method?: string;
      /** Path and query as sent, e.g. `/orders/7?x=1`. */
      path?: string;
      /** An absolute URL or a path. */
      url?: string;
      headers?: Headers | Record<string, string | string[] | undefined> | [string, string][];
    };

export interface CachedKeys {
  issuer: string;
  jwksUri: string | null;
  freshness: "missing" | "fresh" | "stale" | "expired";
  /** Unix seconds; null before the first fetch. */
  fetchedAt: number | null;
  freshUntil: number | null;
  usableUntil: number | null;
  lastError: string | null;
  keys: {
    kid: string | null;
    kty: "RSA" | "EC" | "OKP";
    alg: string | null;
    use: string | null;
    crv: string | null;
    /** RFC 7638 thumbprint. */
    thumbprint: string;
  }[];
}

export interface Gate {
  /** The configuration in force, every default filled in. */
  readonly config: Readonly<Config>;
  /** The signature backend in use. */
  readonly crypto: "native" | "wasm";
  /**
   * Verifies a token (signature, issuer, audience, exp / nbf / iat, typ;
   * no route policy). Rejects with an {@link EdgewardError}.
   */
  verify(token: string): Promise<Identity>;
  /** Decides a request against the route policy. Never rejects for a refusal. */
  check(request: RequestLike): Promise<CheckResult>;
  /** What is cached, per issuer. */
  keys(): CachedKeys[];
  /** The counters since the gate was made (docs/observability.md). */
  metrics(options?: { format?: "object" }): Metrics;
  /** The counters in the Prometheus text exposition format (`edgeward_*_total`). */
  metrics(options: { format: "prometheus" }): string;
  /** Refetches every issuer's keys (or one's) now. Rejects with `keys_unavailable` when a fetch fails. */
  refresh(issuer?: string): Promise<CachedKeys[]>;
  /**
   * Hono middleware. Refusals and gate answers (CORS preflights) are sent
   * by the middleware; the handler does not run. Allowed: `c.req.raw`
   * becomes the same request with client-sent identity headers removed and
   * the verified ones set; `identity` and `edgeward` (the CheckResult) are
   * set on the context; after the handler, `responseHeaders` (CORS) are
   * added to its response.
   */
  hono(options?: HonoOptions): MiddlewareHandler<EdgewardHonoEnv>;
  /**
   * Express / Connect / node:http middleware. Refusals and gate answers
   * (CORS preflights) are sent by the middleware; `next` is not called.
   * Allowed: client-sent identity headers are removed from `req.headers`
   * and `req.rawHeaders` and the verified ones set; `req.auth` (the
   * Identity) and `req.edgeward` are set; `responseHeaders` (CORS) are set
   * on `res`; then `next()`.
   */
  connect(options?: ConnectOptions): (req: any, res: any, next: (err?: unknown) => void) => void;
  /** Same as `connect()`. */
  express(options?: ConnectOptions): (req: any, res: any, next: (err?: unknown) => void) => void;
  /**
   * A Fastify plugin (fastify-plugin conventions: it gates the context it
   * is registered in and its children): `app.register(gate.fastify())`.
   * An `onRequest` hook answers refusals and gate answers itself (or, with
   * `throwErrors`, throws the refusal as an {@link EdgewardError} for
   * Fastify's error handler); allowed: `request.headers` edited as in
   * `connect()`, `request.identity` and `request.edgeward` set, and
   * `responseHeaders` (CORS) added to the reply in `onSend`.
   */
  fastify(options?: FastifyOptions): FastifyPluginCallback<FastifyOptions>;
  /**
   * A requirement for one framework route, in code: the keys and meaning
   * of a `[[routes]]` entry's requirements, checked by the core against
   * the identity the gate's middleware set. Throws an
   * {@link EdgewardError} `config_invalid` naming the field
   * (`require.scopes.all`) when the rule is invalid.
   */
  require(rule: Requirement): Guard;
}

/** The requirements of a `[[routes]]` entry, for `gate.require()`. */
export interface Requirement {
  scopes?: Need;
  roles?: Need;
  permissions?: Need;
  tenants?: string[];
  /** Path parameter (the framework's: `req.params`, `c.req.param()`) → claim that must equal it. */
  owner?: Record<string, string>;
  /** Accept static API tokens (default true). */
  api_tokens?: boolean;
}

/**
 * A requirement from `gate.require()`, as middleware run after the gate's
 * own. Without a verified caller it refuses with 401 `token_missing`;
 * unmet, with the refusal a route would give (403 `scope_missing` with
 * `error="insufficient_scope"`, ...). In report-only mode it lets the
 * request through with the decision header set.
 */
export interface Guard {
  /** Checks an identity (`null`: none). `params` for `owner`; `request` for the CORS headers of a refusal. */
  check(identity: Identity | null, options?: { params?: Record<string, string>; request?: RequestLike }): CheckResult;
  /** Express / Connect middleware, after `gate.express()`. */
  connect(options?: ConnectOptions): (req: any, res: any, next: (err?: unknown) => void) => void;
  /** Same as `connect()`. */
  express(options?: ConnectOptions): (req: any, res: any, next: (err?: unknown) => void) => void;
  /** Hono middleware, after `gate.hono()`. */
  hono(options?: HonoOptions): MiddlewareHandler<EdgewardHonoEnv>;
  /** A Fastify `preHandler` hook, after `app.register(gate.fastify())`. */
  fastify(options?: FastifyOptions): (request: FastifyRequest, reply: FastifyReply) => Promise<unknown>;
}

export interface FastifyOptions {
  /**
   * Throw refusals as an {@link EdgewardError} (`statusCode`, `code`,
   * `headers` with `www-authenticate`) for Fastify's error handler. Gate
   * answers (CORS preflights, the RFC 9728 metadata) are still sent.
   * Default false: refusals are sent by the hook.
   */
  throwErrors?: boolean;
}

export interface HonoOptions {
  /**
   * Throw refusals as Hono's `HTTPException` (from `hono/http-exception`,
   * loaded only then), its `res` the refusal response (status, headers,
   * JSON body) and its `cause` an {@link EdgewardError}, so `app.onError`
   * renders them. Gate answers (CORS preflights, the RFC 9728 metadata)
   * are still returned. Default false: refusals are returned as responses.
   */
  throwErrors?: boolean;
}

export interface ConnectOptions {
  /**
   * Pass refusals to `next(err)` as an {@link EdgewardError} (`status`,
   * `statusCode`, `code`, `headers` with `www-authenticate`, `body`) for
   * the app's error handler to render. Gate answers (CORS preflights, the
   * RFC 9728 metadata) are still sent. Default false: refusals are sent by
   * the middleware.
   */
  passErrors?: boolean;
}

/** What `gate.hono()` sets on the context: `c.get("identity")`, `c.get("edgeward")`. */
export interface EdgewardHonoEnv {
  Variables: { identity: Identity; edgeward: CheckResult };
}

// @ts-ignore: without fastify installed there is nothing to augment.
declare module "fastify" {
  interface FastifyRequest {
    /** The verified identity, set by `gate.fastify()` on an allowed request (null before). */
    identity: Identity | null;
    /** The whole CheckResult, set by `gate.fastify()` on an allowed request (null before). */
    edgeward: CheckResult | null;
  }
}

declare global {
  namespace Express {
    interface Request {
      /** The verified identity, set by `gate.express()` on an allowed request. */
      auth?: Identity;
      /** The whole CheckResult, set by `gate.express()` on an allowed request. */
      edgeward?: CheckResult;
    }
  }
}

/** Creates a gate. Throws an {@link EdgewardError} `config_invalid` naming every bad field. */
export function createGate(config: Config | string, options?: GateOptions): Gate;

/** The core's reason codes (docs/reasons.md). Codes are added, never renamed. */
export type ReasonCode =
  | "token_missing"
  | "multiple_tokens"
  | "path_invalid"
  | "token_too_large"
  | "token_malformed"
  | "header_unsupported"
  | "alg_not_allowed"
  | "issuer_unknown"
  | "audience_invalid"
  | "token_expired"
  | "token_not_yet_valid"
  | "token_too_old"
  | "typ_invalid"
  | "claim_missing"
  | "claim_invalid"
  | "claim_value_mismatch"
  | "key_not_found"
  | "key_unusable"
  | "signature_invalid"
  | "api_token_invalid"
  | "scope_missing"
  | "role_missing"
  | "permission_missing"
  | "tenant_not_allowed"
  | "owner_mismatch"
  | "api_token_not_allowed"
  | "route_denied"
  | "preflight_refused"
  | "keys_unavailable";

/** A refusal (`code` is the core's reason code), or `config_invalid`. */
export class EdgewardError extends Error {
  readonly name: "EdgewardError";
  /** `token_expired`, `signature_invalid`, `keys_unavailable`, ..., or `config_invalid`. */
  readonly code: ReasonCode | "config_invalid";
  /** The HTTP status that goes with it (401, 403, 503, ...). */
  readonly status: number;
  /** Same as `status` (the Express / Fastify / http-errors name). */
  readonly statusCode: number;
  /**
   * The claim (or JOSE header parameter) at fault, when the code names one:
   * `exp` (`token_expired`), `aud` (`audience_invalid`), `iss`
   * (`issuer_unknown`), `iat` (`token_too_old`), `typ` (`typ_invalid`).
   * Absent otherwise (`token_not_yet_valid` may be `nbf` or `iat`).
   */
  readonly claim?: "exp" | "aud" | "iss" | "iat" | "typ";
  /** Response headers for the refusal (`www-authenticate`, ...). */
  readonly headers: Readonly<Record<string, string>>;
  /** The JSON body the core answers with. */
  readonly body: string | null;
  /** For `config_invalid`: every problem, each naming its field. */
  readonly errors?: readonly { field: string; message: string }[];
}

/**
 * The request headers for the origin after an allow: the incoming ones
 * minus those `remove` names (compared lowercased, `_` read as `-`), plus
 * `headers`. Returned unchanged when the result is not an allow.
 */
export function forwardHeaders(result: CheckResult, incoming: HeadersInit): Headers;

/** Every reason code with its HTTP status and meaning. */
export const reasons: readonly { code: ReasonCode; status: number; description: string }[];

/** Where this entry point runs and which algorithms verify with native crypto. */
export const runtime: {
  readonly name: "node" | "deno" | "bun" | "workerd" | "web";
  nativeAlgorithms(): string[];
};

/** Cloudflare Workers KV as a store (`env.MY_KV`); it cannot lock. */
export function workersKvStore(namespace: {
  get(key: string): Promise<string | null>;
  put(key: string, value: string, options?: { expirationTtl?: number }): Promise<void>;
}): KeyStore;

/** Deno KV as a store (`await Deno.openKv()`), with `lock` (an atomic check). */
export function denoKvStore(kv: unknown, prefix?: unknown[]): KeyStore;

/** Redis through node-redis 4 or 5 as a store (with `lock`: `SET NX EXAT`). */
export function redisStore(client: {
  get(key: string): Promise<string | null>;
  set(key: string, value: string, options: { EX: number } | { NX: true; EXAT: number }): Promise<unknown>;
}): KeyStore;
