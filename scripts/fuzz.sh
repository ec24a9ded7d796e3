#!/usr/bin/env bash
# Runs every cargo-fuzz target in fuzz/ for SECONDS each (default 30).
#
#   scripts/fuzz.sh [SECONDS]
#
# Seeds in fuzz/seeds/<target>/ are copied into a scratch corpus,
# fuzz/corpus/<target>/ (git-ignored, kept between runs; delete it to start
# over), so the checked-in seeds are never modified. Crashes land in
# fuzz/artifacts/<target>/ and the run log in fuzz/artifacts/<target>.log.
#
# Needs rustup; installs the nightly toolchain and cargo-fuzz 0.13.1 when
# missing. Exits non-zero when a target fails to build or finds a crash,
# after running the other targets.
set -euo pipefail

seconds="${1:-30}"
case "$seconds" in
  '' | *[!0-9]*) echo "usage: $0 [SECONDS]" >&2; exit 2 ;;
esac

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

if ! cargo +nightly --version >/dev/null 2>&1; then
  echo "fuzz: installing the nightly toolchain" >&2
  rustup toolchain install nightly --profile minimal
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "fuzz: installing cargo-fuzz 0.13.1" >&2
  cargo install cargo-fuzz --version 0.13.1 --locked
fi

# Debug assertions on: integer overflow is a finding too (release builds of
# the core wrap silently instead).
fuzz_flags=(--debug-assertions)

echo "fuzz: building targets" >&2
cargo +nightly fuzz build "${fuzz_flags[@]}"

mapfile -t targets < <(cargo +nightly fuzz list)
if [ "${#targets[@]}" -eq 0 ]; then
  echo "fuzz: no targets found" >&2
  exit 1
fi

failed=()
summary=()
for target in "${targets[@]}"; do
  corpus="$root/fuzz/corpus/$target"
  artifacts="$root/fuzz/artifacts/$target"
  log="$root/fuzz/artifacts/$target.log"
  mkdir -p "$corpus" "$artifacts"
  if [ -d "$root/fuzz/seeds/$target" ]; then
    cp -R "$root/fuzz/seeds/$target/." "$corpus/"
  fi
  echo "fuzz: $target for ${seconds}s" >&2
  status=0
  cargo +nightly fuzz run "${fuzz_flags[@]}" "$target" "$corpus" -- \
    -max_total_time="$seconds" -print_final_stats=1 >"$log" 2>&1 || status=$?
  execs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)"
  if [ -z "$execs" ]; then
    # libFuzzer prints no final stats when it dies on a crash.
    execs="$(grep -Eo '^#[0-9]+' "$log" | tail -n 1 | tr -d '#')"
  fi
  rate="$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)"
  line="$target: ${execs:-?} execs in ${seconds}s (${rate:-?}/s), corpus $(find "$corpus" -type f | wc -l) files"
  if [ "$status" -ne 0 ]; then
    line="$line: FAILED (exit $status), see $log"
    failed+=("$target")
    grep -E 'panicked at|ERROR: libFuzzer|SUMMARY|Test unit written' "$log" | head -n 20 >&2 || true
  fi
  echo "fuzz: $line" >&2
  summary+=("$line")
done

printf '%s\n' "${summary[@]}"
if [ "${#failed[@]}" -ne 0 ]; then
  echo "fuzz: crashes in: ${failed[*]}" >&2
  exit 1
fi
