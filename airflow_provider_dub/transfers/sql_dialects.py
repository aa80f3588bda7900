"""
The warehouse load's SQL, as pure statement builders (no I/O): one :class:`Dialect` per engine.

The table keeps one row per customer: Dub's fields plus four dates of snapshots (first seen, last
changed, newest applied, first absent). A snapshot is loaded into ``<table>_staging`` first; the
statements below then merge it in a few set-based statements, in either of two families:

* ``on_conflict``: ``INSERT ... ON CONFLICT (id) DO UPDATE ... WHERE`` (SQLite, PostgreSQL, DuckDB);
* ``update_from``: ``UPDATE ... FROM`` the staging table, then ``INSERT ... WHERE NOT EXISTS``
  (PostgreSQL's default: two hash joins, where ``ON CONFLICT`` probes the key's index once per row);
* ``merge``: standard ``MERGE INTO ... USING ... WHEN MATCHED / WHEN NOT MATCHED`` (PostgreSQL 15+,
  DuckDB, Snowflake, BigQuery, Databricks, Redshift). The "only rows at most as new as the snapshot"
  rule is a filter of the source, not a ``WHEN MATCHED AND`` condition, which Redshift lacks.

The snapshot date is validated (``YYYY-MM-DD``) before it is written into a statement as a date
literal, so the statements need no placeholders and read the same on every driver.
"""

from __future__ import annotations

from dataclasses import dataclass

#: Warehouse column -> Dub field. ``sale_amount`` is in cents; times are Dub's ISO 8601 UTC strings
#: (kept as text in SQLite, a timestamp type elsewhere).
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
INTEGER_COLUMNS = ("sales", "sale_amount")
TIMESTAMP_COLUMNS = ("created_at", "first_sale_at", "subscription_canceled_at")
#: The staging table's columns, in the order the snapshot reader yields row values.
STAGING_COLUMNS = ("snapshot_date", *COLUMNS)
#: A first load into the empty table goes straight into it, without staging: the staging columns
#: and the two other dates a new customer gets (all three the snapshot's date).
FIRST_LOAD_COLUMNS = (*STAGING_COLUMNS, "first_seen_date", "updated_date")
MERGE_SYNTAXES = ("on_conflict", "update_from", "merge")
#: How the staging table is filled: PostgreSQL's COPY, DuckDB from Arrow batches, else executemany.
LOADERS = ("copy", "arrow", "executemany")


@dataclass(frozen=True)
class Dialect:
    """What differs between engines: type names, date literals, keys, merge syntax, staging load."""

    name: str
    merge_syntaxes: tuple[str, ...]
    text_type: str = "TEXT"
    integer_type: str = "BIGINT"
    timestamp_type: str = "TIMESTAMPTZ"
    boolean_type: str = "BOOLEAN"
    #: ``DATE '2026-03-04'`` (standard); SQLite keeps dates as text, so a plain string there.
    typed_date_literals: bool = True
    #: Appended to ``PRIMARY KEY (...)``; ``None``: no key clause (Databricks outside Unity Catalog).
    key_suffix: str | None = ""
    #: ``CREATE <this> TABLE`` for staging (PostgreSQL: UNLOGGED, no WAL for a scratch table).
    staging_kind: str = ""
    #: Staging is the connection's own temporary table (``temp.<name>_staging``), gone when the load's
    #: connection closes (SQLite: a million staged rows neither journaled nor left in the
    #: warehouse's file as free pages, and no rows to delete afterwards).
    temporary_staging: bool = False
    #: Appended to the table's ``CREATE TABLE``. PostgreSQL: pages half full, as a daily load
    #: rewrites every row (its ``snapshot_date``) and PostgreSQL writes a new version of a row for
    #: any update: with room on its page the new version needs no new index entry (a "HOT" update,
    #: twice as fast). The table takes no more space than without: its old versions take that room.
    table_options: str = ""
    #: Statements opening the merge's transaction (PostgreSQL: memory to hash a million staged rows
    #: at once instead of in batches spilled to disk).
    merge_settings: tuple[str, ...] = ()
    loader: str = "executemany"
    #: Statement opening a transaction where the driver autocommits by default (DuckDB).
    begin: str | None = None
    #: Refresh the planner's statistics of the freshly loaded staging table (else PostgreSQL may
    #: join a million rows by nested loops).
    analyze_staging: bool = False
    #: Run statements on the connection itself: a DuckDB cursor is a second connection, with its
    #: own transaction, which ``conn.commit()`` would not commit.
    statements_on_connection: bool = False
    #: A first load creates the missing table in its own transaction, keyless, fills it by
    #: ``COPY ... FREEZE`` (the three dates from column defaults) and builds the key once afterwards
    #: (PostgreSQL): see :func:`fresh_table_load`. Else the table is created first, key and all.
    create_on_first_load: bool = False

    @property
    def default_merge_syntax(self) -> str:
        return self.merge_syntaxes[0]

    def date(self, day: str) -> str:
        """A snapshot date (already validated as ``YYYY-MM-DD``) as a literal."""
        return f"DATE '{day}'" if self.typed_date_literals else f"'{day}'"

    def column_type(self, column: str) -> str:
        if column in INTEGER_COLUMNS:
            return self.integer_type
        if column in TIMESTAMP_COLUMNS:
            return self.timestamp_type
        return self.text_type

    def primary_key(self, *columns: str) -> str:
        if self.key_suffix is None:
            return ""
        return f", PRIMARY KEY ({', '.join(columns)}){self.key_suffix}"


