"""Data screen: edit a synced contact in the app, push, and find the change in the portal (read
through the portal's own HTTP API, not through Spoke); add a row HubSpot refuses, find it in the
dead letters with the fix, fix it in the table, resend, and find it in the portal."""
import csv
import json
import urllib.error
import urllib.parse
import urllib.request

from selenium.common.exceptions import ElementNotInteractableException
from selenium.webdriver.common.keys import Keys

from conftest import choose, click, connect_demo_with_token, create_contacts_mapping, screenshot, wait_for


def demo_base_url(app) -> str:
    return app.execute_async_script(
        "const cb = arguments[arguments.length - 1];"
        "window.__TAURI_INTERNALS__.invoke('demo_portal').then(d => cb(d.baseUrl));"
    )


class Portal:
    """The demo portal as any HubSpot API client sees it (its private-app token from the admin API)."""

    def __init__(self, base: str):
        self.base = base
        with urllib.request.urlopen(f"{base}/_sandbox", timeout=10) as r:
            self.token = json.load(r)["privateAppToken"]

    def contact(self, id_or_email: str, by_email: bool = False):
        query = {"properties": "email,firstname,lastname"}
        if by_email:
            query["idProperty"] = "email"
        url = f"{self.base}/crm/v3/objects/contacts/{urllib.parse.quote(id_or_email)}?{urllib.parse.urlencode(query)}"
        req = urllib.request.Request(url, headers={"authorization": f"Bearer {self.token}"})
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return json.load(r)
        except urllib.error.HTTPError as e:
            if e.code == 404:
                return None
            raise


def edit_cell(app, row_id: str, column: str, text: str) -> None:
    """Opens a cell's editor (the editor selects the old value) and types over it."""
    cell = wait_for(app, f"tr[data-row='{row_id}'] td[data-column={column}] button.cell")
    try:
        cell.click()
    except ElementNotInteractableException:
        # WebKitWebDriver sometimes misjudges cells of a table scrolled inside its container.
        app.execute_script("arguments[0].click()", cell)
    field = wait_for(app, f"tr[data-row='{row_id}'] input[data-edit={column}]")
    field.send_keys(text)
    field.send_keys(Keys.ENTER)


def push(app):
    click(app, "button[data-action=push]")
    return wait_for(app, "[data-testid=push-summary]", timeout=120)


def test_edit_push_dead_letter_fix_resend(app):
    connect_demo_with_token(app)
    create_contacts_mapping(app)
    click(app, "button[data-nav=sync]")
    wait_for(app, "[data-testid=sync-list] button[data-action=full-sync]").click()
    wait_for(app, "[data-testid=sync-summary]", timeout=120)
    portal = Portal(demo_base_url(app))

    click(app, "button[data-nav=data]")
    table = wait_for(app, "[data-testid=data-table] tbody tr[data-state=synced]")
    label = app.find_element("css selector", "[data-testid=page-label]").text
    assert label.startswith("1–50 of "), label
    assert int(label.rsplit(" ", 1)[1].replace(",", "")) >= 400, label
    screenshot(app, "write-1-table")

    # Edit a synced contact's first name in the app.
    row = table
    row_id = row.get_attribute("data-row")
    hub_id = row.find_element("css selector", "td.hs code").text
    before = portal.contact(hub_id)["properties"]["firstname"]
    new_name = "Augusta" if before != "Augusta" else "Ada"
    edit_cell(app, row_id, "firstname", new_name)
    cell = wait_for(app, f"tr[data-row='{row_id}'][data-state=changed] td[data-column=firstname] button.cell")
    assert cell.get_attribute("textContent").strip() == new_name
    assert "Push 1 change to HubSpot" in app.find_element("css selector", "button[data-action=push]").text
    click(app, "button[data-filter=changes]")
    wait_for(app, "[data-testid=page-label]")
    assert app.find_element("css selector", "[data-testid=page-label]").text == "1–1 of 1"
    screenshot(app, "write-2-edited")

    # A value that does not fit the column is refused in place, naming the column and the fix.
    edit_cell(app, row_id, "email", Keys.BACKSPACE)
    err = wait_for(app, "[data-testid=cell-error] [data-error-code]")
    assert err.get_attribute("data-error-code") == "engine.missing_key", err.text
    assert "email" in err.text
    app.find_element("css selector", f"tr[data-row='{row_id}'] input[data-edit=email]").send_keys(Keys.ESCAPE)

    summary = push(app)
    assert summary.get_attribute("data-status") == "succeeded", summary.text
    assert "1 updated in HubSpot" in summary.text, summary.text
    screenshot(app, "write-3-pushed")
    assert portal.contact(hub_id)["properties"]["firstname"] == new_name
    assert app.find_elements("css selector", "[data-testid=data-table] td.none"), "no changes left after the push"

    # A new row HubSpot refuses: an invalid email.
    click(app, "button[data-filter=all]")
    click(app, "button[data-action=add-row]")
    form = wait_for(app, "[data-testid=add-row]")
    form.find_element("css selector", "input[data-new=email]").send_keys("not-an-email")
    form.find_element("css selector", "input[data-new=firstname]").send_keys("Broken")
    form.find_element("css selector", "input[data-new=lastname]").send_keys("Row")
    screenshot(app, "write-4-add-row")
    click(app, "button[data-action=save-row]")
    new_row = wait_for(app, "tr[data-state=new]")
    new_id = new_row.get_attribute("data-row")
    screenshot(app, "write-5-new-row")

    summary = push(app)
    assert summary.get_attribute("data-status") == "succeededWithErrors", summary.text
    assert "1 refused" in summary.text and "not-an-email" in summary.text, summary.text
    screenshot(app, "write-6-refused")
    assert portal.contact("not-an-email", by_email=True) is None

    click(app, "button[data-tab=dead]")
    card = wait_for(app, f"[data-testid=dead-letters] [data-dead-letter='{new_id}']")
    assert card.get_attribute("data-category") == "VALIDATION_ERROR"
    assert "Email address not-an-email is invalid" in card.text, card.text
    assert "Fix" in card.text and "1 attempt" in card.text, card.text
    screenshot(app, "write-7-dead-letters")

    # Fix it in the table: the email cell opens with the bad value selected.
    card.find_element("css selector", "button[data-action=fix]").click()
    field = wait_for(app, f"tr[data-row='{new_id}'] input[data-edit=email]")
    assert field.get_attribute("value") == "not-an-email"
    field.send_keys("broken.row@example.com")
    screenshot(app, "write-8-fixing")
    field.send_keys(Keys.ENTER)
    wait_for(app, f"tr[data-row='{new_id}'][data-state=new] td[data-column=email] button.cell")

    click(app, "button[data-tab=dead]")
    wait_for(app, f"[data-dead-letter='{new_id}'] button[data-action=resend]").click()
    summary = wait_for(app, "[data-testid=push-summary][data-status=succeeded]", timeout=120)
    assert "1 created in HubSpot" in summary.text, summary.text
    wait_for(app, "[data-testid=no-dead-letters]")
    screenshot(app, "write-9-resent")

    created = portal.contact("broken.row@example.com", by_email=True)
    assert created is not None, "the fixed row is in the portal"
    assert (created["properties"]["firstname"], created["properties"]["lastname"]) == ("Broken", "Row")
    click(app, "button[data-tab=rows]")
    row = wait_for(app, f"tr[data-row='{new_id}']")
    assert row.get_attribute("data-state") == "synced"
    assert row.find_element("css selector", "td.hs code").text == created["id"]

    # The table streamed to a CSV file: a header, then one line per live row, the new one included.
    click(app, "button[data-action=export-csv]")
    result = wait_for(app, "[data-testid=export-result]")
    path = result.find_element("css selector", "code").text
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert "broken.row@example.com" in {r.get("email") for r in rows}, rows[:3]
    assert f"Exported {len(rows):,} rows as CSV" in result.text, result.text


