"""The Dub API emulator, exercised over real HTTP with ``requests``.

Each behaviour checked here is one described in ``dub-api.md``: messages,
status codes, orderings, headers and the faults tests can inject.
"""

from __future__ import annotations

import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from typing import Any

import pytest
import requests

from airflow_provider_dub.testing import DubEmulator, FaultKind
from airflow_provider_dub.testing.faults import RequestRecord

RATE_LIMIT_HEADERS = ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset", "Retry-After")
ULID = re.compile(r"cus_[0-9A-HJKMNP-TV-Z]{25}")  # Dub's ULID: 26 characters minus the leading 0
RANDOM_ID = re.compile(r"cus_[0-9A-Za-z]{24}")
CUID = re.compile(r"c[0-9a-z]{24}")
TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")
BASE_KEYS = [
    "id",
    "name",
    "email",
    "avatar",
    "externalId",
    "stripeCustomerId",
    "country",
    "sales",
    "saleAmount",
    "createdAt",
    "firstSaleAt",
    "subscriptionCanceledAt",
]


@pytest.fixture(scope="module")
def dub() -> Iterator[DubEmulator]:
    """A read-only emulator shared by the tests that do not change data."""
    with DubEmulator(customers=2000, seed=3) as emulator:
        yield emulator


@pytest.fixture()
def small() -> Iterator[DubEmulator]:
    """A fresh emulator for tests that change data, faults or limits."""
    with DubEmulator(customers=300, seed=5) as emulator:
        yield emulator


def call(
    dub: DubEmulator,
    path: str = "/customers",
    key: str | None = None,
    headers: Mapping[str, str] | None = None,
    **params: Any,
) -> requests.Response:
    """GET ``path`` with the emulator's key (or ``key``) and ``params``."""
    sent = {"Authorization": f"Bearer {key or dub.api_key}"} if headers is None else headers
    return requests.get(dub.url + path, headers=sent, params=params, timeout=10)


def error_of(response: requests.Response) -> dict[str, str]:
    """The ``error`` object of an error envelope."""
    body = response.json()
    assert set(body) == {"error"}
    return body["error"]


def all_pages(dub: DubEmulator, **params: Any) -> list[dict[str, Any]]:
    """Every matching row, in ascending id order, by cursor pages only.

    A first page without a cursor would be in createdAt order (Dub's trap), so the
    walk starts at the smallest id. A filtered walk loses the first matching row
    when that id does not match (the silent skip), so the rows below the first
    one read come from a descending page started at it, which matches.
    """
    rows: list[dict[str, Any]] = []
    cursor = min(dub.customer_ids())
    while True:
        page = call(dub, **{"pageSize": 100, **params, "sortOrder": "asc", "startingAfter": cursor}).json()
        rows += page
        if len(page) < 100:
            break
        cursor = page[-1]["id"]
    if not rows:  # at most one matching row, lost or absent: offset mode finds it
        return call(dub, **params).json()
    below = call(dub, **{**params, "sortOrder": "desc", "startingAfter": rows[0]["id"]}).json()
    return below[::-1] + rows


# ----- authentication, plans, rate limits ----------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "status", "code", "message"),
    [
        ({}, 401, "unauthorized", "Missing Authorization header."),
        (
            {"Authorization": "Token abc"},
            400,
            "bad_request",
            "Misconfigured authorization header. Did you forget to add 'Bearer '? "
            "Learn more: https://d.to/auth",
        ),
        ({"Authorization": "Bearer dub_unknown"}, 401, "unauthorized", "Unauthorized: Invalid API key."),
    ],
)
def test_auth_errors_carry_no_rate_limit_headers(
    dub: DubEmulator, headers: dict[str, str], status: int, code: str, message: str
) -> None:
    response = call(dub, headers=headers)
    assert response.status_code == status
    assert error_of(response) == {
        "code": code,
        "message": message,
        "doc_url": "https://dub.co/docs/api-reference/errors#" + code.replace("_", "-", 1),
    }
    assert not any(name in response.headers for name in RATE_LIMIT_HEADERS)


def test_expired_key(small: DubEmulator) -> None:
    response = call(small, key=small.add_key(expired=True))
    assert response.status_code == 401
    assert error_of(response)["message"] == "Unauthorized: Access token expired."


