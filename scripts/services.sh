#!/usr/bin/env bash
# Makes sure PostgreSQL and MariaDB run on 127.0.0.1 for the test suite (installing them with
# apt-get when missing, through sudo when not root), gives each a test user that may create and
# drop only its own databases, and exports TEST_POSTGRES_URL and TEST_MYSQL_URL. It changes no
# existing user but its own `zt_test`. Skipped for a database whose TEST_*_URL is already set.
# Sourced by scripts/test.sh.
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

services_say() { echo "services: $*" >&2; }

wait_for() {
  local what=$1
  shift
  for _ in $(seq 1 60); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 1
  done
  services_say "$what did not answer within 60 s"
  return 1
}

ensure_postgres() {
  if ! command -v pg_ctlcluster >/dev/null 2>&1; then
    services_say "installing PostgreSQL"
    apt_install postgresql >&2
  fi
  if ! pg_isready -q -h 127.0.0.1 -p 5432; then
    services_say "starting PostgreSQL"
    local version
    for version in /etc/postgresql/*; do
      as_root pg_ctlcluster --skip-systemctl-redirect "$(basename "$version")" main start >&2 || true
    done
  fi
  wait_for PostgreSQL pg_isready -q -h 127.0.0.1 -p 5432
  # A role that may create databases (and so drop its own), and (PostgreSQL 15 and later) ask
  # for a checkpoint, which the benchmarks do after seeding; nothing more.
  as_root runuser -u postgres -- psql -q -v ON_ERROR_STOP=1 -d postgres >&2 <<'SQL'
DO $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'zt_test') THEN
    CREATE ROLE zt_test LOGIN CREATEDB PASSWORD 'zt_test';
  END IF;
  IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'pg_checkpoint') THEN
    GRANT pg_checkpoint TO zt_test;
  END IF;
END
$$;
SQL
}

ensure_mariadb() {
  if [ ! -x /usr/sbin/mariadbd ]; then
    services_say "installing MariaDB"
    apt_install mariadb-server >&2
  fi
  if ! mariadb-admin ping -h 127.0.0.1 --silent >/dev/null 2>&1; then
    services_say "starting MariaDB"
    as_root mkdir -p /run/mysqld
    as_root chown mysql:mysql /run/mysqld 2>/dev/null || true
    as_root start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd >&2
  fi
  wait_for MariaDB mariadb-admin ping -h 127.0.0.1 --silent
  # A user of this machine only, with every right on the databases the tests create
  # (zt_test_*) and none elsewhere.
  as_root mariadb -u root >&2 <<'SQL'
DROP USER IF EXISTS 'zt_test'@'%';
CREATE USER IF NOT EXISTS 'zt_test'@'localhost' IDENTIFIED BY 'zt_test';
CREATE USER IF NOT EXISTS 'zt_test'@'127.0.0.1' IDENTIFIED BY 'zt_test';
REVOKE ALL PRIVILEGES, GRANT OPTION FROM 'zt_test'@'localhost', 'zt_test'@'127.0.0.1';
GRANT ALL PRIVILEGES ON `zt\_test\_%`.* TO 'zt_test'@'localhost', 'zt_test'@'127.0.0.1';
SQL
}

if [ -z "${TEST_POSTGRES_URL:-}" ]; then
  ensure_postgres
  export TEST_POSTGRES_URL="postgres://zt_test:zt_test@127.0.0.1:5432/postgres"
fi
if [ -z "${TEST_MYSQL_URL:-}" ]; then
  ensure_mariadb
  export TEST_MYSQL_URL="mysql://zt_test:zt_test@127.0.0.1:3306"
fi
