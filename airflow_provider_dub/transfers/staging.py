"""
Writing a snapshot's Arrow record batches into a table, the fastest way each driver offers.

The table is ``<table>_staging`` (columns ``STAGING_COLUMNS``), or, for the first load into an empty
table, the table itself (``FIRST_LOAD_COLUMNS``: see :func:`first_load_batches`; or just ``COLUMNS``
into a table the load creates, its dates from column defaults: see :func:`data_batches`).

* ``copy``: PostgreSQL's ``COPY ... FROM STDIN (FORMAT csv)`` through psycopg 3, each batch written
  as CSV by Arrow (``executemany`` with psycopg2, which has no ``cursor.copy``);
* ``arrow``: DuckDB inserts each batch straight from Arrow;
* ``executemany``: any DB-API driver, with the hook's placeholder.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Iterable, Iterator
from contextlib import suppress
from queue import Empty, Queue
from typing import Any, TypeVar

from airflow_provider_dub.transfers.sql_dialects import copy_rows, insert_rows

#: The name a batch is registered under in DuckDB while it is inserted.
_DUCKDB_VIEW = "dub_staging_batch"
#: CSV blocks made ahead of the database (each a batch of ``batch_size`` rows at most: memory stays
#: bounded by the batch size, whatever the number of customers).
_CSV_AHEAD = 4
_T = TypeVar("_T")


def load_rows(
    conn: Any,
    cursor: Any,
    loader: str,
    target: str,
    columns: tuple[str, ...],
    placeholder: str,
    batches: Iterable[Any],
    copy_options: str = "",
) -> int:
    """
    Insert every record batch (its columns are ``columns``) into ``target``; return how many rows.

    :param copy_options: appended to ``FORMAT csv`` in ``COPY``'s options (``, FREEZE``); other
        loaders have none.
    """
    if loader == "copy" and hasattr(cursor, "copy"):
        return _copy(cursor, target, columns, batches, copy_options)
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


def data_batches(batches: Iterable[Any]) -> Iterator[Any]:
    """Staging batches without their ``snapshot_date`` (the first column): Dub's fields only."""
    import pyarrow as pa

    for batch in batches:
        yield pa.RecordBatch.from_arrays(batch.columns[1:], names=batch.schema.names[1:])


def rows(batch: Any) -> list[tuple[Any, ...]]:
    """A record batch as DB-API parameter rows."""
    return list(zip(*(column.to_pylist() for column in batch.columns), strict=True))


def _copy(cursor: Any, target: str, columns: tuple[str, ...], batches: Iterable[Any], options: str) -> int:
    total = 0
    with cursor.copy(f"{copy_rows(target, columns)} (FORMAT csv{options})") as copy:
        # The snapshot is parsed and written as CSV in a thread, while the database takes the rows
        # before: Arrow and the wait on the socket both release the GIL, so the two overlap.
        for rows_in_batch, data in read_ahead(_csv(batches), depth=_CSV_AHEAD):
            copy.write(data)
            total += rows_in_batch
    return total


def _csv(batches: Iterable[Any]) -> Iterator[tuple[int, bytes]]:
    import pyarrow.csv as pc

    # Arrow writes NULL as an empty field and "" quoted: what COPY's CSV format reads them as.
    options = pc.WriteOptions(include_header=False)
    for batch in batches:
        buffer = io.BytesIO()
        pc.write_csv(batch, buffer, options)
        yield batch.num_rows, buffer.getvalue()


def read_ahead(items: Iterator[_T], depth: int) -> Iterator[_T]:
    """
    The items of ``items``, produced in a thread of its own at most ``depth`` items ahead.

    An error in the thread is raised here; when the caller stops early, the thread stops too.
    """
    done = object()
    queue: Queue[Any] = Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in items:
                queue.put(item)
                if stop.is_set():
                    return
            queue.put(done)
        except BaseException as error:  # handed to the caller, raised there
            queue.put(error)
        finally:
            close = getattr(items, "close", None)
            if close is not None:
                close()  # a generator's clean-up (the snapshot file closed) in its own thread

    thread = threading.Thread(target=produce, name="dub-snapshot-read-ahead", daemon=True)
    thread.start()
    try:
        while (item := queue.get()) is not done:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        while thread.is_alive():  # unblock a put, so that the thread sees the stop
            with suppress(Empty):
                queue.get(timeout=0.05)
        thread.join()


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
