"""
Fixtures of the reliability suite: a migrated metadata DB for ``dag.test()`` runs, Dub connections for
an emulator with chosen extras, and the fault table, printed in the terminal summary and written to
``<pytest's base temp>/fault-table.txt``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_dub.testing import DubEmulator
from tests.reliability.fault_table import FaultRow, render

FAULT_ROWS = pytest.StashKey[list[FaultRow]]()
FAULT_TABLE_FILE = pytest.StashKey[Path]()


def set_connection(
    monkeypatch: pytest.MonkeyPatch, dub: DubEmulator, conn_id: str = "dub_default", **fields: Any
) -> str:
    """Point ``conn_id`` at the emulator; ``fields`` override ``password``/``host``, ``extra`` is merged."""
    conn = json.loads(dub.airflow_conn_json())
    extra = fields.pop("extra", {})
    conn.update(fields)
    if extra:
        conn["extra"] = extra
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(conn))
    return conn_id


@pytest.fixture(scope="session")
def fault_rows(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[list]:
    """The fault table's rows; at the end of the session they are written to a file and printed."""
    rows: list[FaultRow] = []
    request.config.stash[FAULT_ROWS] = rows
    yield rows
    path = tmp_path_factory.getbasetemp() / "fault-table.txt"
    path.write_text(render(rows) + "\n")
    request.config.stash[FAULT_TABLE_FILE] = path


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    rows = config.stash.get(FAULT_ROWS, [])
    if not rows:
        return
    terminalreporter.section("Dub fault table: faults x outcome x requests")
    terminalreporter.write_line(render(rows))
    path = config.stash.get(FAULT_TABLE_FILE, None)
    if path is not None:
        terminalreporter.write_line(f"(written to {path})")
