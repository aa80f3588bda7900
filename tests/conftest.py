"""Test-wide Airflow settings: a throwaway AIRFLOW_HOME, no example DAGs, no network beyond loopback."""

from __future__ import annotations

import functools
import os
import tempfile
from pathlib import Path

import pytest

_HOME = tempfile.mkdtemp(prefix="airflow-provider-dub-tests-")
os.environ.setdefault("AIRFLOW_HOME", _HOME)
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
os.environ.setdefault("AIRFLOW__CORE__DAGS_FOLDER", str(Path(__file__).parent / "integration" / "dags"))


def one_in_process_execution_api() -> None:
    """
    Let every ``dag.test()`` of this process share one in-process Execution API app, as Airflow >= 3.2
    does (``in_process_api_server`` is cached there); Airflow 3.1 built a new one for every task run.

    Building the app (Cadwyn's versioned routers) costs 4 to 14 s of CPU, which on 3.1 was most of each
    ``dag.test()``. What a run does is unchanged: the same app, requests, database and task runner.
    """
    from airflow.sdk.execution_time import supervisor

    if not hasattr(supervisor.in_process_api_server, "cache_info"):
        supervisor.in_process_api_server = functools.lru_cache(maxsize=1)(supervisor.in_process_api_server)


@pytest.fixture(scope="session")
def airflow_db() -> None:
    """
    The session's metadata DB (SQLite under its AIRFLOW_HOME), migrated once for every test folder;
    every test that runs ``dag.test()`` asks for it, so it also sets up :func:`one_in_process_execution_api`.

    Migrated in this process by the function ``airflow db migrate`` calls: a subprocess would cost a
    whole Airflow start (about 8 s of CPU) for the same tables.
    """
    from airflow.utils.db import upgradedb

    upgradedb()
    one_in_process_execution_api()
