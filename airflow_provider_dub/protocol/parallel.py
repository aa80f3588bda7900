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
   deleted and is dropped: the sweep below it takes its range. Where one first page runs into
   another's first row, it is cut there; a range left with an empty first page needs no sweep;
4. *sweeps*: each stops at the first row that lies in another range's first page. Pivots are not
   stops: the sweep below a pivot reads on through it (not yielding it again) to the next first
   page, so it also covers the ids between that pivot and its first page's first row. No id is
   compared: Dub's id order is its database collation, which the client does not know; the guess
   only balances the work;
5. *bottom*: once every range but one has been run into, the one left is the lowest; ``desc`` from
   it reads the rest.

Each pivot's own row is yielded once.

A filtered read proves every cursor page as :mod:`.pagination` describes (the silent skip): each
sweep sends its second-to-last id and expects its last one first, stepping back when Dub shows
otherwise. A first-wave request starts from its pivot without proof; the ids it may have dropped lie
between the pivot and its first row, and the sweep below reads through them (step 4). The bottom
sweep starts from the lowest range's first page (its second id, expecting its first), so it covers
the ids between the lowest pivot and that page. With nothing left to step back to, the read starts
again from a new probe, skipping what it has yielded (remembered up to 100,000 ids; past that it
fails with :class:`DubPaginationError`). An unfiltered read cannot meet the skip and sends each sweep
from its last id.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_dub.exceptions import DubPaginationError
from airflow_provider_dub.protocol.pagination import (
    _RESTART_MEMORY,
    _RESTART_MEMORY_FILTERED,
    _Sweep,
    needs_overlap,
)

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
    #: the first wave's page as served, then (cut) the rows this range owns at its start
    served: list[str] = field(default_factory=list)
    first_page: list[str] | None = None
    live: bool = True
    busy: bool = False
    met: str | None = None


