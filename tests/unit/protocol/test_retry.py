"""Retry arithmetic: reading Dub's rate-limit headers, backoff and the retry budget (pacing: test_pacer.py)."""

from __future__ import annotations

import random
from email.utils import formatdate

import pytest
from requests.structures import CaseInsensitiveDict

from airflow_provider_dub.protocol.retry import (
    MAX_RATE_LIMIT_WAIT,
    RATE_LIMIT_MARGIN,
    RetryPolicy,
    parse_wait_value,
    retry_delay,
    wait_from_headers,
)

NOW = 1_790_000_000.0  # a whole second, so HTTP dates (1 s resolution) are exact


class EdgeRng(random.Random):
    """A Random whose ``uniform`` always returns one end of the range, to reach the jitter's bounds."""

    def __init__(self, end: str) -> None:
        super().__init__(0)
        self.end = end

    def uniform(self, a: float, b: float) -> float:
        return a if self.end == "low" else b


def _delay(status, *, headers=None, attempt=1, waited=0.0, policy=None, rng=None, now=NOW):
    return retry_delay(
        policy or RetryPolicy(),
        status_code=status,
        headers=headers or {},
        attempt=attempt,
        waited=waited,
        now=now,
        rng=rng or random.Random(1),
    )


def _ceiling(attempt: int, base: float = 0.5, cap: float = 30.0) -> float:
    return min(cap, base * 2 ** (attempt - 1))


# -- parse_wait_value ------------------------------------------------------------------------------------


def test_epoch_milliseconds_dubs_real_form():
    assert parse_wait_value(str(int(NOW * 1000) + 1500), NOW) == pytest.approx(1.5)


def test_epoch_milliseconds_example_from_dub():
    assert parse_wait_value("1790000000000", NOW - 12) == pytest.approx(12.0)


def test_epoch_seconds():
    assert parse_wait_value(str(int(NOW) + 7), NOW) == pytest.approx(7.0)


@pytest.mark.parametrize(("value", "expected"), [("0", 0.0), ("3", 3.0), ("2.5", 2.5), (" 4 ", 4.0)])
def test_delta_seconds(value, expected):
    assert parse_wait_value(value, NOW) == pytest.approx(expected)


def test_http_date():
    assert parse_wait_value(formatdate(NOW + 30, usegmt=True), NOW) == pytest.approx(30.0)


def test_http_date_fixed_example():
    # Wed, 21 Oct 2015 07:28:00 GMT is 1445412480
    assert parse_wait_value("Wed, 21 Oct 2015 07:28:00 GMT", 1445412480 - 9) == pytest.approx(9.0)


@pytest.mark.parametrize(
    "value",
    [str(int(NOW * 1000) - 5000), str(int(NOW) - 5), formatdate(NOW - 5, usegmt=True)],
    ids=["epoch-ms", "epoch-s", "http-date"],
)
def test_a_moment_in_the_past_means_no_wait(value):
    assert parse_wait_value(value, NOW) == 0.0


@pytest.mark.parametrize("value", ["", "   ", "soon", "abc123", "1,5", "nan", "NaN", "tomorrow at noon"])
def test_garbage_is_unreadable(value):
    assert parse_wait_value(value, NOW) is None


@pytest.mark.parametrize("value", ["-1", "-0.5", "-1790000000000", "-1790000000"])
def test_negative_is_unreadable(value):
    assert parse_wait_value(value, NOW) is None


# -- wait_from_headers ----------------------------------------------------------------------------------


def test_retry_after_in_epoch_ms():
    assert wait_from_headers({"Retry-After": str(int(NOW * 1000) + 1500)}, NOW) == pytest.approx(1.5)


def test_only_x_ratelimit_reset():
    headers = {
        "X-RateLimit-Limit": "1200",
        "X-RateLimit-Remaining": "0",
        "X-RateLimit-Reset": "1790000003000",
    }
    assert wait_from_headers(headers, NOW) == pytest.approx(3.0)


def test_retry_after_wins_over_x_ratelimit_reset():
    headers = {"X-RateLimit-Reset": "1790000009000", "Retry-After": "1790000002000"}
    assert wait_from_headers(headers, NOW) == pytest.approx(2.0)


def test_unreadable_retry_after_falls_back_to_x_ratelimit_reset():
    headers = {"Retry-After": "later", "X-RateLimit-Reset": "1790000004000"}
    assert wait_from_headers(headers, NOW) == pytest.approx(4.0)


@pytest.mark.parametrize("name", ["retry-after", "RETRY-AFTER", "Retry-After", "x-ratelimit-reset"])
def test_header_names_are_case_insensitive(name):
    assert wait_from_headers({name: "1790000002500"}, NOW) == pytest.approx(2.5)


