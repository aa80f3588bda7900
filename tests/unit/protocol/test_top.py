"""The top customers of an ordered read: Dub's order, nulls as MySQL sorts them, ties by id, bounded memory."""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from airflow_provider_dub.exceptions import DubConnectionError
from airflow_provider_dub.protocol.params import SORT_BY_VALUES, build_read_plan
from airflow_provider_dub.protocol.top import TopCustomers, is_top_read, top_of

EPOCH = datetime(2026, 1, 1, tzinfo=timezone.utc)


def _time(rng: random.Random, nullable: bool) -> str | None:
    if nullable and rng.random() < 0.4:
        return None
    # few distinct instants, so that many customers tie
    return (EPOCH + timedelta(milliseconds=rng.randrange(50) * 1_000)).isoformat(timespec="milliseconds")[
        :-6
    ] + "Z"


def make_customers(count: int, seed: int = 1) -> list[dict[str, Any]]:
    """Customers with many equal keys and null times, in a shuffled order, ids of mixed formats."""
    rng = random.Random(seed)
    customers = []
    for n in range(count):
        prefix = rng.choice(["cus_1K", "cus_0J", "cus_a", "cl"])
        customers.append(
            {
                "id": f"{prefix}{n:06d}",
                "saleAmount": rng.choice([0, 0, 0, 500, 1_000, 2_500, 99_900]),
                "createdAt": _time(rng, nullable=False),
                "firstSaleAt": _time(rng, nullable=True),
                "subscriptionCanceledAt": _time(rng, nullable=True),
            }
        )
    rng.shuffle(customers)
    return customers


def expected_order(customers: list[dict[str, Any]], sort_by: str, sort_order: str) -> list[str]:
    """The order written out another way: ORDER BY key <order>, id <order>, NULL the lowest value."""
    descending = sort_order == "desc"
    with_key = [c for c in customers if c[sort_by] is not None]
    nulls = [c for c in customers if c[sort_by] is None]
    by_key = sorted(with_key, key=lambda c: (c[sort_by], c["id"]), reverse=descending)
    by_id = sorted(nulls, key=lambda c: c["id"], reverse=descending)
    ordered = by_key + by_id if descending else by_id + by_key
    return [c["id"] for c in ordered]


def top_ids(customers: list[dict[str, Any]], sort_by: str, sort_order: str, limit: int) -> list[str]:
    top = TopCustomers(sort_by, sort_order, limit)
    for start in range(0, len(customers), 100):
        top.add(customers[start : start + 100])
    return [c["id"] for c in top.result()]


CUSTOMERS = make_customers(2_000)


@pytest.mark.parametrize("sort_order", ["asc", "desc"])
@pytest.mark.parametrize("sort_by", SORT_BY_VALUES)
def test_top_is_the_head_of_the_full_order(sort_by, sort_order):
    order = expected_order(CUSTOMERS, sort_by, sort_order)
    for limit in (1, 7, 150, 1_999, 3_000):
        assert top_ids(CUSTOMERS, sort_by, sort_order, limit) == order[:limit]


def test_nulls_come_first_ascending_and_last_descending():
    """As MySQL orders them, Dub's database: NULL is lower than every value."""
    customers = [
        {"id": "cus_a", "firstSaleAt": None},
        {"id": "cus_b", "firstSaleAt": "2026-01-02T00:00:00.000Z"},
        {"id": "cus_c", "firstSaleAt": None},
        {"id": "cus_d", "firstSaleAt": "2026-01-01T00:00:00.000Z"},
    ]
    assert top_ids(customers, "firstSaleAt", "asc", 4) == ["cus_a", "cus_c", "cus_d", "cus_b"]
    assert top_ids(customers, "firstSaleAt", "desc", 4) == ["cus_b", "cus_d", "cus_c", "cus_a"]


def test_ties_follow_the_id_in_the_direction_of_sort_order():
    customers = [{"id": f"cus_{c}", "saleAmount": 100} for c in "dbca"] + [{"id": "cus_e", "saleAmount": 5}]
    assert top_ids(customers, "saleAmount", "desc", 3) == ["cus_d", "cus_c", "cus_b"]
    assert top_ids(customers, "saleAmount", "asc", 3) == ["cus_e", "cus_a", "cus_b"]


def test_times_are_compared_as_instants_not_as_text():
    customers = [
        {"id": "cus_a", "createdAt": "2026-01-01T10:00:00.000+02:00"},  # 08:00 UTC
        {"id": "cus_b", "createdAt": "2026-01-01T09:00:00.000Z"},
    ]
    assert top_ids(customers, "createdAt", "asc", 2) == ["cus_a", "cus_b"]


def test_defaults_are_dubs_created_at_desc():
    top = TopCustomers(None, None, 5)
    assert (top.sort_by, top.descending) == ("createdAt", True)


def test_the_heap_never_holds_more_than_the_limit():
    """Memory grows with the limit, not with the number of customers read."""
    customers = make_customers(10_000, seed=2)
    top = TopCustomers("saleAmount", "desc", 250)
    largest = 0
    for start in range(0, len(customers), 100):
        top.add(customers[start : start + 100])
        largest = max(largest, len(top))
    assert largest == len(top) == 250
    assert top.seen == 10_000
    assert [c["id"] for c in top.result()] == expected_order(customers, "saleAmount", "desc")[:250]


def test_fewer_customers_than_the_limit_are_all_returned_in_order():
    customers = make_customers(40)
    assert top_ids(customers, "createdAt", "desc", 1_000) == expected_order(customers, "createdAt", "desc")


@pytest.mark.parametrize(
    ("sort_by", "value"),
    [("saleAmount", "100"), ("saleAmount", True), ("firstSaleAt", "yesterday"), ("createdAt", 1_700_000_000)],
)
def test_a_key_dub_would_not_send_is_a_connection_error(sort_by, value):
    top = TopCustomers(sort_by, "desc", 5)
    with pytest.raises(DubConnectionError, match=sort_by):
        top.add([{"id": "cus_a", sort_by: value}])


@pytest.mark.parametrize(
    ("params", "top_read"),
    [
        ({"sort_by": "saleAmount", "limit": 1_000}, True),
        ({"sort_order": "asc", "limit": 101}, True),
        ({"sort_by": "saleAmount", "limit": 100}, False),  # one request
        ({"sort_by": "saleAmount", "limit": 80, "page_size": 20}, False),  # one request of 80
        ({"sort_by": "saleAmount"}, False),  # no limit: the read fails beyond one page
        ({"limit": 1_000}, False),  # not ordered
    ],
)
def test_which_reads_are_top_reads(params, top_read):
    plan = build_read_plan(**params)
    assert is_top_read(plan) is top_read
    if top_read:
        top = top_of(plan)
        assert top.limit == plan.limit


def test_a_read_without_limit_has_no_top():
    with pytest.raises(ValueError, match="limit"):
        top_of(build_read_plan(sort_by="saleAmount"))
