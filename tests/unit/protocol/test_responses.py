"""Reading Dub's answers: the error envelope, customer pages and counts."""

from __future__ import annotations

import json

import pytest
from airflow.sdk.exceptions import AirflowException

from airflow_provider_dub.exceptions import (
    DubAPIError,
    DubBadRequestError,
    DubConflictError,
    DubConnectionError,
    DubError,
    DubExceededLimitError,
    DubForbiddenError,
    DubInvalidCursorError,
    DubInviteExpiredError,
    DubInvitePendingError,
    DubNotFoundError,
    DubRateLimitError,
    DubServerError,
    DubUnauthorizedError,
    DubUnprocessableEntityError,
)
from airflow_provider_dub.protocol.responses import (
    error_from_response,
    parse_count,
    parse_count_groups,
    parse_customer_page,
)

DOCS = "https://dub.co/docs/api-reference/errors"

#: code, HTTP status, a message Dub sends, the doc_url anchor, the class.
DUB_ERRORS = [
    (
        "bad_request",
        400,
        "Misconfigured authorization header. Did you forget to add 'Bearer '? Learn more: https://d.to/auth",
        "bad-request",
        DubBadRequestError,
    ),
    ("unauthorized", 401, "Unauthorized: Invalid API key.", "unauthorized", DubUnauthorizedError),
    ("forbidden", 403, "Unauthorized: Need higher plan.", "forbidden", DubForbiddenError),
    ("exceeded_limit", 403, "You've reached your usage limit.", "exceeded-limit", DubExceededLimitError),
    ("not_found", 404, "Program not found", "not-found", DubNotFoundError),
    ("conflict", 409, "A customer with this external ID already exists.", "conflict", DubConflictError),
    ("invite_pending", 409, "An invite is already pending.", "invite-pending", DubInvitePendingError),
    ("invite_expired", 410, "This invite has expired.", "invite-expired", DubInviteExpiredError),
    (
        "unprocessable_entity",
        422,
        "too_big: pageSize: Max page size is 100.",
        "unprocessable-entity",
        DubUnprocessableEntityError,
    ),
    ("rate_limit_exceeded", 429, "Too many requests.", "rate-limit_exceeded", DubRateLimitError),
    (
        "internal_server_error",
        500,
        "An internal server error occurred. Please contact our support if the problem persists.",
        "internal-server_error",
        DubServerError,
    ),
]


def envelope(code: str, message: str, anchor: str | None = None) -> str:
    anchor = anchor or code.replace("_", "-", 1)
    return json.dumps({"error": {"code": code, "message": message, "doc_url": f"{DOCS}#{anchor}"}})


# -- error_from_response ----------------------------------------------------------------------------------


@pytest.mark.parametrize("as_bytes", [False, True], ids=["str", "bytes"])
@pytest.mark.parametrize(
    ("code", "status", "message", "anchor", "cls"), DUB_ERRORS, ids=[e[0] for e in DUB_ERRORS]
)
def test_every_dub_error_code_maps_to_its_class(code, status, message, anchor, cls, as_bytes):
    body = envelope(code, message, anchor)
    err = error_from_response(status, body.encode() if as_bytes else body)
    assert type(err) is cls
    assert isinstance(err, DubAPIError)
    assert isinstance(err, DubError)
    assert isinstance(err, AirflowException)
    assert err.code == code
    assert err.message == message
    assert err.doc_url == f"{DOCS}#{anchor}"
    assert err.http_status == status
    assert str(status) in str(err)
    assert message in str(err)


def test_exceeded_limit_and_forbidden_share_403_but_not_a_class():
    forbidden = error_from_response(403, envelope("forbidden", "Unauthorized: Need higher plan."))
    exceeded = error_from_response(403, envelope("exceeded_limit", "Limit reached."))
    assert type(forbidden) is DubForbiddenError
    assert type(exceeded) is DubExceededLimitError


def test_conflict_and_invite_pending_share_409_but_not_a_class():
    assert type(error_from_response(409, envelope("conflict", "x"))) is DubConflictError
    assert type(error_from_response(409, envelope("invite_pending", "x"))) is DubInvitePendingError


@pytest.mark.parametrize(
    "message",
    [
        "Invalid cursor: the provided ID does not exist.",
        "Invalid cursor",
    ],
)
def test_invalid_cursor_422_has_its_own_class(message):
    err = error_from_response(422, envelope("unprocessable_entity", message))
    assert type(err) is DubInvalidCursorError
    assert isinstance(err, DubUnprocessableEntityError)
    assert err.code == "unprocessable_entity"
    assert err.message == message
    assert err.http_status == 422
    assert err.doc_url == f"{DOCS}#unprocessable-entity"


