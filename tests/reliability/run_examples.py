"""
Runs every example DAG of ``dags/`` with ``dag.test()``, in a process of its own, for
``test_secrets.py``: OpenLineage reads its transport once per process, and this process's output
is the task logs the test searches.

Usage: ``python -m tests.reliability.run_examples <storage URL> <warehouse table> <search>``, with
the Dub connections ``dub_default`` and ``dub_unreachable`` (a closed port) in the environment; the
search goes to a run that fails. Before the run that waits in the triggerer it prints ``WAITING`` and
reads a line from stdin (the test then makes customers arrive). The last line printed is
``SUMMARY <json>``: each run's DAG, run id and task states. Without the SQLite provider (the
``examples`` extra) the warehouse load and its report are not run, and the summary says so.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from typing import Any

import pendulum

EXAMPLES = Path(__file__).resolve().parents[2] / "dags"
BUNDLE = "dub-examples"
LOCAL_BUNDLE = "airflow.dag_processing.bundles.local.LocalDagBundle"
#: ``[dag_processor] dag_bundle_config_list``: the session's DAG folder and the examples.
BUNDLE_CONFIG = json.dumps(
    [
        {"name": "dags-folder", "classpath": LOCAL_BUNDLE, "kwargs": {}},
        {"name": BUNDLE, "classpath": LOCAL_BUNDLE, "kwargs": {"path": str(EXAMPLES), "refresh_interval": 0}},
    ]
)


def load_examples() -> dict[str, Any]:
    """Parse the examples and write them to the metadata DB as the DAG processor would."""
    try:  # Airflow >= 3.2
        from airflow.dag_processing.dagbag import DagBag, sync_bag_to_db
    except ImportError:  # Airflow 3.1
        from airflow.models.dagbag import DagBag, sync_bag_to_db  # type: ignore[no-redef]
    from airflow.dag_processing.bundles.manager import DagBundlesManager

    DagBundlesManager().sync_bundles_to_db()
    bag = DagBag(dag_folder=str(EXAMPLES), bundle_path=EXAMPLES)
    assert not bag.import_errors, bag.import_errors
    sync_bag_to_db(bag, BUNDLE, None)
    return bag.dags


def states(dag_run: Any) -> dict[str, str]:
    return {ti.task_id: str(getattr(ti.state, "value", ti.state)) for ti in dag_run.get_task_instances()}


def main(storage: str, table: str, search: str, added_at: str) -> None:
    from tests.conftest import one_in_process_execution_api

    one_in_process_execution_api()  # one Execution API app for all the runs, on Airflow 3.1 too
    dags = load_examples()
    runs: list[dict[str, Any]] = []

    def run(dag_id: str, conf: dict[str, Any] | None = None, logical_date: Any = None, **tasks: Any) -> None:
        dag = dags[dag_id]
        for task_id, attrs in tasks.items():
            for name, value in attrs.items():
                setattr(dag.get_task(task_id), name, value)
        dag_run = dag.test(run_conf=conf, logical_date=logical_date)
        runs.append({"dag_id": dag_id, "run_id": dag_run.run_id, "states": states(dag_run)})

    warehouse = importlib.util.find_spec("airflow.providers.sqlite") is not None
    if warehouse:
        run("dub_customers_warehouse", {"storage": storage, "table": table})
        run("dub_snapshot_report")
    run("dub_filtered_list", {"country": "US"})
    # Fails: Dub unreachable, the search (an email) in the request, the key in the connection.
    run("dub_filtered_list", {"dub_conn_id": "dub_unreachable", "country": "", "search": search})
    # The first run's data interval ends just before the test added its customers: they are new to it.
    first = pendulum.parse(added_at).subtract(seconds=1)
    sensor = {"poke_interval": 0.2, "timeout": 30}
    run("dub_new_customers", {"storage": storage}, first, wait_for_new_customers=sensor)
    print("WAITING", flush=True)
    sys.stdin.readline()
    run("dub_new_customers", {"storage": storage}, first.add(seconds=1), wait_for_new_customers=sensor)
    skipped = [] if warehouse else ["dub_customers_warehouse", "dub_snapshot_report"]
    print("SUMMARY " + json.dumps({"runs": runs, "not_run": skipped}), flush=True)


if __name__ == "__main__":
    main(*sys.argv[1:5])
