"""The read-ahead that overlaps parsing the snapshot with the database's COPY."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from airflow_provider_dub.transfers.staging import read_ahead


def test_read_ahead_yields_in_order_and_raises_the_threads_error() -> None:
    def items() -> Iterator[int]:
        yield from range(10)
        raise ValueError("bad line 11")

    seen = []
    with pytest.raises(ValueError, match="bad line 11"):
        for item in read_ahead(items(), depth=2):
            seen.append(item)
    assert seen == list(range(10))


def test_read_ahead_stops_its_thread_and_closes_the_source_when_the_caller_stops() -> None:
    closed = threading.Event()

    def endless() -> Iterator[int]:
        try:
            n = 0
            while True:
                yield n
                n += 1
        finally:
            closed.set()

    ahead = read_ahead(endless(), depth=3)
    assert [next(ahead) for _ in range(5)] == [0, 1, 2, 3, 4]
    ahead.close()
    assert closed.is_set()
    assert not [t for t in threading.enumerate() if t.name == "dub-snapshot-read-ahead"]
