"""``/customers/count`` with ``groupBy``, and the ``customerIds`` filter, over real HTTP."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from airflow_provider_dub.testing import DubEmulator


@pytest.fixture(scope="module")
def dub() -> Iterator[DubEmulator]:
    with DubEmulator(customers=2000, seed=3) as emulator:
        yield emulator


def get(dub: DubEmulator, path: str, **params: Any) -> requests.Response:
    headers = {"Authorization": f"Bearer {dub.api_key}"}
    return requests.get(dub.url + path, headers=headers, params=params, timeout=10)


def count(dub: DubEmulator, **params: Any) -> Any:
    response = get(dub, "/customers/count", **params)
    assert response.status_code == 200, response.text
    return response.json()


def test_group_by_country(dub: DubEmulator) -> None:
    truth = dub.customers()
    groups = count(dub, groupBy="country")
    assert all(list(group) == ["_count", "country"] for group in groups)
    assert {g["country"]: g["_count"] for g in groups} == Counter(c["country"] for c in truth)
    # most first by the count of non-null countries: the null group (which counts 0 there) last
    assert groups[-1]["country"] is None
    counts = [g["_count"] for g in groups[:-1]]
    assert counts == sorted(counts, reverse=True)
    # the country filter is dropped; the others apply
    assert _same_groups(count(dub, groupBy="country", country="US"), groups)
    linked = next(c for c in truth if "partner" in c)
    on_link = Counter(c["country"] for c in truth if c.get("link", {}).get("id") == linked["link"]["id"])
    by_link = count(dub, groupBy="country", linkId=linked["link"]["id"], country="FR")
    assert {g["country"]: g["_count"] for g in by_link} == on_link


def _same_groups(one: list[dict[str, Any]], other: list[dict[str, Any]]) -> bool:
    """Equal groups, whatever the order of ties (Dub has no tie-breaker)."""
    return sorted(one, key=repr) == sorted(other, key=repr)


def test_group_by_link(dub: DubEmulator) -> None:
    truth = dub.customers()
    groups = count(dub, groupBy="linkId")
    assert all(list(group) == ["_count", "linkId", "shortLink", "url"] for group in groups)
    links = {c["link"]["id"]: c["link"] for c in truth if "link" in c}
    assert {g["linkId"]: g["_count"] for g in groups} == Counter(
        c["link"]["id"] for c in truth if "link" in c
    )
    assert all(g["shortLink"] == links[g["linkId"]]["shortLink"] for g in groups)
    assert all(g["url"] == links[g["linkId"]]["url"] for g in groups)
    counts = [g["_count"] for g in groups]
    assert counts == sorted(counts, reverse=True)  # no group for "no link"
    # the linkId filter is dropped; the others apply
    us = count(dub, groupBy="linkId", country="US", linkId=groups[0]["linkId"])
    assert {g["linkId"]: g["_count"] for g in us} == Counter(
        c["link"]["id"] for c in truth if "link" in c and c["country"] == "US"
    )


def test_group_by_partner_is_a_plain_count(dub: DubEmulator) -> None:
    partner = next(c for c in dub.customers() if "partner" in c)["partner"]["id"]
    assert count(dub, groupBy="partnerId") == 2000
    assert count(dub, groupBy="partnerId", partnerId=partner) == count(dub, partnerId=partner)
    assert 0 < count(dub, partnerId=partner) < 2000


def test_group_ties_have_no_stable_order() -> None:
    with DubEmulator(customers=300, seed=5) as dub:
        ids = sorted(dub.customer_ids())
        for index, customer_id in enumerate(ids):  # three countries, 100 each: all tied
            dub.update_customer(customer_id, country=("US", "GB", "DE")[index % 3])
        orders = {tuple(g["country"] for g in count(dub, groupBy="country")) for _ in range(12)}
        assert len(orders) > 1
        assert all(sorted(order) == ["DE", "GB", "US"] for order in orders)


@pytest.mark.parametrize("value", ["email", "Country", "", "partner"])
def test_group_by_other_values_are_refused(dub: DubEmulator, value: str) -> None:
    response = get(dub, "/customers/count", groupBy=value)
    assert response.status_code == 422
    assert response.json()["error"]["message"] == (
        'invalid_value: groupBy: Invalid option: expected one of "country"|"linkId"|"partnerId"'
    )


def test_customer_ids_filter(dub: DubEmulator) -> None:
    truth = sorted(dub.customers(), key=lambda c: c["id"])
    chosen = [c["id"] for c in truth[10:400:20]]
    listed = get(dub, "/customers", customerIds=",".join([*chosen, "cus_unknown"]), pageSize=100).json()
    assert sorted(c["id"] for c in listed) == chosen
    us = [c["id"] for c in truth[10:400:20] if c["country"] == "US"]
    both = get(dub, "/customers", customerIds=",".join(chosen), country="US", pageSize=100).json()
    assert sorted(c["id"] for c in both) == us  # ANDed with the other filters
    page = get(dub, "/customers", customerIds=",".join(chosen), sortOrder="asc", startingAfter=chosen[3])
    assert [c["id"] for c in page.json()] == chosen[4:]  # a cursor walk over them
    assert get(dub, "/customers", customerIds="").json() == []  # the id "": nothing
    # not in Dub's /customers/count schema: ignored there
    assert count(dub, customerIds=",".join(chosen)) == 2000
