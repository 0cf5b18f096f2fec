#!/usr/bin/env bash
# Brings up signet's high-availability recipe on loopback, from Debian
# packages: a PostgreSQL 15 primary with a synchronous streaming replica
# (private clusters, never the machine's own on 5432), three signetd nodes
# sharing one key-encryption key and one --public-url, and HAProxy in front
# with health checks on /readyz and X-Forwarded-For. Prints the URLs and
# writes them to $SIGNET_HA_STATE/env. deploy/ha/down.sh removes it all.
#
#   SIGNETD=target/release/signetd deploy/ha/up.sh
#
# Settings (environment):
#   SIGNETD            the signetd binary [signetd on PATH]
#   SIGNET_HA_STATE    the state dir [/tmp/signet-ha]; must not exist yet
#   SIGNET_HA_PORT     the first of 30 ports [a free range picked at random]
#   SIGNET_HA_DB       primary | multi | proxy: the nodes' database URL (lib.sh)
#   PG_BIN             PostgreSQL's binaries [/usr/lib/postgresql/15/bin]
set -euo pipefail
cd "$(dirname "$0")"
source ./lib.sh

SIGNETD=${SIGNETD:-$(command -v signetd || true)}
[ -n "$SIGNETD" ] && [ -x "$SIGNETD" ] || die "no signetd binary; set SIGNETD=path/to/signetd (cargo build -p signet-server --bin signetd)"
SIGNETD=$(realpath "$SIGNETD")
command -v haproxy >/dev/null || die "haproxy is not installed
hint: apt-get install --no-install-recommends haproxy (bash .ci/install does it)"
[ -x "$PG_BIN/initdb" ] || die "no $PG_BIN/initdb
hint: apt-get install postgresql, or set PG_BIN"
for tool in curl jq; do command -v $tool >/dev/null || die "$tool is not installed"; done
[[ "$STATE" != *[[:space:]]* ]] || die "the state dir's path must have no spaces: $STATE"
[ ! -e "$STATE" ] || die "$STATE exists: another harness is up (deploy/ha/down.sh removes it)"

# 30 consecutive free ports: PostgreSQL +0..2, nodes +10..12, HAProxy +20..21.
pick_base() {
  local base i
  for _ in $(seq 1 50); do
    base=${SIGNET_HA_PORT:-$((20000 + RANDOM % 1500 * 20))}
    for ((i = 0; i < 30; i++)); do port_busy $((base + i)) && break; done
    ((i == 30)) && { echo "$base"; return; }
    [ -z "${SIGNET_HA_PORT:-}" ] || die "ports $base..$((base + 29)) are not all free (SIGNET_HA_PORT)"
  done
  die "found no 30 free ports in a row"
}
BASE=$(pick_base)
PG_PRIMARY_PORT=$BASE
PG_REPLICA_PORT=$((BASE + 1))
PG_PROXY_PORT=$((BASE + 2))
NODE1_PORT=$((BASE + 10))
NODE2_PORT=$((BASE + 11))
NODE3_PORT=$((BASE + 12))
HAPROXY_PORT=$((BASE + 20))
HAPROXY_STATS_PORT=$((BASE + 21))
PUBLIC_URL="http://127.0.0.1:$HAPROXY_PORT"
DATABASE_URL=$(database_url)

mkdir -p "$STATE"/logs
chmod 0755 "$STATE"
# Failing halfway leaves what is up for down.sh, which knows it from here.
cat >"$STATE/env" <<VARS
SIGNETD=$SIGNETD
SIGNET_HA_DB=${SIGNET_HA_DB:-multi}
PG_PRIMARY_PORT=$PG_PRIMARY_PORT
PG_REPLICA_PORT=$PG_REPLICA_PORT
PG_PROXY_PORT=$PG_PROXY_PORT
NODE1_PORT=$NODE1_PORT
NODE2_PORT=$NODE2_PORT
NODE3_PORT=$NODE3_PORT
HAPROXY_PORT=$HAPROXY_PORT
HAPROXY_STATS_PORT=$HAPROXY_STATS_PORT
PUBLIC_URL=$PUBLIC_URL
DATABASE_URL=$DATABASE_URL
VARS

# --- PostgreSQL: primary, then a replica from its base backup --------------
mkdir -p "$STATE/pg"
[ "$(id -u)" = 0 ] && chown postgres: "$STATE/pg"
as_pg mkdir -m 0700 "$STATE/pg/sock"
as_pg "$PG_BIN/initdb" -D "$STATE/pg/primary" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >"$STATE/logs/initdb.log"
as_pg tee -a "$STATE/pg/primary/postgresql.conf" >/dev/null <<CONF
port = $PG_PRIMARY_PORT
listen_addresses = '127.0.0.1'
unix_socket_directories = '$STATE/pg/sock'
shared_buffers = 32MB
max_connections = 100
wal_level = replica
max_wal_senders = 4
wal_keep_size = 64MB
CONF
as_pg "$PG_BIN/pg_ctl" -D "$STATE/pg/primary" -l "$STATE/pg/primary.log" -w -t 60 start >/dev/null
as_pg "$PG_BIN/createdb" -h 127.0.0.1 -p "$PG_PRIMARY_PORT" -U postgres signet

