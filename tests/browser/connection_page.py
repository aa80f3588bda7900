"""Steps on Airflow 3.3's connections page (Admin → Connections), as a person takes them."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from playwright.sync_api import Locator, Page, Route

    from tests.browser.airflow_server import AirflowApiServer

TEST_ENDPOINT = "**/api/v2/connections/test"


def open_connections(page: Page, base_url: str) -> None:
    """Home → Admin → Connections."""
    page.goto(f"{base_url}/")
    page.get_by_role("button", name="Admin").click()
    page.get_by_role("menuitem", name="Connections").click()
    page.wait_for_url(f"{base_url}/connections")


def choose_connection_type(page: Page, dialog: Locator, hook_name: str) -> None:
    """Pick a type in the form's searchable select."""
    dialog.get_by_role("combobox", name="Connection Type").fill(hook_name)
    page.get_by_role("option", name=hook_name, exact=True).click()


def visible_labels(dialog: Locator) -> list[str]:
    """The form's visible field labels, without the required-field asterisk."""
    return [
        label.inner_text().replace("*", "").strip()
        for label in dialog.locator("label").all()
        if label.is_visible()
    ]


def connection_row(page: Page, conn_id: str) -> Locator:
    return page.get_by_role("row").filter(has=page.get_by_role("cell", name=conn_id, exact=True))


def wait_for_toasts_to_go(page: Page) -> None:
    """
    Wait until no notification is on screen, so that the next one is alone on its screenshot.

    They have no close button and go after a few seconds, unless the mouse rests on them (which
    pauses them): the mouse moves away first.
    """
    page.mouse.move(1, 1)
    page.locator("[data-scope=toast][data-part=root]").first.wait_for(state="detached")


def toast(page: Page, title: str) -> Locator:
    """The notification with this title, once it is on screen."""
    found = page.locator("[data-scope=toast][data-part=root]").filter(has_text=title)
    found.first.wait_for(state="visible")
    return found.first


def portless_test_is_refused(server: AirflowApiServer, conn_id: str) -> bool:
    """
    Whether this Airflow has the Test-button bug fixed upstream by apache/airflow#73298.

    The list's Test button posts ``port: Number(connection.port)``, which is ``0`` for a connection
    without a port; Airflow 3.3.1 and 3.3.2 take ``0`` for "another destination than the stored one"
    and refuse to reuse the stored (masked) key: 400 "The host or port to test differs ...". Asked
    through the REST API with exactly the body the button sends.
    """
    stored = server.api("GET", f"/connections/{conn_id}").json()
    body = {key: stored.get(key) or "" for key in ("conn_type", "connection_id", "host", "extra")}
    body |= {"description": "", "login": "", "password": "***", "port": 0, "schema": ""}
    response = server.api("POST", "/connections/test", json=body)
    return response.status_code == 400 and "differs from the stored connection" in response.text


def send_portless_tests_without_port(page: Page) -> None:
    """
    Make the Test button send ``port: null`` instead of ``0`` for a portless connection.

    This is what apache/airflow#73298 does on the server; everything else the browser sends, and the
    test itself (run by the API server through DubHook.test_connection), is untouched.
    """

    def rewrite(route: Route) -> None:
        body: dict[str, Any] = route.request.post_data_json or {}
        if body.get("port") == 0:
            body["port"] = None
        route.continue_(post_data=json.dumps(body))

    page.route(TEST_ENDPOINT, rewrite)
