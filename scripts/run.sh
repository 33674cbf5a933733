#!/usr/bin/env bash
# Builds the dashboard and the server, then runs the server on SQLite (./data/zoomtrack.db
# unless DATABASE_URL says otherwise). The dashboard is at /admin/.
set -euo pipefail
cd "$(dirname "$0")/.."

source scripts/dashboard.sh
build_dashboard
exec cargo run --release --locked --bin zoomtrack -- "$@"
