"""The read plan against a small in-process model of Dub's two orderings (no HTTP)."""

from __future__ import annotations

import random
from collections.abc import Callable

import pytest

from airflow_provider_dub.exceptions import DubPaginationError
from airflow_provider_dub.protocol import build_read_plan, parallel
from airflow_provider_dub.protocol.new_customers import NewCustomersPlan
from airflow_provider_dub.protocol.pagination import CustomerReadPlan, Sweep
from airflow_provider_dub.protocol.parallel import ParallelReadPlan


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
        # Prisma's cursor + skip 1: from the cursor on, the matching rows, the first one dropped;
        # the cursor row itself only while it still matches.
        if order == "desc":
            rows = sorted((r for r in rows if r["id"] <= cursor), key=lambda r: r["id"], reverse=True)
        else:
            rows = sorted((r for r in rows if r["id"] >= cursor), key=lambda r: r["id"])
        return rows[1 : size + 1]

    def read(self, plan: CustomerReadPlan | NewCustomersPlan) -> list[dict]:
        """Drive a plan of ``next_query`` / ``accept_page`` / ``cursor_lost`` steps to its end."""
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


# -- the silent skip: filtered reads prove every cursor page -------------------------------------------


def leave_filter(dub: FakeDub, customer_id: str | None) -> None:
    if customer_id is not None and customer_id in dub.rows:
        dub.rows[customer_id] = {**dub.rows[customer_id], "country": "FR"}


def us_ids(dub: FakeDub) -> set[str]:
    return {i for i, c in dub.rows.items() if c["country"] == "US"}


def cursor_queries(dub: FakeDub) -> list[dict[str, str]]:
    return [q for q in dub.requests if "startingAfter" in q]


def test_filtered_read_sends_the_second_to_last_id_and_expects_the_last() -> None:
    dub = FakeDub(make_customers(600, seed=11))
    out = [c["id"] for c in dub.read(build_read_plan(country="US", page_size=10))]
    assert sorted(out) == sorted(us_ids(dub)) and len(out) == len(set(out))
    # each cursor page after a sweep's first holds the last id of the page before it, first
    previous: dict[str, list[str]] = {}
    for query in cursor_queries(dub):
        page = [c["id"] for c in dub.get(query)]
        sent = previous.get(query["sortOrder"])
        if sent is not None and len(sent) >= 2:
            assert query["startingAfter"] == sent[-2] and page[:1] == sent[-1:]
        previous[query["sortOrder"]] = page


