"""A real Chromium on the OAuth consent page: screenshots it, then clicks the button named by
$SPOKE_E2E_CONSENT ("Allow" by default, or "Deny"), and screenshots the page the loopback
listener answers with."""
import os
import sys
import tempfile
import time
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

url = sys.argv[1]
shots = Path(os.environ.get("SPOKE_E2E_SHOTS", "/tmp"))
# The test steers this browser through a small file, since the browser is started by the app
# (started by tauri-driver) and inherits none of the test's later environment.
control = shots / ".consent"
choice, prefix = (control.read_text().split() + ["Allow", "oauth"])[:2] if control.exists() else ("Allow", "oauth")

time.sleep(float(os.environ.get("SPOKE_E2E_BROWSER_DELAY", "2")))  # lets the app show its waiting screen
opts = webdriver.ChromeOptions()
opts.binary_location = "/usr/bin/chromium"
for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", "--window-size=1100,800"):
    opts.add_argument(flag)
opts.add_argument(f"--user-data-dir={tempfile.mkdtemp(prefix='spoke-chromium-')}")
driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)
try:
    driver.get(url)
    time.sleep(0.5)
    driver.save_screenshot(str(shots / f"{prefix}-consent.png"))
    # HubSpot's consent form submits decision=allow|deny ("Connect app" / "Deny")
    buttons = [b for b in driver.find_elements(By.CSS_SELECTOR, "button, input[type=submit]")
               if choice.lower() in ((b.get_attribute("value") or "") + " " + (b.text or "")).lower()]
    if not buttons:
        print(f"no {choice} button on {driver.current_url}: {driver.page_source[:2000]}")
        sys.exit(1)
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", buttons[0])
    time.sleep(0.3)
    driver.save_screenshot(str(shots / f"{prefix}-consent-buttons.png"))
    buttons[0].click()
    time.sleep(1.0)
    driver.save_screenshot(str(shots / f"{prefix}-callback.png"))
    print(f"clicked {choice}; landed on {driver.current_url.split('?')[0]}")
finally:
    driver.quit()
