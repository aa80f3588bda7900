"""DubHook over HTTP, with requests-mock and a fake clock: no network, no database, no real sleeping."""

from __future__ import annotations

import importlib.metadata
import json
import logging
from email.utils import formatdate
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests
import structlog

import airflow_provider_dub
from airflow_provider_dub.exceptions import (
    DubAPIError,
    DubBadRequestError,
    DubConnectionError,
    DubError,
    DubForbiddenError,
    DubInvalidCursorError,
    DubNotFoundError,
    DubPaginationError,
    DubRateLimitError,
    DubServerError,
    DubUnauthorizedError,
    DubUnprocessableEntityError,
    DubValidationError,
)
from airflow_provider_dub.hooks import dub as dub_module
from airflow_provider_dub.hooks.dub import DubHook
from airflow_provider_dub.protocol.pacer import WINDOW_SECONDS, forget_pacers

KEY = "dub_testkey123456789012345678"
BASE = "https://api.example.test"
CUSTOMERS = f"{BASE}/customers"
COUNT = f"{BASE}/customers/count"
PAGE = [
    {"id": "cus_3", "name": "C", "email": "c@example.com", "createdAt": "2026-08-03T00:00:00.000Z"},
    {"id": "cus_2", "name": "B", "email": "b@example.com", "createdAt": "2026-08-02T00:00:00.000Z"},
    {"id": "cus_1", "name": "A", "email": None, "createdAt": "2026-08-01T00:00:00.000Z"},
]
DOCS = "https://dub.co/docs/api-reference/errors"
#: leave this field out of the connection
_OMIT = object()


def envelope(code: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "doc_url": f"{DOCS}#{code.replace('_', '-', 1)}"}}


RATE_LIMITED = envelope("rate_limit_exceeded", "Too many requests.")
SERVER_ERROR = envelope(
    "internal_server_error",
    "An internal server error occurred. Please contact our support if the problem persists.",
)


class FakeClock:
    """Stands in for the ``time`` module inside the hook: sleeping records the wait and moves time on."""

    def __init__(self) -> None:
        self.wall = 1_790_000_000.0
        self.mono = 5_000.0
        self.sleeps: list[float] = []

    def time(self) -> float:
        return self.wall

    def monotonic(self) -> float:
        return self.mono

    def sleep(self, seconds: float) -> None:
        assert seconds >= 0
        self.sleeps.append(seconds)
        self.wall += seconds
        self.mono += seconds

    def epoch_ms(self, after: float) -> str:
        """Dub's ``Retry-After``: the end of the window, Unix time in milliseconds."""
        return str(int(self.wall * 1000 + after * 1000))


@pytest.fixture(autouse=True)
def _fresh_pacers():
    """Every test starts with no requests in the key's shared window (the fake clock restarts)."""
    forget_pacers()
    yield
    forget_pacers()


@pytest.fixture
def clock(monkeypatch) -> FakeClock:
    fake = FakeClock()
    monkeypatch.setattr(dub_module, "time", fake)
    return fake


@pytest.fixture
def make_hook(monkeypatch, clock):
    """Set the ``dub_test`` connection through its env var and return a hook on it."""

    def _make(
        *, extra: dict[str, Any] | None = None, hook_kwargs: dict[str, Any] | None = None, **fields: Any
    ):
        conn: dict[str, Any] = {"conn_type": "dub", "host": BASE, "password": KEY, "extra": extra or {}}
        conn.update(fields)
        conn = {k: v for k, v in conn.items() if v is not _OMIT}
        monkeypatch.setenv("AIRFLOW_CONN_DUB_TEST", json.dumps(conn))
        return DubHook("dub_test", **(hook_kwargs or {}))

    return _make


@pytest.fixture
def hook(make_hook) -> DubHook:
    return make_hook()


def sent_query(request) -> dict[str, str]:
    """The query a request carried, case preserved (requests-mock's ``qs`` lower-cases values)."""
    pairs = parse_qsl(urlsplit(request.url).query, keep_blank_values=True)
    query = dict(pairs)
    assert len(query) == len(pairs), f"repeated query keys: {pairs}"
    return query


def _backoff_bounds(attempt: int) -> tuple[float, float]:
    ceiling = min(30.0, 0.5 * 2 ** (attempt - 1))
    return ceiling / 2, ceiling


def assert_backed_off(sleeps: list[float]) -> None:
    """Each wait lies within the jittered exponential backoff of its attempt."""
    for attempt, slept in enumerate(sleeps, start=1):
        low, high = _backoff_bounds(attempt)
        assert low <= slept <= high


