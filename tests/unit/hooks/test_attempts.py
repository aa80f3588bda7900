"""The outcome of one attempt (protocol/attempts.py), which both hooks use: pure, no I/O, no sleeping."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest
import requests

from airflow_provider_dub.exceptions import (
    DubConnectionError,
    DubInvalidCursorError,
    DubNotFoundError,
    DubServerError,
)
from airflow_provider_dub.protocol.attempts import (
    RequestAttempts,
    is_tls_failure,
    log_cursor_deleted,
    without_query,
)
from airflow_provider_dub.protocol.pacer import Booking
from airflow_provider_dub.protocol.responses import parse_customer_page
from airflow_provider_dub.protocol.retry import RetryLoop, RetryPolicy

NOW = 1_790_000_000.0
PAGE = [{"id": "cus_1", "email": "ada@example.com"}]
HINT = "write 'http://127.0.0.1:8787'"


class RecordingLog:
    """Stands in for a hook's logger: keeps ``(level, message, args)``."""

    def __init__(self) -> None:
        self.lines: list[tuple[str, str, tuple[Any, ...]]] = []

    def debug(self, event: Any, *args: Any, **kw: Any) -> None:
        self.lines.append(("debug", event, args))

    def info(self, event: Any, *args: Any, **kw: Any) -> None:
        self.lines.append(("info", event, args))

    def warning(self, event: Any, *args: Any, **kw: Any) -> None:
        self.lines.append(("warning", event, args))


