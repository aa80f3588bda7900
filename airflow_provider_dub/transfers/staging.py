"""
Filling the staging table with a snapshot's Arrow record batches, the fastest way each driver offers.

* ``copy``: PostgreSQL's ``COPY ... FROM STDIN (FORMAT csv)`` through psycopg 3, each batch written
  as CSV by Arrow (``executemany`` with psycopg2, which has no ``cursor.copy``);
* ``arrow``: DuckDB inserts each batch straight from Arrow;
* ``executemany``: any DB-API driver, with the hook's placeholder.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from typing import Any

from airflow_provider_dub.transfers.sql_dialects import (
    STAGING_COLUMNS,
    copy_staging,
    insert_staging,
    staging_name,
)

#: The name a batch is registered under in DuckDB while it is inserted.
_DUCKDB_VIEW = "dub_staging_batch"


def load_staging(
    conn: Any, cursor: Any, loader: str, table: str, placeholder: str, batches: Iterable[Any]
) -> int:
    """Insert every record batch into ``table``'s staging table; return how many rows."""
    if loader == "copy" and hasattr(cursor, "copy"):
        return _copy(cursor, table, batches)
    if loader == "arrow" and hasattr(conn, "register"):
        return _arrow(conn, table, batches)
    sql = insert_staging(table, placeholder)
    total = 0
    for batch in batches:
        cursor.executemany(sql, rows(batch))
        total += batch.num_rows
    return total


def rows(batch: Any) -> list[tuple[Any, ...]]:
    """A record batch as DB-API parameter rows."""
    return list(zip(*(column.to_pylist() for column in batch.columns), strict=True))


def _copy(cursor: Any, table: str, batches: Iterable[Any]) -> int:
    import pyarrow.csv as pc

    # Arrow writes NULL as an empty field and "" quoted: what COPY's CSV format reads them as.
    options = pc.WriteOptions(include_header=False)
    total = 0
    with cursor.copy(copy_staging(table) + " (FORMAT csv)") as copy:
        for batch in batches:
            buffer = io.BytesIO()
            pc.write_csv(batch, buffer, options)
            copy.write(buffer.getbuffer())
            total += batch.num_rows
    return total


def _arrow(conn: Any, table: str, batches: Iterable[Any]) -> int:
    import pyarrow as pa

    columns = ", ".join(STAGING_COLUMNS)
    insert = f"INSERT INTO {staging_name(table)} ({columns}) SELECT {columns} FROM {_DUCKDB_VIEW}"
    total = 0
    for batch in batches:
        conn.register(_DUCKDB_VIEW, pa.Table.from_batches([batch]))
        try:
            conn.execute(insert)
        finally:
            conn.unregister(_DUCKDB_VIEW)
        total += batch.num_rows
    return total