# -- what goes on the wire --------------------------------------------------------------------------------


def test_request_carries_bearer_key_and_user_agent(hook, requests_mock):
    requests_mock.get(CUSTOMERS, json=PAGE)
    hook.list_customers()
    request = requests_mock.last_request
    assert request.headers["Authorization"] == f"Bearer {KEY}"
    assert request.headers["User-Agent"] == f"airflow-provider-dub/{airflow_provider_dub.__version__}"
    assert request.headers["User-Agent"] == (
        f"airflow-provider-dub/{importlib.metadata.version('airflow-provider-dub')}"
    )
    assert request.headers["Accept"] == "application/json"


def test_default_timeouts(hook, requests_mock):
    requests_mock.get(CUSTOMERS, json=PAGE)
    hook.list_customers()
    assert requests_mock.last_request.timeout == (10.0, 60.0)


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ({"connect_timeout": 3.5, "read_timeout": 42}, (3.5, 42.0)),
        ({"connect_timeout": "2", "read_timeout": "120.5"}, (2.0, 120.5)),
        ({"read_timeout": 5}, (10.0, 5.0)),
        ({"connect_timeout": "", "read_timeout": None}, (10.0, 60.0)),
    ],
)
def test_timeouts_come_from_extras(make_hook, requests_mock, extra, expected):
    hook = make_hook(extra=extra)
    requests_mock.get(CUSTOMERS, json=PAGE)
    hook.list_customers()
    assert requests_mock.last_request.timeout == expected
    assert (hook.settings.connect_timeout, hook.settings.read_timeout) == expected


@pytest.mark.parametrize(
    ("host", "base_url"),
    [
        (_OMIT, "https://api.dub.co"),
        ("", "https://api.dub.co"),
        ("api.example.test", "https://api.example.test"),
        ("api.example.test/", "https://api.example.test"),
        ("https://api.example.test/", "https://api.example.test"),
        ("https://api.example.test", "https://api.example.test"),
        ("http://localhost:8080/", "http://localhost:8080"),
        ("localhost:8443", "https://localhost:8443"),
        ("https://proxy.example.test/dub/", "https://proxy.example.test/dub"),
    ],
)
def test_base_url_default_and_normalisation(make_hook, requests_mock, host, base_url):
    hook = make_hook(host=host)
    requests_mock.get(f"{base_url}/customers", json=PAGE)
    assert hook.list_customers() == PAGE
    assert hook.settings.base_url == base_url
    assert requests_mock.last_request.url.split("?")[0] == f"{base_url}/customers"
    assert requests_mock.call_count == 1


def test_list_customers_sends_the_camel_case_query_and_returns_the_page(hook, requests_mock, clock):
    requests_mock.get(CUSTOMERS, json=PAGE)
    page = hook.list_customers(
        email="jane@example.com",
        external_id="ext-1",
        search="jane doe",
        country="us",
        link_id="link_1",
        program_id="prog_1",
        partner_id="pn_1",
        include_expanded_fields=True,
        sort_by="createdAt",
        sort_order="asc",
        page=1,
        page_size="50",
        starting_after="cus_9",
    )
    assert page == PAGE
    assert sent_query(requests_mock.last_request) == {
        "email": "jane@example.com",
        "externalId": "ext-1",
        "search": "jane doe",
        "country": "US",
        "linkId": "link_1",
        "programId": "prog_1",
        "partnerId": "pn_1",
        "includeExpandedFields": "true",
        "sortBy": "createdAt",
        "sortOrder": "asc",
        "page": "1",
        "pageSize": "50",
        "startingAfter": "cus_9",
    }
    assert requests_mock.call_count == 1
    assert clock.sleeps == []


def test_list_customers_without_parameters_sends_no_query(hook, requests_mock):
    requests_mock.get(CUSTOMERS, json=[])
    assert hook.list_customers() == []
    assert sent_query(requests_mock.last_request) == {}
    assert requests_mock.last_request.method == "GET"


def test_count_customers_parses_a_bare_integer(hook, requests_mock):
    requests_mock.get(COUNT, text="42")
    assert hook.count_customers(country="US", search="jane") == 42
    assert sent_query(requests_mock.last_request) == {"country": "US", "search": "jane"}
    assert requests_mock.last_request.url.split("?")[0] == COUNT
    assert requests_mock.last_request.headers["Authorization"] == f"Bearer {KEY}"


def test_count_customers_zero(hook, requests_mock):
    requests_mock.get(COUNT, text="0")
    assert hook.count_customers() == 0


