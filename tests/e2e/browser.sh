#!/usr/bin/env bash
# The "system browser" the app opens during E2E runs (via $BROWSER, which xdg-open honours):
# hands the URL to a real headless Chromium that behaves like an admin on the consent page.
# Returns at once, as a browser launcher does.
here=$(cd "$(dirname "$0")" && pwd)
nohup "${SPOKE_E2E_PYTHON:-python3}" "$here/consent_browser.py" "$1" >>"${SPOKE_E2E_SHOTS:-/tmp}/browser.log" 2>&1 &
exit 0
