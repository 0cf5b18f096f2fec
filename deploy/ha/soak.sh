#!/usr/bin/env bash
# A soak of the HA recipe (not in CI): a mixed load through HAProxy (writes
# through the admin API and client_credentials grants) for --minutes N
# (default 30), sampling each node's RSS and the load's p99 latency every
# --interval seconds (default 60), then the drift from the first sample to
# the last. Uses its own harness (up.sh), taken down at the end.
#
#   SIGNETD=target/release/signetd SIGNET_BENCH=target/release/signet-bench deploy/ha/soak.sh --minutes 30
set -euo pipefail
cd "$(dirname "$0")"
source ./lib.sh
MINUTES=30
INTERVAL=60
while (($#)); do
  case "$1" in
    --minutes) MINUTES=$2; shift 2 ;;
    --interval) INTERVAL=$2; shift 2 ;;
    *) sed -n '2,9p' "$0" >&2; exit 2 ;;
  esac
done
SIGNET_BENCH=${SIGNET_BENCH:-$(command -v signet-bench || true)}
[ -n "$SIGNET_BENCH" ] && [ -x "$SIGNET_BENCH" ] || die "set SIGNET_BENCH=path/to/signet-bench (cargo build -p signet-bench)"
SECS=$((MINUTES * 60))

./up.sh >/dev/null
trap './down.sh >/dev/null' EXIT
load_env
BOOT="$STATE/bootstrap.json"
rss() { awk '/^VmRSS:/ {printf "%.1f", $2 / 1024}' "/proc/$(cat "$STATE/node$1.pid")/status"; }

echo "soak: ${MINUTES} min through $PUBLIC_URL, samples every ${INTERVAL} s, $(nproc) cores"
"$SIGNET_BENCH" load --url "$PUBLIC_URL" --bootstrap "$BOOT" --op write --concurrency 2 \
  --seconds "$SECS" --interval "$INTERVAL" >"$STATE/soak-write.jsonl" &
writes=$!
"$SIGNET_BENCH" load --url "$PUBLIC_URL" --bootstrap "$BOOT" --op token --concurrency 4 \
  --seconds "$SECS" --interval "$INTERVAL" >"$STATE/soak-token.jsonl" &
tokens=$!
: >"$STATE/soak-rss.txt"
for ((t = INTERVAL; t <= SECS; t += INTERVAL)); do
  sleep "$INTERVAL"
  line="$t s: rss MB node1 $(rss 1) node2 $(rss 2) node3 $(rss 3)"
  echo "$line" | tee -a "$STATE/soak-rss.txt"
done
wait "$writes" "$tokens"

# The first and last interval lines of each load (the last line is the total).
p99() { sed -n "$1p" "$STATE/soak-$2.jsonl" | jq -r .p99_ms; }
ops() { sed '$d' "$STATE/soak-$1.jsonl" | jq -s 'map(.ok) | add'; }
fails() { tail -1 "$STATE/soak-$1.jsonl" | jq -c '{failed, failed_by}'; }
last=$(($(wc -l <"$STATE/soak-write.jsonl") - 1))
first_rss=$(head -1 "$STATE/soak-rss.txt")
last_rss=$(tail -1 "$STATE/soak-rss.txt")
echo "soak result after ${MINUTES} min"
echo "  writes: $(ops write) acknowledged, failures $(fails write); p99 first interval $(p99 1 write) ms, last $(p99 "$last" write) ms"
echo "  tokens: $(ops token) issued, failures $(fails token); p99 first interval $(p99 1 token) ms, last $(p99 "$last" token) ms"
echo "  RSS first sample  $first_rss"
echo "  RSS last sample   $last_rss"