DIALECTS: dict[str, Dialect] = {
    "sqlite": Dialect(
        "sqlite",
        ("on_conflict",),
        timestamp_type="TEXT",
        typed_date_literals=False,
        staging_kind="TEMP ",
        temporary_staging=True,
    ),
    "postgres": Dialect(
        "postgres",
        ("update_from", "on_conflict", "merge"),
        staging_kind="UNLOGGED ",
        table_options=" WITH (fillfactor = 50)",
        merge_settings=("SET LOCAL work_mem = '256MB'",),
        loader="copy",
        analyze_staging=True,
        create_on_first_load=True,
    ),
    "duckdb": Dialect(
        "duckdb",
        ("on_conflict", "merge"),
        text_type="VARCHAR",
        loader="arrow",
        begin="BEGIN",
        statements_on_connection=True,
    ),
    "snowflake": Dialect("snowflake", ("merge",), text_type="VARCHAR", timestamp_type="TIMESTAMP_TZ"),
    "bigquery": Dialect(
        "bigquery",
        ("merge",),
        text_type="STRING",
        integer_type="INT64",
        timestamp_type="TIMESTAMP",
        boolean_type="BOOL",
        key_suffix=" NOT ENFORCED",
    ),
    "databricks": Dialect(
        "databricks", ("merge",), text_type="STRING", timestamp_type="TIMESTAMP", key_suffix=None
    ),
    "redshift": Dialect("redshift", ("merge",), text_type="VARCHAR(65535)"),
}
#: Airflow connection type -> dialect name.
CONN_TYPE_DIALECTS = {
    "sqlite": "sqlite",
    "postgres": "postgres",
    "postgresql": "postgres",
    "duckdb": "duckdb",
    "snowflake": "snowflake",
    "gcpbigquery": "bigquery",
    "google_cloud_platform": "bigquery",
    "databricks": "databricks",
    "redshift": "redshift",
}


def exposed_name(table: str) -> str:
    """The name a ``[catalog.][schema.]name`` table is referred to by in its own statement."""
    return table.rsplit(".", 1)[-1]


def staging_name(dialect: Dialect, table: str) -> str:
    """The staging table of ``table``: ``<table>_staging``, or ``temp.<name>_staging`` if temporary."""
    if dialect.temporary_staging:
        return f"temp.{exposed_name(table)}_staging"
    return f"{table}_staging"


#: The dates a new customer's row gets, all the snapshot's.
NEW_ROW_DATES = ("first_seen_date", "updated_date", "snapshot_date")


def create_tables(dialect: Dialect, table: str, *, with_table: bool = True) -> list[str]:
    """``CREATE TABLE IF NOT EXISTS`` for the table (unless not ``with_table``) and its staging table."""
    staging = (
        f"CREATE {dialect.staging_kind}TABLE IF NOT EXISTS {staging_name(dialect, table)} "
        f"(snapshot_date DATE NOT NULL, {_data_columns(dialect)}"
        f"{dialect.primary_key('snapshot_date', 'id')})"
    )
    if not with_table:
        return [staging]
    return [f"CREATE TABLE IF NOT EXISTS {_table_definition(dialect, table)}", staging]


def _data_columns(dialect: Dialect) -> str:
    return ", ".join(f"{column} {dialect.column_type(column)}" for column in COLUMNS)


def _table_definition(dialect: Dialect, table: str, *, key: bool = True, dates_default: str = "") -> str:
    dates = ", ".join(f"{column} DATE NOT NULL{dates_default}" for column in NEW_ROW_DATES)
    primary_key = dialect.primary_key("id") if key else ""
    return f"{table} ({_data_columns(dialect)}, {dates}, deleted_at DATE{primary_key}){dialect.table_options}"


