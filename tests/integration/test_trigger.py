"""DubNewCustomersTrigger: serialisation without secrets, and runs against the emulator over HTTP."""

from __future__ import annotations

import asyncio
import json
import time

from airflow_provider_dub.protocol import pacer as pacer_module
from airflow_provider_dub.testing import DubEmulator, FaultKind
from airflow_provider_dub.triggers.dub import DubNewCustomersTrigger


def make_trigger(dub: DubEmulator, **overrides) -> DubNewCustomersTrigger:
    kwargs = {
        "dub_conn_id": "dub_default",
        "filters": {"country": "US"},
        "watermark": None,
        "since_ms": int(time.time() * 1000) - 1000,
        "min_new": 2,
        "poll_interval": 0.2,
        "end_time": time.time() + 20,
    }
    kwargs.update(overrides)
    return DubNewCustomersTrigger(**kwargs)


async def first_event(trigger: DubNewCustomersTrigger) -> dict:
    async for event in trigger.run():
        return event.payload
    raise AssertionError("the trigger ended without an event")


def test_serialise_round_trip_carries_no_secret(dub: DubEmulator) -> None:
    trigger = make_trigger(dub)
    path, kwargs = trigger.serialize()
    assert path == "airflow_provider_dub.triggers.dub.DubNewCustomersTrigger"
    assert dub.api_key not in json.dumps(kwargs)
    again = DubNewCustomersTrigger(**kwargs)
    assert again.serialize() == (path, kwargs)


def test_fires_when_enough_new_customers_arrive(dub: DubEmulator) -> None:
    def add_on_the_second_poll(record) -> None:
        if len(dub.requests) == 1:
            for added in dub.add_customers(2):
                dub.update_customer(added["id"], country="US")

    dub.before_request(add_on_the_second_poll)
    event = asyncio.run(first_event(make_trigger(dub)))
    assert event == {"status": "success", "found": 2}
    assert len(dub.requests) == 2 and all(r.query.get("country") == "US" for r in dub.requests)


def test_times_out_at_its_own_end_time(dub: DubEmulator) -> None:
    started = time.monotonic()
    event = asyncio.run(first_event(make_trigger(dub, end_time=time.time() + 1.0)))
    assert event == {"status": "timeout"}
    assert time.monotonic() - started < 5


def test_a_dub_error_becomes_an_error_event_with_dubs_message(dub: DubEmulator, monkeypatch) -> None:
    conn = json.loads(dub.airflow_conn_json())
    monkeypatch.setenv("AIRFLOW_CONN_DUB_DEFAULT", json.dumps({**conn, "password": "dub_" + "x" * 24}))
    event = asyncio.run(first_event(make_trigger(dub)))
    assert event == {
        "status": "error",
        "message": "Unauthorized: Invalid API key.",
        "code": "unauthorized",
        "http_status": 401,
        "doc_url": "https://dub.co/docs/api-reference/errors#unauthorized",
    }


def test_429_with_millisecond_headers_is_waited_out(monkeypatch) -> None:
    monkeypatch.setattr(pacer_module, "WINDOW_SECONDS", 0.5)  # the client models the emulator's window
    with DubEmulator(customers=300, seed=2, rate_limit_window=0.5) as dub:
        monkeypatch.setenv("AIRFLOW_CONN_DUB_DEFAULT", dub.airflow_conn_json())

        def limit_then_add(record) -> None:
            if len(dub.requests) == 0:
                dub.inject(FaultKind.RATE_LIMIT, times=2)
                for added in dub.add_customers(1):
                    dub.update_customer(added["id"], country="US")

        dub.before_request(limit_then_add)
        event = asyncio.run(first_event(make_trigger(dub, min_new=1)))
        assert event == {"status": "success", "found": 1}
        statuses = [r.status for r in dub.requests]
        assert statuses.count(429) == 2 and statuses[-1] == 200
