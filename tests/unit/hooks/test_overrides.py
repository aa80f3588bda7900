"""Task-level hook settings: DubHook and DubAsyncHook accept and check the same overrides."""

from __future__ import annotations

import asyncio
import json

import pytest

from airflow_provider_dub.exceptions import DubValidationError
from airflow_provider_dub.hooks.dub import DubHook
from airflow_provider_dub.hooks.dub_async import DubAsyncHook

KEY = "dub_testkey123456789012345678"


@pytest.fixture(autouse=True)
def _connection(monkeypatch: pytest.MonkeyPatch) -> None:
    extra = {"max_retry_seconds": 120, "requests_per_minute": 600}
    conn = {"conn_type": "dub", "host": "http://127.0.0.1:9", "password": KEY, "extra": extra}
    monkeypatch.setenv("AIRFLOW_CONN_DUB_DEFAULT", json.dumps(conn))


def _async_settings(hook: DubAsyncHook):
    return asyncio.run(hook.get_settings())


@pytest.mark.parametrize("hook_class", [DubHook, DubAsyncHook])
def test_overrides_replace_the_connection_extras(hook_class) -> None:
    hook = hook_class(max_retry_seconds="7.5", requests_per_minute="0")
    settings = hook.settings if hook_class is DubHook else _async_settings(hook)
    assert (settings.max_retry_seconds, settings.requests_per_minute) == (7.5, None)


@pytest.mark.parametrize("hook_class", [DubHook, DubAsyncHook])
def test_without_overrides_the_extras_apply(hook_class) -> None:
    hook = hook_class()
    settings = hook.settings if hook_class is DubHook else _async_settings(hook)
    assert (settings.max_retry_seconds, settings.requests_per_minute) == (120, 600)


@pytest.mark.parametrize("hook_class", [DubHook, DubAsyncHook])
@pytest.mark.parametrize(
    ("kwargs", "param"),
    [
        ({"max_retry_seconds": -1}, "max_retry_seconds"),
        ({"max_retry_seconds": float("inf")}, "max_retry_seconds"),
        ({"max_retry_seconds": True}, "max_retry_seconds"),
        ({"requests_per_minute": -5}, "requests_per_minute"),
        ({"requests_per_minute": "many"}, "requests_per_minute"),
    ],
)
def test_a_bad_override_is_refused_at_construction(hook_class, kwargs, param) -> None:
    with pytest.raises(DubValidationError, match=f"'{param}'") as raised:
        hook_class(**kwargs)
    assert raised.value.param == param
