"""Connecting to the demo portal from the real app: token path and full OAuth in a real browser,
with the tokens landing in the real keychain (gnome-keyring in the test's D-Bus session)."""
import subprocess

from conftest import SHOTS, click, screenshot, wait_for


def consent(choice: str, prefix: str) -> None:
    """Tells the test browser which consent button to click and how to name its screenshots."""
    (SHOTS / ".consent").write_text(f"{choice} {prefix}")


def keychain_entries() -> str:
    """Everything Spoke stored in the Secret Service, as secret-tool lists it (values included)."""
    out = subprocess.run(["secret-tool", "search", "--all", "--unlock", "service", "dev.spoke.app"],
                         capture_output=True, text=True, timeout=20)
    return out.stdout + out.stderr


def test_demo_portal_with_private_app_token(app):
    click(app, "button[data-action=demo]")
    wait_for(app, "[data-testid=add-connection][data-step=target]")
    click(app, "input[type=radio][value=token]")
    screenshot(app, "connect-1-method")
    click(app, "button[data-action=next]")
    wait_for(app, "[data-testid=scope-plan] code")
    click(app, "button[data-preset]")  # a playbook preset fills the objects grid
    screenshot(app, "connect-2-scopes")
    click(app, "button[data-action=next]")
    click(app, "button[data-action=sign-in]")
    report = wait_for(app, "[data-testid=scope-report]")
    assert report.get_attribute("data-all-satisfied") == "true", report.text
    card = app.find_element("css selector", "[data-testid=add-connection] [data-connection]")
    assert card.find_element("css selector", "[data-field=portal-id]").text.isdigit()
    screenshot(app, "connect-3-token-result")
    click(app, "button[data-action=done]")
    wait_for(app, "[data-testid=connection-list] [data-connection]")
    screenshot(app, "connections-list")


def test_demo_portal_with_oauth_in_a_real_browser(app, data_dir):
    consent("Allow", "oauth")
    click(app, "button[data-action=demo]")
    wait_for(app, "[data-testid=add-connection][data-step=target]")
    click(app, "button[data-action=next]")
    wait_for(app, "[data-testid=scope-plan] code")
    click(app, "[data-object=tickets] button[data-level=write]")
    click(app, "button[data-action=next]")
    click(app, "button[data-action=sign-in]")
    wait_for(app, "[data-testid=add-connection][data-step=waiting]")
    url = app.find_element("css selector", "[data-field=authorize-url]").get_attribute("value")
    assert "code_challenge_method=S256" in url and "state=" in url
    screenshot(app, "oauth-1-waiting")
    report = wait_for(app, "[data-testid=scope-report]", timeout=60)
    assert report.get_attribute("data-all-satisfied") == "true", report.text
    screenshot(app, "oauth-2-result")
    stored = keychain_entries()
    assert "conn:" in stored, f"no Spoke entry in the keychain: {stored[:500]}"
    # nothing secret in the data folder: the access token from the keychain is nowhere on disk
    secrets = [line.split("=", 1)[1].strip() for line in stored.splitlines() if line.startswith("secret = ")]
    assert secrets, stored[:500]
    for path in data_dir.rglob("*"):
        if path.is_file():
            blob = path.read_bytes()
            for s in secrets:
                assert s.encode() not in blob, f"a secret from the keychain was written to {path}"


def test_denied_consent_is_shown_as_such(app):
    consent("Deny", "oauth-denied")
    try:
        click(app, "button[data-action=demo]")
        click(app, "button[data-action=next]")
        wait_for(app, "[data-testid=scope-plan] code")
        click(app, "button[data-action=next]")
        click(app, "button[data-action=sign-in]")
        err = wait_for(app, "[role=alert][data-error-code]", timeout=60)
        assert "denied" in err.text.lower(), err.text
        screenshot(app, "oauth-3-denied")
    finally:
        consent("Allow", "oauth")