# -- errors that are not retried --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "code", "message", "cls"),
    [
        (
            400,
            "bad_request",
            "Misconfigured authorization header. Did you forget to add 'Bearer '? Learn more: https://d.to/auth",
            DubBadRequestError,
        ),
        (401, "unauthorized", "Unauthorized: Invalid API key.", DubUnauthorizedError),
        (403, "forbidden", "Unauthorized: Need higher plan.", DubForbiddenError),
        (404, "not_found", "Program not found", DubNotFoundError),
        (
            422,
            "unprocessable_entity",
            "too_big: pageSize: Max page size is 100.",
            DubUnprocessableEntityError,
        ),
        (
            422,
            "unprocessable_entity",
            "Invalid cursor: the provided ID does not exist.",
            DubInvalidCursorError,
        ),
    ],
)
def test_client_errors_are_not_retried(hook, requests_mock, clock, status, code, message, cls):
    # rate-limit headers on an error (Dub sends them on every error past auth) must not cause a retry
    headers = {"Retry-After": clock.epoch_ms(1), "X-RateLimit-Reset": clock.epoch_ms(1)}
    requests_mock.get(CUSTOMERS, status_code=status, json=envelope(code, message), headers=headers)
    with pytest.raises(DubAPIError) as excinfo:
        hook.list_customers()
    err = excinfo.value
    assert type(err) is cls
    assert err.http_status == status
    assert err.code == code
    assert err.message == message
    assert requests_mock.call_count == 1
    assert clock.sleeps == []
    assert "attempts" not in str(err)


# -- 429 --------------------------------------------------------------------------------------------------


def _retry_after_headers(clock: FakeClock, kind: str) -> tuple[dict[str, str], float]:
    """Headers of a 429 that asks for a wait, and the wait asked for."""
    if kind == "epoch-ms":
        return {"Retry-After": clock.epoch_ms(1.5), "X-RateLimit-Remaining": "0"}, 1.5
    if kind == "seconds":
        return {"Retry-After": "3"}, 3.0
    if kind == "http-date":
        return {"Retry-After": formatdate(clock.wall + 4, usegmt=True)}, 4.0
    if kind == "x-ratelimit-reset":
        return {
            "X-RateLimit-Limit": "1200",
            "X-RateLimit-Remaining": "0",
            "X-RateLimit-Reset": clock.epoch_ms(2.5),
        }, 2.5
    raise AssertionError(kind)


@pytest.mark.parametrize("kind", ["epoch-ms", "seconds", "http-date", "x-ratelimit-reset"])
def test_429_waits_as_long_as_dub_asks_then_succeeds(hook, requests_mock, clock, kind):
    headers, wait = _retry_after_headers(clock, kind)
    requests_mock.get(
        CUSTOMERS,
        [{"status_code": 429, "json": RATE_LIMITED, "headers": headers}, {"status_code": 200, "json": PAGE}],
    )
    assert hook.list_customers() == PAGE
    assert requests_mock.call_count == 2
    assert len(clock.sleeps) == 1
    # about that long: not before the window ends, and not much later
    assert wait <= clock.sleeps[0] <= wait + 0.5


def test_429_epoch_ms_is_not_read_as_seconds(hook, requests_mock, clock):
    """Dub's SDK reads the ms value as seconds and waits for ages; the hook must wait ~1.5 s."""
    requests_mock.get(
        CUSTOMERS,
        [
            {"status_code": 429, "json": RATE_LIMITED, "headers": {"Retry-After": clock.epoch_ms(1.5)}},
            {"status_code": 200, "json": PAGE},
        ],
    )
    hook.list_customers()
    assert clock.sleeps == [pytest.approx(1.55, abs=0.05)]


def test_429_with_a_far_reset_is_capped_at_about_a_minute(hook, requests_mock, clock):
    requests_mock.get(
        CUSTOMERS,
        [
            {"status_code": 429, "json": RATE_LIMITED, "headers": {"Retry-After": clock.epoch_ms(3600)}},
            {"status_code": 200, "json": PAGE},
        ],
    )
    assert hook.list_customers() == PAGE
    assert len(clock.sleeps) == 1
    assert 60.0 <= clock.sleeps[0] <= 70.0


