"""DubNewCustomersSensor through real DAG runs (dag.test) against the emulator, in all three modes."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pendulum
import pytest

from airflow_provider_dub.protocol.new_customers import created_ms, is_current_id
from airflow_provider_dub.testing import DubEmulator, FaultKind
from tests.integration.airflow_runs import forget_runs, run_dag, task_states, xcom_value

pytestmark = pytest.mark.usefixtures("airflow_db")

MODES = ["poke", "reschedule", "deferrable"]
_run_counter = iter(range(1, 10_000))


@pytest.fixture(autouse=True)
def fresh_sensor_dags(airflow_db: None) -> None:
    """Each test starts with no earlier runs, so no watermark from another test's emulator."""
    for mode in [*MODES, "deferrable_strict"]:
        forget_runs(f"test_dub_new_customers_{mode}")


def next_day() -> pendulum.DateTime:
    """A fresh logical date for each run, after every earlier one; the first run's since is a minute ago."""
    return pendulum.now("UTC").subtract(minutes=1) + pendulum.duration(milliseconds=next(_run_counter))


def run_sensor(mode: str, **params) -> tuple[str, dict | None]:
    dr = run_dag(f"test_dub_new_customers_{mode}", conf=params or None, logical_date=next_day())
    return task_states(dr)["wait_for_new"], xcom_value(dr, "wait_for_new")


def new_ids(result: dict | None) -> list[str]:
    return [c["id"] for c in (result or {}).get("customers") or []]


@pytest.mark.parametrize("mode", MODES)
def test_reports_each_new_customer_exactly_once_across_runs(dub: DubEmulator, mode: str) -> None:
    rng = random.Random(MODES.index(mode))
    dub.add_customers(3)
    state, first = run_sensor(mode)
    assert state == "success"
    reported = set(new_ids(first))
    assert len(reported) >= 3
    pending: set[str] = set()
    for _ in range(5):
        added = {c["id"] for c in dub.add_customers(rng.randint(1, 130))}
        added |= {c["id"] for c in dub.add_customers(rng.randint(1, 20), imported=True)}
        gone = set(dub.delete_random(3, rng_seed=rng.randint(0, 99)))
        pending = (pending | added) - gone
        dub.clear_requests()
        state, result = run_sensor(mode)
        assert state == "success"
        got = new_ids(result)
        assert len(got) == len(set(got)), "a customer reported twice in one run"
        assert not set(got) & reported, "a customer reported again"
        assert set(got) == pending
        assert result["count"] == len(got)
        reported |= set(got)
        pending = set()
        # cost: about ceil(k/100) + 1 requests whatever the workspace size
        assert dub.request_count() <= len(got) // 100 + 3


def test_imported_customers_count_as_new(dub: DubEmulator) -> None:
    run_sensor("poke", since=pendulum.now("UTC").subtract(minutes=1).isoformat())
    imported = dub.add_customers(4, imported=True)
    state, result = run_sensor("poke")
    assert state == "success"
    assert set(new_ids(result)) == {c["id"] for c in imported}
    assert all(c["createdAt"] < "2026" for c in imported)  # backdated, yet new


def test_nothing_new_is_one_request_and_does_not_move_the_watermark(dub: DubEmulator) -> None:
    dub.add_customers(1)
    state, first = run_sensor("poke")
    assert state == "success"
    dub.clear_requests()
    state, result = run_sensor("poke")
    assert state == "skipped" and result is None  # soft_fail after the timeout
    polls = dub.request_count()
    assert polls >= 2
    assert all(r.query.get("startingAfter") == first["watermark"]["last_id"] for r in dub.requests)
    added = dub.add_customers(2)
    state, result = run_sensor("poke")
    assert set(new_ids(result)) == {c["id"] for c in added}


def test_watermark_customer_deleted_before_the_next_run(dub: DubEmulator) -> None:
    dub.add_customers(5)
    _, first = run_sensor("poke")
    dub.delete_customers([first["watermark"]["last_id"]])
    added = dub.add_customers(7)
    state, result = run_sensor("poke")
    assert state == "success"
    assert set(new_ids(result)) == {c["id"] for c in added}


