#!/usr/bin/env bash
# Builds and runs the server on SQLite (./data/zoomtrack.db unless DATABASE_URL says otherwise).
set -euo pipefail
cd "$(dirname "$0")/.."

exec cargo run --release --locked --bin zoomtrack -- "$@"