def test_429_at_dubs_minute_waits_for_the_window_not_a_second_more(hook, requests_mock, clock):
    """A reset at an epoch minute is Dub's window: the retry goes when the next minute admits it."""
    next_minute = (clock.wall // WINDOW_SECONDS + 1) * WINDOW_SECONDS
    headers = {"Retry-After": str(int(next_minute * 1000)), "X-RateLimit-Limit": "1200"}
    requests_mock.get(
        CUSTOMERS,
        [{"status_code": 429, "json": RATE_LIMITED, "headers": headers}, {"status_code": 200, "json": PAGE}],
    )
    minute_left = next_minute - clock.wall
    assert hook.list_customers() == PAGE
    assert len(clock.sleeps) == 1
    assert minute_left - 1.1 <= clock.sleeps[0] <= minute_left + 0.06


def test_429_without_headers_backs_off(hook, requests_mock, clock):
    requests_mock.get(
        CUSTOMERS, [{"status_code": 429, "json": RATE_LIMITED}, {"status_code": 200, "json": PAGE}]
    )
    assert hook.list_customers() == PAGE
    low, high = _backoff_bounds(1)
    assert len(clock.sleeps) == 1
    assert low <= clock.sleeps[0] <= high


def test_429_forever_ends_when_the_budget_is_spent(make_hook, requests_mock, clock):
    hook = make_hook(extra={"max_retry_seconds": 10})

    def always_limited(request, context):
        context.status_code = 429
        context.headers["Retry-After"] = clock.epoch_ms(3)
        return json.dumps(RATE_LIMITED)

    requests_mock.get(CUSTOMERS, text=always_limited)
    with pytest.raises(DubRateLimitError) as excinfo:
        hook.list_customers()
    err = excinfo.value
    # waits of ~3.05 s: 3 fit in 10 s, the 4th would not
    assert requests_mock.call_count == 4
    assert len(clock.sleeps) == 3
    assert sum(clock.sleeps) <= 10
    assert all(3.0 <= s <= 3.5 for s in clock.sleeps)
    assert "4 attempts" in str(err)
    assert err.http_status == 429
    assert err.message == "Too many requests."


def test_429_wait_beyond_the_budget_gives_up_at_once(make_hook, requests_mock, clock):
    hook = make_hook(extra={"max_retry_seconds": 1})
    requests_mock.get(
        CUSTOMERS, status_code=429, json=RATE_LIMITED, headers={"Retry-After": clock.epoch_ms(30)}
    )
    with pytest.raises(DubRateLimitError):
        hook.list_customers()
    assert requests_mock.call_count == 1
    assert clock.sleeps == []


def test_after_a_429_the_next_request_is_not_paced_again(make_hook, requests_mock, clock):
    """The 429 wait already covers the window: no second wait for the pacer on top of it."""
    hook = make_hook(extra={"requests_per_minute": 60})
    requests_mock.get(
        CUSTOMERS,
        [
            {"status_code": 429, "json": RATE_LIMITED, "headers": {"Retry-After": clock.epoch_ms(5)}},
            {"status_code": 200, "json": PAGE},
        ],
    )
    hook.list_customers()
    assert len(clock.sleeps) == 1
    assert 5.0 <= clock.sleeps[0] <= 5.5


# -- 5xx, network, malformed bodies -----------------------------------------------------------------------


def test_5xx_burst_then_success(hook, requests_mock, clock):
    requests_mock.get(
        CUSTOMERS,
        [
            {"status_code": 500, "json": SERVER_ERROR},
            {"status_code": 502, "text": "<html><body><h1>502 Bad Gateway</h1></body></html>"},
            {"status_code": 503, "text": ""},
            {"status_code": 504, "text": "upstream timed out"},
            {"status_code": 200, "json": PAGE},
        ],
    )
    assert hook.list_customers() == PAGE
    assert requests_mock.call_count == 5
    assert len(clock.sleeps) == 4
    assert_backed_off(clock.sleeps)


def test_5xx_forever_ends_when_the_budget_is_spent(make_hook, requests_mock, clock):
    hook = make_hook(extra={"max_retry_seconds": 20})
    requests_mock.get(CUSTOMERS, status_code=503, text="Service Unavailable")
    with pytest.raises(DubServerError) as excinfo:
        hook.list_customers()
    attempts = requests_mock.call_count
    assert attempts >= 4
    assert len(clock.sleeps) == attempts - 1
    assert sum(clock.sleeps) <= 20
    assert f"{attempts} attempts" in str(excinfo.value)
    assert excinfo.value.http_status == 503


@pytest.mark.parametrize(
    "exc",
    [
        requests.exceptions.ConnectionError,
        requests.exceptions.ConnectTimeout,
        requests.exceptions.ReadTimeout,
        requests.exceptions.Timeout,
        requests.exceptions.ChunkedEncodingError,
    ],
)
def test_network_errors_are_retried(hook, requests_mock, clock, exc):
    requests_mock.get(CUSTOMERS, [{"exc": exc}, {"exc": exc}, {"status_code": 200, "json": PAGE}])
    assert hook.list_customers() == PAGE
    assert requests_mock.call_count == 3
    assert len(clock.sleeps) == 2
    assert_backed_off(clock.sleeps)


def test_network_error_forever_becomes_a_dub_connection_error(make_hook, requests_mock, clock):
    hook = make_hook(extra={"max_retry_seconds": 5})
    requests_mock.get(CUSTOMERS, exc=requests.exceptions.ConnectTimeout("connect timed out"))
    with pytest.raises(DubConnectionError) as excinfo:
        hook.list_customers()
    attempts = requests_mock.call_count
    assert attempts >= 3
    assert f"{attempts} attempts" in str(excinfo.value)
    assert "ConnectTimeout" in str(excinfo.value)
    assert sum(clock.sleeps) <= 5


@pytest.mark.parametrize(
    "body",
    [
        "<html><body>Service temporarily unavailable</body></html>",
        '[{"id": "cus_1", "name": "trunc',
        '{"data": []}',
    ],
    ids=["html", "truncated", "wrong-shape"],
)
def test_200_with_a_bad_body_is_retried(hook, requests_mock, clock, body):
    requests_mock.get(CUSTOMERS, [{"status_code": 200, "text": body}, {"status_code": 200, "json": PAGE}])
    assert hook.list_customers() == PAGE
    assert requests_mock.call_count == 2
    assert len(clock.sleeps) == 1
    low, high = _backoff_bounds(1)
    assert low <= clock.sleeps[0] <= high


def test_hook_argument_overrides_the_retry_budget(make_hook, requests_mock, clock):
    hook = make_hook(extra={"max_retry_seconds": 300}, hook_kwargs={"max_retry_seconds": 0})
    requests_mock.get(CUSTOMERS, status_code=500, json=SERVER_ERROR)
    with pytest.raises(DubServerError):
        hook.list_customers()
    assert requests_mock.call_count == 1
    assert clock.sleeps == []


# -- pacing -----------------------------------------------------------------------------------------------


def test_an_idle_key_sends_its_budget_at_once_then_waits_for_the_window(make_hook, requests_mock, clock):
    hook = make_hook(extra={"requests_per_minute": 60})
    requests_mock.get(CUSTOMERS, json=PAGE)
    for _ in range(59):  # 60 a minute, one kept as a safety margin
        hook.list_customers()
    assert clock.sleeps == []
    minute_left = WINDOW_SECONDS - clock.wall % WINDOW_SECONDS
    hook.list_customers()
    # the minute is full: the next one goes when the next minute starts (plus the unknown clock skew)
    assert clock.sleeps == [pytest.approx(minute_left + 1.0, abs=0.01)]
    assert requests_mock.call_count == 60


def test_two_hooks_on_one_key_share_the_window(make_hook, requests_mock, clock):
    first, second = make_hook(extra={"requests_per_minute": 60}), make_hook(extra={"requests_per_minute": 60})
    assert first.pacer is second.pacer
    assert "dub_" not in repr(first.pacer)
    requests_mock.get(CUSTOMERS, json=PAGE)
    for hook in [first, second] * 30:
        hook.list_customers()
    assert len(clock.sleeps) == 1  # the 60th request of the two waits for the next minute


def test_pacing_off_with_zero_in_the_hook(make_hook, requests_mock, clock):
    hook = make_hook(extra={"requests_per_minute": 60}, hook_kwargs={"requests_per_minute": 0})
    requests_mock.get(CUSTOMERS, json=PAGE)
    for _ in range(5):
        hook.list_customers()
    assert clock.sleeps == []


# -- validation before any request ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "kwargs", "param"),
    [
        ("list_customers", {"page_size": 0}, "page_size"),
        ("list_customers", {"page_size": 101}, "page_size"),
        ("list_customers", {"sort_by": "name"}, "sort_by"),
        ("list_customers", {"sort_order": "DESC"}, "sort_order"),
        ("list_customers", {"country": "USA"}, "country"),
        ("list_customers", {"starting_after": "cus_1", "sort_by": "saleAmount"}, "sort_by"),
        ("list_customers", {"pageSize": 10}, "pageSize"),
        ("count_customers", {"page_size": 10}, "page_size"),
        ("count_customers", {"email": 5}, "email"),
        ("iter_customers", {"page": 2}, "page"),
        ("iter_customers", {"starting_after": "cus_1"}, "starting_after"),
        ("iter_customers", {"limit": 0}, "limit"),
    ],
)
def test_validation_errors_raise_before_any_request(hook, requests_mock, method, kwargs, param):
    requests_mock.get(CUSTOMERS, json=PAGE)
    requests_mock.get(COUNT, text="1")
    # iter_customers validates when called, not on the first next()
    with pytest.raises(DubValidationError) as excinfo:
        getattr(hook, method)(**kwargs)
    assert excinfo.value.param == param
    assert requests_mock.call_count == 0


