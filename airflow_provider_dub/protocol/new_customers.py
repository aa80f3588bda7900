"""
New customers since a watermark, at a cost that depends on how many are new, not on the workspace.

Dub has no "created after" filter, and ``createdAt`` is no guide: imported customers carry a backdated
``createdAt``. Their ids are the guide. Every customer created since 2025-04 has a current-format id,
``cus_`` + a ULID, whose first ten characters encode its creation time; older formats are never issued
again. Cursor pages are ordered by id, so the customers created after a known customer ``W`` are exactly
the current-format ids after ``W`` in ascending id order. One request answers "anything new?".

* The watermark is the largest current-format id reported so far, with a few earlier ids to start from
  if it is deleted (anchors). Resuming from an earlier anchor serves reported ids again; they are
  recognised by comparing ULIDs (uppercase base32 of one length: the same order in any collation).
* Legacy ids sort among the new ones (``cus_`` + random alphanumerics). They are never new; the walk
  stops at the first legacy id above any id Dub can have issued by now, or at a short page.
* Without a watermark (the first run, or an explicit ``since``) the walk first finds a starting point:
  the newest customers by ``createdAt``, then (unless that id is already older than ``since``) down by
  id from the largest current id among them to the first id older than ``since`` (or the bottom). The
  up walk starts from the highest id the down walk still remembers; the ones it remembers are
  reported there if new.

**The silent skip** (see :mod:`.pagination`): with a row filter, a cursor customer that has left the
filters makes Dub drop the next matching customer, with a 200. A filtered run therefore takes a cursor
page only when its first row proves that no *new* customer was dropped before it: a current id that
cannot be new (ULID at or below the ones reported, or created before ``since``: every current id
before it is older), or an id read just before in this walk. So the run starts from the watermark's
second anchor, expecting the first (one request still answers "anything new?"); the down and up walks
send their second-to-last id, expecting the last. A refused page steps back along the anchors or the
ids read; with none left the run starts again from the watermark's time. The anchors are the last
current ids read (ten, largest first). Unfiltered runs cannot meet the skip and start from the
watermark itself.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from airflow_provider_dub.exceptions import DubPaginationError
from airflow_provider_dub.protocol.pagination import (
    MAX_RESTARTS,
    CustomerReadPlan,
    SequentialPlan,
    Sweep,
    needs_overlap,
)
from airflow_provider_dub.protocol.responses import Customer

CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_CROCKFORD_SET = frozenset(CROCKFORD)
_ANCHORS_KEPT = 10
#: How far ahead of this machine's clock Dub's may be, for "ids Dub can have issued by now".
_CLOCK_SKEW_MS = 86_400_000


def is_current_id(customer_id: str) -> bool:
    """Whether the id is of the current, time-ordered format: ``cus_`` + a ULID (25 or 26 characters)."""
    suffix = customer_id[4:]
    return customer_id.startswith("cus_") and len(suffix) in (25, 26) and set(suffix) <= _CROCKFORD_SET


def ulid_key(customer_id: str) -> str:
    """A current id's ULID, as 26 characters: ids compare as these strings do."""
    return customer_id[4:].rjust(26, "0")


def created_ms(customer_id: str) -> int:
    """The creation time a current id encodes, in Unix milliseconds."""
    value = 0
    for char in ulid_key(customer_id)[:10]:
        value = value * 32 + CROCKFORD.index(char)
    return value


def _ulid_time(ms: int) -> str:
    chars = []
    for _ in range(10):
        ms, digit = divmod(ms, 32)
        chars.append(CROCKFORD[digit])
    return "".join(reversed(chars))


def is_beyond_issued(customer_id: str, now_ms: int) -> bool:
    """Whether a (legacy) id sorts above every current id Dub can have issued by ``now_ms``."""
    highest = _ulid_time(now_ms + _CLOCK_SKEW_MS) + "Z" * 16
    # Compared uppercased, this holds in a binary and in a case-insensitive collation alike.
    return customer_id.upper() > f"CUS_{highest}" and customer_id.upper() > f"CUS_{highest[1:]}"


