#!/usr/bin/env bash
# Builds the edgeward Worker: cargo (wasm32-unknown-unknown) → wasm-bindgen
# (--target web) → wasm-opt → an ES module entry (js/entry.mjs).
#
#   worker/scripts/build.sh           the shipped Worker → worker/build/worker/ (wrangler.toml's main)
#   worker/scripts/build.sh --test    the test build (feature test-clock) → worker/build/test/
#   EDGEWARD_CONFIG_FILE=edgeward.toml worker/scripts/build.sh   bundle a configuration file
#   EDGEWARD_WORKER_NAMES=1 EDGEWARD_WORKER_OUT=dir worker/scripts/build.sh   keep function names
#     (wasm-opt -g, JS not minified), so a CPU profile names Rust functions (bench/worker/cold.mjs)
#   EDGEWARD_WASM_OPT_ARGS='...'      extra wasm-opt arguments (experiments)
#
# No worker-build: it would cost ~8 min to install on 2 cores and downloads its
# tools from GitHub; this is the same pipeline with the tools we already pin
# (wasm-bindgen CLI = the crate's exact version, binaryen from npm).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
root="$(cd "$here/.." && pwd)"
export PATH="$HOME/.cargo/bin:$PATH"

features=(--features "${EDGEWARD_WORKER_FEATURES:-}")
out="${EDGEWARD_WORKER_OUT:-$here/build/worker}"
if [ "${1:-}" = "--test" ]; then
  features=(--features "test-clock,toml,test-vectors")
  out="$here/build/test"
fi

want_wb="$(awk '/^name = "wasm-bindgen"$/{getline; gsub(/version = |"/,""); print; exit}' "$root/Cargo.lock")"
if [ "$(wasm-bindgen --version 2>/dev/null | awk '{print $2}')" != "$want_wb" ]; then
  echo "[worker] cargo install wasm-bindgen-cli --version $want_wb" >&2
  cargo install --quiet wasm-bindgen-cli --version "$want_wb"
fi
if [ ! -x "$here/node_modules/.bin/wasm-opt" ]; then
  (cd "$here" && npm ci --no-audit --no-fund --loglevel=error)
fi

# Its own target dir: other crates' builds in the workspace never wait on it.
export CARGO_TARGET_DIR="$here/target"
# Size over speed for the Rust side (the signature arithmetic is native, see
# src/native.rs): opt-level z here, wasm-opt -Oz below. EDGEWARD_WORKER_OPT=3
# builds for speed instead, to compare.
opt="${EDGEWARD_WORKER_OPT:-z}"
# ring's C never at -Oz: clang -Oz for wasm32 miscompiles its P-384 code (a
# valid Wycheproof vector, ecdsa_secp384r1_sha384_p1363 #147, is refused;
# test/vectors.test.mjs catches it). ring at "s" passes every vector.
ring_opt="$([ "$opt" = z ] && echo s || echo "$opt")"
case "$ring_opt" in [0-9]) ;; *) ring_opt="\"$ring_opt\"" ;; esac
# The token's JSON and base64 readers and the allocator at opt-level 3 even
# so: they are most of a new token's parse (bench/worker/probe.mjs, RS256:
# jws::parse 5.0 -> 3.6 µs, a distinct token's check about 2 µs less) for
# 5 KB gzip. The core itself stays at z (3 would add 33 KB for 2 µs more).
hot=()
if [ "$opt" = z ]; then
  for c in serde_json base64 talc; do hot+=(--config "profile.release.package.$c.opt-level=3"); done
fi
CARGO_PROFILE_RELEASE_OPT_LEVEL="$opt" \
  cargo build --quiet --release --target wasm32-unknown-unknown -p edgeward-worker "${features[@]}" \
  --config "profile.release.package.ring.opt-level=$ring_opt" "${hot[@]}" ${EDGEWARD_WORKER_CARGO_ARGS:-}