def test_requests_case_insensitive_dict():
    headers = CaseInsensitiveDict({"retry-after": "1790000001000"})
    assert wait_from_headers(headers, NOW) == pytest.approx(1.0)


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Content-Type": "application/json"},
        {"Retry-After": "soon"},
        {"Retry-After": "-3", "X-RateLimit-Reset": "x"},
    ],
)
def test_no_usable_header_gives_none(headers):
    assert wait_from_headers(headers, NOW) is None


@pytest.mark.parametrize(
    "value",
    [str(int(NOW * 1000) + 600_000), str(int(NOW) + 3600), "3600", formatdate(NOW + 86400, usegmt=True)],
    ids=["epoch-ms", "epoch-s", "delta", "http-date"],
)
def test_wait_is_capped(value):
    assert wait_from_headers({"Retry-After": value}, NOW) == MAX_RATE_LIMIT_WAIT


def test_cap_covers_dubs_one_minute_window():
    """Dub's window is one minute: a cap under 60 s would retry into a window that is still full."""
    assert 60.0 <= MAX_RATE_LIMIT_WAIT <= 120.0
    assert wait_from_headers({"Retry-After": str(int(NOW * 1000) + 60_000)}, NOW) == pytest.approx(60.0)


def test_seconds_misread_as_milliseconds_would_be_tiny():
    """Guard against Dub's SDK's mistake in reverse: a ms value must not be read as a delay in seconds."""
    wait = wait_from_headers({"Retry-After": "1790000030000"}, NOW)
    assert wait == pytest.approx(30.0)


# -- retry_delay --------------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 410, 422])
def test_client_errors_are_not_retried(status):
    headers = {"Retry-After": "1790000001000", "X-RateLimit-Reset": "1790000001000"}
    assert _delay(status, headers=headers) is None
    assert _delay(status, headers={}, attempt=3) is None


def test_429_waits_for_the_header_plus_margin():
    headers = {"Retry-After": str(int(NOW * 1000) + 1500)}
    delay = _delay(429, headers=headers)
    assert delay == pytest.approx(1.5 + RATE_LIMIT_MARGIN)
    assert 0 < RATE_LIMIT_MARGIN < 1


def test_429_header_wait_ignores_the_attempt_number():
    headers = {"X-RateLimit-Reset": str(int(NOW * 1000) + 2000)}
    assert _delay(429, headers=headers, attempt=9) == pytest.approx(2.0 + RATE_LIMIT_MARGIN)


def test_429_whose_window_has_passed_still_waits_the_margin():
    headers = {"Retry-After": str(int(NOW * 1000) - 100)}
    assert _delay(429, headers=headers) == pytest.approx(RATE_LIMIT_MARGIN)


def test_429_far_in_the_future_is_capped():
    headers = {"Retry-After": str(int(NOW * 1000) + 3_600_000)}
    assert _delay(429, headers=headers) == pytest.approx(MAX_RATE_LIMIT_WAIT + RATE_LIMIT_MARGIN)


@pytest.mark.parametrize("headers", [{}, {"Retry-After": "garbage"}])
def test_429_without_usable_header_backs_off(headers):
    for attempt in (1, 2, 3):
        delay = _delay(429, headers=headers, attempt=attempt)
        assert _ceiling(attempt) / 2 <= delay <= _ceiling(attempt)


@pytest.mark.parametrize("status", [500, 502, 503, 504, None])
@pytest.mark.parametrize("attempt", [1, 2, 3, 4, 5, 6, 7, 8, 12, 30])
def test_server_and_network_errors_back_off_within_bounds(status, attempt):
    ceiling = _ceiling(attempt)
    for seed in range(20):
        delay = _delay(status, attempt=attempt, rng=random.Random(seed))
        assert ceiling / 2 <= delay <= ceiling


@pytest.mark.parametrize("status", [500, None])
def test_backoff_bounds_are_reached_exactly(status):
    assert _delay(status, attempt=1, rng=EdgeRng("low")) == pytest.approx(0.25)
    assert _delay(status, attempt=1, rng=EdgeRng("high")) == pytest.approx(0.5)
    assert _delay(status, attempt=3, rng=EdgeRng("low")) == pytest.approx(1.0)
    assert _delay(status, attempt=3, rng=EdgeRng("high")) == pytest.approx(2.0)
    assert _delay(status, attempt=10, rng=EdgeRng("low")) == pytest.approx(15.0)
    assert _delay(status, attempt=10, rng=EdgeRng("high")) == pytest.approx(30.0)