@pytest.mark.parametrize("password", [_OMIT, "", "   ", None])
def test_missing_api_key(make_hook, requests_mock, password):
    hook = make_hook(password=password)
    requests_mock.get(CUSTOMERS, json=PAGE)
    with pytest.raises(DubValidationError) as excinfo:
        hook.list_customers()
    assert excinfo.value.param == "password"
    assert "password" in str(excinfo.value)
    assert "API key" in str(excinfo.value)
    assert requests_mock.call_count == 0


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("connect_timeout", "abc"),
        ("connect_timeout", 0),
        ("read_timeout", -1),
        ("read_timeout", "soon"),
        ("max_retry_seconds", -5),
        ("max_retry_seconds", "forever"),
        ("requests_per_minute", 0),
        ("requests_per_minute", "many"),
        ("requests_per_minute", [1200]),
    ],
)
def test_bad_extras_name_the_extra(make_hook, requests_mock, name, value):
    hook = make_hook(extra={name: value})
    requests_mock.get(CUSTOMERS, json=PAGE)
    with pytest.raises(DubValidationError) as excinfo:
        hook.list_customers()
    err = excinfo.value
    assert name in err.param
    assert name in str(err)
    assert requests_mock.call_count == 0


def test_settings_from_extras(make_hook):
    hook = make_hook(
        extra={
            "requests_per_minute": "3000",
            "max_retry_seconds": 12.5,
            "connect_timeout": 1,
            "read_timeout": 2,
        }
    )
    settings = hook.settings
    assert settings.requests_per_minute == 3000
    assert settings.max_retry_seconds == 12.5
    assert settings.connect_timeout == 1.0
    assert settings.read_timeout == 2.0
    assert settings.api_key == KEY
    assert hook.retry_policy.max_retry_seconds == 12.5


