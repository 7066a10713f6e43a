"""Notes as comments: after a sync, the contacts' notes come into the local comments table from
the Sync screen with their attachment files, and a second pass changes and downloads nothing
(no echo writes)."""
import time

from conftest import click, connect_demo_with_token, create_contacts_mapping, screenshot, wait_for


def test_notes_sync_as_comments(app):
    connect_demo_with_token(app)
    create_contacts_mapping(app)
    click(app, "button[data-nav=sync]")
    wait_for(app, "[data-testid=sync-list] [data-sync]")
    click(app, "button[data-action=full-sync]")
    wait_for(app, "[data-testid=sync-summary]", timeout=120)

    click(app, "button[data-action=sync-comments]")
    summary = wait_for(app, "[data-testid=comments-summary]", timeout=60)
    counts = [int(b.text.replace(",", "")) for b in summary.find_elements("css selector", "b")]
    read, added, changed, removed, created, updated = counts[:6]
    assert read > 0 and added == read, summary.text
    assert (changed, removed, created, updated) == (0, 0, 0, 0), summary.text
    downloaded, uploaded = counts[6:8]
    assert downloaded >= 8 and uploaded == 0, summary.text
    files = wait_for(app, "[data-testid=comments-attachments]", timeout=30)
    assert int(files.find_element("css selector", "b[data-count=downloaded]").text) == downloaded, files.text
    assert "attachments" in files.text and "failed" not in files.text, files.text
    card = wait_for(app, "[data-testid=comments-card]")
    app.execute_script("arguments[0].scrollIntoView({block: 'center'})", card)
    screenshot(app, "sync-comments")

    click(app, "button[data-action=sync-comments]")
    wait_for(app, "[data-testid=comments-summary]")
    again = app.find_element("css selector", "[data-testid=comments-summary]")
    # The second pass only reads: nothing added, changed or written.
    deadline = time.time() + 30
    while time.time() < deadline:
        counts = [int(b.text.replace(",", "")) for b in again.find_elements("css selector", "b")]
        if counts[1] == 0:
            break
        time.sleep(0.2)
    assert counts[0] == read and counts[1:8] == [0, 0, 0, 0, 0, 0, 0], again.text
    # The files stay downloaded once.
    files = app.find_element("css selector", "[data-testid=comments-attachments]")
    assert int(files.find_element("css selector", "b[data-count=downloaded]").text) == downloaded, files.text
