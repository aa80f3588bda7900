"""
The warehouse load: every Dub customer, a full snapshot a day, merged into a warehouse table.

Dub's ``GET /customers`` has no ``updatedAt``, no date filter and no deletion feed: changes to
``sales``, ``saleAmount``, ``firstSaleAt``, ``subscriptionCanceledAt``, ``name``, ``email`` or
``country`` and deleted customers show only in a full read. So each run:

1. ``snapshot`` streams every customer to one JSON Lines file in object storage, partitioned by date:
   ``<storage>/customers/snapshot_date=YYYY-MM-DD/customers.jsonl`` (a re-run replaces it atomically);
2. ``publish_snapshot`` emits the Asset ``dub_customers_snapshot``, the file's URI in the event's
   extra (the DAG ``dub_snapshot_report`` is scheduled on it);
3. ``merge`` (:class:`~airflow_provider_dub.transfers.dub_to_sql.DubCustomersToSqlOperator`) loads
   the file into ``<table>_staging`` in batches (memory does not grow with the number of customers),
   then merges it into ``<table>`` in one transaction through Airflow's common SQL layer: new
   customers inserted, changed ones updated, customers absent from the snapshot marked deleted
   (``deleted_at``), a customer that reappears restored; with ``history_table``, one row per customer
   version too. It returns (XCom) and logs the counts.

Idempotent: every row records the ``snapshot_date`` of the newest snapshot applied to it, and a
snapshot only touches rows at most as new as itself. A re-run of a day gives the table a run of that
day gives; a backfill of an older day never undoes a newer day's state (it can only add customers
the table has never seen). Note that any run reads Dub as it is *now*: the API has no history.

Configuration, as DAG params (change the defaults below, or per run with "Trigger DAG w/ config"):

* ``dub_conn_id`` (``dub_default``): the Dub connection;
* ``warehouse_conn_id`` (``dub_warehouse``): the warehouse, any SQL connection (SQLite, PostgreSQL,
  DuckDB, Snowflake, BigQuery, Databricks, Redshift; the dialect follows the connection type). If no
  connection ``dub_warehouse`` exists, the warehouse is the SQLite file
  ``$AIRFLOW_HOME/dub_warehouse.db`` (the operator's ``sqlite_fallback_path``): no setup at all;
* ``table`` (``dub_customers``): the table, optionally ``schema.table``; created if missing;
* ``history_table`` (empty: none): a table of customer versions, e.g. ``dub_customers_history``;
* ``storage`` (``file://$AIRFLOW_HOME/dub-data``): where snapshots go; any ``ObjectStoragePath`` URL,
  with the object storage connection in it if needed, e.g. ``s3://aws_default@bucket/dub`` (needs
  the amazon provider with s3fs);
* ``max_deleted_share`` (0.5): fail, changing nothing, rather than mark more than this share of the
  live customers deleted at once (a wrong key or workspace would otherwise "delete" everyone).

Anonymous customers: Dub gives a customer with neither name nor email a new random name on every
request, and a real name without an email looks the same in the API. So for a customer with no email
(before and after), a name change is written but does not count as an update and does not move
``updated_date``: the table always shows the latest snapshot, without a daily churn of fake updates.
"""

from __future__ import annotations

import os
from typing import Any

import pendulum
from airflow.sdk import Asset, Param, dag, task

from airflow_provider_dub.operators.dub import DubListCustomersOperator
from airflow_provider_dub.transfers.dub_to_sql import DubCustomersToSqlOperator

# [START dub_warehouse_settings]
AIRFLOW_HOME = os.environ.get("AIRFLOW_HOME") or os.path.expanduser("~/airflow")
SNAPSHOT = Asset("dub_customers_snapshot")
SNAPSHOT_DATE = "{{ (dag_run.logical_date or dag_run.run_after) | ds }}"
SNAPSHOT_PATH = "{{ params.storage }}/customers/snapshot_date=" + SNAPSHOT_DATE + "/customers.jsonl"
WAREHOUSE_FILE = f"{AIRFLOW_HOME}/dub_warehouse.db"
SQLITE_FALLBACK = "{{ '" + WAREHOUSE_FILE + "' if params.warehouse_conn_id == 'dub_warehouse' else '' }}"
TABLE_PATTERN = r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?"
# [END dub_warehouse_settings]


# [START dub_warehouse_dag]
@dag(
    schedule="@daily",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["dub", "example"],
    params={
        "dub_conn_id": Param("dub_default", type="string"),
        "warehouse_conn_id": Param("dub_warehouse", type="string"),
        "table": Param("dub_customers", type="string", pattern=f"^{TABLE_PATTERN}$"),
        "history_table": Param("", type="string", pattern=f"^({TABLE_PATTERN})?$"),
        "storage": Param(f"file://{AIRFLOW_HOME}/dub-data", type="string"),
        "max_deleted_share": Param(0.5, type="number", minimum=0, maximum=1),
    },
)
def dub_customers_warehouse() -> None:
    """A daily full snapshot of the Dub customers, merged into a warehouse table."""
    # No filters: only a full read shows deletions. publish_snapshot emits the Asset.
    snapshot = DubListCustomersOperator(
        task_id="snapshot", dub_conn_id="{{ params.dub_conn_id }}", output_path=SNAPSHOT_PATH
    )

    @task(outlets=[SNAPSHOT])
    def publish_snapshot(
        summary: dict[str, Any], path: str, snapshot_date: str, *, outlet_events: Any = None
    ) -> None:
        """Tell the snapshot's consumers which file is new (``path`` keeps a connection id, ``uri`` not)."""
        extra = {"path": path, "uri": summary["uri"], "records": summary["records"], "date": snapshot_date}
        outlet_events[SNAPSHOT].extra = extra

    merge = DubCustomersToSqlOperator(
        task_id="merge",
        snapshot_path=SNAPSHOT_PATH,
        sql_conn_id="{{ params.warehouse_conn_id }}",
        table="{{ params.table }}",
        history_table="{{ params.history_table }}",
        max_deleted_share="{{ params.max_deleted_share }}",
        snapshot_date=SNAPSHOT_DATE,
        # The default id without a connection: an SQLite file in the Airflow home, no setup needed
        # (any other id must exist: a typo should fail, not write elsewhere).
        sqlite_fallback_path=SQLITE_FALLBACK,
    )
    publish_snapshot(snapshot.output, SNAPSHOT_PATH, SNAPSHOT_DATE)
    snapshot >> merge


dub_customers_warehouse()
# [END dub_warehouse_dag]