def _customer_ms(customer: Customer) -> int | None:
    customer_id = str(customer["id"])
    if is_current_id(customer_id):
        return created_ms(customer_id)
    created = customer.get("createdAt")
    if not created:
        return None
    return int(datetime.fromisoformat(str(created).replace("Z", "+00:00")).timestamp() * 1000)


@dataclass
class Watermark:
    """
    How far the reported customers go: kept in Airflow (XCom) between runs, as JSON.

    :param last_id: the largest current-format id seen (``None`` while there is none).
    :param anchors: ids to resume from, largest first; the first is ``last_id`` when set.
    :param checked_ms: when the customers were last read; the horizon when no anchor is left.
    """

    last_id: str | None
    anchors: list[str] = field(default_factory=list)
    checked_ms: int = 0

    def to_json(self) -> dict[str, Any]:
        return {"last_id": self.last_id, "anchors": self.anchors, "checked_ms": self.checked_ms}

    @classmethod
    def from_json(cls, value: Any) -> Watermark | None:
        """The watermark a previous run stored, or ``None`` when there is none or it is unreadable."""
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except ValueError:
                return None
        if not isinstance(value, dict):
            return None
        last_id = value.get("last_id")
        anchors = value.get("anchors") or []
        checked_ms = value.get("checked_ms")
        if not isinstance(checked_ms, int) or not isinstance(anchors, list):
            return None
        if last_id is not None and not (isinstance(last_id, str) and is_current_id(last_id)):
            return None
        return cls(last_id, [str(a) for a in anchors], checked_ms)


