#!/usr/bin/env bash
# Builds the npm package's WebAssembly into js/dist/:
#   cargo build (wasm32-unknown-unknown, release) -> wasm-bindgen --target web
#   -> wasm-opt (npm binaryen; Debian's is too old).
# Skips everything when no input changed since the last build (dist/.inputs).
# Env: CARGO_TARGET_DIR (default: the workspace's target/), FORCE_BUILD=1.
set -euo pipefail
# Everything to stderr: npm runs this as prepack, and `npm pack --json`'s
# stdout must stay JSON.
exec 1>&2
cd "$(dirname "$0")/.."
JS=$PWD
ROOT=$(cd .. && pwd)
export PATH="$HOME/.cargo/bin:$PATH"
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}

# Bold only on a terminal, and never with NO_COLOR.
if [ -t 1 ] && [ -z "${NO_COLOR:-}" ]; then b=$'\033[1m' n=$'\033[0m'; else b='' n=''; fi
log() { printf '%s[js build]%s %s\n' "$b" "$n" "$*"; }

# What the output depends on: the core, the bindings, the lockfile, the tools.
inputs() {
  (
    cd "$ROOT"
    find src js/src -name '*.rs' -type f | LC_ALL=C sort | xargs sha256sum
    sha256sum Cargo.toml Cargo.lock js/Cargo.toml js/scripts/build.sh
    wasm-bindgen --version
    rustc --version
  ) | sha256sum | cut -d' ' -f1
}
want=$(inputs)
if [ "${FORCE_BUILD:-0}" != 1 ] && [ -f dist/.inputs ] && [ "$(cat dist/.inputs)" = "$want" ] \
  && [ -f dist/edgeward.js ] && [ -f dist/edgeward_bg.wasm ]; then
  log "dist/ is up to date"
  exit 0
fi

# wasm-opt from npm binaryen (Debian's is too old): the dev install's, else
# binaryen alone in js/.tools (a few MB, not the whole dev toolchain).
WASM_OPT=$JS/node_modules/.bin/wasm-opt
if [ ! -x "$WASM_OPT" ]; then
  WASM_OPT=$JS/.tools/node_modules/.bin/wasm-opt
  if [ ! -x "$WASM_OPT" ]; then
    log "npm install binaryen@132.0.0 (into js/.tools, for wasm-opt)"
    npm install --prefix "$JS/.tools" --no-save --no-audit --no-fund --loglevel=error binaryen@132.0.0 </dev/null
  fi
fi
command -v wasm-bindgen >/dev/null || { echo "wasm-bindgen is missing: cargo install wasm-bindgen-cli --version $(awk '/^name = "wasm-bindgen"$/{getline; gsub(/version = |"/,""); print; exit}' "$ROOT/Cargo.lock")" >&2; exit 1; }
rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown || rustup target add wasm32-unknown-unknown

log "cargo build --release --target wasm32-unknown-unknown -p edgeward-js"
(cd "$ROOT" && cargo build --quiet --release --target wasm32-unknown-unknown -p edgeward-js)

log "wasm-bindgen --target web"
rm -rf dist.tmp && mkdir dist.tmp
wasm-bindgen --target web --no-typescript --out-dir dist.tmp --out-name edgeward \
  "$TARGET_DIR/wasm32-unknown-unknown/release/edgeward_js.wasm"

log "wasm-opt -O3"
"$WASM_OPT" -O3 --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext \
  --enable-mutable-globals --enable-reference-types --enable-multivalue \
  dist.tmp/edgeward_bg.wasm -o dist.tmp/edgeward_bg.opt.wasm
mv dist.tmp/edgeward_bg.opt.wasm dist.tmp/edgeward_bg.wasm

echo "$want" > dist.tmp/.inputs
rm -rf dist && mv dist.tmp dist
log "dist/edgeward_bg.wasm: $(wc -c < dist/edgeward_bg.wasm) bytes"
