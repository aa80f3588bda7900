"""
Warehouses the load is tested against end to end, each through its own Airflow provider's hook:

* SQLite (a file), and PostgreSQL at ``DUB_TEST_POSTGRES_URI`` (scripts/services/postgres.sh), its
  three merge syntaxes;
* DuckDB (a file) through apache-airflow-providers-duckdb, both merge syntaxes;
* Snowflake through apache-airflow-providers-snowflake's hook and the real snowflake-connector-python,
  talking to fakesnow's server on loopback (scripts/services/fakesnow.sh).

BigQuery, Databricks and Redshift cannot run here: tests/unit/transfers pins their SQL.
"""

from __future__ import annotations

import datetime
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.services import service_setting

ENGINES = [
    "sqlite",
    "postgres",
    "postgres-on_conflict",
    "postgres-merge",
    "duckdb",
    "duckdb-merge",
    "snowflake",
]
CONN_ID = "dub_test_warehouse"


class Engine:
    """A warehouse: its connection (``CONN_ID``), a table name of its own, and a direct reader."""

    def __init__(self, name: str, merge_syntax: str | None) -> None:
        self.name, self.merge_syntax = name, merge_syntax
        self.table = f"dub_customers_{uuid.uuid4().hex[:8]}"
        self.history = f"{self.table}_history"

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        """Rows of a query, read through the connection's own hook, values normalised."""
        from airflow.sdk import BaseHook

        hook = BaseHook.get_connection(CONN_ID).get_hook()
        return [tuple(map(normalise, row)) for row in hook.get_records(sql)]

    def drop(self) -> None:
        from airflow.sdk import BaseHook

        hook = BaseHook.get_connection(CONN_ID).get_hook()
        for table in (self.table, f"{self.table}_staging", self.history):
            hook.run(f"DROP TABLE IF EXISTS {table}")


def normalise(value: Any) -> Any:
    """Times as Dub's ISO strings, dates as ISO dates, booleans as bool: equal across engines."""
    if isinstance(value, datetime.datetime):
        utc = value.astimezone(datetime.timezone.utc) if value.tzinfo else value
        return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"
    if isinstance(value, datetime.date):
        return value.isoformat()
    if hasattr(value, "is_integer") and not isinstance(value, float):  # Decimal from Snowflake
        return int(value)
    return value


@pytest.fixture(params=ENGINES)
def engine(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[Engine]:
    """Each warehouse the load runs on here, as the connection ``CONN_ID``."""
    name, _, syntax = request.param.partition("-")
    variable = f"AIRFLOW_CONN_{CONN_ID.upper()}"
    if name == "sqlite":
        monkeypatch.setenv(variable, json.dumps({"conn_type": "sqlite", "host": str(tmp_path / "w.db")}))
    elif name == "postgres":
        monkeypatch.setenv(variable, service_setting("DUB_TEST_POSTGRES_URI", "postgres.sh"))
    elif name == "duckdb":
        pytest.importorskip("airflow.providers.duckdb", reason="the duckdb provider is in the examples extra")
        monkeypatch.setenv(variable, json.dumps({"conn_type": "duckdb", "host": str(tmp_path / "w.duckdb")}))
    elif name == "snowflake":
        pytest.importorskip(
            "airflow.providers.snowflake", reason="the snowflake provider is in the examples extra"
        )
        port = service_setting("DUB_TEST_FAKESNOW_PORT", "fakesnow.sh")
        ca = service_setting("DUB_TEST_FAKESNOW_CA", "fakesnow.sh")
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", ca)  # fakesnow's self-signed certificate
        extra = {
            "account": "fakesnow",
            "database": "dub",
            "warehouse": "dub",
            "host": "localhost",
            "port": int(port),
            "insecure_mode": True,
            "session_parameters": {"CLIENT_OUT_OF_BAND_TELEMETRY_ENABLED": False},
        }
        conn = {
            "conn_type": "snowflake",
            "login": "fake",
            "password": "snow",
            "schema": "public",
            "extra": extra,
        }
        monkeypatch.setenv(variable, json.dumps(conn))
    warehouse = Engine(name, syntax or None)
    yield warehouse
    if name in ("postgres", "snowflake"):
        warehouse.drop()
