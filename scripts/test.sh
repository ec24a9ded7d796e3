#!/usr/bin/env bash
# Runs every test. Installs what it needs first (scripts/setup.sh).
#   scripts/test.sh            everything
#   FUZZ_SECONDS=0 scripts/test.sh   skip the bounded fuzz runs
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
export CARGO_TERM_COLOR=never

# Bold only on a terminal, and never with NO_COLOR (CI logs stay plain).
if [ -t 1 ] && [ -z "${NO_COLOR:-}" ]; then b=$'\033[1m' n=$'\033[0m'; else b='' n=''; fi
step() { printf '\n%s== %s%s\n' "$b" "$*" "$n"; }

step "setup"
bash scripts/setup.sh

step "format and lint"
cargo fmt --all -- --check
cargo clippy --all-targets --quiet -- -D warnings
cargo clippy --quiet -p edgeward-js -p edgeward-worker --target wasm32-unknown-unknown -- -D warnings
cargo clippy --quiet -p edgeward-envoy --target wasm32-wasip1 -- -D warnings
cargo clippy --quiet -p edgeward-envoy --target wasm32-wasip1 --features test-hooks -- -D warnings

step "core, CLI, Wycheproof, conformance and doc tests"
cargo test
# The vector counts, printed by the tests themselves.
cargo test --quiet --test wycheproof --test conformance -- --nocapture 2>&1 | grep -E '^(wycheproof|conformance)' || true

step "the core builds for every wasm target"
cargo build --quiet --lib --release --target wasm32-unknown-unknown
cargo build --quiet --lib --release --target wasm32-wasip1
cargo build --quiet --lib --release --target wasm32-unknown-unknown --no-default-features

step "benchmarks compile"
cargo bench --no-run --quiet --bench core

step "npm package: Node, Deno, Bun, workerd, pack test"
bash js/scripts/test.sh

step "Cloudflare Worker in workerd: end-to-end with oidc-provider, conformance cases"
bash worker/scripts/test.sh

step "the documented deploy command builds and bundles the Worker (wrangler deploy --dry-run, from worker/ and from the root)"
dry="$(mktemp -d)"
(cd worker && WRANGLER_SEND_METRICS=false node_modules/.bin/wrangler deploy -c ../wrangler.toml --dry-run --outdir "$dry/a" </dev/null)
WRANGLER_SEND_METRICS=false worker/node_modules/.bin/wrangler deploy -c wrangler.toml --dry-run --outdir "$dry/b" </dev/null
ls "$dry/a"/*.wasm "$dry/b"/*.wasm >/dev/null
rm -rf "$dry"

step "Envoy filter in a real Envoy: end-to-end with oidc-provider, conformance cases, Wycheproof through verify_signature"
bash envoy/scripts/test.sh

step "the READMEs' shell blocks marked <!-- ci: run -->, as pasted"
bash scripts/readme-blocks.sh

step "the README's demo (scripts/demo.sh --once): 401, 200 with identity headers, 403"
bash scripts/demo.sh --once 2>&1 | tee target/demo.log
grep -q 'HTTP/1.1 401' target/demo.log
grep -q '"x-auth-subject": "alice"' target/demo.log
grep -q 'HTTP/1.1 403' target/demo.log
if grep -q 'spoofed-admin"' target/demo.log; then echo "the spoofed identity header reached the origin" >&2; exit 1; fi

if [ "${FUZZ_SECONDS:-30}" != 0 ]; then
  step "fuzz (bounded: ${FUZZ_SECONDS:-30}s per target)"
  bash scripts/fuzz.sh "${FUZZ_SECONDS:-30}"
fi

step "all tests passed"
