#!/usr/bin/env bash
# Runs spoke-connect's tests including the ones that need the real OS keychain (ignored by
# default): a private D-Bus session with GNOME Keyring unlocked by a throw-away password, and a
# throw-away HOME so the developer's own keyring is never touched.
# Usage: crates/connect/scripts/keychain-tests.sh [extra nextest args]
set -euo pipefail
cd "$(dirname "$0")/../../.."
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/home" "$work/run"
chmod 700 "$work/run"
export CARGO_HOME="${CARGO_HOME:-$HOME/.cargo}" RUSTUP_HOME="${RUSTUP_HOME:-$HOME/.rustup}"
HOME="$work/home" XDG_RUNTIME_DIR="$work/run" dbus-run-session -- bash -c '
  echo -n spoke-test | gnome-keyring-daemon --unlock --components=secrets >/dev/null
  cargo nextest run -p spoke-connect --run-ignored all "$@"' bash "$@"
