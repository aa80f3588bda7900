"""
The warehouse load: every Dub customer, a full snapshot a day, merged into a warehouse table.

Dub's ``GET /customers`` has no ``updatedAt``, no date filter and no deletion feed: changes to
``sales``, ``saleAmount``, ``firstSaleAt``, ``subscriptionCanceledAt``, ``name``, ``email`` or
``country`` and deleted customers show only in a full read. So each run:

1. ``snapshot`` streams every customer to one JSON Lines file in object storage, partitioned by date:
   ``<storage>/customers/snapshot_date=YYYY-MM-DD/customers.jsonl`` (a re-run replaces it atomically);
2. ``publish_snapshot`` emits the Asset ``dub_customers_snapshot``, the file's URI in the event's
   extra (the DAG ``dub_snapshot_report`` is scheduled on it);
3. ``merge`` loads the file into ``<table>_staging`` in batches (memory does not grow with the number
   of customers), then merges it into ``<table>`` in one transaction, in portable SQL
   (``INSERT ... ON CONFLICT``: SQLite, PostgreSQL) through Airflow's common SQL layer: new customers
   inserted, changed ones updated, customers absent from the snapshot marked deleted (``deleted_at``),
   a customer that reappears restored. It returns (XCom) and logs the counts.

Idempotent: every row records the ``snapshot_date`` of the newest snapshot applied to it, and a
snapshot only touches rows at most as new as itself. A re-run of a day gives the table a run of that
day gives; a backfill of an older day never undoes a newer day's state (it can only add customers
the table has never seen). Note that any run reads Dub as it is *now*: the API has no history.

Configuration, as DAG params (change the defaults below, or per run with "Trigger DAG w/ config"):

* ``dub_conn_id`` (``dub_default``): the Dub connection;
* ``warehouse_conn_id`` (``dub_warehouse``): any DbApiHook connection whose database has
  ``INSERT ... ON CONFLICT`` (SQLite, PostgreSQL). If no connection ``dub_warehouse`` exists, the
  warehouse is the SQLite file ``$AIRFLOW_HOME/dub_warehouse.db``: it runs with no setup at all;
* ``table`` (``dub_customers``): the table, optionally ``schema.table``; created if missing;
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

import json
import logging
import os
import re
from collections.abc import Iterator
from contextlib import closing, contextmanager
from typing import Any

import pendulum
from airflow.providers.common.compat.sdk import AirflowNotFoundException
from airflow.providers.common.sql.hooks.sql import DbApiHook
from airflow.sdk import Asset, BaseHook, ObjectStoragePath, Param, dag, task

from airflow_provider_dub.operators.dub import DubListCustomersOperator

# [START dub_warehouse_settings]
log = logging.getLogger(__name__)
AIRFLOW_HOME = os.environ.get("AIRFLOW_HOME") or os.path.expanduser("~/airflow")
DEFAULT_WAREHOUSE_CONN_ID = "dub_warehouse"
SNAPSHOT = Asset("dub_customers_snapshot")
SNAPSHOT_DATE = "{{ (dag_run.logical_date or dag_run.run_after) | ds }}"
SNAPSHOT_PATH = "{{ params.storage }}/customers/snapshot_date=" + SNAPSHOT_DATE + "/customers.jsonl"
TABLE_PATTERN = r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?"
BATCH_SIZE = 1000
# [END dub_warehouse_settings]

# [START dub_warehouse_schema]
#: Warehouse column -> Dub field. Dub's times are kept as sent (ISO 8601 UTC, sortable as text) in
#: SQLite, as TIMESTAMPTZ in PostgreSQL; ``sale_amount`` is in cents.
COLUMNS = {
    "id": "id",
    "name": "name",
    "email": "email",
    "avatar": "avatar",
    "external_id": "externalId",
    "stripe_customer_id": "stripeCustomerId",
    "country": "country",
    "sales": "sales",
    "sale_amount": "saleAmount",
    "created_at": "createdAt",
    "first_sale_at": "firstSaleAt",
    "subscription_canceled_at": "subscriptionCanceledAt",
}
#: Bookkeeping, all dates of snapshots: first seen, last changed, newest applied, first absent.
BOOKKEEPING = (
    "first_seen_date DATE NOT NULL, updated_date DATE NOT NULL, snapshot_date DATE NOT NULL, deleted_at DATE"
)


def create_tables(table: str, timestamp_type: str) -> list[str]:
    """``CREATE TABLE IF NOT EXISTS`` for the table and its staging table."""
    kinds = {"sales": "BIGINT", "sale_amount": "BIGINT"}
    kinds |= dict.fromkeys(("created_at", "first_sale_at", "subscription_canceled_at"), timestamp_type)
    data = ", ".join(f"{column} {kinds.get(column, 'TEXT')}" for column in COLUMNS)
    return [
        f"CREATE TABLE IF NOT EXISTS {table} ({data}, {BOOKKEEPING}, PRIMARY KEY (id))",
        f"CREATE TABLE IF NOT EXISTS {table}_staging (snapshot_date DATE NOT NULL, {data}, "
        "PRIMARY KEY (snapshot_date, id))",
    ]


# [END dub_warehouse_schema]


# [START dub_warehouse_merge_sql]
def changed(old: str, new: str) -> str:
    """SQL: a row's data differs between ``old`` and ``new`` (NULL-safe), per the anonymous-name rule."""

    def differs(column: str) -> str:
        a, b = f"{old}.{column}", f"{new}.{column}"
        return f"({a} <> {b} OR ({a} IS NULL) <> ({b} IS NULL))"

    name = f"({differs('name')} AND NOT ({old}.email IS NULL AND {new}.email IS NULL))"
    return "(" + " OR ".join([*(differs(c) for c in COLUMNS if c not in ("id", "name")), name]) + ")"


