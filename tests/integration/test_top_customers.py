"""
Over real HTTP against the emulator: the top customers of an ordered read, ``customer_ids`` and
``count_customers(group_by=...)``.

The ground truth is the emulator's store (``DubEmulator.customers()``), sorted here by the rule the
hook documents: Dub's key order, nulls lowest (first in ``asc``, last in ``desc``, as MySQL sorts
them), ties by id in the same direction.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest

from airflow_provider_dub.exceptions import DubPaginationError
from airflow_provider_dub.hooks.dub import DubHook
from airflow_provider_dub.operators.dub import DubListCustomersOperator
from airflow_provider_dub.testing import DubEmulator

FAST = 1_000_000  # requests per minute: no pacing in these tests


@pytest.fixture(scope="module")
def emulator() -> Iterator[DubEmulator]:
    """5,000 customers: 59 distinct sale amounts, 2,943 without a first sale (many ties)."""
    with DubEmulator(customers=5_000, seed=11, rate_limit=FAST) as dub:
        yield dub


@pytest.fixture
def dub(emulator: DubEmulator) -> DubEmulator:
    emulator.clear_requests()
    return emulator


def hook_for(dub: DubEmulator, monkeypatch: pytest.MonkeyPatch, max_concurrency: int = 1) -> DubHook:
    conn = json.loads(dub.airflow_conn_json())
    conn["extra"] = {"requests_per_minute": FAST, "max_concurrency": max_concurrency}
    monkeypatch.setenv("AIRFLOW_CONN_DUB_TOP", json.dumps(conn))
    return DubHook("dub_top")


def _key(customer: dict[str, Any], sort_by: str) -> Any:
    value = customer[sort_by]
    if value is not None and sort_by != "saleAmount":
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return value


def truth(dub: DubEmulator, sort_by: str, sort_order: str) -> list[str]:
    """Every customer's id in the documented order."""
    customers = dub.customers()
    nulls = sorted((c["id"] for c in customers if c[sort_by] is None), reverse=sort_order == "desc")
    valued = sorted(
        (c for c in customers if c[sort_by] is not None),
        key=lambda c: (_key(c, sort_by), c["id"]),
        reverse=sort_order == "desc",
    )
    valued_ids = [c["id"] for c in valued]
    return nulls + valued_ids if sort_order == "asc" else valued_ids + nulls


@pytest.mark.parametrize(
    ("sort_by", "sort_order", "limit", "max_concurrency"),
    [
        ("saleAmount", "desc", 1_000, 4),  # the 1,000th ties with about 60 others at 4,900 cents
        ("firstSaleAt", "asc", 1_000, 1),  # all nulls (2,943): ties by id only
        ("firstSaleAt", "desc", 2_500, 4),  # 2,057 sales, then nulls last
    ],
)
def test_top_customers_equal_the_ground_truth_sorted(
    dub: DubEmulator,
    monkeypatch: pytest.MonkeyPatch,
    sort_by: str,
    sort_order: str,
    limit: int,
    max_concurrency: int,
) -> None:
    hook = hook_for(dub, monkeypatch, max_concurrency)
    got = [c["id"] for c in hook.iter_customers(sort_by=sort_by, sort_order=sort_order, limit=limit)]
    assert got == truth(dub, sort_by, sort_order)[:limit]
    # a complete read of cursor sweeps: no offset page beyond the first
    assert not any("page" in r.query for r in dub.requests)
    if max_concurrency == 1:
        assert not any("sortBy" in r.query for r in dub.requests)
    assert len(dub.requests) <= len(dub.customer_ids()) // 100 + 3 * max_concurrency + 4


def test_a_limit_up_to_one_page_is_one_request(dub: DubEmulator, monkeypatch: pytest.MonkeyPatch) -> None:
    hook = hook_for(dub, monkeypatch, max_concurrency=4)
    got = list(hook.iter_customers(sort_by="saleAmount", limit=100, page_size=10))
    assert [r.query for r in dub.requests] == [{"sortBy": "saleAmount", "pageSize": "100"}]
    # Dub's own page: its tie order is its own, its keys are the top 100
    truth_amounts = sorted((c["saleAmount"] for c in dub.customers()), reverse=True)[:100]
    assert [c["saleAmount"] for c in got] == truth_amounts


