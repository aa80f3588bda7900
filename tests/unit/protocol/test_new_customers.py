"""The new-customers plan (the sensor's watermark logic) against an in-process model of Dub's orderings."""

from __future__ import annotations

import random

import pytest

from airflow_provider_dub.protocol.new_customers import (
    CROCKFORD,
    NewCustomersPlan,
    Watermark,
    created_ms,
    is_beyond_issued,
    is_current_id,
    ulid_key,
)
from tests.unit.protocol.test_pagination import FakeDub

NOW = 1_795_000_000_000  # 2026-11-18, ms
DAY = 86_400_000


def ulid(ms: int, rng: random.Random) -> str:
    chars = []
    value = ms
    for _ in range(10):
        value, digit = divmod(value, 32)
        chars.append(CROCKFORD[digit])
    return "cus_" + "".join(reversed(chars)) + "".join(rng.choice(CROCKFORD) for _ in range(16))


def legacy(rng: random.Random) -> str:
    alnum = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
    return "cus_" + "".join(rng.choice(alnum) for _ in range(24))


def customer(customer_id: str, created: str = "2024-01-01T00:00:00.000Z") -> dict:
    return {"id": customer_id, "createdAt": created, "country": "US"}


class Workspace(FakeDub):
    """Customers with ULIDs from a clock, and legacy ids that are never issued again."""

    def __init__(self, seed: int = 0, legacy_count: int = 300, current_count: int = 300) -> None:
        self.rng = random.Random(seed)
        self.clock = NOW - 30 * DAY
        rows = [customer(legacy(self.rng)) for _ in range(legacy_count)]
        rows += [customer(self.new_id()) for _ in range(current_count)]
        super().__init__(rows)

    def new_id(self) -> str:
        self.clock += self.rng.randint(1, 5_000)
        return ulid(self.clock, self.rng)

    def add(self, n: int, imported: bool = False) -> set[str]:
        ids = {self.new_id() for _ in range(n)}
        for customer_id in ids:
            self.rows[customer_id] = customer(
                customer_id, "2019-05-05T00:00:00.000Z" if imported else "2026-11-18T00:00:00.000Z"
            )
        return ids

    def run(self, plan: NewCustomersPlan) -> list[str]:
        return [c["id"] for c in self.read(plan)]


def first_watermark(dub: Workspace) -> Watermark:
    plan = NewCustomersPlan({}, watermark=None, since_ms=dub.clock + 1, now_ms=NOW)
    assert dub.run(plan) == []
    return plan.new_watermark()


def test_id_helpers() -> None:
    rng = random.Random(1)
    current = ulid(NOW, rng)
    assert is_current_id(current) and created_ms(current) == NOW
    assert is_current_id("cus_" + current[5:]) and created_ms("cus_" + current[5:]) == NOW  # 25 characters
    assert not is_current_id(legacy(rng)) and not is_current_id("clx1y2z3a4b5c6d7e8f9g0h1i")
    assert ulid_key(current) == current[4:]
    assert is_beyond_issued("cus_zzzzzzzzzzzzzzzzzzzzzzzz", NOW)
    assert not is_beyond_issued("cus_01" + "0" * 22, NOW)


def test_new_customers_imported_included_reported_once_across_runs() -> None:
    dub = Workspace(seed=2)
    watermark = first_watermark(dub)
    reported: set[str] = set()
    for run in range(6):
        added = dub.add(dub.rng.randint(0, 250)) | dub.add(dub.rng.randint(0, 30), imported=True)
        gone = set(dub.rng.sample(sorted(dub.rows), 3))
        for customer_id in gone:
            dub.rows.pop(customer_id)
        dub.requests.clear()
        plan = NewCustomersPlan({}, watermark=watermark, now_ms=NOW)
        found = dub.run(plan)
        assert len(found) == len(set(found))
        assert set(found) == added - gone, f"run {run}"
        assert not set(found) & reported
        assert len(dub.requests) <= len(found) // 100 + 2
        reported |= set(found)
        watermark = plan.new_watermark()


def test_nothing_new_is_one_request() -> None:
    dub = Workspace(seed=3)
    watermark = first_watermark(dub)
    dub.requests.clear()
    plan = NewCustomersPlan({}, watermark=watermark, now_ms=NOW)
    assert dub.run(plan) == [] and len(dub.requests) == 1
    assert dub.requests[0]["startingAfter"] == watermark.last_id
    assert plan.new_watermark().last_id == watermark.last_id


@pytest.mark.parametrize("deleted_anchors", [1, 3, 10])
def test_deleted_watermark_customers_do_not_fail_or_repeat(deleted_anchors: int) -> None:
    dub = Workspace(seed=4)
    watermark = first_watermark(dub)
    for _ in range(3):  # build up anchors
        dub.add(20)
        plan = NewCustomersPlan({}, watermark=watermark, now_ms=NOW)
        dub.run(plan)
        watermark = plan.new_watermark()
    added = dub.add(40)
    for anchor in watermark.anchors[:deleted_anchors]:
        dub.rows.pop(anchor, None)
    found = dub.run(NewCustomersPlan({}, watermark=watermark, now_ms=NOW))
    assert sorted(found) == sorted(added)


def test_first_run_counts_since_a_time() -> None:
    dub = Workspace(seed=5)
    since = dub.clock + 1
    added = dub.add(150) | dub.add(10, imported=True)
    found = dub.run(NewCustomersPlan({}, watermark=None, since_ms=since, now_ms=NOW))
    assert sorted(found) == sorted(added)


def test_since_reports_again_what_a_watermark_already_covered() -> None:
    dub = Workspace(seed=6)
    since = dub.clock + 1
    added = dub.add(30)
    watermark = Watermark(max(added, key=ulid_key), [max(added, key=ulid_key)], NOW)
    found = dub.run(NewCustomersPlan({}, watermark=watermark, since_ms=since, now_ms=NOW))
    assert sorted(found) == sorted(added)


