#!/usr/bin/env bash
# Issue 3's start-up goal: `signet auth status` with a stored token, timed
# against `gh auth status` (with no stored credentials, so it makes no network
# call) in the same run. Goal: at most 0.1x gh's wall time. Nothing leaves
# loopback: signet reads a config file and a token file, gh reads nothing.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
target="${CARGO_TARGET_DIR:-$root/target}"
for tool in gh hyperfine jq; do
  command -v "$tool" >/dev/null 2>&1 || { apt-get install -y -qq "$tool" >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq "$tool" >/dev/null; }; }
done
cargo build --release -p signet-cli >/dev/null 2>&1
signet="$target/release/signet"

home=$(mktemp -d)
trap 'rm -rf "$home"' EXIT
export HOME="$home" XDG_CONFIG_HOME="$home/config" XDG_STATE_HOME="$home/state" GH_CONFIG_DIR="$home/gh"
unset GH_TOKEN GITHUB_TOKEN
env_id=5a3f1c2e-8b4d-4e6f-9a1b-2c3d4e5f6a7b
"$signet" config set "auth.storage.type=file" >/dev/null
"$signet" config set "service.pingone.endpoint.baseURL=http://127.0.0.1:9" >/dev/null
"$signet" config set "service.pingone.endpoint.environmentID=$env_id" >/dev/null
"$signet" config set "service.pingone.authentication.type=device_code" >/dev/null
"$signet" config set "service.pingone.authentication.deviceCode.clientID=signet-cli" >/dev/null
# A stored token, as a sign-on would leave it (status reads the cache only).
key="default-pingone-$(printf 'default\0http://127.0.0.1:9/%s/as\0signet-cli\0device_code' "$env_id" | sha256sum | cut -c1-24)"
mkdir -p -m 700 "$XDG_STATE_HOME/signet/tokens"
printf '{"issuer":"http://127.0.0.1:9/%s/as","client_id":"signet-cli","grant":"device_code","access_token":"x","refresh_token":"y","expires_at":%d,"scope":"openid","subject":"ada"}' \
  "$env_id" "$(( $(date +%s) + 3600 ))" > "$XDG_STATE_HOME/signet/tokens/$key.json"
chmod 600 "$XDG_STATE_HOME/signet/tokens/$key.json"
"$signet" auth status >/dev/null || { echo "signet auth status did not find the stored token" >&2; exit 1; }

hyperfine --warmup 5 --runs 50 -N --ignore-failure --export-json "$home/h.json" \
  "$signet auth status" "gh auth status" >/dev/null
signet_ms=$(jq '.results[0].mean * 1000' "$home/h.json")
gh_ms=$(jq '.results[1].mean * 1000' "$home/h.json")
ratio=$(jq -n "$signet_ms / $gh_ms")
printf 'signet auth status: %.2f ms\ngh auth status:     %.2f ms\nratio: %.3fx (goal <= 0.1x)\n' "$signet_ms" "$gh_ms" "$ratio"
