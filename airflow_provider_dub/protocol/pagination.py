"""
The plan of a complete read of ``GET /customers``: which requests, in what order, when to stop.

Why not "first page, then ``startingAfter=<last id>``" (what Dub's SDK does)? Without a cursor Dub
orders by ``createdAt``; with a cursor it orders by ``id``. Imported customers carry a backdated
``createdAt`` with a fresh id, and ids have had three formats, so the two orders disagree and that walk
skips and repeats customers. Offset paging has no tie-breaker and stops at a page cap.

So a complete read is made of cursor sweeps only, all in id order:

1. a *probe*: the first page in Dub's default order. If it is short, it is everything: one request.
   Otherwise its first customer becomes the *pivot*;
2. a *down* sweep, ``sortOrder=desc&startingAfter=<pivot>`` and on: every id below the pivot;
3. an *up* sweep, ``sortOrder=asc``: every id above the pivot. It starts from the down sweep's
   first page (below), so it runs right after that page; the down sweep then goes on.

The pivot itself is yielded once, with the down sweep's first page. Each sweep ends on a short page.
Every customer present throughout the read is in exactly one sweep, once, whatever its ``createdAt``.

**The silent skip.** A cursor page is Prisma's ``cursor`` + ``skip: 1``: the rows from the cursor
onward that match the filters, then the first one dropped. While the cursor customer matches, that
is the cursor itself; once it has left the filters (its country, email, link or partner changed, a
search no longer matches) it is the next real customer, and Dub answers 200. An *unfiltered* read
(the workspace is the only filter) cannot meet this, and reads as above. A *filtered* read proves
every page instead:

* the cursor sent is the second-to-last id already read, so the page must begin with the last id
  already read (the *overlap*): then the cursor still matched and nothing was dropped. A page of
  ``page_size`` rows therefore holds ``page_size - 1`` new ones, and a sweep still ends only on a
  page shorter than requested (``pageSize`` is at least 2);
* a page that begins with anything else proves nothing and is discarded: the sweep steps back
  (two ids back, then four, eight...) along the ids it remembers (two pages' worth) until a page
  begins with one of the ids between the cursor and the last one read. Ids that left the filters
  drop out of the memory; the page's ids already read are not yielded again;
* a sweep's first request starts from the pivot, which may itself have left the filters since the
  probe. So the up sweep starts one row further back: from the down sweep's first page, its second
  id, expecting its first. Its first page thus covers the ids between the pivot and the down sweep's
  first row again, with proof, and yields any the down sweep's first request dropped. When the
  down sweep's first page has fewer than two rows, the up sweep starts from the pivot instead and
  the down side is read again from the up sweep's first page, the same way;
* with nothing left to step back to, the read starts again from a new probe, skipping what it has
  yielded (remembered up to 100,000 ids; past that it fails with :class:`DubPaginationError`
  rather than return an incomplete result).

If a cursor customer is deleted mid-read Dub answers 422 "Invalid cursor"; the sweep then resumes from
the nearest id it has already passed and drops the ids that this serves again (the pages it expects
are unchanged). No id is ever compared client-side: Dub's id order is its database collation, which we
do not reproduce.

A read with an explicit ``sort_by``/``sort_order`` must use offset paging, which cannot be complete
beyond one page (no tie-breaker, a page cap); such a read is exact when it fits in one page (or
``limit`` <= ``page_size``) and otherwise fails with :class:`DubPaginationError` before yielding anything.
(A larger ``limit`` is served by :mod:`.top`: a complete read kept in a bounded heap.)
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from itertools import islice
from typing import Any, Protocol

from airflow_provider_dub.exceptions import DubPaginationError
from airflow_provider_dub.protocol.responses import Customer

#: Dub's query names of the filters a customer can stop matching between two requests (or, for
#: ``customerIds``, that Dub applies the same way). With any of them, cursor pages need the overlap.
ROW_FILTERS = frozenset(
    ("email", "externalId", "search", "country", "linkId", "partnerId", "programId", "customerIds")
)

#: How many already-yielded ids an unfiltered read remembers to make a fresh start exact.
RESTART_MEMORY = 200
#: The same for a filtered read, which may also start again when its cursors leave the filters.
RESTART_MEMORY_FILTERED = 100_000
MAX_RESTARTS = 3


def needs_overlap(filters: dict[str, str]) -> bool:
    """Whether a read with these query parameters must prove its cursor pages (any row filter set)."""
    return any(name in filters for name in ROW_FILTERS)


#: A request a plan asks for: ``(key, path, query)``; its answer goes back under the key.
Request = tuple[str, str, dict[str, str]]


class ReadPlan(Protocol):
    """
    What a transport drives: every read plan (sequential, parallel, new customers) alike.

    Send each request of :meth:`ready` once (at most ``limit``, the free slots); give each answer to
    :meth:`accept` (an integer for ``/customers/count``, else the page) or, on Dub's "Invalid cursor"
    422, call :meth:`cursor_lost`; yield what either returns. The read is over when :meth:`ready`
    returns nothing and no request is in flight.
    """

    done: bool

    def ready(self, limit: int | None = None) -> list[Request]: ...

    def accept(self, key: str, answer: Any) -> list[Customer]: ...

    def cursor_lost(self, key: str) -> list[Customer]: ...


class SequentialPlan:
    """
    The :class:`ReadPlan` side of a plan that sends one request and waits for its answer.

    A subclass defines ``next_query`` (``None``: nothing more to send), ``accept_page`` and
    ``cursor_lost``, which calls :meth:`_answered` first.
    """

    #: the key of its one request
    PAGE = "page"
    _waiting = False

    def next_query(self) -> dict[str, str] | None:
        raise NotImplementedError

    def accept_page(self, rows: Sequence[Customer]) -> list[Customer]:
        raise NotImplementedError

    def ready(self, limit: int | None = None) -> list[Request]:
        """Return the next request, unless one is in flight (or ``limit`` is 0, or the read is over)."""
        if self._waiting or limit == 0 or (query := self.next_query()) is None:
            return []
        self._waiting = True
        return [(self.PAGE, "/customers", query)]

    def accept(self, key: str, answer: Any) -> list[Customer]:
        """Take the page of the request in flight; return the customers to yield."""
        self._answered()
        return self.accept_page(answer)

    def _answered(self) -> None:
        self._waiting = False


class Sweep:
    """
    One cursor walk in id order, in one direction, and the proof of each of its pages.

    :param order: ``asc`` or ``desc``.
    :param trail: ids already read, in walk order, the furthest last; nothing matched between two
        neighbours when they were read. The cursor is taken from it.
    :param overlap: prove every page (a filtered read); otherwise the cursor is the last id.
    :param memory: how many ids the trail keeps.
    :param origin: the first request starts from ``trail[-1]`` without proof (a pivot whose
        neighbours are unknown); the ids between it and the first row returned must then be covered
        by another sweep. Afterwards the trail is that page, without the origin.
    :param seen: ids read elsewhere that this sweep must not yield.
    """

    def __init__(
        self,
        order: str,
        trail: Iterable[str],
        *,
        overlap: bool,
        memory: int,
        origin: bool = False,
        seen: Iterable[str] = (),
    ) -> None:
        self.order = order
        self.memory = max(memory, 4)
        self.trail = list(trail)[-self.memory :]
        self.overlap = overlap
        self.origin = origin
        self.back = 1 if overlap and not origin else 0
        self.done = False
        #: ids read (by first reading), so that a page served again yields nothing twice.
        self._seen: dict[str, None] = dict.fromkeys([*seen, *self.trail])
        self.pages = 0

    @property
    def cursor(self) -> str | None:
        """The next request's cursor; ``None`` when there is nothing left to start from."""
        index = len(self.trail) - 1 - self.back
        return self.trail[index] if index >= 0 else None

    def accept(
        self, ids: Sequence[str], requested: int, proves: Callable[[str], bool] | None = None
    ) -> list[str] | None:
        """
        Take the page of ids (walk order) that ``cursor`` asked for; return the ids not read before.

        ``None`` when the page is refused: it does not begin with an id read after the cursor (nor one
        ``proves`` accepts), so Dub may have dropped a customer. The sweep has stepped back; when
        :attr:`cursor` is ``None`` after that, nothing is left to step back to.
        """
        cut = len(self.trail) - self.back  # the ids after the cursor
        if self.back:
            first = ids[0] if ids else None
            if first is None or (first not in self.trail[cut:] and not (proves and proves(first))):
                self.back = (
                    len(self.trail)
                    if self.back >= len(self.trail) - 1
                    else min(2 * self.back, len(self.trail) - 1)
                )
                return None
        new = [customer_id for customer_id in ids if customer_id not in self._seen]
        if self.origin and self.overlap:
            self.trail = list(ids)  # the origin is not known to be next to the page's first row
        else:
            self.trail = [*self.trail[:cut], *ids]
        self.trail = self.trail[-self.memory :]
        self.origin = False
        self.back = 1 if self.overlap else 0
        self._remember(ids)
        self.pages += 1
        if len(ids) < requested:
            self.done = True
        return new

    def _remember(self, ids: Sequence[str]) -> None:
        self._seen.update(dict.fromkeys(ids))
        excess = len(self._seen) - 4 * self.memory
        if excess > 0:  # ids that far behind are behind every cursor this sweep can still send
            for customer_id in list(islice(self._seen, excess)):
                del self._seen[customer_id]

    def cursor_lost(self) -> bool:
        """The cursor was deleted: forget it and resume from the id before it. ``False``: none left."""
        index = len(self.trail) - 1 - self.back
        if index >= 0:
            del self.trail[index]
        return self.cursor is not None


