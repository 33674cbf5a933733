#!/usr/bin/env bash
# Runs the hot-path and read-path benchmarks on SQLite, PostgreSQL and MariaDB and prints their
# tables. Starts (and on a fresh machine installs) the database servers, and valgrind for the
# instruction counts. Flags go to both benchmarks:
#   scripts/bench.sh [--sessions N] [--seconds S] [--databases sqlite,postgres,mysql]
# --smoke runs both once at tiny sizes in the test profile (what scripts/test.sh does, so the
# benchmarks cannot rot): no figure in it means anything.
set -euo pipefail
cd "$(dirname "$0")/.."

source scripts/services.sh
if ! command -v valgrind >/dev/null 2>&1 || ! command -v callgrind_control >/dev/null 2>&1; then
  echo "installing valgrind (instruction counts)" >&2
  apt_install valgrind >&2
fi
if ! command -v taskset >/dev/null 2>&1; then
  echo "installing util-linux (taskset: the generator and the server on cores of their own)" >&2
  apt_install util-linux >&2
fi

if [ "${1:-}" = "--smoke" ]; then
  cargo test --locked -p zoomtrack-tests --bench hot_path --bench read_path -- "$@"
else
  cargo bench --locked -p zoomtrack-tests --bench hot_path -- "$@"
  cargo bench --locked -p zoomtrack-tests --bench read_path -- "$@"
fi
