"""Test screen: a healthy demo portal passes every check; with a scope taken away from the
private app, the scopes and read checks fail with the cause and the fix."""
import json
import urllib.request

from conftest import click, connect_demo_with_token, screenshot, wait_for


def demo_base_url(app) -> str:
    return app.execute_async_script(
        "const cb = arguments[arguments.length - 1];"
        "window.__TAURI_INTERNALS__.invoke('demo_portal').then(d => cb(d.baseUrl));"
    )


def run_test(app):
    click(app, "button[data-nav=test]")
    click(app, "button[data-action=run-test]")
    wait_for(app, "[data-testid=test-result][data-passed=true], [data-testid=test-result][data-passed=false]", timeout=60)
    return app.find_element("css selector", "[data-testid=test-result]")


def test_healthy_then_missing_scope(app):
    connect_demo_with_token(app)
    result = run_test(app)
    assert result.get_attribute("data-passed") == "true", result.text
    for step in ("reach", "token", "identity", "scopes", "rate_budget"):
        assert app.find_elements("css selector", f"[data-step={step}]"), f"step {step} missing: {result.text}"
    screenshot(app, "test-1-healthy")
    click(app, "button[data-action=save-report]")
    wait_for(app, ".saved")

    # an admin removes contacts access from the private app in HubSpot
    base = demo_base_url(app)
    scopes = ["oauth", "crm.objects.companies.read", "crm.objects.deals.read", "crm.schemas.companies.read"]
    req = urllib.request.Request(f"{base}/_sandbox/private-app/scopes", method="PUT",
                                 data=json.dumps({"scopes": scopes}).encode(),
                                 headers={"content-type": "application/json"})
    urllib.request.urlopen(req, timeout=10).read()

    click(app, "button[data-nav=connections]")
    result = run_test(app)
    assert result.get_attribute("data-passed") == "false", result.text
    diag = app.find_element("css selector", "[data-diagnosis=missing_scopes]")
    assert "crm.objects.contacts.read" in diag.text, diag.text
    assert "Fix" in diag.text
    app.execute_script("arguments[0].scrollIntoView()", diag)
    screenshot(app, "test-2-missing-scope")