def test_min_new_waits_for_enough(dub: DubEmulator) -> None:
    dub.add_customers(1)
    run_sensor("poke")
    dub.add_customers(2)
    state, result = run_sensor("poke", min_new=3)
    assert state == "skipped"
    dub.add_customers(1)
    state, result = run_sensor("poke", min_new=3)
    assert state == "success" and result["count"] == 3


def test_since_overrides_the_watermark(dub: DubEmulator) -> None:
    dub.add_customers(2)
    run_sensor("poke")
    state, result = run_sensor("poke", since="2026-10-31T00:00:00Z")
    since_ms = pendulum.parse("2026-10-31T00:00:00Z").timestamp() * 1000
    expected = {
        c["id"]
        for c in dub.customers()
        if (
            created_ms(c["id"])
            if is_current_id(c["id"])
            else pendulum.parse(c["createdAt"]).timestamp() * 1000
        )
        >= since_ms
    }
    assert state == "success"
    assert set(new_ids(result)) == expected


def test_bad_since_fails_before_any_request(dub: DubEmulator) -> None:
    state, _ = run_sensor("poke", since="not a date")
    assert state == "failed"
    assert dub.request_count() == 0


def test_above_the_cap_writes_a_file_and_pushes_its_uri(dub: DubEmulator, tmp_path: Path) -> None:
    dub.add_customers(1)
    run_sensor("poke")
    added = dub.add_customers(250)
    path = tmp_path / "new.jsonl"
    state, result = run_sensor("poke", cap=100, output_path=f"file://{path}")
    assert state == "success"
    assert result["customers"] is None and result["uri"] == f"file://{path}" and result["count"] == 250
    assert {json.loads(line)["id"] for line in path.read_text().splitlines()} == {c["id"] for c in added}


def test_deferrable_wakes_up_when_customers_arrive(dub: DubEmulator) -> None:
    dub.add_customers(1)
    run_sensor("deferrable")
    arrived: list[dict] = []

    def add_while_deferred(record) -> None:
        if len(dub.requests) == 3 and not arrived:  # the trigger's second poll
            arrived.extend(dub.add_customers(4, imported=True))

    dub.clear_requests()
    dub.before_request(add_while_deferred)
    state, result = run_sensor("deferrable")
    assert state == "success"
    assert set(new_ids(result)) == {c["id"] for c in arrived}


def test_deferrable_turns_a_dub_error_into_a_failed_task(dub: DubEmulator, monkeypatch) -> None:
    dub.add_customers(1)
    run_sensor("deferrable_strict")
    conn = json.loads(dub.airflow_conn_json())
    conn["extra"] = {"max_retry_seconds": 0}
    monkeypatch.setenv("AIRFLOW_CONN_DUB_DEFAULT", json.dumps(conn))
    dub.clear_requests()
    # the worker's first check passes; the trigger's poll then meets a server error
    dub.before_request(
        lambda record: dub.inject(FaultKind.SERVER_ERROR, times=50) if len(dub.requests) == 1 else None
    )
    state, result = run_sensor("deferrable_strict")
    assert state == "failed" and result is None
    assert any(r.fault for r in dub.requests)


def test_trigger_error_event_fails_with_dubs_message() -> None:
    from airflow_provider_dub.exceptions import DubError
    from airflow_provider_dub.sensors.dub import DubNewCustomersSensor

    sensor = DubNewCustomersSensor(task_id="s", deferrable=True)
    with pytest.raises(DubError, match=r"Unauthorized: Invalid API key\."):
        sensor.execute_complete({}, {"status": "error", "message": "Unauthorized: Invalid API key."})


def test_deferrable_times_out_into_a_skip(dub: DubEmulator) -> None:
    dub.add_customers(1)
    run_sensor("deferrable")
    state, result = run_sensor("deferrable")
    assert state == "skipped" and result is None