def test_filtered_read_costs_one_row_a_page() -> None:
    dub = FakeDub(make_customers(4000, seed=12))
    matching = len(us_ids(dub))
    dub.read(build_read_plan(country="US"))
    # probe + pages of 99 new rows (the pivot's neighbours are read twice) + the two short pages
    assert len(dub.requests) <= -(-matching // 99) + 3


def test_unfiltered_read_sends_the_last_id() -> None:
    dub = FakeDub(make_customers(500, seed=13))
    dub.read(build_read_plan(page_size=10))
    pages = [[c["id"] for c in dub.get(q)] for q in cursor_queries(dub)]
    for query, before in zip(cursor_queries(dub)[2:], pages[1:], strict=False):
        if query["sortOrder"] == dub.requests[dub.requests.index(query) - 1].get("sortOrder"):
            assert query["startingAfter"] == before[-1]


def test_cursor_left_the_filter_steps_back_and_loses_nothing() -> None:
    dub = FakeDub(make_customers(800, seed=14))
    before = us_ids(dub)
    changed: set[str] = set()

    def sabotage(d: FakeDub) -> None:  # every third cursor leaves the filter just before it is used
        cursor = d.requests[-1].get("startingAfter")
        if cursor and len(d.requests) % 3 == 0 and d.rows[cursor]["country"] == "US":
            leave_filter(d, cursor)
            changed.add(cursor)

    dub.before_request = sabotage
    out = [c["id"] for c in dub.read(build_read_plan(country="US", page_size=10))]
    assert changed and len(out) == len(set(out))
    assert before - changed <= set(out) <= before
    # a refused page is followed by a request from further back in the same sweep
    stepped = [q for q in cursor_queries(dub) if q["startingAfter"] in changed]
    assert stepped


def test_overlap_row_gone_too_steps_back_further() -> None:
    """The cursor and the row after it both leave: two ids back, then the page is proven."""
    dub = FakeDub(make_customers(400, seed=15))
    before = us_ids(dub)
    walked: list[str] = []

    def sabotage(d: FakeDub) -> None:
        query = d.requests[-1]
        if query.get("sortOrder") == "desc" and "startingAfter" in query and len(walked) < 2:
            ids = sorted((i for i in us_ids(d) if i <= query["startingAfter"]), reverse=True)
            walked.extend(ids[:2])
            for customer_id in ids[:2]:
                leave_filter(d, customer_id)

    dub.before_request = sabotage
    out = [c["id"] for c in dub.read(build_read_plan(country="US", page_size=10))]
    assert len(out) == len(set(out)) and before - set(walked) <= set(out) <= before


def test_running_out_of_ids_starts_again_and_stays_exact() -> None:
    dub = FakeDub(make_customers(300, seed=16))
    before = us_ids(dub)
    gone: set[str] = set()

    def sabotage(d: FakeDub) -> None:  # once, everything the down sweep has read leaves
        query = d.requests[-1]
        if query.get("sortOrder") == "desc" and "startingAfter" in query and not gone and len(d.requests) > 4:
            plan_read = {i for i in before if i > query["startingAfter"]}
            plan_read |= set(sorted(i for i in before if i < query["startingAfter"])[-40:])
            for customer_id in plan_read:
                leave_filter(d, customer_id)
            gone.update(plan_read)

    dub.before_request = sabotage
    out = [c["id"] for c in dub.read(build_read_plan(country="US", page_size=5))]
    assert gone and len(out) == len(set(out)) and before - gone <= set(out) <= before
    probes = [q for q in dub.requests if "startingAfter" not in q]
    assert len(probes) >= 2  # it started again from a new probe


def test_running_out_of_ids_beyond_memory_fails_rather_than_lose() -> None:
    plan = CustomerReadPlan({"country": "US"}, page_size=2)
    plan._early_ids = None  # as when more was yielded than a fresh start can skip
    plan.accept_page([{"id": "m"}, {"id": "k"}])  # probe: pivot m
    plan.accept_page([{"id": "j"}, {"id": "h"}])  # down from m
    assert plan.next_query()["startingAfter"] == "h"  # up from the down page's second id ...
    plan.accept_page([{"id": "j"}, {"id": "n"}])  # ... expecting j first: proven
    assert plan.next_query()["startingAfter"] == "j"
    plan.accept_page([{"id": "p"}, {"id": "q"}])  # n is not first: refused, two back
    assert plan.next_query()["startingAfter"] == "h"
    with pytest.raises(DubPaginationError, match="left the filters"):
        plan.accept_page([{"id": "p"}, {"id": "q"}])  # neither j nor n: nothing left


def test_deleted_cursor_during_a_step_back_resumes_one_further_back() -> None:
    plan = CustomerReadPlan({"country": "US"}, page_size=3)
    plan.accept_page([{"id": "m"}, {"id": "a"}, {"id": "b"}])  # probe: pivot m
    plan.accept_page([{"id": "l"}, {"id": "k"}, {"id": "j"}])  # down from m (unproven head)
    assert plan.next_query()["startingAfter"] == "k"  # up: from k, expecting l
    out = plan.accept_page([{"id": "l"}, {"id": "m"}, {"id": "n"}])
    assert [c["id"] for c in out] == ["n"]  # l and the pivot were read already
    assert plan.next_query()["startingAfter"] == "m"  # expecting n
    assert plan.accept_page([{"id": "p"}, {"id": "q"}, {"id": "r"}]) == []  # n left: refused
    assert plan.next_query()["startingAfter"] == "l"  # two back: expecting m or n
    plan.cursor_lost()  # l was deleted
    assert plan.next_query()["startingAfter"] == "k"  # one further back; m or n still expected
    out = plan.accept_page([{"id": "m"}, {"id": "o"}, {"id": "p"}])
    assert [c["id"] for c in out] == ["o", "p"]


def test_pivot_with_too_few_rows_below_reads_the_other_side_first() -> None:
    customers = make_customers(300, seed=17)
    for c in customers:
        c["country"] = "US"
    newest = min(customers, key=lambda c: c["id"])
    newest["createdAt"] = "2099-01-01"  # the pivot is the lowest id: nothing below it
    dub = FakeDub(customers)
    out = [c["id"] for c in dub.read(build_read_plan(country="US", page_size=10))]
    assert sorted(out) == sorted(dub.rows) and len(out) == len(set(out))
    orders = [q["sortOrder"] for q in cursor_queries(dub)]
    assert orders[:3] == ["desc", "asc", "desc"]  # down (empty), up from the pivot, down again


def test_sweep_refuses_a_page_that_does_not_begin_with_a_known_id() -> None:
    sweep = Sweep("asc", ["a", "b", "c", "d"], overlap=True, memory=10)
    assert sweep.cursor == "c"
    assert sweep.accept(["e", "f"], 2) is None and sweep.cursor == "b"  # absent: step back
    assert sweep.accept(["e", "f"], 2) is None and sweep.cursor == "a"
    assert sweep.accept(["e"], 2) is None and sweep.cursor is None  # ran out
    fresh = Sweep("asc", ["a", "b", "c", "d"], overlap=True, memory=10)
    assert fresh.accept(["d", "e", "f"], 3) == ["e", "f"] and fresh.cursor == "e"  # present
    assert fresh.accept(["f"], 3) == [] and fresh.done  # a short proven page ends the sweep


def test_sweep_without_overlap_sends_the_last_id_and_accepts_anything() -> None:
    sweep = Sweep("desc", ["z", "y"], overlap=False, memory=10)
    assert sweep.cursor == "y"
    assert sweep.accept(["w", "v"], 2) == ["w", "v"] and sweep.cursor == "v"
    assert sweep.cursor_lost() and sweep.cursor == "w"


# -- the parallel plan, driven in process ---------------------------------------------------------------


def read_parallel(
    dub: FakeDub, plan: ParallelReadPlan, rng: random.Random, slots: int | None = None
) -> list[dict]:
    """Drive the plan; with ``slots``, ask for as many requests as are free, as the hook does. Answers come in any order."""
    out: list[dict] = []
    in_flight: list[tuple[str, str, dict[str, str]]] = []
    while not plan.done:
        free = None if slots is None else slots - len(in_flight)
        asked = plan.ready(free)
        assert free is None or len(asked) <= free
        in_flight += asked
        if not in_flight:
            break
        key, path, query = in_flight.pop(rng.randrange(len(in_flight)))
        if path.endswith("/count"):
            out.extend(plan.accept(key, len(us_ids(dub) if "country" in query else dub.rows)))
            continue
        try:
            page = dub.get(query)
        except InvalidCursor:
            out.extend(plan.cursor_lost(key))
            continue
        out.extend(plan.accept(key, page))
    return out


def with_sales(customers: list[dict], seed: int) -> list[dict]:
    rng = random.Random(seed)
    return [{**c, "saleAmount": rng.randint(0, 10_000)} for c in customers]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_parallel_filtered_read_while_cursors_leave(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(parallel, "_CUSTOMERS_PER_SWEEP", 100)
    dub = FakeDub(with_sales(make_customers(2000, seed=seed), seed))
    before = us_ids(dub)
    changed: set[str] = set()
    rng = random.Random(seed)

    def sabotage(d: FakeDub) -> None:
        cursor = d.requests[-1].get("startingAfter")
        if cursor and rng.random() < 0.3 and d.rows[cursor]["country"] == "US":
            leave_filter(d, cursor)
            changed.add(cursor)

    dub.before_request = sabotage
    plan = ParallelReadPlan({"country": "US"}, page_size=10, max_sweeps=6)
    out = [c["id"] for c in read_parallel(dub, plan, rng)]
    assert plan.sweeps >= 3 and changed
    assert len(out) == len(set(out)) and before - changed <= set(out) <= before


def test_parallel_filtered_walks_down_start_one_row_back(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(parallel, "_CUSTOMERS_PER_SWEEP", 100)
    dub = FakeDub(with_sales(make_customers(1000, seed=5), 5))
    plan = ParallelReadPlan({"country": "US"}, page_size=10, max_sweeps=4)
    out = [c["id"] for c in read_parallel(dub, plan, random.Random(5))]
    assert sorted(out) == sorted(us_ids(dub))
    desc_cursors = [
        q["startingAfter"] for q in dub.requests if q.get("sortOrder") == "desc" and "startingAfter" in q
    ]
    ranges = [r for r in plan._ranges.values() if r.live]
    assert len(ranges) == 2
    for rng in ranges:
        # From the first page's second id, expecting its first: the ids between the pivot and that
        # page are read again with proof. Never from the pivot, which may have left the filter.
        assert rng.served[1] in desc_cursors and rng.pivot not in desc_cursors


def test_parallel_unfiltered_read_is_unchanged(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(parallel, "_CUSTOMERS_PER_SWEEP", 100)
    dub = FakeDub(with_sales(make_customers(1000, seed=6), 6))
    plan = ParallelReadPlan({}, page_size=10, max_sweeps=4)
    out = [c["id"] for c in read_parallel(dub, plan, random.Random(6))]
    assert sorted(out) == sorted(dub.rows) and len(out) == len(set(out))
    # probe, count and two samples, then pages of 10 new ids each, a short page per sweep
    assert len(dub.requests) <= 3 + 1000 // 10 + 2 * 4


def read_with_churn(seed: int) -> ParallelReadPlan:
    """An unfiltered read in 6 slots while customers (cursors too) are deleted and added; checks it."""
    rng = random.Random(seed)
    dub = FakeDub(with_sales(make_customers(1500, seed=seed), seed))
    original = set(dub.rows)
    deleted: set[str] = set()
    added: set[str] = set()

    def churn(d: FakeDub) -> None:
        cursor = d.requests[-1].get("startingAfter")
        if cursor in d.rows and rng.random() < 0.05:
            del d.rows[cursor]  # the cursor goes: Invalid cursor
            deleted.add(cursor)
        for row_id in rng.sample(sorted(d.rows), 2):
            del d.rows[row_id]
            deleted.add(row_id)
        new = {
            "id": f"c{rng.randrange(10**6):07d}x",
            "createdAt": "2026-01-01",
            "country": "US",
            "saleAmount": 1,
        }
        d.rows[new["id"]] = new
        added.add(new["id"])

    dub.before_request = churn
    plan = ParallelReadPlan({}, page_size=10, max_sweeps=8)
    out = [c["id"] for c in read_parallel(dub, plan, rng, slots=6)]
    assert len(out) == len(set(out)), "a customer was read twice"
    assert original - deleted <= set(out) <= original | added
    return plan


@pytest.mark.parametrize("seed", range(3))
def test_parallel_read_in_slots_with_inserts_and_deletes(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Walks meet wherever they are, whichever goes first (the most work left, by the guess)."""
    monkeypatch.setattr(parallel, "_CUSTOMERS_PER_SWEEP", 100)
    plan = read_with_churn(seed)
    ended = sorted((w.sweep.order, w.ended) for w in plan._walks.values() if plan._ranges[w.range_key].live)
    assert ended.count(("asc", "short")) == ended.count(("desc", "short")) == 1  # the top and the bottom
    assert len(ended) >= 6 and all(end in ("met", "short") for _, end in ended)


def test_parallel_pivots_all_deleted_before_their_first_pages_are_replaced(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Nothing is read yet: other samples become pivots; no fresh start, no second round of samples."""
    monkeypatch.setattr(parallel, "_CUSTOMERS_PER_SWEEP", 100)
    dub = FakeDub(with_sales(make_customers(1000, seed=8), 8))
    original = set(dub.rows)
    doomed: list[str] = []

    def delete_the_first_pivots(d: FakeDub) -> None:
        cursor = d.requests[-1].get("startingAfter")
        if cursor and (cursor in doomed or len(set(doomed)) < 2):
            d.rows.pop(cursor, None)
            doomed.append(cursor)

    dub.before_request = delete_the_first_pivots
    plan = ParallelReadPlan({}, page_size=10, max_sweeps=4)
    out = [c["id"] for c in read_parallel(dub, plan, random.Random(8))]
    assert sorted(out) == sorted(original - set(doomed))
    assert plan._restarts == 0 and plan._deleted == set(doomed) and len(set(doomed)) == 2
    assert sum(1 for q in dub.requests if "startingAfter" not in q) == 2  # one round of samples


Request = tuple[str, str, dict[str, str]]


def answerer(dub: FakeDub, plan: ParallelReadPlan, out: list[dict]) -> Callable[..., None]:
    """A function that serves one of the plan's requests from ``dub`` and adds what it yields to ``out``."""

    def answer(key: str, path: str, query: dict[str, str]) -> None:
        if path.endswith("/count"):
            out.extend(plan.accept(key, len(dub.rows)))
            return
        try:
            out.extend(plan.accept(key, dub.get(query)))
        except InvalidCursor:
            out.extend(plan.cursor_lost(key))

    return answer


def to_the_first_wave(plan: ParallelReadPlan, answer: Callable[..., None]) -> dict[str, Request]:
    """Answer the sample round; return the first wave's requests (not sent), by walk name."""
    while plan.phase != "first":
        for request in plan.ready():
            answer(*request)
    return {key.partition("@")[0]: (key, path, query) for key, path, query in plan.ready()}


@pytest.mark.parametrize("late_answer", ["page", "invalid cursor"])
def test_parallel_answer_of_a_dropped_pivots_walk_after_the_first_wave_is_ignored(
    late_answer: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A pivot dropped in the first wave: its walk down may answer after the walks have started."""
    monkeypatch.setattr(parallel, "_CUSTOMERS_PER_SWEEP", 100)
    dub = FakeDub(with_sales(make_customers(1000, seed=9), 9))
    plan = ParallelReadPlan({}, page_size=10, max_sweeps=4)
    out: list[dict] = []
    answer = answerer(dub, plan, out)
    first_wave = to_the_first_wave(plan, answer)
    late_key, _, late_query = first_wave.pop("r0-")
    late_page = dub.get(late_query)  # served before the pivot goes
    del dub.rows[plan._ranges["r0"].pivot]
    for request in first_wave.values():  # r0's walk up meets the deleted pivot: r0 is dropped
        answer(*request)
    assert plan.phase == "walk" and not plan._ranges["r0"].live
    if late_answer == "page":
        out.extend(plan.accept(late_key, late_page))
    else:
        out.extend(plan.cursor_lost(late_key))
    out.extend(read_parallel(dub, plan, random.Random(9)))
    ids = [c["id"] for c in out]
    assert sorted(ids) == sorted(dub.rows) and plan._restarts == 0


def test_parallel_first_round_is_the_samples_and_pivots_span_them(monkeypatch: pytest.MonkeyPatch) -> None:
    """Count and both sample pages at once; the pivots include the lowest and the highest sample."""
    monkeypatch.setattr(parallel, "_CUSTOMERS_PER_SWEEP", 100)
    dub = FakeDub(with_sales(make_customers(1000, seed=9), 9))
    plan = ParallelReadPlan({}, page_size=10, max_sweeps=6)
    first = plan.ready()
    assert sorted((path, query.get("sortOrder", "")) for _, path, query in first) == [
        ("/customers", "asc"),
        ("/customers", "desc"),
        ("/customers/count", ""),
    ]
    for key, path, query in first:
        plan.accept(key, len(dub.rows) if path.endswith("/count") else dub.get(query))
    samples = {r["id"] for _, path, query in first if not path.endswith("/count") for r in dub.get(query)}
    pivots = {r.pivot for r in plan._ranges.values()}
    assert len(pivots) == 3 and {min(samples), max(samples)} <= pivots


def test_parallel_short_sample_page_is_the_whole_read() -> None:
    dub = FakeDub(with_sales(make_customers(7, seed=2), 2))
    plan = ParallelReadPlan({}, page_size=10)
    out = [c["id"] for c in read_parallel(dub, plan, random.Random(2))]
    assert sorted(out) == sorted(dub.rows) and plan.done
    assert dub.requests and all("startingAfter" not in q for q in dub.requests)  # sample pages only


def test_parallel_top_pivots_walk_down_survives_its_first_page_deleted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """
    Unfiltered, the top pivot's first page up is short, then the pivot and that page are deleted
    before the walk down's first answer: the range is dropped, the walk up from below reads on to the
    top, and nothing starts again.
    """
    monkeypatch.setattr(parallel, "_CUSTOMERS_PER_SWEEP", 100)
    customers = with_sales(make_customers(1000, seed=10), 10)
    top = sorted(customers, key=lambda c: c["id"])[-3]
    top["saleAmount"] = 10**6  # the highest sample: a pivot with two customers above it
    dub = FakeDub(customers)
    plan = ParallelReadPlan({}, page_size=10, max_sweeps=4)
    out: list[dict] = []
    answer = answerer(dub, plan, out)
    first_wave = to_the_first_wave(plan, answer)
    key = next(r.key for r in plan._ranges.values() if r.pivot == top["id"])
    answer(*first_wave.pop(f"{key}+"))  # the page up: the two customers above the pivot
    above = plan._ranges[key].served
    assert above is not None and len(above) == 2
    for gone in [top["id"], *above]:
        del dub.rows[gone]
    answer(*first_wave.pop(f"{key}-"))  # Invalid cursor: the walk down starts from the page up
    for request in first_wave.values():
        answer(*request)
    out.extend(read_parallel(dub, plan, random.Random(10)))
    ids = [c["id"] for c in out]
    assert len(ids) == len(set(ids)) and set(dub.rows) <= set(ids)
    assert plan._restarts == 0 and not plan._ranges[key].live
