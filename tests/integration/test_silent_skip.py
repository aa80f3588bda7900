"""
Filtered reads against the silent skip, over real HTTP (DubHook, the emulator on loopback).

Dub's cursor pages are Prisma's ``cursor`` + ``skip: 1``: when the cursor customer has left the
filters since it was read, Dub drops the next real row with a 200 (dub-api.md, "The silent skip").
Here a ``before_request`` callback makes the customers just used as cursors leave the filter, in
three patterns, while the hook reads: every customer that matched throughout must come back exactly
once, and none that never matched. A control shows the same sabotage does lose customers from a
plain ``startingAfter=<last id>`` walk, so these tests can fail.
"""

from __future__ import annotations

import asyncio
import json
import random
import threading
from collections.abc import Callable
from typing import Any

import pytest
import requests

from airflow_provider_dub.hooks.dub import DubHook
from airflow_provider_dub.hooks.dub_async import DubAsyncHook
from airflow_provider_dub.protocol import parallel
from airflow_provider_dub.protocol.new_customers import NewCustomersPlan, Watermark
from airflow_provider_dub.testing import DubEmulator
from airflow_provider_dub.testing.faults import RequestRecord

FAST = 1_000_000
PAGE = 10
PLANTED = 90  # customers given the filtered value, besides those that have it already

Customer = dict[str, Any]
Matches = Callable[[Customer], bool]


def hook_for(dub: DubEmulator, monkeypatch: pytest.MonkeyPatch, concurrency: int) -> DubHook:
    conn = json.loads(dub.airflow_conn_json())
    conn["extra"] = {"requests_per_minute": FAST, "max_concurrency": concurrency}
    monkeypatch.setenv("AIRFLOW_CONN_DUB_SKIP", json.dumps(conn))
    return DubHook("dub_skip")


def filter_case(
    dub: DubEmulator, name: str, rng: random.Random
) -> tuple[dict[str, Any], Matches, dict, set[str]]:
    """Hook arguments, a predicate on ground truth, a change that makes a customer leave, who matches."""
    arguments, matches, change = _plant(dub, name, rng)
    return arguments, matches, change, {c["id"] for c in dub.customers() if matches(c)}


def _plant(dub: DubEmulator, name: str, rng: random.Random) -> tuple[dict[str, Any], Matches, dict]:
    truth = dub.customers()
    planted = [c["id"] for c in rng.sample(truth, PLANTED)]
    if name == "country":
        for customer_id in planted:
            dub.update_customer(customer_id, country="NZ")
        return {"country": "NZ"}, lambda c: c["country"] == "NZ", {"country": "FR"}
    if name == "email":
        for customer_id in planted:
            dub.update_customer(customer_id, email="shared@example.com")
        return (
            {"email": "shared@example.com"},
            lambda c: c["email"] == "shared@example.com",
            {"email": "moved@example.com"},
        )
    if name == "search":
        for customer_id in planted:
            dub.update_customer(customer_id, name="Quokka Jones", email=None)
        return (
            {"search": "quokka"},
            lambda c: "quokka" in f"{c['name']} {c['email']}".lower(),
            {"name": "Zed Quux", "email": "zq@example.com"},
        )
    partnered = [c for c in truth if "partner" in c]
    target = partnered[0]
    other = next(c for c in partnered if c["partner"]["id"] != target["partner"]["id"])
    if name == "link":
        link_id = target["link"]["id"]
        for customer_id in planted:
            dub.update_customer(customer_id, linkId=link_id)
        return {"link_id": link_id}, lambda c: c.get("link", {}).get("id") == link_id, {"linkId": None}
    partner_id = target["partner"]["id"]
    for customer_id in planted:
        dub.update_customer(customer_id, partnerId=partner_id)
    return (
        {"partner_id": partner_id},
        lambda c: c.get("partner", {}).get("id") == partner_id,
        {"partnerId": other["partner"]["id"]},
    )


