"""
The sensor's watermark in a real deployment: scheduled (``@continuous``) and manual runs, one after
the other, each reporting exactly the customers added since the run before it, on SQLite (sensor
deferrable, in the triggerer) and on PostgreSQL (poking).

With ``xcom_pull(include_prior_dates=True)`` a scheduled run after a manual one resumed from an older
scheduled run's watermark (SQLite sorts the manual run's missing logical date last), and a run dated
in the past saw no earlier watermark at all; both report customers again.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pendulum

from tests.deployment.conftest import Deployment

DAG_ID = "dub_deploy_watermark"
TASK_ID = "wait"


@dataclass(frozen=True)
class Report:
    """One successful sensor run and the customers it reported."""

    run_id: str
    run_type: str
    ended: str
    ids: frozenset[str]


def reports(deployment: Deployment) -> list[Report]:
    """Every successful sensor run so far, in the order they ended."""
    airflow = deployment.airflow
    types = {run["dag_run_id"]: run["run_type"] for run in airflow.runs(DAG_ID)}
    found = []
    for ti in airflow.task_instances(DAG_ID, TASK_ID):
        if ti["state"] != "success":
            continue
        result = airflow.return_value(DAG_ID, ti["dag_run_id"], TASK_ID)
        ids = frozenset(c["id"] for c in result["customers"])
        found.append(Report(ti["dag_run_id"], types[ti["dag_run_id"]], ti["end_date"], ids))
    return sorted(found, key=lambda report: report.ended)


def add_and_wait(deployment: Deployment, count: int, done: int) -> tuple[frozenset[str], list[Report]]:
    """
    Add customers, then wait for the sensor's next success (``done + 1`` in all). A deferrable sensor
    is first waited for in the triggerer, so that the customers arrive while it waits there (not
    before its first check, however quickly the test runs).
    """
    if deployment.deferrable:
        airflow = deployment.airflow

        def deferred_run() -> str | None:
            runs = [
                ti["dag_run_id"]
                for ti in airflow.task_instances(DAG_ID, TASK_ID)
                if ti["state"] == "deferred"
            ]
            return runs[0] if runs else None

        def deferral_seen() -> bool | None:
            # Airflow's own race (seen on 3.3.2, loaded machine): a task that resumes before the
            # scheduler has the exit of the process that deferred it is marked failed. A trigger firing
            # within seconds of its start meets it; here the customers arrive once the scheduler has it.
            event = (
                "Received executor event with state success for task instance "
                f"TaskInstanceKey(dag_id='{DAG_ID}', task_id='{TASK_ID}', run_id='{run_id}'"
            )
            return True if event in (airflow.home / "scheduler.log").read_text(errors="replace") else None

        run_id = airflow.wait_for("a sensor waiting in the triggerer", deferred_run)
        airflow.wait_for(f"the scheduler to have the deferral of {run_id}", deferral_seen)
    added = frozenset(c["id"] for c in deployment.dub.add_customers(count))

    def next_success() -> list[Report] | None:
        found = reports(deployment)
        return found if len(found) > done else None

    return added, deployment.airflow.wait_for(f"sensor success #{done + 1}", next_success)


def error_lines(lines: list[str]) -> list[str]:
    """The ERROR (and worse) lines of a task log (JSON lines on Airflow 3, or text)."""
    errors = []
    for line in lines:
        try:
            level = str(json.loads(line).get("level", "")).lower()
        except (ValueError, AttributeError):
            level = "error" if " ERROR " in line or " CRITICAL " in line else ""
        if level in ("error", "critical", "exception"):
            errors.append(line)
    return errors


def test_scheduled_and_manual_runs_report_each_new_customer_once(deployment: Deployment) -> None:
    airflow = deployment.airflow
    first, found = add_and_wait(deployment, 2, 0)  # the first scheduled run, waiting since it started
    batches = [first]
    airflow.trigger(DAG_ID)  # queued behind the next scheduled run, or ahead of it
    for count in (1, 1, 1):
        added, found = add_and_wait(deployment, count, len(batches))
        batches.append(added)

    assert [report.ids for report in found] == batches, [(r.run_type, sorted(r.ids)) for r in found]
    failed = [ti["dag_run_id"] for ti in airflow.task_instances(DAG_ID, TASK_ID) if ti["state"] == "failed"]
    assert failed == []
    kinds = [report.run_type for report in found]
    assert kinds[0] == "scheduled"
    assert "manual" in kinds
    assert "scheduled" in kinds[kinds.index("manual") + 1 :], kinds  # a scheduled run after the manual one
    first_log = airflow.task_log_lines(DAG_ID, found[0].run_id, TASK_ID)
    assert first_log, "no log for the first run"
    assert error_lines(first_log) == []
    if deployment.deferrable:  # at least one run waited in the triggerer
        logs = [line for r in found for line in airflow.task_log_lines(DAG_ID, r.run_id, TASK_ID)]
        assert any("DEFERRED" in line for line in logs)
        assert any("Trigger fired event" in line for line in logs)


def test_a_run_dated_in_the_past_resumes_from_the_newest_watermark(deployment: Deployment) -> None:
    airflow = deployment.airflow
    done = len(reports(deployment))
    # Like a backfill: a logical date before every run's but the first (no earlier: the DAG starts
    # then, and a run before its start date has no task), triggered after them.
    dated = pendulum.from_timestamp(deployment.start + 1)
    airflow.trigger(DAG_ID, dated.isoformat())
    batches = []
    for _ in range(2):  # the scheduled run waiting now and the one dated in the past, in either order
        added, found = add_and_wait(deployment, 1, done + len(batches))
        batches.append(added)

    new = found[done:]
    assert [report.ids for report in new] == batches, [(r.run_id, sorted(r.ids)) for r in new]
    types = {run["dag_run_id"]: (run["run_type"], run["logical_date"]) for run in airflow.runs(DAG_ID)}
    assert ("manual", dated) in [(types[r.run_id][0], pendulum.parse(types[r.run_id][1])) for r in new], types
    reported = [customer for report in found for customer in report.ids]
    assert len(reported) == len(set(reported)), "a customer reported twice"
