#!/usr/bin/env bash
# Builds the Envoy filter: cargo (wasm32-wasip1, opt-level z; ring's C at s,
# see worker/scripts/build.sh) → wasm-opt (-Oz and the flags below) →
# envoy/build/edgeward.wasm.
#
#   envoy/scripts/build.sh            the shipped filter
#   envoy/scripts/build.sh --test     the test build (feature test-hooks) → envoy/build/test/edgeward.wasm
#   envoy/scripts/build.sh --probe    the bench probe build (feature probe) → envoy/build/probe/edgeward.wasm
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export PATH="$HOME/.cargo/bin:$PATH"
rustup target list --installed | grep -qx wasm32-wasip1 || rustup target add wasm32-wasip1
features=()
out="$here/build"
if [ "${1:-}" = "--test" ]; then
  features=(--features test-hooks)
  out="$here/build/test"
elif [ "${1:-}" = "--probe" ]; then
  features=(--features probe)
  out="$here/build/probe"
fi
if [ ! -x "$here/node_modules/.bin/wasm-opt" ]; then
  (cd "$here" && npm ci --no-audit --no-fund --loglevel=error </dev/null)
fi
# Its own target dir: the other hosts' builds never wait on it.
export CARGO_TARGET_DIR="$here/target"
CARGO_PROFILE_RELEASE_OPT_LEVEL=z cargo build --quiet --release --target wasm32-wasip1 \
  -p edgeward-envoy "${features[@]}" --config 'profile.release.package.ring.opt-level="s"'
wasm="$CARGO_TARGET_DIR/wasm32-wasip1/release/edgeward_envoy.wasm"
mkdir -p "$out"
# --merge-similar-functions first: functions that differ only in constants
# (monomorphized copies) become one with a parameter (~2.7 KB); then -Oz;
# the producers section (toolchain names) is dropped. No pass that assumes
# traps never happen: a trap is how a panic on a request is contained.
opt_flags=(--merge-similar-functions -Oz --strip-producers)
# The shipped and test builds share cargo's output file: compare contents.
stamp="$(sha256sum "$wasm" | cut -c1-64) ${features[*]} ${opt_flags[*]}"
if [ -f "$out/edgeward.wasm" ] && [ "$(cat "$out/.built-from" 2>/dev/null)" = "$stamp" ]; then
  echo "[envoy] $out/edgeward.wasm is up to date" >&2
  exit 0
fi
"$here/node_modules/.bin/wasm-opt" "${opt_flags[@]}" --enable-bulk-memory --enable-nontrapping-float-to-int \
  --enable-sign-ext --enable-mutable-globals "$wasm" -o "$out/edgeward.wasm"
echo "$stamp" >"$out/.built-from"
bytes=$(wc -c <"$out/edgeward.wasm")
gz=$(gzip -9 <"$out/edgeward.wasm" | wc -c)
echo "[envoy] built $out/edgeward.wasm: $bytes bytes, gzip -9 $gz bytes" >&2
