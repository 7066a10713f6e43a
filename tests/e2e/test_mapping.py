"""Mapping screen: discover the demo portal's contact properties, map, validate, dry-run, save."""
import sqlite3
import time

from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait

from conftest import choose, click, connect_demo_with_token, screenshot, wait_for


def test_map_contacts_preview_and_save(app):
    connect_demo_with_token(app)
    click(app, "button[data-nav=mapping]")
    wait_for(app, "[data-testid=mappings-empty]")
    screenshot(app, "mapping-1-empty")
    wait_for(app, "button[data-action=new-mapping]").click()
    choose(app, "select[data-field=object]", "contacts")
    wait_for(app, "li.slot.mapped[data-property=email]")
    mapped = app.find_elements("css selector", "li.slot.mapped")
    assert len(mapped) >= 4, "a new contacts mapping starts with the usual properties"
    issues = wait_for(app, "[data-testid=mapping-issues]")
    assert issues.get_attribute("data-errors") == "0", issues.text
    screenshot(app, "mapping-2-editor")

    # an enum value map on lifecycle stage: HubSpot's "customer" lands locally as "client"
    click(app, "li.slot[data-property=lifecyclestage] button[data-action=value-map]")
    option = wait_for(app, "[data-value-map=lifecyclestage] input[data-option=customer]")
    option.send_keys("client")
    screenshot(app, "mapping-3-value-map")

    # a criteria filter: only contacts whose lifecycle stage is set
    click(app, "button[data-action=add-criterion]")
    crit = wait_for(app, "[data-criterion='0']")
    # the field picker searches every property as you type (the mapper's ranking), by keyboard
    picker = wait_for(app, "[data-criterion='0'] input[data-field=criterion-property]")
    picker.click()
    picker.send_keys("lifecycle st")
    wait_for(app, "[data-criterion='0'] [role=listbox][data-query='lifecycle st'] [role=option][data-property=lifecyclestage]")
    options = [e.get_attribute("data-property") for e in app.find_elements("css selector", "[data-criterion='0'] [role=option]")]
    assert options[0] == "lifecyclestage", options
    assert len(options) < 20, options  # a short list of matches, not every property
    picker.send_keys(Keys.ARROW_DOWN)
    picker.send_keys(Keys.ARROW_UP)  # wraps round and back
    active = app.find_element("css selector", "[data-criterion='0'] [role=option][aria-selected=true]")
    assert active.get_attribute("data-property") == "lifecyclestage"
    assert picker.get_attribute("aria-activedescendant") == active.get_attribute("id")
    app.execute_script("arguments[0].scrollIntoView({block: 'end'})",
                       app.find_element("css selector", "[data-criterion='0'] [role=listbox]"))
    time.sleep(0.3)
    screenshot(app, "mapping-3b-criteria-picker")
    picker.send_keys(Keys.ENTER)
    wait_for(app, "[data-criterion='0'] [data-testid=property-picker][data-value=lifecyclestage]")
    assert not app.find_elements("css selector", "[data-criterion='0'] [role=listbox]")
    assert "lifecyclestage" in picker.get_attribute("value"), picker.get_attribute("value")
    choose(app, "[data-criterion='0'] select", "HAS_PROPERTY")
    time.sleep(1.0)
    issues = app.find_element("css selector", "[data-testid=mapping-issues]")
    assert issues.get_attribute("data-errors") == "0", issues.text
    click(app, "button[data-action=preview]")
    preview = wait_for(app, "[data-testid=mapping-preview]")
    assert len(preview.find_elements("css selector", "tbody tr")) == 10, preview.text
    assert "create" in preview.text.lower()
    app.execute_script("arguments[0].scrollIntoView()", preview)
    screenshot(app, "mapping-4-preview")
    click(app, "button[data-action=export-mapping]")
    exported = wait_for(app, ".actions .ok")
    assert "Exported to" in exported.text and exported.text.endswith(".json")
    path = exported.text.split("Exported to ", 1)[1]
    text = open(path).read()
    assert '"op": "valueMap"' in text and '"customer": "client"' in text, text
    assert '"condition": "HAS_PROPERTY"' in text, text
    click(app, "button[data-action=save-mapping]")
    wait_for(app, ".actions .ok")
    click(app, ".actions button:not(.primary)")  # Back
    card = wait_for(app, "[data-testid=mapping-list] [data-mapping]")
    assert "contacts" in card.text
    screenshot(app, "mapping-5-list")


