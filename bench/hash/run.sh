#!/usr/bin/env bash
# The verdict-cache key against SHA-256 in wasm: builds this crate for
# wasm32-wasip1 (opt-level z, as the Worker and Envoy build the core) and
# runs it in Node's V8 through node:wasi.
#   bash bench/hash/run.sh
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
rustup target list --installed | grep -qx wasm32-wasip1 || rustup target add wasm32-wasip1
(cd "$here" && cargo build --quiet --release --target wasm32-wasip1)
node --no-warnings -e '
  const { WASI } = require("node:wasi");
  const fs = require("node:fs");
  const wasi = new WASI({ version: "preview1" });
  const m = new WebAssembly.Module(fs.readFileSync(process.argv[1]));
  wasi.start(new WebAssembly.Instance(m, wasi.getImportObject()));
' "$here/target/wasm32-wasip1/release/edgeward-bench-hash.wasm"
