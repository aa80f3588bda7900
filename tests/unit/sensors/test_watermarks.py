"""Which earlier run's watermark the sensor resumes from: the newest by content, never by logical date."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_dub.protocol import Watermark
from airflow_provider_dub.protocol.new_customers import CROCKFORD
from airflow_provider_dub.sensors import watermarks
from airflow_provider_dub.sensors.watermarks import (
    KEPT_RUNS,
    RunWatermark,
    WatermarkStore,
    history_json,
    newest,
    parse_history,
    updated_history,
    variable_key,
)


def _id(n: int) -> str:
    """A current-format customer id; larger n, larger id."""
    digits = []
    for _ in range(26):
        n, digit = divmod(n, 32)
        digits.append(CROCKFORD[digit])
    return "cus_" + "".join(reversed(digits))


def _wm(checked_ms: int, last: int | None) -> Watermark:
    last_id = _id(last) if last is not None else None
    return Watermark(last_id, [last_id] if last_id else [], checked_ms)


# -- the choice ---------------------------------------------------------------------------------------


def test_newest_is_the_latest_read_whatever_the_order_runs_were_stored_in() -> None:
    history = [
        RunWatermark("scheduled__2026-11-30T10:00:00+00:00", _wm(1_000, 5)),
        RunWatermark("manual__2026-11-30T10:30:00+00:00", _wm(3_000, 9)),
        RunWatermark("backfill__2026-01-01T00:00:00+00:00", _wm(2_000, 7)),
    ]
    succeeded = {e.run_id for e in history}
    for order in (history, history[::-1], history[1:] + history[:1]):
        assert newest(order, succeeded) == history[1]


def test_same_read_time_the_larger_last_id_wins() -> None:
    a, b = RunWatermark("a", _wm(5_000, 3)), RunWatermark("b", _wm(5_000, 4))
    assert newest([a, b], {"a", "b"}) == b
    assert newest([b, a], {"a", "b"}) == b


def test_a_watermark_without_a_last_id_still_orders_by_its_read_time() -> None:
    empty_later = RunWatermark("later", _wm(9_000, None))
    earlier = RunWatermark("earlier", _wm(1_000, 8))
    assert newest([earlier, empty_later], {"later", "earlier"}) == empty_later


def test_runs_whose_sensor_is_no_longer_successful_are_skipped() -> None:
    old, new = RunWatermark("old", _wm(1_000, 1)), RunWatermark("new", _wm(2_000, 2))
    assert newest([old, new], {"old"}) == old  # "new" was cleared or marked failed
    assert newest([old, new], set()) is None


def test_updated_history_replaces_this_runs_entry_drops_stale_ones_and_keeps_the_newest() -> None:
    history = [RunWatermark(f"r{i}", _wm(1_000 + i, i)) for i in range(KEPT_RUNS + 3)]
    succeeded = {e.run_id for e in history} - {"r5"}
    entries = updated_history(history, succeeded, "r3", _wm(99_000, 500))
    assert entries[0] == RunWatermark("r3", _wm(99_000, 500))
    assert len(entries) == KEPT_RUNS
    assert [e.run_id for e in entries].count("r3") == 1
    assert "r5" not in {e.run_id for e in entries}
    checked = [e.watermark.checked_ms for e in entries]
    assert checked == sorted(checked, reverse=True)


def test_history_round_trips_and_junk_is_left_out() -> None:
    entries = [RunWatermark("a", _wm(2_000, 2)), RunWatermark("b", _wm(1_000, None))]
    assert parse_history(history_json(entries)) == entries
    junk = {"runs": [{"run_id": 3, "watermark": {}}, {"run_id": "x", "watermark": "no"}, "nope"]}
    assert parse_history(junk) == []
    assert parse_history(None) == []
    assert parse_history({"runs": "no"}) == []


def test_variable_key_per_task_and_map_index_and_never_too_long() -> None:
    assert variable_key("dag", "wait") == "dub_watermark:dag:wait"
    assert variable_key("dag", "wait", 3) == "dub_watermark:dag:wait:3"
    long_key = variable_key("d" * 250, "t" * 250)
    assert len(long_key) <= 250
    assert long_key != variable_key("d" * 250, "t" * 249)


# -- the store, with a task instance and Variables in memory (no database) ---------------------------


class _Variables:
    """Airflow Variables in a dict; ``get`` of a missing key is recorded (Airflow 3.1 logs an error)."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}
        self.missing_reads: list[str] = []

    def get(self, key: str, default: Any = None, deserialize_json: bool = False) -> Any:
        if key not in self.values:
            self.missing_reads.append(key)
            return default
        return self.values[key]

    def set(self, key: str, value: Any, description: str | None = None, serialize_json: bool = False) -> None:
        self.values[key] = value


