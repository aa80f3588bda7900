"""DubListCustomersOperator through real Airflow task runs (dag.test) against the emulator over HTTP."""

from __future__ import annotations

import csv
import json
import threading
from pathlib import Path

import pendulum
import pytest

from airflow_provider_dub.testing import DubEmulator, FaultKind
from tests.integration.airflow_runs import run_dag, task_states, xcom_value

pytestmark = pytest.mark.usefixtures("airflow_db")

DAY = pendulum.datetime(2026, 3, 4, tz="UTC")


def ids(customers: list[dict]) -> set[str]:
    return {c["id"] for c in customers}


def test_xcom_mode_returns_the_filtered_customers(dub: DubEmulator) -> None:
    dr = run_dag("test_dub_list_to_xcom", conf={"country": "US"})
    assert task_states(dr) == {"list": "success"}
    got = xcom_value(dr, "list")
    expected = [c for c in dub.customers() if c["country"] == "US"]
    assert len(got) == len(expected) > 100  # more than one page
    assert ids(got) == ids(expected)


def test_xcom_guard_fails_before_pushing_anything(dub: DubEmulator) -> None:
    dr = run_dag("test_dub_list_to_xcom", conf={"max_xcom_records": 150})
    assert task_states(dr) == {"list": "failed"}
    assert xcom_value(dr, "list") is None
    # it stopped as soon as the guard was passed (the first wave of sweeps), not after the whole read
    assert dub.request_count() <= 8 < len(dub.customers()) // 100


def test_sort_with_max_records_gives_the_top_customers(dub: DubEmulator) -> None:
    dr = run_dag("test_dub_list_to_xcom", conf={"sort_by": "saleAmount", "max_records": 5})
    got = xcom_value(dr, "list")
    top = sorted((c["saleAmount"] for c in dub.customers()), reverse=True)[:5]
    assert [c["saleAmount"] for c in got] == top


def test_bad_templated_value_fails_before_any_request(dub: DubEmulator) -> None:
    dr = run_dag("test_dub_list_to_xcom", conf={"sort_by": "sales"})
    assert task_states(dr) == {"list": "failed"}
    assert dub.request_count() == 0


def _read(path: Path, fmt: str) -> list[dict]:
    if fmt == "jsonl":
        return [json.loads(line) for line in path.read_text().splitlines()]
    if fmt == "csv":
        with path.open(newline="") as f:
            return list(csv.DictReader(f))
    import pyarrow.parquet as pq

    return pq.read_table(path).to_pylist()


@pytest.mark.parametrize(
    ("name", "fmt"), [("c.jsonl", ""), ("c.csv", ""), ("c.parquet", ""), ("c.out", "csv")]
)
def test_every_format_reads_back_as_the_ground_truth(
    dub: DubEmulator, tmp_path: Path, name: str, fmt: str
) -> None:
    dr = run_dag(
        "test_dub_list_to_file",
        conf={"base": str(tmp_path), "name": name, "output_format": fmt, "expanded": True},
        logical_date=DAY,
    )
    assert task_states(dr) == {"export": "success"}
    path = tmp_path / "2026-03-04" / name
    summary = xcom_value(dr, "export")
    file_format = fmt or name.rsplit(".", 1)[1].replace("jsonl", "jsonl")
    assert summary["uri"] == f"file://{path}"
    assert summary["format"] == file_format
    assert summary["records"] == len(dub.customers())
    rows = _read(path, file_format)
    truth = {c["id"]: c for c in dub.customers()}
    assert ids(rows) == set(truth)
    assert len(rows) == len(truth)
    for row in rows[:200]:
        expected = truth[row["id"]]
        assert str(row["sales"]) == str(expected["sales"])
        assert str(row["saleAmount"]) == str(expected["saleAmount"])
        if file_format != "jsonl":
            link = expected.get("link")
            assert (row["link_shortLink"] or None) == (link["shortLink"] if link else None)
    assert not [p for p in path.parent.iterdir() if p.name.startswith(".")]  # no temporary left


