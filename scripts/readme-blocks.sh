#!/usr/bin/env bash
# Runs, as pasted, every shell block of the READMEs marked `<!-- ci: run -->`
# on the line before its ```sh fence: each in a fresh temporary directory,
# with bash -euo pipefail, the release `edgeward` on PATH, and a time limit.
# Blocks that need an account or a remote IdP are not marked; the two
# commands are run by CI itself.
#
#   scripts/readme-blocks.sh [FILE.md ...]     (default: every README.md)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
export PATH="$HOME/.cargo/bin:$PATH"
command -v jq >/dev/null || {
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq jq >/dev/null
}
cargo build --quiet --release -p edgeward-cli
bin="$root/target/release"

files=("$@")
[ ${#files[@]} -gt 0 ] || mapfile -t files < <(git ls-files '*README.md' 'README.md')
ran=0
for md in "${files[@]}"; do
  blocks="$(mktemp -d)"
  # Each marked block into its own file: blocks/N.sh
  awk -v dir="$blocks" '
    /<!-- ci: run -->/ { want = 1; next }
    want && /^```sh$/ { n++; file = dir "/" n ".sh"; inblock = 1; want = 0; next }
    inblock && /^```$/ { inblock = 0; close(file); next }
    inblock { print > file; next }
    { want = 0 }
  ' "$md"
  for block in "$blocks"/*.sh; do
    [ -e "$block" ] || continue
    work="$(mktemp -d)"
    echo "== $md, block $(basename "$block" .sh)" >&2
    # Its own process group, so whatever it leaves running is stopped by PID.
    (cd "$work" && PATH="$bin:$PATH" exec setsid timeout 60 bash -euo pipefail "$block" </dev/null >"$work/.out" 2>&1) &
    pid=$!
    status=0
    wait "$pid" || status=$?
    kill -TERM -- "-$pid" 2>/dev/null || true
    if [ "$status" != 0 ]; then
      echo "-- FAILED ($status): $md block $(basename "$block" .sh):" >&2
      cat "$block" >&2
      echo "-- output:" >&2
      cat "$work/.out" >&2
      exit 1
    fi
    ran=$((ran + 1))
    rm -rf "$work"
  done
  rm -rf "$blocks"
done
echo "readme blocks: $ran ran as pasted" >&2
