#!/usr/bin/env bash
# Installs what the build and tests need, idempotently: skips what is already
# there at the right version, so a warm machine spends seconds here.
set -euo pipefail
cd "$(dirname "$0")/.."

# Bold only on a terminal, and never with NO_COLOR (CI logs stay plain).
if [ -t 1 ] && [ -z "${NO_COLOR:-}" ]; then b=$'\033[1m' n=$'\033[0m'; else b='' n=''; fi
log() { printf '%s[setup]%s %s\n' "$b" "$n" "$*"; }
export PATH="$HOME/.cargo/bin:$PATH"

# Rust targets for the wasm hosts.
installed=$(rustup target list --installed)
for t in wasm32-unknown-unknown wasm32-wasip1; do
  grep -qx "$t" <<<"$installed" || { log "rustup target add $t"; rustup target add "$t"; }
done

# ring compiles C for wasm32 with clang.
if ! command -v clang >/dev/null; then
  log "apt-get install clang"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq clang >/dev/null
fi

# The npm package's store tests run a real Redis; the README blocks use jq.
missing=()
command -v redis-server >/dev/null || missing+=(redis-server)
command -v jq >/dev/null || missing+=(jq)
if [ ${#missing[@]} -gt 0 ]; then
  log "apt-get install ${missing[*]}"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# Fuzzing needs nightly and cargo-fuzz.
if ! rustup toolchain list | grep -q '^nightly'; then
  log "rustup toolchain install nightly (minimal)"
  rustup toolchain install nightly --profile minimal
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
  log "cargo install cargo-fuzz"
  cargo install cargo-fuzz --version 0.13.1
fi

# wasm-bindgen CLI must match the wasm-bindgen crate exactly.
want_wb=$(awk '/^name = "wasm-bindgen"$/{getline; gsub(/version = |"/,""); print; exit}' Cargo.lock bench/wasm/Cargo.lock 2>/dev/null | head -1)
if [ -n "${want_wb:-}" ] && [ "$(wasm-bindgen --version 2>/dev/null | awk '{print $2}')" != "$want_wb" ]; then
  log "cargo install wasm-bindgen-cli $want_wb"
  cargo install wasm-bindgen-cli --version "$want_wb"
fi
log "ready"
