"""The in-memory customer store: Dub's orderings, filters and mutations.

All public methods take the store's single lock, so the HTTP handler threads and
a test mutating the data "during" a read see consistent states.
"""

from __future__ import annotations

import dataclasses
import random
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from typing import Any

from airflow_provider_dub.testing import ids
from airflow_provider_dub.testing.data import (
    NO_VALUE,
    Columns,
    Details,
    append_row,
    derive_details,
    generate_columns,
    make_pools,
)
from airflow_provider_dub.testing.errors import ApiError, unprocessable
from airflow_provider_dub.testing.indexes import TextIndex
from airflow_provider_dub.testing.ordering import (
    SortKeyOrder,
    composite_key,
    cursor_page,
    insert_sorted,
    offset_page,
    remove_sorted,
)
from airflow_provider_dub.testing.query import Filters, ListQuery, check_pagination
from airflow_provider_dub.testing.shape import customer_json

DETAIL_FIELDS = {
    "name": "name",
    "email": "email",
    "avatar": "avatar",
    "externalId": "external_id",
    "stripeCustomerId": "stripe_customer_id",
}
TIME_FIELDS = ("createdAt", "firstSaleAt", "subscriptionCanceledAt")
MAX_LINK_GROUPS = 10_000  # Dub's ``take`` on the linkId groups
UPDATABLE_FIELDS = frozenset(
    [*DETAIL_FIELDS, *TIME_FIELDS, "country", "sales", "saleAmount", "linkId", "partnerId"]
)


