// Type declarations for `edgeward` (every entry point: node, deno, bun,
// workerd, bundlers).

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
    /** Let CORS preflights through without a token (default true). */
    preflight?: boolean;
  };
  /** Ordered routes; the first match wins. */
  routes?: RouteConfig[];
  /** Static API tokens, stored as SHA-256 hashes. */
  api_tokens?: { name: string; sha256: string; scopes?: string[] }[];
}

export type Access = "anonymous" | "authenticated" | "deny";

export type Algorithm =
  | "RS256" | "RS384" | "RS512"
  | "PS256" | "PS384" | "PS512"
  | "ES256" | "ES384" | "EdDSA"
  | "HS256" | "HS384" | "HS512";

export interface IssuerConfig {
  /** The exact `iss`; discovery is at `{issuer}/.well-known/openid-configuration`. */
  issuer: string;
  /** The key set URL; found by OIDC discovery when absent. */
  jwks_uri?: string;
  /** Accepted `aud` values (one must be in the token). Required. */
  audiences: string[];
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
  /** Forward the request (true) or answer it with `status`, `headers`, `body`. */
  readonly allowed: boolean;
  /** 200 when allowed, else 400 / 401 / 403 / 503. */
  readonly status: number;
  /**
   * Refused: the response headers (`content-type`, `cache-control`,
   * `www-authenticate`, `retry-after`). Allowed: the identity headers to
   * set on the request to the origin (`x-auth-subject`, ...).
   */
  readonly headers: Readonly<Record<string, string>>;
  /** Allowed: request headers to delete first (client-sent identity headers). */
  readonly remove: readonly string[];
  /** Refused: the JSON body `{"error","reason","detail"}`. */
  readonly body: string | null;
  /** The reason code of a refusal (or, in report-only mode, of the refusal that was let through). */
  readonly reason: string | null;
  readonly identity: Identity | null;
}

/** The async key-value store shared by processes (Workers KV, Deno KV, Redis). */
export interface KeyStore {
  get(key: string): Promise<string | null | undefined> | string | null | undefined;
  set(key: string, value: string, ttlSeconds: number): Promise<unknown> | unknown;
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
  /** Called with errors that do not fail a request (store, background refresh). */
  onError?: (error: unknown, where: string) => void;
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
  /** Refetches every issuer's keys (or one's) now. Rejects with `keys_unavailable` when a fetch fails. */
  refresh(issuer?: string): Promise<CachedKeys[]>;
  /** Hono middleware: sets `identity` and `edgeward` (the CheckResult) on the context. */
  hono(): (c: any, next: () => Promise<void>) => Promise<Response | void>;
  /** Express / Connect / node:http middleware: sets `req.auth` (the Identity), `req.edgeward`, and the identity headers. */
  connect(): (req: any, res: any, next: (err?: unknown) => void) => void;
  /** Same as `connect()`. */
  express(): (req: any, res: any, next: (err?: unknown) => void) => void;
}

/** Creates a gate. Throws an {@link EdgewardError} `config_invalid` naming every bad field. */
export function createGate(config: Config | string, options?: GateOptions): Gate;

/** A refusal (`code` is the core's reason code), or `config_invalid`. */
export class EdgewardError extends Error {
  readonly name: "EdgewardError";
  /** `token_expired`, `signature_invalid`, `keys_unavailable`, ..., or `config_invalid`. */
  readonly code: string;
  /** The HTTP status that goes with it (401, 403, 503, ...). */
  readonly status: number;
  /** Response headers for the refusal (`www-authenticate`, ...). */
  readonly headers: Readonly<Record<string, string>>;
  /** The JSON body the core answers with. */
  readonly body: string | null;
  /** For `config_invalid`: every problem, each naming its field. */
  readonly errors?: readonly { field: string; message: string }[];
}

/** The request headers for the origin after an allow: incoming ones minus `remove`, plus `headers`. */
export function forwardHeaders(result: CheckResult, incoming: HeadersInit): Headers;

/** Every reason code with its HTTP status and meaning. */
export const reasons: readonly { code: string; status: number; description: string }[];

/** Where this entry point runs and which algorithms verify with native crypto. */
export const runtime: {
  readonly name: "node" | "deno" | "bun" | "workerd" | "web";
  nativeAlgorithms(): string[];
};

/** Cloudflare Workers KV as a store (`env.MY_KV`). */
export function workersKvStore(namespace: {
  get(key: string): Promise<string | null>;
  put(key: string, value: string, options?: { expirationTtl?: number }): Promise<void>;
}): KeyStore;

/** Deno KV as a store (`await Deno.openKv()`). */
export function denoKvStore(kv: unknown, prefix?: unknown[]): KeyStore;

/** Redis through node-redis 4+ as a store. */
export function redisStore(client: {
  get(key: string): Promise<string | null>;
  set(key: string, value: string, options: { EX: number }): Promise<unknown>;
}): KeyStore;
