"""
The fault suite: DubListCustomersOperator exporting a file from the emulator while it misbehaves.

Each scenario runs with three seeds: seed 1 as a real Airflow task (``dag.test()`` of
``test_dub_reliability_list``), seeds 2 and 3 through ``DubListCustomersOperator.execute()``; the
reads are parallel except for seed 2, which reads sequentially (one request in flight). For each run
the outcome must be the scenario's expected one:

* ``exact``: the file holds every customer present throughout the read exactly once, with its data
  as Dub has it, and nothing that never existed (when nothing changes: exactly the ground truth);
* ``fails``: the task fails with the expected error class and message, and leaves no file at all
  (not even a temporary one).

Every run also checks that its faults really happened. The table of all runs (faults x outcome x
requests) is printed at the end of the session and written to ``fault-table.txt`` in pytest's temp.
"""

from __future__ import annotations

import csv
import json
import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_dub.operators.dub import DubListCustomersOperator
from airflow_provider_dub.protocol import RetryPolicy
from airflow_provider_dub.protocol import pacer as pacer_module
from airflow_provider_dub.testing import DubEmulator, FaultKind
from tests.integration.airflow_runs import run_dag, task_states
from tests.reliability.conftest import set_connection
from tests.reliability.fault_table import FaultRow

CUSTOMERS = 2_500
FAST = 1_000_000  # requests per minute: no client-side pacing (the 429 scenarios bring their own limits)
SEEDS = (1, 2, 3)
FORMATS = {1: "jsonl", 2: "csv", 3: "parquet"}
#: Backoff for the runs through execute(): the same retry logic, shorter waits (dag.test runs keep the defaults).
QUICK = {"backoff_base": 0.05, "backoff_cap": 0.5}


Callback = Callable[[Any], None]


@dataclass
class Churn:
    """What a scenario changed during the read."""

    deleted: set[str] = field(default_factory=set)
    added: set[str] = field(default_factory=set)


@dataclass(frozen=True)
class Scenario:
    """
    One kind of trouble.

    :param name: the table's label.
    :param install: sets up the faults on the emulator (with a seeded RNG) and returns the callbacks to
        run before each request it serves; may record churn.
    :param happened: whether the run really met the trouble, from the emulator's request log.
    :param expect: ``exact``, or the name of the error class the task must fail with.
    :param message: for a failure, a regular expression the error text must match.
    """

    name: str
    install: Callable[[DubEmulator, random.Random, Churn], list[Callback]]
    happened: Callable[[list[Any], Churn], bool]
    expect: str = "exact"
    message: str = ""
    emulator: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    slow_delay: float = 0.0
    #: 429 scenarios: the most 429 answers, and the most seconds each may cost (the window is 1 s,
    #: so a wait read as seconds instead of milliseconds, or a client hammering, shows).
    max_throttled: int | None = None
    seconds_per_429: float | None = None


def _faulted(requests: list[Any], churn: Churn) -> bool:
    return any(r.fault for r in requests)


def _on_request(number: int, action: Callable[[], Any]) -> Callback:
    """A callback that runs ``action`` once, when the ``number``-th API request is served."""
    served: list[Any] = []

    def callback(record: Any) -> None:
        served.append(record)
        if len(served) == number:
            action()

    return callback


def _bursts(dub: DubEmulator, rng: random.Random, churn: Churn) -> list[Callback]:
    def maybe_burst(record: Any) -> None:
        if rng.random() < 0.12:
            dub.inject(FaultKind.SERVER_ERROR, times=rng.randint(1, 3), status=rng.choice((500, 502, 503)))

    return [maybe_burst, _on_request(3, lambda: dub.inject(FaultKind.SERVER_ERROR, times=2, status=502))]


def _storms(dub: DubEmulator, rng: random.Random, churn: Churn) -> list[Callback]:
    def maybe_storm(record: Any) -> None:
        if rng.random() < 0.06:
            dub.inject(FaultKind.RATE_LIMIT, times=rng.randint(1, 3))

    return [maybe_storm, _on_request(3, lambda: dub.inject(FaultKind.RATE_LIMIT, times=3))]


