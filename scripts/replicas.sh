#!/usr/bin/env bash
# Several servers on one PostgreSQL database behind a local nginx, for trying them by hand:
# scripts/replicas.sh [N] starts N servers (3 unless told) and a proxy that spreads requests
# over them with no sticky sessions and upgrades the dashboard's WebSocket, as docs/deploy.md
# describes. DATABASE_URL names the database (by default `zoomtrack_replicas` on the local
# PostgreSQL, made if missing); PORT the proxy's port (8080); ADMIN_TOKEN the admin credential
# (a new one is made and printed otherwise). Installs nginx when missing. Ctrl-C stops it all.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/common.sh

say() { echo "replicas: $*" >&2; }

count=${1:-3}
if ! [[ "$count" =~ ^[1-9][0-9]?$ ]]; then
  say "usage: scripts/replicas.sh [N], N from 1 to 99"
  exit 2
fi
port=${PORT:-8080}
if [ -z "${DATABASE_URL:-}" ]; then
  command -v psql >/dev/null || apt_install postgresql-client
  exists=$(psql -h 127.0.0.1 -U postgres -d postgres -tAc \
    "SELECT 1 FROM pg_database WHERE datname = 'zoomtrack_replicas'")
  if [ "$exists" != 1 ]; then
    psql -h 127.0.0.1 -U postgres -d postgres -qc "CREATE DATABASE zoomtrack_replicas"
  fi
  DATABASE_URL=postgres://postgres@127.0.0.1:5432/zoomtrack_replicas
fi
export DATABASE_URL
nginx=$(command -v nginx || echo /usr/sbin/nginx)
[ -x "$nginx" ] || { apt_install nginx; nginx=/usr/sbin/nginx; }
ADMIN_TOKEN=${ADMIN_TOKEN:-$(head -c 24 /dev/urandom | base64 | tr '+/' '-_')}
export ADMIN_TOKEN

say "building the server (cargo build --release)"
cargo build --release --locked --bin zoomtrack
binary="${CARGO_TARGET_DIR:-target}/release/zoomtrack"
dir=$(mktemp -d)
# nginx's workers (nobody, when started as root) keep their temporary files in it.
chmod 755 "$dir"
pids=()
stop() {
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  wait
  rm -rf "$dir"
}
trap stop EXIT
trap 'exit 130' INT TERM HUP

upstream=""
for ((n = 1; n <= count; n++)); do
  addr="127.0.0.1:$((port + n))"
  env -u METRICS_ADDR BIND_ADDR="$addr" PUBLIC_BASE_URL="http://127.0.0.1:$port" \
    TRUSTED_PROXIES=127.0.0.1 "$binary" >"$dir/server-$n.log" 2>&1 &
  pids+=($!)
  upstream+="        server $addr max_fails=3 fail_timeout=10s;"$'\n'
done

cat >"$dir/nginx.conf" <<CONF
daemon off;
pid $dir/nginx.pid;
error_log $dir/nginx.log warn;
events {}
http {
    access_log off;
    client_body_temp_path $dir/body;
    proxy_temp_path $dir/proxy;
    fastcgi_temp_path $dir/fastcgi;
    uwsgi_temp_path $dir/uwsgi;
    scgi_temp_path $dir/scgi;
    upstream zoomtrack {
$upstream        keepalive 64;
    }
    server {
        listen 127.0.0.1:$port;
        location /graphql/ws {
            proxy_pass http://zoomtrack;
            proxy_http_version 1.1;
            proxy_set_header Upgrade \$http_upgrade;
            proxy_set_header Connection "upgrade";
            proxy_set_header Host \$host;
            proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
            proxy_read_timeout 1h;
        }
        location / {
            proxy_pass http://zoomtrack;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host \$host;
            proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
        }
    }
}
CONF
"$nginx" -p "$dir" -e "$dir/nginx.log" -c "$dir/nginx.conf" &
pids+=($!)

for ((n = 1; n <= count; n++)); do
  until curl -fsS "http://127.0.0.1:$((port + n))/health" >/dev/null 2>&1; do
    if ! kill -0 "${pids[$((n - 1))]}" 2>/dev/null; then
      say "server $n stopped at start; its log:"
      cat "$dir/server-$n.log" >&2
      exit 1
    fi
    sleep 0.2
  done
done
until curl -fsS "http://127.0.0.1:$port/health" >/dev/null 2>&1; do
  kill -0 "${pids[-1]}" 2>/dev/null || { say "nginx stopped:"; cat "$dir/nginx.log" >&2; exit 1; }
  sleep 0.2
done
say "$count servers on $DATABASE_URL behind http://127.0.0.1:$port"
say "dashboard: http://127.0.0.1:$port/admin/ (built by scripts/run.sh or scripts/dashboard.sh)"
say "admin token: $ADMIN_TOKEN"
say "logs: $dir; Ctrl-C stops everything"
wait -n || true
say "a process stopped; stopping the others"
