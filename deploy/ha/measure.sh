#!/usr/bin/env bash
# The HA recipe's figures (not run in CI; about 3 minutes). On a fresh
# harness (up.sh), with signet-bench's `load` through HAProxy:
#   1. throughput, three nodes against one, in the same run (token grants: CPU;
#      writes: PostgreSQL with a synchronous replica);
#   2. a rolling restart of the three nodes with SIGTERM under a write load:
#      requests that failed, as the load saw them through HAProxy;
#   3. /readyz's answer time while PostgreSQL is frozen (SIGSTOP), and /readyz's
#      and a write's while it is stopped, and the time to recover once it is back;
#   4. failover: the primary crashed (pg_ctl -m immediate) under a write load,
#      the replica promoted: how long until writes succeed again, and how many
#      acknowledged writes are lost (every kept id is read back).
# The figures go to stdout and to $SIGNET_HA_STATE.figures.
#
#   SIGNETD=target/release/signetd SIGNET_BENCH=target/release/signet-bench deploy/ha/measure.sh
#
# SIGNET_HA_DB (lib.sh) picks how the nodes reach PostgreSQL; failover needs
# `multi` (signetd finds the writable host itself, the default) or `proxy`
# (HAProxy's TCP front). With `primary` the failover is reported as not
# recovering, which is what a single-host URL does.
# MEASURE_SECONDS sets each throughput load (default 10).
set -euo pipefail
cd "$(dirname "$0")"
export SIGNET_HA_DB=${SIGNET_HA_DB:-multi}
source ./lib.sh
SECS=${MEASURE_SECONDS:-10}
SIGNET_BENCH=${SIGNET_BENCH:-$(command -v signet-bench || true)}
[ -n "$SIGNET_BENCH" ] && [ -x "$SIGNET_BENCH" ] || die "set SIGNET_BENCH=path/to/signet-bench (cargo build -p signet-bench)"
OUT="$STATE.figures"

./up.sh >/dev/null
trap './down.sh >/dev/null' EXIT
load_env
BOOT="$STATE/bootstrap.json"
: >"$OUT"
say() { echo "$*" | tee -a "$OUT"; }
load() { "$SIGNET_BENCH" load --url "$PUBLIC_URL" --bootstrap "$BOOT" "$@"; }
field() { jq -r ".$1" <<<"$2"; }
# Seconds since $1 (a `date +%s.%N`), to a tenth.
since() { awk -v t0="$1" -v now="$(date +%s.%N)" 'BEGIN { printf "%.1f", now - t0 }'; }
haproxy_sees() {
  local want=$1 i
  for ((i = 0; i < 100; i++)); do
    [ "$(./ctl.sh haproxy-state | grep -c ' UP$')" = "$want" ] && return 0
    sleep 0.1
  done
  die "HAProxy does not see $want nodes up"
}

say "signet HA figures, $(date -u +%FT%TZ), $(nproc) cores, PostgreSQL $("$PG_BIN/postgres" -V | awk '{print $3}'), $(haproxy -v | head -1 | awk '{print $1, $3}'), database URL mode $SIGNET_HA_DB"
say "signetd: $SIGNETD"
# Warm each node's verification cache (argon2id once per node).
load --seconds 3 --concurrency 1 >/dev/null

# --- 1. throughput, 3 nodes against 1 -------------------------------------
for op in token write; do
  three=$(load --op "$op" --seconds "$SECS" --concurrency 16)
  ./ctl.sh node-stop 2 && ./ctl.sh node-stop 3 && haproxy_sees 1
  one=$(load --op "$op" --seconds "$SECS" --concurrency 16)
  ./ctl.sh node-start 2 && ./ctl.sh node-start 3 && haproxy_sees 3
  load --seconds 3 --concurrency 1 >/dev/null
  say "throughput $op: 3 nodes $(field rate_per_s "$three")/s (p99 $(field p99_ms "$three") ms, failed $(field failed "$three")); 1 node $(field rate_per_s "$one")/s (p99 $(field p99_ms "$one") ms, failed $(field failed "$one")); 16 clients, ${SECS} s each, all on this $(nproc)-core box"
done