def test_failure_mid_read_keeps_the_previous_file(dub: DubEmulator, tmp_path: Path, monkeypatch) -> None:
    conf = {"base": str(tmp_path), "name": "c.jsonl"}
    assert task_states(run_dag("test_dub_list_to_file", conf=conf, logical_date=DAY)) == {"export": "success"}
    path = tmp_path / "2026-03-04" / "c.jsonl"
    before = path.read_bytes()
    dub.add_customers(10)
    # fail for good after a few pages: errors forever, no retry budget
    conn = json.loads(dub.airflow_conn_json())
    conn["extra"] = {"max_retry_seconds": 0}
    monkeypatch.setenv("AIRFLOW_CONN_DUB_DEFAULT", json.dumps(conn))
    served = []

    def fail_after_five(record) -> None:
        served.append(record)
        if len(served) == 5:
            dub.inject(FaultKind.SERVER_ERROR, times=1000, status=500)

    dub.before_request(fail_after_five)
    dr = run_dag("test_dub_list_to_file", conf=conf, logical_date=DAY)
    assert task_states(dr) == {"export": "failed"}
    assert path.read_bytes() == before
    assert sorted(p.name for p in path.parent.iterdir()) == ["c.jsonl"]


def test_failure_on_first_write_leaves_no_file(dub: DubEmulator, tmp_path: Path, monkeypatch) -> None:
    conn = json.loads(dub.airflow_conn_json())
    conn["extra"] = {"max_retry_seconds": 0}
    monkeypatch.setenv("AIRFLOW_CONN_DUB_DEFAULT", json.dumps(conn))
    lock = threading.Lock()
    dropped: list[bool] = []

    def drop_the_first_walk_request(record) -> None:
        # Once, at the read's first cursor request: its first round's rows are written by then,
        # however the requests of that round happen to interleave.
        with lock:
            if ("startingAfter" in record.query or "endingBefore" in record.query) and not dropped:
                dropped.append(True)
                dub.inject(FaultKind.DROP, times=1)

    dub.before_request(drop_the_first_walk_request)
    dr = run_dag("test_dub_list_to_file", conf={"base": str(tmp_path), "name": "c.csv"}, logical_date=DAY)
    assert [r.fault for r in dub.requests if r.fault] == ["drop"]
    assert task_states(dr) == {"export": "failed"}
    assert list((tmp_path / "2026-03-04").iterdir()) == []


def test_rerun_of_the_same_run_writes_the_same_records(dub: DubEmulator, tmp_path: Path) -> None:
    conf = {"base": str(tmp_path), "name": "c.jsonl"}
    path = tmp_path / "2026-03-04" / "c.jsonl"
    run_dag("test_dub_list_to_file", conf=conf, logical_date=DAY)
    first = path.read_text().splitlines()
    run_dag("test_dub_list_to_file", conf=conf, logical_date=DAY)
    second = path.read_text().splitlines()
    assert len(first) == len(second) == len(dub.customers())
    strip_names = [{**json.loads(line), "name": None} for line in first]  # anonymous names are random
    assert sorted(map(json.dumps, strip_names)) == sorted(
        json.dumps({**json.loads(line), "name": None}) for line in second
    )


def test_templated_path_is_rendered_and_emitted_as_an_asset(dub: DubEmulator, tmp_path: Path) -> None:
    dr = run_dag("test_dub_list_to_file", conf={"base": str(tmp_path), "name": "x.jsonl"}, logical_date=DAY)
    uri = f"file://{tmp_path}/2026-03-04/x.jsonl"
    assert xcom_value(dr, "export")["uri"] == uri
    assert xcom_value(dr, "export")["path"] == uri  # the rendered URL, as given (with any conn id)
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        events = session.execute(
            select(AssetModel.uri).join(AssetEvent, AssetEvent.asset_id == AssetModel.id)
        ).scalars()
        assert uri in set(events)


@pytest.mark.slow
def test_fifty_thousand_customers_to_a_file(tmp_path: Path, monkeypatch) -> None:
    with DubEmulator(customers=50_000, seed=11) as big:
        monkeypatch.setenv("AIRFLOW_CONN_DUB_DEFAULT", big.airflow_conn_json())
        dr = run_dag(
            "test_dub_list_to_file", conf={"base": str(tmp_path), "name": "all.jsonl"}, logical_date=DAY
        )
        assert task_states(dr) == {"export": "success"}
        lines = (tmp_path / "2026-03-04" / "all.jsonl").read_text().splitlines()
        got = [json.loads(line)["id"] for line in lines]
        assert len(got) == len(set(got)) == 50_000
        assert set(got) == big.customer_ids()
        summary = xcom_value(dr, "export")
        # a parallel read: at most 2 more a sweep (16 and the bottom), the count, and the progress estimate
        assert summary["requests"] <= 50_000 // 100 + 2 * 17 + 2
