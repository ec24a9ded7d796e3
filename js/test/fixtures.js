// Shared test material: the core's conformance cases, keys and tokens,
// fake key-set servers, and the real OpenID provider (test/idp/server.mjs,
// run under Node whatever runtime runs the tests).
import { readFileSync, readdirSync } from "node:fs";
import { spawn } from "node:child_process";
import crypto from "node:crypto";
import { isDeepStrictEqual } from "node:util";

export const CASES_DIR = new URL("../../tests/cases/", import.meta.url);

/** Every tests/cases/*.json, sorted by file name. */
/**
 * The expectation for case `c` on a gate whose signature backend is
 * `crypto` ("native" or "wasm"): a case with `needs_alg` (ES512, which the
 * wasm build cannot verify) is refused with alg_not_allowed without native
 * crypto (tests/cases/README.md).
 */
export function expectFor(c, crypto) {
  if (c.needs_alg && crypto === "wasm") return { status: 401, reason: "alg_not_allowed", origin: { reached: false } };
  return c.expect;
}

export function conformanceCases() {
  return readdirSync(CASES_DIR)
    .filter((f) => f.endsWith(".json"))
    .sort()
    .map((f) => ({ file: f, ...JSON.parse(readFileSync(new URL(f, CASES_DIR), "utf8")) }));
}

const b64 = (b) => Buffer.from(b).toString("base64url");

export const ISSUER = "https://idp.test/";
export const JWKS_URI = "https://idp.test/jwks";
export const AUDIENCE = "api://orders";
export const NOW = 1_800_000_000;

const SIGN = {
  RS256: ["rsa", "sha256", {}],
  RS384: ["rsa", "sha384", {}],
  RS512: ["rsa", "sha512", {}],
  PS256: ["rsa", "sha256", { padding: crypto.constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 }],
  PS384: ["rsa", "sha384", { padding: crypto.constants.RSA_PKCS1_PSS_PADDING, saltLength: 48 }],
  PS512: ["rsa", "sha512", { padding: crypto.constants.RSA_PKCS1_PSS_PADDING, saltLength: 64 }],
  ES256: ["ec", "sha256", { dsaEncoding: "ieee-p1363" }],
  ES384: ["ec384", "sha384", { dsaEncoding: "ieee-p1363" }],
  EdDSA: ["ed", null, {}],
};

function generate(type) {
  switch (type) {
    case "rsa":
      return crypto.generateKeyPairSync("rsa", { modulusLength: 2048 });
    case "ec":
      return crypto.generateKeyPairSync("ec", { namedCurve: "P-256" });
    case "ec384":
      return crypto.generateKeyPairSync("ec", { namedCurve: "P-384" });
    default:
      return crypto.generateKeyPairSync("ed25519");
  }
}

/** A signing key for `alg` named `kid`. */
export class Signer {
  constructor(alg, kid = alg.toLowerCase()) {
    this.alg = alg;
    this.kid = kid;
    const [type, hash, opts] = SIGN[alg];
    this.hash = hash;
    this.opts = opts;
    this.pair = generate(type);
  }
  jwk() {
    return { ...this.pair.publicKey.export({ format: "jwk" }), kid: this.kid, alg: this.alg, use: "sig" };
  }
  /** A token with the default claims, overridden by `claims`. */
  mint(claims = {}, header = {}) {
    const h = b64(JSON.stringify({ alg: this.alg, kid: this.kid, typ: "at+jwt", ...header }));
    const p = b64(
      JSON.stringify({
        iss: ISSUER,
        aud: AUDIENCE,
        sub: "alice",
        scope: "orders:read",
        iat: NOW - 10,
        exp: NOW + 3600,
        ...claims,
      }),
    );
    const input = `${h}.${p}`;
    const sig = crypto.sign(this.hash, Buffer.from(input), { key: this.pair.privateKey, ...this.opts });
    return `${input}.${b64(sig)}`;
  }
}

/** The usual configuration for tests: one issuer at JWKS_URI. */
export function baseConfig(extra = {}) {
  return {
    realm: "orders",
    issuers: [{ issuer: ISSUER, jwks_uri: JWKS_URI, audiences: [AUDIENCE], ...(extra.issuer ?? {}) }],
    routes: [
      { path: "/health", access: "anonymous" },
      { path: "/orders/**", methods: ["GET"], scopes: { any: ["orders:read"] } },
      { path: "/orders/**", methods: ["POST"], scopes: { all: ["orders:write"] } },
      { path: "/users/{user}/**", owner: { user: "sub" } },
    ],
    ...(extra.top ?? {}),
  };
}

/**
 * A fake `fetch` serving `doc()` (a function, so tests can rotate keys) at
 * any URL, counting calls; `opts.delay` ms before answering, `opts.status`,
 * `opts.headers`, `opts.fail` (throw instead).
 */
export function fakeFetch(doc, opts = {}) {
  const f = async (url, init) => {
    f.calls.push(url);
    if (opts.delay) await new Promise((r) => setTimeout(r, opts.delay));
    if (opts.fail) throw new TypeError("fetch failed: connection refused");
    if (init?.signal?.aborted) throw init.signal.reason;
    const body = typeof doc === "function" ? doc(url) : doc;
    return new Response(typeof body === "string" ? body : JSON.stringify(body), {
      status: opts.status ?? 200,
      headers: { "content-type": "application/json", "cache-control": "max-age=600", ...(opts.headers ?? {}) },
    });
  };
  f.calls = [];
  return f;
}

