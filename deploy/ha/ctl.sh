#!/usr/bin/env bash
# Acts on a running harness (deploy/ha/up.sh), for the test and measure.sh:
#
#   ctl.sh node-start N          start node N (1..3) and wait for /readyz
#   ctl.sh node-stop N [SIGNAL]  signal node N (TERM by default; KILL for a crash), wait for it to exit
#   ctl.sh pg-crash              crash the primary (pg_ctl -m immediate: no shutdown checkpoint)
#   ctl.sh pg-promote            promote the replica; prints nothing until it accepts writes
#   ctl.sh pg-stop | pg-start    stop or start both clusters (an outage of the whole store)
#   ctl.sh haproxy-state         each node's state as HAProxy sees it
set -euo pipefail
cd "$(dirname "$0")"
source ./lib.sh
load_env

pg() { as_pg "$PG_BIN/pg_ctl" -D "$STATE/pg/$1" -l "$STATE/pg/$1.log" -w -t 60 "${@:2}" >/dev/null; }

case "${1:-}" in
  node-start) start_node "${2:?node number}" ;;
  node-stop) stop_node "${2:?node number}" "${3:-TERM}" ;;
  pg-crash) pg primary -m immediate stop ;;
  pg-promote)
    pg replica promote
    for _ in $(seq 1 100); do
      [ "$(psql_at "$PG_REPLICA_PORT" -c 'select pg_is_in_recovery()')" = f ] && exit 0
      sleep 0.1
    done
    die "the replica did not leave recovery" ;;
  pg-stop) pg replica -m immediate stop; pg primary -m immediate stop ;;
  pg-start) pg primary start; pg replica start ;;
  haproxy-state) curl -s "http://127.0.0.1:$HAPROXY_STATS_PORT/stats;csv" | awk -F, '$1 == "signetd" && $2 ~ /^node/ {print $2, $18}' ;;
  *) sed -n '2,9p' "$0" >&2; exit 2 ;;
esac
