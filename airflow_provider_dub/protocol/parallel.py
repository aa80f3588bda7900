"""
A complete read split into cursor walks that run at the same time, meeting between pivot ids.

A sequential cursor walk costs one round trip per 100 customers, one after the other, while a Business
key may send 20 requests a second. This plan keeps the exactness of :mod:`.pagination` (id order only,
every customer present throughout exactly once) and splits the id space so that several requests can
be in flight:

1. *samples*, at once: the first offset pages by ``saleAmount``, both directions (customers spread
   over the id space) and the count of matching customers (it sets how many walks are worth their
   overhead). A short sample page is everything: the read ends in one round trip. Otherwise some
   samples, evenly spaced by a client-side guess of the order, become pivots, the lowest and the
   highest among them;
2. *first wave*, all at once: ``asc`` from every pivot (and, unfiltered, ``desc`` too). A pivot whose
   request says "Invalid cursor" was deleted and is dropped. Where one ``asc`` first page runs into
   another's first row, it is cut there; these cut first pages (and, unfiltered, the pivots) are the
   ranges' *markers*;
3. *walks*: from every pivot one walk goes up and one goes down. The walks of neighbouring pivots
   head towards each other and stop where they meet: a walk stops at the first row that is another
   range's marker or among the last rows another range's walk read (its *frontier*); meeting the
   frontier of a walk coming the other way stops that walk too. So each gap between two pivots is
   read from both ends, whatever its size, and the walks that go on are those with work left. The
   walk down from the lowest pivot reads to the bottom, the walk up from the highest to the top: these
   two end on a short page, and every other walk by meeting, or the read starts again.
   No id is compared: Dub's id order is its database collation, which the client does not know; the
   guess only places the pivots (from the lowest sample to the highest, so that every gap but the
   two ends, small by the guess, is read from both ends).

Each pivot's own row is yielded once.

A filtered read proves every cursor page as :mod:`.pagination` describes (the silent skip): each
walk sends its second-to-last id and expects its last one first, stepping back when Dub shows
otherwise. A first-wave request starts from its pivot without proof; the ids it may have dropped lie
between the pivot and its first row, and the walk down from that pivot starts from that first page
(its second id, expecting its first), so it reads through them with proof. With nothing left to step
back to, the read starts again from new samples, skipping what it has yielded (remembered up to
100,000 ids; past that it fails with :class:`DubPaginationError`). An unfiltered read cannot meet the
skip and sends each walk from its last id.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_dub.exceptions import DubPaginationError
from airflow_provider_dub.protocol.pagination import (
    MAX_RESTARTS,
    RESTART_MEMORY,
    RESTART_MEMORY_FILTERED,
    Sweep,
    needs_overlap,
)
from airflow_provider_dub.protocol.responses import Customer

#: Customers per walk below which another walk costs more than it saves.
_CUSTOMERS_PER_SWEEP = 1_000
#: Pages of its last rows a walk's frontier keeps: a page of the walk coming the other way that
#: crosses it holds one of them, even when a few of them have left the filters.
_FRONTIER_PAGES = 3


@dataclass
class _Walk:
    """One cursor walk from a pivot, up or down."""

    key: str
    range_key: str
    sweep: Sweep
    busy: bool = False
    #: how it ended: "short" (a short page: nothing further that way) or "met" (another walk's rows)
    ended: str | None = None
    #: the first wave's answer, held until the whole first wave is in
    held: list[Customer] | None = None
    frontier: deque[list[str]] = field(default_factory=lambda: deque(maxlen=_FRONTIER_PAGES))

    @property
    def done(self) -> bool:
        return self.ended is not None


@dataclass
class _Range:
    """A pivot, the page its up walk was first served, and the rows it owns at its start (cut)."""

    key: str
    pivot: str
    served: list[str] | None = None
    first_page: list[str] | None = None
    live: bool = True


class ParallelReadPlan:
    """
    Drives a complete read with several requests in flight.

    Use: send every ``(key, path, query)`` of :meth:`ready` once, then report each answer with
    :meth:`accept` (yield what it returns) or, on Dub's "Invalid cursor" 422, :meth:`cursor_lost`
    (likewise). ``/customers/count`` answers an integer. Finished when :attr:`done` is true. With a
    row filter every cursor page is proven by an overlap row (see the module); an answer to a
    request of an abandoned attempt (after a fresh start), or of a walk that has ended, is ignored.

    :param filters: the validated filter part of the query (Dub's names).
    :param page_size: customers per request (at least 2 on a filtered read's cursor pages).
    :param max_sweeps: how many walks at most (two per pivot).
    """

    def __init__(self, filters: dict[str, str], *, page_size: int = 100, max_sweeps: int = 8) -> None:
        self.filters = dict(filters)
        self.page_size = page_size
        self.max_sweeps = max(2, max_sweeps)
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
        self.phase = "samples"
        #: the sample round's requests sent and not answered yet
        self._due: set[str] = set()
        self._total: int | None = None
        self._candidates: dict[str, Customer] = {}
        self._guess: list[str] = []
        #: pivots found deleted in a first wave
        self._deleted: set[str] = set()
        self._ranges: dict[str, _Range] = {}
        self._walks: dict[str, _Walk] = {}
        self._pivot_rows: dict[str, Customer] = {}
        self._pivot_ids: set[str] = set()
        #: marker rows (cut first pages; unfiltered, pivots too) -> range key
        self._markers: dict[str, str] = {}
        #: rows of every walk's frontier -> walk key
        self._frontier_rows: dict[str, str] = {}

    @property
    def sweeps(self) -> int:
        """How many walks the read uses (0 before the pivots are chosen)."""
        return sum(1 for w in self._walks.values() if self._ranges[w.range_key].live)

    def _key(self, name: str) -> str:
        return f"{name}@{self._attempt}"

    # -- what to send -------------------------------------------------------------------------------

    def _query(self, **extra: str) -> dict[str, str]:
        return {**self.filters, "pageSize": str(self.page_size), **extra}

    def ready(self, limit: int | None = None) -> list[tuple[str, str, dict[str, str]]]:
        """
        Return the requests to send now: ``(key, path, query)``, each to be sent once.

        :param limit: how many requests the transport can send now (its free slots); ``None`` for
            all. Walks with the most work left (by the guess) go first, so the read ends sooner.
        """
        if self.done:
            return []
        if self.phase == "samples":
            if self._due:
                return []  # sent: their answers choose the pivots
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
        waiting = [
            w
            for w in self._walks.values()
            if not (w.busy or w.done or w.held is not None or not self._ranges[w.range_key].live)
        ]
        if limit is not None and len(waiting) > limit:
            work = self._work_left()
            waiting = sorted(waiting, key=lambda w: -work[w.key])[: max(0, limit)]
        out = []
        for walk in waiting:
            walk.busy = True
            query = {
                **self.filters,
                "pageSize": str(self._size),
                "sortOrder": walk.sweep.order,
                "startingAfter": str(walk.sweep.cursor),
            }
            out.append((self._key(walk.key), "/customers", query))
        return out

    def _position(self, walk: _Walk) -> float:
        """Where the walk is, by the guess: a rank among the samples."""
        last = walk.sweep.trail[-1] if walk.sweep.trail else self._ranges[walk.range_key].pivot
        return bisect_left(self._guess, last) + (0.5 if walk.sweep.order == "asc" else -0.5)

    def _ahead(self, walk: _Walk, position: dict[str, float]) -> tuple[float, bool]:
        """The guessed position up to which the walk has to read, and whether a walk comes the other way."""
        here = position[walk.key]
        up = walk.sweep.order == "asc"
        others = [
            o
            for o in self._walks.values()
            if o.key in position and o.range_key != walk.range_key and (position[o.key] > here) == up
        ]
        if not others:
            return (float(len(self._guess)) if up else 0.0), False
        other = min(others, key=lambda o: abs(position[o.key] - here))
        return position[other.key], other.sweep.order != walk.sweep.order and not other.done

    def _work_left(self) -> dict[str, float]:
        """Guess each walk's work left: samples to the walk ahead of it (half of them if it comes this way)."""
        position = {w.key: self._position(w) for w in self._walks.values() if self._ranges[w.range_key].live}
        work = {}
        for key, here in position.items():
            target, coming = self._ahead(self._walks[key], position)
            work[key] = abs(target - here) / (2 if coming else 1)
        return work

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
            if len(self._yielded) > (RESTART_MEMORY_FILTERED if self.overlap else RESTART_MEMORY):
                self._yielded = None
        return out

    def _accept(self, name: str, answer: Any) -> list[Customer]:
        rows: Sequence[Customer] = answer
        if self.done:
            return []  # a sample of a read that a short sample page ended
        if name in self._due:
            if name == "count":
                self._total = int(answer)
            elif len(rows) < self.page_size:
                # Everything that matches, in one page: the other answers of the round are ignored.
                self.done = True
                return list(rows)
            else:
                self._candidates.update({str(r["id"]): r for r in rows})
            self._due.discard(name)
            if not self._due:
                self._choose_pivots()
            return []
        walk = self._walks[name]
        walk.busy = False
        if walk.done or not self._ranges[walk.range_key].live:
            # Met while this page was on its way (the other walk has read these rows), or its pivot
            # was dropped (its neighbours' walks read its range).
            return []
        if self.phase == "first":
            walk.held = list(rows)
            if walk.sweep.order == "asc":
                self._ranges[walk.range_key].served = [str(r["id"]) for r in rows]
            return self._end_first_wave_if_complete()
        return self._walk_page(walk, rows)

    def _choose_pivots(self) -> None:
        total = self._total or 0
        walks = max(2, min(self.max_sweeps, total // _CUSTOMERS_PER_SWEEP))
        # A guess at Dub's order: it only balances the walks.
        guess = self._guess = sorted(set(self._candidates) - self._deleted)
        # Two pivots at least: a read whose only pivot is deleted before its first page starts again.
        count = min(max(2, (walks + 1) // 2), len(guess))
        # From the lowest sample to the highest: a gap between two pivots is read from both ends; below
        # the lowest and above the highest, few customers (by the guess) are read from one end each.
        last = len(guess) - 1
        pivots = list(dict.fromkeys(guess[round(i * last / max(1, count - 1))] for i in range(count)))
        self._pivot_rows = {p: self._candidates[p] for p in pivots}
        # New keys when pivots are chosen again: an answer still on its way for a dropped pivot's walk
        # must find that walk (ended), not a new one under the same name.
        first = len(self._ranges)
        for i, pivot in enumerate(pivots, start=first):
            key = f"r{i}"
            self._ranges[key] = _Range(key, pivot)
            self._walks[f"{key}+"] = _Walk(f"{key}+", key, self._new_sweep("asc", [pivot], origin=True))
            if not self.overlap:
                # Unfiltered, a pivot is where it was: the walk down starts from it at once.
                self._walks[f"{key}-"] = _Walk(f"{key}-", key, self._new_sweep("desc", [pivot], origin=True))
        self.phase = "first"

    def _new_sweep(self, order: str, trail: list[str], *, origin: bool = False) -> Sweep:
        return Sweep(
            order, trail, overlap=self.overlap, memory=2 * self.page_size, origin=origin, seen=self._pivot_ids
        )

    def _live(self) -> list[_Range]:
        return [r for r in self._ranges.values() if r.live]

    def _end_first_wave_if_complete(self) -> list[Customer]:
        if any(
            w.held is None and not w.done and self._ranges[w.range_key].live for w in self._walks.values()
        ):
            return []
        live = self._live()
        if not live:
            # Nothing read yet: try other samples as pivots, while there are any.
            self._deleted.update(r.pivot for r in self._ranges.values())
            if not set(self._candidates) - self._deleted:
                return self._restart("every pivot customer was deleted")
            self._choose_pivots()
            return []
        self.phase = "walk"
        self._pivot_ids = {r.pivot for r in live}
        out = [self._pivot_rows[r.pivot] for r in live]
        self._cut_first_pages(live)
        for rng in live:
            if self.overlap and not rng.first_page:
                # Nothing here that is not another range's: the walk up from below reads through it.
                rng.live = False
        markers = {row_id: r.key for r in self._live() for row_id in r.first_page or []}
        if not self.overlap:
            markers.update({r.pivot: r.key for r in self._live()})
        self._markers = markers
        for rng in self._live():
            down = self._walks.get(f"{rng.key}-")
            if down is None or down.ended == "lost":
                self._start_walk_down(rng)
        attempt = self._attempt
        # The walks up first: their first pages are the ranges' starts, which the walks down meet.
        held = sorted(
            (w for w in self._walks.values() if w.held is not None), key=lambda w: w.sweep.order != "asc"
        )
        for walk in held:
            rows, walk.held = walk.held or [], None
            if self._ranges[walk.range_key].live:
                out.extend(self._walk_page(walk, rows))
            if attempt != self._attempt:
                return []  # started again: the rows are read again
        self._check_done()
        return [] if attempt != self._attempt else out

    def _cut_first_pages(self, live: list[_Range]) -> None:
        """Cut each first page where it runs into the first page of a range above it."""
        served = {r.key: set(r.served or []) for r in live}
        for rng in live:
            page = rng.served or []
            # Two first pages can only share a tail of the lower and a head of the upper, so the
            # upper one is the one whose first row is not in the other.
            theirs = {
                row_id
                for o in live
                if o is not rng
                and o.served
                and page
                and (page[0] not in served[o.key] or (page[0] == o.served[0] and rng.key < o.key))
                for row_id in o.served
            }
            if not self.overlap:
                theirs |= self._pivot_ids - {rng.pivot}  # unfiltered, a pivot is always where it was
            cut = next((i for i, row_id in enumerate(page) if row_id in theirs), len(page))
            rng.first_page = page[:cut]

    def _start_walk_down(self, rng: _Range) -> None:
        """Add the walk down from a pivot that starts from its range's first page (filtered: with proof)."""
        served = rng.served or []
        if len(served) < (2 if self.overlap else 1):
            # No proof possible (or, unfiltered, the pivot deleted and nothing above it): the walk up
            # from below reads through this range; with none below, the read cannot show the bottom
            # complete and starts again (see _check_done).
            self._walks.pop(f"{rng.key}-", None)
            return
        trail = list(reversed(served))  # filtered: from its second row, expecting its first
        walk = _Walk(f"{rng.key}-", rng.key, self._new_sweep("desc", trail))
        self._walks[walk.key] = walk

    def _walk_page(self, walk: _Walk, rows: Sequence[Customer]) -> list[Customer]:
        sweep = walk.sweep
        ids = [str(r["id"]) for r in rows]
        new = sweep.accept(ids, self._size)
        if new is None:  # refused: the walk stepped back
            if sweep.cursor is None:
                return self._restart(
                    "the customers used as paging cursors left the filters (or were deleted) faster than "
                    "the read could step back past them"
                )
            return []
        fresh = set(new)
        out = []
        met: _Walk | None = None
        stopped = False
        read: list[str] = []
        for row, row_id in zip(rows, ids, strict=True):
            if row_id not in fresh:
                continue
            owner = self._markers.get(row_id)
            other_key = self._frontier_rows.get(row_id)
            other = self._walks.get(other_key) if other_key else None
            if other is not None and other.range_key != walk.range_key:
                stopped = True
                if other.sweep.order != sweep.order:
                    met = other  # it was coming this way: the rows between are read
                break
            if owner is not None and owner != walk.range_key:
                stopped = True
                break
            read.append(row_id)
            if row_id not in self._pivot_ids:
                out.append(row)
        self._remember_frontier(walk, read)
        if stopped:
            walk.ended = "met"
            if met is not None and not met.done:
                met.ended = "met"
        elif sweep.done:
            walk.ended = "short"
        if walk.done:
            attempt = self._attempt
            self._check_done()
            if attempt != self._attempt:
                return []  # started again: the rows are read again
        return out

    def _remember_frontier(self, walk: _Walk, read: list[str]) -> None:
        if not read:
            return
        if len(walk.frontier) == walk.frontier.maxlen:
            for row_id in walk.frontier[0]:
                if self._frontier_rows.get(row_id) == walk.key:
                    del self._frontier_rows[row_id]
        walk.frontier.append(read)
        self._frontier_rows.update(dict.fromkeys(read, walk.key))

    def _check_done(self) -> None:
        walks = [w for w in self._walks.values() if self._ranges[w.range_key].live]
        if not all(w.done for w in walks):
            return
        ends = sorted(w.sweep.order for w in walks if w.ended == "short")
        if ends != ["asc", "desc"]:
            # Exactly one walk reaches the top and one the bottom; anything else means the markers
            # went (their customers left the filters) before the walks met them.
            self._restart("a range's first customers all went before the walks reached them")
            return
        self.done = True

    def cursor_lost(self, key: str) -> list[Customer]:
        """
        Dub said the cursor of the request sent under ``key`` does not exist any more.

        Returns customers to yield: the first wave may complete here.
        """
        name, _, attempt = key.partition("@")
        if attempt != str(self._attempt):
            return []
        walk = self._walks.get(name)
        if walk is None:
            raise DubPaginationError(
                f"Dub reported an invalid cursor for the {name} request, which sent none."
            )
        walk.busy = False
        rng = self._ranges[walk.range_key]
        if walk.done or not rng.live:
            return []
        if self.phase == "first":
            if walk.sweep.order == "asc":
                rng.live = False  # its pivot was deleted: the walks of its neighbours take its range
                rng.served = []
            else:
                walk.ended = "lost"  # started again from the range's first page after the first wave
            return self._yielding(self._end_first_wave_if_complete())
        if walk.sweep.cursor_lost():
            return []
        if not self.overlap and walk.sweep.pages == 0 and len(rng.served or []) < self._size:
            # The top range's walk down, started from its first page up (its own first wave's walk
            # down lost its cursor), lost every id of that page before its first answer. That short
            # page was everything above the pivot, and all of it is deleted, as is the pivot: nothing
            # this range read is left. It is dropped, and the walk up from below reads on to the top.
            rng.live = False
            self._check_done()
            return []
        return self._yielding(
            self._restart(f"the customers used as paging cursors were deleted (last {walk.sweep.order} walk)")
        )

    def _restart(self, why: str) -> list[Customer]:
        """Read again from new samples, skipping what was yielded, while that is exact; else fail."""
        self._restarts += 1
        if self._restarts > MAX_RESTARTS or self._yielded is None:
            raise DubPaginationError(
                f"During the read {why}; no complete result is possible. Run the read again."
            )
        self._skip_ids |= self._yielded
        self._start()
        return []