def _random(kind: FaultKind, probability: float, delay: float = 1.0) -> Callable[..., list[Callback]]:
    """Each request has ``probability`` of the fault; the 4th request gets it in any case."""

    def install(dub: DubEmulator, rng: random.Random, churn: Churn) -> list[Callback]:
        dub.random_faults({kind: probability}, seed=rng.randint(0, 10**6), delay=delay)
        return [_on_request(3, lambda: dub.inject(kind, times=1, delay=delay))]

    return install


def _delete_cursors(dub: DubEmulator, rng: random.Random, churn: Churn) -> list[Callback]:
    def maybe_delete(record: Any) -> None:
        cursor = record.query.get("startingAfter")
        if cursor and (rng.random() < 0.25 or not churn.deleted):
            dub.delete_customers([cursor])
            churn.deleted.add(cursor)

    return [maybe_delete]


def _churn(dub: DubEmulator, rng: random.Random, churn: Churn) -> list[Callback]:
    def change(record: Any) -> None:
        if record.path == "/customers":
            churn.deleted.update(dub.delete_random(3, rng_seed=rng.randint(0, 10**6)))
            churn.added.update(c["id"] for c in dub.add_customers(2))
            churn.added.update(c["id"] for c in dub.add_customers(1, imported=True))

    return [change]


def _everything(dub: DubEmulator, rng: random.Random, churn: Churn) -> list[Callback]:
    dub.random_faults(
        {
            FaultKind.SERVER_ERROR: 0.05,
            FaultKind.RATE_LIMIT: 0.03,
            FaultKind.DROP: 0.03,
            FaultKind.TRUNCATE: 0.03,
            FaultKind.SLOW: 0.02,
        },
        seed=rng.randint(0, 10**6),
        status=rng.choice((500, 502, 503)),
    )
    return [
        *_churn(dub, rng, churn),
        *_delete_cursors(dub, rng, churn),
        _on_request(3, lambda: dub.inject(FaultKind.TRUNCATE, times=1)),
    ]


def _fail_for_good_after(requests: int, kind: FaultKind) -> Callable[..., list[Callback]]:
    def install(dub: DubEmulator, rng: random.Random, churn: Churn) -> list[Callback]:
        return [_on_request(requests, lambda: dub.inject(kind, times=100_000, status=503))]

    return install


def _nothing(dub: DubEmulator, rng: random.Random, churn: Churn) -> list[Callback]:
    return []


SCENARIOS = [
    Scenario("500/502/503 bursts", _bursts, _faulted),
    Scenario(
        "429 storms, Retry-After in ms",
        _storms,
        lambda requests, churn: any(r.status == 429 for r in requests),
        emulator={"rate_limit_window": 1.0},
        seconds_per_429=1.5,
    ),
    Scenario(
        "429 from a real 20 req/s limit",
        _nothing,
        lambda requests, churn: any(r.status == 429 for r in requests),
        emulator={"rate_limit": 20, "rate_limit_window": 1.0},
        # One wave of requests in flight (max_concurrency 8) may meet the full window before the
        # first 429 tells the pacer the key's real limit; more means it kept sending into it.
        max_throttled=8,
        seconds_per_429=1.5,
    ),
    Scenario("dropped connections", _random(FaultKind.DROP, 0.08), _faulted),
    Scenario(
        "answers slower than the read timeout",
        _random(FaultKind.SLOW, 0.06, delay=1.0),
        _faulted,
        extra={"read_timeout": 0.3},
        slow_delay=1.0,
    ),
    Scenario("truncated JSON bodies", _random(FaultKind.TRUNCATE, 0.08), _faulted),
    Scenario(
        "cursor customer deleted mid-sweep",
        _delete_cursors,
        lambda requests, churn: any(r.status == 422 for r in requests),
    ),
    Scenario(
        "customers added+deleted during read",
        _churn,
        lambda requests, churn: bool(churn.deleted and churn.added),
    ),
    Scenario(
        "page cap 5 (offset paging ends at 250)",
        _nothing,
        lambda requests, churn: len(requests) > 250 // 50,
        emulator={"page_cap": 5},
        params={"page_size": 50},
    ),
    Scenario(
        "everything above at once",
        _everything,
        lambda requests, churn: _faulted(requests, churn) and bool(churn.deleted),
        emulator={"rate_limit_window": 1.0},
        extra={"read_timeout": 0.3},
        slow_delay=1.0,
    ),
    Scenario(
        "sorted read beyond one page",
        _nothing,
        lambda requests, churn: len(requests) >= 1,
        expect="DubPaginationError",
        message=r"cannot be complete beyond one page",
        params={"sort_by": "saleAmount"},
    ),
    Scenario(
        "503 for good after 5 requests",
        _fail_for_good_after(5, FaultKind.SERVER_ERROR),
        _faulted,
        expect="DubServerError",
        message=r"Dub API error 503 internal_server_error: Service unavailable\. \(gave up after \d+ attempts",
        extra={"max_retry_seconds": 1.5},
    ),
    Scenario(
        "429 for good after 5 requests",
        _fail_for_good_after(5, FaultKind.RATE_LIMIT),
        _faulted,
        expect="DubRateLimitError",
        message=r"Dub API error 429 rate_limit_exceeded: Too many requests\. \(gave up after \d+ attempts",
        emulator={"rate_limit_window": 1.0},
        extra={"max_retry_seconds": 1.5},
    ),
]


