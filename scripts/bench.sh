#!/usr/bin/env bash
# Builds and runs the edgeward benchmarks, printing markdown tables:
#   1. native core (benches/core.rs):       cargo bench --bench core
#   2. wasm on Node vs jose (bench/run.mjs): bench/wasm -> wasm-bindgen -> node
#
# Usage: scripts/bench.sh [--quick] [native|wasm]...   (default: both)
# Env:   EDGEWARD_BENCH_WASM_OPT=0  skip wasm-opt -O3 on the bindgen output
#        WASM_BINDGEN=path          wasm-bindgen CLI (must be 0.2.130)
#        plus the knobs documented in benches/core.rs and bench/run.mjs
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

quick=()
parts=()
for arg in "$@"; do
  case "$arg" in
    --quick) quick=(--quick) ;;
    native | wasm) parts+=("$arg") ;;
    *) echo "usage: $0 [--quick] [native|wasm]..." >&2; exit 2 ;;
  esac
done
[ ${#parts[@]} -gt 0 ] || parts=(native wasm)
want() { [[ " ${parts[*]} " == *" $1 "* ]]; }

echo "## edgeward benchmarks"
echo
echo "- CPU: $(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -1), $(nproc) cores"
echo "- $(rustc --version)"
echo "- Node $(node --version 2>/dev/null || echo 'not installed')"
echo "- commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet HEAD -- src 2>/dev/null || echo ' (src modified)')"
load() { echo "- load average (1/5/15 min) $1: $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo '?') on $(nproc) cores"; }
load "at start"

if want native; then
  echo
  echo "## 1. Native core: cargo bench --bench core ${quick[*]:-}"
  cargo bench --quiet --bench core -- "${quick[@]}"
  echo
  load "after the native run"
fi

if want wasm; then
  echo
  echo "## 2. wasm (wasm32-unknown-unknown) on Node vs jose: node bench/run.mjs ${quick[*]:-}"
  bindgen="${WASM_BINDGEN:-$(command -v wasm-bindgen || echo "$HOME/.cargo/bin/wasm-bindgen")}"
  if [ ! -x "$bindgen" ]; then
    echo "wasm-bindgen CLI not found (cargo install wasm-bindgen-cli --version 0.2.130)" >&2
    exit 1
  fi
  case "$("$bindgen" --version)" in
    *" 0.2.130"*) ;;
    *) echo "wasm-bindgen CLI must be 0.2.130 (the bench crate pins =0.2.130), found: $("$bindgen" --version)" >&2; exit 1 ;;
  esac
  (cd bench/wasm && cargo build --quiet --release --target wasm32-unknown-unknown)
  "$bindgen" --target nodejs --out-dir bench/pkg \
    bench/wasm/target/wasm32-unknown-unknown/release/edgeward_bench_wasm.wasm
  if [ ! -d bench/node_modules ]; then
    (cd bench && npm ci --no-audit --no-fund --loglevel=error)
  fi
  if [ "${EDGEWARD_BENCH_WASM_OPT:-1}" != 0 ]; then
    # After wasm-bindgen, with binaryen from npm (Debian's is too old).
    bench/node_modules/.bin/wasm-opt -O3 bench/pkg/edgeward_bench_wasm_bg.wasm \
      -o bench/pkg/edgeward_bench_wasm_bg.wasm
  fi
  echo
  echo "- module: $(wc -c < bench/pkg/edgeward_bench_wasm_bg.wasm) bytes$([ "${EDGEWARD_BENCH_WASM_OPT:-1}" != 0 ] && echo ' (wasm-opt -O3)')"
  mkdir -p bench/results
  node bench/run.mjs "${quick[@]}" --json bench/results/wasm.json
  echo
  load "after the wasm run"
fi
