"""
Deployment fixtures: the Dub emulator in this process, and a real Airflow (api-server, scheduler,
dag-processor, triggerer) per metadata database, started once per test module and shared by its tests.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from airflow_provider_dub.testing import DubEmulator
from tests.deployment.deployment import AirflowDeployment
from tests.services import service_setting

DAGS_FOLDER = Path(__file__).parent / "dags"


class Deployment:
    """One running Airflow and the emulator its DAG reads."""

    def __init__(
        self, airflow: AirflowDeployment, dub: DubEmulator, database: str, deferrable: bool, start: int
    ) -> None:
        self.airflow = airflow
        self.dub = dub
        self.database = database
        self.deferrable = deferrable
        #: The DAG's start date (Unix seconds).
        self.start = start


def _postgres_schema(uri: str) -> tuple[str, str]:
    """A new schema in the test PostgreSQL database, and the metadata URL that puts Airflow in it."""
    import psycopg2

    schema = f"airflow_deploy_{uuid.uuid4().hex[:10]}"
    with psycopg2.connect(uri) as conn, conn.cursor() as cursor:
        cursor.execute(f"CREATE SCHEMA {schema}")
    url = uri.replace("postgresql://", "postgresql+psycopg2://", 1)
    return schema, f"{url}?options=-csearch_path%3D{schema}"


def _drop_schema(uri: str, schema: str) -> None:
    import psycopg2

    with psycopg2.connect(uri) as conn, conn.cursor() as cursor:
        cursor.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def deployment(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Deployment]:
    """
    Airflow on SQLite (the sensor deferrable, waiting in the triggerer) and on PostgreSQL (poking);
    PostgreSQL at ``DUB_TEST_POSTGRES_URI``, in a schema of its own, dropped afterwards.
    """
    database = request.param
    uri = service_setting("DUB_TEST_POSTGRES_URI", "postgres.sh") if database == "postgres" else None
    schema = url = None
    if database == "postgres":
        assert uri
        schema, url = _postgres_schema(uri)
    deferrable = database == "sqlite"
    with DubEmulator(customers=200, seed=11) as dub:
        start = int(time.time()) + 1
        airflow = AirflowDeployment(
            tmp_path_factory.mktemp(f"airflow-{database}"),
            DAGS_FOLDER,
            url,
            {
                "AIRFLOW_CONN_DUB_DEFAULT": dub.airflow_conn_json(),
                # Customers that exist now are not new: only those the tests add.
                "DUB_DEPLOY_START": str(start),
                "DUB_DEPLOY_DEFERRABLE": "1" if deferrable else "0",
            },
        )
        try:
            airflow.start()
            yield Deployment(airflow, dub, database, deferrable, start)
        finally:
            airflow.stop()
            if schema and uri:
                _drop_schema(uri, schema)