@dataclass
class Run:
    """What one run left behind."""

    failed: str | None  # the error class name, None on success
    error_text: str
    path: Path
    seconds: float


def _read(path: Path, output_format: str) -> list[dict[str, Any]]:
    if output_format == "jsonl":
        return [json.loads(line) for line in path.read_text().splitlines()]
    if output_format == "csv":
        with path.open(newline="") as stream:
            return list(csv.DictReader(stream))
    import pyarrow.parquet as pq

    return pq.read_table(path).to_pylist()


def _same(value: Any, truth: Any) -> bool:
    """A file's value against Dub's: CSV holds strings (empty for null), Parquet typed columns."""
    if value is None or value == "":
        return truth is None or truth == ""
    return str(value) == str(truth)


_COMPARED = ("email", "externalId", "stripeCustomerId", "country", "sales", "saleAmount", "avatar")


def _run_with_dag_test(conf: dict[str, Any], capfd: pytest.CaptureFixture[str]) -> tuple[str | None, str]:
    capfd.readouterr()
    dag_run = run_dag("test_dub_reliability_list", conf=conf)
    log = "".join(capfd.readouterr())
    if task_states(dag_run) == {"list": "success"}:
        return None, ""
    errors = re.findall(r"airflow_provider_dub\.[\w.]+\.(\w+): (.*)", log)
    assert errors, "the failed task's log shows no Dub error"
    return errors[-1]


