"""The other example DAGs end to end: the filtered list, the new-customers path, the snapshot's consumer."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pendulum
import pytest

from airflow_provider_dub.testing import DubEmulator
from tests.examples.runs import load_example, run_example
from tests.integration.airflow_runs import forget_runs, task_states, xcom_value


@pytest.fixture
def big_dub(monkeypatch: pytest.MonkeyPatch) -> Iterator[DubEmulator]:
    """4,000 customers, about 1,450 of them in the US: more than the operator's XCom cap of 1,000."""
    with DubEmulator(customers=4_000, seed=5) as emulator:
        monkeypatch.setenv("AIRFLOW_CONN_DUB_DEFAULT", emulator.airflow_conn_json())
        yield emulator


def test_filtered_list_with_its_defaults_works_on_a_big_workspace(big_dub: DubEmulator) -> None:
    us = [c for c in big_dub.customers() if c["country"] == "US"]
    assert len(us) > 1_000  # more than max_xcom_records' default: XCom alone would fail
    dr = run_example("dub_filtered_list")  # the defaults: every US customer, file:// under AIRFLOW_HOME
    assert task_states(dr) == {"list_customers": "success", "top_customers": "success"}
    export = xcom_value(dr, "list_customers")
    assert export["records"] == len(us) and export["filters"] == {"country": "US"}
    path = Path(export["uri"].removeprefix("file://"))
    assert path.parent == Path(os.environ["AIRFLOW_HOME"]) / "dub-data" / "filtered"
    assert sorted(json.loads(line)["id"] for line in path.read_text().splitlines()) == sorted(
        c["id"] for c in us
    )
    summary = xcom_value(dr, "top_customers")
    paying = sorted((c["saleAmount"] for c in us if c["saleAmount"] > 0), reverse=True)
    assert summary["customers"] == len(us)
    assert (summary["paying"], summary["revenue"]) == (len(paying), sum(paying))
    assert [c["saleAmount"] for c in summary["top"]] == paying[:5]


def test_filtered_list_with_a_search_and_another_storage(dub: DubEmulator, storage: str) -> None:
    target = next(c for c in dub.customers() if c["email"] and c["saleAmount"] > 0)
    dr = run_example("dub_filtered_list", conf={"country": "", "search": target["email"], "storage": storage})
    assert task_states(dr) == {"list_customers": "success", "top_customers": "success"}
    assert xcom_value(dr, "list_customers")["uri"].startswith(f"{storage}/filtered/")
    summary = xcom_value(dr, "top_customers")
    assert (summary["customers"], summary["paying"], summary["revenue"]) == (1, 1, target["saleAmount"])
    assert [c["id"] for c in summary["top"]] == [target["id"]]


def _run_new_customers(
    storage: str, timeout: float = 30, **conf: object
) -> tuple[dict, dict | None, Path | None]:
    """One run, the sensor polling every 0.2 s (the example's timing is in minutes)."""
    dr = run_example(
        "dub_new_customers",
        conf={"storage": storage, **conf},
        logical_date=pendulum.now("UTC").subtract(seconds=30),
        wait_for_new_customers={"poke_interval": 0.2, "timeout": timeout},
    )
    result = xcom_value(dr, "welcome")
    outbox = Path(result["outbox"].removeprefix("file://")) if result else None
    return task_states(dr), result, outbox


def _outbox_ids(outbox: Path) -> set[str]:
    return {json.loads(line)["customer_id"] for line in outbox.read_text().splitlines()}


def test_new_customers_are_each_processed_once(dub: DubEmulator, storage: str) -> None:
    forget_runs("dub_new_customers")  # no watermark from another test's emulator
    # 1. New customers, imported ones too: found at once, processed.
    first = dub.add_customers(4) + dub.add_customers(2, imported=True)
    states, result, outbox = _run_new_customers(storage)
    assert states == {"wait_for_new_customers": "success", "welcome": "success"}
    assert result["new_customers"] == len(first)
    assert outbox and _outbox_ids(outbox) == {c["id"] for c in first if c["email"]}

    # 2. Nothing new yet: the sensor defers; customers arrive while the trigger polls.
    served: list[object] = []
    later: list[dict] = []

    def arrive_later(record: object) -> None:
        served.append(record)
        if len(served) == 3:  # the sensor's own check, the trigger's first poll, then they arrive
            later.extend(dub.add_customers(3))

    dub.before_request(arrive_later)
    states, result, outbox = _run_new_customers(storage)
    dub.before_request(None)
    assert len(served) >= 4  # it waited in the trigger: the sensor's check, two polls, the read
    assert states == {"wait_for_new_customers": "success", "welcome": "success"}
    assert result["new_customers"] == len(later) == 3
    assert outbox and _outbox_ids(outbox) == {c["id"] for c in later if c["email"]}

    # 3. More than max_xcom_records: through the sensor's file, still only the new ones.
    many = dub.add_customers(12)
    states, result, outbox = _run_new_customers(storage, max_xcom_records=5)
    assert states == {"wait_for_new_customers": "success", "welcome": "success"}
    assert result["new_customers"] == len(many)
    assert outbox and _outbox_ids(outbox) == {c["id"] for c in many if c["email"]}

    # 4. Nothing new at all: skipped (soft_fail), nothing processed.
    states, result, _ = _run_new_customers(storage, timeout=1)
    assert states == {"wait_for_new_customers": "skipped", "welcome": "skipped"}


def test_snapshot_consumer_is_scheduled_and_reports_the_snapshot(
    dub: DubEmulator, storage: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AIRFLOW_CONN_DUB_WAREHOUSE", raising=False)  # the default SQLite warehouse
    from airflow.models.asset import AssetDagRunQueue
    from airflow.models.dag import DagModel
    from airflow.utils.session import create_session

    load_example("dub_snapshot_report")
    with create_session() as session:
        session.get(DagModel, "dub_snapshot_report").is_paused = False
        session.query(AssetDagRunQueue).delete()
    day = pendulum.datetime(2026, 3, 4, tz="UTC")
    run_example(
        "dub_customers_warehouse",
        conf={"storage": storage, "table": f"dub_customers_{uuid.uuid4().hex[:8]}"},
        logical_date=day,
    )
    with create_session() as session:  # what the scheduler turns into a run of the consumer
        queued = [q.target_dag_id for q in session.query(AssetDagRunQueue).all()]
    assert queued == ["dub_snapshot_report"]

    dr = run_example("dub_snapshot_report")
    assert task_states(dr) == {"report": "success"}
    report = xcom_value(dr, "report")
    customers = dub.customers()
    assert report["date"] == "2026-03-04"
    assert report["customers"] == len(customers)
    assert report["revenue"] == sum(c["saleAmount"] for c in customers)
    assert report["paying"] == sum(c["saleAmount"] > 0 for c in customers)
    assert report["canceled_subscriptions"] == sum(c["subscriptionCanceledAt"] is not None for c in customers)
    snapshot = Path(report["snapshot"].removeprefix("file://"))
    assert json.loads((snapshot.parent / "report.json").read_text()) == report