class CustomerReadPlan(SequentialPlan):
    """
    Drives a complete read of customers; the transport sends what it says and reports back.

    Use it as a :class:`ReadPlan`, or step by step: ``while (query := plan.next_query()) is not
    None:`` send it; on a page call :meth:`accept_page` and yield what it returns; on Dub's "Invalid
    cursor" 422 call :meth:`cursor_lost` and go on. Other errors end the read. With a row filter (``email``,
    ``country``, ``search``...) every cursor page is proven by an overlap row (see the module).

    :param filters: the filter part of the query, already validated (Dub's names).
    :param page_size: customers per request, 1..100 (at least 2 on a filtered read's cursor pages).
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
        self.overlap = needs_overlap(self.filters)
        self.yielded = 0
        self.done = False
        self._sweeps: list[Sweep] = []
        self._pivot: Customer | None = None
        self._pivot_id = ""
        self._restarts = 0
        self._memory = RESTART_MEMORY_FILTERED if self.overlap else RESTART_MEMORY
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
            "startingAfter": str(sweep.cursor),
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
        if not self._sweeps:
            if self.limit is not None and self.limit - self.yielded < self.page_size:
                return max(1, self.limit - self.yielded)
            return self.page_size
        return max(2, self.page_size) if self.overlap else self.page_size

    def _current_sweep(self) -> Sweep | None:
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
                "matching customer exactly once (then sort downstream), or set a limit to get the top "
                "customers in that order (up to 100 in one request, more from a complete read)."
            )
        self._pivot = rows[0]
        self._pivot_id = str(rows[0]["id"])
        self._sweeps = [self._new_sweep("desc", [self._pivot_id], origin=True)]
        return []

    def _new_sweep(
        self, order: str, trail: list[str], *, origin: bool = False, seen: Iterable[str] = ()
    ) -> Sweep:
        return Sweep(order, trail, overlap=self.overlap, memory=2 * self.page_size, origin=origin, seen=seen)

    def _accept_sweep_page(self, sweep: Sweep, rows: Sequence[Customer]) -> list[Customer]:
        ids = [str(row["id"]) for row in rows]
        was_origin = sweep.origin
        new = sweep.accept(ids, self._request_size())
        if new is None:  # refused: it stepped back
            if sweep.cursor is None:
                self._start_again(
                    "the customers used as paging cursors left the filters (or were deleted) faster "
                    "than the read could step back past them"
                )
            return []
        fresh = set(new)
        out = [row for row, row_id in zip(rows, ids, strict=True) if row_id in fresh]
        if was_origin:
            out = self._after_origin_page(sweep, ids, out)
        if all(s.done for s in self._sweeps):
            self.done = True
        return out

    def _after_origin_page(self, sweep: Sweep, ids: list[str], out: list[Customer]) -> list[Customer]:
        """Start the sweep that covers the other side of the pivot and the ids next to it."""
        pivot_id = self._pivot_id
        other = "asc" if sweep.order == "desc" else "desc"
        seen = [pivot_id, *(i for s in self._sweeps for i in s.trail)]
        if not self.overlap:
            # The pivot is next to the page's first row: start from it; if it is deleted, resume
            # from the ids on this side of it, nearest first.
            self._sweeps.insert(0, self._new_sweep(other, [*reversed(ids), pivot_id]))
        elif len(ids) >= 2:
            # Start one row further back than the pivot: expect this page's first row. This re-reads
            # the ids between the pivot and it, with proof, whatever the pivot did meanwhile.
            self._sweeps.insert(0, self._new_sweep(other, list(reversed(ids)), seen=seen))
        elif sweep is self._sweeps[0] and len(self._sweeps) == 1:
            # Too few rows on this side to start the other from: start it from the pivot, and read
            # this side again from the other's first page.
            self._sweeps.insert(0, self._new_sweep(other, [pivot_id], origin=True, seen=seen))
        else:
            self._start_again("too few customers were left on either side of the pivot")
            return []
        if self._pivot is not None:
            out.insert(0, self._pivot)
            self._pivot = None
        return out

    def _count(self, out: list[Customer]) -> list[Customer]:
        if self.limit is not None and self.yielded + len(out) >= self.limit:
            out = out[: self.limit - self.yielded]
            self.done = True
        self.yielded += len(out)
        if self._early_ids is not None:
            self._early_ids.update(str(row["id"]) for row in out)
            if len(self._early_ids) > self._memory:
                self._early_ids = None
        return out

    def cursor_lost(self, key: str = SequentialPlan.PAGE) -> list[Customer]:
        """
        Dub said the current cursor does not exist: it was deleted since it was read.

        Resume from the nearest id already passed, or start again while that is still exact.
        Nothing to yield: the answer is always ``[]``.

        :raises DubPaginationError: when neither is possible.
        """
        self._answered()
        sweep = self._current_sweep()
        if sweep is None:
            raise DubPaginationError("Dub reported an invalid cursor on a request that sent none.")
        cursor = sweep.cursor
        if not sweep.cursor_lost():
            self._start_again(f"the customers used as paging cursors were deleted (last cursor {cursor!r})")
        return []

    def _start_again(self, why: str) -> None:
        """Read again from a new probe, skipping what was yielded, while that is exact; else fail."""
        if self._early_ids is None or self._restarts >= MAX_RESTARTS:
            raise DubPaginationError(
                f"During the read {why}; no complete result is possible. Run the read again."
            )
        self._restarts += 1
        self._skip_ids |= self._early_ids
        self._sweeps = []
        self._pivot = None

    def __repr__(self) -> str:
        return (
            f"CustomerReadPlan(filters={sorted(self.filters)}, page_size={self.page_size}, limit={self.limit}, "
            f"ordered={self.ordered}, yielded={self.yielded}, done={self.done})"
        )
