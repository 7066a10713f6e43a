"""Mapping into PostgreSQL: contacts go into an existing table owned by a role that logs in with a
password. The password is typed once into the app (it goes to the OS keychain, never into a file),
Test reports the server and the table's columns, the mapper lists them, the write-back preview
reads the table's rows; a sync fills the table, checked with psql against the demo portal's own
API, and a push sends the table's own row to the portal.

Needs the PostgreSQL server of tests/pg.sh (`make e2e` runs the suite inside it): the test makes
its own role (a member of spoke_password_login, which the server makes log in with a password)
and its own database."""
import json
import os
import random
import subprocess
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait
from conftest import choose, click, connect_demo_with_token, screenshot, wait_for
from test_write import Portal, demo_base_url, push

LOCAL_ONLY = "ada.lovelace@analytical.example"


def server_url() -> str:
    url = os.environ.get("SPOKE_TEST_PG_URL")
    if not url:
        raise RuntimeError("SPOKE_TEST_PG_URL is not set: run the E2E suite inside tests/pg.sh (make e2e does)")
    return url


def url_for(db: str, user: str = "postgres") -> str:
    head = server_url().rsplit("/", 1)[0]
    return head.replace("postgres@", f"{user}@", 1) + "/" + db


def psql(db: str, sql: str) -> list[list[str]]:
    """Runs SQL as the superuser through psql; rows as lists of text (NULL = '')."""
    out = subprocess.run(["psql", "-X", "-q", "-A", "-t", "-F", "\x1f", "-R", "\x1e", "-v", "ON_ERROR_STOP=1",
                          "-d", url_for(db), "-c", sql], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return [r.split("\x1f") for r in out.stdout.strip("\n").split("\x1e") if r.strip("\n")]


@pytest.fixture
def pg_db():
    """A role that must log in with a password and a database it owns; dropped afterwards."""
    tag = f"{random.getrandbits(32):08x}"
    role, db = f"crm_owner_{tag}", f"crm_{tag}"
    password = f"pw-{random.getrandbits(64):016x}"
    psql("postgres", f"CREATE ROLE {role} LOGIN PASSWORD '{password}' IN ROLE spoke_password_login")
    psql("postgres", f"CREATE DATABASE {db} OWNER {role}")
    try:
        yield role, password, db, url_for(db, role)
    finally:
        psql("postgres", f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")
        psql("postgres", f"DROP ROLE IF EXISTS {role}")


def set_input(driver, css: str, text: str) -> None:
    """Replaces an input's text the way typing does (one input event)."""
    el = wait_for(driver, css)
    driver.execute_script("const i = arguments[0]; i.value = arguments[1]; i.dispatchEvent(new Event('input', {bubbles: true}));", el, text)


def picker_error(driver, code: str) -> str:
    el = wait_for(driver, f"[data-testid=postgres-destination] [data-error-code='{code}']", 20)
    return el.text


def portal_contacts(portal: Portal) -> dict:
    """Every live contact of the portal through its public API: email → (id, firstname, lastname)."""
    out, after = {}, None
    while True:
        query = {"limit": "100", "properties": "email,firstname,lastname"}
        if after:
            query["after"] = after
        req = urllib.request.Request(f"{portal.base}/crm/v3/objects/contacts?{urllib.parse.urlencode(query)}",
                                     headers={"authorization": f"Bearer {portal.token}"})
        with urllib.request.urlopen(req, timeout=30) as r:
            page = json.load(r)
        for c in page["results"]:
            p = c["properties"]
            out[p.get("email") or ""] = (c["id"], p.get("firstname") or "", p.get("lastname") or "")
        after = page.get("paging", {}).get("next", {}).get("after")
        if not after:
            return out


def test_map_contacts_into_postgres_with_a_keychain_password(app, pg_db, data_dir):
    role, password, db, url = pg_db
    psql(db, f"CREATE SCHEMA crm AUTHORIZATION {role};"
             "CREATE TABLE crm.contacts (email text, first_name text, last_name text, notes text);"
             f"ALTER TABLE crm.contacts OWNER TO {role};"
             f"INSERT INTO crm.contacts VALUES ('{LOCAL_ONLY}', 'Ada', 'Lovelace', 'added in PostgreSQL')")
    connect_demo_with_token(app)
    click(app, "button[data-nav=mapping]")
    wait_for(app, "button[data-action=new-mapping]").click()
    choose(app, "select[data-field=object]", "contacts")
    wait_for(app, "li.slot.mapped[data-property=email]")
    set_input(app, "input[data-field=mapping-name]", "Contacts → PostgreSQL")

    click(app, "input[data-field=dest-postgres]")
    wait_for(app, "[data-testid=postgres-destination]")
    # A URL carrying the password is refused as it is typed, naming the field and the fix.
    set_input(app, "input[data-field=pg-url]", url.replace(f"{role}@", f"{role}:{password}@", 1))
    problem = wait_for(app, "[data-problem=url]")
    assert "Remove the password" in problem.text and "Password" in problem.text, problem.text
    assert password not in problem.text
    assert app.find_element("css selector", "button[data-action=pg-test]").get_attribute("disabled") is not None
    set_input(app, "input[data-field=pg-url]", url)
    set_input(app, "input[data-field=pg-table]", "crm.contacts")
    WebDriverWait(app, 10).until(lambda d: not d.find_elements("css selector", "[data-problem]"))

    # Test before any password is saved: the server asks for one, and the message says where it goes.
    wait_for(app, "[data-testid=postgres-destination][data-password-saved=false]")
    click(app, "button[data-action=pg-test]")
    text = picker_error(app, "engine.pg_password")
    assert text.startswith("Password:") and "none is saved" in text, text

    # A wrong password is saved, and Test says the server refused it.
    app.find_element("css selector", "input[data-field=pg-password]").send_keys("not-the-password")
    click(app, "button[data-action=pg-save-password]")
    wait_for(app, "[data-testid=pg-password-saved]")
    click(app, "button[data-action=pg-test]")
    text = picker_error(app, "engine.pg_password")
    assert "refused the password" in text and role in text, text
    # Forget it, then type the right one: it goes to the keychain and the field is emptied.
    click(app, "button[data-action=pg-forget-password]")
    field = wait_for(app, "input[data-field=pg-password]")
    wait_for(app, "[data-testid=postgres-destination][data-password-saved=false]")
    field.send_keys(password)
    click(app, "button[data-action=pg-save-password]")
    saved = wait_for(app, "[data-testid=pg-password-saved]")
    assert saved.text == "✓ Password saved in keychain"
    assert not app.find_elements("css selector", "input[data-field=pg-password]")
    click(app, "button[data-action=pg-replace-password]")  # Replace offers the field again; Cancel keeps the saved one
    assert wait_for(app, "input[data-field=pg-password]").get_attribute("value") == ""
    click(app, "button[data-action=pg-cancel-replace]")
    wait_for(app, "[data-testid=pg-password-saved]")

    click(app, "button[data-action=pg-test]")
    check = wait_for(app, "[data-testid=pg-check]", 20)
    version = psql("postgres", "SHOW server_version")[0][0]
    assert check.get_attribute("data-version") == version
    assert check.get_attribute("data-exists") == "true"
    assert f"PostgreSQL {version.split()[0]} — logged in as {role} to {db} with the saved password" in check.text, check.text
    assert "crm.contacts exists: 4 columns" in check.text, check.text

    # The mapper's column side lists the table's columns, with suggestions for them.
    wait_for(app, "[data-testid=column-list] li.slot[data-column=notes]")
    columns = {e.get_attribute("data-column") for e in app.find_elements("css selector", "[data-testid=column-list] li.slot")}
    assert {"email", "first_name", "last_name", "notes"} <= columns, columns
    wait_for(app, "[data-testid=suggestions]")
    click(app, "button[data-action=accept-suggestions]")
    wait_for(app, "li.slot.mapped[data-column=first_name][data-property=firstname]")
    wait_for(app, "li.slot.mapped[data-column=last_name][data-property=lastname]")
    wait_for(app, "li.slot.mapped[data-column=email][data-property=email]")
    # Columns the table lacks can still be added (Spoke adds them to the table).
    assert app.find_elements("css selector", "[data-testid=column-list] li.slot.new")

    # First names both ways: the write-back preview reads the PostgreSQL table's row.
    direction = f"li.slot[data-column=first_name] button[data-action=direction]"
    for _ in range(3):
        if wait_for(app, direction).get_attribute("data-direction") == "both":
            break
        click(app, direction)
    assert app.find_element("css selector", direction).get_attribute("data-direction") == "both"
    click(app, "li.slot[data-column=first_name] button[data-action=transform]")
    wait_for(app, "[data-testid=transform-editor]")
    click(app, "[data-testid=transform-editor] button[data-side=outbound]")
    wait_for(app, "[data-testid=transform-editor][data-side=outbound]")
    WebDriverWait(app, 15).until(lambda d: d.find_element(
        "css selector", "[data-testid=transform-preview] tr[data-sample='0'] .before").text == '"Ada"')
    app.find_element("css selector", "[data-testid=transform-editor] input[data-field=try-value]").send_keys(Keys.ESCAPE)
    WebDriverWait(app, 5).until(lambda d: not d.find_elements("css selector", "[data-testid=transform-editor]"))

    issues = wait_for(app, "[data-testid=mapping-issues]")
    WebDriverWait(app, 10).until(lambda d: issues.get_attribute("data-errors") == "0")
    click(app, "button[data-action=save-mapping]")
    assert wait_for(app, ".actions .ok").text.startswith("Saved as")
    app.execute_script("document.querySelector('.dest').scrollIntoView({block: 'start'})")
    screenshot(app, "mapping-postgres")

    # The password is in no file of the app (mapping file, store, logs).
    for f in Path(data_dir).rglob("*"):
        if f.is_file():
            assert password.encode() not in f.read_bytes(), f"the password leaked into {f}"
    mapping_files = list(Path(data_dir).rglob("*.json"))
    assert any('"kind": "postgres"' in f.read_text() and url in f.read_text() for f in mapping_files), mapping_files

    # Sync: the table then holds what the portal holds (and the table's own row, untouched).
    click(app, "button[data-nav=sync]")
    wait_for(app, "[data-testid=sync-list] button[data-action=full-sync]").click()
    summary = wait_for(app, "[data-testid=sync-summary]", timeout=180)
    assert summary.get_attribute("data-status") == "succeeded", summary.text
    portal = Portal(demo_base_url(app))
    expected = portal_contacts(portal)
    assert len(expected) >= 400, len(expected)
    rows = psql(db, "SELECT email, _hs_id, first_name, last_name, notes FROM crm.contacts WHERE NOT _hs_archived")
    mirrored = {r[0]: (r[1], r[2], r[3]) for r in rows if r[1]}
    assert mirrored == expected
    local = [r for r in rows if not r[1]]
    assert local == [[LOCAL_ONLY, "", "Ada", "Lovelace", "added in PostgreSQL"]], local

    # The Data screen shows the synced rows (Spoke's copy of the table).
    click(app, "button[data-nav=data]")
    wait_for(app, "[data-testid=data-table] tbody tr[data-state=synced]")
    label = app.find_element("css selector", "[data-testid=page-label]").text
    assert label == f"1–50 of {len(expected):,}", label
    copy = wait_for(app, "[data-testid=copy-of]")
    assert "PostgreSQL table crm.contacts" in copy.text and "read-only" in copy.text, copy.text
    assert not app.find_elements("css selector", "button[data-action=add-row]")
    screenshot(app, "mapping-postgres-data")

    # The dry run now compares the portal's records with the synced rows: nothing to create.
    click(app, "button[data-nav=mapping]")
    wait_for(app, "[data-mapping] button[data-action=edit]").click()
    wait_for(app, "[data-testid=postgres-destination] [data-testid=pg-check][data-exists=true]", 20)
    click(app, "button[data-action=preview]")
    preview = wait_for(app, "[data-testid=mapping-preview]", 30)
    actions = [e.text.lower() for e in preview.find_elements("css selector", "tbody span.action")]
    assert len(actions) == 10 and "create" not in actions, preview.text

    # Write-back: the table's own row is created in the portal, and gets its HubSpot id.
    click(app, "button[data-nav=data]")
    wait_for(app, "[data-testid=data-table] tbody tr[data-state=synced]")
    assert portal.contact(LOCAL_ONLY, by_email=True) is None
    done = push(app)
    counts = {s.text.split(" ", 1)[1]: int(s.text.split(" ", 1)[0].replace(",", ""))
              for s in done.find_elements("css selector", ".counts span") if s.find_elements("css selector", "b")}
    assert (counts["updated"] + counts["created"], counts["refused (dead letters)"]) == (1, 0), done.text  # the synced rows are unchanged
    created = portal.contact(LOCAL_ONLY, by_email=True)
    assert created is not None and created["properties"]["firstname"] == "Ada", created
    hs_id = psql(db, f"SELECT _hs_id FROM crm.contacts WHERE email = '{LOCAL_ONLY}'")[0][0]
    assert hs_id == created["id"]
