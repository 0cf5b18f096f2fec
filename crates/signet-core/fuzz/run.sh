#!/usr/bin/env bash
# Fuzzes signet-core with libFuzzer for longer than CI's proptest runs do
# (the same target bodies: src/claims/fuzz_check.rs, pingid::fuzz_check).
# Coverage-guided, for these two pure targets; fuzz/run.sh at the
# repository root runs every fuzz target (these two included) on stable.
#
#   crates/signet-core/fuzz/run.sh [seconds] [target]   default 600, claim_expression
#
# Targets: claim_expression (the claim-mapping sandbox) and settings_file
# (PingID's settings_file_base64 parser, src/pingid.rs).
#
# Needs cargo-fuzz and a C++ compiler. cargo-fuzz is not part of the
# project's install step: `cargo install cargo-fuzz --locked` first. With a
# nightly toolchain the target runs under AddressSanitizer; without one it
# runs on stable with `--sanitizer none`, which loses little on a crate that
# forbids unsafe code. The toolchain is chosen up front rather than by
# retrying on failure, since a failure here usually means a crash was found.
#
# A crash, timeout (-timeout, seconds) or memory blow-up (-rss_limit_mb)
# leaves its input in fuzz/artifacts/claim_expression/; replay one with
#   cargo fuzz run claim_expression fuzz/artifacts/claim_expression/<file>
# then pin it in the hostile cases of src/claims/fuzz_tests.rs.
set -euo pipefail
cd "$(dirname "$0")/.." # crates/signet-core, where cargo fuzz looks for fuzz/
seconds="${1:-600}"
target="${2:-claim_expression}"

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "cargo-fuzz is not installed" >&2
  echo "hint: cargo install cargo-fuzz --locked" >&2
  exit 2
fi

mkdir -p "fuzz/corpus/$target"
args=("$target" "fuzz/corpus/$target")
if [ "$target" = claim_expression ]; then args+=(fuzz/seeds); fi
args+=(-- -max_total_time="$seconds" -max_len=8192 -timeout=5 -rss_limit_mb=2048)
if [ "$target" = claim_expression ]; then args+=(-dict=fuzz/claim_expression.dict); fi
if cargo +nightly --version >/dev/null 2>&1; then
  cargo +nightly fuzz run "${args[@]}"
else
  cargo fuzz run --sanitizer none "${args[@]}"
fi