def test_listing_needs_business_plan_but_count_does_not(small: DubEmulator) -> None:
    free_key = small.add_key(plan="free")
    response = call(small, key=free_key)
    assert response.status_code == 403
    assert error_of(response)["code"] == "forbidden"
    assert error_of(response)["message"] == "Unauthorized: Need higher plan."
    assert response.headers["X-RateLimit-Limit"] == "60"
    count = call(small, "/customers/count", key=free_key)
    assert count.status_code == 200
    assert count.json() == 300
    assert call(small, key=small.add_key(plan="enterprise")).status_code == 200


def test_success_has_no_rate_limit_headers_but_other_errors_do(dub: DubEmulator) -> None:
    ok = call(dub, pageSize=1)
    assert ok.status_code == 200
    assert ok.headers["Content-Type"] == "application/json"
    assert not any(name in ok.headers for name in RATE_LIMIT_HEADERS)
    missing = call(dub, "/links")
    assert missing.status_code == 404
    assert error_of(missing)["doc_url"].endswith("#not-found")
    assert all(name in missing.headers for name in RATE_LIMIT_HEADERS)


def test_rate_limited_envelope() -> None:
    """The 429's envelope; its headers and the window's arithmetic: test_ratelimit.py."""
    minute = 29_833_334 * 60  # the start of an epoch minute
    with DubEmulator(customers=10, rate_limit=3, clock=lambda: minute + 20.5) as dub:
        assert [call(dub, "/customers/count").status_code for _ in range(3)] == [200, 200, 200]
        limited = call(dub)
        assert limited.status_code == 429
        assert error_of(limited) == {
            "code": "rate_limit_exceeded",
            "message": "Too many requests.",
            "doc_url": "https://dub.co/docs/api-reference/errors#rate-limit_exceeded",
        }
        assert limited.headers["Retry-After"] == str((minute + 60) * 1000)  # ms


# ----- validation and pagination errors ------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"pageSize": "abc"}, "invalid_type: pageSize: Page size must be a number."),
        ({"pageSize": "1.5"}, "invalid_type: pageSize: Page size must be an integer."),
        ({"pageSize": "0"}, "too_small: pageSize: Page size must be greater than 0."),
        ({"pageSize": "101"}, "too_big: pageSize: Max page size is 100."),
        ({"page": "x"}, "invalid_type: page: Page must be a number."),
        ({"page": "abc"}, "invalid_type: page: Page must be a number."),
        ({"page": "2.5"}, "invalid_type: page: Page must be an integer."),
        ({"page": "0"}, "too_small: page: Page must be greater than 0."),
        (
            {"sortBy": "name"},
            'invalid_value: sortBy: Invalid option: expected one of "createdAt"|"saleAmount"|'
            '"firstSaleAt"|"subscriptionCanceledAt"',
        ),
        ({"sortOrder": "DESC"}, 'invalid_value: sortOrder: Invalid option: expected one of "asc"|"desc"'),
        (
            {"includeExpandedFields": "1"},
            'invalid_value: includeExpandedFields: Invalid option: expected one of "true"|"false"',
        ),
        (
            {"includeExpandedFields": ""},
            'invalid_value: includeExpandedFields: Invalid option: expected one of "true"|"false"',
        ),
        # only the first problem is reported, in the schema's order:
        # includeExpandedFields, sortBy, sortOrder, page, pageSize
        (
            {"pageSize": "500", "page": "0", "sortOrder": "x", "sortBy": "x", "includeExpandedFields": "1"},
            'invalid_value: includeExpandedFields: Invalid option: expected one of "true"|"false"',
        ),
        (
            {"pageSize": "500", "page": "0", "sortOrder": "x", "sortBy": "x"},
            'invalid_value: sortBy: Invalid option: expected one of "createdAt"|"saleAmount"|'
            '"firstSaleAt"|"subscriptionCanceledAt"',
        ),
        (
            {"pageSize": "500", "page": "0", "sortOrder": "x"},
            'invalid_value: sortOrder: Invalid option: expected one of "asc"|"desc"',
        ),
        ({"pageSize": "500", "page": "abc"}, "invalid_type: page: Page must be a number."),
        ({"pageSize": "x", "page": "1.5"}, "invalid_type: page: Page must be an integer."),
        ({"pageSize": "500", "page": "1"}, "too_big: pageSize: Max page size is 100."),
        # validation comes before the pagination rules
        (
            {"startingAfter": "a", "endingBefore": "b", "page": "0"},
            "too_small: page: Page must be greater than 0.",
        ),
        (
            {"startingAfter": "a", "endingBefore": "b"},
            "You cannot use both startingAfter and endingBefore at the same time.",
        ),
        (
            {"startingAfter": "a", "sortBy": "saleAmount"},
            "Cursor-based pagination only supports sorting by `createdAt`. "
            "Use offset-based pagination (page/pageSize) for other sort fields.",
        ),
        (
            {"endingBefore": "a", "page": "2"},
            "You cannot use both page and startingAfter/endingBefore at the same time. "
            "Please use one pagination method.",
        ),
        (
            {"startingAfter": "a", "page": "1"},  # page=1 too
            "You cannot use both page and startingAfter/endingBefore at the same time. "
            "Please use one pagination method.",
        ),
        (
            {"page": "1001"},
            "Page is too big (cannot be more than 1000), recommend using cursor-based pagination instead.",
        ),
        ({"startingAfter": "cus_gone"}, "Invalid cursor: the provided ID does not exist."),
    ],
)
def test_unprocessable_messages(dub: DubEmulator, params: dict[str, Any], message: str) -> None:
    response = call(dub, **params)
    assert response.status_code == 422
    assert error_of(response) == {
        "code": "unprocessable_entity",
        "message": message,
        "doc_url": "https://dub.co/docs/api-reference/errors#unprocessable-entity",
    }
    assert all(name in response.headers for name in RATE_LIMIT_HEADERS)


