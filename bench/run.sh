#!/usr/bin/env bash
# Builds signetd and signet-bench in release mode, installs the oidc-provider
# peer and wrk if missing, and runs every benchmark once. Extra arguments go to
# `signet-bench run` (for example --only cc,refresh or --seconds 5).
# All traffic stays on 127.0.0.1; every load is bounded in time.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
target="${CARGO_TARGET_DIR:-$root/target}"

cargo build --release -p signet-server -p signet-bench

if ! command -v wrk >/dev/null 2>&1; then
    echo "installing wrk (Debian)" >&2
    if [ "$(id -u)" -eq 0 ]; then sudo=""; else sudo="sudo"; fi
    $sudo apt-get install -y wrk || { $sudo apt-get update && $sudo apt-get install -y wrk; }
fi

peer="$root/interop/oidc-provider"
if [ ! -d "$peer/node_modules" ] || [ "$peer/package-lock.json" -nt "$peer/node_modules" ]; then
    (cd "$peer" && npm ci --no-audit --no-fund)
fi

exec "$target/release/signet-bench" run \
    --signetd "$target/release/signetd" \
    --peer-dir "$peer" \
    --scripts "$root/bench" \
    "$@"