# -- test_connection --------------------------------------------------------------------------------------


def test_test_connection_success(hook, requests_mock):
    requests_mock.get(CUSTOMERS, json=PAGE[:1])
    ok, message = hook.test_connection()
    assert ok is True
    assert message
    assert requests_mock.call_count == 1
    assert sent_query(requests_mock.last_request) == {"pageSize": "1"}
    assert requests_mock.last_request.headers["Authorization"] == f"Bearer {KEY}"


@pytest.mark.parametrize(
    ("status", "code", "message"),
    [
        (401, "unauthorized", "Unauthorized: Invalid API key."),
        (401, "unauthorized", "Unauthorized: Access token expired."),
        (403, "forbidden", "Unauthorized: Need higher plan."),
    ],
)
def test_test_connection_reports_dubs_own_message(hook, requests_mock, clock, status, code, message):
    requests_mock.get(CUSTOMERS, status_code=status, json=envelope(code, message))
    assert hook.test_connection() == (False, message)
    assert requests_mock.call_count == 1
    assert clock.sleeps == []


@pytest.mark.parametrize(
    "response",
    [
        {"exc": requests.exceptions.ConnectionError("Name or service not known")},
        {"exc": requests.exceptions.ConnectTimeout("timed out")},
        {"status_code": 503, "text": "Service Unavailable"},
        {"status_code": 429, "json": RATE_LIMITED, "headers": {"Retry-After": "1"}},
        {"status_code": 200, "text": "<html>captive portal</html>"},
    ],
    ids=["unreachable", "timeout", "503", "429", "not-json"],
)
def test_test_connection_failure_does_not_raise_or_retry(hook, requests_mock, clock, response):
    requests_mock.get(CUSTOMERS, [response])
    ok, message = hook.test_connection()
    assert ok is False
    assert isinstance(message, str)
    assert message
    assert requests_mock.call_count == 1
    assert clock.sleeps == []


def test_test_connection_without_a_key(make_hook, requests_mock):
    hook = make_hook(password=_OMIT)
    requests_mock.get(CUSTOMERS, json=PAGE)
    ok, message = hook.test_connection()
    assert ok is False
    assert "API key" in message
    assert requests_mock.call_count == 0