def test_valid_edge_values(dub: DubEmulator) -> None:
    assert len(call(dub, pageSize="100", page="1000").json()) == 0  # the cap itself is allowed
    assert len(call(dub, pageSize="1e1", includeExpandedFields="TRUE").json()) == 10
    assert len(call(dub, pageSize="3", includeExpandedFields="False").json()[0]) == 12


def test_page_cap_is_1000_by_default_and_configurable() -> None:
    with DubEmulator(customers=10) as dub:
        assert dub.page_cap == 1000
    with DubEmulator(customers=10, page_cap=5) as dub:
        assert call(dub, page="5").json() == []
        assert error_of(call(dub, page="6"))["message"] == (
            "Page is too big (cannot be more than 5), recommend using cursor-based pagination instead."
        )


def test_repeated_key_last_value_wins_and_unknown_keys_are_ignored(dub: DubEmulator) -> None:
    url = dub.url + "/customers?pageSize=500&pageSize=3&sortOrder=DESC&sortOrder=asc&colour=blue"
    response = requests.get(url, headers={"Authorization": f"Bearer {dub.api_key}"}, timeout=10)
    assert response.status_code == 200
    rows = response.json()
    assert len(rows) == 3
    assert rows[0]["createdAt"] == min(c["createdAt"] for c in dub.customers())


def test_program_not_found_comes_before_pagination_and_cursor_checks() -> None:
    with DubEmulator(customers=10, default_program=False) as dub:
        cases: list[dict[str, Any]] = [
            {"programId": "prog_x"},
            {"partnerId": "pn_x", "startingAfter": "x"},
            {"programId": "x", "startingAfter": "x", "endingBefore": "y"},
            {"programId": "x", "page": "1001"},
        ]
        for params in cases:
            response = call(dub, **params)
            assert response.status_code == 404
            assert error_of(response)["message"] == "Program not found"
        assert call(dub, "/customers/count", programId="x").status_code == 404