@pytest.mark.parametrize(
    "message",
    [
        "You cannot use both startingAfter and endingBefore at the same time.",
        "Cursor-based pagination only supports sorting by `createdAt`. Use offset-based pagination "
        "(page/pageSize) for other sort fields.",
        "You cannot use both page and startingAfter/endingBefore at the same time. Please use one "
        "pagination method.",
        "Page is too big (cannot be more than 100), recommend using cursor-based pagination instead.",
        'invalid_value: sortBy: Invalid option: expected one of "createdAt"|"saleAmount"|"firstSaleAt"'
        '|"subscriptionCanceledAt"',
    ],
)
def test_other_422s_are_not_invalid_cursor(message):
    err = error_from_response(422, envelope("unprocessable_entity", message))
    assert type(err) is DubUnprocessableEntityError
    assert err.message == message


HTML_502 = """<html>
<head><title>502 Bad Gateway</title></head>
<body>
<center><h1>502 Bad Gateway</h1></center>
<hr><center>cloudflare</center>
</body>
</html>
"""


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, DubBadRequestError),
        (401, DubUnauthorizedError),
        (403, DubForbiddenError),
        (404, DubNotFoundError),
        (409, DubConflictError),
        (410, DubInviteExpiredError),
        (422, DubUnprocessableEntityError),
        (429, DubRateLimitError),
        (500, DubServerError),
        (502, DubServerError),
        (503, DubServerError),
        (504, DubServerError),
    ],
)
@pytest.mark.parametrize(
    "body", [HTML_502, HTML_502.encode(), "", b""], ids=["html", "html-bytes", "empty", "empty-bytes"]
)
def test_non_json_bodies_give_the_class_of_the_status(status, cls, body):
    err = error_from_response(status, body)
    assert type(err) is cls
    assert err.http_status == status
    assert err.doc_url is None
    assert err.code  # never empty, so logs and callers can tell what happened
    assert str(status) in err.code
    assert err.message  # never empty
    if body:
        assert "502 Bad Gateway" in err.message
        assert "\n" not in err.message


def test_long_html_is_shortened():
    err = error_from_response(502, "<html>" + "x" * 10_000 + "</html>")
    assert type(err) is DubServerError
    assert 0 < len(err.message) <= 500


@pytest.mark.parametrize("status", [501, 505, 520, 524, 599])
def test_unknown_5xx_is_a_server_error(status):
    assert type(error_from_response(status, "upstream error")) is DubServerError


def test_unknown_4xx_without_envelope_is_a_generic_api_error():
    err = error_from_response(418, "I'm a teapot")
    assert type(err) is DubAPIError
    assert err.http_status == 418
    assert err.message == "I'm a teapot"


def test_unknown_code_falls_back_to_the_status_but_keeps_the_code():
    err = error_from_response(404, envelope("link_not_found", "Link not found."))
    assert type(err) is DubNotFoundError
    assert err.code == "link_not_found"
    assert err.message == "Link not found."


@pytest.mark.parametrize(
    "body",
    [
        '{"message": "boom"}',
        "[]",
        "null",
        '{"error": "boom"}',
        '"boom"',
        '{"error": {"code": "unauthorized"}}',
    ],
)
def test_json_without_a_usable_envelope_still_gives_a_message(body):
    err = error_from_response(401, body)
    assert type(err) is DubUnauthorizedError
    assert err.http_status == 401
    assert err.message


def test_body_that_is_not_utf8():
    err = error_from_response(503, b"\xff\xfe\x00garbage\x81")
    assert type(err) is DubServerError
    assert err.http_status == 503
    assert err.message


# -- parse_customer_page ----------------------------------------------------------------------------------

CUSTOMER = {
    "id": "cus_01K1ABCDEFGHJKMNPQRSTVWXYZ",
    "name": "Jane Doe",
    "email": "jane@example.com",
    "avatar": None,
    "externalId": "ext-1",
    "stripeCustomerId": None,
    "country": "US",
    "sales": 0,
    "saleAmount": 0,
    "createdAt": "2026-08-01T12:34:56.789Z",
    "firstSaleAt": None,
    "subscriptionCanceledAt": None,
}
LEGACY = {**CUSTOMER, "id": "clx1a2b3c4d5e6f7g8h9i0j1k"}  # a cuid, no cus_ prefix
EXPANDED = {
    **CUSTOMER,
    "id": "cus_abcdefghijklmnopqrstuvwx",
    "link": {
        "id": "link_1",
        "domain": "dub.sh",
        "key": "abc",
        "shortLink": "https://dub.sh/abc",
        "url": "https://x.test",
        "programId": None,
    },
    "programId": "prog_1",
    "partner": {"id": "pn_1", "name": "P", "email": None, "image": None},
}


