"""The read plan against a small in-process model of Dub's two orderings (no HTTP)."""

from __future__ import annotations

import random
from collections.abc import Callable

import pytest

from airflow_provider_dub.exceptions import DubPaginationError
from airflow_provider_dub.protocol import build_read_plan
from airflow_provider_dub.protocol.pagination import CustomerReadPlan


class InvalidCursor(Exception):
    pass


class FakeDub:
    """Dub's /customers orderings: offset pages by createdAt, cursor pages by id."""

    def __init__(self, customers: list[dict]) -> None:
        self.rows = {c["id"]: c for c in customers}
        self.requests: list[dict[str, str]] = []
        self.before_request: Callable[[FakeDub], None] | None = None

    def get(self, query: dict[str, str]) -> list[dict]:
        self.requests.append(query)
        if self.before_request:
            self.before_request(self)
        size = int(query.get("pageSize", "100"))
        order = query.get("sortOrder", "desc")
        rows = [r for r in self.rows.values() if "country" not in query or r["country"] == query["country"]]
        cursor = query.get("startingAfter")
        if cursor is None:
            key = query.get("sortBy", "createdAt")
            rows.sort(key=lambda r: r[key], reverse=order == "desc")
            return rows[:size]
        if cursor not in self.rows:
            raise InvalidCursor(cursor)
        if order == "desc":
            rows = sorted((r for r in rows if r["id"] < cursor), key=lambda r: r["id"], reverse=True)
        else:
            rows = sorted((r for r in rows if r["id"] > cursor), key=lambda r: r["id"])
        return rows[:size]

    def read(self, plan: CustomerReadPlan) -> list[dict]:
        out: list[dict] = []
        while (query := plan.next_query()) is not None:
            try:
                page = self.get(query)
            except InvalidCursor:
                plan.cursor_lost()
                continue
            out.extend(plan.accept_page(page))
        return out


def make_customers(n: int, seed: int = 0) -> list[dict]:
    """Ids and createdAt in unrelated orders, as imports and legacy ids make them."""
    rng = random.Random(seed)
    ids = rng.sample(range(10**6), n)
    return [
        {
            "id": f"c{i:07d}",
            "createdAt": f"2025-{rng.randint(1, 12):02d}-01",
            "country": rng.choice(["US", "DE"]),
        }
        for i in ids
    ]


@pytest.mark.parametrize("n", [0, 1, 99, 100, 101, 250, 1000, 1234])
@pytest.mark.parametrize("page_size", [100, 7])
def test_reads_every_customer_exactly_once(n: int, page_size: int) -> None:
    dub = FakeDub(make_customers(n, seed=n))
    out = dub.read(build_read_plan(page_size=page_size))
    ids = [c["id"] for c in out]
    assert sorted(ids) == sorted(dub.rows)
    assert len(ids) == len(set(ids))


@pytest.mark.parametrize("n", [0, 5, 99])
def test_short_first_page_is_one_request(n: int) -> None:
    dub = FakeDub(make_customers(n))
    dub.read(build_read_plan())
    assert len(dub.requests) == 1


@pytest.mark.parametrize("n", [101, 250, 1000, 5050])
def test_request_count_is_pages_plus_probe(n: int) -> None:
    dub = FakeDub(make_customers(n, seed=1))
    dub.read(build_read_plan())
    # probe + every id but the pivot in two sweeps, each ending on a short (possibly empty) page
    assert len(dub.requests) <= -(-n // 100) + 3


def test_filters_are_sent_on_every_request() -> None:
    dub = FakeDub(make_customers(500))
    out = dub.read(build_read_plan(country="US"))
    assert {c["id"] for c in out} == {i for i, c in dub.rows.items() if c["country"] == "US"}
    assert all(q["country"] == "US" for q in dub.requests)


@pytest.mark.parametrize("limit", [1, 50, 100, 150, 333])
def test_limit_stops_the_read(limit: int) -> None:
    dub = FakeDub(make_customers(1000))
    out = dub.read(build_read_plan(limit=limit))
    assert len(out) == limit == len({c["id"] for c in out})
    assert len(dub.requests) <= -(-limit // 100) + 2


def test_ordered_read_fitting_one_page_is_exact() -> None:
    dub = FakeDub(make_customers(40))
    out = dub.read(build_read_plan(sort_by="createdAt", sort_order="asc"))
    assert [c["createdAt"] for c in out] == sorted(c["createdAt"] for c in dub.rows.values())


def test_ordered_read_with_small_limit_is_one_request() -> None:
    dub = FakeDub(make_customers(1000))
    out = dub.read(build_read_plan(sort_by="createdAt", limit=10))
    assert len(out) == 10 and len(dub.requests) == 1
    assert dub.requests[0]["pageSize"] == "10"


def test_ordered_read_larger_than_a_page_fails_before_yielding() -> None:
    dub = FakeDub(make_customers(1000))
    plan = build_read_plan(sort_by="createdAt")
    with pytest.raises(DubPaginationError, match="sort_by"):
        dub.read(plan)
    assert plan.yielded == 0


def delete_on_request(numbers: set[int], pick: Callable[[FakeDub], str | None]) -> Callable[[FakeDub], None]:
    def hook(dub: FakeDub) -> None:
        if len(dub.requests) in numbers and (victim := pick(dub)) is not None:
            dub.rows.pop(victim, None)

    return hook


def last_cursor(dub: FakeDub) -> str | None:
    return dub.requests[-1].get("startingAfter")


@pytest.mark.parametrize("when", [{2}, {3}, {4}, {5, 6}, {2, 3, 4, 5}])
def test_deleted_cursor_resumes_without_loss_or_repeat(when: set[int]) -> None:
    dub = FakeDub(make_customers(730, seed=3))
    original = set(dub.rows)
    dub.before_request = delete_on_request(when, last_cursor)
    out = dub.read(build_read_plan())
    ids = [c["id"] for c in out]
    assert len(ids) == len(set(ids))
    assert set(dub.rows) <= set(ids) <= original


def test_pivot_deleted_before_down_sweep() -> None:
    dub = FakeDub(make_customers(500, seed=4))
    pivot: list[str] = []

    def hook(d: FakeDub) -> None:
        if len(d.requests) == 2:
            pivot.append(d.requests[-1]["startingAfter"])
        if d.requests[-1].get("sortOrder") == "desc" and pivot and pivot[0] in d.rows:
            d.rows.pop(pivot[0])

    dub.before_request = hook
    out = dub.read(build_read_plan(page_size=50))
    ids = [c["id"] for c in out]
    assert len(ids) == len(set(ids))
    assert set(dub.rows) <= set(ids)


def test_inserts_and_deletes_during_read() -> None:
    rng = random.Random(9)
    dub = FakeDub(make_customers(2000, seed=5))
    original = set(dub.rows)
    deleted: set[str] = set()
    added: set[str] = set()

    def churn(d: FakeDub) -> None:
        for _ in range(3):
            victim = rng.choice(sorted(d.rows))
            d.rows.pop(victim)
            deleted.add(victim)
        new_id = f"c{rng.randint(0, 10**6):07d}x"
        d.rows[new_id] = {"id": new_id, "createdAt": "2020-01-01", "country": "US"}
        added.add(new_id)

    dub.before_request = churn
    ids = [c["id"] for c in dub.read(build_read_plan())]
    assert len(ids) == len(set(ids))
    present_throughout = original - deleted
    assert present_throughout <= set(ids)
    assert set(ids) <= original | added
