#!/usr/bin/env bash
# Stops everything deploy/ha/up.sh started (by the pids it recorded) and
# removes its state dir. Safe to run twice, or after a failed up.sh.
set -euo pipefail
cd "$(dirname "$0")"
source ./lib.sh

[ -d "$STATE" ] || { echo "nothing to take down at $STATE"; exit 0; }
for n in $(seq 1 "$NODES"); do stop_node "$n" KILL; done
if [ -f "$STATE/haproxy.pid" ]; then
  while read -r pid; do kill "$pid" 2>/dev/null || true; done <"$STATE/haproxy.pid"
fi
for cluster in primary replica; do
  if [ -f "$STATE/pg/$cluster/postmaster.pid" ]; then
    as_pg "$PG_BIN/pg_ctl" -D "$STATE/pg/$cluster" -m immediate -w stop >/dev/null 2>&1 || true
  fi
done
rm -rf "$STATE"
echo "removed $STATE"
