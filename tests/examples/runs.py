"""Running the example DAGs of ``dags/`` in-process with ``dag.test()`` on Airflow 3.1 to 3.3.

The test session's DAG folder is ``tests/integration/dags``; the examples are a second DAG bundle,
``dub-examples`` (configured by the ``example_bundle`` fixture), parsed and written to the metadata DB
the way the DAG processor would.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

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


def load_example(dag_id: str) -> Any:
    """Parse every example file, write the DAGs to the metadata DB; return the DAG ``dag_id``."""
    try:  # Airflow >= 3.2
        from airflow.dag_processing.dagbag import DagBag, sync_bag_to_db
    except ImportError:  # Airflow 3.1
        from airflow.models.dagbag import DagBag, sync_bag_to_db  # type: ignore[no-redef]
    from airflow.dag_processing.bundles.manager import DagBundlesManager

    DagBundlesManager().sync_bundles_to_db()
    bag = DagBag(dag_folder=str(EXAMPLES), bundle_path=EXAMPLES)
    assert not bag.import_errors, bag.import_errors
    sync_bag_to_db(bag, BUNDLE, None)
    return bag.dags[dag_id]


def run_example(
    dag_id: str, conf: dict[str, Any] | None = None, logical_date: Any = None, **task_attrs: Any
) -> Any:
    """Run an example DAG once with ``dag.test()``; ``task_attrs`` as ``{task_id: {attr: value}}``."""
    dag = load_example(dag_id)
    for task_id, attrs in task_attrs.items():
        for name, value in attrs.items():
            setattr(dag.get_task(task_id), name, value)
    return dag.test(run_conf=conf, logical_date=logical_date)
