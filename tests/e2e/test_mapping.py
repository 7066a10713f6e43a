"""Mapping screen: discover the demo portal's contact properties, map, validate, dry-run, save."""
from conftest import choose, click, connect_demo_with_token, screenshot, wait_for


def test_map_contacts_preview_and_save(app):
    connect_demo_with_token(app)
    click(app, "button[data-nav=mapping]")
    wait_for(app, "[data-testid=mappings-empty]")
    screenshot(app, "mapping-1-empty")
    click(app, "button[data-action=new-mapping]")
    choose(app, "select[data-field=object]", "contacts")
    wait_for(app, "tr.mapped[data-property=email]")
    mapped = app.find_elements("css selector", "tr.mapped")
    assert len(mapped) >= 4, "a new contacts mapping starts with the usual properties"
    issues = wait_for(app, "[data-testid=mapping-issues]")
    assert issues.get_attribute("data-errors") == "0", issues.text
    screenshot(app, "mapping-2-editor")

    # an enum value map on lifecycle stage: HubSpot's "customer" lands locally as "client"
    click(app, "tr[data-property=lifecyclestage] button[data-action=value-map]")
    option = wait_for(app, "tr[data-value-map=lifecyclestage] input[data-option=customer]")
    option.send_keys("client")
    screenshot(app, "mapping-3-value-map")

    # a criteria filter: only contacts whose lifecycle stage is set
    click(app, "button[data-action=add-criterion]")
    crit = wait_for(app, "[data-criterion='0']")
    choose(app, "[data-criterion='0'] select", "lifecyclestage")
    choose(app, "[data-criterion='0'] select:nth-of-type(2)", "HAS_PROPERTY")
    import time; time.sleep(1.0)
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
