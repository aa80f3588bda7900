"""
Writing a snapshot's Arrow record batches into a table, the fastest way each driver offers.

The table is ``<table>_staging`` (columns ``STAGING_COLUMNS``), or, for the first load into an empty
table, the table itself (``FIRST_LOAD_COLUMNS``: see :func:`first_load_batches`).

* ``copy``: PostgreSQL's ``COPY ... FROM STDIN (FORMAT csv)`` through psycopg 3, each batch written
  as CSV by Arrow (``executemany`` with psycopg2, which has no ``cursor.copy``);
* ``arrow``: DuckDB inserts each batch straight from Arrow;
* ``executemany``: any DB-API driver, with the hook's placeholder.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator
from typing import Any

from airflow_provider_dub.transfers.sql_dialects import copy_rows, insert_rows

#: The name a batch is registered under in DuckDB while it is inserted.
_DUCKDB_VIEW = "dub_staging_batch"


def load_rows(
    conn: Any,
    cursor: Any,
    loader: str,
    target: str,
    columns: tuple[str, ...],
    placeholder: str,
    batches: Iterable[Any],
) -> int:
    """Insert every record batch (its columns are ``columns``) into ``target``; return how many rows."""
    if loader == "copy" and hasattr(cursor, "copy"):
        return _copy(cursor, target, columns, batches)
    if loader == "arrow" and hasattr(conn, "register"):
        return _arrow(conn, target, columns, batches)
    sql = insert_rows(target, columns, placeholder)
    total = 0
    for batch in batches:
        cursor.executemany(sql, rows(batch))
        total += batch.num_rows
    return total


def first_load_batches(batches: Iterable[Any]) -> Iterator[Any]:
    """
    Staging batches with ``first_seen_date`` and ``updated_date`` added (``FIRST_LOAD_COLUMNS``).

    A customer of the first load is new: both dates are the snapshot's, the batch's first column.
    """
    import pyarrow as pa

    for batch in batches:
        day = batch.column(0)
        yield pa.RecordBatch.from_arrays(
            [*batch.columns, day, day], names=[*batch.schema.names, "first_seen_date", "updated_date"]
        )


def rows(batch: Any) -> list[tuple[Any, ...]]:
    """A record batch as DB-API parameter rows."""
    return list(zip(*(column.to_pylist() for column in batch.columns), strict=True))


def _copy(cursor: Any, target: str, columns: tuple[str, ...], batches: Iterable[Any]) -> int:
    import pyarrow.csv as pc

    # Arrow writes NULL as an empty field and "" quoted: what COPY's CSV format reads them as.
    options = pc.WriteOptions(include_header=False)
    total = 0
    with cursor.copy(copy_rows(target, columns) + " (FORMAT csv)") as copy:
        for batch in batches:
            buffer = io.BytesIO()
            pc.write_csv(batch, buffer, options)
            copy.write(buffer.getbuffer())
            total += batch.num_rows
    return total


def _arrow(conn: Any, target: str, columns: tuple[str, ...], batches: Iterable[Any]) -> int:
    import pyarrow as pa

    names = ", ".join(columns)
    insert = f"INSERT INTO {target} ({names}) SELECT {names} FROM {_DUCKDB_VIEW}"
    total = 0
    for batch in batches:
        conn.register(_DUCKDB_VIEW, pa.Table.from_batches([batch]))
        try:
            conn.execute(insert)
        finally:
            conn.unregister(_DUCKDB_VIEW)
        total += batch.num_rows
    return total