def merge_statements(table: str, p: str) -> dict[str, str]:
    """The merge, keyed by snapshot date (every placeholder ``p`` takes it)."""
    staging, data = f"{table}_staging", ", ".join(COLUMNS)
    touched = f"t.deleted_at IS NOT NULL OR {changed('t', 'excluded')}"
    return {
        "count": f"SELECT COUNT(s.id), COALESCE(SUM(CASE WHEN t.id IS NULL THEN 1 ELSE 0 END), 0), "
        f"COALESCE(SUM(CASE WHEN t.snapshot_date <= {p} AND t.deleted_at IS NULL AND {changed('t', 's')} "
        "THEN 1 ELSE 0 END), 0), "
        f"COALESCE(SUM(CASE WHEN t.snapshot_date <= {p} AND t.deleted_at IS NOT NULL THEN 1 ELSE 0 END), 0), "
        f"COALESCE(SUM(CASE WHEN t.snapshot_date > {p} THEN 1 ELSE 0 END), 0) "
        f"FROM {staging} s LEFT JOIN {table} t ON t.id = s.id WHERE s.snapshot_date = {p}",
        "live": f"SELECT COUNT(*) FROM {table} WHERE deleted_at IS NULL",
        "gone": f"SELECT COUNT(*) FROM {table} t WHERE t.deleted_at IS NULL AND t.snapshot_date <= {p} "
        f"AND NOT EXISTS (SELECT 1 FROM {staging} s WHERE s.snapshot_date = {p} AND s.id = t.id)",
        "upsert": f"INSERT INTO {table} AS t ({data}, first_seen_date, updated_date, snapshot_date) "
        f"SELECT {data}, snapshot_date, snapshot_date, snapshot_date FROM {staging} "
        f"WHERE snapshot_date = {p} ON CONFLICT (id) DO UPDATE SET "
        + ", ".join(f"{c} = excluded.{c}" for c in COLUMNS if c != "id")
        + f", updated_date = CASE WHEN {touched} THEN excluded.snapshot_date ELSE t.updated_date END, "
        "snapshot_date = excluded.snapshot_date, deleted_at = NULL "
        "WHERE t.snapshot_date <= excluded.snapshot_date",
        "mark_deleted": f"UPDATE {table} SET deleted_at = {p}, updated_date = {p}, snapshot_date = {p} "
        f"WHERE deleted_at IS NULL AND snapshot_date <= {p} AND NOT EXISTS "
        f"(SELECT 1 FROM {staging} s WHERE s.snapshot_date = {p} AND s.id = {table}.id)",
        "clear_staging": f"DELETE FROM {staging} WHERE snapshot_date = {p}",
    }


# [END dub_warehouse_merge_sql]


# [START dub_warehouse_merge]
@contextmanager
def warehouse_hook(conn_id: str) -> Iterator[DbApiHook]:
    """The warehouse's DbApiHook; the SQLite file under AIRFLOW_HOME when the default id is undefined."""
    variable = None
    try:
        BaseHook.get_connection(conn_id)
    except AirflowNotFoundException:
        if conn_id != DEFAULT_WAREHOUSE_CONN_ID:
            raise
        path = os.path.join(AIRFLOW_HOME, "dub_warehouse.db")
        log.info("No connection %r: the warehouse is the SQLite file %s", conn_id, path)
        variable = f"AIRFLOW_CONN_{conn_id.upper()}"  # for this task only
        os.environ[variable] = json.dumps({"conn_type": "sqlite", "host": path})
    try:
        hook = DbApiHook.get_hook(conn_id)
        if not isinstance(hook, DbApiHook):
            raise TypeError(f"{conn_id!r} is a {type(hook).__name__}, not a SQL database connection")
        yield hook
    finally:
        if variable:
            os.environ.pop(variable, None)


