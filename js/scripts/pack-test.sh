#!/usr/bin/env bash
# The pack test: `npm pack`, install the tarball into a fresh temporary
# project, import it the way the README says, and verify tokens from a real
# OpenID provider (oidc-provider on loopback) in Node, Deno and Bun. Also
# checks what ships: no install scripts, no dependencies, the expected
# files, the types (deno check of a TypeScript consumer), and a Worker
# bundled the way wrangler does, in workerd (Miniflare).
# Prints the packed and unpacked sizes.
set -euo pipefail
cd "$(dirname "$0")/.."
JS=$PWD
export DENO_NO_UPDATE_CHECK=1 DENO_NO_PROMPT=1 NO_COLOR=1
DENO=$JS/node_modules/.bin/deno
BUN=$JS/node_modules/.bin/bun

# Bold only on a terminal, and never with NO_COLOR.
if [ -t 1 ] && [ -z "${NO_COLOR:-}" ]; then b=$'\033[1m' n=$'\033[0m'; else b='' n=''; fi
log() { printf '%s[pack test]%s %s\n' "$b" "$n" "$*"; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/edgeward-pack.XXXXXX")
IDP_PID=
cleanup() {
  [ -n "$IDP_PID" ] && kill "$IDP_PID" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

log "npm pack"
npm pack --silent --pack-destination "$WORK" --json > "$WORK/pack.json"
node - "$WORK/pack.json" <<'NODE'
const [info] = JSON.parse(require("fs").readFileSync(process.argv[2], "utf8"));
const files = info.files.map((f) => f.path).sort();
const want = ["README.md", "dist/edgeward.js", "dist/edgeward_bg.wasm", "lib/api.js", "lib/gate.js",
  "lib/index.d.ts", "lib/native.js", "lib/node.js", "lib/stores.js", "lib/web.js", "lib/workerd.js", "package.json"];
if (JSON.stringify(files) !== JSON.stringify(want)) {
  console.error("unexpected package contents:", files);
  process.exit(1);
}
const kib = (n) => (n / 1024).toFixed(1) + " KiB";
console.log(`${info.filename}: ${files.length} files, packed ${kib(info.size)}, unpacked ${kib(info.unpackedSize)}`);
NODE
TARBALL=$WORK/$(node -p "JSON.parse(require('fs').readFileSync('$WORK/pack.json','utf8'))[0].filename")

log "install the tarball into a fresh project"
APP=$WORK/app
mkdir -p "$APP"
cat > "$APP/package.json" <<'JSON'
{ "name": "edgeward-pack-test", "private": true, "type": "module" }
JSON
(cd "$APP" && npm install --silent --no-audit --no-fund --prefer-offline "$TARBALL")
node -e '
const p = require(process.argv[1] + "/node_modules/edgeward/package.json");
const bad = ["preinstall", "install", "postinstall", "prepare"].filter((s) => p.scripts && p.scripts[s]);
if (bad.length) { console.error("install scripts:", bad); process.exit(1); }
if (Object.keys(p.dependencies || {}).length) { console.error("runtime dependencies:", p.dependencies); process.exit(1); }
' "$APP"

log "start oidc-provider"
mkfifo "$WORK/idp.in"
node test/idp/server.mjs < "$WORK/idp.in" > "$WORK/idp.out" 2>/dev/null &
IDP_PID=$!
exec 9> "$WORK/idp.in"
for _ in $(seq 100); do [ -s "$WORK/idp.out" ] && break; sleep 0.1; done
ISSUER=$(node -p "JSON.parse(require('fs').readFileSync('$WORK/idp.out','utf8').split('\n')[0]).issuer")
token() {
  node --input-type=module -e '
const info = JSON.parse((await import("node:fs")).readFileSync(process.argv[1], "utf8").split("\n")[0]);
const res = await fetch(info.tokenEndpoint, { method: "POST",
  headers: { authorization: "Basic " + btoa(info.clientId + ":" + info.clientSecret), "content-type": "application/x-www-form-urlencoded" },
  body: new URLSearchParams({ grant_type: "client_credentials", resource: "http://api.test/" + process.argv[2].toLowerCase(), scope: "orders:read" }) });
process.stdout.write((await res.json()).access_token);' "$WORK/idp.out" "$1"
}
export ISSUER
export TOKEN_RS256=$(token RS256) TOKEN_PS256=$(token PS256) TOKEN_ES256=$(token ES256) TOKEN_EDDSA=$(token EdDSA)

# The README's "Quick start", with this IdP.
cat > "$APP/main.mjs" <<'JS'
import { createGate, EdgewardError, runtime } from "edgeward";

const gate = createGate({
  issuers: [{ issuer: process.env.ISSUER, audiences: ["http://api.test/rs256", "http://api.test/ps256", "http://api.test/es256", "http://api.test/eddsa"] }],
  routes: [{ path: "/orders/**", scopes: { any: ["orders:read"] } }],
});

for (const alg of ["RS256", "PS256", "ES256", "EDDSA"]) {
  const identity = await gate.verify(process.env[`TOKEN_${alg}`]);
  if (identity.subject !== "edgeward-tests") throw new Error(`${alg}: ${JSON.stringify(identity)}`);
}
const result = await gate.check(new Request("https://api.example.com/orders/7", {
  headers: { authorization: `Bearer ${process.env.TOKEN_ES256}` },
}));
if (!result.allowed || result.headers["x-auth-subject"] !== "edgeward-tests") throw new Error(JSON.stringify(result));
try {
  const t = process.env.TOKEN_RS256;
  await gate.verify(t.slice(0, -10) + (t.at(-10) === "A" ? "B" : "A") + t.slice(-9));
  throw new Error("a forged token passed");
} catch (e) {
  if (!(e instanceof EdgewardError) || e.code !== "signature_invalid" || e.status !== 401) throw e;
}
console.log(`${runtime.name}: 4 algorithms verified (${gate.crypto} crypto), check allowed, forgery refused with ${"signature_invalid"}`);
JS

cat > "$APP/main.ts" <<'TS'
import { createGate, type Identity } from "edgeward";
const gate = createGate({ issuers: [{ issuer: "https://login.example.com/", audiences: ["api"] }] });
export const verify = (t: string): Promise<Identity> => gate.verify(t);
TS

cd "$APP"
log "node";  node main.mjs
log "deno";  "$DENO" run --allow-read --allow-net --allow-env main.mjs
log "bun";   "$BUN" main.mjs
log "types (deno check)"; "$DENO" check main.ts
log "workerd (esbuild with wrangler's conditions, Miniflare)"
node "$JS/scripts/workerd-check.mjs" "$APP"
log "ok"
