"""DubCustomersToSqlOperator: a customer snapshot file merged into a warehouse table (and its history)."""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import closing, suppress
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from airflow.sdk import BaseHook, BaseOperator

from airflow_provider_dub.exceptions import DubDeletedShareError, DubValidationError
from airflow_provider_dub.transfers.settings import LoadSettings, check_settings, choose_dialect
from airflow_provider_dub.transfers.snapshot_reader import (
    open_snapshot_path,
    read_batches,
    resolve_snapshot_format,
)
from airflow_provider_dub.transfers.sql_dialects import (
    COLUMNS,
    FIRST_LOAD_COLUMNS,
    STAGING_COLUMNS,
    Dialect,
    FreshTableLoad,
    MergeStatements,
    create_tables,
    fresh_table_load,
    merge_statements,
    staging_name,
)
from airflow_provider_dub.transfers.sql_history import create_history_table, history_statements
from airflow_provider_dub.transfers.staging import data_batches, first_load_batches, load_rows
from airflow_provider_dub.writers import asset_uri

if TYPE_CHECKING:
    from airflow.sdk import Context, ObjectStoragePath

#: The run's date, also for manual runs without a logical date.
DEFAULT_SNAPSHOT_DATE = "{{ (dag_run.logical_date or dag_run.run_after) | ds }}"


class _Warehouse:
    """A warehouse, known from its Airflow connection before any database is opened."""

    def __init__(
        self, conn_type: str, placeholder: str, hook: Any, namespace: str, sqlite_file: str = ""
    ) -> None:
        self.conn_type, self.placeholder, self.hook, self.namespace = conn_type, placeholder, hook, namespace
        self.sqlite_file = sqlite_file

    def connect(self) -> Any:
        """Open a DB-API connection, autocommit off (one transaction for the merge, e.g. on Snowflake)."""
        if self.hook is None:
            import sqlite3

            return sqlite3.connect(self.sqlite_file)
        conn = self.hook.get_conn()
        if self.hook.supports_autocommit:
            self.hook.set_autocommit(conn, False)
        return conn