class ParallelReadPlan:
    """
    Drives a complete read with several requests in flight.

    Use: send every ``(key, path, query)`` of :meth:`ready` once, then report each answer with
    :meth:`accept` (yield what it returns) or, on Dub's "Invalid cursor" 422, :meth:`cursor_lost`
    (likewise). ``/customers/count`` answers an integer. Finished when :attr:`done` is true. With a
    row filter every cursor page is proven by an overlap row (see the module); an answer to a
    request of an abandoned attempt (after a fresh start) is ignored.

    :param filters: the validated filter part of the query (Dub's names).
    :param page_size: customers per request (at least 2 on a filtered read's cursor pages).
    :param max_sweeps: how many sweeps at most.
    """

    def __init__(self, filters: dict[str, str], *, page_size: int = 100, max_sweeps: int = 8) -> None:
        self.filters = dict(filters)
        self.page_size = page_size
        self.max_sweeps = max(1, max_sweeps)
        self.overlap = needs_overlap(self.filters)
        self._size = max(2, page_size) if self.overlap else page_size
        self.done = False
        self._restarts = 0
        self._attempt = 0
        #: ids yielded while few enough to remember (a fresh start skips them); None past that.
        self._yielded: set[str] | None = set()
        self._skip_ids: set[str] = set()
        self._start()

    def _start(self) -> None:
        self._attempt += 1
        self.phase = "probe"
        self._sent_phase = ""
        self._due: set[str] = set()
        self._total: int | None = None
        self._candidates: dict[str, Customer] = {}
        self._probe_rows: dict[str, Customer] = {}
        self._ranges: dict[str, _Range] = {}
        self._first_wave_rows: dict[str, list[Customer]] = {}
        self._pivot_ids: set[str] = set()
        self._owner: dict[str, str] = {}

    @property
    def sweeps(self) -> int:
        """How many sweeps the read uses (0 before the pivots are chosen)."""
        return sum(1 for r in self._ranges.values() if r.live)

    def _key(self, name: str) -> str:
        return f"{name}@{self._attempt}"

    # -- what to send -------------------------------------------------------------------------------

    def _query(self, **extra: str) -> dict[str, str]:
        return {**self.filters, "pageSize": str(self.page_size), **extra}

    def ready(self) -> list[tuple[str, str, dict[str, str]]]:
        """The requests that can be sent now: ``(key, path, query)``, each to be sent once."""
        if self.done or (self._sent_phase == self.phase and self.phase in ("probe", "samples")):
            return []
        if self.phase == "probe":
            self._sent_phase = "probe"
            return [(self._key("probe"), "/customers", self._query())]
        if self.phase == "samples":
            self._sent_phase = "samples"
            self._due = {"count", "sample-desc", "sample-asc"}
            return [
                (self._key("count"), "/customers/count", dict(self.filters)),
                *(
                    (
                        self._key(f"sample-{order}"),
                        "/customers",
                        self._query(sortBy="saleAmount", sortOrder=order),
                    )
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
            query = {
                **self.filters,
                "pageSize": str(self._size),
                "sortOrder": rng.sweep.order,
                "startingAfter": str(rng.sweep.cursor),
            }
            out.append((self._key(rng.key), "/customers", query))
        return out

    # -- what came back -----------------------------------------------------------------------------

    def accept(self, key: str, answer: Any) -> list[Customer]:
        """Take the answer to the request sent under ``key``; return the customers to yield."""
        name, _, attempt = key.partition("@")
        if attempt != str(self._attempt):
            return []  # sent before a fresh start
        return self._yielding(self._accept(name, answer))

    def _yielding(self, out: list[Customer]) -> list[Customer]:
        out = [row for row in out if str(row["id"]) not in self._skip_ids]
        if self._yielded is not None:
            self._yielded.update(str(row["id"]) for row in out)
            if len(self._yielded) > (_RESTART_MEMORY_FILTERED if self.overlap else _RESTART_MEMORY):
                self._yielded = None
        return out

    def _accept(self, name: str, answer: Any) -> list[Customer]:
        rows: Sequence[Customer] = answer
        if name == "probe":
            if len(rows) < self.page_size:
                self.done = True
                return list(rows)
            self._probe_rows = {str(r["id"]): r for r in rows}
            self.phase = "samples"
            return []
        if name in ("count", "sample-desc", "sample-asc"):
            if name == "count":
                self._total = int(answer)
            else:
                self._candidates.update({str(r["id"]): r for r in answer})
            self._due.discard(name)
            if not self._due:
                self._choose_pivots()
            return []
        rng = self._ranges[name]
        rng.busy = False
        if self.phase == "first":
            rng.first_page = rng.served = [str(r["id"]) for r in rows]
            self._first_wave_rows[name] = list(rows)
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
        self._ranges = {
            f"up{i}": _Range(f"up{i}", p, self._new_sweep("asc", [p], origin=True))
            for i, p in enumerate(pivots)
        }
        self.phase = "first"

    def _new_sweep(self, order: str, trail: list[str], *, origin: bool = False) -> _Sweep:
        return _Sweep(
            order, trail, overlap=self.overlap, memory=2 * self.page_size, origin=origin, seen=self._pivot_ids
        )

    def _live(self) -> list[_Range]:
        return [r for r in self._ranges.values() if r.live and r.key != "bottom"]

    def _end_first_wave_if_complete(self) -> list[Customer]:
        if any(r.live and r.first_page is None for r in self._ranges.values()):
            return []
        live = self._live()
        if not live:
            return self._restart("every pivot customer was deleted")
        self.phase = "sweep"
        self._pivot_ids = {r.pivot for r in live}
        out = [self._pivot_rows[r.pivot] for r in live]
        served = {r.key: set(r.served) for r in live}
        for rng in live:
            # A first page ends where it runs into the first page of a range above it. (Two first
            # pages can only share a tail of the lower and a head of the upper, so the upper one is
            # the one whose first row is not in the other.)
            others = [
                o
                for o in live
                if o is not rng
                and o.served
                and (
                    rng.served
                    and (
                        rng.served[0] not in served[o.key]
                        or (rng.served[0] == o.served[0] and rng.key < o.key)
                    )
                )
            ]
            theirs = {row_id for o in others for row_id in o.served}
            if not self.overlap:
                theirs |= self._pivot_ids - {rng.pivot}  # unfiltered, a pivot is always where it was
            page = rng.served
            cut = next((i for i, row_id in enumerate(page) if row_id in theirs), len(page))
            rng.first_page = page[:cut]
        for rng in live:
            if self.overlap and not rng.first_page:
                # Nothing here that is not another range's: the range below reads through it.
                rng.live = False
        sweeping = self._live()
        self._owner = {row_id: r.key for r in sweeping for row_id in r.first_page or []}
        if not self.overlap:
            self._owner.update({r.pivot: r.key for r in sweeping})
        attempt = self._attempt
        first_wave, self._first_wave_rows = self._first_wave_rows, {}
        for key, rows in first_wave.items():
            rng = self._ranges[key]
            if rng.live:
                out.extend(self._sweep_page(rng, rows))
            if attempt != self._attempt:
                return []  # started again: the rows are read again
        self._after_sweep_done()
        return [] if attempt != self._attempt else out

    def _sweep_page(self, rng: _Range, rows: Sequence[Customer]) -> list[Customer]:
        sweep = rng.sweep
        ids = [str(r["id"]) for r in rows]
        new = sweep.accept(ids, self._size)
        if new is None:  # refused: the sweep stepped back
            if sweep.cursor is None:
                return self._restart(
                    "the customers used as paging cursors left the filters (or were deleted) faster than "
                    "the read could step back past them"
                )
            return []
        fresh = set(new)
        own = set(rng.first_page or []) if rng.key != "bottom" else set()
        out = []
        stopped = False
        for row, row_id in zip(rows, ids, strict=True):
            owner = self._owner.get(row_id)
            if rng.key != "bottom" and owner is not None and owner != rng.key and row_id not in own:
                rng.met = owner
                stopped = True
                break
            if row_id in fresh and row_id not in self._pivot_ids:
                out.append(row)
        if stopped or sweep.done:
            sweep.done = True
            attempt = self._attempt
            self._after_sweep_done()
            if attempt != self._attempt:
                return []  # started again: the rows are read again
        return out

    def _after_sweep_done(self) -> None:
        live = self._live()
        bottom = self._ranges.get("bottom")
        if bottom is None:
            # Every sweep but the top one ends in the next range up, so once all ranges but one have
            # been run into, the one left is the lowest: the bottom sweep can start from it.
            met = {r.met for r in live if r.met is not None}
            unmet = [r for r in live if r.key not in met]
            if len(unmet) != 1:
                if not unmet or all(r.sweep.done for r in live):
                    self._restart("a range's first customers all went before the range below reached them")
                return
            lowest = unmet[0]
            if not self.overlap:
                # From the lowest pivot; if it is deleted, resume from the ids just above it.
                trail = [*reversed(lowest.served), lowest.pivot]
            elif len(lowest.served) >= 2:
                # One row further back than the pivot: expect the first page's first row, so that the
                # ids between the pivot and it are read again, with proof.
                trail = list(reversed(lowest.served))
            else:
                self._restart("too few customers were left above the lowest pivot")
                return
            down = self._new_sweep("desc", trail)
            self._ranges["bottom"] = _Range("bottom", lowest.pivot, down, first_page=[])
        elif bottom.sweep.done and all(r.sweep.done for r in live):
            self.done = True

    def cursor_lost(self, key: str) -> list[Customer]:
        """
        Dub said the cursor of the request sent under ``key`` does not exist any more.

        Returns customers to yield: the first wave may complete here.
        """
        name, _, attempt = key.partition("@")
        if attempt != str(self._attempt):
            return []
        rng = self._ranges.get(name)
        if rng is None:
            raise DubPaginationError(
                f"Dub reported an invalid cursor for the {name} request, which sent none."
            )
        rng.busy = False
        if self.phase == "first":
            rng.live = False  # its pivot was deleted: the sweep below takes its range
            rng.first_page = []
            return self._yielding(self._end_first_wave_if_complete())
        if rng.sweep.cursor_lost():
            return []
        return self._yielding(
            self._restart(f"the customers used as paging cursors were deleted (last {rng.sweep.order} sweep)")
        )

    def _restart(self, why: str) -> list[Customer]:
        """Read again from a new probe, skipping what was yielded, while that is exact; else fail."""
        self._restarts += 1
        if self._restarts > _MAX_RESTARTS or self._yielded is None:
            raise DubPaginationError(
                f"During the read {why}; no complete result is possible. Run the read again."
            )
        self._skip_ids |= self._yielded
        self._start()
        return []