class Saboteur:
    """
    A ``before_request`` callback: the customers just used as cursors leave the filter.

    ``every_other``: the cursor of every other request; ``two_in_a_row``: the cursors of two
    consecutive requests, then four spared; ``cursor_and_next``: the cursor and the matching
    customer after it in the walk's direction (the one Dub would serve first), every fourth request.
    Only cursors that still match count; at most a third of the matching customers are moved.
    """

    def __init__(self, dub: DubEmulator, matching: set[str], matches: Matches, change: dict, pattern: str):
        self.dub = dub
        self.ids = sorted(matching)
        self.matches = matches
        self.change = change
        self.pattern = pattern
        self.changed: set[str] = set()
        self.cursors = 0
        self.budget = len(matching) // 3
        self.lock = threading.Lock()

    def next_matching(self, cursor: str, ascending: bool) -> str | None:
        ids = self.ids if ascending else list(reversed(self.ids))
        later = (i for i in ids if (i > cursor if ascending else i < cursor) and i not in self.changed)
        return next(later, None)

    def __call__(self, record: RequestRecord) -> None:
        cursor = record.query.get("startingAfter")
        if record.path != "/customers" or cursor is None:
            return
        with self.lock:
            customer = self.dub.get_customer(cursor)
            if customer is None or not self.matches(customer) or len(self.changed) >= self.budget:
                return
            self.cursors += 1
            n = self.cursors
            victims: list[str | None] = []
            if (self.pattern, n % 2 if self.pattern == "every_other" else n % 6) in (
                ("every_other", 0),
                ("two_in_a_row", 1),
                ("two_in_a_row", 2),
            ):
                victims = [cursor]
            elif self.pattern == "cursor_and_next" and n % 4 == 1:
                victims = [cursor, self.next_matching(cursor, record.query.get("sortOrder") == "asc")]
            for victim in victims:
                if victim is not None:
                    self.dub.update_customer(victim, **self.change)
                    self.changed.add(victim)


