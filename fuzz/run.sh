#!/usr/bin/env bash
# Runs signet's fuzz targets on stable Rust, each for about MINUTES, and
# reports per target: batches, cases, time, and the log of any failure.
#
#   bash fuzz/run.sh [MINUTES] [TARGET...]      default: 5 minutes, every target
#   bash fuzz/run.sh --list
#
# The targets are proptest tests named fuzz_* (CI runs each with its small
# default case count as part of `cargo test --workspace`). This runs them in
# batches of many cases (PROPTEST_CASES), each batch with a new random seed,
# until the target's time is up; a batch in flight finishes, so a target may
# run over by one batch. The server targets start a real signetd per batch,
# on SQLite and on PostgreSQL (127.0.0.1:5432, as the tests need; run
# `bash .ci/install` once first).
#
# A failure stops its target and keeps its log: proptest prints the smallest
# input it shrank the failure to ("minimal failing input"). Fix the cause and
# pin that input as a regression test (server ones in
# crates/signet-server/tests/it/fuzz/found.rs).
#
# crates/signet-core/fuzz/run.sh runs the claim-expression sandbox and the
# PingID settings parser under libFuzzer instead (coverage-guided, needs
# cargo-fuzz), over the same bodies as the claims and pingid targets here.
set -euo pipefail
cd "$(dirname "$0")/.."

# name | cargo test arguments | test filter | cases per batch
targets=(
  "oauth_forms|-p signet-server --test it|fuzz_oauth_forms_|1000"
  "signon_pages|-p signet-server --test it|fuzz_signon_pages_|200"
  "dpop|-p signet-core --lib|dpop::fuzz_tests::|10000"
  "dpop_token_endpoint|-p signet-server --test it|fuzz_dpop_token_endpoint_|4000"
  "bulk|-p signet-server --test it|fuzz_bulk_documents_|400"
  "server_config|-p signet-server --lib|config::fuzz_tests::|5000"
  "pingid|-p signet-core --lib|pingid::fuzz_tests::|10000"
  "pingid_vault|-p signet-server --test it|fuzz_pingid_settings_through_vault_|2000"
  "cli_config|-p signet-cli --bin signet|fuzz_config_file_|5000"
  "session_archive|-p signet-cli --bin signet|fuzz_session_archive_|2000"
  "claims|-p signet-core --lib|claims::fuzz_tests::|5000"
)

if [ "${1:-}" = --list ] || [ "${1:-}" = -h ] || [ "${1:-}" = --help ]; then
  sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'
  echo "targets:"
  for t in "${targets[@]}"; do echo "  ${t%%|*}"; done
  exit 0
fi
minutes="${1:-5}"
[ $# -gt 0 ] && shift
if ! [[ "$minutes" =~ ^[0-9]+([.][0-9]+)?$ ]]; then
  echo "error: MINUTES must be a number, not ${minutes@Q}" >&2
  echo "hint: bash fuzz/run.sh 10 bulk oauth_forms; bash fuzz/run.sh --list" >&2
  exit 2
fi
chosen=("$@")
for name in "${chosen[@]}"; do
  if ! printf '%s\n' "${targets[@]}" | cut -d'|' -f1 | grep -qx -- "$name"; then
    echo "error: no target ${name@Q}" >&2
    echo "hint: bash fuzz/run.sh --list" >&2
    exit 2
  fi
done

# Builds where cargo does by default (./target, or CARGO_TARGET_DIR), as .ci/test does.
out="${FUZZ_OUT:-${TMPDIR:-/tmp}/signet-fuzz/$(date +%Y%m%d-%H%M%S)}"
mkdir -p "$out"
budget=$(awk -v m="$minutes" 'BEGIN { printf "%d", m * 60 }')

selected=()
for t in "${targets[@]}"; do
  name="${t%%|*}"
  if [ ${#chosen[@]} -eq 0 ] || printf '%s\n' "${chosen[@]}" | grep -qx -- "$name"; then selected+=("$t"); fi
done

# Build each test binary once, before the clock starts.
for args in $(printf '%s\n' "${selected[@]}" | cut -d'|' -f2 | sort -u | tr ' ' '~'); do
  cargo test ${args//\~/ } --no-run --quiet
done

# The cases a batch ran: each fuzz test says `fuzz-cases NAME N` per run of cases.
count() {
  { grep -ao 'fuzz-cases [A-Za-z_]* [0-9]*' "$1" || true; } | awk '{ n += $3 } END { print n + 0 }'
}

report=()
failed=0
for t in "${selected[@]}"; do
  IFS='|' read -r name args filter batch <<<"$t"
  start=$(date +%s)
  batches=0
  cases=0
  result=ok
  echo "== $name: $filter, $batch cases a batch, ${minutes} min"
  while [ $(($(date +%s) - start)) -lt "$budget" ]; do
    batches=$((batches + 1))
    log="$out/$name-$batches.log"
    # shellcheck disable=SC2086 # the arguments are words
    if PROPTEST_CASES="$batch" cargo test $args --quiet -- "$filter" --nocapture >"$log" 2>&1; then
      cases=$((cases + $(count "$log")))
      rm -f "$log"
    else
      cases=$((cases + $(count "$log")))
      result="FAILED, see $log"
      failed=1
      grep -a -m1 -A2 "Test failed\|panicked" "$log" | cut -c1-300 || true
      break
    fi
  done
  seconds=$(($(date +%s) - start))
  report+=("$(printf '%-20s %8d batches %12d cases %6d s  %s' "$name" "$batches" "$cases" "$seconds" "$result")")
  echo "${report[-1]}"
done

echo
echo "fuzz/run.sh: ${minutes} min a target, logs in $out"
printf '%s\n' "${report[@]}"
exit "$failed"
