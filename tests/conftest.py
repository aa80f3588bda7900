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

ROOT = Path(__file__).resolve().parent.parent
#: Test files that prove nothing depending on the Airflow version, marked ``airflow_independent``;
#: scripts/test.sh runs them on the newest Airflow only. Each calls no Airflow API of its own: pure
#: functions of protocol/, the emulator, SQL text, or reads through the hook whose Airflow side (its
#: connection) other tests prove on every version.
AIRFLOW_INDEPENDENT = (
    "tests/emulator/",  # the emulator's own behaviour
    "tests/unit/protocol/test_pagination.py",  # protocol/: read plans and pagination, against a fake Dub
    "tests/unit/protocol/test_pacer.py",  # protocol/pacer.py: the rate-limit window, injected clocks
    "tests/unit/protocol/test_new_customers.py",  # protocol/new_customers.py
    "tests/unit/protocol/test_params.py",  # protocol/params.py: query parameters
    "tests/unit/protocol/test_top.py",  # protocol/: top-N heap
    "tests/unit/protocol/test_retry.py",  # protocol/retry.py: the retry policy, injected clocks
    "tests/unit/transfers/test_sql_dialects.py",  # the SQL text of each dialect
    "tests/integration/test_parallel_read.py",  # protocol/parallel.py over HTTP, through DubHook
    "tests/integration/test_silent_skip.py",  # filtered reads against the emulator's silent skip
    # The warehouse engines' SQL through the SQL providers' hooks (the same provider versions in both
    # venvs); the operator's Airflow side runs on every version in tests/transfers/test_operator.py and
    # tests/examples/test_warehouse.py.
    "tests/transfers/test_engines.py",
)


def pytest_configure(config: pytest.Config) -> None:
    missing = [path for path in AIRFLOW_INDEPENDENT if not (ROOT / path).exists()]
    if missing:
        raise pytest.UsageError(f"tests/conftest.py: AIRFLOW_INDEPENDENT lists missing paths {missing}")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.relative_to(ROOT).as_posix().startswith(AIRFLOW_INDEPENDENT):
            item.add_marker(pytest.mark.airflow_independent)


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
