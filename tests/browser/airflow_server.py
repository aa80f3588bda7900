"""A real ``airflow api-server`` in a throwaway AIRFLOW_HOME, for the browser tests.

Everything it writes (database, logs, passwords file) stays in the home folder it is given. It is
started in its own process group and stopped with it, uvicorn workers included.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import requests

ADMIN_USER = "admin"
ADMIN_PASSWORD = "dub-browser-test"
#: Bounds on the slow steps: a cold `db migrate` takes about 7 s here, the server about 8 s to answer.
CLI_TIMEOUT = 180.0
START_TIMEOUT = 120.0
STOP_TIMEOUT = 15.0


def free_port() -> int:
    """A TCP port that is free on 127.0.0.1 right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def airflow_env(home: Path, dags_folder: Path, port: int) -> dict[str, str]:
    """The server's environment: this one without any Airflow setting, plus the test's own."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("AIRFLOW")}
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_FOLDER": str(dags_folder),
            "AIRFLOW__CORE__TEST_CONNECTION": "Enabled",
            "AIRFLOW__CORE__AUTH_MANAGER": (
                "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
            ),
            # SimpleAuthManager: users are "name:role"; their passwords come from this JSON file, which
            # it only fills in (with random ones) for users that are missing from it.
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{ADMIN_USER}:admin",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(home / "passwords.json"),
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(port),
            "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{port}",
            "NO_PROXY": "127.0.0.1,localhost",
        }
    )
    return env


class AirflowApiServer:
    """``airflow db migrate``, optionally ``airflow dags reserialize``, then ``airflow api-server``."""

    def __init__(self, home: Path, dags_folder: Path) -> None:
        self.home = home
        self.dags_folder = dags_folder
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = airflow_env(home, dags_folder, self.port)
        self.log_path = home / "api-server.log"
        self._process: subprocess.Popen[bytes] | None = None
        self._token: str | None = None

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        """Run ``airflow ARGS`` with the server's environment; fail with its output if it fails."""
        result = subprocess.run(
            [sys.executable, "-m", "airflow", *args],
            env=self.env,
            cwd=self.home,
            capture_output=True,
            text=True,
            timeout=CLI_TIMEOUT,
            check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(
                f"airflow {' '.join(args)} exited {result.returncode}:\n{result.stdout[-3000:]}\n"
                f"{result.stderr[-3000:]}"
            )
        return result

    def start(self, reserialize: bool = False) -> None:
        """Prepare the database, start the server and wait until it answers healthy."""
        self.home.mkdir(parents=True, exist_ok=True)
        (self.home / "passwords.json").write_text(json.dumps({ADMIN_USER: ADMIN_PASSWORD}))
        self.cli("db", "migrate")
        if reserialize:
            self.cli("dags", "reserialize")
        with self.log_path.open("wb") as log:
            self._process = subprocess.Popen(
                [sys.executable, "-m", "airflow", "api-server", *self._server_args()],
                env=self.env,
                cwd=self.home,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self._wait_healthy()

    def _server_args(self) -> list[str]:
        return ["--host", "127.0.0.1", "--port", str(self.port), "--workers", "1"]

    def _wait_healthy(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self._process is None or self._process.poll() is not None:
                raise RuntimeError(f"airflow api-server exited early:\n{self.log_tail()}")
            try:
                health = requests.get(f"{self.url}/api/v2/monitor/health", timeout=2).json()
                if health["metadatabase"]["status"] == "healthy":
                    return
            except (requests.RequestException, ValueError, KeyError):
                pass
            time.sleep(0.25)
        raise RuntimeError(f"airflow api-server not healthy within {START_TIMEOUT:g} s:\n{self.log_tail()}")

    def log_tail(self, chars: int = 4000) -> str:
        """The end of the server's log, for failure messages."""
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return "(no log)"

    def stop(self) -> None:
        """Stop the server and every process it started; idempotent."""
        process, self._process = self._process, None
        if process is None:
            return
        _signal_group(process.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=STOP_TIMEOUT)
        # Whatever is left of the group (a worker that outlived the server) goes too.
        _signal_group(process.pid, signal.SIGKILL)
        process.wait(timeout=STOP_TIMEOUT)

    # -- REST API -------------------------------------------------------------------------------------

    def token(self) -> str:
        """A JWT for the admin user, from SimpleAuthManager's token endpoint."""
        if self._token is None:
            response = requests.post(
                f"{self.url}/auth/token",
                json={"username": ADMIN_USER, "password": ADMIN_PASSWORD},
                timeout=10,
            )
            response.raise_for_status()
            self._token = str(response.json()["access_token"])
        return self._token

    def api(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """Call the REST API (``/api/v2`` + path) as the admin user."""
        headers = {"Authorization": f"Bearer {self.token()}", **kwargs.pop("headers", {})}
        return requests.request(method, f"{self.url}/api/v2{path}", headers=headers, timeout=30, **kwargs)


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)
