// The reference Worker for the benchmark: the same job as edgeward's Worker
// (verify a JWT access token against the issuer's JWKS, check iss, aud, exp,
// alg and a scope, strip client copies of the identity headers, set them,
// forward to the origin), written the usual way with `jose`:
// createRemoteJWKSet + jwtVerify, WebCrypto underneath. Without `jwks_uri`
// in its configuration it finds the key set by OIDC discovery first
// (`issuer` + /.well-known/openid-configuration), as edgeward does.
import { createRemoteJWKSet, jwtVerify } from "jose";

let cfg;
let jwks;
let discovered;
const IDENTITY = ["x-auth-subject", "x-auth-issuer", "x-auth-scopes"];

function deny(status, challenge, reason, detail) {
  return new Response(JSON.stringify({ error: status === 403 ? "insufficient_scope" : "invalid_token", reason, detail }), {
    status,
    headers: { "content-type": "application/json", "cache-control": "no-store", "www-authenticate": challenge },
  });
}

export default {
  async fetch(request, env) {
    if (!cfg) {
      cfg = typeof env.JOSE_CONFIG === "string" ? JSON.parse(env.JOSE_CONFIG) : env.JOSE_CONFIG;
      if (cfg.jwks_uri) jwks = createRemoteJWKSet(new URL(cfg.jwks_uri), { cacheMaxAge: 600_000, cooldownDuration: 30_000 });
    }
    if (!jwks) {
      // One discovery per isolate; concurrent first requests share it.
      discovered ??= fetch(`${cfg.issuer.replace(/\/$/, "")}/.well-known/openid-configuration`)
        .then((r) => (r.ok ? r.json() : Promise.reject(new Error(`discovery: HTTP ${r.status}`))))
        .catch((e) => {
          discovered = undefined;
          throw e;
        });
      try {
        const meta = await discovered;
        jwks ??= createRemoteJWKSet(new URL(meta.jwks_uri), { cacheMaxAge: 600_000, cooldownDuration: 30_000 });
      } catch {
        return new Response(JSON.stringify({ error: "temporarily_unavailable", reason: "keys_unavailable" }), { status: 503 });
      }
    }
    const m = /^Bearer[ \t]+([A-Za-z0-9._~+/=-]+)$/i.exec(request.headers.get("authorization") ?? "");
    if (!m) return deny(401, `Bearer realm="${cfg.realm}"`, "token_missing");
    let payload;
    try {
      ({ payload } = await jwtVerify(m[1], jwks, {
        issuer: cfg.issuer,
        audience: cfg.audiences,
        algorithms: cfg.algorithms,
        clockTolerance: 60,
      }));
    } catch (e) {
      return deny(401, `Bearer realm="${cfg.realm}", error="invalid_token"`, e.code ?? "invalid", e.message);
    }
    const scopes = typeof payload.scope === "string" ? payload.scope.split(" ").filter(Boolean) : [];
    if (!cfg.scopes.some((s) => scopes.includes(s))) {
      return deny(403, `Bearer realm="${cfg.realm}", error="insufficient_scope", scope="${cfg.scopes.join(" ")}"`, "scope_missing");
    }
    const url = new URL(request.url);
    const headers = new Headers(request.headers);
    for (const h of IDENTITY) headers.delete(h);
    headers.delete("host");
    headers.set("x-auth-subject", String(payload.sub ?? ""));
    headers.set("x-auth-issuer", String(payload.iss));
    headers.set("x-auth-scopes", scopes.join(" "));
    return fetch(cfg.origin + url.pathname + url.search, {
      method: request.method,
      headers,
      body: request.body,
      redirect: "manual",
    });
  },
};
