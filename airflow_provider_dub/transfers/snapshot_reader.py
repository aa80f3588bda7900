"""
Reading a customer snapshot file (what ``DubListCustomersOperator`` wrote) in batches of staging rows.

JSON Lines or Parquet, from any ``ObjectStoragePath`` (``file://``, ``s3://conn_id@bucket/key``, ...).
Both are parsed by Arrow (C++, no Python object per value) into record batches of the staging
table's columns; memory holds one batch at a time, whatever the number of customers.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from airflow_provider_dub.exceptions import DubValidationError
from airflow_provider_dub.transfers.sql_dialects import (
    COLUMNS,
    INTEGER_COLUMNS,
    STAGING_COLUMNS,
    TIMESTAMP_COLUMNS,
)
from airflow_provider_dub.writers import open_storage_path

if TYPE_CHECKING:
    from airflow.sdk import ObjectStoragePath

SNAPSHOT_FORMATS = ("jsonl", "parquet")
_BLOCK_BYTES = 1 << 20
_FIELDS = tuple(COLUMNS.values())


def resolve_snapshot_format(snapshot_format: str | None, url: str) -> str:
    """
    ``jsonl`` or ``parquet``: as given, else from the file's extension (JSON Lines by default).

    :raises DubValidationError: on any other format.
    """
    if snapshot_format not in (None, ""):
        if not isinstance(snapshot_format, str):
            raise DubValidationError("snapshot_format", "expected a string", SNAPSHOT_FORMATS)
        fmt = snapshot_format.strip().lower().lstrip(".")
        fmt = {"json": "jsonl", "ndjson": "jsonl", "pq": "parquet"}.get(fmt, fmt)
        if fmt not in SNAPSHOT_FORMATS:
            raise DubValidationError(
                "snapshot_format", f"{snapshot_format!r} is not a format the load reads", SNAPSHOT_FORMATS
            )
        return _with_pyarrow(fmt)
    name = urlsplit(url).path.lower()
    return _with_pyarrow("parquet" if name.endswith((".parquet", ".pq")) else "jsonl")


def _with_pyarrow(snapshot_format: str) -> str:
    try:
        import pyarrow.json  # noqa: F401
    except ImportError:
        raise DubValidationError(
            "snapshot_format",
            f"reading {snapshot_format} snapshots needs pyarrow, which is not installed",
            "install 'airflow-provider-dub[sql]'",
        ) from None
    return snapshot_format


def open_snapshot_path(url: Any, conn_id: Any) -> ObjectStoragePath:
    """
    Open the snapshot URL as an ``ObjectStoragePath``, checked before anything is read.

    :raises DubValidationError: on a non-string, empty, scheme-less or unsupported URL.
    """
    return open_storage_path(
        url,
        conn_id,
        url_argument="snapshot_path",
        conn_argument="snapshot_conn_id",
        allowed="a URL such as 'file:///data/customers.jsonl' or 's3://conn_id@bucket/key'",
    )


def staging_schema() -> Any:
    """The Arrow schema of staging rows: ``snapshot_date``, then Dub's fields (times as Dub's strings)."""
    import pyarrow as pa

    return pa.schema(
        [(column, pa.int64() if column in INTEGER_COLUMNS else pa.string()) for column in STAGING_COLUMNS]
    )


def read_batches(path: ObjectStoragePath, snapshot_format: str, day: str, batch_size: int) -> Iterator[Any]:
    """The snapshot as Arrow record batches of staging rows, at most ``batch_size`` rows each."""
    import pyarrow as pa

    schema = staging_schema()
    reader = _parquet_batches if snapshot_format == "parquet" else _json_lines_batches
    days = repeated(day, batch_size)
    with path.open("rb") as stream:
        for batch in reader(stream, batch_size):
            for start in range(0, batch.num_rows, batch_size):
                part = batch.slice(start, batch_size)
                columns = [days.slice(0, part.num_rows), *part.columns]
                yield pa.RecordBatch.from_arrays(columns, schema=schema)


def repeated(text: str, count: int) -> Any:
    """
    An Arrow string array of ``count`` times ``text``, built from bytes.

    Not ``pa.array([text] * count)``: converting any Python object makes pyarrow import pandas, which
    took 4 s of a load (more than parsing a million customers' JSON takes).
    """
    import struct

    import pyarrow as pa

    data = text.encode()
    offsets = pa.py_buffer(struct.pack("<ii", 0, len(data)))
    one = pa.Array.from_buffers(pa.string(), 1, [None, offsets, pa.py_buffer(data)])
    return pa.repeat(one[0], count)


def _dub_schema(timestamps_as: Any = None) -> Any:
    import pyarrow as pa

    def kind(column: str) -> Any:
        if column in INTEGER_COLUMNS:
            return pa.int64()
        return timestamps_as if column in TIMESTAMP_COLUMNS and timestamps_as else pa.string()

    return pa.schema([(field, kind(column)) for column, field in COLUMNS.items()])


def _json_lines_batches(stream: Any, batch_size: int) -> Iterator[Any]:
    import pyarrow.json as pj

    options = pj.ParseOptions(explicit_schema=_dub_schema(), unexpected_field_behavior="ignore")
    # 1 MiB blocks (about 3,000 customers): Arrow reads ahead several blocks, so larger ones make
    # memory grow with the file (5 MiB: +170 MB from 200,000 to 1,000,000 customers; 1 MiB: +6 MB).
    block = pj.ReadOptions(block_size=_BLOCK_BYTES)
    yield from pj.open_json(stream, read_options=block, parse_options=options)


def _parquet_batches(stream: Any, batch_size: int) -> Iterator[Any]:
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    parquet = pq.ParquetFile(stream)
    names = parquet.schema_arrow.names
    present = [field for field in _FIELDS if field in names]
    for batch in parquet.iter_batches(batch_size=batch_size, columns=present):
        columns = []
        for field, kind in zip(_FIELDS, _dub_schema(), strict=True):
            if field not in names:
                columns.append(pa.nulls(batch.num_rows, kind.type))
                continue
            column = batch.column(field)
            if pa.types.is_timestamp(column.type):  # Dub's format: 2026-03-04T10:00:00.000Z
                column = pc.strftime(column.cast(pa.timestamp("ms", tz="UTC")), "%Y-%m-%dT%H:%M:%SZ")
            columns.append(column.cast(kind.type))
        yield pa.RecordBatch.from_arrays(columns, names=list(_FIELDS))