def test_an_ordered_read_without_limit_still_fails_beyond_one_page(
    dub: DubEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    hook = hook_for(dub, monkeypatch)
    with pytest.raises(DubPaginationError, match="cannot be complete beyond one page"):
        next(hook.iter_customers(sort_by="saleAmount"))
    assert len(dub.requests) == 1


def test_the_operator_returns_the_top_thousand_by_sale_amount(
    dub: DubEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``max_records`` with ``sort_by`` above one page (as rendered from a template: strings)."""
    hook_for(dub, monkeypatch, max_concurrency=4)
    operator = DubListCustomersOperator(
        task_id="top", dub_conn_id="dub_top", sort_by="saleAmount", max_records="1000", page_size="100"
    )
    got = [c["id"] for c in operator.execute({})]  # type: ignore[arg-type]
    assert got == truth(dub, "saleAmount", "desc")[:1_000]


# -- customer_ids -----------------------------------------------------------------------------------------


def test_customer_ids_select_those_customers(dub: DubEmulator, monkeypatch: pytest.MonkeyPatch) -> None:
    hook = hook_for(dub, monkeypatch, max_concurrency=4)
    customers = dub.customers()
    wanted = [c["id"] for c in customers[::25]]  # 200 ids of every format
    us = {c["id"] for c in customers[::25] if c["country"] == "US"}
    assert {c["id"] for c in hook.iter_customers(customer_ids=wanted)} == set(wanted)
    assert {c["id"] for c in hook.iter_customers(customer_ids=",".join(wanted), country="US")} == us
    assert {c["id"] for c in hook.list_customers(customer_ids=wanted[:3])} == set(wanted[:3])
    assert all(r.query.get("customerIds") for r in dub.requests)
    dub.clear_requests()
    # Dub's count ignores customerIds: the hook counts them from a read of /customers instead
    assert hook.count_customers(customer_ids=wanted, country="US") == len(us)
    assert dub.request_count("/customers/count") == 0


def test_top_customers_among_customer_ids(dub: DubEmulator, monkeypatch: pytest.MonkeyPatch) -> None:
    hook = hook_for(dub, monkeypatch)
    wanted = {c["id"] for c in dub.customers()[::20]}  # 250 ids, the most one request takes
    got = [c["id"] for c in hook.iter_customers(customer_ids=sorted(wanted), sort_by="saleAmount", limit=150)]
    assert got == [i for i in truth(dub, "saleAmount", "desc") if i in wanted][:150]


# -- count_customers(group_by=...) ------------------------------------------------------------------------


def test_count_grouped_by_country(dub: DubEmulator, monkeypatch: pytest.MonkeyPatch) -> None:
    hook = hook_for(dub, monkeypatch)
    groups = hook.count_customers(group_by="country")
    assert isinstance(groups, list)
    assert {g["country"]: g["_count"] for g in groups} == Counter(c["country"] for c in dub.customers())
    with_country = [g["_count"] for g in groups if g["country"] is not None]
    assert with_country == sorted(with_country, reverse=True)  # Dub's order: most first


def test_count_grouped_by_link(dub: DubEmulator, monkeypatch: pytest.MonkeyPatch) -> None:
    hook = hook_for(dub, monkeypatch)
    groups = hook.count_customers(group_by="linkId", country="US")
    assert groups and all(set(g) == {"_count", "linkId", "shortLink", "url"} for g in groups)
    assert sum(g["_count"] for g in groups) <= hook.count_customers(country="US")


def test_count_grouped_by_partner_is_a_plain_count(dub: DubEmulator, monkeypatch: pytest.MonkeyPatch) -> None:
    hook = hook_for(dub, monkeypatch)
    assert hook.count_customers(group_by="partnerId") == hook.count_customers() == len(dub.customer_ids())


def test_grouping_by_a_filtered_field_warns_that_dub_drops_the_filter(
    dub: DubEmulator, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    hook = hook_for(dub, monkeypatch)
    capfd.readouterr()
    groups = hook.count_customers(group_by="country", country="US")
    assert len(groups) > 1  # every country, not only the US
    assert "Dub ignores the country filter of a count grouped by country" in "".join(capfd.readouterr())
    assert dub.requests[-1].query == {"country": "US", "groupBy": "country"}
