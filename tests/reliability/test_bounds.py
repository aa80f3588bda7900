"""
Bounds: every request has a timeout, a request's retries end within its budget, a trigger always
ends, and two tasks writing the same output path at once leave one complete file.
"""

from __future__ import annotations

import asyncio
import functools
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from airflow_provider_dub.exceptions import DubConnectionError, DubServerError
from airflow_provider_dub.hooks import dub_async
from airflow_provider_dub.hooks.dub import DubHook
from airflow_provider_dub.hooks.dub_async import DubAsyncHook
from airflow_provider_dub.protocol import RetryPolicy, parse_customer_page
from airflow_provider_dub.testing import DubEmulator, FaultKind
from airflow_provider_dub.triggers.dub import DubNewCustomersTrigger
from tests.reliability.conftest import set_connection

FAST = 1_000_000  # requests per minute: no client-side pacing


@pytest.fixture
def dub(monkeypatch: pytest.MonkeyPatch) -> Iterator[DubEmulator]:
    with DubEmulator(customers=400, seed=13, rate_limit=FAST) as emulator:
        set_connection(monkeypatch, emulator, extra={"requests_per_minute": FAST})
        yield emulator


# -- a trigger always ends ------------------------------------------------------------------------


async def _events(trigger: DubNewCustomersTrigger) -> list[Any]:
    return [event.payload async for event in trigger.run()]


def _run_trigger(trigger: DubNewCustomersTrigger) -> tuple[list[Any], float]:
    """Run the trigger to its end (a guard of 60 s turns a hang into a failure); its events and duration."""
    started = time.monotonic()
    events = asyncio.run(asyncio.wait_for(_events(trigger), 60))
    return events, time.monotonic() - started


def _trigger(seconds: float, min_new: int = 1, poll_interval: float = 0.2) -> DubNewCustomersTrigger:
    trigger = DubNewCustomersTrigger(
        dub_conn_id="dub_default",
        filters={},
        watermark=None,
        since_ms=int(time.time() * 1000),
        min_new=min_new,
        poll_interval=poll_interval,
        end_time=time.time() + seconds,
    )
    trigger.poll_grace = 1.0
    return trigger


