"""
The emulator's rate limiter is Upstash's ``slidingWindow`` as Dub runs it, over real HTTP with an
injected clock: epoch-aligned windows, the weighted previous window, only admitted requests counted,
and Dub's headers (on errors only, times in epoch milliseconds).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from email.utils import parsedate_to_datetime

import pytest
import requests

from airflow_provider_dub.testing import DubEmulator, FaultKind
from airflow_provider_dub.testing.ratelimit import ApiKey, SlidingWindowLimiter

MINUTE = 60.0
#: The start of an epoch minute (1_790_000_040 = 29_833_334 minutes).
EPOCH_MINUTE = 29_833_334 * 60.0
RATE_LIMIT_HEADERS = ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset", "Retry-After")


class Clock:
    """A settable clock in seconds since the epoch."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture()
def clock() -> Clock:
    return Clock(EPOCH_MINUTE + 30.0)


@pytest.fixture()
def dub(clock: Clock) -> Iterator[DubEmulator]:
    with DubEmulator(customers=5, seed=11, rate_limit=10, clock=clock) as emulator:
        yield emulator


def count(dub: DubEmulator, key: str | None = None) -> requests.Response:
    """One cheap request (``/customers/count``) with the emulator's key or ``key``."""
    headers = {"Authorization": f"Bearer {key or dub.api_key}"}
    return requests.get(dub.url + "/customers/count", headers=headers, timeout=10)


def statuses(dub: DubEmulator, n: int) -> list[int]:
    return [count(dub).status_code for _ in range(n)]


def test_an_idle_key_admits_its_whole_limit_at_once(dub: DubEmulator) -> None:
    assert statuses(dub, 11) == [200] * 10 + [429]


def test_the_previous_minute_weighs_as_much_as_is_left_of_it(dub: DubEmulator, clock: Clock) -> None:
    assert statuses(dub, 10) == [200] * 10  # 10 admitted at :30 of minute m
    clock.now = EPOCH_MINUTE + MINUTE  # start of m+1: floor(10 * 1.0) = 10 blocks
    assert statuses(dub, 1) == [429]
    clock.now = EPOCH_MINUTE + MINUTE + 0.001  # floor(10 * 0.99998) = 9: one request
    assert statuses(dub, 2) == [200, 429]
    clock.now = EPOCH_MINUTE + MINUTE + 30.0  # floor(10 * 0.5) = 5, 1 in this minute: 4 more
    assert statuses(dub, 5) == [200] * 4 + [429]
    clock.now = EPOCH_MINUTE + MINUTE + 53.9  # floor(10 * 0.1017) = 1, 5 in this minute: 4 more
    assert statuses(dub, 5) == [200] * 4 + [429]
    clock.now = EPOCH_MINUTE + 2 * MINUTE + 59.0  # m+2: floor(9 * 1/60) = 0, nothing in m+2 yet
    assert statuses(dub, 11) == [200] * 10 + [429]


def test_two_minutes_later_the_window_is_empty(dub: DubEmulator, clock: Clock) -> None:
    assert statuses(dub, 11) == [200] * 10 + [429]
    clock.now += 2 * MINUTE
    assert statuses(dub, 11) == [200] * 10 + [429]


def test_rejected_requests_are_not_counted(dub: DubEmulator, clock: Clock) -> None:
    assert statuses(dub, 10) == [200] * 10
    assert statuses(dub, 50) == [429] * 50  # rejected: the current minute still holds 10
    clock.now = EPOCH_MINUTE + MINUTE + 30.0  # floor(10 * 0.5) = 5: 5 more, as if the 429s never were
    assert statuses(dub, 6) == [200] * 5 + [429]


def test_keys_have_their_own_windows(dub: DubEmulator) -> None:
    other = dub.add_key(rate_limit=3)
    assert statuses(dub, 11) == [200] * 10 + [429]
    assert [count(dub, other).status_code for _ in range(4)] == [200, 200, 200, 429]


