"""Sync screen and run history: sync the demo portal's contacts through a mapping, with live
progress, then find the run in the history."""
from conftest import click, connect_demo_with_token, create_contacts_mapping, screenshot, wait_for


def test_sync_contacts_then_history(app):
    connect_demo_with_token(app)
    create_contacts_mapping(app)
    click(app, "button[data-nav=sync]")
    card = wait_for(app, "[data-testid=sync-list] [data-sync]")
    screenshot(app, "sync-1-ready")
    click(app, "button[data-action=full-sync]")
    summary = wait_for(app, "[data-testid=sync-summary]", timeout=120)
    assert summary.get_attribute("data-status") in ("succeeded", "succeededWithErrors"), summary.text
    assert " read" in summary.text and "API calls" in summary.text
    read = int(summary.find_element("css selector", ".counts b").text.replace(",", ""))
    assert read >= 400, f"the demo portal has hundreds of contacts; the run read {read}"
    screenshot(app, "sync-2-done")

    # an incremental run right after reads nothing new
    click(app, "button[data-action=sync]")
    wait_for(app, "[data-testid=sync-summary][data-status=succeeded]", timeout=120)
    assert card.get_attribute("data-state") == "succeeded"

    click(app, "button[data-nav=runs]")
    table = wait_for(app, "[data-testid=runs-table]")
    rows = table.find_elements("css selector", "tbody tr")
    assert len(rows) >= 1, table.text
    assert len(rows) == 2, "a full and an incremental run"
    assert "incremental" in rows[0].text and "full" in rows[1].text
    rows[1].find_element("css selector", "td").click()
    wait_for(app, "[data-testid=run-detail]")
    screenshot(app, "runs-history")
