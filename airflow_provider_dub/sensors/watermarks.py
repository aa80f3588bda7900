"""
Where DubNewCustomersSensor keeps its watermark between runs: an Airflow Variable per sensor task.

Not XCom: ``xcom_pull(include_prior_dates=True)`` only sees runs whose ``logical_date`` (or, without
one, ``run_after``) is not after the current run's, and orders them by ``logical_date`` alone. Manual
and asset-triggered runs have no logical date, so the database decides where they sort (SQLite last,
PostgreSQL first); a backfill, a data-interval schedule or ``@continuous`` does not see runs that
happened before it but carry a later date. The order in which runs really happened is in the
watermarks themselves: ``checked_ms`` is when the customers were read, and ``last_id`` only grows.

The Variable (``dub_watermark:<dag_id>:<task_id>``, plus ``:<map_index>`` for a mapped sensor) holds
the watermarks of the last :data:`KEPT_RUNS` runs whose sensor succeeded, each with its run id. A run
uses the newest of those whose sensor task instance is still ``success`` now, so a run cleared or
marked failed since gives way to the one before it, as its XCom would have, and deleting a DAG's runs
starts it over. Everything goes through the Task SDK (tasks have no database access).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from airflow.sdk import Variable

from airflow_provider_dub.protocol import Watermark
from airflow_provider_dub.protocol.new_customers import ulid_key

if TYPE_CHECKING:
    from airflow.sdk.types import RuntimeTaskInstanceProtocol

log = logging.getLogger(__name__)

VARIABLE_PREFIX = "dub_watermark"
#: How many successful runs' watermarks are kept: the newest is used, the others stand in for it
#: when the newest runs are cleared or marked failed.
KEPT_RUNS = 10
#: The longest Variable key Airflow stores.
_MAX_KEY_LENGTH = 250
_SUCCESS = "success"


def variable_key(dag_id: str, task_id: str, map_index: int = -1) -> str:
    """The Variable holding one sensor task's watermarks (a digest when ids are too long for a key)."""
    key = ":".join([VARIABLE_PREFIX, dag_id, task_id, *([str(map_index)] if map_index >= 0 else [])])
    if len(key) <= _MAX_KEY_LENGTH:
        return key
    return f"{VARIABLE_PREFIX}:{hashlib.sha256(key.encode()).hexdigest()}"


@dataclass(frozen=True)
class RunWatermark:
    """The watermark one run's sensor stored."""

    run_id: str
    watermark: Watermark


def recency(watermark: Watermark) -> tuple[int, str]:
    """Sort key: later reads first by ``checked_ms``, then the larger ``last_id``."""
    return watermark.checked_ms, ulid_key(watermark.last_id) if watermark.last_id else ""


def parse_history(value: Any) -> list[RunWatermark]:
    """The entries of a stored Variable value; unreadable entries are left out."""
    runs = value.get("runs") if isinstance(value, dict) else None
    entries = []
    for item in runs if isinstance(runs, list) else []:
        if not isinstance(item, dict) or not isinstance(item.get("run_id"), str):
            continue
        watermark = Watermark.from_json(item.get("watermark"))
        if watermark is not None:
            entries.append(RunWatermark(item["run_id"], watermark))
    return entries


def newest(history: Sequence[RunWatermark], succeeded: Collection[str]) -> RunWatermark | None:
    """The most recent watermark among runs whose sensor succeeded, whatever their dates."""
    candidates = [entry for entry in history if entry.run_id in succeeded]
    return max(candidates, key=lambda entry: recency(entry.watermark), default=None)


def updated_history(
    history: Sequence[RunWatermark], succeeded: Collection[str], run_id: str, watermark: Watermark
) -> list[RunWatermark]:
    """The entries after ``run_id`` stored ``watermark``: still-successful runs only, newest first."""
    kept = [entry for entry in history if entry.run_id in succeeded and entry.run_id != run_id]
    entries = sorted(
        [RunWatermark(run_id, watermark), *kept], key=lambda e: recency(e.watermark), reverse=True
    )
    return entries[:KEPT_RUNS]


def history_json(entries: Sequence[RunWatermark]) -> dict[str, Any]:
    """The Variable's value for these entries."""
    return {"runs": [{"run_id": e.run_id, "watermark": e.watermark.to_json()} for e in entries]}


class WatermarkStore:
    """
    One sensor task's watermarks (one map index), read and written through the Task SDK.

    :param ti: the running task instance (``context["ti"]``).
    """

    def __init__(self, ti: RuntimeTaskInstanceProtocol) -> None:
        self.ti = ti
        self.map_index = ti.map_index if ti.map_index is not None else -1
        self.key = variable_key(ti.dag_id, ti.task_id, self.map_index)
        self._history: list[RunWatermark] | None = None
        self._succeeded: set[str] = set()

    def load(self) -> Watermark | None:
        """The watermark of the most recent earlier run whose sensor succeeded, or ``None``."""
        ti = self.ti
        self._history, self._succeeded = [], set()
        # No successful run yet: nothing to read, and no "not found" error in the task's log.
        if not ti.get_ti_count(
            dag_id=ti.dag_id, map_index=self.map_index, task_ids=[ti.task_id], states=[_SUCCESS]
        ):
            return None
        try:
            stored = Variable.get(self.key, default=None, deserialize_json=True)
        except ValueError:
            log.warning("The Variable %s is not JSON; starting without a watermark", self.key)
            stored = None
        self._history = parse_history(stored)
        if self._history:
            states = ti.get_task_states(
                dag_id=ti.dag_id,
                map_index=self.map_index,
                task_ids=[ti.task_id],
                run_ids=[e.run_id for e in self._history],
            )
            name = ti.task_id if self.map_index < 0 else f"{ti.task_id}_{self.map_index}"
            self._succeeded = {
                run_id for run_id, tasks in states.items() if (tasks or {}).get(name) == _SUCCESS
            }
        found = newest(self._history, self._succeeded)
        return found.watermark if found else None

    def save(self, watermark: Watermark) -> None:
        """Record this run's new watermark (call only when the sensor succeeds)."""
        if self._history is None:
            self.load()
        entries = updated_history(self._history or [], self._succeeded, self.ti.run_id, watermark)
        Variable.set(
            self.key,
            history_json(entries),
            description=(
                f"Where DubNewCustomersSensor {self.ti.task_id!r} of DAG {self.ti.dag_id!r} resumes: the "
                "watermarks of its latest successful runs (managed by the sensor)."
            ),
            serialize_json=True,
        )