class _Airflow:
    """The sensor task's instances across runs: run id -> state."""

    def __init__(self) -> None:
        self.states: dict[str, str] = {}

    def ti(self, run_id: str) -> _TaskInstance:
        return _TaskInstance(self, run_id)


class _TaskInstance:
    dag_id = "dag"
    task_id = "wait"
    map_index = -1

    def __init__(self, airflow: _Airflow, run_id: str) -> None:
        self.airflow = airflow
        self.run_id = run_id

    def get_ti_count(self, dag_id: str, map_index: int, task_ids: list[str], states: list[str]) -> int:
        return sum(state in states for state in self.airflow.states.values())

    def get_task_states(
        self, dag_id: str, map_index: int, task_ids: list[str], run_ids: list[str]
    ) -> dict[str, dict[str, str]]:
        return {r: {"wait": s} for r, s in self.airflow.states.items() if r in run_ids}


@pytest.fixture
def variables(monkeypatch: pytest.MonkeyPatch) -> _Variables:
    store = _Variables()
    monkeypatch.setattr(watermarks, "Variable", store)
    return store


def _run(airflow: _Airflow, run_id: str, watermark: Watermark) -> Watermark | None:
    """One sensor run: load, then (it succeeded) save; returns what it resumed from."""
    airflow.states[run_id] = "running"
    store = WatermarkStore(airflow.ti(run_id))  # type: ignore[arg-type]
    previous = store.load()
    store.save(watermark)
    airflow.states[run_id] = "success"
    return previous


def test_first_run_reads_nothing_then_each_run_resumes_from_the_one_before(variables: _Variables) -> None:
    airflow = _Airflow()
    # Run ids as Airflow makes them: dates that say nothing about the order the runs happened in.
    runs = [
        ("scheduled__2026-11-30T10:00:00+00:00", _wm(1_000, 10)),
        ("manual__2026-11-30T10:20:00+00:00", _wm(2_000, 20)),
        ("backfill__2026-01-01T00:00:00+00:00", _wm(3_000, 30)),
        ("asset_triggered__2026-11-30T10:40:00+00:00", _wm(4_000, 40)),
        ("scheduled__2026-11-30T09:00:00+00:00", _wm(5_000, 50)),
    ]
    previous: Watermark | None = None
    for run_id, watermark in runs:
        assert _run(airflow, run_id, watermark) == previous
        previous = watermark
    assert variables.missing_reads == []  # the first run did not look for a Variable that isn't there


def test_a_cleared_run_gives_way_to_the_one_before_it(variables: _Variables) -> None:
    airflow = _Airflow()
    _run(airflow, "r1", _wm(1_000, 1))
    _run(airflow, "r2", _wm(2_000, 2))
    airflow.states["r2"] = "none"  # cleared: its customers are read again
    assert _run(airflow, "r2", _wm(3_000, 3)) == _wm(1_000, 1)
    assert _run(airflow, "r3", _wm(4_000, 4)) == _wm(3_000, 3)


def test_a_run_that_saved_but_then_failed_does_not_count(variables: _Variables) -> None:
    airflow = _Airflow()
    _run(airflow, "r1", _wm(1_000, 1))
    _run(airflow, "r2", _wm(2_000, 2))
    airflow.states["r2"] = "failed"
    assert _run(airflow, "r3", _wm(3_000, 3)) == _wm(1_000, 1)


def test_deleted_runs_start_over_without_reading_the_stale_variable(variables: _Variables) -> None:
    airflow = _Airflow()
    _run(airflow, "r1", _wm(1_000, 1))
    airflow.states.clear()  # every run deleted; the Variable is still there
    assert _run(airflow, "r2", _wm(2_000, 2)) is None
    assert parse_history(variables.values["dub_watermark:dag:wait"]) == [RunWatermark("r2", _wm(2_000, 2))]


def test_a_variable_deleted_by_hand_starts_over(variables: _Variables) -> None:
    airflow = _Airflow()
    _run(airflow, "r1", _wm(1_000, 1))
    variables.values.clear()
    assert _run(airflow, "r2", _wm(2_000, 2)) is None