def load_staging(cursor: Any, sql: str, path: ObjectStoragePath, snapshot_date: str) -> int:
    """Insert the snapshot file's customers into staging, ``BATCH_SIZE`` at a time; return how many."""
    rows: list[tuple[Any, ...]] = []
    total = 0
    with path.open("r", encoding="utf-8") as lines:
        for line in iter(lines.readline, ""):  # Airflow 3.1: the file object is not iterable
            if line.strip():
                customer = json.loads(line)
                rows.append((snapshot_date, *(customer.get(field) for field in COLUMNS.values())))
            if len(rows) >= BATCH_SIZE:
                cursor.executemany(sql, rows)
                total, rows = total + len(rows), []
    if rows:
        cursor.executemany(sql, rows)
    return total + len(rows)


def merge_snapshot(
    hook: DbApiHook, path: ObjectStoragePath, table: str, snapshot_date: str, max_deleted_share: float
) -> dict[str, Any]:
    """Load one day's snapshot into staging, then merge it into ``table`` in one transaction."""
    if not re.fullmatch(TABLE_PATTERN, table):
        raise ValueError(f"table {table!r} is not [schema.]name of letters, digits and '_'")
    p, sql = hook.placeholder, merge_statements(table, hook.placeholder)
    timestamp_type = "TIMESTAMPTZ" if hook.conn_type == "postgres" else "TEXT"
    with closing(hook.get_conn()) as conn:
        cursor = conn.cursor()
        for statement in create_tables(table, timestamp_type):
            cursor.execute(statement)
        cursor.execute(sql["clear_staging"], (snapshot_date,))
        columns = ", ".join(["snapshot_date", *COLUMNS])
        insert = f"INSERT INTO {table}_staging ({columns}) VALUES ({', '.join([p] * (len(COLUMNS) + 1))})"
        records = load_staging(cursor, insert, path, snapshot_date)
        conn.commit()
        cursor.execute(sql["count"], (snapshot_date,) * 4)
        seen, inserted, updated, restored, kept_newer = cursor.fetchone()
        cursor.execute(sql["live"])
        live = cursor.fetchone()[0]
        cursor.execute(sql["gone"], (snapshot_date,) * 2)
        deleted = cursor.fetchone()[0]
        if live and deleted > max_deleted_share * live:
            cursor.execute(sql["clear_staging"], (snapshot_date,))
            conn.commit()
            raise ValueError(
                f"{deleted} of {live} live customers are absent from {path}: more than "
                f"max_deleted_share={max_deleted_share}. Nothing changed; check the Dub connection, "
                "or raise max_deleted_share for this run if Dub really lost them."
            )
        cursor.execute(sql["upsert"], (snapshot_date,))
        cursor.execute(sql["mark_deleted"], (snapshot_date,) * 5)
        cursor.execute(sql["clear_staging"], (snapshot_date,))
        conn.commit()
    counts = {"inserted": inserted, "updated": updated, "restored": restored, "deleted": deleted}
    unchanged = seen - inserted - updated - restored - kept_newer
    return {
        "snapshot_date": snapshot_date,
        "records": records,
        **counts,
        "unchanged": unchanged,
        "kept_newer": kept_newer,
    }


# [END dub_warehouse_merge]


# [START dub_warehouse_dag]
@dag(
    schedule="@daily",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["dub", "example"],
    params={
        "dub_conn_id": Param("dub_default", type="string"),
        "warehouse_conn_id": Param(DEFAULT_WAREHOUSE_CONN_ID, type="string"),
        "table": Param("dub_customers", type="string", pattern=f"^{TABLE_PATTERN}$"),
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

    @task
    def merge(
        summary: dict[str, Any], path: str, snapshot_date: str, params: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """Merge the snapshot into the warehouse table; return what changed."""
        assert params is not None
        table, share = params["table"], float(params["max_deleted_share"])
        with warehouse_hook(params["warehouse_conn_id"]) as hook:
            result = merge_snapshot(hook, ObjectStoragePath(path), table, snapshot_date, share)
        log.info("Merged %s into %s: %s", summary["uri"], table, result)
        return {**result, "snapshot": summary["uri"], "table": table}

    publish_snapshot(snapshot.output, SNAPSHOT_PATH, SNAPSHOT_DATE)
    merge(snapshot.output, SNAPSHOT_PATH, SNAPSHOT_DATE)


dub_customers_warehouse()
# [END dub_warehouse_dag]
