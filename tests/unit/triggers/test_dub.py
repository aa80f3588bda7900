"""DubNewCustomersTrigger with DubAsyncHook.run_plan patched: its events, its end time, its hook settings."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import pendulum
import pytest

from airflow_provider_dub.exceptions import DubConnectionError, DubRateLimitError
from airflow_provider_dub.hooks.dub_async import DubAsyncHook
from airflow_provider_dub.protocol import Watermark
from airflow_provider_dub.sensors.dub import error_from_event
from airflow_provider_dub.triggers.dub import DubNewCustomersTrigger

KEY = "dub_" + "k" * 24


class Polls:
    """Stands in for ``DubAsyncHook.run_plan``: each poll finds the next count, or raises it."""

    def __init__(self, *outcomes: int | Exception) -> None:
        self.outcomes = list(outcomes)
        self.hooks: list[DubAsyncHook] = []

    async def run_plan(self, hook: DubAsyncHook, plan: Any) -> AsyncIterator[list[dict[str, Any]]]:
        self.hooks.append(hook)
        outcome = self.outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        yield [{"id": f"cus_{n}"} for n in range(outcome)]


@pytest.fixture(autouse=True)
def _connection(monkeypatch: pytest.MonkeyPatch) -> None:
    conn = {
        "conn_type": "dub",
        "host": "http://127.0.0.1:9",
        "password": KEY,
        "extra": {"max_retry_seconds": 300},
    }
    monkeypatch.setenv("AIRFLOW_CONN_DUB_DEFAULT", json.dumps(conn))


def patch_polls(monkeypatch: pytest.MonkeyPatch, *outcomes: int | Exception) -> Polls:
    polls = Polls(*outcomes)
    monkeypatch.setattr(DubAsyncHook, "run_plan", lambda hook, plan: polls.run_plan(hook, plan))
    return polls


def make_trigger(**overrides: Any) -> DubNewCustomersTrigger:
    kwargs: dict[str, Any] = {
        "dub_conn_id": "dub_default",
        "hook_params": {"max_retry_seconds": 7},
        "filters": {"country": "US"},
        "watermark": Watermark("cus_1KQ", ["cus_1KQ"], 1_799_000_000_000).to_json(),
        "since_ms": None,
        "min_new": 2,
        "poll_interval": 0.001,
        "end_time": time.time() + 30,
    }
    return DubNewCustomersTrigger(**{**kwargs, **overrides})


def events(trigger: DubNewCustomersTrigger) -> list[dict[str, Any]]:
    async def collect() -> list[dict[str, Any]]:
        return [event.payload async for event in trigger.run()]

    return asyncio.run(collect())


def test_serialize_carries_hook_params_and_round_trips() -> None:
    path, kwargs = make_trigger().serialize()
    assert path == "airflow_provider_dub.triggers.dub.DubNewCustomersTrigger"
    assert kwargs["hook_params"] == {"max_retry_seconds": 7}
    assert KEY not in json.dumps(kwargs)
    assert DubNewCustomersTrigger(**kwargs).serialize() == (path, kwargs)


def test_a_trigger_stored_before_hook_params_existed_still_loads() -> None:
    _, kwargs = make_trigger().serialize()
    del kwargs["hook_params"]
    assert DubNewCustomersTrigger(**kwargs).hook_params == {}


def test_polls_until_enough_are_new_with_the_tasks_hook_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    polls = patch_polls(monkeypatch, 0, 1, 2)
    assert events(make_trigger()) == [{"status": "success", "found": 2}]
    assert len(polls.hooks) == 3 and len({id(hook) for hook in polls.hooks}) == 1  # one hook, three polls
    hook = polls.hooks[0]
    assert hook.overrides.max_retry_seconds == 7
    assert asyncio.run(hook.get_settings()).max_retry_seconds == 7  # over the connection's 300


def test_the_sensors_task_level_max_retry_seconds_reaches_dubasynchook(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from unittest import mock

    from airflow.providers.common.compat.sdk import TaskDeferred

    from airflow_provider_dub.sensors import dub as sensor_module
    from airflow_provider_dub.sensors.dub import DubNewCustomersSensor

    store_class = mock.MagicMock()
    store_class.return_value.load.return_value = None  # a first run: new since the data interval
    monkeypatch.setattr(sensor_module, "WatermarkStore", store_class)
    monkeypatch.setattr(sensor_module.DubNewCustomersSensor, "collect", lambda self, context: None)
    sensor = DubNewCustomersSensor(
        task_id="wait", deferrable=True, poke_interval=0.001, hook_params={"max_retry_seconds": 7}
    )
    with pytest.raises(TaskDeferred) as deferral:
        sensor.execute({"ti": object(), "data_interval_start": pendulum.now("UTC")})  # type: ignore[arg-type]
    _, kwargs = deferral.value.trigger.serialize()
    polls = patch_polls(monkeypatch, 5)
    assert events(DubNewCustomersTrigger(**json.loads(json.dumps(kwargs)))) == [
        {"status": "success", "found": 5}
    ]
    assert polls.hooks[0].overrides.max_retry_seconds == 7


def test_times_out_at_its_end_time_without_polling(monkeypatch: pytest.MonkeyPatch) -> None:
    polls = patch_polls(monkeypatch)
    assert events(make_trigger(end_time=time.time() - 1)) == [{"status": "timeout"}]
    assert polls.hooks == []


def test_a_poll_running_past_the_end_time_is_abandoned(monkeypatch: pytest.MonkeyPatch) -> None:
    async def hangs(hook: DubAsyncHook, plan: Any) -> AsyncIterator[list[dict[str, Any]]]:
        await asyncio.sleep(60)
        yield []

    monkeypatch.setattr(DubAsyncHook, "run_plan", hangs)
    monkeypatch.setattr(DubNewCustomersTrigger, "poll_grace", 0.05)
    started = time.monotonic()
    assert events(make_trigger(end_time=time.time() + 0.05)) == [{"status": "timeout"}]
    assert time.monotonic() - started < 2


def test_a_dub_api_error_becomes_an_event_the_sensor_turns_back_into_its_class(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    error = DubRateLimitError("rate_limit_exceeded", "Too many requests.", "https://dub.co/docs/x", 429)
    patch_polls(monkeypatch, 0, error)
    (event,) = events(make_trigger())
    assert event == {
        "status": "error",
        "message": "Too many requests.",
        "code": "rate_limit_exceeded",
        "http_status": 429,
        "doc_url": "https://dub.co/docs/x",
    }
    again = error_from_event(json.loads(json.dumps(event)))
    assert type(again) is DubRateLimitError and str(again) == str(error)


def test_another_dub_error_becomes_an_error_event_without_a_code(monkeypatch: pytest.MonkeyPatch) -> None:
    patch_polls(monkeypatch, DubConnectionError("Dub did not answer GET /customers: ConnectError"))
    assert events(make_trigger()) == [
        {"status": "error", "message": "Dub did not answer GET /customers: ConnectError", "code": None}
    ]