@dataclass(frozen=True)
class FreshTableLoad:
    """
    A first load into a table that does not exist yet, all in one transaction (PostgreSQL).

    ``create`` makes the table without its key, the three dates of a new row defaulting to the
    snapshot's; the rows (``COLUMNS`` only) go in by ``COPY ... (FORMAT csv, FREEZE)``: rows of a
    table created in the same transaction can be written frozen, so no later read rewrites every
    page to set their hint bits; ``finish`` drops the defaults and builds the key once, from sorted
    ids, instead of a million inserts into a growing b-tree. If anything fails, the table was never
    there: the next run is a first load again.
    """

    #: One row: NULL if the table does not exist.
    exists: str
    create: str
    copy_options: str
    finish: str


def fresh_table_load(dialect: Dialect, table: str, day: str) -> FreshTableLoad:
    """The statements of a first load that creates ``table`` (see :class:`FreshTableLoad`)."""
    default = f" DEFAULT {dialect.date(day)}"
    defaults = ", ".join(f"ALTER COLUMN {column} DROP DEFAULT" for column in NEW_ROW_DATES)
    key = dialect.primary_key("id").lstrip(", ")
    return FreshTableLoad(
        exists=f"SELECT to_regclass('{table}')",
        create=f"CREATE TABLE {_table_definition(dialect, table, key=False, dates_default=default)}",
        copy_options=", FREEZE",
        finish=f"ALTER TABLE {table} {defaults}" + (f", ADD {key}" if key else ""),
    )


def insert_rows(target: str, columns: tuple[str, ...], placeholder: str) -> str:
    """The parameterised insert of one row of ``columns`` into ``target`` (for ``executemany``)."""
    values = ", ".join([placeholder] * len(columns))
    return f"INSERT INTO {target} ({', '.join(columns)}) VALUES ({values})"


def copy_rows(target: str, columns: tuple[str, ...]) -> str:
    """PostgreSQL's ``COPY ... FROM STDIN`` of ``columns`` into ``target``."""
    return f"COPY {target} ({', '.join(columns)}) FROM STDIN"


def changed(old: str, new: str) -> str:
    """
    SQL: a customer's data differs between the rows ``old`` and ``new`` (NULL-safe).

    The anonymous-name rule: Dub gives a customer with neither name nor email a new random name on
    every request (and a real name without email looks the same), so for a customer with no email
    before and after, a name change is no change.
    """

    def differs(column: str) -> str:
        a, b = f"{old}.{column}", f"{new}.{column}"
        return f"({a} <> {b} OR ({a} IS NULL) <> ({b} IS NULL))"

    name = f"({differs('name')} AND NOT ({old}.email IS NULL AND {new}.email IS NULL))"
    return "(" + " OR ".join([*(differs(c) for c in COLUMNS if c not in ("id", "name")), name]) + ")"


@dataclass(frozen=True)
class MergeStatements:
    """The statements of one merge, in the order the operator runs them."""

    clear_staging: str
    #: A row of the table, if it has any (an empty table takes the first load straight).
    any_row: str
    count: str
    live: str
    gone: str
    #: Insert new customers, update the others (one statement, or two: update, then insert).
    upsert: tuple[str, ...]
    mark_deleted: str


def merge_statements(dialect: Dialect, table: str, day: str, syntax: str | None = None) -> MergeStatements:
    """
    The merge of the staged snapshot of ``day`` into ``table``.

    ``count`` returns (seen, inserted, updated, restored, kept_newer); ``live`` the live rows;
    ``gone`` how many live rows the snapshot would mark deleted (the guard's figure).
    """
    syntax = syntax or dialect.default_merge_syntax
    if syntax not in dialect.merge_syntaxes:
        raise ValueError(f"{dialect.name} has no {syntax!r} merge; it has {dialect.merge_syntaxes}")
    d, staging, own = dialect.date(day), staging_name(dialect, table), exposed_name(table)
    in_snapshot = f"SELECT 1 FROM {staging} stg WHERE stg.snapshot_date = {d} AND stg.id = {own}.id"
    return MergeStatements(
        clear_staging=f"DELETE FROM {staging} WHERE snapshot_date = {d}",
        any_row=f"SELECT 1 FROM {table} LIMIT 1",
        count="SELECT COUNT(stg.id), "
        "COALESCE(SUM(CASE WHEN tgt.id IS NULL THEN 1 ELSE 0 END), 0), "
        f"COALESCE(SUM(CASE WHEN tgt.snapshot_date <= {d} AND tgt.deleted_at IS NULL "
        f"AND {changed('tgt', 'stg')} THEN 1 ELSE 0 END), 0), "
        f"COALESCE(SUM(CASE WHEN tgt.snapshot_date <= {d} AND tgt.deleted_at IS NOT NULL THEN 1 ELSE 0 END), 0), "
        f"COALESCE(SUM(CASE WHEN tgt.snapshot_date > {d} THEN 1 ELSE 0 END), 0) "
        f"FROM {staging} stg LEFT JOIN {table} tgt ON tgt.id = stg.id WHERE stg.snapshot_date = {d}",
        live=f"SELECT COUNT(*) FROM {table} WHERE deleted_at IS NULL",
        gone=f"SELECT COUNT(*) FROM {table} WHERE deleted_at IS NULL AND snapshot_date <= {d} "
        f"AND NOT EXISTS ({in_snapshot})",
        upsert={"on_conflict": _on_conflict, "update_from": _update_from, "merge": _merge}[syntax](
            table, staging, d
        ),
        mark_deleted=f"UPDATE {table} SET deleted_at = {d}, updated_date = {d}, snapshot_date = {d} "
        f"WHERE deleted_at IS NULL AND snapshot_date <= {d} AND NOT EXISTS ({in_snapshot})",
    )


