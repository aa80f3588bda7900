"""Cursor pages are Prisma's ``cursor`` + ``skip: 1``: the silent skip of dub-api.md.

The walk starts AT the cursor row, keeps the rows matching the filters (the cursor
row only while it still matches) and skips the first. So a cursor customer that
left the filters costs the next real matching row, with a 200; an unfiltered read
loses nothing. Every check is over real HTTP, with the data changed in
``before_request`` between two pages of one walk.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests

from airflow_provider_dub.testing import DubEmulator
from airflow_provider_dub.testing.faults import RequestRecord

PAGE = 5
# (sortOrder, cursor parameter) -> whether the walk goes up the id order
DIRECTIONS = {
    ("asc", "startingAfter"): True,
    ("desc", "startingAfter"): False,
    ("desc", "endingBefore"): True,
    ("asc", "endingBefore"): False,
}

Customer = dict[str, Any]
# A filter case: (query parameters, does a customer match, change that makes it stop matching)
FilterCase = tuple[dict[str, str], Callable[[Customer], bool], dict[str, Any]]


@pytest.fixture()
def dub() -> Iterator[DubEmulator]:
    with DubEmulator(customers=2000, seed=3) as emulator:
        yield emulator


def get(dub: DubEmulator, **params: Any) -> requests.Response:
    headers = {"Authorization": f"Bearer {dub.api_key}"}
    return requests.get(dub.url + "/customers", headers=headers, params=params, timeout=10)


def ids_of(response: requests.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return [customer["id"] for customer in response.json()]


def beyond(ids: list[str], cursor: str, walk_up: bool) -> list[str]:
    """``ids`` (sorted) strictly past ``cursor`` in the walk's direction, nearest first."""
    return [i for i in ids if i > cursor] if walk_up else [i for i in reversed(ids) if i < cursor]


def in_page_order(walked: list[str], direction: str) -> list[str]:
    """A page's ids as served: endingBefore pages come back reversed (in ``sortOrder``)."""
    return walked if direction == "startingAfter" else walked[::-1]


def most_common_link(truth: list[Customer]) -> Customer:
    """A customer on the link (of a partner) with the most customers."""
    partnered = [c for c in truth if "partner" in c]
    counts: dict[str, int] = {}
    for customer in partnered:
        counts[customer["link"]["id"]] = counts.get(customer["link"]["id"], 0) + 1
    top = max(counts, key=lambda link_id: counts[link_id])
    return next(c for c in partnered if c["link"]["id"] == top)


def filter_case(dub: DubEmulator, truth: list[Customer], name: str) -> FilterCase:
    """Query parameters, a predicate on ground truth, and a change that leaves the filter."""
    if name == "country":
        return {"country": "US"}, lambda c: c["country"] == "US", {"country": "FR"}
    if name == "email":
        shared = "shared@example.com"
        for customer in sorted(truth, key=lambda c: c["id"])[100:1900:150]:  # 12 share an email
            customer.update(dub.update_customer(customer["id"], email=shared))
        return {"email": shared}, lambda c: c["email"] == shared, {"email": "moved@example.com"}
    if name == "search":
        # whole word "thomas" in name or email; the change removes it from both
        def has_thomas(c: Customer) -> bool:
            text = f"{c['name']} {c['email']}".lower().replace(".", " ").replace("@", " ")
            return "thomas" in text.replace("_", " ").split()

        return {"search": "thomas"}, has_thomas, {"name": "Zed Quux", "email": "zq@example.com"}
    linked = most_common_link(truth)
    other = next(c for c in truth if "partner" in c and c["partner"] != linked["partner"])
    if name == "linkId":
        link_id = linked["link"]["id"]
        return {"linkId": link_id}, lambda c: c.get("link", {}).get("id") == link_id, {"linkId": None}
    partner_id = linked["partner"]["id"]
    return (
        {"partnerId": partner_id},
        lambda c: c.get("partner", {}).get("id") == partner_id,
        {"partnerId": other["partner"]["id"]},
    )


