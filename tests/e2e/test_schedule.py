"""Schedules and webhooks in the real app: a demo-portal OAuth connection set to real-time
receives the portal's signed webhooks and applies them on its own (a `webhook` run in the
history); a token connection says it polls, and why."""
import json
import re
import time
import urllib.request

from conftest import SHOTS, choose, click, connect_demo_with_token, create_contacts_mapping, screenshot, wait_for


def consent(choice: str, prefix: str) -> None:
    (SHOTS / ".consent").write_text(f"{choice} {prefix}")


def demo_base_url(data_dir) -> str:
    deadline = time.time() + 20
    while time.time() < deadline:
        for log in (data_dir / "logs").glob("spoke.log*"):
            m = re.search(r"demo portal started base_url=(\S+)", log.read_text(errors="replace"))
            if m:
                return m.group(1)
        time.sleep(0.5)
    raise AssertionError("the app's log does not say where the demo portal runs")


def http(method: str, url: str, body=None, token: str | None = None):
    req = urllib.request.Request(url, method=method, data=None if body is None else json.dumps(body).encode())
    req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(req, timeout=20) as r:
        text = r.read().decode()
        return json.loads(text) if text else None


def connect_demo_with_oauth(app) -> None:
    consent("Allow", "schedule-oauth")
    click(app, "button[data-nav=connections]")
    click(app, "button[data-action=demo]")
    wait_for(app, "[data-testid=add-connection][data-step=target]")
    click(app, "button[data-action=next]")
    wait_for(app, "[data-testid=scope-plan] code")
    click(app, "button[data-action=next]")
    click(app, "button[data-action=sign-in]")
    wait_for(app, "[data-testid=scope-report]", timeout=60)
    click(app, "button[data-action=done]")
    wait_for(app, "[data-testid=connection-list] [data-connection]")


def runs_text(app) -> str:
    click(app, "button[data-nav=sync]")  # the Runs screen loads the history when it opens
    click(app, "button[data-nav=runs]")
    table = wait_for(app, "[data-testid=runs-table]")
    return table.text


def test_realtime_schedule_applies_the_portals_webhooks(app, data_dir):
    connect_demo_with_oauth(app)
    create_contacts_mapping(app)
    click(app, "button[data-nav=sync]")
    wait_for(app, "[data-testid=sync-list] [data-sync]")
    click(app, "button[data-action=sync]")
    wait_for(app, "[data-testid=sync-summary]", timeout=120)

    card = wait_for(app, "[data-testid=schedule-card]")
    assert "only when you click" in card.text.lower() or "Sync now" in card.text
    choose(app, "select[data-field=schedule-kind]", "realtime")
    click(app, "button[data-action=save-schedule]")
    status = wait_for(app, "[data-testid=webhook-status][data-mode=receiving]", timeout=30)
    assert "Receiving webhooks" in status.text, status.text
    assert "in 15 min" in wait_for(app, "[data-testid=schedule-next]").text
    screenshot(app, "schedule-1-realtime-receiving")

    # A change in the portal arrives as a signed webhook and is applied without a click.
    base = demo_base_url(data_dir)
    token = http("GET", f"{base}/_sandbox")["privateAppToken"]
    contact = http("GET", f"{base}/crm/v3/objects/contacts?limit=1", token=token)["results"][0]["id"]
    http("POST", f"{base}/_sandbox/objects/contacts/{contact}/archive")
    deadline = time.time() + 60
    text = ""
    while time.time() < deadline:
        text = runs_text(app)
        if "webhook" in text:
            break
        time.sleep(2)
    assert "webhook" in text, f"no webhook run in the history: {text}"
    screenshot(app, "schedule-2-webhook-run")
    deliveries = http("GET", f"{base}/_sandbox/webhooks/deliveries")["results"]
    assert any(d["status"] == 200 for d in deliveries), deliveries

    click(app, "button[data-nav=sync]")
    status = wait_for(app, "[data-testid=webhook-status][data-mode=receiving]", timeout=30)
    assert re.search(r"\b[1-9]\d* events", status.text), status.text

    # Daily at a time: the next run is shown, and it survives leaving the screen.
    choose(app, "select[data-field=schedule-kind]", "daily")
    time_input = wait_for(app, "input[data-field=schedule-time]")
    app.execute_script(
        "arguments[0].value = '06:30'; arguments[0].dispatchEvent(new Event('input', {bubbles: true}));", time_input)
    click(app, "button[data-action=save-schedule]")
    wait_for(app, "[data-testid=schedule-card][data-kind=daily]", timeout=20)
    screenshot(app, "schedule-3-daily")
    click(app, "button[data-nav=runs]")
    click(app, "button[data-nav=sync]")
    card = wait_for(app, "[data-testid=schedule-card][data-kind=daily]", timeout=20)
    assert "Next run" in card.text, card.text


def test_a_token_connection_polls_and_says_why(app):
    connect_demo_with_token(app)
    create_contacts_mapping(app)
    click(app, "button[data-nav=sync]")
    wait_for(app, "[data-testid=schedule-card]")
    choose(app, "select[data-field=schedule-kind]", "realtime")
    click(app, "button[data-action=save-schedule]")
    status = wait_for(app, "[data-testid=webhook-status][data-mode=polling]", timeout=30)
    assert "Polling" in status.text and "private-app token" in status.text and "every minute" in status.text, status.text
    assert "in 1 min" in wait_for(app, "[data-testid=schedule-next]").text
    screenshot(app, "schedule-4-token-polls")
