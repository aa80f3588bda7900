"""
A complete read split into cursor sweeps that run at the same time, between pivot ids.

A sequential cursor walk costs one round trip per 100 customers, one after the other, while a Business
key may send 20 requests a second. This plan keeps the exactness of :mod:`.pagination` (id order only,
every customer present throughout exactly once) and splits the id space so that several requests can
be in flight:

1. *probe*: the first page in Dub's default order; a short page is everything (one request);
2. *samples*, at once: the count of matching customers (it sets how many sweeps are worth their
   overhead) and the first offset pages by ``saleAmount``, both directions: customers spread over the
   id space. Evenly spaced ones (by a client-side guess of the order) become pivots;
3. *first wave*, all at once: ``asc`` from every pivot. A pivot whose request says "Invalid cursor" was
   deleted and is dropped: the sweep below it takes its range;
4. *sweeps*: each stops at the first row that is another pivot, or that lies in another pivot's first
   page (in case that pivot is deleted later). No id is compared: Dub's id order is its database
   collation, which the client does not know; the guess only balances the work;
5. *bottom*: once every pivot but one has been run into, the one left is the lowest; ``desc`` from
   it reads the rest.

Each pivot's own row is yielded once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from airflow_provider_dub.exceptions import DubPaginationError
from airflow_provider_dub.protocol.pagination import _Sweep

Customer = dict[str, Any]
_MAX_RESTARTS = 3
#: Customers per sweep below which another sweep costs more than it saves.
_CUSTOMERS_PER_SWEEP = 1_000


@dataclass
class _Range:
    """The sweep from one pivot."""

    key: str
    pivot: str
    sweep: _Sweep
    first_page: list[str] | None = None
    live: bool = True
    busy: bool = False
    met: str | None = None


class ParallelReadPlan:
    """
    Drives a complete read with several requests in flight.

    Use: send every ``(key, path, query)`` of :meth:`ready` once, then report each answer with
    :meth:`accept` (yield what it returns) or, on Dub's "Invalid cursor" 422, :meth:`cursor_lost`
    (likewise). ``/customers/count`` answers an integer. Finished when :attr:`done` is true.

    :param filters: the validated filter part of the query (Dub's names).
    :param page_size: customers per request.
    :param max_sweeps: how many sweeps at most.
    """

    def __init__(self, filters: dict[str, str], *, page_size: int = 100, max_sweeps: int = 8) -> None:
        self.filters = dict(filters)
        self.page_size = page_size
        self.max_sweeps = max(1, max_sweeps)
        self.done = False
        self._restarts = 0
        self._start()

    def _start(self) -> None:
        self.phase = "probe"
        self._sent_phase = ""
        self._due: set[str] = set()
        self._total: int | None = None
        self._candidates: dict[str, Customer] = {}
        self._probe_rows: dict[str, Customer] = {}
        self._ranges: dict[str, _Range] = {}
        self._first_wave_rows: dict[str, list[Customer]] = {}

    @property
    def sweeps(self) -> int:
        """How many sweeps the read uses (0 before the pivots are chosen)."""
        return sum(1 for r in self._ranges.values() if r.live)

    # -- what to send -------------------------------------------------------------------------------

    def _query(self, **extra: str) -> dict[str, str]:
        return {**self.filters, "pageSize": str(self.page_size), **extra}

    def ready(self) -> list[tuple[str, str, dict[str, str]]]:
        """The requests that can be sent now: ``(key, path, query)``, each to be sent once."""
        if self.done or (self._sent_phase == self.phase and self.phase in ("probe", "samples")):
            return []
        if self.phase == "probe":
            self._sent_phase = "probe"
            return [("probe", "/customers", self._query())]
        if self.phase == "samples":
            self._sent_phase = "samples"
            self._due = {"count", "sample-desc", "sample-asc"}
            return [
                ("count", "/customers/count", dict(self.filters)),
                *(
                    (f"sample-{order}", "/customers", self._query(sortBy="saleAmount", sortOrder=order))
                    for order in ("desc", "asc")
                ),
            ]
        out = []
        for rng in self._ranges.values():
            if rng.busy or rng.sweep.done or not rng.live:
                continue
            if self.phase == "first" and rng.first_page is not None:
                continue  # the whole first wave is in before any sweep goes on
            rng.busy = True
            query = self._query(sortOrder=rng.sweep.order, startingAfter=rng.sweep.cursor)
            out.append((rng.key, "/customers", query))
        return out

    # -- what came back -----------------------------------------------------------------------------

    def accept(self, key: str, answer: Any) -> list[Customer]:
        """Take the answer to the request sent under ``key``; return the customers to yield."""
        rows: Sequence[Customer] = answer
        if key == "probe":
            if len(rows) < self.page_size:
                self.done = True
                return list(rows)
            self._probe_rows = {str(r["id"]): r for r in rows}
            self.phase = "samples"
            return []
        if key in ("count", "sample-desc", "sample-asc"):
            if key == "count":
                self._total = int(answer)
            else:
                self._candidates.update({str(r["id"]): r for r in answer})
            self._due.discard(key)
            if not self._due:
                self._choose_pivots()
            return []
        rng = self._ranges[key]
        rng.busy = False
        if self.phase == "first":
            rng.first_page = [str(r["id"]) for r in rows]
            self._first_wave_rows[key] = list(rows)
            return self._end_first_wave_if_complete()
        return self._sweep_page(rng, rows)

    def _choose_pivots(self) -> None:
        if len(self._candidates) < self.max_sweeps:
            # The newest customers (the probe) cluster in the id space: used only when samples are few.
            self._candidates.update(self._probe_rows)
        total = self._total or 0
        wanted = max(1, min(self.max_sweeps, total // _CUSTOMERS_PER_SWEEP))
        guess = sorted(self._candidates)  # a guess at Dub's order: it only balances the sweeps
        step = len(guess) / min(wanted, len(guess))
        pivots = [guess[int(i * step)] for i in range(min(wanted, len(guess)))]
        self._pivot_rows = {p: self._candidates[p] for p in pivots}
        self._ranges = {f"up{i}": _Range(f"up{i}", p, _Sweep("asc", p)) for i, p in enumerate(pivots)}
        self.phase = "first"

    def _live(self) -> list[_Range]:
        return [r for r in self._ranges.values() if r.live and r.key != "bottom"]

    def _end_first_wave_if_complete(self) -> list[Customer]:
        if any(r.live and r.first_page is None for r in self._ranges.values()):
            return []
        live = self._live()
        if not live:
            return self._restart()
        self.phase = "sweep"
        pivots = {r.pivot for r in live}
        for rng in live:  # a first page ends where the range above begins
            page = rng.first_page or []
            cut = next((i for i, row_id in enumerate(page) if row_id in pivots), len(page))
            rng.first_page = page[:cut]
        # Where each sweep stops, and whose range that is: a pivot, or the start of its range.
        self._owner = {row_id: r.pivot for r in live for row_id in [r.pivot, *(r.first_page or [])]}
        self._stops = set(self._owner)
        out = [self._pivot_rows[r.pivot] for r in live]
        for key, rows in self._first_wave_rows.items():
            if self._ranges[key].live:
                out.extend(self._sweep_page(self._ranges[key], rows))
        self._first_wave_rows = {}
        self._after_sweep_done()
        return out

    def _sweep_page(self, rng: _Range, rows: Sequence[Customer]) -> list[Customer]:
        sweep = rng.sweep
        ids = [str(r["id"]) for r in rows]
        again = set(sweep.passed)
        own = set(rng.first_page or []) if rng.key != "bottom" else set()
        out = []
        stopped = False
        for row, row_id in zip(rows, ids, strict=True):
            if rng.key != "bottom" and row_id in self._stops and row_id != rng.pivot and row_id not in own:
                rng.met = self._owner[row_id]
                stopped = True
                break
            if row_id not in again:
                out.append(row)
        sweep.advance(ids, self.page_size)
        if stopped or len(rows) < self.page_size:
            sweep.done = True
            sweep.passed = []
            self._after_sweep_done()
        return out

    def _after_sweep_done(self) -> None:
        live = self._live()
        bottom = self._ranges.get("bottom")
        if bottom is None:
            # Every sweep but the top one ends at the next pivot up, so once all pivots but one have
            # been reached, the one left is the lowest: the bottom sweep can start from it.
            met = {r.met for r in live if r.met is not None}
            unmet = [r for r in live if r.pivot not in met]
            if len(unmet) != 1:
                return
            lowest = unmet[0]
            down = _Sweep("desc", lowest.pivot)
            down.passed = list(lowest.first_page or [])  # to resume from if the lowest pivot goes
            self._ranges["bottom"] = _Range("bottom", lowest.pivot, down, first_page=[])
        elif bottom.sweep.done and all(r.sweep.done for r in live):
            self.done = True

    def cursor_lost(self, key: str) -> list[Customer]:
        """
        Dub said the cursor of the request sent under ``key`` does not exist any more.

        Returns customers to yield: the first wave may complete here.
        """
        rng = self._ranges.get(key)
        if rng is None:
            raise DubPaginationError(
                f"Dub reported an invalid cursor for the {key} request, which sent none."
            )
        rng.busy = False
        if self.phase == "first":
            rng.live = False  # its pivot was deleted: the sweep below takes its range
            rng.first_page = []
            return self._end_first_wave_if_complete()
        if rng.sweep.passed:
            rng.sweep.cursor = rng.sweep.passed.pop(0)
            return []
        raise DubPaginationError(
            "The customers used as paging cursors were deleted during the read faster than it could resume "
            f"(last cursor {rng.sweep.cursor!r}); run the read again."
        )

    def _restart(self) -> list[Customer]:
        self._restarts += 1
        if self._restarts > _MAX_RESTARTS:
            raise DubPaginationError("Every pivot customer was deleted during the read; run the read again.")
        self._start()
        return []