as_pg "$PG_BIN/pg_basebackup" -h 127.0.0.1 -p "$PG_PRIMARY_PORT" -U postgres -D "$STATE/pg/replica" -R -X stream -c fast
as_pg tee -a "$STATE/pg/replica/postgresql.conf" >/dev/null <<CONF
port = $PG_REPLICA_PORT
primary_conninfo = 'host=127.0.0.1 port=$PG_PRIMARY_PORT user=postgres application_name=replica1'
CONF
# pg_basebackup -R wrote its own primary_conninfo into postgresql.auto.conf,
# which would win: take it out, so the one naming the standby holds.
as_pg sed -i '/^primary_conninfo/d' "$STATE/pg/replica/postgresql.auto.conf"
as_pg "$PG_BIN/pg_ctl" -D "$STATE/pg/replica" -l "$STATE/pg/replica.log" -w -t 60 start >/dev/null

# Synchronous only once the replica streams: before, every commit would wait.
for _ in $(seq 1 100); do
  [ "$(psql_at "$PG_PRIMARY_PORT" -c "select count(*) from pg_stat_replication where application_name = 'replica1'")" = 1 ] && break
  sleep 0.1
done
psql_at "$PG_PRIMARY_PORT" -c "alter system set synchronous_standby_names = 'FIRST 1 (replica1)'" -c "select pg_reload_conf()" >/dev/null
for _ in $(seq 1 100); do
  sync=$(psql_at "$PG_PRIMARY_PORT" -c "select sync_state from pg_stat_replication where application_name = 'replica1'")
  [ "$sync" = sync ] && break
  sleep 0.1
done
[ "$sync" = sync ] || die "the replica did not become synchronous (state: ${sync:-none}); see $STATE/pg/*.log"

# --- the shared key-encryption key, and the nodes --------------------------
umask 077
head -c 32 /dev/urandom | base64 >"$STATE/key-encryption-key"
umask 022

# HAProxy first, so the public URL answers as soon as a node is ready.
sed -e "s|@HAPROXY_PORT@|$HAPROXY_PORT|g" -e "s|@STATS_PORT@|$HAPROXY_STATS_PORT|g" \
  -e "s|@NODE1@|127.0.0.1:$NODE1_PORT|g" -e "s|@NODE2@|127.0.0.1:$NODE2_PORT|g" -e "s|@NODE3@|127.0.0.1:$NODE3_PORT|g" \
  -e "s|@PG_PROXY_PORT@|$PG_PROXY_PORT|g" -e "s|@PG_PRIMARY@|127.0.0.1:$PG_PRIMARY_PORT|g" \
  -e "s|@PG_REPLICA@|127.0.0.1:$PG_REPLICA_PORT|g" -e "s|@STATE@|$STATE|g" \
  haproxy.cfg.in >"$STATE/haproxy.cfg"
haproxy -c -q -f "$STATE/haproxy.cfg" || die "haproxy refuses $STATE/haproxy.cfg"
haproxy -D -f "$STATE/haproxy.cfg" -p "$STATE/haproxy.pid" 2>>"$STATE/logs/haproxy.log"

# The three nodes start together on the empty store, as a service manager
# would start them: one bootstraps it under the store's lock, and only that
# one writes a bootstrap.json (the others start on what it committed).
pids=()
for n in 1 2 3; do
  start_node "$n" &
  pids+=($!)
done
for pid in "${pids[@]}"; do wait "$pid" || die "a node did not start; see $STATE/logs/"; done
files=("$STATE"/node*/bootstrap.json)
[ "${#files[@]}" = 1 ] && [ -f "${files[0]}" ] || die "expected one bootstrap.json among the nodes, found: ${files[*]}"
cp "${files[0]}" "$STATE/bootstrap.json"
wait_http "$PUBLIC_URL/readyz" 30 || die "HAProxy does not reach a ready node; see $STATE/logs/haproxy.log"

cat <<DONE
signet HA harness up in $STATE
  public URL (HAProxy)  $PUBLIC_URL
  issuer                $(jq -r .issuer "$STATE/bootstrap.json")
  nodes                 http://127.0.0.1:$NODE1_PORT http://127.0.0.1:$NODE2_PORT http://127.0.0.1:$NODE3_PORT
  HAProxy stats         http://127.0.0.1:$HAPROXY_STATS_PORT/stats
  PostgreSQL            primary 127.0.0.1:$PG_PRIMARY_PORT, synchronous replica 127.0.0.1:$PG_REPLICA_PORT
  database URL          $DATABASE_URL
  credentials           $STATE/bootstrap.json
  ports and URLs        $STATE/env
  remove it all         deploy/ha/down.sh
DONE