/** A clock the test moves. */
export function clock(start = NOW) {
  const c = () => c.t;
  c.t = start;
  return c;
}

/**
 * Starts the real OpenID provider (oidc-provider under Node). Resolves to
 * { issuer, token(alg, scope?), stats(), close() }.
 */
export async function startIdp() {
  const child = spawn("node", [new URL("./idp/server.mjs", import.meta.url).pathname], {
    stdio: ["pipe", "pipe", "ignore"],
  });
  const info = await new Promise((resolve, reject) => {
    let buf = "";
    child.stdout.on("data", (d) => {
      buf += d;
      const nl = buf.indexOf("\n");
      if (nl >= 0) resolve(JSON.parse(buf.slice(0, nl)));
    });
    child.on("error", reject);
    child.on("exit", (code) => reject(new Error(`the IdP exited (${code})`)));
  });
  const basic = "Basic " + btoa(`${info.clientId}:${info.clientSecret}`);
  return {
    ...info,
    /** An access token from the client-credentials grant for `alg`'s resource. */
    async token(alg, scope = "orders:read") {
      const res = await fetch(info.tokenEndpoint, {
        method: "POST",
        headers: { authorization: basic, "content-type": "application/x-www-form-urlencoded" },
        body: new URLSearchParams({ grant_type: "client_credentials", resource: resourceFor(alg), scope }),
      });
      const body = await res.json();
      if (!res.ok) throw new Error(`token endpoint: ${res.status} ${JSON.stringify(body)}`);
      return body.access_token;
    },
    async stats() {
      return (await fetch(`${info.issuer}/_stats`)).json();
    },
    close() {
      child.stdin.end();
      child.kill();
    },
  };
}

export function resourceFor(alg) {
  return `http://api.test/${alg.toLowerCase()}`;
}

/**
 * The `fetch` a conformance case's gate uses: the case's key set at
 * `config.issuers[0].jwks_uri`; anything else (or `idp.jwks: null`) fails
 * like an unreachable IdP.
 */
export function caseFetch(c) {
  return async (url) => {
    if (c.idp.jwks === null || url !== c.config.issuers[0].jwks_uri) {
      throw new TypeError("fetch failed: connection refused");
    }
    return new Response(JSON.stringify(c.idp.jwks), {
      status: c.idp.status ?? 200,
      headers: { "cache-control": "max-age=600" },
    });
  };
}

/**
 * Compares what a host did with a case against its `expect`, the way the
 * core's tests/conformance.rs `run_case` does. `got`:
 *   status          the status the client got
 *   reason          the reason code (deny body, or a report-only allow's)
 *   wwwAuthenticate the challenge the client got (or null)
 *   reached         whether the origin handler ran
 *   originHeader    name -> the value(s) the origin saw ([] when absent)
 *   responseHeader  name -> the value on the client's response (null when absent)
 *   answerBody      the body of a gate answer (text), when the gate answered
 * Returns the mismatches as strings. `expect.status` is 200 for a
 * forwarded request, the answer's status for a gate answer, else the deny's.
 */
export function caseMismatches(c, got, want = c.expect) {
  const errs = [];
  const show = (v) => JSON.stringify(v);
  if (got.status !== want.status) errs.push(`status: got ${got.status}, want ${want.status}`);
  if ("reason" in want && got.reason !== undefined && (got.reason ?? null) !== (want.reason ?? null)) {
    errs.push(`reason: got ${show(got.reason)}, want ${show(want.reason)}`);
  }
  if (want.www_authenticate != null && got.wwwAuthenticate !== want.www_authenticate) {
    errs.push(`www-authenticate: got ${show(got.wwwAuthenticate)}, want ${show(want.www_authenticate)}`);
  }
  const one = (name) => {
    const v = got.originHeader(name);
    return v.length === 0 ? null : v.length === 1 ? v[0] : v;
  };
  const reached = want.origin ? want.origin.reached : want.status === 200;
  if (got.reached !== reached) errs.push(`origin reached: got ${got.reached}, want ${reached}`);
  if (got.reached) {
    for (const [name, v] of Object.entries(want.origin?.headers ?? {})) {
      if (show(one(name)) !== show(v)) errs.push(`origin header ${name}: got ${show(one(name))}, want ${show(v)}`);
    }
    for (const [name, v] of Object.entries(want.set_headers ?? {})) {
      if (show(one(name)) !== show(v)) errs.push(`origin header ${name} (set): got ${show(one(name))}, want ${show(v)}`);
    }
    // A removed header the gate does not set must not reach the origin.
    for (const name of want.removed_headers ?? []) {
      if (!(name in (want.set_headers ?? {})) && one(name) !== null) {
        const sent = c.request.headers.find(([k]) => k.toLowerCase() === name);
        if (sent && one(name) === sent[1]) errs.push(`origin header ${name}: the client's ${show(sent[1])} reached the origin`);
      }
    }
  }
  for (const [name, v] of Object.entries(want.response_headers ?? {})) {
    const h = got.responseHeader(name);
    if (show(h ?? null) !== show(v)) errs.push(`response header ${name}: got ${show(h)}, want ${show(v)}`);
  }
  if (want.answer_body !== undefined) {
    let body = null;
    try {
      body = JSON.parse(got.answerBody ?? "null");
    } catch {
      body = got.answerBody;
    }
    if (!isDeepStrictEqual(body, want.answer_body)) errs.push(`answer body: got ${show(body)}, want ${show(want.answer_body)}`);
  }
  return errs;
}