class DubCustomersToSqlOperator(BaseOperator):
    """
    Merge a snapshot of every Dub customer into a warehouse table, and optionally its history.

    Dub has no ``updatedAt`` and no deletion feed, so a full snapshot (the file a
    :class:`~airflow_provider_dub.operators.dub.DubListCustomersOperator` wrote) is the only way to
    see changes. The file is loaded into ``<table>_staging`` (SQLite: a temporary table), then
    merged in one transaction with set-based statements: new customers inserted, changed ones
    updated, customers absent from the snapshot marked deleted (``deleted_at``), returning ones
    restored. Every row records the
    ``snapshot_date`` of the newest snapshot applied to it and a snapshot only touches rows at most
    as new as itself: re-runs are idempotent and a backfill never undoes a newer day. Tables are
    created if missing. Returns (and logs) the counts, never customer data.

    :param snapshot_path: the snapshot file, JSON Lines or Parquet: any ``ObjectStoragePath`` URL
        (``file:///...``, ``s3://conn_id@bucket/key``, ...). (templated)
    :param sql_conn_id: the warehouse: any connection whose hook is a ``DbApiHook`` (SQLite,
        PostgreSQL, DuckDB, Snowflake, BigQuery, Databricks, Redshift). (templated)
    :param table: ``[catalog.][schema.]name`` of the table. (templated)
    :param history_table: if set, one row per customer version (``valid_from``, ``valid_to``,
        ``is_current``, ``is_deleted``) is kept there. (templated)
    :param max_deleted_share: fail, changing nothing, rather than mark more than this share (0..1)
        of the live customers deleted at once (a wrong key or workspace would "delete" everyone).
        (templated)
    :param snapshot_date: the day the snapshot stands for, ``YYYY-MM-DD``; by default the run's
        logical date (or, without one, the day it ran). (templated)
    :param snapshot_conn_id: the object storage connection, if not in the URL. (templated)
    :param snapshot_format: ``jsonl`` or ``parquet``; by default from the file's extension.
    :param dialect: the SQL dialect (``sqlite``, ``postgres``, ``duckdb``, ``snowflake``,
        ``bigquery``, ``databricks``, ``redshift``); by default from the connection's type.
    :param merge_syntax: ``on_conflict`` (``INSERT ... ON CONFLICT``) or ``merge`` (``MERGE``); by
        default the dialect's first (``on_conflict`` where it exists).
    :param batch_size: rows read and staged at a time (memory does not grow with the snapshot).
    :param sqlite_fallback_path: if set and no connection ``sql_conn_id`` exists, the warehouse is
        this SQLite file (a default warehouse that needs no setup). (templated)
    """

    template_fields: Sequence[str] = (
        "snapshot_path",
        "sql_conn_id",
        "table",
        "history_table",
        "max_deleted_share",
        "snapshot_date",
        "snapshot_conn_id",
        "snapshot_format",
        "dialect",
        "merge_syntax",
        "batch_size",
        "sqlite_fallback_path",
    )
    ui_color = "#e8f4ff"

    def __init__(
        self,
        *,
        snapshot_path: str,
        sql_conn_id: str,
        table: str,
        history_table: str | None = None,
        max_deleted_share: float | str = 0.5,
        snapshot_date: str = DEFAULT_SNAPSHOT_DATE,
        snapshot_conn_id: str | None = None,
        snapshot_format: str | None = None,
        dialect: str | None = None,
        merge_syntax: str | None = None,
        batch_size: int | str = 10_000,
        sqlite_fallback_path: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.snapshot_path = snapshot_path
        self.sql_conn_id = sql_conn_id
        self.table = table
        self.history_table = history_table
        self.max_deleted_share = max_deleted_share
        self.snapshot_date = snapshot_date
        self.snapshot_conn_id = snapshot_conn_id
        self.snapshot_format = snapshot_format
        self.dialect = dialect
        self.merge_syntax = merge_syntax
        self.batch_size = batch_size
        self.sqlite_fallback_path = sqlite_fallback_path

    def execute(self, context: Context) -> dict[str, Any]:
        settings = check_settings(
            table=self.table,
            history_table=self.history_table,
            snapshot_date=self.snapshot_date,
            max_deleted_share=self.max_deleted_share,
            batch_size=self.batch_size,
        )
        snapshot_format = resolve_snapshot_format(self.snapshot_format, str(self.snapshot_path or ""))
        path = open_snapshot_path(self.snapshot_path, self.snapshot_conn_id)
        if not isinstance(self.sql_conn_id, str) or not self.sql_conn_id:
            raise DubValidationError("sql_conn_id", "expected a connection id", "a non-empty string")
        started = time.monotonic()
        warehouse = self._warehouse()
        dialect, syntax = choose_dialect(warehouse.conn_type, self.dialect, self.merge_syntax)
        with closing(warehouse.connect()) as conn:
            result = self._load(conn, warehouse.placeholder, dialect, syntax, settings, path, snapshot_format)
        result |= {
            "snapshot": asset_uri(path),
            "table": settings.table,
            "history_table": settings.history_table,
            "dialect": dialect.name,
            "merge_syntax": syntax,
            "duration_seconds": round(time.monotonic() - started, 3),
        }
        self.log.info(
            "Merged the snapshot of %s (%d customers) into %s: inserted %d, updated %d, marked deleted %d, "
            "restored %d, unchanged %d, kept newer %d, in %.1f s",
            result["snapshot_date"],
            result["records"],
            settings.table,
            result["inserted"],
            result["updated"],
            result["deleted"],
            result["restored"],
            result["unchanged"],
            result["kept_newer"],
            result["duration_seconds"],
        )
        self._lineage = (asset_uri(path), warehouse.namespace, settings.table)
        return result

    def _warehouse(self) -> _Warehouse:
        """The warehouse: the hook of ``sql_conn_id``, else the SQLite fallback file."""
        from airflow.providers.common.compat.sdk import AirflowNotFoundException

        try:
            connection = BaseHook.get_connection(self.sql_conn_id)
        except AirflowNotFoundException:
            if not self.sqlite_fallback_path:
                raise
            path = str(self.sqlite_fallback_path)
            self.log.info("No connection %r: the warehouse is the SQLite file %s", self.sql_conn_id, path)
            return _Warehouse("sqlite", "?", None, f"sqlite://{path}", sqlite_file=path)
        try:
            from airflow.providers.common.sql.hooks.sql import DbApiHook
        except ImportError:
            raise DubValidationError(
                "sql_conn_id",
                "the common SQL provider is not installed",
                "install 'airflow-provider-dub[sql]' (apache-airflow-providers-common-sql)",
            ) from None
        hook = connection.get_hook()
        if not isinstance(hook, DbApiHook):
            raise DubValidationError(
                "sql_conn_id",
                f"{self.sql_conn_id!r} is a {connection.conn_type} connection, its hook no DbApiHook",
                "a SQL database connection (sqlite, postgres, duckdb, snowflake, ...)",
            )
        conn_type = connection.conn_type or ""
        host = f"{connection.host or ''}{f':{connection.port}' if connection.port else ''}"
        return _Warehouse(conn_type, hook.placeholder, hook, f"{conn_type}://{host}")

    def _load(
        self,
        conn: Any,
        placeholder: str,
        dialect: Dialect,
        syntax: str,
        settings: LoadSettings,
        path: ObjectStoragePath,
        snapshot_format: str,
    ) -> dict[str, Any]:
        day, table = settings.snapshot_date, settings.table
        started = time.monotonic()
        sql = merge_statements(dialect, table, day, syntax)
        cursor = conn if dialect.statements_on_connection else conn.cursor()
        # Set-up and staging (an empty table needs none), committed on their own; the merge below is
        # one transaction. A missing table is created there, if the dialect loads faster so.
        fresh = self._fresh_table(cursor, dialect, table, day)
        for statement in create_tables(dialect, table, with_table=fresh is None):
            cursor.execute(statement)
        if settings.history_table:
            cursor.execute(create_history_table(dialect, settings.history_table))
        if fresh is None:
            cursor.execute(sql.any_row)
            first_load = cursor.fetchone() is None
        else:
            first_load = True
        batches = read_batches(path, snapshot_format, day, settings.batch_size)
        if not first_load:
            cursor.execute(sql.clear_staging)
            staging = staging_name(dialect, table)
            records = load_rows(conn, cursor, dialect.loader, staging, STAGING_COLUMNS, placeholder, batches)
            if dialect.analyze_staging:
                cursor.execute(f"ANALYZE {staging}")
            self.log.info(
                "Staged %d customers from %s in %.1f s", records, asset_uri(path), time.monotonic() - started
            )
        conn.commit()
        try:
            if dialect.begin:
                cursor.execute(dialect.begin)
            if first_load:
                records = self._first_load(conn, cursor, dialect, table, placeholder, batches, fresh)
                seen = inserted = records
                updated = restored = kept_newer = deleted = 0
            else:
                for statement in dialect.merge_settings:
                    cursor.execute(statement)
                seen, inserted, updated, restored, kept_newer, deleted = self._merge(cursor, sql, settings)
            if settings.history_table:
                for statement in history_statements(dialect, table, settings.history_table, day):
                    cursor.execute(statement)
            if not first_load and not dialect.temporary_staging:
                cursor.execute(sql.clear_staging)
            conn.commit()
        except BaseException:
            conn.rollback()
            with suppress(Exception):  # the original error matters more than a failed clean-up
                cursor.execute(sql.clear_staging)
                conn.commit()
            raise
        return {
            "snapshot_date": day,
            "records": records,
            "inserted": inserted,
            "updated": updated,
            "restored": restored,
            "deleted": deleted,
            "unchanged": seen - inserted - updated - restored - kept_newer,
            "kept_newer": kept_newer,
        }

    @staticmethod
    def _first_load(
        conn: Any,
        cursor: Any,
        dialect: Dialect,
        table: str,
        placeholder: str,
        batches: Iterator[Any],
        fresh: FreshTableLoad | None,
    ) -> int:
        """Every customer is new: straight into the table, no staging and no comparison."""
        if fresh is None:
            columns = FIRST_LOAD_COLUMNS
            return load_rows(
                conn, cursor, dialect.loader, table, columns, placeholder, first_load_batches(batches)
            )
        cursor.execute(fresh.create)  # the table, made in this transaction (FreshTableLoad)
        records = load_rows(
            conn,
            cursor,
            dialect.loader,
            table,
            tuple(COLUMNS),
            placeholder,
            data_batches(batches),
            copy_options=fresh.copy_options,
        )
        cursor.execute(fresh.finish)
        return records

    @staticmethod
    def _fresh_table(cursor: Any, dialect: Dialect, table: str, day: str) -> FreshTableLoad | None:
        """The statements of a first load creating ``table``, if it is missing and the dialect can."""
        if not dialect.create_on_first_load:
            return None
        fresh = fresh_table_load(dialect, table, day)
        cursor.execute(fresh.exists)
        (found,) = cursor.fetchone()
        return fresh if found is None else None

    def _merge(self, cursor: Any, sql: MergeStatements, settings: LoadSettings) -> list[int]:
        """Merge the staged snapshot; return seen, inserted, updated, restored, kept newer, deleted."""
        seen, inserted, updated, restored, kept_newer = self._fetch(cursor, sql.count)
        (live,) = self._fetch(cursor, sql.live)
        (deleted,) = self._fetch(cursor, sql.gone)
        if live and deleted > settings.max_deleted_share * live:
            raise DubDeletedShareError(
                f"{deleted} of {live} live customers are absent from the snapshot of "
                f"{settings.snapshot_date}: more than max_deleted_share={settings.max_deleted_share}. "
                "Nothing changed; check the Dub connection, or raise max_deleted_share for this run if "
                "Dub really lost them."
            )
        # The counts above were taken in this transaction: a statement they show has nothing to do
        # is skipped (on an unchanged day, the insert of new customers and the deletion).
        if len(sql.upsert) == 1:  # INSERT ... ON CONFLICT or MERGE
            cursor.execute(sql.upsert[0])
        else:  # UPDATE the known customers, INSERT the new ones
            update, insert = sql.upsert
            if seen > inserted:
                cursor.execute(update)
            if inserted:
                cursor.execute(insert)
        if deleted:
            cursor.execute(sql.mark_deleted)
        return [seen, inserted, updated, restored, kept_newer, deleted]

    @staticmethod
    def _fetch(cursor: Any, statement: str) -> list[int]:
        cursor.execute(statement)
        return [int(value or 0) for value in cursor.fetchone()]

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        """OpenLineage: input the snapshot file, output the table (and the history table)."""
        try:
            from airflow.providers.openlineage.extractors import OperatorLineage
            from openlineage.client.event_v2 import Dataset
        except ImportError:
            return None
        lineage = getattr(self, "_lineage", None)
        if lineage is None:
            return OperatorLineage()
        uri, namespace, table = lineage
        parts = urlsplit(uri)
        outputs = [Dataset(namespace=namespace, name=table)]
        if self.history_table:
            outputs.append(Dataset(namespace=namespace, name=str(self.history_table)))
        return OperatorLineage(
            inputs=[Dataset(namespace=f"{parts.scheme}://{parts.netloc}", name=parts.path)], outputs=outputs
        )
