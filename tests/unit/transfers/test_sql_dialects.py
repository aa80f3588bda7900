"""The warehouse load's statement builders: what each dialect generates (no database here)."""

from __future__ import annotations

from pathlib import Path

import pytest

from airflow_provider_dub.transfers.sql_dialects import (
    DIALECTS,
    FIRST_LOAD_COLUMNS,
    STAGING_COLUMNS,
    changed,
    copy_rows,
    create_tables,
    fresh_table_load,
    insert_rows,
    merge_statements,
)
from airflow_provider_dub.transfers.sql_history import create_history_table, history_statements

GOLDEN = Path(__file__).parent / "golden"


def all_statements(dialect: str, table: str = "analytics.dub_customers") -> str:
    """Every statement of a load with history, one per paragraph (what the golden files hold)."""
    d = DIALECTS[dialect]
    merge = merge_statements(d, table, "2026-03-04")
    statements = [
        *create_tables(d, table),
        create_history_table(d, f"{table}_history"),
        merge.clear_staging,
        merge.count,
        merge.live,
        merge.gone,
        *merge.upsert,
        merge.mark_deleted,
        *history_statements(d, table, f"{table}_history", "2026-03-04"),
    ]
    return "\n\n".join(statements) + "\n"


@pytest.mark.parametrize("dialect", ["bigquery", "databricks", "redshift"])
def test_engines_not_run_here_generate_the_pinned_sql(dialect: str) -> None:
    # No BigQuery, Databricks or Redshift runs here: their SQL is pinned, read by a person once.
    assert all_statements(dialect) == (GOLDEN / f"{dialect}.sql").read_text()


def test_bigquery_and_databricks_types_and_keys() -> None:
    bigquery = create_tables(DIALECTS["bigquery"], "ds.t")[0]
    assert "sales INT64" in bigquery and "id STRING" in bigquery and "created_at TIMESTAMP," in bigquery
    assert bigquery.endswith("PRIMARY KEY (id) NOT ENFORCED)")
    assert "PRIMARY KEY" not in create_tables(DIALECTS["databricks"], "c.s.t")[0]
    assert "is_current BOOL NOT NULL" in create_history_table(DIALECTS["bigquery"], "ds.h")


def test_date_literals_typed_except_sqlite() -> None:
    assert DIALECTS["sqlite"].date("2026-03-04") == "'2026-03-04'"
    for name in ("postgres", "duckdb", "snowflake", "bigquery", "databricks", "redshift"):
        assert DIALECTS[name].date("2026-03-04") == "DATE '2026-03-04'"


def test_merge_families() -> None:
    postgres = DIALECTS["postgres"]
    (on_conflict,) = merge_statements(postgres, "t", "2026-03-04", "on_conflict").upsert
    assert (
        on_conflict.startswith("INSERT INTO t AS tgt (") and "ON CONFLICT (id) DO UPDATE SET" in on_conflict
    )
    assert on_conflict.endswith("WHERE tgt.snapshot_date <= excluded.snapshot_date")
    (merge,) = merge_statements(postgres, "t", "2026-03-04", "merge").upsert
    assert merge.startswith("MERGE INTO t tgt USING (")
    # The "never undo a newer day" rule filters the source (Redshift has no WHEN MATCHED AND).
    assert "(cur.id IS NULL OR cur.snapshot_date <= DATE '2026-03-04')) src" in merge
    assert "WHEN MATCHED THEN UPDATE" in merge and "WHEN MATCHED AND" not in merge
    assert merge_statements(DIALECTS["snowflake"], "t", "2026-03-04").upsert[0].startswith("MERGE")
    # PostgreSQL's default: update the known customers by a join, then insert the new ones.
    update, insert = merge_statements(postgres, "t", "2026-03-04").upsert
    assert update.startswith("UPDATE t AS tgt SET name = stg.name, ")
    assert update.endswith(
        "FROM t_staging stg WHERE stg.snapshot_date = DATE '2026-03-04' AND stg.id = tgt.id "
        "AND tgt.snapshot_date <= DATE '2026-03-04'"
    )
    assert insert.startswith("INSERT INTO t (id, ") and insert.endswith(
        "AND NOT EXISTS (SELECT 1 FROM t tgt WHERE tgt.id = stg.id)"
    )
    assert create_tables(postgres, "t")[0].endswith("PRIMARY KEY (id)) WITH (fillfactor = 50)")
    with pytest.raises(ValueError, match="snowflake has no 'on_conflict' merge"):
        merge_statements(DIALECTS["snowflake"], "t", "2026-03-04", "on_conflict")


