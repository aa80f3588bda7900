"""The warehouse load's arguments: each bad one is named, with what it accepts, before any I/O."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_dub.exceptions import DubValidationError
from airflow_provider_dub.transfers.settings import check_settings, choose_dialect
from airflow_provider_dub.transfers.snapshot_reader import open_snapshot_path, resolve_snapshot_format

GOOD: dict[str, Any] = {
    "table": "dub_customers",
    "history_table": None,
    "snapshot_date": "2026-03-04",
    "max_deleted_share": 0.5,
    "batch_size": 10_000,
}


def test_good_arguments_and_rendered_strings() -> None:
    settings = check_settings(
        **{**GOOD, "max_deleted_share": "1", "batch_size": " 500 ", "history_table": ""}
    )
    assert (settings.max_deleted_share, settings.batch_size, settings.history_table) == (1.0, 500, None)
    assert check_settings(**{**GOOD, "table": "cat.wh.customers"}).table == "cat.wh.customers"


@pytest.mark.parametrize(
    ("name", "value", "allowed"),
    [
        ("table", "customers; DROP TABLE x", "[catalog.][schema.]name"),
        ("table", "a.b.c.d", "[catalog.][schema.]name"),
        ("table", None, "[catalog.][schema.]name"),
        ("history_table", "1history", "[catalog.][schema.]name"),
        ("history_table", "dub_customers", "another table"),
        ("history_table", "DUB_CUSTOMERS_staging", "another table"),
        ("snapshot_date", "2026-02-30", "YYYY-MM-DD"),
        ("snapshot_date", "04/03/2026", "YYYY-MM-DD"),
        ("snapshot_date", None, "YYYY-MM-DD"),
        ("max_deleted_share", 1.5, "from 0 to 1"),
        ("max_deleted_share", "nan", "from 0 to 1"),
        ("max_deleted_share", True, "from 0 to 1"),
        ("batch_size", 0, "from 1 to 1000000"),
        ("batch_size", "ten", "from 1 to 1000000"),
        ("batch_size", 2.5, "from 1 to 1000000"),
    ],
)
def test_bad_argument_is_named(name: str, value: Any, allowed: str) -> None:
    with pytest.raises(DubValidationError, match=f"Invalid value for '{name}'") as err:
        check_settings(**{**GOOD, name: value})
    assert allowed in str(err.value)


def test_dialect_from_the_connection_type_or_given() -> None:
    assert [(d.name, s) for d, s in [choose_dialect("postgres", None, None)]] == [("postgres", "update_from")]
    assert choose_dialect("postgres", None, "MERGE")[1] == "merge"
    assert choose_dialect("snowflake", None, None)[1] == "merge"
    assert choose_dialect("generic", "DuckDB", None)[0].name == "duckdb"
    assert choose_dialect("gcpbigquery", None, None)[0].name == "bigquery"


@pytest.mark.parametrize(
    ("conn_type", "dialect", "syntax", "name", "allowed"),
    [
        ("mysql", None, None, "dialect", "'sqlite', 'postgres', 'duckdb', 'snowflake'"),
        ("postgres", "oracle", None, "dialect", "'bigquery', 'databricks', 'redshift'"),
        ("sqlite", None, "merge", "merge_syntax", "'on_conflict'"),
        ("snowflake", None, "on_conflict", "merge_syntax", "'merge'"),
        ("postgres", None, "upsert", "merge_syntax", "'update_from', 'on_conflict', 'merge'"),
    ],
)
def test_bad_dialect_or_syntax(conn_type: str, dialect: Any, syntax: Any, name: str, allowed: str) -> None:
    with pytest.raises(DubValidationError, match=f"Invalid value for '{name}'") as err:
        choose_dialect(conn_type, dialect, syntax)
    assert allowed in str(err.value)


def test_snapshot_format_and_path() -> None:
    assert resolve_snapshot_format(None, "s3://aws@bucket/day/customers.parquet") == "parquet"
    assert resolve_snapshot_format(None, "file:///x/customers.jsonl") == "jsonl"
    assert resolve_snapshot_format("NDJSON", "file:///x/customers.parquet") == "jsonl"
    with pytest.raises(DubValidationError, match=r"'snapshot_format'.*Allowed: 'jsonl', 'parquet'"):
        resolve_snapshot_format("csv", "file:///x/customers.csv")
    for url, problem in [
        ("/data/customers.jsonl", "has no scheme"),
        ("", "it is empty"),
        (3, "expected a string"),
    ]:
        with pytest.raises(DubValidationError, match=f"'snapshot_path': .*{problem}"):
            open_snapshot_path(url, None)
    with pytest.raises(
        DubValidationError, match="'snapshot_path': no filesystem handles the scheme 'nosuch'"
    ):
        open_snapshot_path("nosuch://bucket/key", None)