class RecordingPacer:
    """The pacer calls a RetryLoop makes, with every slot due at once."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def reserve(self, now: float) -> Booking:
        self.calls.append("reserve")
        return Booking(number=1, at=now, earliest=now)

    def confirm(self, booking: Booking, now: float) -> Booking:
        return booking

    def finish(self, booking: Booking, **kwargs: Any) -> None:
        self.calls.append(f"finish {kwargs['status']}")

    def book_retry(self, now: float, headers: Any, throttled: int) -> Booking | None:
        return None

    def cancel(self, booking: Booking) -> None:
        self.calls.append("cancel")


def make_attempts(
    budget: float = 300.0, *, pacer: Any = None, tls_hint: str | None = None
) -> tuple[RequestAttempts[list[dict[str, Any]]], RecordingLog]:
    log = RecordingLog()
    retries = RetryLoop(RetryPolicy(max_retry_seconds=budget), random.Random(7), lambda: 0.0, pacer=pacer)
    query = {"email": "ada@example.com", "pageSize": "100"}
    return RequestAttempts("/customers", query, parse_customer_page, retries, log, tls_hint=tls_hint), log


def envelope(code: str, message: str) -> bytes:
    return json.dumps({"error": {"code": code, "message": message, "doc_url": None}}).encode()


def test_a_2xx_gives_the_parsed_page_and_logs_the_attempt_number() -> None:
    attempts, log = make_attempts()
    attempts.sending(NOW)
    outcome = attempts.answered(200, {}, json.dumps(PAGE).encode(), NOW + 0.1)
    assert outcome.retry_in is None and outcome.result() == PAGE
    assert log.lines == [
        ("debug", "Dub GET %s %s (attempt %d)", ("/customers", attempts.query, 1)),
    ]


@pytest.mark.parametrize(
    ("status", "code", "message", "expected"),
    [
        (404, "not_found", "Program not found", DubNotFoundError),
        (
            422,
            "unprocessable_entity",
            "Invalid cursor: the provided ID does not exist.",
            DubInvalidCursorError,
        ),
    ],
)
def test_a_4xx_is_final_and_maps_dubs_code(status, code, message, expected) -> None:
    attempts, log = make_attempts()
    attempts.sending(NOW)
    outcome = attempts.answered(status, {}, envelope(code, message), NOW)
    assert outcome.retry_in is None
    with pytest.raises(expected, match=message.split(":")[0]) as raised:
        outcome.result()
    assert type(raised.value) is expected
    assert [level for level, _, _ in log.lines] == ["debug"]  # no "retrying" line


def test_a_5xx_is_retried_after_a_backoff_and_says_so() -> None:
    attempts, log = make_attempts()
    attempts.sending(NOW)
    outcome = attempts.answered(503, {}, envelope("internal_server_error", "boom"), NOW)
    assert outcome.retry_in is not None and 0.25 <= outcome.retry_in <= 0.5  # first backoff: 0.5 s, jittered
    level, message, args = log.lines[-1]
    assert (level, message) == ("warning", "Dub GET %s failed (%s); attempt %d, retrying in %.2f s")
    assert args[0] == "/customers" and "boom" in args[1] and args[2] == 1 and args[3] == outcome.retry_in
    attempts.sending(NOW + 1)
    assert log.lines[-1][2][2] == 2  # the next attempt's number


def test_a_2xx_with_a_body_dub_never_sends_is_retried() -> None:
    attempts, _ = make_attempts()
    attempts.sending(NOW)
    outcome = attempts.answered(200, {}, b"<html>proxy</html>", NOW)
    assert outcome.retry_in is not None and outcome.error is None


def test_when_the_budget_is_spent_the_error_says_how_long_it_tried() -> None:
    attempts, _ = make_attempts(budget=0.6)
    outcomes = []
    for attempt in range(5):
        attempts.sending(NOW + attempt)
        outcome = attempts.answered(500, {}, envelope("internal_server_error", "boom"), NOW + attempt)
        outcomes.append(outcome)
        if outcome.retry_in is None:
            break
    assert outcomes[-1].retry_in is None and len(outcomes) >= 2
    with pytest.raises(DubServerError, match=r"gave up after \d+ attempts"):
        outcomes[-1].result()


def test_a_transport_error_loses_the_url_query_and_is_retried() -> None:
    attempts, log = make_attempts()
    attempts.sending(NOW)
    error = requests.ConnectionError(
        "HTTPSConnectionPool(host='api.dub.co', port=443): Max retries exceeded with url: "
        "/customers?email=ada%40example.com&pageSize=100 (Caused by NewConnectionError('refused'))"
    )
    outcome = attempts.failed(error, NOW)
    assert outcome.retry_in is not None
    logged = log.lines[-1][2][1]
    assert "ada" not in logged and "/customers?..." in logged
    assert logged.startswith("Dub did not answer GET /customers: ConnectionError: ")


def test_without_query_keeps_the_rest_of_the_text() -> None:
    text = without_query(ValueError("GET https://h/customers?search=ada+lovelace failed (x)"))
    assert text == "GET https://h/customers?... failed (x)"


def test_a_tls_failure_with_a_hint_is_final_and_carries_the_hint() -> None:
    attempts, _ = make_attempts(tls_hint=HINT)
    attempts.sending(NOW)
    outcome = attempts.failed(requests.exceptions.SSLError("[SSL: WRONG_VERSION_NUMBER] wrong version"), NOW)
    assert outcome.retry_in is None
    with pytest.raises(DubConnectionError, match=r"WRONG_VERSION_NUMBER.*http://127\.0\.0\.1:8787"):
        outcome.result()


def test_a_tls_failure_without_a_hint_is_retried_like_any_transport_error() -> None:
    attempts, _ = make_attempts()
    attempts.sending(NOW)
    outcome = attempts.failed(requests.exceptions.SSLError("[SSL: CERTIFICATE_VERIFY_FAILED]"), NOW)
    assert outcome.retry_in is not None


def test_a_refused_connection_is_no_tls_failure() -> None:
    assert not is_tls_failure(requests.ConnectionError("[Errno 111] Connection refused"))
    assert is_tls_failure(requests.exceptions.SSLError("anything"))


def test_every_attempt_is_reported_to_the_pacer_exactly_once() -> None:
    pacer = RecordingPacer()
    attempts, _ = make_attempts(pacer=pacer)
    assert attempts.wait_before_send(NOW) == 0
    attempts.sending(NOW)
    attempts.answered(200, {}, json.dumps(PAGE).encode(), NOW)
    attempts.ended(NOW)  # after an outcome: nothing more to report
    assert pacer.calls == ["reserve", "finish 200"]


def test_an_attempt_cut_short_frees_its_slot() -> None:
    pacer = RecordingPacer()
    attempts, _ = make_attempts(pacer=pacer)
    attempts.wait_before_send(NOW)  # booked, then cancelled while waiting for the slot
    attempts.ended(NOW + 1)
    assert pacer.calls == ["reserve", "finish None"]


def test_the_deleted_cursor_line_names_the_cursor() -> None:
    log = RecordingLog()
    log_cursor_deleted(log, {"startingAfter": "cus_9", "pageSize": "100"})
    log_cursor_deleted(log, {"endingBefore": "cus_8"})
    assert log.lines == [
        ("info", "Dub cursor %s was deleted during the read; resuming", ("cus_9",)),
        ("info", "Dub cursor %s was deleted during the read; resuming", ("cus_8",)),
    ]
