"""
Integration fixtures: the Dub emulator on loopback, and a real Airflow (SQLite metadata DB) that runs
the DAGs in ``tests/integration/dags`` with ``dag.test()``.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from airflow_provider_dub.testing import DubEmulator


@pytest.fixture
def dub(monkeypatch: pytest.MonkeyPatch) -> Iterator[DubEmulator]:
    """A small emulator (2,500 customers), wired up as ``dub_default``."""
    with DubEmulator(customers=2_500, seed=7) as emulator:
        monkeypatch.setenv("AIRFLOW_CONN_DUB_DEFAULT", emulator.airflow_conn_json())
        yield emulator
