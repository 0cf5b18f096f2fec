#!/usr/bin/env bash
# Runs the whole benchmark, as bench/run.sh does, for two builds in turn,
# before and after, RUNS times each (default 3), and keeps each run's table
# in OUT/{before,after}-N.txt; compare the medians of the runs.
#
#   bash bench/compare.sh BEFORE_DIR AFTER_DIR OUT [RUNS] [-- signet-bench run args]
#
# Each DIR holds the release `signetd` and `signet-bench` of one commit: the
# driver seeds signetd through its own subcommands, so each build runs with
# its own driver, as bench/run.sh would at that commit. It builds nothing;
# build the two first (the old one in a worktree at its commit). The Lua
# scripts and the oidc-provider peer are this checkout's. All traffic stays
# on 127.0.0.1.
set -euo pipefail

usage="usage: bench/compare.sh BEFORE_DIR AFTER_DIR OUT [RUNS] [-- signet-bench run args]"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
before="$(realpath "${1:?$usage}")"
after="$(realpath "${2:?$usage}")"
out="${3:?$usage}"
runs="${4:-3}"
shift $(( $# < 4 ? $# : 4 ))
[ "${1:-}" = "--" ] && shift
for dir in "$before" "$after"; do
    for bin in signetd signet-bench; do
        [ -x "$dir/$bin" ] || { echo "no $dir/$bin; $usage" >&2; exit 1; }
    done
done
peer="$root/interop/oidc-provider"
[ -d "$peer/node_modules" ] || (cd "$peer" && npm ci --no-audit --no-fund)
mkdir -p "$out"

for i in $(seq 1 "$runs"); do
    for side in before after; do
        dir="$before"; [ "$side" = after ] && dir="$after"
        echo "run $i: $side ($dir)" >&2
        "$dir/signet-bench" run --signetd "$dir/signetd" --peer-dir "$peer" --scripts "$root/bench" "$@" \
            > "$out/$side-$i.txt"
    done
done
echo "tables in $out" >&2