# --- 2. rolling restart under load ----------------------------------------
rolling_secs=$((3 * 8 + 6))
load --seconds "$rolling_secs" --concurrency 8 >"$STATE/rolling.json" &
loader=$!
sleep 3
for n in 1 2 3; do
  t0=$(date +%s.%N)
  ./ctl.sh node-stop "$n" TERM
  ./ctl.sh node-start "$n"
  haproxy_sees 3
  say "rolling restart: node $n stopped (SIGTERM) and back in HAProxy in $(since "$t0") s"
  sleep 3
done
wait "$loader"
r=$(cat "$STATE/rolling.json")
say "rolling restart of 3 nodes (SIGTERM) under 8 writers for ${rolling_secs} s: $(field ok "$r") writes acknowledged, $(field failed "$r") failed $(jq -c .failed_by <<<"$r"), longest gap between successes $(field longest_gap_ms "$r") ms"

# --- 3. /readyz while PostgreSQL is down ----------------------------------
# Frozen first (SIGSTOP: connections open, nothing answers, as when the
# network drops packets), then stopped (connections refused at once).
pm=$(head -1 "$STATE/pg/primary/postmaster.pid")
frozen="$pm $(ps -o pid= --ppid "$pm" | tr '\n' ' ')"
# shellcheck disable=SC2086
kill -STOP $frozen
t=$(curl -s -o /dev/null -w '%{http_code} %{time_total}' --max-time 60 "http://127.0.0.1:$NODE1_PORT/readyz" || true)
say "PostgreSQL frozen (SIGSTOP): node 1 /readyz answered ${t% *} in ${t#* } s (curl gives up at 60 s)"
# shellcheck disable=SC2086
kill -CONT $frozen
wait_http "http://127.0.0.1:$NODE1_PORT/readyz" 120
haproxy_sees 3
./ctl.sh pg-stop
sleep 0.5
for n in 1 2 3; do
  node_port="NODE${n}_PORT"
  t=$(curl -s -o /dev/null -w '%{http_code} %{time_total}' --max-time 60 "http://127.0.0.1:${!node_port}/readyz")
  say "PostgreSQL down: node $n /readyz answered ${t% *} in ${t#* } s"
done
ENVID=$(jq -r .environment_id "$BOOT")
ADMIN="$(jq -r .admin.username "$BOOT"):$(jq -r .admin.password "$BOOT")"
t=$(curl -s -o /dev/null -w '%{http_code} %{time_total}' --max-time 60 -u "$ADMIN" -H 'content-type: application/json' \
  -d '{"name":"during outage","kind":"worker","grant_types":["client_credentials"]}' "http://127.0.0.1:$NODE1_PORT/admin-api/v1/environments/$ENVID/applications")
say "PostgreSQL down: a write on node 1 answered ${t% *} in ${t#* } s"
t0=$(date +%s.%N)
./ctl.sh pg-start
wait_http "http://127.0.0.1:$NODE1_PORT/readyz" 120
say "PostgreSQL back: node 1 ready again $(since "$t0") s after pg_ctl start began (no restart of signetd)"
haproxy_sees 3

# --- 4. failover -----------------------------------------------------------
: >"$STATE/failover.ids"
load --seconds 30 --concurrency 8 --ids "$STATE/failover.ids" >"$STATE/failover.json" &
loader=$!
sleep 8
t0=$(date +%s.%N)
./ctl.sh pg-crash
./ctl.sh pg-promote
promoted=$(since "$t0")
wait "$loader"
f=$(cat "$STATE/failover.json")
say "failover: primary crashed (pg_ctl -m immediate) and replica promoted (pg_ctl promote) in $promoted s"
say "failover: under 8 writers, writes stopped for $(field longest_gap_ms "$f") ms (longest gap between two acknowledged writes); $(field ok "$f") acknowledged, $(field failed "$f") failed $(jq -c .failed_by <<<"$f"), last success $(field since_last_ok_ms "$f") ms before the load ended"
if v=$("$SIGNET_BENCH" verify --url "$PUBLIC_URL" --bootstrap "$BOOT" --ids "$STATE/failover.ids" 2>&1); then
  say "failover: acknowledged writes lost: $(field missing "$v") of $(field checked "$v") (synchronous replication; read back on the promoted replica)"
else
  say "failover: reading the acknowledged writes back failed: $v"
fi
echo "figures written to $OUT"