class NewCustomersPlan(SequentialPlan):
    """
    Finds the customers new since a watermark (or since a time); driven like :class:`CustomerReadPlan`.

    With a row filter (``country``, ``email``, ``search``...) every cursor page is proven against
    the silent skip (see the module): a page is taken only when its first row shows that Dub dropped
    no new customer before it.

    :param filters: the validated filter part of the query (Dub's names).
    :param watermark: where the previous successful run stopped; ``None`` to start from ``since_ms``.
    :param since_ms: without a watermark: customers created at or after this time are new.
    :param page_size: customers per request (at least 2 on a filtered read's cursor pages).
    :param stop_after: stop once this many new customers are found (a cheap "are there enough?").
    :param now_ms: this machine's time, for the upper bound of issued ids.
    """

    def __init__(
        self,
        filters: dict[str, str],
        *,
        watermark: Watermark | None,
        since_ms: int | None = None,
        page_size: int = 100,
        stop_after: int | None = None,
        now_ms: int | None = None,
    ) -> None:
        self.filters = dict(filters)
        self.page_size = page_size
        self.stop_after = stop_after
        self.now_ms = now_ms if now_ms is not None else int(time.time() * 1000)
        self.overlap = needs_overlap(self.filters)
        self._size = max(2, page_size) if self.overlap else page_size
        self.found = 0
        self.done = False
        self._restarts = 0
        self._previous = watermark
        self._scan: CustomerReadPlan | None = None
        self._sweep: Sweep | None = None
        #: the rows the down walk still remembers, by id: reported if new when the up walk starts.
        self._down_rows: dict[str, Customer] = {}
        # An explicit since_ms reports everything created since then, reported before or not.
        follows = watermark is not None and since_ms is None
        self._max_key = ulid_key(watermark.last_id) if follows and watermark and watermark.last_id else ""
        self._floor_key = self._max_key
        self._new_ids: list[str] = []
        #: the last current ids the up walk read, in id order: the next run's anchors.
        self._recent_current: list[str] = []
        anchors = sorted(
            {a for a in (watermark.anchors if watermark else []) if is_current_id(a)}, key=ulid_key
        )
        if anchors and since_ms is None and (len(anchors) >= 2 or not self.overlap):
            # Up from the watermark. Unfiltered: from the largest anchor, resuming from the next ones
            # if it is deleted. Filtered: from the second largest, and the page must begin with a
            # customer that is not new (the largest, normally).
            self.since_ms: int | None = None
            self.phase = "up"
            self._sweep = self._new_sweep("asc", anchors)
        else:
            self.since_ms = since_ms if since_ms is not None else (watermark.checked_ms if watermark else 0)
            if follows and anchors and watermark and watermark.last_id:
                # A filtered read cannot prove a page from one anchor: start from the watermark's
                # time instead; the ULID floor skips what was reported.
                self.since_ms = created_ms(watermark.last_id)
            self._start_over()

    def _new_sweep(self, order: str, trail: list[str], *, origin: bool = False) -> Sweep:
        return Sweep(order, trail, overlap=self.overlap, memory=2 * self.page_size, origin=origin)

    def _start_over(self) -> None:
        self.phase = "probe"
        self._sweep = None
        self._down_rows = {}

    # -- what to send -------------------------------------------------------------------------------

    def next_query(self) -> dict[str, str] | None:
        """The next request's query, or ``None`` when done."""
        if self.done:
            return None
        if self._scan is not None:
            return self._scan.next_query()
        if self._sweep is None:
            return {**self.filters, "pageSize": str(self.page_size)}
        return {
            **self.filters,
            "pageSize": str(self._size),
            "sortOrder": self._sweep.order,
            "startingAfter": str(self._sweep.cursor),
        }

    # -- what came back -----------------------------------------------------------------------------

    def accept_page(self, rows: Sequence[Customer]) -> list[Customer]:
        """Take the page of the request :meth:`next_query` asked for; return the new customers in it."""
        if self._scan is not None:
            return self._accept_scan_page(rows)
        if self._sweep is None:
            return self._accept_probe(rows)
        ids = [str(r["id"]) for r in rows]
        fresh = self._sweep.accept(ids, self._size, self._covers if self.phase == "up" else None)
        if fresh is None:  # refused: the sweep stepped back
            if self._sweep.cursor is None:
                self._fall_back()
            return []
        if self.phase == "down":
            return self._accept_down(rows, ids)
        return self._accept_up(rows, ids, set(fresh))

    def _covers(self, customer_id: str) -> bool:
        """Whether no customer before this one in id order can be new: a proof row for the up walk."""
        if not is_current_id(customer_id):
            return False
        if ulid_key(customer_id) <= self._floor_key:
            return True
        return self.since_ms is not None and created_ms(customer_id) < self.since_ms

    def _is_new(self, customer: Customer) -> bool:
        customer_id = str(customer["id"])
        if not is_current_id(customer_id):
            if self.since_ms is None or self.phase == "up":
                return False
            created = _customer_ms(customer)  # a full scan: legacy ids count by createdAt
            return created is not None and created >= self.since_ms
        if ulid_key(customer_id) <= self._floor_key:
            return False
        return self.since_ms is None or created_ms(customer_id) >= self.since_ms

    def _note_current(self, customer_id: str) -> None:
        if is_current_id(customer_id) and ulid_key(customer_id) > self._max_key:
            self._max_key = ulid_key(customer_id)
            self._new_ids.append(customer_id)

    def _take_new(self, rows: Sequence[Customer]) -> list[Customer]:
        new = []
        for row in rows:
            if self._is_new(row):
                new.append(row)
                self._floor_key = max(self._floor_key, ulid_key(str(row["id"])))
            self._note_current(str(row["id"]))
        if self.stop_after is not None and self.found + len(new) >= self.stop_after:
            self.done = True
        self.found += len(new)
        return new

    def _accept_probe(self, rows: Sequence[Customer]) -> list[Customer]:
        current = [str(r["id"]) for r in rows if is_current_id(str(r["id"]))]
        if len(rows) < self.page_size:
            self.done = True  # every matching customer is on this page
            return self._take_new(rows)
        if not current:
            # Only legacy ids among the newest: no place to start from; read everything once.
            self._scan = CustomerReadPlan(self.filters, page_size=self.page_size)
            return []
        start = max(current, key=ulid_key)
        self._note_current(start)
        if self.since_ms is not None and created_ms(start) < self.since_ms:
            # Nothing at or below it is new: up from it. Filtered, from the next current id among
            # these (also older than since_ms), so that the page must begin with one not new.
            self.phase = "up"
            trail = sorted(current, key=ulid_key) if self.overlap else [start]
            if len(trail) >= 2 or not self.overlap:
                self._sweep = self._new_sweep("asc", trail)
                return []
        self._down_rows = {str(r["id"]): r for r in rows if str(r["id"]) == start}
        # Down from it to a customer older than since_ms (or the bottom); the up walk then starts
        # from what the down walk read last, so that its first page is proven.
        self.phase = "down"
        self._sweep = self._new_sweep("desc", [start], origin=True)
        return []

    def _accept_down(self, rows: Sequence[Customer], ids: list[str]) -> list[Customer]:
        assert self._sweep is not None and self.since_ms is not None
        remembered = set(self._sweep.trail)
        self._down_rows = {
            i: row for i, row in [*self._down_rows.items(), *zip(ids, rows, strict=True)] if i in remembered
        }
        older = any(is_current_id(i) and created_ms(i) < self.since_ms for i in ids)
        if not older and not self._sweep.done:
            return []
        # A customer older than since_ms (or the bottom): every current id below it is older, and
        # legacy ids are never new. Up from the highest id the down walk still remembers; the ones
        # it remembers are reported now if new, in id order.
        trail = list(reversed(self._sweep.trail))
        if self.overlap and len(trail) < 2:
            # Too little to prove the up walk's first page from: read everything once.
            self._scan = CustomerReadPlan(self.filters, page_size=self.page_size)
            self._sweep = None
            return []
        self.phase = "up"
        self._sweep = self._new_sweep("asc", trail)
        down_rows, self._down_rows = self._down_rows, {}
        return self._take_new([down_rows[i] for i in trail if i in down_rows])

    def _accept_up(self, rows: Sequence[Customer], ids: list[str], fresh: set[str]) -> list[Customer]:
        assert self._sweep is not None
        new = self._take_new([row for row, row_id in zip(rows, ids, strict=True) if row_id in fresh])
        self._recent_current = [*self._recent_current, *(i for i in ids if is_current_id(i))][-_ANCHORS_KEPT:]
        beyond = any(not is_current_id(i) and is_beyond_issued(i, self.now_ms) for i in ids)
        if self._sweep.done or beyond:
            self.done = True
        return new

    def _accept_scan_page(self, rows: Sequence[Customer]) -> list[Customer]:
        assert self._scan is not None
        new = self._take_new(self._scan.accept_page(rows))
        if self._scan.done:
            self.done = True
        return new

    def cursor_lost(self, key: str = SequentialPlan.PAGE) -> list[Customer]:
        """The cursor was deleted: resume from an earlier id, or find a new starting point (``[]``)."""
        self._answered()
        if self._scan is not None:
            return self._scan.cursor_lost()
        if self._sweep is None or not self._sweep.cursor_lost():
            self._fall_back()
        return []

    def _fall_back(self) -> None:
        """Nothing left to resume from: find a new starting point, from the watermark's time."""
        if self._restarts >= MAX_RESTARTS:
            raise DubPaginationError(
                "The customers used as starting points were deleted or left the filters while the new "
                "customers were read; try again."
            )
        self._restarts += 1
        if self.since_ms is None:
            # Every anchor is gone: start from the watermark's own time; the ULID floor skips what was reported.
            self.since_ms = (
                created_ms(self._previous.last_id) if self._previous and self._previous.last_id else 0
            )
        self._start_over()

    # -- where it got to ------------------------------------------------------------------------------

    def new_watermark(self) -> Watermark:
        """The watermark after this read: the largest current id seen, and anchors to resume from."""
        last_id = None
        if self._max_key:
            last_id = (
                self._new_ids[-1] if self._new_ids else (self._previous.last_id if self._previous else None)
            )
        previous = self._previous.anchors if self._previous else []
        # The last current ids read, largest first: a filtered run next time starts from the second
        # and expects the first (or any id not new) at the head of its page.
        candidates = {
            a
            for a in [*self._new_ids[-5:], *self._recent_current, *previous]
            if is_current_id(a) and ulid_key(a) <= self._max_key
        }
        anchors = sorted(candidates, key=ulid_key, reverse=True)
        if last_id is not None and last_id in anchors:
            anchors.remove(last_id)
            anchors.insert(0, last_id)
        return Watermark(last_id, anchors[:_ANCHORS_KEPT], self.now_ms)
