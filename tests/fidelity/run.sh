#!/usr/bin/env bash
# Fidelity suite: HubSpot's official Python client (hubspot-api-client) against the sandbox, and
# every exercised response validated against HubSpot's OpenAPI specs (../shared/hubspot/openapi).
#
# Usage: tests/fidelity/run.sh [path/to/spoke-sandbox]
# Without an argument the binary is built (cargo build -p spoke-sandbox) and taken from
# $CARGO_TARGET_DIR (or target/). Creates target/fidelity/venv with pinned dependencies.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
if [[ $# -ge 1 ]]; then
  bin=$1
else
  cargo build -q -p spoke-sandbox
  bin="${CARGO_TARGET_DIR:-$root/target}/debug/spoke-sandbox"
fi
[[ -x "$bin" ]] || { echo "fidelity: spoke-sandbox binary not found at $bin" >&2; exit 2; }
venv="$root/target/fidelity/venv"
stamp="$venv/.requirements.sha256"
want=$(sha256sum tests/fidelity/requirements.txt | cut -d' ' -f1)
if [[ ! -x "$venv/bin/python" || "$(cat "$stamp" 2>/dev/null)" != "$want" ]]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check -r tests/fidelity/requirements.txt
  echo "$want" > "$stamp"
fi
export SPOKE_SANDBOX_BIN="$bin"
exec "$venv/bin/python" -m pytest -q -p no:cacheprovider tests/fidelity "${@:2}"
