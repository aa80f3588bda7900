"""
Customer files in object storage: JSON Lines, CSV and Parquet, written page by page and atomically.

The final path holds either the previous complete file or the new complete one, never a partial one,
also when the task fails or is killed mid-read:

* on S3 (``s3://``, which has no rename) the file is one multipart upload to the final key, which S3
  shows only once it is completed; it is completed after the last page, and aborted on any error (its
  parts are deleted). A killed worker leaves an incomplete upload, invisible, which a bucket lifecycle
  rule (``AbortIncompleteMultipartUpload``) removes;
* elsewhere (``file://`` and other filesystems) it is written under a hidden temporary name beside the
  final one and renamed into place once complete; on any error the temporary file is removed.

Memory holds one page (Parquet: one row group) at a time, whatever the number of customers, plus on S3
one upload part (:data:`S3_PART_SIZE`).
"""

from __future__ import annotations

import csv
import io
import json
import logging
import uuid
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager, suppress
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any, Protocol

from airflow.sdk.exceptions import AirflowException

from airflow_provider_dub.exceptions import DubOutputError, DubValidationError

if TYPE_CHECKING:
    from airflow.sdk import ObjectStoragePath

log = logging.getLogger(__name__)

FORMATS = ("jsonl", "csv", "parquet")
_EXTENSIONS = {".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}

#: The customer fields, in Dub's order.
CUSTOMER_FIELDS = (
    "id",
    "name",
    "email",
    "avatar",
    "externalId",
    "stripeCustomerId",
    "country",
    "sales",
    "saleAmount",
    "createdAt",
    "firstSaleAt",
    "subscriptionCanceledAt",
)
#: The expanded objects' fields (``includeExpandedFields=true``), flattened as ``<object>_<field>``.
EXPANDED_FIELDS = {
    "link": ("id", "domain", "key", "shortLink", "url", "programId"),
    "programId": (),
    "partner": ("id", "name", "email", "image"),
    "discount": (
        "id",
        "amount",
        "type",
        "maxDuration",
        "couponId",
        "couponTestId",
        "description",
    ),
}
_INTEGER_COLUMNS = {"sales", "saleAmount", "discount_maxDuration"}
_FLOAT_COLUMNS = {"discount_amount"}
_TIMESTAMP_COLUMNS = {"createdAt", "firstSaleAt", "subscriptionCanceledAt"}
_PARQUET_ROW_GROUP = 10_000
#: Schemes whose files are written in place as an upload that appears only once committed (S3).
_UPLOAD_SCHEMES = frozenset({"s3", "s3a", "s3n"})
#: The size of one S3 upload part: what an S3 write buffers (S3: at least 5 MiB, at most 10,000 parts).
S3_PART_SIZE = 16 * 2**20


def resolve_format(output_format: str | None, path: str) -> str:
    """
    Return the output format: ``output_format`` if given, else from the path's extension, else JSON Lines.

    :raises DubValidationError: on an unknown format.
    """
    if output_format and not isinstance(output_format, str):
        raise DubValidationError(
            "output_format", f"expected a string, got {type(output_format).__name__}", FORMATS
        )
    if output_format:
        fmt = output_format.strip().lower().lstrip(".")
        fmt = {"json": "jsonl", "ndjson": "jsonl", "jsonlines": "jsonl", "pq": "parquet"}.get(fmt, fmt)
        if fmt not in FORMATS:
            raise DubValidationError("output_format", f"{output_format!r} is not a known format", FORMATS)
        return fmt
    name = path.rsplit("/", 1)[-1].lower()
    for extension, fmt in _EXTENSIONS.items():
        if name.endswith(extension):
            return fmt
    return "jsonl"


def columns(expanded: bool) -> list[str]:
    """Return the flat column names of CSV and Parquet files: stable, whatever the data."""
    names = list(CUSTOMER_FIELDS)
    if expanded:
        for obj, fields in EXPANDED_FIELDS.items():
            names.extend(f"{obj}_{field}" for field in fields) if fields else names.append(obj)
    return names


def flatten(customer: dict[str, Any], names: list[str]) -> dict[str, Any]:
    """Return one customer as a flat row of ``names``; an absent expanded object gives empty columns."""
    row: dict[str, Any] = {}
    for name in names:
        if name in customer and not isinstance(customer[name], dict):
            row[name] = customer[name]
            continue
        obj, _, field = name.partition("_")
        nested = customer.get(obj)
        row[name] = nested.get(field) if isinstance(nested, dict) and field else None
    return row


class _PageWriter(Protocol):
    def __init__(self, stream: IO[bytes], expanded: bool) -> None: ...

    def write_page(self, customers: list[dict[str, Any]]) -> None: ...

    def close(self) -> None: ...


class _JsonLinesWriter:
    def __init__(self, stream: IO[bytes], expanded: bool) -> None:
        self.stream = stream

    def write_page(self, customers: list[dict[str, Any]]) -> None:
        lines = "".join(json.dumps(c, ensure_ascii=False, separators=(",", ":")) + "\n" for c in customers)
        self.stream.write(lines.encode("utf-8"))

    def close(self) -> None:
        pass


class _CsvWriter:
    def __init__(self, stream: IO[bytes], expanded: bool) -> None:
        self.stream = stream
        self.names = columns(expanded)
        self.buffer = io.StringIO()
        self.writer = csv.DictWriter(self.buffer, fieldnames=self.names, extrasaction="ignore")
        self.writer.writeheader()

    def write_page(self, customers: list[dict[str, Any]]) -> None:
        self.writer.writerows(flatten(c, self.names) for c in customers)
        self.stream.write(self.buffer.getvalue().encode("utf-8"))
        self.buffer.seek(0)
        self.buffer.truncate()

    def close(self) -> None:
        self.stream.write(self.buffer.getvalue().encode("utf-8"))


def check_format_support(output_format: str) -> None:
    """
    Check that the format's library is installed (Parquet: pyarrow).

    :raises DubValidationError: when it is not.
    """
    if output_format != "parquet":
        return
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        raise DubValidationError(
            "output_format",
            "Parquet needs pyarrow, which is not installed",
            "'jsonl' or 'csv', or install 'airflow-provider-dub[parquet]'",
        ) from None


class _ParquetWriter:
    def __init__(self, stream: IO[bytes], expanded: bool) -> None:
        check_format_support("parquet")
        import pyarrow as pa
        import pyarrow.parquet as pq

        self.pa = pa
        self.names = columns(expanded)
        self.schema = pa.schema([(name, self._type(name)) for name in self.names])
        self.writer = pq.ParquetWriter(stream, self.schema, compression="snappy")
        self.pending: list[dict[str, Any]] = []

    def _type(self, name: str) -> Any:
        if name in _INTEGER_COLUMNS:
            return self.pa.int64()
        if name in _FLOAT_COLUMNS:
            return self.pa.float64()
        if name in _TIMESTAMP_COLUMNS:
            return self.pa.timestamp("ms", tz="UTC")
        return self.pa.string()

    def write_page(self, customers: list[dict[str, Any]]) -> None:
        self.pending.extend(flatten(c, self.names) for c in customers)
        if len(self.pending) >= _PARQUET_ROW_GROUP:
            self._flush()

    def _flush(self) -> None:
        if not self.pending:
            return
        data = {name: [row[name] for row in self.pending] for name in self.names}
        for name in _TIMESTAMP_COLUMNS:
            data[name] = [_parse_time(value) for value in data[name]]
        self.writer.write_table(self.pa.Table.from_pydict(data, schema=self.schema))
        self.pending = []

    def close(self) -> None:
        try:
            self._flush()
        finally:
            try:
                self.writer.close()
            finally:
                # Closed or failed, never again: pyarrow's __del__ would retry a failed close when
                # garbage-collected, on the closed stream ("write to closed file").
                self.writer.is_open = False


def _parse_time(value: str | None) -> Any:
    if value is None:
        return None
    from datetime import datetime

    return datetime.fromisoformat(value.replace("Z", "+00:00"))


_WRITERS: dict[str, type[_PageWriter]] = {
    "jsonl": _JsonLinesWriter,
    "csv": _CsvWriter,
    "parquet": _ParquetWriter,
}


def open_storage_path(
    url: Any, conn_id: Any, *, url_argument: str, conn_argument: str, allowed: str
) -> ObjectStoragePath:
    """
    Open a URL given as a task argument as an ``ObjectStoragePath``, checked before anything is read.

    :param url: the URL, e.g. ``file:///data/customers.jsonl`` or ``s3://conn_id@bucket/key``.
    :param conn_id: the storage connection; empty or ``None`` keeps the URL's own (``scheme://conn_id@...``).
    :param url_argument: the name of the task argument holding ``url``, for error messages.
    :param conn_argument: the name of the task argument holding ``conn_id``.
    :param allowed: what the URL may be, for error messages.
    :raises DubValidationError: on a non-string, empty or scheme-less URL, or one no filesystem handles.
    """
    from urllib.parse import urlsplit

    from airflow.sdk import ObjectStoragePath

    for name, value in ((url_argument, url), (conn_argument, conn_id)):
        if value is not None and not isinstance(value, str):
            raise DubValidationError(name, f"expected a string, got {type(value).__name__}", "a string")
    if not url:
        raise DubValidationError(url_argument, "it is empty", allowed)
    scheme = urlsplit(url).scheme
    if not scheme:
        raise DubValidationError(url_argument, f"{url!r} has no scheme", allowed)
    try:
        import fsspec

        fsspec.get_filesystem_class(scheme)
        # No conn_id unless set: Airflow 3.1 lets an explicit conn_id=None override the URL's own.
        return ObjectStoragePath(url, conn_id=conn_id) if conn_id else ObjectStoragePath(url)
    except (ImportError, ValueError) as err:
        raise DubValidationError(
            url_argument,
            f"no filesystem handles the scheme {scheme!r} ({err})",
            "'file://', or a scheme whose provider is installed (s3:// needs apache-airflow-providers-amazon[s3fs])",
        ) from None


def open_output_path(url: Any, conn_id: Any) -> ObjectStoragePath:
    """
    Open a task's ``output_path`` argument as an ``ObjectStoragePath``, checked before anything is read.

    :param url: the ``output_path`` argument.
    :param conn_id: the ``output_conn_id`` argument.
    :raises DubValidationError: when the URL has no scheme or no filesystem handles its scheme.
    """
    return open_storage_path(
        url,
        conn_id,
        url_argument="output_path",
        conn_argument="output_conn_id",
        allowed="a URL such as 'file:///data/customers.jsonl' or 's3://bucket/key'",
    )


def output_asset_uri(url: str) -> str:
    """Return an output URL as an Asset URI, reading nothing: ``s3://conn_id@bucket/key`` -> ``s3://bucket/key``."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or ''}{parts.path}"


@dataclass
class WriteResult:
    """Hold what was written: the final URI and how many customers."""

    uri: str
    records: int


def asset_uri(path: ObjectStoragePath) -> str:
    """Return the path as an Asset URI: scheme and path, without the connection id."""
    return f"{path.protocol}://{path.path}" if path.protocol != "file" else f"file://{path.path}"


@contextmanager
def _output_failures(path: ObjectStoragePath) -> Iterator[None]:
    """
    Raise what the storage or a format's writer raises as :class:`DubOutputError`, naming the output.

    Airflow's own errors (a task timeout, a bad argument) pass as they are. The text of a storage
    error (``OSError``: permission denied, no space left) is kept; other errors (e.g. pyarrow's
    conversion errors) are named by type only, as their text may quote customer data.
    """
    try:
        yield
    except AirflowException:
        raise
    except Exception as err:
        detail = f"{type(err).__name__}: {err}" if isinstance(err, OSError) else type(err).__name__
        raise DubOutputError(f"Could not write the customers to {asset_uri(path)} ({detail})") from err


@contextmanager
def _renamed_into_place(path: ObjectStoragePath) -> Iterator[IO[bytes]]:
    """Yield a stream to a hidden temporary file beside ``path``, renamed to ``path`` if no error escapes."""
    with _output_failures(path):
        path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.parent / f".{path.name}.{uuid.uuid4().hex}.tmp"
    try:
        with _output_failures(path):
            stream = temporary.open("wb")
        try:
            yield stream
        except BaseException:
            with suppress(Exception):
                stream.close()
            raise
        with _output_failures(path):
            stream.close()  # flushes the last writes
            temporary.rename(path)
    finally:
        if temporary.exists():
            temporary.unlink()


@contextmanager
def _committed_upload(path: ObjectStoragePath) -> Iterator[IO[bytes]]:
    """
    Yield a stream to an upload to ``path`` that appears only when committed: after the last write, if no
    error escapes; on an error the upload is aborted and ``path`` is left as it was.

    No ``mkdir``: S3 has no folders, and s3fs's would create a missing bucket.
    """
    with _output_failures(path):
        stream = path.open("wb", autocommit=False, block_size=S3_PART_SIZE)
    try:
        yield stream
        with _output_failures(path):
            stream.close()  # uploads the last part; nothing is visible yet
            stream.commit()  # completes the multipart upload: the whole object appears at once
    except BaseException:
        # The error that brought us here is the one to raise, whatever the clean-up meets.
        with suppress(Exception):
            stream.close()  # no-op when closed; otherwise flushes the buffer as one more (invisible) part
        try:
            stream.discard()  # aborts the multipart upload: S3 deletes its parts
        except Exception as err:
            log.warning(
                "Could not abort the unfinished upload to %s (%s); it stays invisible until a "
                "lifecycle rule removes it",
                asset_uri(path),
                type(err).__name__,
            )
        raise


def _atomic_stream(path: ObjectStoragePath) -> AbstractContextManager[IO[bytes]]:
    return _committed_upload(path) if path.protocol in _UPLOAD_SCHEMES else _renamed_into_place(path)


def write_customers(
    path: ObjectStoragePath,
    pages: Iterable[list[dict[str, Any]]],
    output_format: str,
    *,
    expanded: bool = False,
) -> WriteResult:
    """
    Write customers page by page to ``path``, atomically: see the module's description.

    On any error ``path`` is left as it was, and no temporary file or upload is left behind.

    :param path: the final location.
    :param pages: lists of customers, consumed one at a time.
    :param output_format: one of :data:`FORMATS`.
    :param expanded: whether the customers carry expanded fields (CSV and Parquet columns).
    :raises DubOutputError: when the storage or the format's writer fails; an error of ``pages``
        (the read) is raised as it is.
    """
    if output_format not in _WRITERS:
        raise DubValidationError("output_format", f"{output_format!r} is not a known format", FORMATS)
    records = 0
    with _atomic_stream(path) as stream:
        with _output_failures(path):
            writer = _WRITERS[output_format](stream, expanded)
        try:
            for page in pages:
                with _output_failures(path):
                    writer.write_page(page)
                records += len(page)
        except BaseException:
            # Finish the abandoned file now: a Parquet writer left open would try to, when
            # garbage-collected, on the closed stream ("write to closed file").
            with suppress(Exception):
                writer.close()
            raise
        with _output_failures(path):
            writer.close()
    return WriteResult(uri=asset_uri(path), records=records)