def test_backoff_uses_the_policy():
    policy = RetryPolicy(backoff_base=2.0, backoff_cap=5.0)
    assert _delay(503, attempt=1, policy=policy, rng=EdgeRng("high")) == pytest.approx(2.0)
    assert _delay(503, attempt=2, policy=policy, rng=EdgeRng("high")) == pytest.approx(4.0)
    assert _delay(503, attempt=3, policy=policy, rng=EdgeRng("high")) == pytest.approx(5.0)
    assert _delay(503, attempt=3, policy=policy, rng=EdgeRng("low")) == pytest.approx(2.5)


def test_backoff_has_jitter():
    delays = {_delay(500, attempt=4, rng=random.Random(seed)) for seed in range(10)}
    assert len(delays) > 5


def test_backoff_doubles():
    lows = [_delay(None, attempt=attempt, rng=EdgeRng("low")) for attempt in range(1, 7)]
    assert lows == pytest.approx([0.25, 0.5, 1.0, 2.0, 4.0, 8.0])


def test_backoff_stays_capped_after_very_many_attempts():
    delay = _delay(500, attempt=1100, policy=RetryPolicy(max_retry_seconds=1e9))
    assert 15.0 <= delay <= 30.0


def test_budget_stops_rate_limit_retries():
    policy = RetryPolicy(max_retry_seconds=10.0)
    headers = {"Retry-After": "3"}
    assert _delay(429, headers=headers, waited=6.9, policy=policy) == pytest.approx(3.0 + RATE_LIMIT_MARGIN)
    assert _delay(429, headers=headers, waited=7.0, policy=policy) is None


@pytest.mark.parametrize("status", [500, None])
def test_budget_stops_backoff_retries(status):
    policy = RetryPolicy(max_retry_seconds=10.0)
    # attempt 3: exactly 2.0 s with the high edge
    assert _delay(status, attempt=3, waited=8.0, policy=policy, rng=EdgeRng("high")) == pytest.approx(2.0)
    assert _delay(status, attempt=3, waited=8.01, policy=policy, rng=EdgeRng("high")) is None
    assert _delay(status, attempt=3, waited=10.0, policy=policy, rng=EdgeRng("low")) is None


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504, None])
def test_zero_budget_means_no_retry(status):
    policy = RetryPolicy(max_retry_seconds=0)
    assert _delay(status, headers={"Retry-After": "1"}, policy=policy) is None


def test_default_policy():
    policy = RetryPolicy()
    assert policy.max_retry_seconds == 300.0
    assert policy.backoff_base == 0.5
    assert policy.backoff_cap == 30.0


# -- RetryLoop (the bookkeeping the hook and the trigger share) --------------------------------------------


def test_retry_loop_counts_attempts_and_waits():
    from airflow_provider_dub.protocol.retry import RetryLoop

    loop = RetryLoop(RetryPolicy(max_retry_seconds=10.0), EdgeRng("high"))
    assert loop.delay_after(500, {}, NOW) == pytest.approx(0.5)
    assert loop.delay_after(None, {}, NOW) == pytest.approx(1.0)
    assert loop.delay_after(429, {"Retry-After": str(int(NOW * 1000) + 3000)}, NOW) == pytest.approx(
        3.0 + RATE_LIMIT_MARGIN
    )
    assert loop.attempts == 3
    assert loop.waited == pytest.approx(4.5 + RATE_LIMIT_MARGIN)
    # the next wait (6 s after the 429) would go over the 10 s budget
    assert loop.delay_after(429, {"Retry-After": "6"}, NOW) is None
    assert loop.attempts == 4
    assert loop.waited == pytest.approx(4.5 + RATE_LIMIT_MARGIN)


def test_retry_loop_gives_up_at_once_on_client_errors():
    from airflow_provider_dub.protocol.retry import RetryLoop

    loop = RetryLoop(RetryPolicy(), random.Random(0))
    assert loop.delay_after(404, {"Retry-After": "1"}, NOW) is None
    err = ValueError("Dub API error 404 not_found: Program not found")
    assert str(loop.give_up(err)) == "Dub API error 404 not_found: Program not found"


def test_retry_loop_give_up_says_how_long_it_tried():
    from airflow_provider_dub.protocol.retry import RetryLoop

    loop = RetryLoop(RetryPolicy(max_retry_seconds=2.0), EdgeRng("high"))
    while loop.delay_after(503, {}, NOW) is not None:
        pass
    err = loop.give_up(RuntimeError("Dub API error 503 http_503: Service Unavailable"))
    assert "503" in str(err)
    assert f"{loop.attempts} attempts" in str(err)
    assert loop.attempts == 3  # 0.5 + 1.0 fit in 2 s, 2.0 more would not
