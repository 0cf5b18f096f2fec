#!/usr/bin/env bash
# Runs COMMAND inside a private D-Bus session bus with an unlocked GNOME
# Keyring answering as the Secret Service, headless, as a desktop login would
# provide. KR_HOME keeps the keyring files (default: a new temporary
# directory), so a second run over the same KR_HOME is a later session of the
# same user, or the same user after a reboot. KR_RUN is the runtime directory.
# Needs the Debian packages dbus, dbus-daemon, gnome-keyring, libsecret-tools
# (bash .ci/install installs them).
#
# The bus and the keyring daemon get /dev/null for their output, and both are
# stopped at the end: a daemon holding the caller's pipes (as one started by
# D-Bus activation inside dbus-run-session does) would keep a caller that
# reads COMMAND's output waiting forever.
# Usage: run.sh COMMAND [ARGS...]
set -u
export HOME=${KR_HOME:-$(mktemp -d)} XDG_RUNTIME_DIR=${KR_RUN:-$(mktemp -d)}
mkdir -p "$HOME" "$XDG_RUNTIME_DIR"
chmod 700 "$XDG_RUNTIME_DIR"
bus=$(mktemp -d)
dbus-daemon --session --fork --nosyslog --print-address=3 --print-pid=4 \
  3>"$bus/address" 4>"$bus/pid" </dev/null >/dev/null 2>&1 || { echo "run.sh: dbus-daemon did not start" >&2; exit 1; }
for _ in $(seq 1 50); do [ -s "$bus/pid" ] && break; sleep 0.1; done
DBUS_SESSION_BUS_ADDRESS=$(head -n1 "$bus/address")
export DBUS_SESSION_BUS_ADDRESS
cleanup() {
  pkill -u "$(id -u)" -f "gnome-keyring-daemon.*--control-directory=$XDG_RUNTIME_DIR/keyring" 2>/dev/null
  kill "$(head -n1 "$bus/pid")" 2>/dev/null
  rm -rf "$bus"
}
trap cleanup EXIT
echo -n "unlock" | gnome-keyring-daemon --unlock --components=secrets \
  --control-directory="$XDG_RUNTIME_DIR/keyring" >/dev/null 2>&1
"$@"