class CustomerStore:
    """Customers in compact columns plus the orders and indexes queries need."""

    def __init__(
        self,
        count: int,
        seed: int,
        *,
        imported_share: float = 0.1,
        legacy_share: float = 0.3,
        anonymous_share: float = 0.02,
        default_program: bool = True,
    ) -> None:
        self.lock = threading.RLock()
        self.seed = seed
        self.anonymous_share = anonymous_share
        self.pools = make_pools(seed, default_program)
        self.columns: Columns
        self.columns, self._factory = generate_columns(
            count, seed, self.pools, imported_share=imported_share, legacy_share=legacy_share
        )
        self._overrides: dict[int, dict[str, Any]] = {}
        self.sorted_ids: list[str] = sorted(self.columns.slot_by_id)
        created = self.columns.created
        self._orders: dict[str, SortKeyOrder] = {
            "createdAt": SortKeyOrder(composite_key(created[s], s) for s in range(count))
        }
        self._text_index: TextIndex | None = None
        self._link_index: dict[int, set[int]] | None = None

    # ----- single customers -------------------------------------------------------------

    def details(self, slot: int) -> Details:
        """The descriptive fields of ``slot``, with any updates applied."""
        details = derive_details(self.seed, slot, self.anonymous_share)
        changes = self._overrides.get(slot)
        return details._replace(**changes) if changes else details

    def _sort_value(self, sort_by: str, slot: int) -> int:
        columns = self.columns
        if sort_by == "createdAt":
            return columns.created[slot]
        if sort_by == "saleAmount":
            return columns.sale_amount[slot]
        if sort_by == "firstSaleAt":
            return columns.first_sale[slot]
        return columns.canceled[slot]

    def to_api(self, slot: int, expanded: bool, rng: random.Random | None = None) -> dict[str, Any]:
        """The API representation of ``slot`` (see :func:`shape.customer_json`)."""
        return customer_json(self.columns, self.pools, slot, self.details(slot), expanded, rng)

    def get(self, customer_id: str) -> dict[str, Any] | None:
        """Ground truth for one customer (expanded keys where present), or None."""
        with self.lock:
            slot = self.columns.slot_by_id.get(customer_id)
            return None if slot is None else self.to_api(slot, expanded=True)

    def all_customers(self) -> list[dict[str, Any]]:
        """Ground truth for every live customer, in id order."""
        with self.lock:
            slot_by_id = self.columns.slot_by_id
            return [self.to_api(slot_by_id[i], expanded=True) for i in self.sorted_ids]

    def live_ids(self) -> set[str]:
        """The ids of every live customer."""
        with self.lock:
            return set(self.columns.slot_by_id)

    def __len__(self) -> int:
        with self.lock:
            return len(self.columns.slot_by_id)

    # ----- indexes and orders -----------------------------------------------------------

    def _order(self, sort_by: str) -> SortKeyOrder:
        order = self._orders.get(sort_by)
        if order is None:
            order = SortKeyOrder(
                composite_key(self._sort_value(sort_by, slot), slot)
                for slot in self.columns.slot_by_id.values()
            )
            self._orders[sort_by] = order
        return order

    def _texts(self) -> TextIndex:
        if self._text_index is None:
            index = TextIndex()
            for slot in self.columns.slot_by_id.values():
                index.add(slot, self.details(slot))
            self._text_index = index
        return self._text_index

    def _links(self) -> dict[int, set[int]]:
        if self._link_index is None:
            index: dict[int, set[int]] = {}
            link = self.columns.link
            for slot in self.columns.slot_by_id.values():
                index.setdefault(link[slot], set()).add(slot)
            self._link_index = index
        return self._link_index

    def _index_slots(self, slots: list[int]) -> None:
        """Add live slots to the id order, the sort orders and the built indexes."""
        self._change_indexes(slots, add=True)

    def _unindex_slots(self, slots: list[int]) -> None:
        """Remove slots from the id order, the sort orders and the built indexes."""
        self._change_indexes(slots, add=False)

    def _change_indexes(self, slots: list[int], *, add: bool) -> None:
        columns = self.columns
        (insert_sorted if add else remove_sorted)(
            self.sorted_ids, [columns.ids[slot] or "" for slot in slots]
        )
        for sort_by, order in self._orders.items():
            keys = [(self._sort_value(sort_by, slot), slot) for slot in slots]
            if add:
                order.add_many(keys)
            else:
                order.remove_many(keys)
        for slot in slots:
            if self._text_index is not None:
                (self._text_index.add if add else self._text_index.remove)(slot, self.details(slot))
            if self._link_index is not None:
                linked = self._link_index.setdefault(columns.link[slot], set())
                if add:
                    linked.add(slot)
                else:
                    linked.discard(slot)

    def _select(self, filters: Filters) -> tuple[set[int] | None, Callable[[int], bool] | None]:
        """Candidate slots (None: all) and a predicate on slots (None: accept all)."""
        candidates: set[int] | None = None
        if filters.customer_ids is not None:
            slot_by_id = self.columns.slot_by_id
            candidates = {slot_by_id[i] for i in filters.customer_ids if i in slot_by_id}
        text_matches: set[int] | None = None
        if filters.email is not None:
            text_matches = self._texts().email(filters.email)
        elif filters.external_id is not None:
            text_matches = self._texts().external_id(filters.external_id)
        elif filters.search is not None:
            text_matches = self._texts().search(filters.search)
        if text_matches is not None:
            candidates = text_matches if candidates is None else candidates & text_matches
        pools = self.pools
        link_indexes: set[int] | None = None
        if filters.link_id is not None:
            link_indexes = {pools.link_index_by_id.get(filters.link_id, -2)}
        if filters.partner_id is not None:
            partner_links = pools.link_indexes_by_partner_id.get(filters.partner_id, set())
            link_indexes = partner_links if link_indexes is None else link_indexes & partner_links
        if link_indexes is not None:
            linked: set[int] = set()
            for link_index in link_indexes:
                linked |= self._links().get(link_index, set())
            candidates = linked if candidates is None else candidates & linked
        if filters.country is None and not filters.program:
            return candidates, None
        country: int | None = None
        if filters.country is not None:
            if filters.country not in self.columns.country_codes:
                return set(), None
            country = self.columns.country_codes.index(filters.country)
        country_column, link_column = self.columns.country, self.columns.link

        def accept(slot: int) -> bool:
            if country is not None and country_column[slot] != country:
                return False
            return not filters.program or pools.is_program_link(link_column[slot])

        return candidates, accept

    def _check_program(self, filters: Filters) -> None:
        if filters.program and self.pools.program_id is None:
            raise ApiError(404, "not_found", "Program not found")

    def list_page(self, query: ListQuery, rng: random.Random, page_cap: int) -> list[dict[str, Any]]:
        """Serve one ``GET /customers`` page (the query's schema is already validated).

        Dub's order of errors: the program (404), the pagination rules, the cursor (422).
        """
        with self.lock:
            self._check_program(query.filters)
            check_pagination(query, page_cap)
            cursor = query.cursor
            if cursor is not None and cursor not in self.columns.slot_by_id:
                raise unprocessable("Invalid cursor: the provided ID does not exist.")
            candidates, accept = self._select(query.filters)
            if cursor is not None:
                slots = self._cursor_slots(query, cursor, candidates, accept)
            else:
                slots = self._offset_slots(query, candidates, accept, rng.getrandbits(64))
            return [self.to_api(slot, query.expanded, rng) for slot in slots]

    def _cursor_slots(
        self,
        query: ListQuery,
        cursor: str,
        candidates: set[int] | None,
        accept: Callable[[int], bool] | None,
    ) -> list[int]:
        slot_by_id = self.columns.slot_by_id
        check = accept
        if candidates is None:
            id_list = self.sorted_ids
        elif len(candidates) ** 2 > (query.page_size + 1) * len(self.sorted_ids):
            # Many candidates: walking the id order past the others beats sorting them.
            id_list = self.sorted_ids
            check = _all_of(candidates.__contains__, accept)
        else:
            id_list = sorted(self.columns.ids[slot] or "" for slot in candidates)

        def accept_id(customer_id: str) -> bool:
            return check is None or check(slot_by_id[customer_id])

        page = cursor_page(
            id_list,
            cursor,
            query.starting_after is not None,
            query.descending,
            query.page_size,
            None if check is None else accept_id,
        )
        return [slot_by_id[customer_id] for customer_id in page]

    def _offset_slots(
        self,
        query: ListQuery,
        candidates: set[int] | None,
        accept: Callable[[int], bool] | None,
        salt: int,
    ) -> list[int]:
        if candidates is None:
            order = self._order(query.sort_by)
        else:
            order = SortKeyOrder(
                composite_key(self._sort_value(query.sort_by, slot), slot) for slot in candidates
            )
        skip = (query.page - 1) * query.page_size
        return offset_page(order, query.descending, skip, query.page_size, salt, accept)

    def count(
        self, filters: Filters, group_by: str | None = None, rng: random.Random | None = None
    ) -> int | list[dict[str, Any]]:
        """Serve ``GET /customers/count``: a bare integer, or groups (see :meth:`_groups`).

        Grouping by country or linkId drops the filter on that field; ``partnerId``
        is accepted but, as on Dub, gives the plain count (its filter kept).
        """
        if group_by == "country":
            filters = dataclasses.replace(filters, country=None)
        elif group_by == "linkId":
            filters = dataclasses.replace(filters, link_id=None)
        with self.lock:
            self._check_program(filters)
            candidates, accept = self._select(filters)
            if group_by in ("country", "linkId"):
                return self._groups(group_by, self._matching(candidates, accept), rng or random.Random())
            if accept is None:
                return len(self.columns.slot_by_id) if candidates is None else len(candidates)
            return sum(1 for _ in self._matching(candidates, accept))

    def _matching(self, candidates: set[int] | None, accept: Callable[[int], bool] | None) -> Iterator[int]:
        slots: Iterable[int] = self.columns.slot_by_id.values() if candidates is None else candidates
        return iter(slots) if accept is None else (slot for slot in slots if accept(slot))

    def _groups(self, group_by: str, slots: Iterable[int], rng: random.Random) -> list[dict[str, Any]]:
        """Dub's ``groupBy`` answer: ``_count`` per country or per link, most first.

        Dub orders by the count of non-null values of the field (so the null-country
        group, which counts 0 there, comes last; customers without a link are left
        out) with no tie-breaker: ties come in a new order on every request. Links:
        at most ``MAX_LINK_GROUPS``, with each link's shortLink and url.
        """
        columns = self.columns
        if group_by == "country":
            counts = Counter(columns.country[slot] for slot in slots)
            codes = columns.country_codes
            order = sorted(counts, key=lambda i: (-counts[i] if codes[i] is not None else 0, rng.random()))
            return [{"_count": counts[i], "country": codes[i]} for i in order]
        link_counts = Counter(columns.link[slot] for slot in slots)
        link_counts.pop(NO_VALUE, None)
        ordered = sorted(link_counts, key=lambda i: (-link_counts[i], rng.random()))[:MAX_LINK_GROUPS]
        links = self.pools.links
        return [
            {
                "_count": link_counts[i],
                "linkId": links[i]["id"],
                "shortLink": links[i]["shortLink"],
                "url": links[i]["url"],
            }
            for i in ordered
        ]

    # ----- mutations --------------------------------------------------------------------

    def add(self, count: int, imported: bool, created_ms: int | None) -> list[dict[str, Any]]:
        """Add ``count`` customers now: ULID ids from the clock, createdAt now or backdated."""
        with self.lock:
            factory, columns = self._factory, self.columns
            slots = []
            for _ in range(count):
                now = ids.now_ms()
                customer_id = "cus_" + ids.make_ulid(now, factory.rng)
                while customer_id in columns.slot_by_id:
                    customer_id = "cus_" + ids.make_ulid(now, factory.rng)
                created = now
                if created_ms is not None:
                    created = created_ms
                elif imported:
                    created = now - factory.rng.randrange(ids.YEAR_MS, 3 * ids.YEAR_MS)
                country = columns.country_index(factory.pick_country())
                link = factory.pick_link()
                slots.append(
                    append_row(columns, customer_id, created, 0, 0, NO_VALUE, NO_VALUE, country, link)
                )
            self._index_slots(slots)
            return [self.to_api(slot, expanded=True) for slot in slots]

    def delete(self, customer_ids: Iterable[str]) -> list[str]:
        """Delete the given customers; unknown ids are ignored. Returns the deleted ids."""
        with self.lock:
            columns = self.columns
            slots = list({columns.slot_by_id[i]: None for i in customer_ids if i in columns.slot_by_id})
            self._unindex_slots(slots)
            deleted = []
            for slot in slots:
                customer_id = columns.ids[slot] or ""
                del columns.slot_by_id[customer_id]
                columns.ids[slot] = None
                self._overrides.pop(slot, None)
                deleted.append(customer_id)
            return deleted

    def delete_random(self, count: int, rng_seed: int | None) -> list[str]:
        """Delete ``count`` random live customers (all if fewer); returns their ids."""
        with self.lock:
            chosen = random.Random(rng_seed).sample(self.sorted_ids, min(count, len(self.sorted_ids)))
            return self.delete(chosen)

    def update(self, customer_id: str, fields: dict[str, Any]) -> dict[str, Any]:
        """Change fields of one customer (API names); returns its new ground truth."""
        unknown = set(fields) - UPDATABLE_FIELDS
        if unknown:
            raise ValueError(f"cannot update {sorted(unknown)}; allowed: {sorted(UPDATABLE_FIELDS)}")
        if fields.get("createdAt", "") is None:
            raise ValueError("createdAt cannot be None")
        with self.lock:
            slot = self.columns.slot_by_id.get(customer_id)
            if slot is None:
                raise KeyError(customer_id)
            columns = self.columns
            times = {name: _to_ms(fields[name]) for name in TIME_FIELDS if name in fields}
            sales = int(fields["sales"]) if "sales" in fields else None
            sale_amount = int(fields["saleAmount"]) if "saleAmount" in fields else None
            link = self._link_of(fields) if {"linkId", "partnerId"} & set(fields) else None
            first_sales = bool(sales) and columns.sales[slot] == 0
            if first_sales and "firstSaleAt" not in times and columns.first_sale[slot] == NO_VALUE:
                times["firstSaleAt"] = ids.now_ms()  # Dub stamps the first sale
            self._unindex_slots([slot])
            changes = {DETAIL_FIELDS[k]: v for k, v in fields.items() if k in DETAIL_FIELDS}
            if changes:
                self._overrides.setdefault(slot, {}).update(changes)
            if "country" in fields:
                columns.country[slot] = columns.country_index(fields["country"])
            if link is not None:
                columns.link[slot] = link
            if sales is not None:
                columns.sales[slot] = sales
            if sale_amount is not None:
                columns.sale_amount[slot] = sale_amount
            for name, column in (
                ("createdAt", columns.created),
                ("firstSaleAt", columns.first_sale),
                ("subscriptionCanceledAt", columns.canceled),
            ):
                if name in times:
                    column[slot] = times[name]
            self._index_slots([slot])
            return self.to_api(slot, expanded=True)

    def _link_of(self, fields: dict[str, Any]) -> int:
        """The link column value for an update's ``linkId`` and/or ``partnerId``."""
        pools = self.pools
        link = NO_VALUE
        if "linkId" in fields:
            link_id = fields["linkId"]
            if link_id is not None:
                if link_id not in pools.link_index_by_id:
                    raise ValueError(f"unknown linkId {link_id!r}: use the id of a link a customer has")
                link = pools.link_index_by_id[link_id]
        if "partnerId" in fields:
            partner_links = pools.link_indexes_by_partner_id.get(fields["partnerId"])
            if not partner_links:
                raise ValueError(
                    f"unknown partnerId {fields['partnerId']!r}: use the id of a partner a customer has"
                )
            if "linkId" not in fields:
                link = min(partner_links)
            elif link not in partner_links:
                raise ValueError("linkId is not the link of partnerId")
        return link


def _all_of(first: Callable[[int], bool], second: Callable[[int], bool] | None) -> Callable[[int], bool]:
    """A predicate on slots accepting what both accept (``second`` None: accept all)."""
    if second is None:
        return first
    return lambda slot: first(slot) and second(slot)


def _to_ms(value: str | datetime | int | None) -> int:
    """Unix milliseconds (or NO_VALUE for None) from an ISO string, a datetime or milliseconds."""
    if value is None:
        return NO_VALUE
    return value if isinstance(value, int) else ids.parse_time(value)
