"""Orderings: sort-key orders for offset paging, id order for cursor paging.

An offset-mode order is a sorted list of *composite keys* ``value << 32 | slot``:
the value is the sort field (a null time is -1, so nulls sort lowest, as in
MySQL), the slot only makes every key unique so that one key can be removed
with a bisect. Dub orders with no tie-breaker, so reading an order rotates (and
maybe reverses) every group of equal values by a per-request salt: rows with
equal sort keys come back in a different order from one request to the next.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right, insort
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence

SLOT_BITS = 32
SLOT_MASK = (1 << SLOT_BITS) - 1
# Above this many changes at once, re-sorting/filtering a list beats bisecting into it.
BULK_CHANGE = 1000


def composite_key(value: int, slot: int) -> int:
    """The composite key of ``slot`` whose sort field is ``value``."""
    return (value << SLOT_BITS) | slot


class SortKeyOrder:
    """Slots sorted by one sort field, ascending, without a meaningful tie order."""

    def __init__(self, keys: Iterable[int]) -> None:
        self.keys = sorted(keys)

    def __len__(self) -> int:
        return len(self.keys)

    def add(self, value: int, slot: int) -> None:
        """Insert ``slot`` with sort field ``value``."""
        insort(self.keys, composite_key(value, slot))

    def remove(self, value: int, slot: int) -> None:
        """Remove ``slot`` whose sort field is ``value`` (it must be present)."""
        key = composite_key(value, slot)
        index = bisect_left(self.keys, key)
        if index < len(self.keys) and self.keys[index] == key:
            del self.keys[index]

    def add_many(self, entries: Sequence[tuple[int, int]]) -> None:
        """Insert ``(value, slot)`` pairs."""
        if len(entries) <= BULK_CHANGE:
            for value, slot in entries:
                self.add(value, slot)
        else:
            self.keys.extend(composite_key(value, slot) for value, slot in entries)
            self.keys.sort()

    def remove_many(self, entries: Sequence[tuple[int, int]]) -> None:
        """Remove ``(value, slot)`` pairs that are present."""
        if len(entries) <= BULK_CHANGE:
            for value, slot in entries:
                self.remove(value, slot)
        else:
            doomed = {composite_key(value, slot) for value, slot in entries}
            self.keys = [key for key in self.keys if key not in doomed]

    def _group_bounds(self, position: int) -> tuple[int, int]:
        """``[low, high)`` positions of the keys whose value equals the one at ``position``."""
        value = self.keys[position] >> SLOT_BITS
        low = bisect_left(self.keys, value << SLOT_BITS)
        high = bisect_left(self.keys, (value + 1) << SLOT_BITS, low)
        return low, high

    def iter_slots(self, start: int, descending: bool, salt: int) -> Iterator[int]:
        """Yield slots from position ``start`` of the order, ties shuffled by ``salt``."""
        keys = self.keys
        total = len(keys)
        position = start
        while position < total:
            ascending_position = total - 1 - position if descending else position
            low, high = self._group_bounds(ascending_position)
            size = high - low
            shuffle = hash((salt, low))
            rotation, flipped = (shuffle >> 1) % size, shuffle & 1
            group_end = total - low if descending else high
            while position < group_end:
                ascending_position = total - 1 - position if descending else position
                offset = (ascending_position - low + rotation) % size
                index = low + (size - 1 - offset if flipped else offset)
                yield keys[index] & SLOT_MASK
                position += 1


def insert_sorted(items: list[str], new_items: Sequence[str]) -> None:
    """Insert ``new_items`` into the sorted list ``items``, in place."""
    if len(new_items) <= BULK_CHANGE:
        for item in new_items:
            insort(items, item)
    else:
        items.extend(new_items)
        items.sort()


def remove_sorted(items: list[str], gone: Collection[str]) -> None:
    """Remove ``gone`` (all present) from the sorted list ``items``, in place."""
    if len(gone) <= BULK_CHANGE:
        for item in gone:
            del items[bisect_left(items, item)]
    else:
        doomed = set(gone)
        items[:] = [item for item in items if item not in doomed]


def offset_page(
    order: SortKeyOrder,
    descending: bool,
    skip: int,
    size: int,
    salt: int,
    accept: Callable[[int], bool] | None = None,
) -> list[int]:
    """The slots of one offset page: skip ``skip`` accepted rows, take ``size``."""
    if accept is None:
        slots = []
        for slot in order.iter_slots(skip, descending, salt):
            slots.append(slot)
            if len(slots) == size:
                break
        return slots
    slots = []
    for slot in order.iter_slots(0, descending, salt):
        if not accept(slot):
            continue
        if skip:
            skip -= 1
            continue
        slots.append(slot)
        if len(slots) == size:
            break
    return slots


def cursor_page(
    sorted_ids: list[str],
    cursor: str,
    starting_after: bool,
    descending: bool,
    size: int,
    accept: Callable[[str], bool] | None = None,
) -> list[str]:
    """The ids of one cursor page, ordered by id: Prisma's ``cursor`` + ``skip: 1``.

    ``sorted_ids`` holds the rows that passed the indexed filters and ``accept``
    checks the others. The walk starts AT the cursor and takes the rows that
    match the filters, the cursor row included only if it still matches; then
    the first of them is skipped. So when the cursor row no longer matches, the
    next real matching row is dropped instead, silently (prisma/orm#4087). An
    unfiltered read always holds the cursor row, which is the one skipped.

    ``startingAfter`` walks forwards in ``sortOrder``; ``endingBefore`` is
    ``take: -size``: the same walk in the opposite direction, returned in order.
    """
    walk_up = starting_after != descending  # asc+after or desc+before
    if walk_up:
        indexes: Iterable[int] = range(bisect_left(sorted_ids, cursor), len(sorted_ids))
    else:
        indexes = range(bisect_right(sorted_ids, cursor) - 1, -1, -1)
    page: list[str] = []
    skip = 1
    for index in indexes:
        customer_id = sorted_ids[index]
        if accept is not None and not accept(customer_id):
            continue
        if skip:
            skip -= 1  # the cursor row if it matched, else the next matching row
            continue
        page.append(customer_id)
        if len(page) == size:
            break
    if not starting_after:
        page.reverse()
    return page
