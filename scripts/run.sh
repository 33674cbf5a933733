#!/usr/bin/env bash
# Runs zoomtrack on SQLite (./data/zoomtrack.db unless DATABASE_URL says otherwise); arguments go
# to the server. The server is built and started first: the API, the tracking page and the
# webhooks answer while the dashboard's tools are installed and the dashboard is built (one
# cargo build at a time). Until then /admin/ shows the build's progress, then the dashboard,
# without a restart. A failed dashboard build leaves the server running. Ctrl-C stops both.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/dashboard.sh

run_say() { echo "run: $*" >&2; }

server=
build=
stop() {
  if [ -n "$server" ]; then kill -TERM "$server" 2>/dev/null || true; fi
  if [ -n "$build" ]; then kill -TERM -- "-$build" 2>/dev/null || true; fi
}
trap stop INT TERM HUP

start=$SECONDS
run_say "step 1 of 2: building the server (cargo build --release; about 9 minutes on 2 cores the first time)"
cargo build --release --locked --bin zoomtrack
run_say "step 1 of 2: done in $(human_duration $((SECONDS - start)))"
ensure_node || run_say "Node.js and npm could not be installed: the dashboard build will fail at wasm-opt"
"${CARGO_TARGET_DIR:-target}/release/zoomtrack" "$@" &
server=$!

run_say "step 2 of 2: the dashboard, while the server runs (its output: $DASHBOARD_LOG)"
# A session of its own, so that stopping it stops the cargo and trunk it runs.
setsid bash -c 'source scripts/dashboard.sh && build_dashboard' &
build=$!

set +eu
finished=
wait -n -p finished "$server" "$build"
status=$?
if [ "$finished" = "$build" ]; then
  build=
  if ((status == 0)); then
    run_say "step 2 of 2: done; the dashboard is served at /admin/ ($(human_duration $((SECONDS - start))) since the start)"
  else
    run_say "step 2 of 2: the dashboard build failed (see above and /admin/); the server keeps running"
  fi
else
  # The server stopped, or a signal came: the build has nothing left to serve.
  stop
fi
# The server's own exit status; a signal interrupts the wait, so wait again until it is gone.
wait "$server"
status=$?
while kill -0 "$server" 2>/dev/null; do
  wait "$server"
  status=$?
done
exit "$status"
