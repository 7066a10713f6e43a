"""Sync screen and run history: sync the demo portal's contacts through a mapping, with live
progress, then find the run in the history. The demo portal answers with network latency
(`--demo-latency-ms`), so the run lasts long enough to watch its progress move."""
import time

import pytest
from conftest import click, connect_demo_with_token, create_contacts_mapping, screenshot, wait_for

LATENCY_MS = 1200


def progress_numbers(app) -> dict:
    el = wait_for(app, "[data-testid=sync-progress]", timeout=10)
    return {k: el.get_attribute(f"data-{k}") for k in ("phase", "read", "pages", "calls", "eta")}


@pytest.mark.app_args("--demo-latency-ms", LATENCY_MS)
def test_sync_contacts_then_history(app):
    connect_demo_with_token(app)
    create_contacts_mapping(app)
    click(app, "button[data-nav=sync]")
    card = wait_for(app, "[data-testid=sync-list] [data-sync]")
    screenshot(app, "sync-1-ready")
    click(app, "button[data-action=full-sync]")

    # Mid-run: the object's bar, counters, rate-budget gauge and ETA, moving.
    wait_for(app, "[data-testid=sync-progress][data-phase=fullRead]", timeout=30)
    wait_for(app, "[data-testid=sync-progress][data-phase=fullRead] [data-testid=rate-gauge]", timeout=10)
    first = progress_numbers(app)
    deadline = time.time() + 20
    while int(first["read"]) == 0 and time.time() < deadline:
        time.sleep(0.2)
        first = progress_numbers(app)
    assert int(first["read"]) > 0, first
    assert first["eta"] != "", f"an ETA once records arrive: {first}"
    gauge = wait_for(app, "[data-testid=rate-gauge]")
    assert int(gauge.get_attribute("data-used")) > 0, gauge.text
    assert "window" in gauge.text and "today" in gauge.text
    assert "ETA" in card.text and "records/s" in card.text and "API calls" in card.text and "pages" in card.text
    screenshot(app, "sync-2-progress")
    time.sleep(1.5)
    if card.get_attribute("data-state") == "running":
        second = progress_numbers(app)
        assert int(second["calls"]) > int(first["calls"]), (first, second)
        assert int(second["read"]) >= int(first["read"]), (first, second)

    summary = wait_for(app, "[data-testid=sync-summary]", timeout=120)
    assert summary.get_attribute("data-status") in ("succeeded", "succeededWithErrors"), summary.text
    assert " read" in summary.text and "API calls" in summary.text
    read = int(summary.find_element("css selector", ".counts b").text.replace(",", ""))
    assert read >= 400, f"the demo portal has hundreds of contacts; the run read {read}"
    assert read > int(first["read"]), "the mid-run screenshot was taken before the end"
    screenshot(app, "sync-3-done")

    # an incremental run right after reads nothing new
    click(app, "button[data-action=sync]")
    wait_for(app, "[data-testid=sync-summary][data-status=succeeded]", timeout=120)
    assert card.get_attribute("data-state") == "succeeded"

    click(app, "button[data-nav=runs]")
    table = wait_for(app, "[data-testid=runs-table]")
    rows = table.find_elements("css selector", "tbody tr")
    assert len(rows) == 2, "a full and an incremental run"
    assert "incremental" in rows[0].text and "full" in rows[1].text
    rows[1].find_element("css selector", "td").click()
    wait_for(app, "[data-testid=run-detail]")
    screenshot(app, "runs-history")
