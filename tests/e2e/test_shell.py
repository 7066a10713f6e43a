"""The app shell: window title, navigation, and the Connections empty state."""
from conftest import screenshot


def test_window_title_and_navigation(app):
    assert app.title == "Spoke"
    nav = app.find_element("css selector", "nav[aria-label=Main]")
    labels = [b.text for b in nav.find_elements("css selector", "button[data-nav]")]
    assert labels[0] == "Connections", labels
    # every navigation entry leads to a real screen with its own heading
    for button in nav.find_elements("css selector", "button[data-nav]"):
        button.click()
        heading = app.find_element("css selector", "main h1")
        assert heading.text == button.text
        assert button.get_attribute("aria-current") == "page"


def test_connections_empty_state_explains_first_steps(app):
    app.find_element("css selector", "button[data-nav=connections]").click()
    empty = app.find_element("css selector", "[data-testid=connections-empty]")
    text = empty.text
    assert "Connect a HubSpot portal" in text
    assert "Try the demo portal" in text
    assert app.find_element("css selector", "button[data-action=connect]").is_displayed()
    assert app.find_element("css selector", "button[data-action=demo]").is_displayed()
    # the version footer proves the IPC round trip (app_info) is granted and works
    assert app.find_element("css selector", "nav .foot").text.startswith("Spoke ")
    screenshot(app, "connections-empty")