@pytest.mark.parametrize("as_bytes", [False, True], ids=["str", "bytes"])
def test_customer_page(as_bytes):
    body = json.dumps([CUSTOMER, LEGACY, EXPANDED])
    page = parse_customer_page(body.encode() if as_bytes else body)
    assert page == [CUSTOMER, LEGACY, EXPANDED]
    assert [row["id"] for row in page] == [CUSTOMER["id"], LEGACY["id"], EXPANDED["id"]]


def test_empty_customer_page():
    assert parse_customer_page(b"[]") == []


def test_customer_page_keeps_unknown_fields():
    row = {**CUSTOMER, "somethingNew": {"a": 1}}
    assert parse_customer_page(json.dumps([row])) == [row]


@pytest.mark.parametrize(
    "body",
    [
        json.dumps([CUSTOMER, CUSTOMER])[:-20],
        '[{"id": "cus_1"',
        "[",
        "",
        "<html><body>502 Bad Gateway</body></html>",
    ],
    ids=["truncated", "truncated-row", "bracket", "empty", "html"],
)
def test_customer_page_that_is_not_json(body):
    with pytest.raises(DubConnectionError) as excinfo:
        parse_customer_page(body)
    assert "JSON" in str(excinfo.value)


@pytest.mark.parametrize(
    "body",
    [
        json.dumps({"error": {"code": "unauthorized", "message": "x"}}),
        json.dumps({"data": [CUSTOMER]}),
        json.dumps([1, 2, 3]),
        json.dumps([{"name": "no id"}]),
        json.dumps([CUSTOMER, "cus_2"]),
        json.dumps([CUSTOMER, None]),
        "null",
        "42",
        '"cus_1"',
    ],
    ids=["envelope", "wrapped", "ints", "no-id", "string-row", "null-row", "null", "int", "string"],
)
def test_customer_page_of_the_wrong_shape(body):
    with pytest.raises(DubConnectionError) as excinfo:
        parse_customer_page(body)
    assert "customer" in str(excinfo.value)


# -- parse_count ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("body", "expected"), [("42", 42), (b"0", 0), (b"1234567", 1234567), (" 7\n", 7)])
def test_count(body, expected):
    count = parse_count(body)
    assert count == expected
    assert type(count) is int


@pytest.mark.parametrize(
    "body", ["", '{"cou', "<html>502</html>", "4x"], ids=["empty", "truncated", "html", "junk"]
)
def test_count_that_is_not_json(body):
    with pytest.raises(DubConnectionError) as excinfo:
        parse_count(body)
    assert "JSON" in str(excinfo.value)


@pytest.mark.parametrize("body", ["4.2", '"42"', "true", "false", "null", "[]", "[42]", '{"count": 42}'])
def test_count_of_the_wrong_shape(body):
    with pytest.raises(DubConnectionError) as excinfo:
        parse_count(body)
    assert "integer" in str(excinfo.value)


# -- parse_count_groups -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("group_by", "groups"),
    [
        ("country", [{"_count": 40, "country": "US"}, {"_count": 3, "country": None}]),
        (
            "linkId",
            [{"_count": 7, "linkId": "link_1", "shortLink": "https://dub.sh/a", "url": "https://a.example"}],
        ),
        ("country", []),
    ],
)
def test_count_groups_are_returned_as_dub_sends_them(group_by, groups):
    assert parse_count_groups(json.dumps(groups).encode(), group_by) == groups


@pytest.mark.parametrize(
    "body",
    [
        b"42",  # a bare integer where groups were asked for
        b'{"_count": 1, "country": "US"}',
        b'[{"count": 1, "country": "US"}]',
        b'[{"_count": "1", "country": "US"}]',
        b'[{"_count": true, "country": "US"}]',
        b'[{"_count": 1}]',  # no country key
        b"[1, 2]",
    ],
)
def test_count_groups_of_another_shape_are_a_connection_error(body):
    with pytest.raises(DubConnectionError, match="count by country"):
        parse_count_groups(body, "country")


def test_count_groups_that_are_not_json():
    with pytest.raises(DubConnectionError, match="not valid JSON"):
        parse_count_groups(b"<html>", "country")
