#!/usr/bin/env bash
# Runs every test: unit tests and the whole server over HTTP on SQLite, PostgreSQL and MariaDB.
# Starts (and on a fresh machine installs) the database servers it needs.
set -euo pipefail
cd "$(dirname "$0")/.."

source scripts/services.sh
export TEST_REQUIRE_ALL_DATABASES=1
echo "databases under test: SQLite, PostgreSQL (TEST_POSTGRES_URL), MariaDB (TEST_MYSQL_URL)"

cargo test --workspace --locked "$@"
echo "every database test ran on: SQLite, PostgreSQL, MariaDB"
