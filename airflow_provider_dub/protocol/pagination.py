"""
The plan of a complete read of ``GET /customers``: which requests, in what order, when to stop.

Why not "first page, then ``startingAfter=<last id>``" (what Dub's SDK does)? Without a cursor Dub
orders by ``createdAt``; with a cursor it orders by ``id``. Imported customers carry a backdated
``createdAt`` with a fresh id, and ids have had three formats, so the two orders disagree and that walk
skips and repeats customers. Offset paging has no tie-breaker and stops at a page cap.

So a complete read is made of cursor sweeps only, all in id order:

1. a *probe*: the first page in Dub's default order. If it is short, it is everything: one request.
   Otherwise its first customer becomes the *pivot*;
2. an *up* sweep, ``sortOrder=asc&startingAfter=<pivot>`` and on: every id above the pivot;
3. a *down* sweep, ``sortOrder=desc&startingAfter=<pivot>`` and on: every id below it.

The pivot itself is yielded once, between the probe and the sweeps. Each sweep ends on a short page.
Every customer present throughout the read is in exactly one sweep, once, whatever its ``createdAt``.

If a cursor customer is deleted mid-read Dub answers 422 "Invalid cursor"; the sweep then resumes from
the nearest id it has already passed (the rest of its last page, nearest first) and drops the ids that
this serves again. The down sweep starts from the pivot, so it keeps the up sweep's first page (the ids
just above the pivot) for that purpose. No id is ever compared client-side: Dub's id order is its
database collation, which we do not reproduce.

A read with an explicit ``sort_by``/``sort_order`` must use offset paging, which cannot be complete
beyond one page (no tie-breaker, a page cap); such a read is exact when it fits in one page (or
``limit`` <= ``page_size``) and otherwise fails with :class:`DubPaginationError` before yielding anything.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from airflow_provider_dub.exceptions import DubPaginationError

Customer = dict[str, Any]

#: How many already-yielded ids the plan may remember to make a fresh start exact (two pages' worth).
_RESTART_MEMORY = 200
_MAX_RESTARTS = 3


class ReadPlan(Protocol):
    """What a transport drives: :class:`CustomerReadPlan` and the new-customers plan alike."""

    done: bool

    def next_query(self) -> dict[str, str] | None: ...

    def accept_page(self, rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]: ...

    def cursor_lost(self) -> None: ...


@dataclass
class _Sweep:
    """One cursor walk in id order, in one direction."""

    order: str
    cursor: str
    #: ids already passed, nearest to ``cursor`` first (two pages at most): where to resume from if
    #: ``cursor`` is deleted. Resuming from one of them serves the nearer ones again, so they are
    #: also the ids to drop from the next page.
    passed: list[str] = field(default_factory=list)
    started: bool = False
    done: bool = False

    def advance(self, ids: list[str], page_size: int) -> None:
        """Move past a page whose ids are ``ids``, in the order served."""
        if not ids:
            return
        self.passed = [*reversed(ids[:-1]), self.cursor, *self.passed][: 2 * page_size]
        self.cursor = ids[-1]


class CustomerReadPlan:
    """
    Drives a complete read of customers; the transport sends what it says and reports back.

    Use: ``while (query := plan.next_query()) is not None:`` send it; on a page call
    :meth:`accept_page` and yield what it returns; on Dub's "Invalid cursor" 422 call
    :meth:`cursor_lost` and go on. Other errors end the read.

    :param filters: the filter part of the query, already validated (Dub's names).
    :param page_size: customers per request, 1..100.
    :param limit: stop after this many customers; ``None`` for all.
    :param sort_by: asked-for sort key; with ``sort_order``, makes this an ordered read.
    :param sort_order: asked-for direction.
    """

    def __init__(
        self,
        filters: dict[str, str],
        *,
        page_size: int = 100,
        limit: int | None = None,
        sort_by: str | None = None,
        sort_order: str | None = None,
    ) -> None:
        self.filters = dict(filters)
        self.page_size = page_size
        self.limit = limit
        self.sort_by = sort_by
        self.sort_order = sort_order
        self.ordered = sort_by is not None or sort_order is not None
        self.yielded = 0
        self.done = False
        self._sweeps: list[_Sweep] = []
        self._pivot: Customer | None = None
        self._restarts = 0
        #: ids yielded so far while few enough to remember; None once a restart is no longer safe.
        self._early_ids: set[str] | None = set()
        #: ids yielded before a fresh start, never to be yielded again.
        self._skip_ids: set[str] = set()

    # -- what to send ---------------------------------------------------------------------------

    def next_query(self) -> dict[str, str] | None:
        """The query of the next request, or ``None`` when the read is complete."""
        if self.done:
            return None
        sweep = self._current_sweep()
        if sweep is None:
            return self._first_query()
        return {
            **self.filters,
            "sortOrder": sweep.order,
            "startingAfter": sweep.cursor,
            "pageSize": str(self._request_size()),
        }

    def _first_query(self) -> dict[str, str]:
        query = {**self.filters, "pageSize": str(self._request_size())}
        if self.sort_by:
            query["sortBy"] = self.sort_by
        if self.sort_order:
            query["sortOrder"] = self.sort_order
        return query

    def _request_size(self) -> int:
        if self.limit is not None and self.limit - self.yielded < self.page_size and not self._sweeps:
            return max(1, self.limit - self.yielded)
        return self.page_size

    def _current_sweep(self) -> _Sweep | None:
        for sweep in self._sweeps:
            if not sweep.done:
                return sweep
        return None

    # -- what came back ---------------------------------------------------------------------------

    def accept_page(self, rows: Sequence[Customer]) -> list[Customer]:
        """Take one page of the request :meth:`next_query` asked for; return the customers to yield."""
        sweep = self._current_sweep()
        out = self._accept_first_page(rows) if sweep is None else self._accept_sweep_page(sweep, rows)
        return self._count([row for row in out if str(row["id"]) not in self._skip_ids])

    def _accept_first_page(self, rows: Sequence[Customer]) -> list[Customer]:
        size = self._request_size()
        if len(rows) < size or (self.limit is not None and self.limit <= size):
            self.done = True
            return list(rows)
        if self.ordered:
            raise DubPaginationError(
                f"More customers match than one page of {size}, and a read ordered by "
                f"sort_by={self.sort_by or 'createdAt'!r}, sort_order={self.sort_order or 'desc'!r} cannot be "
                "complete beyond one page: Dub's offset paging has no tie-breaker (equal keys swap between "
                "pages) and stops at a page cap. Either leave sort_by and sort_order unset to read every "
                "matching customer exactly once (then sort downstream), or set limit <= page_size "
                "(at most 100) to get the top customers in that order."
            )
        self._pivot = rows[0]
        pivot_id = str(rows[0]["id"])
        self._sweeps = [_Sweep("asc", pivot_id), _Sweep("desc", pivot_id)]
        return []

    def _accept_sweep_page(self, sweep: _Sweep, rows: Sequence[Customer]) -> list[Customer]:
        ids = [str(row["id"]) for row in rows]
        again = {sweep.cursor, *sweep.passed}
        out = [row for row, row_id in zip(rows, ids, strict=True) if row_id not in again]
        if not sweep.started:
            sweep.started = True
            if sweep is self._sweeps[0]:
                # The down sweep also starts at the pivot; if the pivot is deleted before it starts,
                # it resumes from the ids just above the pivot, which this page holds nearest first.
                self._sweeps[1].passed = list(ids)
                if self._pivot is not None:
                    out.insert(0, self._pivot)
                    self._pivot = None
        sweep.advance(ids, self.page_size)
        if len(rows) < self._request_size():
            sweep.done = True
            sweep.passed = []
            self.done = all(s.done for s in self._sweeps)
        return out

    def _count(self, out: list[Customer]) -> list[Customer]:
        if self.limit is not None and self.yielded + len(out) >= self.limit:
            out = out[: self.limit - self.yielded]
            self.done = True
        self.yielded += len(out)
        if self._early_ids is not None:
            self._early_ids.update(str(row["id"]) for row in out)
            if len(self._early_ids) > _RESTART_MEMORY:
                self._early_ids = None
        return out

    def cursor_lost(self) -> None:
        """
        Dub said the current cursor does not exist: it was deleted since it was read.

        Resume from the nearest id already passed, or start again while that is still exact.

        :raises DubPaginationError: when neither is possible.
        """
        sweep = self._current_sweep()
        if sweep is None:
            raise DubPaginationError("Dub reported an invalid cursor on a request that sent none.")
        if sweep.passed:
            sweep.cursor = sweep.passed.pop(0)
            return
        if self._early_ids is not None and self._restarts < _MAX_RESTARTS:
            # Little has been yielded yet: read again from a new probe, skipping what was yielded.
            self._restarts += 1
            self._skip_ids |= self._early_ids
            self._sweeps = []
            self._pivot = None
            return
        raise DubPaginationError(
            "The customers used as paging cursors were deleted during the read faster than it could resume "
            f"(last cursor {sweep.cursor!r}); no complete result is possible. Run the read again."
        )

    def __repr__(self) -> str:
        return (
            f"CustomerReadPlan(filters={sorted(self.filters)}, page_size={self.page_size}, limit={self.limit}, "
            f"ordered={self.ordered}, yielded={self.yielded}, done={self.done})"
        )