# ----- orderings ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("order", "direction"),
    [("desc", "startingAfter"), ("asc", "startingAfter"), ("desc", "endingBefore"), ("asc", "endingBefore")],
)
def test_cursor_pages_follow_id_order(dub: DubEmulator, order: str, direction: str) -> None:
    ids = sorted(dub.customer_ids())
    cursor = ids[1000]
    cursor_param: dict[str, Any] = {direction: cursor}
    page = [c["id"] for c in call(dub, sortOrder=order, pageSize=7, **cursor_param).json()]
    below, above = ids[993:1000], ids[1001:1008]
    expected = {
        ("desc", "startingAfter"): below[::-1],  # the largest ids < cursor, descending
        ("asc", "startingAfter"): above,  # the smallest ids > cursor, ascending
        ("desc", "endingBefore"): above[::-1],  # the smallest ids > cursor, in desc order
        ("asc", "endingBefore"): below,  # the largest ids < cursor, ascending
    }[(order, direction)]
    assert page == expected


def test_cursor_walk_reads_everything_in_id_order(dub: DubEmulator) -> None:
    assert [c["id"] for c in all_pages(dub)] == sorted(dub.customer_ids())
    newest = call(dub, pageSize=1).json()[0]["id"]  # createdAt order: not the largest id
    walk, cursor = [], newest
    while page := call(dub, startingAfter=cursor).json():
        walk += [c["id"] for c in page]
        cursor = walk[-1]
    assert walk == sorted((i for i in dub.customer_ids() if i < newest), reverse=True)


def test_offset_mode_orders_by_sort_field(dub: DubEmulator) -> None:
    truth = dub.customers()
    page = call(dub, pageSize=100).json()
    assert [c["createdAt"] for c in page] == sorted((c["createdAt"] for c in truth), reverse=True)[:100]
    page = call(dub, sortBy="saleAmount", sortOrder="desc", page=2, pageSize=50).json()
    assert [c["saleAmount"] for c in page] == sorted((c["saleAmount"] for c in truth), reverse=True)[50:100]


def test_nulls_sort_lowest(dub: DubEmulator) -> None:
    nulls = sum(1 for c in dub.customers() if c["firstSaleAt"] is None)
    assert 0 < nulls < 2000
    first_asc = call(dub, sortBy="firstSaleAt", sortOrder="asc", pageSize=5).json()
    assert all(c["firstSaleAt"] is None for c in first_asc)
    first_desc = call(dub, sortBy="firstSaleAt", pageSize=5).json()
    assert all(c["firstSaleAt"] is not None for c in first_desc)
    last_desc_page = call(dub, sortBy="firstSaleAt", pageSize=100, page=20).json()
    assert last_desc_page[-1]["firstSaleAt"] is None


def test_ties_have_no_stable_order(dub: DubEmulator) -> None:
    # most customers have saleAmount 0: one big tie, read in a different order each time
    pages = {tuple(c["id"] for c in call(dub, sortBy="saleAmount", sortOrder="asc").json()) for _ in range(5)}
    assert len(pages) > 1


def test_data_has_three_id_formats_and_backdated_imports(dub: DubEmulator) -> None:
    truth = dub.customers()
    assert all(
        ULID.fullmatch(c["id"]) or RANDOM_ID.fullmatch(c["id"]) or CUID.fullmatch(c["id"]) for c in truth
    )
    assert all(any(p.fullmatch(c["id"]) for c in truth) for p in (ULID, RANDOM_ID, CUID))
    # the ULID is written without its leading 0: 25 characters, never 26, for ids and links alike
    assert not any(re.fullmatch(r"cus_[0-9A-HJKMNP-TV-Z]{26}", c["id"]) for c in truth)
    assert all(len(c["link"]["id"]) == len("link_") + 25 for c in truth if "link" in c)
    assert all(len(c["partner"]["id"]) == len("pn_") + 25 for c in truth if "partner" in c)
    assert all(TIME.fullmatch(c["createdAt"]) for c in truth)
    created = [c["createdAt"] for c in truth]
    assert len(set(created)) < len(created)  # batch imports share a createdAt to the ms
    # an import: a ULID (from the last months) but a createdAt at least a year older
    assert any(ULID.fullmatch(c["id"]) and c["createdAt"] < "2025-11-01" for c in truth)
    paying = [c for c in truth if c["sales"] > 0]
    assert 0.25 < len(paying) / len(truth) < 0.55
    assert all(c["saleAmount"] > 0 and c["firstSaleAt"] for c in paying)


# ----- filters ------------------------------------------------------------------------------------


