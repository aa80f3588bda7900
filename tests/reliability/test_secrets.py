"""
Secret and PII hygiene of the hook, the async hook, the operator, the sensor and the trigger.

With a recognisable API key (a fresh one from the emulator's ``add_key()``): the serialised trigger
and every exception text hold neither the key nor customer data; raw log records, captured before
any formatting or Airflow's masking, never show the key nor the ``Authorization`` header even at
DEBUG, and hold no customer email or name (also URL-encoded, as in a query) at INFO and above. The
example DAGs, run for real, are checked in ``test_example_dags.py``.
"""

from __future__ import annotations

import asyncio
import logging
import time
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import structlog

from airflow_provider_dub.hooks.dub import DubHook
from airflow_provider_dub.operators.dub import DubListCustomersOperator
from airflow_provider_dub.protocol import RetryPolicy
from airflow_provider_dub.protocol.pacer import forget_pacers
from airflow_provider_dub.sensors.dub import DubNewCustomersSensor
from airflow_provider_dub.testing import DubEmulator, FaultKind
from airflow_provider_dub.triggers.dub import DubNewCustomersTrigger
from tests.reliability.hygiene import UNREACHABLE, connection, found, pii

# -- in this process: the trigger, exceptions, raw log records -------------------------------------


def test_the_serialised_trigger_holds_no_key(monkeypatch: pytest.MonkeyPatch) -> None:
    with DubEmulator(customers=50, seed=3) as dub:
        key = dub.add_key()
        monkeypatch.setenv("AIRFLOW_CONN_DUB_DEFAULT", connection(dub, key))
        sensor = DubNewCustomersSensor(task_id="wait", deferrable=True, country="US", timeout=60)
        deferred: list[Any] = []
        monkeypatch.setattr(sensor, "defer", lambda **kwargs: deferred.append(kwargs["trigger"]))

        class TaskInstance:  # what the sensor and its watermark store read: no earlier successful run
            dag_id, task_id, run_id, map_index = "dag", "wait", "manual__1", -1

            def get_ti_count(self, **kwargs: Any) -> int:
                return 0

        sensor.execute({"ti": TaskInstance(), "data_interval_start": None})  # type: ignore[arg-type]
        assert dub.request_count() == 1  # the sensor checked once, then deferred
    (trigger,) = deferred
    classpath, kwargs = trigger.serialize()
    assert classpath == "airflow_provider_dub.triggers.dub.DubNewCustomersTrigger"
    text = repr(kwargs)
    assert key not in text and "password" not in text
    assert kwargs["dub_conn_id"] == "dub_default"
    assert DubNewCustomersTrigger(**kwargs).serialize() == (classpath, kwargs)


def _failures(dub: DubEmulator, key: str, monkeypatch: pytest.MonkeyPatch) -> list[BaseException]:
    """The errors of a hook with the key, Dub failing every way it can; and of the connection's Test."""
    email = next(c["email"] for c in dub.customers() if c["email"])
    errors: list[BaseException] = []
    cases = [
        ("503", FaultKind.SERVER_ERROR),
        ("429", FaultKind.RATE_LIMIT),
        ("drop", FaultKind.DROP),
        ("truncate", FaultKind.TRUNCATE),
        ("slow", FaultKind.SLOW),
    ]
    for _, fault in cases:
        monkeypatch.setenv("AIRFLOW_CONN_DUB_DEFAULT", connection(dub, key, read_timeout=0.2))
        dub.inject(fault, times=100, delay=0.5, status=503)
        hook = DubHook(max_retry_seconds=0.3)
        hook.retry_policy = RetryPolicy(max_retry_seconds=0.3, backoff_base=0.05, backoff_cap=0.1)
        with pytest.raises(Exception) as raised:
            list(hook.iter_customers(search=email))
        errors.append(raised.value)
        dub.clear_faults()
        forget_pacers()  # after the injected 429 the client would rightly wait for Dub's next minute
    monkeypatch.setenv(
        "AIRFLOW_CONN_DUB_DEFAULT", connection(dub, key, host=UNREACHABLE, max_retry_seconds=0)
    )
    with pytest.raises(Exception) as raised:
        DubHook().list_customers(email=email)
    errors.append(raised.value)
    monkeypatch.setenv("AIRFLOW_CONN_DUB_DEFAULT", connection(dub, key + "x"))
    with pytest.raises(Exception) as raised:
        DubHook().count_customers(email=email)
    errors.append(raised.value)
    return errors


def test_exception_texts_hold_neither_the_key_nor_customer_data(monkeypatch: pytest.MonkeyPatch) -> None:
    with DubEmulator(customers=300, seed=5) as dub:
        key = dub.add_key()
        errors = _failures(dub, key, monkeypatch)
        private = pii(dub.customers())
        monkeypatch.setenv("AIRFLOW_CONN_DUB_DEFAULT", connection(dub, key, host=UNREACHABLE))
        ok, message = DubHook().test_connection()
    assert not ok
    names = sorted({type(error).__name__ for error in errors})
    assert names == ["DubConnectionError", "DubRateLimitError", "DubServerError", "DubUnauthorizedError"]
    for error in [*errors, RuntimeError(message)]:
        texts = [str(error), repr(error), "".join(traceback.format_exception(error)), repr(vars(error))]
        for text in texts:
            assert key not in text, text
            assert found(private, text) == [], text