def test_a_schema_qualified_table_is_referred_to_by_its_own_name() -> None:
    gone = merge_statements(DIALECTS["postgres"], "wh.customers", "2026-03-04").gone
    assert "FROM wh.customers WHERE" in gone and "stg.id = customers.id" in gone


def test_the_anonymous_name_rule() -> None:
    sql = changed("o", "n")
    assert (
        "((o.name <> n.name OR (o.name IS NULL) <> (n.name IS NULL)) AND NOT (o.email IS NULL AND n.email IS NULL))"
        in sql
    )
    for column in ("email", "sales", "sale_amount", "country", "first_sale_at", "subscription_canceled_at"):
        assert f"(o.{column} <> n.{column} OR (o.{column} IS NULL) <> (n.{column} IS NULL))" in sql
    assert "o.id" not in sql


def test_staging_and_first_loads() -> None:
    assert insert_rows("t_staging", STAGING_COLUMNS, "?") == (
        f"INSERT INTO t_staging ({', '.join(STAGING_COLUMNS)}) VALUES ({', '.join(['?'] * 13)})"
    )
    assert copy_rows("s.t", FIRST_LOAD_COLUMNS) == (
        f"COPY s.t ({', '.join(STAGING_COLUMNS)}, first_seen_date, updated_date) FROM STDIN"
    )
    assert create_tables(DIALECTS["postgres"], "t")[1].startswith(
        "CREATE UNLOGGED TABLE IF NOT EXISTS t_staging"
    )
    # SQLite: the load connection's temporary table, whatever the table's schema (attached file).
    sqlite = DIALECTS["sqlite"]
    assert create_tables(sqlite, "s.t")[1].startswith("CREATE TEMP TABLE IF NOT EXISTS temp.t_staging (")
    merge = merge_statements(sqlite, "s.t", "2026-03-04")
    assert "FROM temp.t_staging WHERE" in merge.upsert[0] and "FROM temp.t_staging stg" in merge.count
    assert "s.t_staging" not in repr(merge)


def test_a_fresh_table_is_created_keyless_with_date_defaults_then_keyed_like_create_tables() -> None:
    postgres = DIALECTS["postgres"]
    fresh = fresh_table_load(postgres, "s.t", "2026-03-04")
    assert fresh.exists == "SELECT to_regclass('s.t')"
    assert fresh.copy_options == ", FREEZE"
    # The same table create_tables makes, but without its key and with the dates defaulting ...
    keyed = create_tables(postgres, "s.t")[0].replace("CREATE TABLE IF NOT EXISTS", "CREATE TABLE")
    default = "DATE NOT NULL DEFAULT DATE '2026-03-04'"
    assert fresh.create == keyed.replace(", PRIMARY KEY (id)", "").replace("DATE NOT NULL", default)
    assert fresh.create.endswith("deleted_at DATE) WITH (fillfactor = 50)")
    # ... which the statement after COPY drops, adding the key.
    assert fresh.finish == (
        "ALTER TABLE s.t ALTER COLUMN first_seen_date DROP DEFAULT, ALTER COLUMN updated_date DROP DEFAULT, "
        "ALTER COLUMN snapshot_date DROP DEFAULT, ADD PRIMARY KEY (id)"
    )
    assert [name for name, d in DIALECTS.items() if d.create_on_first_load] == ["postgres"]
    assert create_tables(postgres, "s.t", with_table=False) == create_tables(postgres, "s.t")[1:]


def test_history_undoes_an_earlier_run_of_the_day_first() -> None:
    delete, reopen, close, insert = history_statements(DIALECTS["postgres"], "t", "h", "2026-03-04")
    applied = "SELECT cur.id FROM t cur WHERE cur.snapshot_date = DATE '2026-03-04'"
    assert delete == f"DELETE FROM h WHERE valid_from = DATE '2026-03-04' AND id IN ({applied})"
    assert reopen.startswith(
        "UPDATE h SET valid_to = NULL, is_current = TRUE WHERE valid_to = DATE '2026-03-04'"
    )
    assert "h.is_deleted <> (cur.deleted_at IS NOT NULL)" in close
    assert insert.startswith("INSERT INTO h (") and "ver.is_current = TRUE" in insert
