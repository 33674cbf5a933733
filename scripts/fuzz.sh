#!/usr/bin/env bash
# Fuzzes every parser that takes outside bytes (fuzz/fuzz_targets/) with libFuzzer through
# cargo fuzz, installing cargo-fuzz when it is missing.
#   scripts/fuzz.sh            each target for FUZZ_RUNS executions (default 1,500,000), from
#                              and into its committed corpus; prints a table of executions
#   scripts/fuzz.sh --brief    each target over its committed corpus only, then a few seconds
#                              of new inputs (what CI runs)
# A crash stops the run with libFuzzer's report and leaves the input in fuzz/artifacts/.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/common.sh

CARGO_FUZZ_VERSION=0.13.2
# The toolchain is stable: cargo fuzz's instrumentation flags need RUSTC_BOOTSTRAP.
export RUSTC_BOOTSTRAP=1
BIN=${CARGO_INSTALL_ROOT:-${CARGO_HOME:-$HOME/.cargo}}/bin
export PATH="$BIN:$PATH"

if ! cargo fuzz --version 2>/dev/null | grep -q " $CARGO_FUZZ_VERSION"; then
  echo "installing cargo-fuzz $CARGO_FUZZ_VERSION" >&2
  cargo install cargo-fuzz --version "$CARGO_FUZZ_VERSION" --locked >&2
fi

brief=0
mode=()
if [ "${1:-}" = "--brief" ]; then
  # Unoptimised: it builds in about two thirds of the time, which matters more than speed for
  # a few seconds of runs.
  brief=1
  mode=(--dev)
fi
runs=${FUZZ_RUNS:-1500000}
targets=$(sed -n 's/^name = "\(.*\)"$/\1/p' fuzz/Cargo.toml | grep -v '^zoomtrack-fuzz$')

# One build for every target (no AddressSanitizer: the code is safe Rust; overflow checks and
# debug assertions are on in fuzz/Cargo.toml's profile).
cargo fuzz build "${mode[@]}" --sanitizer none --fuzz-dir fuzz >&2

total=0
printf '| target | executions | corpus files | time |\n|---|---:|---:|---:|\n' >fuzz/last-run.md
for target in $targets; do
  corpus=fuzz/corpus/$target
  mkdir -p "$corpus"
  start=$SECONDS
  if [ "$brief" = 1 ]; then
    args=(-runs=0)
    extra=(-max_total_time=5)
  else
    args=("-runs=$runs")
    extra=()
  fi
  log=$(mktemp)
  # Over the committed corpus first: every input there must still pass.
  if ! cargo fuzz run "${mode[@]}" --sanitizer none --fuzz-dir fuzz "$target" "$corpus" -- "${args[@]}" >"$log" 2>&1; then
    cat "$log" >&2
    echo "fuzz target $target failed" >&2
    exit 1
  fi
  if [ "$brief" = 1 ]; then
    # A few seconds of new inputs, kept out of the committed corpus.
    scratch=$(mktemp -d)
    if ! cargo fuzz run "${mode[@]}" --sanitizer none --fuzz-dir fuzz "$target" "$scratch" "$corpus" -- "${extra[@]}" >"$log" 2>&1; then
      cat "$log" >&2
      echo "fuzz target $target failed" >&2
      exit 1
    fi
    rm -rf "$scratch"
  fi
  execs=$(grep -o 'Done [0-9]* runs' "$log" | tail -1 | grep -o '[0-9]*' || true)
  execs=${execs:-0}
  rm -f "$log"
  total=$((total + execs))
  printf '| %s | %d | %d | %s |\n' "$target" "$execs" "$(ls "$corpus" | wc -l)" \
    "$(human_duration $((SECONDS - start)))" | tee -a fuzz/last-run.md
done
printf '| all | %d | | |\n' "$total" | tee -a fuzz/last-run.md
echo "fuzzing: $total executions, no crash" >&2