# -- the key stays secret ---------------------------------------------------------------------------------


def test_settings_repr_hides_the_key(hook):
    assert KEY not in repr(hook.settings)
    assert KEY not in str(hook.settings)
    assert "***" in repr(hook.settings)
    assert hook.settings.api_key == KEY  # but the hook still has it


@pytest.mark.parametrize(
    "responses",
    [
        [{"status_code": 401, "json": envelope("unauthorized", "Unauthorized: Invalid API key.")}],
        [{"status_code": 400, "text": "Bad Request"}],
        [{"status_code": 500, "json": SERVER_ERROR}],
        [{"status_code": 429, "json": RATE_LIMITED, "headers": {"Retry-After": "2"}}],
        [{"exc": requests.exceptions.ConnectionError("connection reset by peer")}],
        [{"status_code": 200, "text": "not json"}],
    ],
    ids=["401", "400", "500", "429", "network", "bad-body"],
)
def test_the_key_never_appears_in_exception_text(make_hook, requests_mock, responses):
    hook = make_hook(extra={"max_retry_seconds": 3})
    requests_mock.get(CUSTOMERS, responses)
    with pytest.raises(DubError) as excinfo:
        hook.list_customers()
    err = excinfo.value
    texts = [str(err), repr(err), *map(str, err.args)]
    cause = err.__cause__ or err.__context__
    while cause is not None:
        texts += [str(cause), repr(cause)]
        cause = cause.__cause__ or cause.__context__
    assert not [text for text in texts if KEY in text]
    # and the secret part of the key, in case something shortens or re-formats it
    assert not [text for text in texts if KEY[4:] in text]


def test_the_key_never_appears_in_logs(make_hook, requests_mock, caplog):
    hook = make_hook(extra={"max_retry_seconds": 5})
    requests_mock.get(
        CUSTOMERS,
        [
            {"status_code": 429, "json": RATE_LIMITED, "headers": {"Retry-After": "1"}},
            {"exc": requests.exceptions.ConnectionError("connection reset by peer")},
            {"status_code": 500, "json": SERVER_ERROR},
        ],
    )
    caplog.set_level(logging.DEBUG)
    # Airflow's hook logger is structlog, which does not reach caplog; capture it as well
    with structlog.testing.capture_logs() as struct_logs, pytest.raises(DubServerError):
        hook.list_customers()
    warnings = [event for event in struct_logs if event.get("log_level") == "warning"]
    assert len(warnings) >= 2, "the retries must be logged, or this test proves nothing"
    assert KEY not in repr(struct_logs)
    assert KEY[4:] not in repr(struct_logs)
    for record in caplog.records:
        assert KEY not in record.getMessage()
        assert KEY not in repr(record.args)
    assert KEY not in caplog.text


KEY_WITH_NEWLINE = "dub_testkey12345\n6789012345678"


def test_a_malformed_key_does_not_leak_through_requests_errors(make_hook, requests_mock):
    hook = make_hook(password=KEY_WITH_NEWLINE)
    requests_mock.get(CUSTOMERS, json=PAGE)
    with pytest.raises(Exception) as excinfo:
        hook.list_customers()
    text = f"{excinfo.value} {excinfo.value!r}"
    assert "testkey12345" not in text
    assert "6789012345678" not in text
    assert isinstance(excinfo.value, DubError)


def test_a_malformed_key_does_not_leak_through_test_connection(make_hook, requests_mock):
    hook = make_hook(password=KEY_WITH_NEWLINE)
    requests_mock.get(CUSTOMERS, json=PAGE)
    ok, message = hook.test_connection()
    assert ok is False
    assert "testkey12345" not in message
    assert "6789012345678" not in message


# -- iter_customers (simple cases; the paging plan has its own tests) --------------------------------------


def test_iter_customers_short_first_page_is_one_round_trip(hook, requests_mock):
    """The two sample pages and the count go out together; a short sample page is the whole read."""
    requests_mock.get(CUSTOMERS, json=PAGE)
    requests_mock.get(COUNT, json=len(PAGE))
    assert list(hook.iter_customers(country="US")) == PAGE
    assert requests_mock.call_count == 3
    sent = [sent_query(request) for request in requests_mock.request_history]
    assert sorted(sent, key=lambda query: sorted(query.items())) == [
        {"country": "US"},
        {"country": "US", "pageSize": "100", "sortBy": "saleAmount", "sortOrder": "asc"},
        {"country": "US", "pageSize": "100", "sortBy": "saleAmount", "sortOrder": "desc"},
    ]


