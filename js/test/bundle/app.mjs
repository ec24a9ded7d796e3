// An app that imports edgeward, for test/bundlers.test.js: bundled by
// esbuild and by Vite, then run with Node. argv[2]: { issuer, audience,
// tokens: { name: token } }. Prints each token's verdict as JSON.
import { createGate, runtime } from "edgeward";

const { issuer, audience, tokens } = JSON.parse(process.argv[2]);
const gate = createGate({
  issuers: [{ issuer, audiences: [audience] }],
  routes: [{ path: "/orders/**", scopes: { all: ["orders:read"] } }],
});
const out = { runtime: runtime.name, crypto: gate.crypto, verdicts: {} };
for (const [name, token] of Object.entries(tokens)) {
  const headers = token ? { authorization: `Bearer ${token}` } : {};
  const r = await gate.check({ method: "GET", path: "/orders/1", headers });
  out.verdicts[name] = r.allowed ? { allowed: true, subject: r.identity.subject } : { allowed: false, status: r.status, reason: r.reason };
}
console.log(JSON.stringify(out));
