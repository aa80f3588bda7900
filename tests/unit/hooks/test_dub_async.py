"""DubAsyncHook over httpx's MockTransport, with a fake clock: no network, no real sleeping."""

from __future__ import annotations

import asyncio
import json
import random
import re
import types
from typing import Any

import httpx
import pytest

from airflow_provider_dub.exceptions import DubConnectionError, DubServerError
from airflow_provider_dub.hooks import dub as dub_module
from airflow_provider_dub.hooks import dub_async
from airflow_provider_dub.hooks.dub import DubHook
from airflow_provider_dub.hooks.dub_async import DubAsyncHook
from airflow_provider_dub.protocol import SequentialPlan, parse_customer_page
from tests.unit.hooks.test_attempts import RecordingLog, envelope

KEY = "dub_testkey123456789012345678"
BASE = "https://api.example.test"
PAGE = [{"id": "cus_2", "email": "b@example.com"}, {"id": "cus_1", "email": None}]
INVALID_CURSOR = "Invalid cursor: the provided ID does not exist."


class FakeClock:
    """``time`` for the hook modules, and an ``asyncio.sleep`` that moves it on instead of waiting."""

    def __init__(self) -> None:
        self.wall = 1_790_000_000.0
        self.sleeps: list[float] = []

    def time(self) -> float:
        return self.wall

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.wall += seconds

    async def async_sleep(self, seconds: float) -> None:
        self.sleep(seconds)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    fake = FakeClock()
    monkeypatch.setattr(dub_async, "time", fake)
    monkeypatch.setattr(dub_async, "asyncio", types.SimpleNamespace(sleep=fake.async_sleep))
    monkeypatch.setattr(dub_module, "time", fake)
    return fake


def set_connection(monkeypatch: pytest.MonkeyPatch, host: str = BASE, **extra: Any) -> None:
    conn = {"conn_type": "dub", "host": host, "password": KEY, "extra": extra}
    monkeypatch.setenv("AIRFLOW_CONN_DUB_DEFAULT", json.dumps(conn))