PATTERNS = ["every_other", "two_in_a_row", "cursor_and_next"]
FILTERS = ["country", "email", "link", "partner", "search"]


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("concurrency", [1, 4], ids=["sequential", "parallel"])
@pytest.mark.parametrize("pattern", PATTERNS)
@pytest.mark.parametrize("filter_name", FILTERS)
def test_filtered_read_while_cursors_leave_the_filter(
    filter_name: str, pattern: str, concurrency: int, seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Small data, many sweeps: a parallel read splits ~200 customers into several ranges.
    monkeypatch.setattr(parallel, "_CUSTOMERS_PER_SWEEP", 20)
    rng = random.Random(f"{filter_name}-{pattern}-{seed}")
    with DubEmulator(customers=400, seed=seed, rate_limit=FAST) as dub:
        arguments, matches, change, before = filter_case(dub, filter_name, rng)
        saboteur = Saboteur(dub, before, matches, change, pattern)
        dub.before_request(saboteur)
        got = [
            c["id"]
            for c in hook_for(dub, monkeypatch, concurrency).iter_customers(**arguments, page_size=PAGE)
        ]
        dub.before_request(None)
        assert len(got) == len(set(got)), "a customer came back twice"
        assert set(got) <= before, "a customer that never matched came back"
        assert before - saboteur.changed <= set(got), "a customer that matched throughout was lost"
        assert len(saboteur.changed) >= 2, "the sabotage did not happen"
        if concurrency > 1:
            first_wave = {
                r.query["startingAfter"]
                for r in dub.requests[:12]
                if r.query.get("sortOrder") == "asc" and "startingAfter" in r.query
            }
            assert len(first_wave) >= 3, "the read did not run in parallel"


def test_a_plain_cursor_walk_loses_customers_to_the_same_sabotage() -> None:
    """The control: ``startingAfter=<last id>`` under the same sabotage silently drops customers."""
    with DubEmulator(customers=500, seed=1) as dub:
        _, matches, change, before = filter_case(dub, "country", random.Random(1))
        saboteur = Saboteur(dub, before, matches, change, "every_other")
        dub.before_request(saboteur)
        headers = {"Authorization": f"Bearer {dub.api_key}"}
        got: list[str] = []
        query = {
            "country": "NZ",
            "pageSize": str(PAGE),
            "sortOrder": "asc",
            "startingAfter": min(dub.customer_ids()),
        }
        while True:
            page = requests.get(f"{dub.url}/customers", params=query, headers=headers, timeout=10).json()
            got += [c["id"] for c in page]
            if len(page) < PAGE:
                break
            query["startingAfter"] = page[-1]["id"]
        dub.before_request(None)
        lost = before - saboteur.changed - set(got)
        assert lost, "the sabotage should make a plain walk lose customers"


def test_unfiltered_read_sends_no_overlap(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without a row filter the skip cannot happen: each page starts after the last id read."""
    with DubEmulator(customers=400, seed=4, rate_limit=FAST) as dub:
        got = [c["id"] for c in hook_for(dub, monkeypatch, 1).iter_customers(page_size=PAGE)]
        assert sorted(got) == sorted(dub.customer_ids())
        # probe + 399 ids in two sweeps of PAGE-row pages, each ending on a short page
        assert dub.request_count() <= 1 + 399 // PAGE + 2


# -- the sensor's new-customers plan across runs ----------------------------------------------------


def run_new_customers(hook: DubHook, plan: NewCustomersPlan, *, trigger: bool = False) -> list[str]:
    """One sensor run (DubHook, as on the worker) or one trigger poll (DubAsyncHook, as in the triggerer)."""
    if not trigger:
        return [c["id"] for page in hook.run_plan(plan) for c in page]

    async def poll() -> list[str]:
        async_hook = DubAsyncHook(dub_conn_id=hook.dub_conn_id)
        try:
            return [c["id"] async for page in async_hook.run_plan(plan) for c in page]
        finally:
            await async_hook.close()

    return asyncio.run(poll())


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_new_customers_across_runs_while_cursors_leave_the_filter(
    seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = random.Random(seed)
    with DubEmulator(customers=600, seed=seed, rate_limit=FAST) as dub:
        hook = hook_for(dub, monkeypatch, 1)
        matches: Matches = lambda c: c["country"] == "US"  # noqa: E731
        change = {"country": "FR"}
        filters = {"country": "US"}
        plan = NewCustomersPlan(filters, watermark=None, since_ms=_now_ms(dub) + 1, page_size=5)
        assert run_new_customers(hook, plan) == []
        watermark = plan.new_watermark()
        reported: list[str] = []
        new_matching: set[str] = set()
        changed: set[str] = set()
        for run in range(6):
            added = dub.add_customers(rng.randint(15, 40)) + dub.add_customers(3, imported=True)
            new_matching |= {c["id"] for c in added if matches(c)}
            # Between runs, the watermark's customers leave the filter: the last one, then two, then all.
            gone = {1: watermark.anchors[:1], 3: watermark.anchors[:2], 5: watermark.anchors}.get(run, [])
            for customer_id in gone:
                if dub.get_customer(customer_id) is not None:
                    dub.update_customer(customer_id, **change)
                    changed.add(customer_id)
            saboteur = Saboteur(
                dub, {c["id"] for c in dub.customers() if matches(c)}, matches, change, PATTERNS[run % 3]
            )
            dub.before_request(saboteur)
            plan = NewCustomersPlan(filters, watermark=Watermark.from_json(watermark.to_json()), page_size=5)
            found = run_new_customers(hook, plan, trigger=run % 2 == 1)
            dub.before_request(None)
            changed |= saboteur.changed
            reported += found
            watermark = plan.new_watermark()
            assert len(reported) == len(set(reported)), f"run {run}: a customer was reported twice"
            assert set(found) <= new_matching, (
                f"run {run}: reported a customer that is not new or never matched"
            )
            assert new_matching - changed <= set(reported), f"run {run}: a new matching customer was missed"
        assert changed, "the sabotage did not happen"


def _now_ms(dub: DubEmulator) -> int:
    from airflow_provider_dub.testing import ids

    return ids.now_ms()