def _customers_db(path):
    """The admin's own app database: a `customers` table Spoke maps onto (never creates)."""
    db = sqlite3.connect(path)
    db.executescript(
        "CREATE TABLE customers (id INTEGER PRIMARY KEY, email TEXT NOT NULL UNIQUE, first_name TEXT,"
        " last_name TEXT, company TEXT, lifecycle TEXT, score INTEGER);"
        "INSERT INTO customers (email, first_name, last_name, company, lifecycle, score)"
        " VALUES ('ada@example.com', 'Ada', 'Lovelace', 'Analytical Engines', 'customer', 90);")
    db.commit()
    db.close()


def _drag(driver, source, target):
    """HTML5 drag and drop as the browser delivers it (dragstart → dragover → drop → dragend),
    with one DataTransfer carried through; WebDriver's pointer actions do not start HTML5 drags."""
    driver.execute_script(
        "const [s, t] = arguments; const dt = new DataTransfer();"
        "const fire = (el, type) => el.dispatchEvent(new DragEvent(type, {bubbles: true, cancelable: true, dataTransfer: dt}));"
        "fire(s, 'dragstart'); fire(t, 'dragenter'); fire(t, 'dragover'); fire(t, 'drop'); fire(s, 'dragend');",
        source, target)


def _slot(driver, column):
    return driver.find_element("css selector", f"[data-testid=column-list] [data-column='{column}']")


