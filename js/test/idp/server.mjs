// A real OpenID provider on loopback for the tests and the pack test:
// oidc-provider 8.8.1 (the newest that runs on Node 20), client-credentials
// grant, resource indicators; each resource gets JWT access tokens signed
// with its own alg:
//
//   resource http://api.test/<alg lowercased>  ->  aud = that URL, alg = <alg>
//   for alg in RS256 PS256 ES256 EdDSA
//
// Runs under Node (started as a child process by the tests in every runtime).
// Prints one line of JSON when ready: { issuer, tokenEndpoint, clientId,
// clientSecret }. Exits when stdin closes. GET /_stats answers
// { jwks: <key-set requests>, discovery: <discovery requests> }.
import http from "node:http";
import crypto from "node:crypto";
import Provider from "oidc-provider";

const ALGS = ["RS256", "PS256", "ES256", "EdDSA"];
const keys = [
  { ...crypto.generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey.export({ format: "jwk" }), kid: "rsa-1", use: "sig" },
  { ...crypto.generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey.export({ format: "jwk" }), kid: "ec-1", use: "sig" },
  { ...crypto.generateKeyPairSync("ed25519").privateKey.export({ format: "jwk" }), kid: "ed-1", use: "sig" },
];

const stats = { jwks: 0, discovery: 0 };
const server = http.createServer();
await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
const { port } = server.address();
const issuer = `http://127.0.0.1:${port}`;
const clientSecret = crypto.randomBytes(24).toString("base64url");

const provider = new Provider(issuer, {
  cookies: { keys: [crypto.randomBytes(16).toString("hex")] },
  jwks: { keys },
  clients: [
    {
      client_id: "edgeward-tests",
      client_secret: clientSecret,
      grant_types: ["client_credentials"],
      redirect_uris: [],
      response_types: [],
      token_endpoint_auth_method: "client_secret_basic",
    },
  ],
  enabledJWA: {
    idTokenSigningAlgValues: ALGS,
  },
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => "http://api.test/rs256",
      useGrantedResource: () => true,
      getResourceServerInfo(ctx, resourceIndicator) {
        const alg = ALGS.find((a) => resourceIndicator === `http://api.test/${a.toLowerCase()}`);
        if (!alg) throw new Provider.errors.InvalidTarget();
        return {
          scope: "orders:read orders:write",
          audience: resourceIndicator,
          accessTokenTTL: 3600,
          accessTokenFormat: "jwt",
          jwt: { sign: { alg } },
        };
      },
    },
  },
});
provider.on("server_error", (ctx, err) => console.error("idp error:", err));
const handle = provider.callback();
server.on("request", (req, res) => {
  if (req.url === "/_stats") {
    res.setHeader("content-type", "application/json");
    res.end(JSON.stringify(stats));
    return;
  }
  if (req.url.startsWith("/jwks")) stats.jwks++;
  if (req.url.startsWith("/.well-known/openid-configuration")) stats.discovery++;
  handle(req, res);
});

console.log(
  JSON.stringify({ issuer, tokenEndpoint: `${issuer}/token`, clientId: "edgeward-tests", clientSecret, algs: ALGS }),
);
process.stdin.resume();
process.stdin.on("end", () => process.exit(0));
process.stdin.on("close", () => process.exit(0));