def test_exact_filters_and_precedence(dub: DubEmulator) -> None:
    truth = [c for c in dub.customers() if c["email"]]
    one, other = truth[0], truth[1]
    assert [c["id"] for c in call(dub, email=one["email"]).json()] == [one["id"]]
    assert [c["id"] for c in call(dub, externalId=other["externalId"]).json()] == [other["id"]]
    both = call(dub, email=one["email"], externalId=other["externalId"]).json()
    assert [c["id"] for c in both] == [one["id"]]  # email beats externalId
    beats_search = call(dub, externalId=other["externalId"], search=one["email"]).json()
    assert [c["id"] for c in beats_search] == [other["id"]]  # externalId beats search
    assert call(dub, search=one["email"]).json()[0]["id"] == one["id"]  # "@": exact email
    assert call(dub, email=one["email"].upper()).json() == []


def test_search_is_whole_word_and_ored(dub: DubEmulator) -> None:
    truth = dub.customers()
    found = {c["id"] for c in all_pages(dub, search="SMITH")}
    assert found == {
        c["id"] for c in truth if "smith" in re.split(r"[^0-9a-z]+", f"{c['name']} {c['email']}".lower())
    }
    assert found
    assert {c["id"] for c in all_pages(dub, search="smit")} == set()  # no prefix match
    either = {c["id"] for c in all_pages(dub, search="smith (jones)*")}
    jones = {c["id"] for c in all_pages(dub, search="jones")}
    assert either == found | jones
    assert call(dub, "/customers/count", search="smith jones").json() == len(either)


def test_country_link_partner_program_filters(dub: DubEmulator) -> None:
    truth = dub.customers()
    us = [c for c in truth if c["country"] == "US"]
    assert call(dub, "/customers/count", country="US").json() == len(us)
    linked = next(c for c in truth if "partner" in c)
    link_id, partner_id = linked["link"]["id"], linked["partner"]["id"]
    by_link = {c["id"] for c in truth if c.get("link", {}).get("id") == link_id}
    assert {c["id"] for c in all_pages(dub, linkId=link_id)} == by_link
    assert {c["id"] for c in all_pages(dub, partnerId=partner_id)} == by_link
    us_link = {c["id"] for c in all_pages(dub, linkId=link_id, country="US")}
    assert us_link == {i for i in by_link if dub.get_customer(i)["country"] == "US"}  # type: ignore[index]
    in_program = {c["id"] for c in truth if c.get("programId")}
    assert 0 < len(in_program) < len(truth)
    assert {c["id"] for c in all_pages(dub, programId="ignored")} == in_program


def test_cursor_row_not_matching_the_filters_costs_the_next_row(dub: DubEmulator) -> None:
    truth = sorted(dub.customers(), key=lambda c: c["id"])
    cursor = next(c for c in truth if c["country"] != "US")["id"]
    page = call(dub, country="US", sortOrder="asc", startingAfter=cursor, pageSize=5).json()
    expected = [c["id"] for c in truth if c["id"] > cursor and c["country"] == "US"][1:6]
    assert [c["id"] for c in page] == expected  # more in test_cursor_skip.py


# ----- response shape -------------------------------------------------------------------------------


def test_keys_in_order_and_expanded_keys_absent_not_null(dub: DubEmulator) -> None:
    plain = call(dub).json()
    assert all(list(c) == BASE_KEYS for c in plain)
    expanded = all_pages(dub, includeExpandedFields="true")
    assert all(list(c)[:12] == BASE_KEYS for c in expanded)
    without_link = [c for c in expanded if "link" not in c]
    assert without_link and all(len(c) == 12 for c in without_link)
    with_all = next(c for c in expanded if "discount" in c)
    assert list(with_all)[12:] == ["link", "programId", "partner", "discount"]
    assert set(with_all["link"]) == {"id", "domain", "key", "shortLink", "url", "programId"}
    assert {"id", "name", "email", "image"} == set(with_all["partner"])
    discounts = [c["discount"] for c in expanded if "discount" in c]
    assert all(
        list(d) == ["id", "amount", "type", "maxDuration", "couponId", "couponTestId", "description"]
        for d in discounts
    )  # never partnersCount; description always there
    assert all(isinstance(d["description"], str) and d["type"] in ("percentage", "flat") for d in discounts)
    assert any("link" in c and "partner" not in c for c in expanded)  # links outside the program
    by_id = {c["id"]: c for c in dub.customers()}
    assert all(c == by_id[c["id"]] for c in expanded if c["name"] == by_id[c["id"]]["name"])