def test_map_contacts_onto_existing_customers_table(app, tmp_path):
    db = tmp_path / "shop.db"
    _customers_db(db)
    connect_demo_with_token(app)
    click(app, "button[data-nav=mapping]")
    wait_for(app, "button[data-action=new-mapping]").click()
    choose(app, "select[data-field=object]", "contacts")
    wait_for(app, "li.slot.mapped[data-property=email]")

    # destination: the existing customers table of the admin's own SQLite file
    click(app, "input[data-field=dest-sqlite]")
    # (send_keys would upload a string that names an existing file; the value is typed as input events do)
    app.execute_script("const i = arguments[0]; i.value = arguments[1]; i.dispatchEvent(new Event('input', {bubbles: true}));",
                       app.find_element("css selector", "input[data-field=sqlite-path]"), str(db))
    click(app, "button[data-action=open-sqlite]")
    choose(app, "select[data-field=sqlite-table]", "customers")
    bar = wait_for(app, "[data-testid=suggestions]")
    columns = [e.get_attribute("data-column") for e in app.find_elements("css selector", "[data-testid=column-list] li.slot")]
    assert columns == ["id", "email", "first_name", "last_name", "company", "lifecycle", "score"], columns
    suggested = {c: _slot(app, c).find_element("css selector", "[data-suggestion]").get_attribute("data-suggestion")
                 for c in ["email", "first_name", "last_name", "company", "lifecycle", "score"]}
    assert suggested == {"email": "email", "first_name": "firstname", "last_name": "lastname",
                         "company": "company", "lifecycle": "lifecyclestage", "score": "spoke_score"}, suggested
    assert not _slot(app, "id").find_elements("css selector", "[data-suggestion]")  # nothing sensible for the row id
    screenshot(app, "mapping-existing-1-suggestions")
    click(app, "button[data-action=accept-suggestions]")
    for column, prop in suggested.items():
        wait_for(app, f"li.slot.mapped[data-column='{column}'][data-property='{prop}']")
    assert not app.find_elements("css selector", "[data-testid=suggestions]")

    # search as you type on the property side
    search = app.find_element("css selector", "input[data-field=property-search]")
    search.send_keys("job")
    wait_for(app, "[data-testid=property-list][data-query=job] li.prop[data-property=jobtitle]")
    shown = [e.get_attribute("data-property") for e in app.find_elements("css selector", "[data-testid=property-list] li.prop")]
    assert shown[0] == "jobtitle", shown

    # by keyboard: Delete unmaps score; Enter on the free column, then Enter in the search picks the best match
    score = _slot(app, "score")
    app.execute_script("arguments[0].focus()", score)
    score.send_keys(Keys.DELETE)
    score = wait_for(app, "li.slot.free[data-column=score]")
    app.execute_script("arguments[0].focus()", score)
    score.send_keys(Keys.ENTER)
    wait_for(app, "[data-testid=pending]")
    assert app.switch_to.active_element.get_attribute("data-field") == "property-search"
    app.switch_to.active_element.send_keys(Keys.ENTER)  # jobtitle, the first hit for "job"
    wait_for(app, "li.slot.mapped[data-column=score][data-property=jobtitle]")

    # text cannot go into an INTEGER column: the validation panel says so; jump to it
    issue = wait_for(app, "[data-testid=mapping-issues] button[data-issue-code='mapping.incompatible_types']", 10)
    assert "jobtitle" in issue.text, issue.text
    app.execute_script("arguments[0].scrollIntoView({block: 'center'})", issue)
    screenshot(app, "mapping-existing-2-validation")
    app.execute_script("window.scrollTo(0, 0)")
    issue.send_keys(Keys.ENTER)
    wait_for(app, "li.slot.flash[data-column=score]")
    focused = app.switch_to.active_element
    assert focused.get_attribute("data-column") == "score" or focused.find_element("xpath", "ancestor::li[@data-slot]").get_attribute("data-column") == "score"
    wait_for(app, "[data-testid=transform-editor]")  # the problem is in the transform chain: its editor opens
    screenshot(app, "mapping-existing-3-jump-to-issue")

    # fix it: drag the right property (spoke_score, a number) onto the column; it replaces jobtitle
    search = app.find_element("css selector", "input[data-field=property-search]")
    search.send_keys(Keys.CONTROL, "a")
    search.send_keys("spoke score")
    prop = wait_for(app, "[data-testid=property-list] li.prop[data-property=spoke_score]")
    _drag(app, prop, _slot(app, "score"))
    wait_for(app, "li.slot.mapped[data-column=score][data-property=spoke_score]")
    time.sleep(1.0)
    assert not app.find_elements("css selector", "button[data-issue-code='mapping.incompatible_types']")

    # the transform editor with a live preview on real portal values: upper-case first names
    click(app, "li.slot[data-column=first_name] button[data-action=transform]")
    editor = wait_for(app, "[data-testid=transform-editor]")
    wait_for(app, "[data-testid=transform-preview] tr[data-sample='0']")
    choose(app, "[data-testid=transform-editor] select[data-field=step-kind]", "case")
    click(app, "[data-testid=transform-editor] button[data-action=add-step]")
    choose(app, "[data-testid=transform-editor] [data-step='0'] select[data-param=to]", "upper")
    WebDriverWait(app, 10).until(lambda d: all(
        r.find_element("css selector", ".after").text == r.find_element("css selector", ".before").text.upper()
        for r in d.find_elements("css selector", "[data-testid=transform-preview] tr[data-sample]")))
    rows = app.find_elements("css selector", "[data-testid=transform-preview] tr[data-sample]")
    assert len(rows) >= 3, editor.text
    befores = [r.find_element("css selector", ".before").text for r in rows]
    assert any(b != b.upper() for b in befores), befores  # real mixed-case names, now upper case
    choose(app, "[data-testid=transform-editor] select[data-field=step-kind]", "trim")
    click(app, "[data-testid=transform-editor] button[data-action=add-step]")
    click(app, "[data-testid=transform-editor] [data-step='1'] button[data-action=move-up]")  # trim first
    wait_for(app, "[data-testid=transform-editor] [data-step='0'][data-op=trim]")
    app.find_element("css selector", "[data-testid=transform-editor] input[data-field=try-value]").send_keys("  grace ")
    WebDriverWait(app, 10).until(lambda d: d.find_element(
        "css selector", "[data-testid=transform-preview] tr[data-sample='0'] .after").text == '"GRACE"')
    app.execute_script("arguments[0].scrollIntoView({block: 'center'})", editor)
    screenshot(app, "mapping-existing-4-transform-preview")
    app.find_element("css selector", "[data-testid=transform-editor] input[data-field=try-value]").send_keys(Keys.ESCAPE)
    WebDriverWait(app, 5).until(lambda d: not d.find_elements("css selector", "[data-testid=transform-editor]"))

    # two-way first names: the write-back steps have their own chain, previewed on the table's rows
    # (the suggestion mapped it both ways: a column of the admin's own table is written back too)
    wait_for(app, "li.slot[data-column=first_name] button[data-action=direction][data-direction=both]")
    click(app, "li.slot[data-column=first_name] button[data-action=transform]")
    editor = wait_for(app, "[data-testid=transform-editor][data-side=inbound]")
    assert len(editor.find_elements("css selector", "li[data-step]")) == 2  # trim, upper: HubSpot → local
    click(app, "[data-testid=transform-editor] button[data-side=outbound]")
    editor = wait_for(app, "[data-testid=transform-editor][data-side=outbound]")
    assert not editor.find_elements("css selector", "li[data-step]"), editor.text
    assert "local → HubSpot" in editor.text, editor.text
    # ada's row in the customers table: copied as it is until a step is added
    WebDriverWait(app, 10).until(lambda d: d.find_element(
        "css selector", "[data-testid=transform-preview] tr[data-sample='0'] .before").text == '"Ada"')
    choose(app, "[data-testid=transform-editor] select[data-field=step-kind]", "case")
    click(app, "[data-testid=transform-editor] button[data-action=add-step]")
    choose(app, "[data-testid=transform-editor] [data-step='0'] select[data-param=to]", "lower")
    WebDriverWait(app, 10).until(lambda d: d.find_element(
        "css selector", "[data-testid=transform-preview] tr[data-sample='0'] .after").text == '"ada"')
    assert "row 1" in app.find_element("css selector", "[data-testid=transform-preview] tr[data-sample='0']").text
    app.find_element("css selector", "[data-testid=transform-editor] input[data-field=try-value]").send_keys("GRACE Hopper")
    WebDriverWait(app, 10).until(lambda d: d.find_element(
        "css selector", "[data-testid=transform-preview] tr[data-sample='0'] .after").text == '"grace hopper"')
    assert "your value" in app.find_element("css selector", "[data-testid=transform-preview] tr[data-sample='0']").text
    assert app.find_element("css selector", "[data-testid=transform-preview] tr[data-sample='1'] .after").text == '"ada"'
    app.execute_script("arguments[0].scrollIntoView({block: 'center'})", editor)
    screenshot(app, "mapping-existing-4b-write-back-preview")
    # the HubSpot → local chain is untouched; the slot shows both chains
    click(app, "[data-testid=transform-editor] button[data-side=inbound]")
    editor = wait_for(app, "[data-testid=transform-editor][data-side=inbound]")
    assert [e.get_attribute("data-op") for e in editor.find_elements("css selector", "li[data-step]")] == ["trim", "case"]
    app.find_element("css selector", "[data-testid=transform-editor] input[data-field=try-value]").send_keys(Keys.ESCAPE)
    WebDriverWait(app, 5).until(lambda d: not d.find_elements("css selector", "[data-testid=transform-editor]"))
    assert "← lower case" in _slot(app, "first_name").text, _slot(app, "first_name").text

    # dry run on real records into the existing table: ada@example.com is already there
    time.sleep(1.0)
    issues = app.find_element("css selector", "[data-testid=mapping-issues]")
    assert issues.get_attribute("data-errors") == "0", issues.text
    click(app, "button[data-action=preview]")
    preview = wait_for(app, "[data-testid=mapping-preview]")
    assert len(preview.find_elements("css selector", "tbody tr")) == 10, preview.text
    assert "create" in preview.text.lower()
    app.execute_script("arguments[0].scrollIntoView()", preview)
    screenshot(app, "mapping-existing-5-dry-run")
    click(app, "button[data-action=export-mapping]")
    exported = wait_for(app, ".actions .ok")
    text = open(exported.text.split("Exported to ", 1)[1]).read()
    assert '"kind": "sqlite"' in text and '"table": "customers"' in text, text
    assert '"column": "lifecycle"' in text and '"property": "spoke_score"' in text, text
    assert text.index('"op": "trim"') < text.index('"to": "upper"'), text
    assert '"direction": "both"' in text and '"outbound": [' in text and '"to": "lower"' in text, text
