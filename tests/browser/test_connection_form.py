"""The Dub connection form in the real Airflow 3.3 UI: relabelled fields, extras, the Test button."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest

from airflow_provider_dub.get_provider_info import CONNECTION_FIELDS
from tests.browser.connection_page import (
    choose_connection_type,
    connection_row,
    open_connections,
    portless_test_is_refused,
    send_portless_tests_without_port,
    toast,
    visible_labels,
    wait_for_toasts_to_go,
)

if TYPE_CHECKING:
    from playwright.sync_api import Page

    from airflow_provider_dub.testing import DubEmulator
    from tests.browser.airflow_server import AirflowApiServer
    from tests.browser.conftest import Screenshots

CONN_ID = "dub_from_the_form"
#: Shaped like a Dub key ("dub_" + 24 alphanumerics), but not one the emulator issued.
WRONG_KEY = "dub_" + "WrongKey" * 3
#: Every extra field the provider declares (conn-fields), the rate limit first.
EXTRA_LABELS = tuple(field["label"] for field in CONNECTION_FIELDS.values())


@pytest.mark.timeout(240)
def test_dub_connection_form_and_test_button(
    page: Page, airflow_server: AirflowApiServer, emulator: DubEmulator, screenshots: Screenshots
) -> None:
    # Admin → Connections → Add Connection, type Dub.
    open_connections(page, airflow_server.url)
    page.get_by_role("button", name="Add Connection").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_label("Connection ID").fill(CONN_ID)
    choose_connection_type(page, dialog, "Dub")

    # The standard fields, relabelled; login, schema and port hidden.
    dialog.get_by_label("API key").wait_for()
    labels = visible_labels(dialog)
    assert {"Base URL", "API key"} <= set(labels), labels
    assert not {"Host", "Login", "Password", "Schema", "Port"} & set(labels), labels
    assert dialog.get_by_label("Base URL").get_attribute("placeholder") == "https://api.dub.co"
    dialog.get_by_label("Base URL").fill(emulator.url)
    dialog.get_by_label("API key").fill(emulator.api_key)
    screenshots.save(page, "screenshots/connection-form.png")

    # The extras, from provider info's conn-fields, with their defaults.
    dialog.get_by_role("button", name="Extra Fields", exact=True).click()
    rate_limit = dialog.get_by_label(CONNECTION_FIELDS["requests_per_minute"]["label"])
    rate_limit.wait_for()
    assert set(EXTRA_LABELS) <= set(visible_labels(dialog))
    assert rate_limit.input_value() == "1200"
    rate_limit.fill("600")
    screenshots.save(page, "screenshots/connection-extra-fields.png")
    dialog.get_by_role("button", name="Save").click()
    toast(page, "Connection has been successfully created")
    row = connection_row(page, CONN_ID)
    row.wait_for()

    if portless_test_is_refused(airflow_server, CONN_ID):
        send_portless_tests_without_port(page)

    # Test with the emulator's key: Airflow runs DubHook.test_connection, which asks the emulator.
    wait_for_toasts_to_go(page)
    row.get_by_role("button", name="Test Connection").click()
    success = toast(page, "Test Connection Successful")
    assert "Connection successful: the API key can list Dub customers." in success.inner_text()
    screenshots.save(page, "screenshots/connection-test-success.png")
    assert [r.status for r in emulator.requests if r.path == "/customers"][-1] == 200

    # A wrong key: the Test button shows Dub's own message.
    wait_for_toasts_to_go(page)
    row.get_by_role("button", name="Edit Connection").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_label("API key").fill(WRONG_KEY)
    dialog.get_by_role("button", name="Save").click()
    toast(page, "Connection has been successfully updated")
    wait_for_toasts_to_go(page)
    row.get_by_role("button", name="Test Connection").click()
    failure = toast(page, "Test Connection Failed")
    assert "Unauthorized: Invalid API key." in failure.inner_text()
    screenshots.save(page, "screenshots/connection-test-failure.png")
    assert [r.status for r in emulator.requests if r.path == "/customers"][-1] == 401

    # What the form saved, read back through the REST API.
    saved = airflow_server.api("GET", f"/connections/{CONN_ID}")
    assert saved.status_code == 200, saved.text
    connection = saved.json()
    assert connection["conn_type"] == "dub"
    assert connection["host"] == emulator.url
    assert connection["login"] in (None, "") and connection["port"] is None
    assert json.loads(connection["extra"])["requests_per_minute"] == 600
