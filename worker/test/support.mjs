// Test support: a real OpenID provider (oidc-provider) on loopback with a JWKS
// hit counter, the sample origin, and the built Worker in workerd (Miniflare).
import http from "node:http";
import path from "node:path";
import fs from "node:fs";
import os from "node:os";
import { fileURLToPath } from "node:url";
import { Miniflare } from "miniflare";
import Provider from "oidc-provider";
import * as jose from "jose";
import * as ws from "ws";
import { createOrigin, listen } from "../demo/origin.mjs";

export const here = path.dirname(fileURLToPath(import.meta.url));
export const workerDir = path.resolve(here, "..");
export const buildDir = path.join(workerDir, "build", "worker");
export const testBuildDir = path.join(workerDir, "build", "test");

export const RESOURCES = {
  rs256: "https://api.test/rs256",
  es256: "https://api.test/es256",
  eddsa: "https://api.test/eddsa",
  short: "https://api.test/short",
  other: "https://api.test/other",
};
const ALG = { [RESOURCES.rs256]: "RS256", [RESOURCES.es256]: "ES256", [RESOURCES.eddsa]: "EdDSA", [RESOURCES.short]: "ES256", [RESOURCES.other]: "ES256" };

export async function signingKeys(tag) {
  const keys = [];
  for (const alg of ["RS256", "ES256", "EdDSA"]) {
    const options = alg === "RS256" ? { modulusLength: 2048 } : alg === "EdDSA" ? { crv: "Ed25519" } : {};
    const { privateKey } = await jose.generateKeyPair(alg, { extractable: true, ...options });
    const jwk = await jose.exportJWK(privateKey);
    keys.push({ ...jwk, kid: `${tag}-${alg.toLowerCase()}`, alg, use: "sig" });
  }
  return keys;
}

// oidc-provider warns at every construction that it runs with test-grade
// settings (no cookie keys, the in-memory adapter): true here, and known.
function quietly(make) {
  const warn = console.warn;
  console.warn = (...args) => {
    if (!String(args[0]).includes("oidc-provider WARNING")) warn(...args);
  };
  try {
    return make();
  } finally {
    console.warn = warn;
  }
}

function provider(issuer, keys) {
  const p = quietly(() => new Provider(issuer, {
    clients: [
      {
        client_id: "svc",
        client_secret: "svc-secret",
        grant_types: ["client_credentials"],
        redirect_uris: [],
        response_types: [],
        scope: "orders:read orders:write profile",
      },
    ],
    jwks: { keys },
    scopes: ["orders:read", "orders:write", "profile"],
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => RESOURCES.rs256,
        useGrantedResource: () => true,
        getResourceServerInfo: (_ctx, resource) => ({
          scope: "orders:read orders:write profile",
          audience: resource,
          accessTokenTTL: resource === RESOURCES.short ? 1 : 600,
          accessTokenFormat: "jwt",
          jwt: { sign: { alg: ALG[resource] ?? "ES256" } },
        }),
      },
    },
  }));
  p.proxy = false;
  return p;
}