def test_anonymous_customers_get_a_new_random_name_each_time() -> None:
    with DubEmulator(customers=5, anonymous_share=1.0) as dub:
        assert all(c["name"] is None and c["email"] is None for c in dub.customers())
        names = {call(dub, pageSize=1).json()[0]["name"] for _ in range(6)}
        assert len(names) > 1
        assert all(len(name.split(" ")) == 3 for name in names)


# ----- faults -----------------------------------------------------------------------------------------


def test_server_errors_are_fifo_and_recorded(small: DubEmulator) -> None:
    small.inject(FaultKind.SERVER_ERROR, times=1)
    small.inject(FaultKind.SERVER_ERROR, times=2, status=503)
    first = call(small, "/customers/count")
    assert first.status_code == 500
    assert error_of(first) == {
        "code": "internal_server_error",
        "message": "An internal server error occurred. Please contact our support if the problem persists.",
        "doc_url": "https://dub.co/docs/api-reference/errors#internal-server_error",
    }
    assert "Retry-After" in first.headers
    assert [call(small).status_code for _ in range(3)] == [503, 503, 200]
    faults = [(r.status, r.fault) for r in small.requests]
    assert faults == [(500, "server_error"), (503, "server_error"), (503, "server_error"), (200, None)]
    with pytest.raises(ValueError):
        small.inject(FaultKind.SERVER_ERROR, status=504)


def test_injected_rate_limit(small: DubEmulator) -> None:
    small.inject(FaultKind.RATE_LIMIT, times=2)
    responses = [call(small) for _ in range(3)]
    assert [r.status_code for r in responses] == [429, 429, 200]
    assert responses[0].headers["X-RateLimit-Remaining"] == "0"
    assert responses[0].headers["X-RateLimit-Limit"] == "1200"
    assert int(responses[0].headers["Retry-After"]) > time.time() * 1000


def test_drop_and_truncate(small: DubEmulator) -> None:
    small.inject(FaultKind.DROP)
    small.inject(FaultKind.TRUNCATE)
    with requests.Session() as session:
        headers = {"Authorization": f"Bearer {small.api_key}"}
        with pytest.raises(requests.ConnectionError):
            session.get(small.url + "/customers", headers=headers, timeout=5)
        with pytest.raises(requests.exceptions.ChunkedEncodingError):
            session.get(small.url + "/customers", headers=headers, timeout=5)
        assert session.get(small.url + "/customers", headers=headers, timeout=5).status_code == 200
    assert [(r.status, r.fault) for r in small.requests] == [(0, "drop"), (0, "truncate"), (200, None)]


def test_slow_and_latency(small: DubEmulator) -> None:
    small.inject(FaultKind.SLOW, delay=0.3)
    started = time.monotonic()
    assert call(small).status_code == 200
    assert time.monotonic() - started >= 0.3
    small.latency = 0.2
    started = time.monotonic()
    call(small, "/customers/count")
    assert time.monotonic() - started >= 0.2
    assert small.requests[0].fault == "slow"


def test_faults_skip_auth_failures_and_other_paths(small: DubEmulator) -> None:
    small.inject(FaultKind.SERVER_ERROR)
    assert call(small, key="dub_nope").status_code == 401
    assert call(small, "/other").status_code == 404
    assert call(small).status_code == 500


def test_random_faults_are_seeded() -> None:
    def statuses(seed: int) -> list[int]:
        with DubEmulator(customers=5) as dub:
            dub.random_faults({FaultKind.SERVER_ERROR: 0.4}, seed=seed)
            result = [call(dub, "/customers/count").status_code for _ in range(20)]
            dub.random_faults({})
            assert call(dub, "/customers/count").status_code == 200
            return result

    first = statuses(7)
    assert first == statuses(7)
    assert {500, 200} == set(first)


# ----- data changes during reads ------------------------------------------------------------------


