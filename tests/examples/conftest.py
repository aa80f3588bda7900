"""Fixtures of the example DAG tests: a migrated metadata DB, the emulator as ``dub_default``, warehouses."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from airflow_provider_dub.testing import DubEmulator
from tests.examples.runs import BUNDLE_CONFIG
from tests.services import service_setting


@pytest.fixture(autouse=True)
def example_bundle(monkeypatch: pytest.MonkeyPatch, airflow_db: None) -> None:
    """``dags/`` as the DAG bundle ``dub-examples``, beside the session's own DAG folder."""
    monkeypatch.setenv("AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST", BUNDLE_CONFIG)


@pytest.fixture
def dub(monkeypatch: pytest.MonkeyPatch) -> Iterator[DubEmulator]:
    """An emulator with 1,500 customers (imported, legacy and anonymous ones too) as ``dub_default``."""
    with DubEmulator(customers=1_500, seed=5) as emulator:
        monkeypatch.setenv("AIRFLOW_CONN_DUB_DEFAULT", emulator.airflow_conn_json())
        yield emulator


@pytest.fixture
def storage(tmp_path: Path) -> str:
    """A ``file://`` folder for snapshots and outboxes."""
    return f"file://{tmp_path}/storage"


class Warehouse:
    """A warehouse the DAG writes to through ``dub_warehouse``, and a direct reader of its table."""

    def __init__(self, kind: str, table: str, uri: str) -> None:
        self.kind, self.table, self.uri = kind, table, uri

    def query(self, sql: str) -> list[tuple]:
        """Rows of a query, read directly (sqlite3 or psycopg), not through Airflow."""
        if self.kind == "sqlite":
            import sqlite3

            with sqlite3.connect(self.uri) as conn:
                return conn.execute(sql).fetchall()
        import psycopg

        with psycopg.connect(self.uri) as conn:
            cursor = conn.execute(sql)
            return cursor.fetchall() if cursor.description else []

    def rows(self) -> dict[str, dict]:
        """The whole table by id, dates and times as ISO strings (Dub's format for times)."""
        names = [*COLUMNS, "first_seen_date", "updated_date", "snapshot_date", "deleted_at"]
        result = {}
        for values in self.query(f"SELECT {', '.join(names)} FROM {self.table}"):
            row = dict(zip(names, map(_iso, values), strict=True))
            result[row["id"]] = row
        return result


def _iso(value: object) -> object:
    import datetime

    if isinstance(value, datetime.datetime):
        utc = value.astimezone(datetime.timezone.utc)
        return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"
    if isinstance(value, datetime.date):
        return value.isoformat()
    return value


#: The table's data columns and the Dub fields they hold (written here independently of the DAG).
COLUMNS = {
    "id": "id",
    "name": "name",
    "email": "email",
    "avatar": "avatar",
    "external_id": "externalId",
    "stripe_customer_id": "stripeCustomerId",
    "country": "country",
    "sales": "sales",
    "sale_amount": "saleAmount",
    "created_at": "createdAt",
    "first_sale_at": "firstSaleAt",
    "subscription_canceled_at": "subscriptionCanceledAt",
}


@pytest.fixture(params=["sqlite", "postgres"])
def warehouse(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[Warehouse]:
    """
    The warehouse, each test with its own table: SQLite through the DAG's default (no ``dub_warehouse``
    connection: ``$AIRFLOW_HOME/dub_warehouse.db``), and PostgreSQL at ``DUB_TEST_POSTGRES_URI``.
    """
    table = f"dub_customers_{uuid.uuid4().hex[:8]}"
    if request.param == "sqlite":
        monkeypatch.delenv("AIRFLOW_CONN_DUB_WAREHOUSE", raising=False)
        yield Warehouse("sqlite", table, os.path.join(os.environ["AIRFLOW_HOME"], "dub_warehouse.db"))
        return
    uri = service_setting("DUB_TEST_POSTGRES_URI", "postgres.sh")
    monkeypatch.setenv("AIRFLOW_CONN_DUB_WAREHOUSE", uri)
    warehouse = Warehouse("postgres", table, uri)
    yield warehouse
    warehouse.query(f"DROP TABLE IF EXISTS {table}, {table}_staging")
