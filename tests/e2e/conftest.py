"""End-to-end harness: the real Spoke binary, driven through tauri-driver + WebKitWebDriver.

Run inside a display (xvfb-run) and, for keychain tests, a D-Bus session with an unlocked
gnome-keyring; `make e2e` sets all of that up.
"""
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.common.options import ArgOptions
from selenium.webdriver.support.ui import WebDriverWait

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "target" / "e2e"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_port(port: int, timeout: float = 20.0) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"tauri-driver did not listen on {port} within {timeout}s")


def app_binary() -> str:
    path = os.environ.get("SPOKE_APP_BIN")
    if not path:
        raise RuntimeError("SPOKE_APP_BIN must point at the built spoke-app binary (make e2e sets it)")
    if not os.access(path, os.X_OK):
        raise RuntimeError(f"SPOKE_APP_BIN={path} is not an executable")
    return str(Path(path).resolve())


def _register_default_browser(launcher: Path) -> None:
    """Makes `launcher` the desktop's default web browser for xdg-open (the system browser the
    app opens), in a private XDG config so nothing outside the test changes."""
    config = SHOTS.parent / "e2e-xdg" / "config"
    apps = SHOTS.parent / "e2e-xdg" / "data" / "applications"
    config.mkdir(parents=True, exist_ok=True)
    apps.mkdir(parents=True, exist_ok=True)
    (apps / "spoke-e2e-browser.desktop").write_text(
        "[Desktop Entry]\nType=Application\nName=Spoke E2E browser\n"
        f"Exec={launcher} %u\nMimeType=x-scheme-handler/http;x-scheme-handler/https;\n"
    )
    (config / "mimeapps.list").write_text(
        "[Default Applications]\nx-scheme-handler/http=spoke-e2e-browser.desktop\n"
        "x-scheme-handler/https=spoke-e2e-browser.desktop\n"
    )
    os.environ["XDG_CONFIG_HOME"] = str(config)
    os.environ["XDG_DATA_DIRS"] = f"{apps.parent}:/usr/local/share:/usr/share"


@pytest.fixture(scope="session")
def driver_url():
    if not os.environ.get("DISPLAY"):
        raise RuntimeError("no DISPLAY: run the E2E suite through `make e2e` (xvfb-run)")
    exe = shutil.which("tauri-driver") or str(Path.home() / ".cargo" / "bin" / "tauri-driver")
    SHOTS.mkdir(parents=True, exist_ok=True)
    # What the app inherits through tauri-driver: a demo portal on a free port, and a "system
    # browser" that is a real headless Chromium clicking through the consent page.
    os.environ["SPOKE_DEMO_PORT"] = "0"
    os.environ["SPOKE_WEBHOOK_PORT"] = "0"
    browser = ROOT / "tests" / "e2e" / "browser.sh"
    os.environ["BROWSER"] = str(browser)
    _register_default_browser(browser)
    os.environ["SPOKE_E2E_SHOTS"] = str(SHOTS)
    os.environ["SPOKE_E2E_PYTHON"] = sys.executable
    port, native_port = _free_port(), _free_port()
    proc = subprocess.Popen(
        [exe, "--port", str(port), "--native-port", str(native_port),
         "--native-driver", "/usr/bin/WebKitWebDriver"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        _wait_port(port)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture
def data_dir(tmp_path):
    d = tmp_path / "spoke-data"
    d.mkdir()
    return d


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.when == "call":
        item.call_failed = report.failed


def pytest_configure(config):
    config.addinivalue_line("markers", "app_args(*args): extra command-line arguments for the Spoke window")


@pytest.fixture
def app(request, driver_url, data_dir):
    """A fresh Spoke window with its own empty data folder (plus the arguments of an
    `app_args` marker). A failing test leaves a screenshot of the window as it was:
    target/e2e/FAILED-<test>.png."""
    marker = request.node.get_closest_marker("app_args")
    extra = [str(a) for a in marker.args] if marker else []
    options = ArgOptions()
    options.set_capability("browserName", "wry")
    options.set_capability("tauri:options", {"application": app_binary(), "args": ["--data-dir", str(data_dir), *extra]})
    driver = webdriver.Remote(command_executor=driver_url, options=options)
    try:
        WebDriverWait(driver, 20).until(
            lambda d: d.execute_script("return document.readyState") == "complete"
            and d.find_elements("css selector", "nav[aria-label=Main]")
        )
        yield driver
        if getattr(request.node, "call_failed", False):
            SHOTS.mkdir(parents=True, exist_ok=True)
            driver.save_screenshot(str(SHOTS / f"FAILED-{request.node.name}.png"))
    finally:
        driver.quit()


def screenshot(driver, name: str) -> Path:
    """Saves target/e2e/<name>.png after the frame has settled."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    time.sleep(0.8)
    path = SHOTS / f"{name}.png"
    driver.save_screenshot(str(path))
    assert path.stat().st_size > 5000, f"screenshot {path} looks empty"
    return path


def click(driver, css: str) -> None:
    driver.find_element("css selector", css).click()


def wait_for(driver, css: str, timeout: float = 30.0):
    """Waits until an element matching `css` is displayed and returns it."""
    WebDriverWait(driver, timeout).until(
        lambda d: any(e.is_displayed() for e in d.find_elements("css selector", css))
    )
    return next(e for e in driver.find_elements("css selector", css) if e.is_displayed())


def connect_demo_with_token(driver) -> None:
    """Adds a demo-portal connection through the wizard's private-app token path."""
    click(driver, "button[data-nav=connections]")
    click(driver, "button[data-action=demo]")
    wait_for(driver, "[data-testid=add-connection][data-step=target]")
    click(driver, "input[type=radio][value=token]")
    click(driver, "button[data-action=next]")
    wait_for(driver, "[data-testid=scope-plan] code")
    click(driver, "button[data-action=next]")
    click(driver, "button[data-action=sign-in]")
    wait_for(driver, "[data-testid=scope-report]")
    click(driver, "button[data-action=done]")
    wait_for(driver, "[data-testid=connection-list] [data-connection]")


def choose(driver, css: str, value: str) -> None:
    """Selects an option of a <select> the way a user's pick does (WebKitWebDriver's option
    click does not fire `change`, so the event is dispatched as the browser would)."""
    el = wait_for(driver, f"{css} option[value='{value}']")
    driver.execute_script(
        "const s = arguments[0].closest('select'); s.value = arguments[1];"
        "s.dispatchEvent(new Event('input', {bubbles: true})); s.dispatchEvent(new Event('change', {bubbles: true}));",
        el, value)


def create_contacts_mapping(driver) -> None:
    """Saves a contacts mapping (the editor's defaults) on the Mapping screen."""
    click(driver, "button[data-nav=mapping]")
    wait_for(driver, "button[data-action=new-mapping]").click()
    choose(driver, "select[data-field=object]", "contacts")
    wait_for(driver, "li.slot.mapped[data-property=email]")
    click(driver, "button[data-action=save-mapping]")
    wait_for(driver, ".actions .ok")