wasm="$CARGO_TARGET_DIR/wasm32-unknown-unknown/release/edgeward_worker.wasm"
stamp="$out/.built-from"
names="${EDGEWARD_WORKER_NAMES:+-g}"
want_stamp="$(stat -c %Y "$wasm") $(cat "$here/js/entry.mjs" "$here/test/test-entry.mjs" | md5sum | cut -c1-32) ${features[*]} $opt $names"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want_stamp" ]; then
  echo "[worker] $out is up to date" >&2
  exit 0
fi
rm -rf "$out"
mkdir -p "$out"
wasm-bindgen --target web --no-typescript --out-dir "$out" \
  "$wasm"
# wasm-bindgen imports a snippet module once per kind of import (plain and
# shimmed), so the import object names glue.js twice: a duplicate key that
# esbuild (wrangler deploy) warns about. Same module, same object: keep one.
node -e '
  const fs = require("fs"), f = process.argv[1];
  const seen = new Map();
  const out = [];
  for (const line of fs.readFileSync(f, "utf8").split("\n")) {
    const m = line.match(/^import \* as (import\d+) from "([^"]+)"$/);
    if (m) { if (seen.has(m[2])) continue; seen.set(m[2], m[1]); }
    const k = line.match(/^\s*"([^"]+)": (import\d+),$/);
    if (k && seen.has(k[1]) && seen.get(k[1]) !== k[2]) continue;
    out.push(line);
  }
  fs.writeFileSync(f, out.join("\n"));
' "$out/edgeward_worker.js"
# A function with one caller is inlined into it only when small
# (-ocimfs 100; binaryen's default inlines it whatever its size). The default
# made one 38 KB function of the whole check, which V8 compiles on a new
# isolate's first request (its baseline code is flushed whenever another
# isolate starts: BENCHMARKS.md, sixth pass), branches never taken included.
# Split, the first request compiles what it runs: its verdict about 1 ms
# sooner (cold.mjs), 3.8 KB less gzip, the same speed warm (probe.mjs).
"$here/node_modules/.bin/wasm-opt" "$([ "$opt" = 3 ] && echo -O3 || echo -Oz)" $names \
  --one-caller-inline-max-function-size 100 ${EDGEWARD_WASM_OPT_ARGS:-} \
  --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext \
  --enable-mutable-globals --enable-reference-types --enable-multivalue \
  "$out/edgeward_worker_bg.wasm" -o "$out/edgeward_worker_bg.wasm"
# The JS minified (esbuild, a dev dependency of worker/): ~5 KB of
# the gzip size is wasm-bindgen's comments and long names. Not with
# EDGEWARD_WORKER_NAMES, whose builds are for reading profiles.
if [ -z "${EDGEWARD_WORKER_NAMES:-}" ]; then
  for f in "$out"/*.js "$out"/snippets/*/*.js "$out"/snippets/*/*/*.js; do
    [ -f "$f" ] || continue
    "$here/node_modules/.bin/esbuild" "$f" --minify --format=esm --log-level=error --outfile="$f.min"
    mv "$f.min" "$f"
  done
fi
cp "$here/js/entry.mjs" "$out/entry.mjs"
if [ "${1:-}" = "--test" ]; then
  # The test build's entry adds a vectors route in front of the shipped one.
  cp "$here/js/entry.mjs" "$out/shipped-entry.mjs"
  cp "$here/test/test-entry.mjs" "$out/entry.mjs"
fi
echo "$want_stamp" >"$stamp"
wasm_bytes=$(wc -c <"$out/edgeward_worker_bg.wasm")
gz=$(cat "$out/edgeward_worker_bg.wasm" "$out"/*.js "$out"/snippets/*/*/*.js 2>/dev/null | gzip -9 | wc -c)
echo "[worker] built $out: wasm $wasm_bytes bytes, wasm+js gzip -9 $gz bytes" >&2