@pytest.mark.parametrize(
    ("situation", "status"),
    [
        ("nothing new", "timeout"),
        ("Dub slower than the read timeout", "timeout"),
        ("Dub unreachable", "timeout"),
        ("Dub answers 503", "timeout"),
        ("the key is refused", "error"),
        ("customers arrive", "success"),
    ],
)
def test_the_trigger_ends_by_its_end_time(
    situation: str, status: str, dub: DubEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whatever Dub does, one event, and no later than end_time + poll_grace (default retry budget: 300 s)."""
    if situation == "Dub slower than the read timeout":
        set_connection(monkeypatch, dub, extra={"requests_per_minute": FAST, "read_timeout": 10})
        dub.inject(FaultKind.SLOW, times=100, delay=15)
    elif situation == "Dub unreachable":
        set_connection(monkeypatch, dub, host="http://127.0.0.1:9", extra={"requests_per_minute": FAST})
    elif situation == "Dub answers 503":
        dub.inject(FaultKind.SERVER_ERROR, times=1000, status=503)
    elif situation == "the key is refused":
        set_connection(monkeypatch, dub, password="dub_notakeynotakeynotakeyxx")
    elif situation == "customers arrive":
        dub.before_request(lambda record: dub.add_customers(2) if len(dub.requests) == 1 else None)
    trigger = _trigger(seconds=1.5)
    events, elapsed = _run_trigger(trigger)
    assert [event["status"] for event in events] == [status], events
    assert elapsed <= 1.5 + trigger.poll_grace + 1.0, f"the trigger ran {elapsed:.1f} s"


# -- retries end within the budget ----------------------------------------------------------------


#: Short backoffs: many attempts fit in the budget, so the attempts' own time shows.
QUICK_BACKOFF = {"backoff_base": 0.05, "backoff_cap": 0.2}


@pytest.mark.parametrize("hook_kind", ["DubHook", "DubAsyncHook"])
@pytest.mark.parametrize("fault", [FaultKind.SLOW, FaultKind.SERVER_ERROR, FaultKind.DROP])
def test_a_request_gives_up_within_its_retry_budget(
    fault: FaultKind, hook_kind: str, dub: DubEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """
    The budget bounds the whole retrying, failed attempts' own time included: a request ends at most
    ``max_retry_seconds`` + one attempt (here the read timeout) after its first attempt failed.
    """
    budget, read_timeout = 2.0, 0.5
    set_connection(
        monkeypatch,
        dub,
        extra={"requests_per_minute": FAST, "max_retry_seconds": budget, "read_timeout": read_timeout},
    )
    monkeypatch.setattr(dub_async, "RetryPolicy", functools.partial(RetryPolicy, **QUICK_BACKOFF))
    dub.inject(fault, times=10_000, delay=3.0, status=503)
    started = time.monotonic()
    with pytest.raises((DubConnectionError, DubServerError), match=r"gave up after \d+ attempts") as raised:
        if hook_kind == "DubHook":
            hook = DubHook()
            hook.retry_policy = RetryPolicy(max_retry_seconds=budget, **QUICK_BACKOFF)
            hook.list_customers()
        else:
            asyncio.run(_async_get())
    elapsed = time.monotonic() - started
    attempts = int(str(raised.value).split("gave up after ")[1].split()[0])
    assert attempts >= 3, "the request was not retried"
    # the first attempt, the budget, the last attempt (each at most the read timeout), and a little
    assert elapsed <= read_timeout + budget + read_timeout + 0.5, f"{attempts} attempts in {elapsed:.1f} s"


async def _async_get() -> None:
    hook = DubAsyncHook()
    try:
        await hook.get("/customers", {"pageSize": "10"}, parse_customer_page)
    finally:
        await hook.close()


# -- every request has a timeout ------------------------------------------------------------------


def test_every_request_of_the_hook_has_a_timeout(dub: DubEmulator, monkeypatch: pytest.MonkeyPatch) -> None:
    """Sequential, parallel and single requests, counts and the Test button: each with both timeouts."""
    import requests

    set_connection(
        monkeypatch, dub, extra={"requests_per_minute": FAST, "connect_timeout": 3, "read_timeout": 7}
    )
    timeouts: list[Any] = []
    send = requests.Session.request

    def recording(self: requests.Session, method: str, url: str, **kwargs: Any) -> Any:
        timeouts.append(kwargs.get("timeout"))
        return send(self, method, url, **kwargs)

    monkeypatch.setattr(requests.Session, "request", recording)
    hook = DubHook()
    assert len(list(hook.iter_customers())) == 400  # parallel: probe, count, samples, sweeps
    assert len(list(hook.iter_customers(limit=250))) == 250  # sequential
    hook.list_customers(page_size=5)
    hook.count_customers(country="US")
    assert hook.test_connection()[0]
    assert len(timeouts) == dub.request_count(None) >= 10
    assert set(timeouts) == {(3.0, 7.0)}


def test_every_request_of_the_async_hook_has_a_timeout(
    dub: DubEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    import httpx

    set_connection(
        monkeypatch, dub, extra={"requests_per_minute": FAST, "connect_timeout": 3, "read_timeout": 7}
    )
    timeouts: list[Any] = []
    send = httpx.AsyncClient.send

    async def recording(self: httpx.AsyncClient, request: httpx.Request, **kwargs: Any) -> Any:
        timeouts.append(request.extensions.get("timeout"))
        return await send(self, request, **kwargs)

    monkeypatch.setattr(httpx.AsyncClient, "send", recording)
    trigger = _trigger(seconds=5, min_new=3, poll_interval=0)
    dub.add_customers(3)  # created after the trigger's since
    events, _ = _run_trigger(trigger)
    assert [event["status"] for event in events] == ["success"]
    assert len(timeouts) == dub.request_count(None) >= 2
    assert all(t == {"connect": 3.0, "read": 7.0, "write": 7.0, "pool": 7.0} for t in timeouts), timeouts


# -- two writers, one path --------------------------------------------------------------------------

_WRITER = """
import sys
from airflow_provider_dub.operators.dub import DubListCustomersOperator

path, country, output_format = sys.argv[1:4]
operator = DubListCustomersOperator(
    task_id="export", output_path=path, country=country or None, output_format=output_format
)
print("READY", flush=True)
sys.stdin.readline()
summary = operator.execute(context={"outlet_events": {}})
print("WROTE", summary["records"], flush=True)
"""


@pytest.mark.parametrize("output_format", ["jsonl", "parquet"])
def test_two_tasks_writing_the_same_path_at_once_leave_one_complete_file(
    output_format: str, tmp_path: Any
) -> None:
    """Two processes export different selections to one path at the same time: one whole file wins."""
    import json
    import os
    import subprocess
    import sys

    path = tmp_path / "out" / f"customers.{output_format}"
    with DubEmulator(customers=2_000, seed=17, latency=0.02, rate_limit=FAST) as emulator:
        conn = json.loads(emulator.airflow_conn_json())
        conn["extra"] = {"requests_per_minute": FAST, "max_concurrency": 1}
        env = {**os.environ, "AIRFLOW_CONN_DUB_DEFAULT": json.dumps(conn)}
        # Each read's first request waits for the other's: the reads overlap however the two
        # processes happen to be scheduled (a loaded machine may start one a read's length late).
        both_started = threading.Barrier(2, timeout=60)
        started: set[str] = set()
        lock = threading.Lock()

        def hold_each_first_request_until_both_reads_started(record: Any) -> None:
            country = record.query.get("country") or ""
            with lock:
                first = country not in started
                started.add(country)
            if first:
                both_started.wait()

        emulator.before_request(hold_each_first_request_until_both_reads_started)
        writers = {
            country: subprocess.Popen(
                [sys.executable, "-c", _WRITER, f"file://{path}", country, output_format],
                env=env,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                text=True,
            )
            for country in ("US", "")
        }
        for process in writers.values():  # both have imported Airflow and built the operator
            assert process.stdout is not None
            assert process.stdout.readline().strip() == "READY"
        for process in writers.values():
            assert process.stdin is not None
            process.stdin.write("go\n")
            process.stdin.flush()
        outputs = {country: process.communicate(timeout=120)[0] for country, process in writers.items()}
        assert all(process.returncode == 0 for process in writers.values()), outputs
        truth = {
            "US": {c["id"] for c in emulator.customers() if c["country"] == "US"},
            "": emulator.customer_ids(),
        }
        spans = {
            country: [r.started for r in emulator.requests if (r.query.get("country") or "") == country]
            for country in truth
        }
    assert max(min(s) for s in spans.values()) < min(max(s) for s in spans.values()), (
        "the reads did not overlap"
    )
    if output_format == "jsonl":
        rows = [json.loads(line) for line in path.read_text().splitlines()]
    else:
        import pyarrow.parquet as pq

        rows = pq.read_table(path).to_pylist()
    ids = [row["id"] for row in rows]
    assert len(ids) == len(set(ids))
    assert set(ids) in (truth["US"], truth[""]), "the file is not one writer's complete output"
    assert [p.name for p in path.parent.iterdir()] == [path.name], "a temporary file was left behind"
