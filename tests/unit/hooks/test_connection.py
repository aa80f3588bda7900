"""Reading the ``dub`` connection: the API key field, a Base URL without a scheme."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
import requests

from airflow_provider_dub.exceptions import DubConnectionError, DubValidationError
from airflow_provider_dub.hooks.connection import settings_from_connection
from airflow_provider_dub.hooks.dub import DubHook

KEY = "dub_testkey123456789012345678"


class Conn:
    """The attributes of an Airflow connection that the settings read."""

    def __init__(self, host: str | None, password: str | None = KEY, conn_id: str = "tmp_x8d2kq") -> None:
        self.host, self.password, self.conn_id, self.extra_dejson = host, password, conn_id, {}


def settings(host: str | None):
    return settings_from_connection(Conn(host))  # type: ignore[arg-type]


@pytest.mark.parametrize("password", [None, "", "   "])
def test_an_empty_key_names_the_field_not_the_temporary_connection_id(password) -> None:
    with pytest.raises(DubValidationError) as raised:
        settings_from_connection(Conn("https://api.dub.co", password))  # type: ignore[arg-type]
    assert raised.value.param == "password"
    assert "API key field (password) is empty" in str(raised.value)
    assert "tmp_x8d2kq" not in str(raised.value)


@pytest.mark.parametrize(
    ("host", "base_url", "hint"),
    [
        ("127.0.0.1:8787", "https://127.0.0.1:8787", "write 'http://127.0.0.1:8787' in the Base URL"),
        ("api.dub.co/", "https://api.dub.co", "write 'http://api.dub.co' in the Base URL"),
        ("http://127.0.0.1:8787", "http://127.0.0.1:8787", None),
        ("https://api.dub.co", "https://api.dub.co", None),
        (None, "https://api.dub.co", None),
        ("  ", "https://api.dub.co", None),
    ],
)
def test_a_base_url_without_a_scheme_gets_https_and_a_hint_for_tls_failures(host, base_url, hint) -> None:
    read = settings(host)
    assert read.base_url == base_url
    if hint is None:
        assert read.tls_hint is None
    else:
        assert hint in (read.tls_hint or "")


def test_the_sync_hook_ends_a_tls_failure_of_a_scheme_less_url_with_the_hint(
    monkeypatch: pytest.MonkeyPatch, requests_mock: Any
) -> None:
    conn = {"conn_type": "dub", "host": "127.0.0.1:8787", "password": KEY}
    monkeypatch.setenv("AIRFLOW_CONN_DUB_DEFAULT", json.dumps(conn))
    wrong_version = requests.exceptions.SSLError("[SSL: WRONG_VERSION_NUMBER] wrong version number")
    requests_mock.get("https://127.0.0.1:8787/customers", exc=wrong_version)
    hook = DubHook(requests_per_minute=0)
    with pytest.raises(DubConnectionError, match=re.escape("write 'http://127.0.0.1:8787' in the Base URL")):
        hook.list_customers()
    assert hook.request_count == 1  # at once, not after the retry budget
    ok, message = hook.test_connection()
    assert not ok and "http://127.0.0.1:8787" in message
