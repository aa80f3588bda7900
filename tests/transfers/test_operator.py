"""DubCustomersToSqlOperator's contract on SQLite: Parquet input, arguments, connections, lineage, logs."""

from __future__ import annotations

import json
import logging
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_dub.exceptions import DubValidationError
from airflow_provider_dub.testing.store import CustomerStore
from airflow_provider_dub.transfers.dub_to_sql import DubCustomersToSqlOperator


@pytest.fixture
def customers() -> list[dict[str, Any]]:
    return CustomerStore(60, 7).all_customers()


@pytest.fixture
def snapshot(tmp_path: Path, customers: list[dict[str, Any]]) -> str:
    path = tmp_path / "customers.jsonl"
    path.write_text("".join(json.dumps(c) + "\n" for c in customers))
    return f"file://{path}"


@pytest.fixture
def sqlite_conn(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    path = tmp_path / "warehouse.db"
    monkeypatch.setenv("AIRFLOW_CONN_WAREHOUSE", json.dumps({"conn_type": "sqlite", "host": str(path)}))
    return path


def operator(snapshot: str, **kwargs: Any) -> DubCustomersToSqlOperator:
    arguments = {"sql_conn_id": "warehouse", "table": "customers", "snapshot_date": "2026-03-04", **kwargs}
    return DubCustomersToSqlOperator(task_id="merge", snapshot_path=snapshot, **arguments)


def rows(path: Path, table: str = "customers") -> list[tuple[Any, ...]]:
    with sqlite3.connect(path) as conn:
        return conn.execute(f"SELECT * FROM {table} ORDER BY id").fetchall()


def test_a_parquet_snapshot_loads_the_same_rows_as_json_lines(
    snapshot: str, sqlite_conn: Path, tmp_path: Path, customers: list[dict[str, Any]]
) -> None:
    from airflow.sdk import ObjectStoragePath

    from airflow_provider_dub.writers import write_customers

    parquet = ObjectStoragePath(f"file://{tmp_path}/customers.parquet")
    write_customers(parquet, [customers[:25], customers[25:]], "parquet")
    operator(snapshot).execute({})  # type: ignore[arg-type]
    result = operator(f"file://{tmp_path}/customers.parquet", table="from_parquet").execute({})  # type: ignore[arg-type]
    assert result["records"] == result["inserted"] == 60
    assert rows(sqlite_conn, "from_parquet") == rows(sqlite_conn)
    times = [r[9:12] for r in rows(sqlite_conn, "from_parquet")]
    assert all(t is None or (len(t) == 24 and t.endswith("Z")) for row in times for t in row)


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"table": "customers;--"}, "table"),
        ({"max_deleted_share": "most"}, "max_deleted_share"),
        ({"snapshot_date": "yesterday"}, "snapshot_date"),
        ({"snapshot_format": "csv"}, "snapshot_format"),
        ({"dialect": "oracle"}, "dialect"),
        ({"merge_syntax": "merge"}, "merge_syntax"),  # SQLite has no MERGE
        ({"sql_conn_id": ""}, "sql_conn_id"),
    ],
)
def test_bad_arguments_fail_before_the_database(
    snapshot: str, sqlite_conn: Path, kwargs: dict[str, Any], name: str
) -> None:
    with pytest.raises(DubValidationError, match=f"Invalid value for '{name}'"):
        operator(snapshot, **kwargs).execute({})  # type: ignore[arg-type]
    assert not sqlite_conn.exists()


def test_bad_snapshot_path_fails_before_the_database(sqlite_conn: Path) -> None:
    with pytest.raises(DubValidationError, match="Invalid value for 'snapshot_path'"):
        operator("/no/scheme.jsonl").execute({})  # type: ignore[arg-type]
    assert not sqlite_conn.exists()


def test_no_connection_uses_the_sqlite_fallback_only_when_given(snapshot: str, tmp_path: Path) -> None:
    from airflow.providers.common.compat.sdk import AirflowNotFoundException

    with pytest.raises(AirflowNotFoundException):
        operator(snapshot, sql_conn_id="no_such_warehouse").execute({})  # type: ignore[arg-type]
    fallback = tmp_path / "fallback.db"
    result = operator(snapshot, sql_conn_id="no_such_warehouse", sqlite_fallback_path=str(fallback)).execute(
        {}
    )  # type: ignore[arg-type]
    assert (result["dialect"], result["inserted"], len(rows(fallback))) == ("sqlite", 60, 60)


def test_a_connection_that_is_no_sql_database_is_named(
    snapshot: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_NOT_SQL", json.dumps({"conn_type": "dub", "password": "dub_x"}))
    with pytest.raises(
        DubValidationError, match="Invalid value for 'sql_conn_id': 'not_sql' is a dub connection"
    ):
        operator(snapshot, sql_conn_id="not_sql").execute({})  # type: ignore[arg-type]


def test_lineage_and_a_log_without_customer_data(
    snapshot: str,
    sqlite_conn: Path,
    customers: list[dict[str, Any]],
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    task = operator(snapshot, history_table="customers_history")
    with caplog.at_level(logging.DEBUG):
        result = task.execute({})  # type: ignore[arg-type]
    assert result["snapshot"] == snapshot and result["history_table"] == "customers_history"
    logged = caplog.text + capsys.readouterr().out  # the task log goes through structlog to stdout
    assert "inserted 60" in logged
    for customer in customers:
        for field in ("email", "name", "stripeCustomerId", "externalId"):
            if customer[field]:
                assert customer[field] not in logged
    lineage = task.get_openlineage_facets_on_complete(None)
    assert [(d.namespace, d.name) for d in lineage.inputs] == [("file://", snapshot.removeprefix("file://"))]
    assert [(d.namespace, d.name) for d in lineage.outputs] == [
        (f"sqlite://{sqlite_conn}", "customers"),
        (f"sqlite://{sqlite_conn}", "customers_history"),
    ]
