"""
The top customers in a sort order, exactly: a complete read kept in a bounded heap.

Dub sorts only in offset mode, whose pages have no tie-breaker (customers with equal keys swap between
requests) and stop at a page cap, so an ordered read cannot be paged: one request (up to 100
customers) is the only exact ordered answer Dub gives. For more (the top 1,000 customers by
``saleAmount``, say) the hook reads every matching customer once, unordered (the complete read of
:mod:`.pagination`, or :mod:`.parallel`), and :class:`TopCustomers` keeps the best ``limit`` of them
in a heap: memory grows with the limit, not with the number of customers read.

The order is Dub's:

* **keys**: ``createdAt``, ``firstSaleAt``, ``subscriptionCanceledAt`` as instants (milliseconds),
  ``saleAmount`` as a number;
* **nulls** (``firstSaleAt`` and ``subscriptionCanceledAt`` of customers without a sale or a
  cancellation) sort as MySQL sorts them, lowest: **first in ``asc``, last in ``desc``**. Dub's
  database is MySQL (through Prisma, which adds no ``NULLS FIRST/LAST`` to Dub's ``orderBy``);
* **ties**: Dub's offset order has none, so any order of equal keys is one Dub could return. Ours
  is fixed: by id, in the same direction as ``sort_order``, the way Dub orders its cursor pages
  (``ORDER BY id <sortOrder>``): for today's time-sortable ids, newest first in ``desc``. Ids are
  compared as strings, code point by code point. (Dub's database may collate legacy ids of mixed case
  differently; that only changes which of several tied customers come first, never a key order.)

Nothing here sends a request.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable
from datetime import datetime

from airflow_provider_dub.exceptions import DubConnectionError
from airflow_provider_dub.protocol.pagination import CustomerReadPlan
from airflow_provider_dub.protocol.responses import Customer

#: A customer's place in the order: (null last or not, key), then its id.
Rank = tuple[tuple[int, int], str]

TIME_KEYS = ("createdAt", "firstSaleAt", "subscriptionCanceledAt")


def is_top_read(plan: CustomerReadPlan) -> bool:
    """
    Whether an ordered read must read everything and keep the top: its limit exceeds one request.

    :func:`~.params.build_read_plan` gives an ordered read with a limit up to 100 a page of that
    limit (one request, exact), so only a larger limit gets here.
    """
    return plan.ordered and plan.limit is not None and plan.limit > plan.page_size


def top_of(plan: CustomerReadPlan) -> TopCustomers:
    """The heap that keeps the top customers of an ordered read (see :func:`is_top_read`)."""
    if plan.limit is None:
        raise ValueError("a read without a limit has no top")
    return TopCustomers(plan.sort_by, plan.sort_order, plan.limit)


def _key(customer: Customer, sort_by: str) -> tuple[int, int]:
    """``(0, 0)`` for null, the lowest value, else ``(1, value)``."""
    value = customer.get(sort_by)
    if value is None:
        return (0, 0)
    if sort_by in TIME_KEYS:
        if isinstance(value, str):
            try:
                instant = datetime.fromisoformat(value.replace("Z", "+00:00"))
            except ValueError:
                instant = None
            if instant is not None and instant.tzinfo is not None:
                return (1, round(instant.timestamp() * 1000))
    elif isinstance(value, int | float) and not isinstance(value, bool):
        return (1, int(value))
    raise DubConnectionError(
        f"Dub sent a customer whose {sort_by} cannot be sorted (a {type(value).__name__})."
    )


def rank(customer: Customer, sort_by: str) -> Rank:
    """A customer's place in the ascending order by ``sort_by``, ties by id."""
    return (_key(customer, sort_by), str(customer["id"]))


class _Kept:
    """A heap entry; the heap's root is the *worst* customer kept (``__lt__`` puts it first)."""

    __slots__ = ("customer", "descending", "rank")

    def __init__(self, rank: Rank, customer: Customer, descending: bool) -> None:
        self.rank = rank
        self.customer = customer
        self.descending = descending

    def __lt__(self, other: _Kept) -> bool:
        # desc keeps the largest keys, so the smallest is the worst; asc the other way round.
        return self.rank < other.rank if self.descending else self.rank > other.rank


class TopCustomers:
    """
    The first ``limit`` customers in the order ``sort_by``/``sort_order``, of all those added.

    Feed it every customer of a complete read with :meth:`add`, page by page; :meth:`result` gives
    the top ones in order. It never holds more than ``limit`` customers.

    :param sort_by: one of Dub's sort keys; ``None`` means ``createdAt`` (Dub's default).
    :param sort_order: ``asc`` or ``desc``; ``None`` means ``desc`` (Dub's default).
    :param limit: how many customers to keep, >= 1.
    """

    def __init__(self, sort_by: str | None, sort_order: str | None, limit: int) -> None:
        if limit < 1:
            raise ValueError(f"limit must be >= 1, got {limit}")
        self.sort_by = sort_by or "createdAt"
        self.descending = (sort_order or "desc") == "desc"
        self.limit = limit
        #: How many customers were added in all.
        self.seen = 0
        self._heap: list[_Kept] = []

    def __len__(self) -> int:
        return len(self._heap)

    def add(self, customers: Iterable[Customer]) -> None:
        """Take customers into account, keeping only the best ``limit`` so far."""
        heap = self._heap
        for customer in customers:
            self.seen += 1
            entry = _Kept(rank(customer, self.sort_by), customer, self.descending)
            if len(heap) < self.limit:
                heapq.heappush(heap, entry)
            elif heap[0] < entry:  # better than the worst kept
                heapq.heapreplace(heap, entry)

    def result(self) -> list[Customer]:
        """The customers kept, best first: Dub's order, ties by id in the same direction."""
        return [entry.customer for entry in sorted(self._heap, reverse=True)]

    def __repr__(self) -> str:
        order = "desc" if self.descending else "asc"
        return f"TopCustomers({self.sort_by} {order}, limit={self.limit}, kept={len(self)}, seen={self.seen})"
