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
    click(app, "button[data-action=preview]")
    preview = wait_for(app, "[data-testid=mapping-preview]")
    assert len(preview.find_elements("css selector", "tbody tr")) == 10, preview.text
    assert "create" in preview.text.lower()
    app.execute_script("arguments[0].scrollIntoView()", preview)
    screenshot(app, "mapping-3-preview")
    click(app, "button[data-action=save-mapping]")
    wait_for(app, ".actions .ok")
    click(app, ".actions button:not(.primary)")  # Back
    card = wait_for(app, "[data-testid=mapping-list] [data-mapping]")
    assert "contacts" in card.text
    screenshot(app, "mapping-4-list")