class Script:
    """Answers requests in order from a list of responses or exceptions; keeps the queries sent."""

    def __init__(self, *answers: httpx.Response | Exception) -> None:
        self.answers = list(answers)
        self.queries: list[dict[str, str]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.queries.append(dict(request.url.params))
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


def ok(rows: list[dict[str, Any]]) -> httpx.Response:
    return httpx.Response(200, json=rows)


def failing(status: int, code: str, message: str) -> httpx.Response:
    return httpx.Response(status, content=envelope(code, message))


def async_hook(script: Script, **kwargs: Any) -> tuple[DubAsyncHook, RecordingLog]:
    hook = DubAsyncHook(**{"requests_per_minute": 0, **kwargs})  # no pacing: the pacer has its own tests
    hook._rng = random.Random(3)
    hook._log = log = RecordingLog()
    hook._client = httpx.AsyncClient(transport=httpx.MockTransport(script))
    return hook, log


async def get(hook: DubAsyncHook, query: dict[str, str] | None = None) -> list[dict[str, Any]]:
    try:
        return await hook.get("/customers", query or {"pageSize": "2"}, parse_customer_page)
    finally:
        await hook.close()


class ScriptedPlan(SequentialPlan):
    """A read plan that asks for the given queries in order and records what the hook reports."""

    def __init__(self, *queries: dict[str, str]) -> None:
        self.queries = list(queries)
        self.done = False
        self.lost = 0

    def next_query(self) -> dict[str, str] | None:
        return self.queries.pop(0) if self.queries else None

    def accept_page(self, rows: Any) -> list[dict[str, Any]]:
        return list(rows)

    def cursor_lost(self, key: str = SequentialPlan.PAGE) -> list[dict[str, Any]]:
        self._answered()
        self.lost += 1
        return []


def test_a_page_comes_back_parsed(monkeypatch, clock) -> None:
    set_connection(monkeypatch)
    script = Script(ok(PAGE))
    hook, _ = async_hook(script)
    assert asyncio.run(get(hook, {"pageSize": "2", "country": "US"})) == PAGE
    assert script.queries == [{"pageSize": "2", "country": "US"}]
    assert hook.request_count == 1 and clock.sleeps == []


def test_a_5xx_is_retried_after_the_backoff(monkeypatch, clock) -> None:
    set_connection(monkeypatch)
    hook, log = async_hook(Script(failing(503, "internal_server_error", "boom"), ok(PAGE)))
    assert asyncio.run(get(hook)) == PAGE
    assert hook.request_count == 2 and len(clock.sleeps) == 1 and 0.25 <= clock.sleeps[0] <= 0.5
    assert [line[2][2] for line in log.lines if line[0] == "debug"] == [1, 2]  # attempt numbers


def test_a_task_level_retry_budget_of_zero_reaches_the_async_hook(monkeypatch, clock) -> None:
    set_connection(monkeypatch, max_retry_seconds=300)
    hook, _ = async_hook(Script(failing(503, "internal_server_error", "boom")), max_retry_seconds=0)
    with pytest.raises(DubServerError, match="boom"):
        asyncio.run(get(hook))
    assert hook.request_count == 1 and clock.sleeps == []


def test_a_transport_error_loses_the_query(monkeypatch, clock) -> None:
    set_connection(monkeypatch, max_retry_seconds=0)
    refused = httpx.ConnectError("failed: GET https://api.example.test/customers?email=ada%40example.com")
    hook, _ = async_hook(Script(refused))
    with pytest.raises(DubConnectionError) as raised:
        asyncio.run(get(hook, {"email": "ada@example.com"}))
    assert "ada" not in str(raised.value) and "/customers?..." in str(raised.value)


def test_a_scheme_less_base_url_that_fails_tls_says_how_to_write_it(monkeypatch, clock) -> None:
    set_connection(monkeypatch, host="127.0.0.1:8787")
    wrong_version = httpx.ConnectError("[SSL: WRONG_VERSION_NUMBER] wrong version number (_ssl.c:1006)")
    hook, _ = async_hook(Script(wrong_version))
    with pytest.raises(DubConnectionError, match=re.escape("write 'http://127.0.0.1:8787' in the Base URL")):
        asyncio.run(get(hook))
    assert hook.request_count == 1  # not retried: the handshake cannot succeed


def test_run_plan_resumes_after_a_deleted_cursor_and_says_so(monkeypatch, clock) -> None:
    set_connection(monkeypatch)
    plan = ScriptedPlan({"pageSize": "2"}, {"pageSize": "2", "startingAfter": "cus_1"}, {"pageSize": "2"})
    script = Script(ok(PAGE), failing(422, "unprocessable_entity", INVALID_CURSOR), ok([]))
    hook, log = async_hook(script)

    async def read() -> list[list[dict[str, Any]]]:
        try:
            return [page async for page in hook.run_plan(plan)]
        finally:
            await hook.close()

    assert asyncio.run(read()) == [PAGE, [], []]  # the deleted cursor's answer yields nothing
    assert plan.lost == 1
    assert ("info", "Dub cursor %s was deleted during the read; resuming", ("cus_1",)) in log.lines


def test_both_transports_log_the_same_lines(monkeypatch, clock, requests_mock) -> None:
    """The same answers through DubHook (requests) and DubAsyncHook (httpx): the same log lines."""
    set_connection(monkeypatch)
    plan_queries = ({"pageSize": "2"}, {"pageSize": "2", "startingAfter": "cus_1"})
    hook, async_log = async_hook(
        Script(
            failing(500, "internal_server_error", "boom"),
            ok(PAGE),
            failing(422, "unprocessable_entity", INVALID_CURSOR),
        )
    )

    async def read() -> None:
        try:
            async for _ in hook.run_plan(ScriptedPlan(*plan_queries)):
                pass
        finally:
            await hook.close()

    asyncio.run(read())

    requests_mock.get(
        f"{BASE}/customers",
        [
            {"status_code": 500, "content": envelope("internal_server_error", "boom")},
            {"status_code": 200, "json": PAGE},
            {"status_code": 422, "content": envelope("unprocessable_entity", INVALID_CURSOR)},
        ],
    )
    sync_hook = DubHook(requests_per_minute=0)
    sync_hook._rng = random.Random(3)
    sync_hook._log = sync_log = RecordingLog()
    list(sync_hook.run_plan(ScriptedPlan(*plan_queries)))  # type: ignore[arg-type]

    assert async_log.lines == sync_log.lines
    assert [level for level, _, _ in sync_log.lines] == ["debug", "warning", "debug", "debug", "info"]