// An oidc-provider on 127.0.0.1 that can rotate its keys and be stopped and
// started on the same port. `hits.jwks` counts key set requests.
export async function startIdp({ tag = "k1", port = 0 } = {}) {
  const idp = { hits: { jwks: 0, discovery: 0, token: 0 }, keys: await signingKeys(tag), sockets: new Set() };
  idp.server = http.createServer((req, res) => {
    if (req.url.startsWith("/jwks")) idp.hits.jwks++;
    if (req.url.startsWith("/.well-known/openid-configuration")) idp.hits.discovery++;
    if (req.url.startsWith("/token")) idp.hits.token++;
    idp.callback(req, res);
  });
  idp.server.on("connection", (s) => {
    idp.sockets.add(s);
    s.on("close", () => idp.sockets.delete(s));
  });
  idp.port = await listen(idp.server, port);
  idp.issuer = `http://127.0.0.1:${idp.port}`;
  idp.callback = provider(idp.issuer, idp.keys).callback();
  idp.jwksUri = `${idp.issuer}/jwks`;

  // A client-credentials access token (JWT) for `resource` with `scope`.
  idp.token = async (resource = RESOURCES.rs256, scope = "orders:read") => {
    const res = await fetch(`${idp.issuer}/token`, {
      method: "POST",
      headers: {
        authorization: "Basic " + Buffer.from("svc:svc-secret").toString("base64"),
        "content-type": "application/x-www-form-urlencoded",
      },
      body: new URLSearchParams({ grant_type: "client_credentials", resource, scope }),
    });
    const body = await res.json();
    if (!body.access_token) throw new Error(`token endpoint: ${JSON.stringify(body)}`);
    return body.access_token;
  };
  // New signing keys first, the old ones kept for tokens already issued.
  idp.rotate = async (tag) => {
    const fresh = await signingKeys(tag);
    idp.keys = [...fresh, ...idp.keys];
    idp.callback = provider(idp.issuer, idp.keys).callback();
  };
  idp.stop = () =>
    new Promise((resolve) => {
      for (const s of idp.sockets) s.destroy();
      idp.server.close(() => resolve());
    });
  idp.start = () => listen(idp.server, idp.port);
  return idp;
}

export async function startOrigin() {
  const o = createOrigin({ ws });
  o.port = await listen(o.server, 0);
  o.url = `http://127.0.0.1:${o.port}`;
  o.stop = () =>
    new Promise((resolve) => {
      o.server.closeAllConnections?.();
      o.server.close(() => resolve());
    });
  return o;
}

// A loopback HTTP server for key-fetch scenarios: `handler(req, res, srv)`
// answers (or never does); `srv.hits` lists the URLs requested. `stop`
// destroys open sockets, so a server that never answers closes at once.
export async function startServer(handler) {
  const srv = { hits: [], sockets: new Set() };
  srv.server = http.createServer((req, res) => {
    srv.hits.push(req.url);
    handler(req, res, srv);
  });
  srv.server.on("connection", (s) => {
    srv.sockets.add(s);
    s.on("close", () => srv.sockets.delete(s));
  });
  srv.port = await listen(srv.server, 0);
  srv.url = `http://127.0.0.1:${srv.port}`;
  srv.stop = () =>
    new Promise((resolve) => {
      for (const s of srv.sockets) s.destroy();
      srv.server.close(() => resolve());
    });
  return srv;
}

// An ES256 signing key and its public key set, for issuers the tests play.
export async function es256Key(kid) {
  const { privateKey, publicKey } = await jose.generateKeyPair("ES256", { extractable: true });
  const jwk = { ...(await jose.exportJWK(publicKey)), kid, alg: "ES256", use: "sig" };
  const sign = (iss, claims = {}) =>
    new jose.SignJWT({ sub: "svc", scope: "orders:read", ...claims })
      .setProtectedHeader({ alg: "ES256", kid, typ: "at+jwt" })
      .setIssuer(iss)
      .setAudience(RESOURCES.rs256)
      .setIssuedAt()
      .setExpirationTime("10m")
      .sign(privateKey);
  return { jwks: { keys: [jwk] }, sign };
}

export function tmpDir(name) {
  return fs.mkdtempSync(path.join(os.tmpdir(), `edgeward-${name}-`));
}