def test_stop_after_counts_no_further() -> None:
    dub = Workspace(seed=7)
    watermark = first_watermark(dub)
    dub.add(500)
    dub.requests.clear()
    plan = NewCustomersPlan({}, watermark=watermark, stop_after=3, now_ms=NOW)
    assert len(dub.run(plan)) >= 3 and len(dub.requests) == 1


def test_watermark_json_round_trip_and_rejects_garbage() -> None:
    watermark = Watermark("cus_" + "0" * 26, ["cus_" + "0" * 26], 5)
    assert Watermark.from_json(watermark.to_json()) == watermark
    assert (
        Watermark.from_json(str(watermark.to_json()).replace("'", '"').replace("None", "null")) == watermark
    )
    for garbage in (None, "not json", [1], {"last_id": "x", "anchors": [], "checked_ms": 1}, {"anchors": 3}):
        assert Watermark.from_json(garbage) is None


# -- the silent skip: a filtered run proves every cursor page -------------------------------------------

US = {"country": "US"}


def leave(dub: Workspace, customer_id: str) -> None:
    dub.rows[customer_id] = {**dub.rows[customer_id], "country": "DE"}


def filtered_watermark(dub: Workspace, runs: int = 3) -> Watermark:
    watermark = first_watermark(dub)
    for _ in range(runs):  # a few runs give the watermark its anchors
        dub.add(20)
        plan = NewCustomersPlan(US, watermark=watermark, now_ms=NOW)
        dub.run(plan)
        watermark = plan.new_watermark()
    return watermark


def test_filtered_run_starts_one_anchor_back_and_expects_the_watermark() -> None:
    dub = Workspace(seed=21)
    watermark = filtered_watermark(dub)
    assert watermark.anchors[0] == watermark.last_id and len(watermark.anchors) >= 2
    dub.requests.clear()
    plan = NewCustomersPlan(US, watermark=watermark, now_ms=NOW)
    assert dub.run(plan) == [] and len(dub.requests) == 1  # overlap row present: one request
    assert dub.requests[0]["startingAfter"] == watermark.anchors[1]
    added = dub.add(30)
    dub.requests.clear()
    assert sorted(dub.run(NewCustomersPlan(US, watermark=watermark, now_ms=NOW))) == sorted(added)


def test_watermark_left_the_filter_steps_back_to_an_earlier_anchor() -> None:
    dub = Workspace(seed=22)
    watermark = filtered_watermark(dub)
    added = dub.add(30)
    leave(dub, watermark.anchors[0])  # the page from anchors[1] loses the first new customer ...
    dub.requests.clear()
    found = dub.run(NewCustomersPlan(US, watermark=watermark, now_ms=NOW))
    assert sorted(found) == sorted(added)  # ... so it is refused, and the run steps back
    assert [q["startingAfter"] for q in dub.requests[:2]] == watermark.anchors[1:3]


def test_every_anchor_left_the_filter_starts_from_the_watermark_time() -> None:
    dub = Workspace(seed=23)
    watermark = filtered_watermark(dub)
    added = dub.add(30)
    for anchor in watermark.anchors:
        leave(dub, anchor)
    dub.requests.clear()
    found = dub.run(NewCustomersPlan(US, watermark=watermark, now_ms=NOW))
    assert sorted(found) == sorted(added)
    assert any("startingAfter" not in q for q in dub.requests)  # ran out of ids: a fresh probe


def test_deleted_anchor_and_a_step_back_together() -> None:
    dub = Workspace(seed=24)
    watermark = filtered_watermark(dub)
    added = dub.add(30)
    leave(dub, watermark.anchors[0])  # refused from anchors[1] ...
    dub.rows.pop(watermark.anchors[2])  # ... and the anchor two back is deleted: 422
    dub.requests.clear()
    found = dub.run(NewCustomersPlan(US, watermark=watermark, now_ms=NOW))
    assert sorted(found) == sorted(added)
    assert [q["startingAfter"] for q in dub.requests[:3]] == [
        watermark.anchors[1],
        watermark.anchors[2],
        watermark.anchors[3],
    ]


def test_cursors_leaving_during_a_filtered_run_lose_nothing() -> None:
    dub = Workspace(seed=25)
    watermark = filtered_watermark(dub)
    added = dub.add(400)
    changed: set[str] = set()

    def sabotage(d: FakeDub) -> None:
        cursor = d.requests[-1].get("startingAfter")
        if cursor and len(d.requests) % 2 == 0 and d.rows[cursor]["country"] == "US":
            leave(dub, cursor)
            changed.add(cursor)

    dub.before_request = sabotage
    plan = NewCustomersPlan(US, watermark=watermark, page_size=10, now_ms=NOW)
    found = dub.run(plan)
    assert changed and len(found) == len(set(found))
    assert added - changed <= set(found) <= added


def test_filtered_first_run_down_then_up_with_proof() -> None:
    dub = Workspace(seed=26)
    since = dub.clock + 1
    added = dub.add(150)
    changed: set[str] = set()

    def sabotage(d: FakeDub) -> None:  # every third cursor leaves, down walk and up walk alike
        cursor = d.requests[-1].get("startingAfter")
        if cursor and len(d.requests) % 3 == 0 and d.rows[cursor]["country"] == "US":
            leave(dub, cursor)
            changed.add(cursor)

    dub.before_request = sabotage
    found = dub.run(NewCustomersPlan(US, watermark=None, since_ms=since, page_size=10, now_ms=NOW))
    assert changed and len(found) == len(set(found)) and added - changed <= set(found) <= added