def _run_with_execute(conf: dict[str, Any], budget: float) -> tuple[str | None, str]:
    operator = DubListCustomersOperator(task_id="list", **conf)
    operator.hook.retry_policy = RetryPolicy(max_retry_seconds=budget, **QUICK)
    try:
        operator.execute(context={"outlet_events": {}})  # type: ignore[arg-type]
    except Exception as error:
        return type(error).__name__, str(error)
    return None, ""


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: re.sub(r"\W+", "-", s.name).strip("-"))
def test_fault(
    scenario: Scenario,
    seed: int,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
    fault_rows: list[FaultRow],
    request: pytest.FixtureRequest,
) -> None:
    rng = random.Random(f"{scenario.name}:{seed}")
    run_by = "dag.test" if seed == 1 else "execute"
    read = "serial" if seed == 2 else "parallel"
    output_format = FORMATS[seed]
    emulator_args = {"rate_limit": FAST, **scenario.emulator}
    # The emulator's window is shortened to a second for speed: the client's model of it too.
    monkeypatch.setattr(pacer_module, "WINDOW_SECONDS", emulator_args.get("rate_limit_window", 60.0))
    pacer_module.forget_pacers()  # emulators with one seed share a key, and a port may come again
    extra = {
        "requests_per_minute": FAST,
        "max_concurrency": 1 if read == "serial" else 8,
        **scenario.extra,
    }
    path = tmp_path / "out" / f"customers.{output_format}"
    conf = {"output_path": f"file://{path}", **scenario.params}
    with DubEmulator(customers=CUSTOMERS, seed=seed, **emulator_args) as dub:
        set_connection(monkeypatch, dub, extra=extra)
        original = dub.customer_ids()
        churn = Churn()
        callbacks = scenario.install(dub, rng, churn)
        dub.before_request(lambda record: [callback(record) for callback in callbacks])
        started = time.monotonic()
        if run_by == "dag.test":
            request.getfixturevalue("airflow_db")
            failed, error_text = _run_with_dag_test(conf, capfd)
        else:
            budget = float(extra.get("max_retry_seconds", 300))
            failed, error_text = _run_with_execute(conf, budget)
        seconds = time.monotonic() - started
        dub.before_request(None)
        dub.clear_faults()
        if scenario.slow_delay:
            time.sleep(scenario.slow_delay + 0.3)  # late answers are logged when they are sent
        requests = dub.requests
        truth = {c["id"]: c for c in dub.customers()}
        for customer_id in churn.deleted:
            truth.pop(customer_id, None)
        present = original - churn.deleted
        allowed = original | churn.added

    if failed is None:
        rows = _read(path, output_format)
        ids = [str(row["id"]) for row in rows]
        assert len(ids) == len(set(ids)), "a customer appears twice"
        assert present <= set(ids), f"{len(present - set(ids))} customers present throughout are missing"
        assert set(ids) <= allowed, "a customer that never existed"
        for row in rows:
            expected = truth.get(str(row["id"]))
            if expected is not None and str(row["id"]) in present:
                assert all(_same(row[name], expected[name]) for name in _COMPARED), row["id"]
        outcome = f"exact: {len(ids)} customers" + (f" ({len(present)} throughout)" if churn.added else "")
    else:
        assert not path.exists(), "a failed task left its file"
        outcome = f"failed: {failed}, no file"
    leftovers = [p.name for p in path.parent.iterdir() if p != path] if path.parent.exists() else []

    fault_rows.append(
        FaultRow(
            fault=scenario.name,
            seed=seed,
            run_by=run_by,
            read=read,
            outcome=outcome,
            requests=len(requests),
            faults=sum(1 for r in requests if r.fault),
            throttled=sum(1 for r in requests if r.status == 429),
            cursor_lost=sum(1 for r in requests if r.status == 422),
            seconds=seconds,
        )
    )
    assert scenario.happened(requests, churn), "the scenario's trouble did not happen"
    throttled = sum(1 for r in requests if r.status == 429)
    if scenario.max_throttled is not None:
        assert throttled <= scenario.max_throttled, "the client kept sending into a full window"
    if scenario.seconds_per_429 is not None:  # the read's own time, from its first request to its last
        read_time = max(r.ended for r in requests) - min(r.started for r in requests)
        assert read_time <= 3 + throttled * scenario.seconds_per_429, f"429s cost {read_time:.1f} s"
    assert leftovers == [], f"temporary files left behind: {leftovers}"
    if scenario.expect == "exact":
        assert failed is None, f"{failed}: {error_text}"
    else:
        assert failed == scenario.expect, f"{failed}: {error_text}"
        assert re.search(scenario.message, error_text), error_text


def test_a_failed_parquet_export_leaves_no_writer_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """
    A read that fails mid-file leaves no file, and no Parquet writer that would later try to finish
    the file it was writing ("Exception ignored in ParquetWriter.__del__: write to closed file").
    """
    import gc
    import sys

    from airflow.sdk import ObjectStoragePath

    from airflow_provider_dub.exceptions import DubServerError
    from airflow_provider_dub.writers import write_customers

    unraisable: list[Any] = []
    monkeypatch.setattr(sys, "unraisablehook", unraisable.append)

    def pages() -> Any:
        yield [{"id": f"cus_{n}", "email": None, "sales": n} for n in range(100)]
        raise DubServerError("internal_server_error", "An internal server error occurred.", None, 500)

    with pytest.raises(DubServerError):
        write_customers(ObjectStoragePath(f"file://{tmp_path}/out/c.parquet"), pages(), "parquet")
    gc.collect()
    assert [str(u.exc_value) for u in unraisable] == []
    assert list((tmp_path / "out").iterdir()) == []