// The built Worker in workerd. `logs` collects its JSON log lines.
// `wrappedBindings` and `others` (more workers, e.g. the module a wrapped
// binding names) are for the gate's own tests; the gate is the first worker.
export async function startWorker({ config, origin, kvPersist, dir = buildDir, bindings = {}, kv = true, outboundService, workers, wrappedBindings, others, analytics = false, compatibilityFlags = ["nodejs_compat"] }) {
  const logs = [];
  const collect = (stream) => {
    let buf = "";
    stream.on("data", (chunk) => {
      buf += chunk.toString();
      let i;
      while ((i = buf.indexOf("\n")) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        const start = line.indexOf("{");
        if (start >= 0) {
          try {
            logs.push(JSON.parse(line.slice(start)));
            continue;
          } catch {}
        }
        if (process.env.EDGEWARD_TEST_VERBOSE) console.error("[workerd]", line);
      }
    });
  };
  const base = (b) => ({
    modules: true,
    scriptPath: path.join(dir, "entry.mjs"),
    modulesRoot: dir,
    modulesRules: [
      { type: "ESModule", include: ["**/*.js", "**/*.mjs"] },
      { type: "CompiledWasm", include: ["**/*.wasm"] },
    ],
    compatibilityDate: "2025-09-01",
    compatibilityFlags,
    ...(kv ? { kvNamespaces: ["EDGEWARD_KV"] } : {}),
    bindings: b,
    ...(outboundService ? { outboundService } : {}),
    ...(wrappedBindings ? { wrappedBindings } : {}),
    // Miniflare's local Analytics Engine dataset (it drops what is written).
    ...(analytics ? { analyticsEngineDatasets: { EDGEWARD_ANALYTICS: { dataset: "edgeward_test" } } } : {}),
  });
  const gateBindings = {
    ...(config === undefined ? {} : { EDGEWARD_CONFIG: typeof config === "string" ? config : JSON.stringify(config) }),
    ...(origin ? { ORIGIN: origin } : {}),
    ...bindings,
  };
  const opts = others
    ? { workers: [{ name: "gate", ...base(gateBindings) }, ...others] }
    : workers
    ? {
        workers: workers.map((w) => ({
          name: w.name,
          ...base(w.bindings),
          ...(w.routes ? { routes: w.routes } : {}),
          ...(kv ? { kvNamespaces: { EDGEWARD_KV: `kv-${w.name}` } } : {}),
        })),
      }
    : base(gateBindings);
  const mf = new Miniflare({
    ...opts,
    ...(kvPersist ? { kvPersist } : {}),
    handleRuntimeStdio(stdout, stderr) {
      collect(stdout);
      collect(stderr);
    },
  });
  const url = await mf.ready;
  return {
    mf,
    url,
    logs,
    fetch: (p, init) => mf.dispatchFetch(new URL(p, "http://gate.test").toString(), init),
    kvGet: async (key) => (await mf.getKVNamespace("EDGEWARD_KV")).get(key),
    stop: () => mf.dispose(),
  };
}

export function gateConfig(idp, extra = {}) {
  return {
    realm: "orders",
    issuers: [
      {
        issuer: idp.issuer,
        audiences: [RESOURCES.rs256, RESOURCES.es256, RESOURCES.eddsa, RESOURCES.short],
        leeway: 0,
        ...(extra.issuer ?? {}),
      },
    ],
    keys: extra.keys ?? {},
    headers: { claims: { client_id: "x-auth-client" }, ...(extra.headers ?? {}) },
    ...(extra.mode ? { mode: extra.mode } : {}),
    routes: [
      { path: "/health", access: "anonymous" },
      { path: "/orders/**", methods: ["GET"], scopes: { any: ["orders:read"] } },
      { path: "/orders/**", methods: ["POST"], scopes: { all: ["orders:write"] } },
      { path: "/ws" },
      { path: "/**" },
    ],
  };
}

// A token with a random kid, right issuer and audience, signed by nobody.
export function forgedToken(issuer, kid, aud = RESOURCES.rs256) {
  const b64 = (o) => Buffer.from(JSON.stringify(o)).toString("base64url");
  const now = Math.floor(Date.now() / 1000);
  return [
    b64({ alg: "RS256", typ: "at+jwt", kid }),
    b64({ iss: issuer, aud, sub: "mallory", scope: "orders:read", iat: now, exp: now + 600 }),
    Buffer.alloc(256, 7).toString("base64url"),
  ].join(".");
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export async function until(fn, ms = 5000, step = 50) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) return v;
    await sleep(step);
  }
}
