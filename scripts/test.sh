#!/usr/bin/env bash
# Runs every test: unit tests and the whole server over HTTP on SQLite, PostgreSQL and MariaDB.
# Starts (and on a fresh machine installs) the database servers, Chromium and the dashboard's
# build tools it needs; works as root or as a user with sudo.
set -euo pipefail
cd "$(dirname "$0")/.."

# The server's own settings must not leak into the servers the tests start.
unset DATABASE_URL BIND_ADDR PUBLIC_BASE_URL ADMIN_TOKEN SESSION_TIMEOUT SWEEP_INTERVAL \
  HEARTBEAT_INTERVAL HEARTBEAT_FLUSH_INTERVAL ZOOM_LAUNCH_DELAY ZOOM_WEBHOOK_SECRET ADMIN_UI_DIR \
  TELEGRAM_BOT_TOKEN TELEGRAM_API_BASE TELEGRAM_TIMEOUT \
  TELEGRAM_RETRY_BACKOFF TELEGRAM_RETRY_INTERVAL TELEGRAM_MAX_ATTEMPTS TELEGRAM_RESEND_COOLDOWN \
  RATE_LIMITS PUBLIC_RATE PUBLIC_BURST AUTH_FAILURES_PER_MINUTE AUTH_FAILURE_BURST TRUSTED_PROXIES \
  MAX_CONNECTIONS MAX_CONNECTIONS_PER_ADDRESS HEADER_READ_TIMEOUT BODY_READ_TIMEOUT REQUEST_TIMEOUT \
  SHUTDOWN_TIMEOUT WS_MAX_CONNECTIONS WS_MAX_PER_CREDENTIAL WS_MAX_SUBSCRIPTIONS WS_KEEPALIVE \
  GRAPHIQL INTROSPECTION

source scripts/services.sh
export TEST_REQUIRE_ALL_DATABASES=1

# The dashboard tests drive a headless Chromium over WebDriver against the built dashboard.
if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
  echo "installing chromium and chromium-driver" >&2
  apt_install chromium chromium-driver >&2
fi
source scripts/dashboard.sh
build_dashboard
export TEST_REQUIRE_BROWSER=1
echo "databases under test: SQLite, PostgreSQL (TEST_POSTGRES_URL), MariaDB (TEST_MYSQL_URL)"

log=$(mktemp)
trap 'rm -f "$log"' EXIT
cargo test --workspace --locked "$@" 2>&1 | tee "$log"
# Both benchmarks once at tiny sizes on every database, so that they cannot rot.
scripts/bench.sh --smoke
# Every parser of outside bytes over its committed corpus, then a few seconds of new inputs.
scripts/fuzz.sh --brief
echo "every database test ran on SQLite, PostgreSQL and MariaDB (TEST_REQUIRE_ALL_DATABASES: none may be skipped)"
echo "the dashboard tests ran in headless Chromium (TEST_REQUIRE_BROWSER); screenshot: target/screenshots/overview.png"
echo "the hot-path and read-path benchmarks ran at smoke sizes on every database"
echo "every fuzz target ran over its corpus and briefly beyond it: fuzz/last-run.md"
awk '/^test result:/ { passed += $4; failed += $6 } END { printf "%d passed, %d failed\n", passed, failed }' "$log"