@pytest.mark.parametrize("filter_name", ["country", "email", "search", "linkId", "partnerId"])
@pytest.mark.parametrize(("order", "direction"), list(DIRECTIONS))
def test_cursor_leaving_the_filter_loses_exactly_the_next_matching_row(
    dub: DubEmulator, filter_name: str, order: str, direction: str
) -> None:
    truth = dub.customers()
    params, matches, change = filter_case(dub, truth, filter_name)
    walk_up = DIRECTIONS[(order, direction)]
    before = sorted(c["id"] for c in truth if matches(c))
    assert len(before) >= 12
    start = before[1] if walk_up else before[-2]  # a matching cursor near the walk's start
    first = ids_of(get(dub, **params, sortOrder=order, pageSize=PAGE, **{direction: start}))
    assert first == in_page_order(beyond(before, start, walk_up)[:PAGE], direction)
    cursor = first[-1] if direction == "startingAfter" else first[0]  # the page's far end

    def leave_filter(record: RequestRecord) -> None:
        dub.update_customer(cursor, **change)

    dub.before_request(leave_filter)
    second = get(dub, **params, sortOrder=order, pageSize=PAGE, **{direction: cursor})
    dub.before_request(None)
    assert not matches(dub.get_customer(cursor))  # type: ignore[arg-type]  # it left the filter
    after = [customer_id for customer_id in before if customer_id != cursor]
    assert ids_of(second) == in_page_order(beyond(after, cursor, walk_up)[1 : PAGE + 1], direction)
    assert beyond(after, cursor, walk_up)[0] not in ids_of(second)  # lost, with a 200


@pytest.mark.parametrize(("order", "direction"), list(DIRECTIONS))
def test_unfiltered_cursor_walk_loses_nothing(dub: DubEmulator, order: str, direction: str) -> None:
    walk_up = DIRECTIONS[(order, direction)]
    ids = sorted(dub.customer_ids())
    cursor = ids[1000]

    def change_everything(record: RequestRecord) -> None:
        dub.update_customer(cursor, country="FR", name="Zed Quux", email="zq@example.com", linkId=None)

    dub.before_request(change_everything)
    page = ids_of(get(dub, sortOrder=order, pageSize=PAGE, **{direction: cursor}))
    dub.before_request(None)
    assert page == in_page_order(beyond(ids, cursor, walk_up)[:PAGE], direction)


def test_cursor_that_never_matched_is_not_an_error_but_drops_a_row(dub: DubEmulator) -> None:
    ids = sorted(dub.customer_ids())
    truth = dub.customers()
    cursor = next(c["id"] for c in truth if c["country"] != "US" and c["id"] > ids[500])
    us = sorted(c["id"] for c in truth if c["country"] == "US")
    page = get(dub, country="US", sortOrder="asc", startingAfter=cursor, pageSize=PAGE)
    assert page.status_code == 200
    assert ids_of(page) == beyond(us, cursor, True)[1 : PAGE + 1]


def test_cursor_existence_ignores_filters_but_a_deleted_cursor_is_422(dub: DubEmulator) -> None:
    cursor = sorted(dub.customer_ids())[700]
    assert get(dub, email="nobody@example.com", startingAfter=cursor).json() == []
    dub.delete_customers([cursor])
    response = get(dub, country="US", startingAfter=cursor)
    assert response.status_code == 422
    assert response.json()["error"]["message"] == "Invalid cursor: the provided ID does not exist."


def test_update_moves_a_customer_between_links_and_partners(dub: DubEmulator) -> None:
    truth = dub.customers()
    linked = most_common_link(truth)
    target = next(c for c in truth if "link" not in c)
    moved = dub.update_customer(target["id"], partnerId=linked["partner"]["id"])
    assert moved["link"] == linked["link"] and moved["partner"] == linked["partner"]
    by_link = ids_of(get(dub, linkId=linked["link"]["id"], pageSize=100))
    assert target["id"] in by_link
    assert dub.update_customer(target["id"], linkId=None).get("link") is None
    assert target["id"] not in ids_of(get(dub, linkId=linked["link"]["id"], pageSize=100))
    with pytest.raises(ValueError, match="unknown linkId"):
        dub.update_customer(target["id"], linkId="link_nope")
    with pytest.raises(ValueError, match="unknown partnerId"):
        dub.update_customer(target["id"], partnerId="pn_nope")
