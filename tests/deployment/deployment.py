"""
A real Airflow deployment for the tests: api-server, scheduler, dag-processor and triggerer, each an
``airflow`` subprocess in one throwaway AIRFLOW_HOME, on SQLite or on a PostgreSQL schema of its own.

Tasks run the way ``airflow standalone`` runs them: the scheduler's LocalExecutor starts each one in a
process that talks to the api-server's Execution API; deferred sensors wait in the triggerer.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from tests.browser.airflow_server import (
    STOP_TIMEOUT,
    AirflowApiServer,
    _signal_group,
)

#: Bound on every wait for a state (a task start costs a few seconds on a busy machine).
WAIT_TIMEOUT = 120.0
_POLL = 0.5
_T = TypeVar("_T")


class AirflowDeployment(AirflowApiServer):
    """
    The api-server (see :class:`AirflowApiServer`) plus the scheduler, the dag-processor and the triggerer.

    :param home: the AIRFLOW_HOME to create.
    :param dags_folder: the DAG folder.
    :param database_url: SQLAlchemy URL of the metadata database (``None``: SQLite in ``home``).
    :param extra_env: more environment for every process (connections, the DAG's settings).
    """

    SERVICES = ("scheduler", "dag-processor", "triggerer")

    def __init__(
        self, home: Path, dags_folder: Path, database_url: str | None, extra_env: dict[str, str]
    ) -> None:
        super().__init__(home, dags_folder)
        self.env.update(
            {
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": database_url or f"sqlite:///{home / 'airflow.db'}",
                "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
                "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.url}/execution/",
                # One secret for every process: the scheduler signs the tasks' tokens, the api-server checks them.
                "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(16),
                "AIRFLOW__API__SECRET_KEY": secrets.token_hex(16),
                "AIRFLOW__CORE__PARALLELISM": "4",
                "AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME": "0.5",
                **extra_env,
            }
        )
        self._services: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, reserialize: bool = False) -> None:
        """Migrate the database, start the api-server (as the browser tests do), then every service."""
        super().start(reserialize)
        self._start_service("dag-processor")
        self._start_service("triggerer")
        # Only now: tasks the scheduler starts call the api-server at once.
        self._start_service("scheduler")

    def _start_service(self, name: str) -> None:
        with (self.home / f"{name}.log").open("wb") as log:
            self._services[name] = subprocess.Popen(
                [sys.executable, "-m", "airflow", name],
                env=self.env,
                cwd=self.home,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def stop(self) -> None:
        """Stop every service and the processes they started (task runners included); idempotent."""
        services, self._services = self._services, {}
        for process in services.values():
            _stop_group(process)
        super().stop()

    def logs(self, chars: int = 3000) -> str:
        """The end of each service's log, for failure messages."""
        parts = [f"--- api-server ---\n{self.log_tail(chars)}"]
        for name in self.SERVICES:
            path = self.home / f"{name}.log"
            text = path.read_text(errors="replace")[-chars:] if path.exists() else "(no log)"
            parts.append(f"--- {name} ---\n{text}")
        return "\n".join(parts)

    # -- reading the metadata through the REST API ----------------------------------------------------

    def get(self, path: str, **params: Any) -> Any:
        """GET from the REST API; ``None`` when not found (e.g. a DAG not parsed yet)."""
        response = self.api("GET", path, params=params)
        if response.status_code == 404:
            return None
        response.raise_for_status()
        return response.json()

    def runs(self, dag_id: str) -> list[dict[str, Any]]:
        """Every run of the DAG (run id, type, state, dates)."""
        found = self.get(f"/dags/{dag_id}/dagRuns", limit=100)
        return list(found["dag_runs"]) if found else []

    def task_instances(self, dag_id: str, task_id: str) -> list[dict[str, Any]]:
        """The task's instances in every run of the DAG."""
        found = self.get(f"/dags/{dag_id}/dagRuns/~/taskInstances", limit=100)
        return [ti for ti in found["task_instances"] if ti["task_id"] == task_id] if found else []

    def return_value(self, dag_id: str, run_id: str, task_id: str) -> Any:
        """What the task returned (its ``return_value`` XCom), as JSON."""
        entry = self.get(
            f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/xcomEntries/return_value",
            deserialize=True,
        )
        value = entry["value"]
        return json.loads(value) if isinstance(value, str) else value

    def task_log_lines(self, dag_id: str, run_id: str, task_id: str) -> list[str]:
        """The lines of every attempt's log files of a task instance (its triggers' included)."""
        folder = self.home / "logs" / f"dag_id={dag_id}" / f"run_id={run_id}" / f"task_id={task_id}"
        return [line for path in sorted(folder.glob("attempt=*")) for line in path.read_text().splitlines()]

    def trigger(self, dag_id: str, logical_date: str | None = None) -> None:
        """
        A manual run, as a user starts one from the UI (its Trigger button posts here): no logical
        date unless one is given. The REST API rather than ``airflow dags trigger``, which costs a
        whole Airflow start (8 to 30 s here) while the test waits.
        """
        response = self.api("POST", f"/dags/{dag_id}/dagRuns", json={"logical_date": logical_date})
        assert response.status_code == 200, response.text

    def wait_for(self, what: str, check: Callable[[], _T | None], timeout: float = WAIT_TIMEOUT) -> _T:
        """Poll ``check`` until it returns something; fail naming ``what``, with the services' logs."""
        deadline = time.monotonic() + timeout
        while True:
            result = check()
            if result is not None:
                return result
            for name, process in self._services.items():
                if process.poll() is not None:
                    raise AssertionError(f"airflow {name} exited while waiting for {what}:\n{self.logs()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"No {what} within {timeout:g} s:\n{self.logs()}")
            time.sleep(_POLL)


def _stop_group(process: subprocess.Popen[bytes]) -> None:
    _signal_group(process.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=STOP_TIMEOUT)
    _signal_group(process.pid, signal.SIGKILL)
    process.wait(timeout=STOP_TIMEOUT)