_LEVELS = {"debug": 10, "info": 20, "msg": 20, "warning": 30, "warn": 30, "error": 40, "exception": 40}


@contextmanager
def raw_logs(level: int) -> Iterator[list[tuple[int, str]]]:
    """
    Every log record at ``level`` or above, as ``(level, text)``, before any formatting or masking:
    the provider's structlog events and the standard library's alike. At DEBUG, the HTTP libraries'
    loggers (urllib3, httpx, httpcore) are turned up to DEBUG too, as when debugging requests; above
    it they keep the levels Airflow gives them (httpx: WARNING).
    """
    records: list[tuple[int, str]] = []
    saved = structlog.get_config()

    def keep(logger: Any, method: str, event: dict[str, Any]) -> Any:
        records.append((_LEVELS.get(method, logging.INFO), str(event)))
        raise structlog.DropEvent

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append((record.levelno, f"{record.name}: {record.getMessage()} {record.exc_text or ''}"))

    handler = Keep(level)
    names = ("", "urllib3", "httpx", "httpcore", "requests") if level <= logging.DEBUG else ("",)
    loggers = [logging.getLogger(name) for name in names]
    levels = [logger.level for logger in loggers]
    structlog.configure(
        processors=[structlog.stdlib.PositionalArgumentsFormatter(), keep],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        cache_logger_on_first_use=False,
    )
    for logger in loggers:
        logger.setLevel(min(level, logger.getEffectiveLevel()))
    loggers[0].addHandler(handler)
    try:
        yield records
    finally:
        loggers[0].removeHandler(handler)
        for logger, old in zip(loggers, levels, strict=True):
            logger.setLevel(old)
        structlog.configure(**saved)


def _exercise(dub: DubEmulator, key: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Reads through every path that logs: sync and parallel, retries, the operator, the trigger."""
    customers = dub.customers()
    email = next(c["email"] for c in customers if c["email"])
    name = next(c["name"] for c in customers if c["name"])
    monkeypatch.setenv("AIRFLOW_CONN_DUB_DEFAULT", connection(dub, key, read_timeout=0.3))
    dub.random_faults({FaultKind.SERVER_ERROR: 0.1, FaultKind.DROP: 0.1, FaultKind.TRUNCATE: 0.1}, seed=4)
    hook = DubHook()
    hook.retry_policy = RetryPolicy(backoff_base=0.01, backoff_cap=0.05)
    assert len(list(hook.iter_customers())) == len(customers)
    list(hook.iter_customers(search=name, limit=5))
    hook.list_customers(email=email)
    dub.clear_faults()
    operator = DubListCustomersOperator(
        task_id="export", search=name, output_path=f"file://{tmp_path}/c.jsonl"
    )
    operator.execute(context={"outlet_events": {}})  # type: ignore[arg-type]
    monkeypatch.setenv("AIRFLOW_CONN_DUB_DEFAULT", connection(dub, key, host=UNREACHABLE))
    unreachable = DubHook()  # retried (and logged) for 0.3 s, then raised
    unreachable.retry_policy = RetryPolicy(max_retry_seconds=0.3, backoff_base=0.05, backoff_cap=0.1)
    with pytest.raises(Exception, match="did not answer"):
        unreachable.list_customers(email=email)
    monkeypatch.setenv("AIRFLOW_CONN_DUB_DEFAULT", connection(dub, key))
    trigger = DubNewCustomersTrigger(
        dub_conn_id="dub_default",
        filters={"email": email},
        watermark=None,
        since_ms=0,
        min_new=1,
        poll_interval=0,
        end_time=time.time() + 10,
    )

    async def events() -> list[Any]:
        return [event async for event in trigger.run()]

    dub.inject(FaultKind.SERVER_ERROR, times=1)
    assert asyncio.run(events())


def test_debug_logs_of_requests_never_show_the_key(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    with DubEmulator(customers=600, seed=8) as dub:
        key = dub.add_key()
        with raw_logs(logging.DEBUG) as records:
            _exercise(dub, key, monkeypatch, tmp_path)
    text = "\n".join(message for _, message in records)
    # the capture works: the hook's request log, urllib3's and httpcore's are all in it
    assert "Dub GET /customers" in text and "urllib3" in text and "httpcore" in text
    assert key not in text
    assert "Bearer" not in text


def test_info_logs_hold_no_customer_data(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    with DubEmulator(customers=600, seed=8) as dub:
        key = dub.add_key()
        private = pii(dub.customers())
        with raw_logs(logging.INFO) as records:
            _exercise(dub, key, monkeypatch, tmp_path)
    text = "\n".join(message for level, message in records if level >= logging.INFO)
    assert "failed" in text and "Wrote" in text  # warnings of the retries, the operator's summary
    leaked = found(private, text)
    assert leaked == [], [line for line in text.splitlines() if any(value in line for value in leaked)][:3]
    assert key not in text