def test_conflict_asked_and_resolved(app):
    """A mapping whose conflicts are set to "Ask me" in its write options: the same contact's
    first name edited here and in HubSpot shows up under Conflicts; keeping HubSpot's value puts
    it into the row and sends nothing."""
    connect_demo_with_token(app)
    click(app, "button[data-nav=mapping]")
    wait_for(app, "button[data-action=new-mapping]").click()
    choose(app, "select[data-field=object]", "contacts")
    wait_for(app, "li.slot.mapped[data-property=email]")
    options = wait_for(app, "[data-testid=write-options]")
    app.execute_script("arguments[0].scrollIntoView({block: 'center'})", options)
    choose(app, "select[data-field=conflict-policy]", "ask")
    assert "waits on the Data screen" in options.text, options.text
    screenshot(app, "write-10-mapping-options")
    click(app, "button[data-action=save-mapping]")
    wait_for(app, ".actions .ok")

    click(app, "button[data-nav=sync]")
    wait_for(app, "[data-testid=sync-list] button[data-action=full-sync]").click()
    wait_for(app, "[data-testid=sync-summary]", timeout=120)
    portal = Portal(demo_base_url(app))

    click(app, "button[data-nav=data]")
    row = wait_for(app, "[data-testid=data-table] tbody tr[data-state=synced]")
    row_id = row.get_attribute("data-row")
    hub_id = row.find_element("css selector", "td.hs code").text
    edit_cell(app, row_id, "firstname", "LocalName")
    wait_for(app, f"tr[data-row='{row_id}'][data-state=changed]")

    # Meanwhile someone changes the same field in HubSpot.
    req = urllib.request.Request(f"{portal.base}/_sandbox/objects/contacts/{hub_id}/update", method="POST",
                                 data=json.dumps({"properties": {"firstname": "HubName"}}).encode(),
                                 headers={"content-type": "application/json"})
    urllib.request.urlopen(req, timeout=10).read()

    click(app, "button[data-nav=sync]")
    wait_for(app, "[data-testid=sync-list] button[data-action=sync]").click()
    wait_for(app, "[data-testid=sync-summary]", timeout=120)

    click(app, "button[data-nav=data]")
    wait_for(app, f"tr[data-row='{row_id}'][data-state=conflict]")
    click(app, "button[data-tab=conflicts]")
    conflict = wait_for(app, "[data-testid=conflicts] tr[data-kept=open]")
    assert "firstname" in conflict.text
    assert conflict.find_element("css selector", "[data-side=local]").text == "LocalName"
    assert conflict.find_element("css selector", "[data-side=hubspot]").text == "HubName"
    screenshot(app, "write-11-conflict")

    conflict.find_element("css selector", "button[data-action=keep-hubspot]").click()
    wait_for(app, "[data-testid=no-conflicts]")
    click(app, "button[data-tab=rows]")
    row = wait_for(app, f"tr[data-row='{row_id}']")
    assert row.get_attribute("data-state") == "synced", row.get_attribute("data-state")
    cell = row.find_element("css selector", "td[data-column=firstname] button.cell")
    assert cell.get_attribute("textContent").strip() == "HubName"
    summary = push(app)
    assert "Nothing to send" in summary.text, summary.text
    assert portal.contact(hub_id)["properties"]["firstname"] == "HubName"
    screenshot(app, "write-12-conflict-resolved")
