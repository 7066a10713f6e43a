#!/usr/bin/env bash
# Runs a command the way Spoke's tests need it: inside an Xvfb display and a private D-Bus
# session with an unlocked gnome-keyring (the real Secret Service), with keyring files kept
# under target/ so nothing touches the user's own keychain.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
kr="$root/target/keyring"
mkdir -p "$kr/data" "$kr/run"
chmod 700 "$kr/run"
export XDG_DATA_HOME="$kr/data" XDG_RUNTIME_DIR="$kr/run"
export SPOKE_TEST_SESSION=1
exec xvfb-run -a -s "-screen 0 1280x800x24" dbus-run-session -- bash -c '
  echo -n spoke-test | gnome-keyring-daemon --unlock --components=secrets >/dev/null
  # Create the default collection once, before tests race to create it from parallel processes
  # (a first use from two clients at once can answer "No such interface").
  echo -n init | secret-tool store --label="spoke test session" service spoke-session-init user init
  secret-tool clear service spoke-session-init user init
  exec "$@"' session "$@"