def test_before_request_callback_runs_before_serving(small: DubEmulator) -> None:
    page = call(small, pageSize=10, sortOrder="asc", startingAfter=min(small.customer_ids())).json()
    seen: list[RequestRecord] = []

    def delete_cursor(record: RequestRecord) -> None:
        seen.append(record)
        small.delete_customers([page[-1]["id"]])

    small.before_request(delete_cursor)
    response = call(small, sortOrder="asc", startingAfter=page[-1]["id"])
    small.before_request(None)
    assert error_of(response)["message"] == "Invalid cursor: the provided ID does not exist."
    assert seen[0].status == 0 and seen[0].query["startingAfter"] == page[-1]["id"]
    assert small.requests[-1].status == 422


def test_add_delete_update_are_visible(small: DubEmulator) -> None:
    added = small.add_customers(2)
    newest = call(small, pageSize=2).json()
    assert {c["id"] for c in newest} == {c["id"] for c in added}
    assert all(ULID.fullmatch(c["id"]) for c in added)  # 25 characters
    imported = small.add_customers(3, imported=True, created_at="2024-01-02T03:04:05.678Z")
    assert {c["createdAt"] for c in imported} == {"2024-01-02T03:04:05.678Z"}
    assert min(c["id"] for c in imported) > "cus_1M"  # a fresh ULID (2026) despite the old createdAt
    assert call(small, "/customers/count").json() == 305
    gone = small.delete_random(4, rng_seed=1)
    small.delete_customers([added[0]["id"], "cus_unknown"])
    assert call(small, "/customers/count").json() == 300
    assert not (set(gone) | {added[0]["id"]}) & small.customer_ids()
    assert small.get_customer(added[0]["id"]) is None
    target = added[1]["id"]
    updated = small.update_customer(target, sales=3, saleAmount=1999, name="Zed Quux")
    assert updated["firstSaleAt"] is not None
    served = (
        call(small, email=updated["email"]).json() if updated["email"] else call(small, search="quux").json()
    )
    assert served[0]["sales"] == 3 and served[0]["name"] == "Zed Quux"
    by_amount = call(small, sortBy="saleAmount", sortOrder="asc", search="quux").json()
    assert [c["saleAmount"] for c in by_amount] == [1999]
    assert [c["id"] for c in call(small, search="quux").json()] == [target]


def test_concurrent_keep_alive_sessions(small: DubEmulator) -> None:
    errors: list[BaseException] = []

    def reader() -> None:
        try:
            with requests.Session() as session:
                session.headers["Authorization"] = f"Bearer {small.api_key}"
                for _ in range(5):
                    assert session.get(small.url + "/customers", timeout=10).status_code == 200
        except BaseException as error:  # reported below
            errors.append(error)

    threads = [threading.Thread(target=reader) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert small.request_count() == 100


def test_same_seed_same_data() -> None:
    one, two, other = (
        DubEmulator(customers=200, seed=9),
        DubEmulator(customers=200, seed=9),
        DubEmulator(200, 10),
    )
    assert one.customers() == two.customers()
    assert one.api_key == two.api_key and re.fullmatch(r"dub_[0-9A-Za-z]{24}", one.api_key)
    assert one.customer_ids() != other.customer_ids()
    with one:
        assert one.airflow_conn_json() == (
            f'{{"conn_type": "dub", "host": "{one.url}", "password": "{one.api_key}"}}'
        )
        assert not one.url.endswith("/")


def test_command_line_serves_and_prints_url() -> None:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "airflow_provider_dub.testing",
            "--customers",
            "50",
            "--port",
            "0",
            "--seed",
            "2",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        lines = [process.stdout.readline() for _ in range(3)]
        url = re.search(r"http://127\.0\.0\.1:\d+", lines[0])
        assert url is not None
        key = re.search(r"dub_[0-9A-Za-z]{24}", lines[1])
        assert key is not None
        assert lines[2].startswith("AIRFLOW_CONN_DUB_DEFAULT='{")
        count = requests.get(
            url.group(0) + "/customers/count", headers={"Authorization": f"Bearer {key.group(0)}"}, timeout=5
        )
        assert count.json() == 50
    finally:
        process.terminate()
        assert process.wait(timeout=10) == 0