def _touched(old: str, new: str) -> str:
    """SQL: the row counts as updated (restored, or its data changed)."""
    return f"{old}.deleted_at IS NOT NULL OR {changed(old, new)}"


def _on_conflict(table: str, staging: str, d: str) -> tuple[str, ...]:
    data = ", ".join(COLUMNS)
    return (
        f"INSERT INTO {table} AS tgt ({data}, first_seen_date, updated_date, snapshot_date) "
        f"SELECT {data}, snapshot_date, snapshot_date, snapshot_date FROM {staging} "
        f"WHERE snapshot_date = {d} ON CONFLICT (id) DO UPDATE SET "
        + ", ".join(f"{c} = excluded.{c}" for c in COLUMNS if c != "id")
        + f", updated_date = CASE WHEN {_touched('tgt', 'excluded')} THEN excluded.snapshot_date "
        "ELSE tgt.updated_date END, snapshot_date = excluded.snapshot_date, deleted_at = NULL "
        "WHERE tgt.snapshot_date <= excluded.snapshot_date",
    )


def _update_from(table: str, staging: str, d: str) -> tuple[str, ...]:
    update = (
        f"UPDATE {table} AS tgt SET "
        + ", ".join(f"{c} = stg.{c}" for c in COLUMNS if c != "id")
        + f", updated_date = CASE WHEN {_touched('tgt', 'stg')} THEN stg.snapshot_date "
        "ELSE tgt.updated_date END, snapshot_date = stg.snapshot_date, deleted_at = NULL "
        f"FROM {staging} stg WHERE stg.snapshot_date = {d} AND stg.id = tgt.id AND tgt.snapshot_date <= {d}"
    )
    insert = (
        f"INSERT INTO {table} ({', '.join(COLUMNS)}, first_seen_date, updated_date, snapshot_date) "
        f"SELECT {', '.join(f'stg.{c}' for c in COLUMNS)}, stg.snapshot_date, stg.snapshot_date, "
        f"stg.snapshot_date FROM {staging} stg WHERE stg.snapshot_date = {d} "
        f"AND NOT EXISTS (SELECT 1 FROM {table} tgt WHERE tgt.id = stg.id)"
    )
    return (update, insert)


def _merge(table: str, staging: str, d: str) -> tuple[str, ...]:
    staged = ", ".join(f"stg.{c}" for c in STAGING_COLUMNS)
    source = (
        f"SELECT {staged} FROM {staging} stg LEFT JOIN {table} cur ON cur.id = stg.id "
        f"WHERE stg.snapshot_date = {d} AND (cur.id IS NULL OR cur.snapshot_date <= {d})"
    )
    return (
        f"MERGE INTO {table} tgt USING ({source}) src ON tgt.id = src.id "
        "WHEN MATCHED THEN UPDATE SET "
        + ", ".join(f"{c} = src.{c}" for c in COLUMNS if c != "id")
        + f", updated_date = CASE WHEN {_touched('tgt', 'src')} THEN src.snapshot_date "
        "ELSE tgt.updated_date END, snapshot_date = src.snapshot_date, deleted_at = NULL "
        f"WHEN NOT MATCHED THEN INSERT ({', '.join(COLUMNS)}, first_seen_date, updated_date, snapshot_date) "
        f"VALUES ({', '.join(f'src.{c}' for c in COLUMNS)}, src.snapshot_date, src.snapshot_date, "
        "src.snapshot_date)",
    )
