#!/usr/bin/env bash
# Issue 18's figure: how fast signetd answers while PostgreSQL is down, and
# how soon it serves again once PostgreSQL is back (no restart of signetd).
# Goal: /readyz answers within 1 s; the token endpoint and the admin API
# answer 503 temporarily_unavailable within about 2 s.
#
# It runs a private PostgreSQL cluster (initdb in a temporary directory, as
# the postgres user when run as root), one signetd on it, crashes the
# cluster (pg_ctl -m immediate) and times curl against each endpoint.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
target="${CARGO_TARGET_DIR:-$root/target}"
cargo build --offline -q -p signet-server --bin signetd
signetd="$target/debug/signetd"
bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n1)

work=$(mktemp -d)
as_pg=()
if [ "$(id -u)" = 0 ]; then as_pg=(runuser -u postgres --); chown postgres "$work"; fi
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
pg_port=$(free_port)
port=$(free_port)
pg() { "${as_pg[@]}" "$bin/pg_ctl" -w -D "$work/pg" -l "$work/pg.log" "$@" >/dev/null; }
cleanup() {
  [ -n "${server:-}" ] && kill "$server" 2>/dev/null || true
  pg -m immediate stop 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

"${as_pg[@]}" "$bin/initdb" -A trust -U postgres -E UTF8 --locale=C --no-sync -D "$work/pg" >/dev/null
printf "port = %s\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '%s'\n" "$pg_port" "$work" >>"$work/pg/postgresql.conf"
pg start
"$bin/psql" -q -h 127.0.0.1 -p "$pg_port" -U postgres -c 'CREATE DATABASE signet' postgres

mkdir -m 700 "$work/data"
"$signetd" serve --data-dir "$work/data" --listen "127.0.0.1:$port" \
  --database-url "postgres://postgres@127.0.0.1:$pg_port/signet" >"$work/signetd.log" 2>&1 &
server=$!
base="http://127.0.0.1:$port"
for _ in $(seq 1 100); do curl -fs "$base/readyz" >/dev/null 2>&1 && break; sleep 0.2; done
boot="$work/data/bootstrap.json"
env_id=$(jq -r .environment_id "$boot")
admin="$(jq -r .admin.username "$boot"):$(jq -r .admin.password "$boot")"
worker_id=$(jq -r .worker.client_id "$boot")
worker_secret=$(jq -r .worker.client_secret "$boot")

# Prints "STATUS SECONDS BODY" for one request.
timed() { curl -s -o "$work/body" -w '%{http_code} %{time_total}' "$@"; printf ' %s\n' "$(head -c 120 "$work/body")"; }
probe() {
  echo "  /readyz:        $(timed "$base/readyz")"
  echo "  token endpoint: $(timed -d grant_type=client_credentials -u "$worker_id:$worker_secret" "$base/$env_id/as/token")"
  echo "  admin API:      $(timed -u "$admin" "$base/admin-api/v1/accounts")"
}

echo "PostgreSQL up:"
probe
pg -m immediate stop
echo "PostgreSQL down (pg_ctl -m immediate stop), three rounds:"
for _ in 1 2 3; do probe; done
pg start
started=$(date +%s.%N)
until curl -fs "$base/readyz" >/dev/null 2>&1; do sleep 0.05; done
echo "PostgreSQL back: /readyz ready again $(echo "$(date +%s.%N) - $started" | bc) s after pg_ctl start returned"
probe
