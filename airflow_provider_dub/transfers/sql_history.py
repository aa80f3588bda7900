"""
The history table's SQL, as pure statement builders (no I/O).

Dub keeps no history (no ``updatedAt``): a daily snapshot is the only record of a customer's past. With
a history table the load keeps one row per customer *version*: the customer's data, ``valid_from``
(the snapshot date it was first seen so), ``valid_to`` (the snapshot date it was first seen otherwise,
NULL while current), ``is_current`` and ``is_deleted`` (a version that starts when the customer was
missing from a snapshot). Each customer's ``sale_amount`` on any past date ``D`` is then one query::

    SELECT id, sale_amount FROM dub_customers_history
    WHERE valid_from <= DATE 'D' AND (valid_to IS NULL OR valid_to > DATE 'D') AND NOT is_deleted

A new version starts exactly when the table counts an insert, update, deletion or restore (the
anonymous-name rule applies here too). The statements run after the merge, in its transaction, from
the table's rows the merge just wrote (``snapshot_date`` = the day): first they undo what an earlier
run of the same day wrote for those customers (its versions removed, the versions it closed reopened),
then close the current versions that differ and open new ones. So a re-run gives the history a run of
that day gives, and a backfill of an older day touches only the customers it adds to the table.
"""

from __future__ import annotations

from airflow_provider_dub.transfers.sql_dialects import COLUMNS, Dialect, changed, exposed_name


def create_history_table(dialect: Dialect, history: str) -> str:
    """``CREATE TABLE IF NOT EXISTS`` for the history table."""
    data = ", ".join(f"{column} {dialect.column_type(column)}" for column in COLUMNS)
    flags = f"is_current {dialect.boolean_type} NOT NULL, is_deleted {dialect.boolean_type} NOT NULL"
    return (
        f"CREATE TABLE IF NOT EXISTS {history} ({data}, valid_from DATE NOT NULL, valid_to DATE, "
        f"{flags}{dialect.primary_key('id', 'valid_from')})"
    )


def history_statements(dialect: Dialect, table: str, history: str, day: str) -> list[str]:
    """The history's update for the snapshot of ``day``, already merged into ``table``."""
    d, own = dialect.date(day), exposed_name(history)
    applied = f"SELECT cur.id FROM {table} cur WHERE cur.snapshot_date = {d}"
    differs = f"({changed(own, 'cur')} OR {own}.is_deleted <> (cur.deleted_at IS NOT NULL))"
    data = ", ".join(COLUMNS)
    return [
        # Undo an earlier run of this day for the customers this run applied to.
        f"DELETE FROM {history} WHERE valid_from = {d} AND id IN ({applied})",
        f"UPDATE {history} SET valid_to = NULL, is_current = TRUE WHERE valid_to = {d} AND id IN ({applied})",
        # Close the versions that no longer match the table.
        f"UPDATE {history} SET valid_to = {d}, is_current = FALSE WHERE is_current = TRUE AND EXISTS "
        f"(SELECT 1 FROM {table} cur WHERE cur.id = {own}.id AND cur.snapshot_date = {d} AND {differs})",
        # Open a version for every applied customer without a current one.
        f"INSERT INTO {history} ({data}, valid_from, valid_to, is_current, is_deleted) "
        f"SELECT {', '.join(f'cur.{c}' for c in COLUMNS)}, {d}, NULL, TRUE, "
        "CASE WHEN cur.deleted_at IS NULL THEN FALSE ELSE TRUE END "
        f"FROM {table} cur WHERE cur.snapshot_date = {d} AND NOT EXISTS "
        f"(SELECT 1 FROM {history} ver WHERE ver.id = cur.id AND ver.is_current = TRUE)",
    ]
