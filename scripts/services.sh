#!/usr/bin/env bash
# Makes sure PostgreSQL and MariaDB run on 127.0.0.1 for the test suite (installing them with
# apt-get when missing), then prints the TEST_POSTGRES_URL and TEST_MYSQL_URL to use.
# Sourced by scripts/test.sh.
set -euo pipefail

log() { echo "services: $*" >&2; }

apt_install() {
  if [ -z "${APT_UPDATED:-}" ]; then
    apt-get update -qq >&2
    APT_UPDATED=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >&2
}

wait_for() {
  local what=$1; shift
  for _ in $(seq 1 60); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 1
  done
  log "$what did not answer within 60 s"
  return 1
}

ensure_postgres() {
  if ! command -v pg_ctlcluster >/dev/null 2>&1; then
    log "installing PostgreSQL"
    apt_install postgresql
  fi
  if ! pg_isready -q -h 127.0.0.1 -p 5432; then
    log "starting PostgreSQL"
    for version in $(ls /etc/postgresql); do
      pg_ctlcluster --skip-systemctl-redirect "$version" main start >&2 || true
    done
  fi
  wait_for PostgreSQL pg_isready -q -h 127.0.0.1 -p 5432
  # A fresh install asks for a password over TCP: give the postgres role a known one.
  runuser -u postgres -- psql -q -c "ALTER USER postgres PASSWORD 'postgres'" >/dev/null 2>&1 || true
}

ensure_mariadb() {
  if [ ! -x /usr/sbin/mariadbd ]; then
    log "installing MariaDB"
    apt_install mariadb-server
  fi
  if ! mariadb-admin ping -h 127.0.0.1 --silent >/dev/null 2>&1; then
    log "starting MariaDB"
    mkdir -p /run/mysqld
    chown mysql:mysql /run/mysqld 2>/dev/null || true
    start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd >&2
  fi
  wait_for MariaDB mariadb-admin ping -h 127.0.0.1 --silent
  # A test user that works whether root has a password, a socket login or neither.
  mariadb -u root -e "
    CREATE USER IF NOT EXISTS 'zt_test'@'%' IDENTIFIED BY 'zt_test';
    CREATE USER IF NOT EXISTS 'zt_test'@'localhost' IDENTIFIED BY 'zt_test';
    GRANT ALL PRIVILEGES ON *.* TO 'zt_test'@'%';
    GRANT ALL PRIVILEGES ON *.* TO 'zt_test'@'localhost';" >&2
}

if [ -z "${TEST_POSTGRES_URL:-}" ]; then
  ensure_postgres
  export TEST_POSTGRES_URL="postgres://postgres:postgres@127.0.0.1:5432/postgres"
fi
if [ -z "${TEST_MYSQL_URL:-}" ]; then
  ensure_mariadb
  export TEST_MYSQL_URL="mysql://zt_test:zt_test@127.0.0.1:3306/mysql"
fi