def test_headers_of_a_429(dub: DubEmulator, clock: Clock) -> None:
    clock.now = EPOCH_MINUTE + 12.345
    statuses(dub, 10)
    limited = count(dub)
    assert limited.status_code == 429
    next_minute_ms = str(int((EPOCH_MINUTE + MINUTE) * 1000))
    assert {name: limited.headers[name] for name in RATE_LIMIT_HEADERS} == {
        "X-RateLimit-Limit": "10",
        "X-RateLimit-Remaining": "0",
        "X-RateLimit-Reset": next_minute_ms,  # the next minute, even though it will still block there
        "Retry-After": next_minute_ms,
    }


def test_remaining_on_an_admitted_error_counts_the_weighted_previous_minute(
    dub: DubEmulator, clock: Clock
) -> None:
    statuses(dub, 6)  # 6 in minute m
    clock.now = EPOCH_MINUTE + MINUTE + 15.0  # floor(6 * 0.75) = 4 weigh in m+1
    missing = requests.get(dub.url + "/links", headers={"Authorization": f"Bearer {dub.api_key}"}, timeout=10)
    assert missing.status_code == 404  # admitted (counted), then not found
    assert missing.headers["X-RateLimit-Remaining"] == str(10 - (1 + 4))
    assert missing.headers["X-RateLimit-Reset"] == str(int((EPOCH_MINUTE + 2 * MINUTE) * 1000))


def test_a_200_carries_no_rate_limit_headers_but_a_date(dub: DubEmulator, clock: Clock) -> None:
    clock.now = EPOCH_MINUTE + 7.9  # the Date header comes from the emulator's clock too
    ok = count(dub)
    assert ok.status_code == 200
    assert not any(name in ok.headers for name in RATE_LIMIT_HEADERS)
    assert parsedate_to_datetime(ok.headers["Date"]).timestamp() == EPOCH_MINUTE + 7


def test_an_injected_429_names_the_next_window(dub: DubEmulator, clock: Clock) -> None:
    clock.now = EPOCH_MINUTE + 42.0
    dub.inject(FaultKind.RATE_LIMIT)
    limited = count(dub)
    assert limited.status_code == 429
    assert limited.headers["Retry-After"] == str(int((EPOCH_MINUTE + MINUTE) * 1000))
    assert limited.headers["X-RateLimit-Remaining"] == "0"


@pytest.mark.parametrize("limit", [1, 7, 1200, 3000])
def test_the_limiter_matches_the_formula_step_by_step(limit: int) -> None:
    """
    Hits every 10 ms for three minutes against the formula written as Upstash's Lua script computes it,
    in doubles: ``math.floor((1 - (now % window) / window) * previous)`` (exact rationals differ
    from it at some instants, by one request).
    """
    clock = Clock(EPOCH_MINUTE + 20.0)
    limiter = SlidingWindowLimiter(MINUTE, clock)
    key = ApiKey("dub_k", rate_limit=limit)
    admitted: dict[int, int] = {}
    for step in range(18_000):
        now_ms = int(EPOCH_MINUTE * 1000) + 20_000 + step * 10
        clock.now = now_ms / 1000
        minute = now_ms // 60_000
        weighted = math.floor((1 - (now_ms % 60_000) / 60_000) * admitted.get(minute - 1, 0))
        expected = weighted + admitted.get(minute, 0) < limit
        state = limiter.hit(key)
        assert state.allowed is expected, step
        if expected:
            admitted[minute] = admitted.get(minute, 0) + 1
            assert state.remaining == limit - weighted - admitted[minute]
        assert state.reset_ms == (minute + 1) * 60_000
    # an idle start admits the limit at once, and then the key sustains the limit a minute
    minutes = sorted(admitted)  # the first (from :20), two whole minutes, the last (to :20)
    assert admitted[minutes[0]] == min(limit, 4000)
    assert all(math.isclose(admitted[m], limit, abs_tol=1) for m in minutes[1:-1])
