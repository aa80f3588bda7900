"""write_customers on the local filesystem: a failure mid-file leaves the previous file and nothing else."""

from __future__ import annotations

import errno
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from airflow.sdk import ObjectStoragePath

from airflow_provider_dub import writers
from airflow_provider_dub.exceptions import DubOutputError, DubServerError, DubValidationError
from airflow_provider_dub.writers import FORMATS, open_output_path, output_asset_uri, write_customers

PREVIOUS = b'{"id":"cus_previous"}\n'
EMAIL = "ada@example.com"


def page(start: int, size: int = 100) -> list[dict[str, Any]]:
    return [
        {
            "id": f"cus_{n:05d}",
            "name": f"N{n}",
            "email": EMAIL,
            "sales": n,
            "createdAt": "2026-08-01T00:00:00.000Z",
        }
        for n in range(start, start + size)
    ]


def three_pages(middle: list[dict[str, Any]] | None = None) -> Iterator[list[dict[str, Any]]]:
    yield page(0)
    yield middle if middle is not None else page(100)
    yield page(200)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """An output folder holding the previous, complete file of every format."""
    for fmt in FORMATS:
        (tmp_path / f"customers.{fmt}").write_bytes(PREVIOUS)
    return tmp_path


def target(folder: Path, fmt: str) -> ObjectStoragePath:
    return ObjectStoragePath(f"file://{folder}/customers.{fmt}")


def assert_unchanged(folder: Path) -> None:
    """Only the previous files: no hidden temporary file beside them, none changed."""
    assert sorted(child.name for child in folder.iterdir()) == sorted(f"customers.{fmt}" for fmt in FORMATS)
    assert all((folder / f"customers.{fmt}").read_bytes() == PREVIOUS for fmt in FORMATS)


class FillingStream:
    """A file whose disk fills after ``room`` bytes."""

    def __init__(self, stream: Any, room: int) -> None:
        self._stream, self._room = stream, room

    def write(self, data: bytes) -> int:
        self._room -= len(data)
        if self._room < 0:
            raise OSError(errno.ENOSPC, "No space left on device")
        return self._stream.write(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)

    def __enter__(self) -> FillingStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self._stream.close()


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_full_disk_mid_file_raises_dub_output_error_and_leaves_no_temporary_file(
    folder: Path, fmt: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened = ObjectStoragePath.open
    monkeypatch.setattr(
        ObjectStoragePath, "open", lambda self, *a, **kw: FillingStream(opened(self, *a, **kw), 2_000)
    )
    monkeypatch.setattr(writers, "_PARQUET_ROW_GROUP", 50)  # Parquet writes a row group per 50 rows
    pages = three_pages()
    with pytest.raises(
        DubOutputError, match=r"customers\.\w+ \(OSError: \[Errno 28\] No space left"
    ) as raised:
        write_customers(target(folder, fmt), pages, fmt)
    assert isinstance(raised.value.__cause__, OSError)
    assert_unchanged(folder)


@pytest.mark.parametrize(
    ("fmt", "unwritable"),
    [("jsonl", {EMAIL}), ("parquet", f"sales of {EMAIL}")],  # JSON has no sets; "sales" is int64 in Parquet
)
def test_a_value_the_format_cannot_hold_raises_dub_output_error_without_the_value(
    folder: Path, fmt: str, unwritable: Any
) -> None:
    middle = page(100)
    middle[50]["sales"] = unwritable
    with pytest.raises(DubOutputError) as raised:
        write_customers(target(folder, fmt), three_pages(middle), fmt)
    assert EMAIL not in str(raised.value)
    assert_unchanged(folder)


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_read_failing_mid_file_raises_its_own_error_and_leaves_no_temporary_file(
    folder: Path, fmt: str
) -> None:
    def pages() -> Iterator[list[dict[str, Any]]]:
        yield page(0)
        raise DubServerError("internal_server_error", "An internal server error occurred.", None, 500)

    with pytest.raises(DubServerError):
        write_customers(target(folder, fmt), pages(), fmt)
    assert_unchanged(folder)


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_complete_write_replaces_the_previous_file(folder: Path, fmt: str) -> None:
    result = write_customers(target(folder, fmt), three_pages(), fmt)
    assert result.records == 300 and result.uri == f"file://{folder}/customers.{fmt}"
    assert (folder / f"customers.{fmt}").read_bytes() != PREVIOUS
    assert len(list(folder.iterdir())) == len(FORMATS)


def test_output_asset_uri_drops_the_connection_id() -> None:
    assert output_asset_uri("s3://aws_data@bucket/dub/customers.jsonl") == "s3://bucket/dub/customers.jsonl"
    assert output_asset_uri("file:///data/customers.csv") == "file:///data/customers.csv"


@pytest.mark.parametrize("url", ["", "/data/customers.jsonl", "nosuchscheme://bucket/key"])
def test_open_output_path_names_the_argument(url: str) -> None:
    with pytest.raises(DubValidationError) as raised:
        open_output_path(url, None)
    assert raised.value.param == "output_path"
