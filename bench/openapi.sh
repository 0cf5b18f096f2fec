#!/usr/bin/env bash
# bench/openapi.sh SIGNETD OUT: starts the signetd binary SIGNETD on a free
# loopback port with a fresh data dir and writes its admin API's OpenAPI
# document to OUT, keys sorted, so two builds' documents can be diffed:
#   bash bench/openapi.sh old/signetd old.json
#   bash bench/openapi.sh target/debug/signetd new.json
#   diff old.json new.json
set -euo pipefail
bin=$1
out=$2
dir=$(mktemp -d)
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$bin" serve --data-dir "$dir" --listen "127.0.0.1:$port" --public-url "http://127.0.0.1:$port" >"$dir/log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true; wait $pid 2>/dev/null || true; rm -rf "$dir"' EXIT
for _ in $(seq 1 100); do
  curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break
  sleep 0.2
done
curl -sf "http://127.0.0.1:$port/admin-api/v1/openapi.json" | python3 -m json.tool --sort-keys >"$out"