def test_iter_customers_empty(hook, requests_mock):
    requests_mock.get(CUSTOMERS, json=[])
    requests_mock.get(COUNT, json=0)
    assert list(hook.iter_customers()) == []
    assert requests_mock.call_count == 3


def test_iter_customers_ordered_read_that_fits_one_page(hook, requests_mock):
    requests_mock.get(CUSTOMERS, json=PAGE)
    assert list(hook.iter_customers(sort_by="saleAmount", sort_order="desc", page_size=5)) == PAGE
    assert sent_query(requests_mock.last_request) == {
        "sortBy": "saleAmount",
        "sortOrder": "desc",
        "pageSize": "5",
    }


def test_iter_customers_sort_by_with_a_full_first_page_raises_before_yielding(hook, requests_mock):
    requests_mock.get(CUSTOMERS, json=PAGE)
    yielded = []
    with pytest.raises(DubPaginationError) as excinfo:
        for customer in hook.iter_customers(sort_by="saleAmount", page_size=3):
            yielded.append(customer)
    assert yielded == []
    assert requests_mock.call_count == 1
    assert "sort_by" in str(excinfo.value)


def test_iter_customers_limit_asks_for_no_more_than_needed(hook, requests_mock):
    requests_mock.get(CUSTOMERS, json=PAGE[:2])
    assert list(hook.iter_customers(limit=2)) == PAGE[:2]
    assert requests_mock.call_count == 1
    assert sent_query(requests_mock.last_request) == {"pageSize": "2"}


def test_iter_customers_limit_cuts_a_longer_page(hook, requests_mock):
    requests_mock.get(CUSTOMERS, json=PAGE)  # a server that ignores pageSize
    assert list(hook.iter_customers(limit=2)) == PAGE[:2]
    assert requests_mock.call_count == 1


def test_iter_customers_with_sort_and_limit_within_a_page(hook, requests_mock):
    requests_mock.get(CUSTOMERS, json=PAGE[:2])
    result = list(hook.iter_customers(sort_by="saleAmount", sort_order="desc", limit=2))
    assert result == PAGE[:2]
    assert requests_mock.call_count == 1
    assert sent_query(requests_mock.last_request) == {
        "sortBy": "saleAmount",
        "sortOrder": "desc",
        "pageSize": "2",
    }


def test_iter_customers_is_lazy(hook, requests_mock):
    requests_mock.get(CUSTOMERS, json=PAGE)
    requests_mock.get(COUNT, json=len(PAGE))
    iterator = hook.iter_customers()
    assert requests_mock.call_count == 0
    assert next(iterator) == PAGE[0]
    assert list(iterator) == PAGE[1:]
    assert requests_mock.call_count == 3


def test_iter_customers_counts_requests(hook, requests_mock, clock):
    requests_mock.get(CUSTOMERS, [{"status_code": 503, "text": ""}, {"status_code": 200, "json": PAGE}])
    requests_mock.get(COUNT, json=len(PAGE))
    assert list(hook.iter_customers()) == PAGE
    # the count and two sample pages, one of which was answered 503 first and sent again
    assert hook.request_count == 4
    assert requests_mock.call_count == 4


# -- run_plan ----------------------------------------------------------------------------------------


class _TwoStepPlan:
    """A plan of two requests, the second known only once the first is answered; it logs its calls."""

    def __init__(self) -> None:
        self.log: list[str] = []
        self._step = 0

    def ready(self, limit: int | None = None) -> list[tuple[str, str, dict[str, str]]]:
        self.log.append(f"ready after {self._step}")
        if self._step in (0, 1) and f"sent {self._step}" not in self.log:
            self.log.append(f"sent {self._step}")
            return [(str(self._step), "/customers", {"pageSize": "1"})]
        return []

    def accept(self, key: str, answer: Any) -> list[dict[str, Any]]:
        self.log.append(f"accepted {key}")
        self._step = int(key) + 1
        return list(answer)

    def cursor_lost(self, key: str) -> list[dict[str, Any]]:
        raise AssertionError("no cursor here")


def test_run_plan_sends_the_next_request_before_the_caller_gets_the_rows(hook, requests_mock):
    """A slow caller (a writer) must not hold the free slots idle: what is ready goes out first."""
    requests_mock.get(CUSTOMERS, json=PAGE[:1])
    plan = _TwoStepPlan()
    pages = hook.run_plan(plan, workers=2)
    assert next(pages) == PAGE[:1]
    assert plan.log[-2:] == ["ready after 1", "sent 1"]  # before the first rows reached us
    assert list(pages) == [PAGE[:1]]
