#!/usr/bin/env bash
# Runs COMMAND inside a private D-Bus session bus with an unlocked GNOME
# Keyring answering as the Secret Service, headless, as a desktop login would
# provide. KR_HOME keeps the keyring files (default: a new temporary
# directory), so a second run over the same KR_HOME is a later session of the
# same user, or the same user after a reboot. KR_RUN is the runtime directory.
# Needs the Debian packages dbus, dbus-daemon, gnome-keyring, libsecret-tools
# (bash .ci/install installs them).
# Usage: run.sh COMMAND [ARGS...]
set -u
export HOME=${KR_HOME:-$(mktemp -d)} XDG_RUNTIME_DIR=${KR_RUN:-$(mktemp -d)}
mkdir -p "$HOME" "$XDG_RUNTIME_DIR"
chmod 700 "$XDG_RUNTIME_DIR"
exec dbus-run-session -- bash -c '
  echo -n "unlock" | gnome-keyring-daemon --unlock --components=secrets >/dev/null 2>&1
  "$@"
' bash "$@"
