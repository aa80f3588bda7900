"""
The window pacer against Dub's limiter, in simulated time: no sockets, no sleeps.

Clients are simulated as events (send, reach the limiter, answer) in time order, with the emulator's
:class:`~airflow_provider_dub.testing.ratelimit.SlidingWindowLimiter` as Dub on an injected clock,
which may run ahead of or behind the client's.
"""

from __future__ import annotations

import heapq
import itertools
import math
import threading
from dataclasses import dataclass, field
from email.utils import formatdate

import pytest

from airflow_provider_dub.protocol import pacer as pacer_module
from airflow_provider_dub.protocol.pacer import (
    RETRY_FLOOR,
    WindowPacer,
    admits,
    earliest_fraction,
    forget_pacers,
    pacer_for,
    safety_margin,
)
from airflow_provider_dub.protocol.retry import RATE_LIMIT_MARGIN
from airflow_provider_dub.testing.ratelimit import ApiKey, SlidingWindowLimiter
from benchmarks.window import window_floor

MINUTE = 60.0
EPOCH_MINUTE = 29_833_334 * 60.0  # the start of an epoch minute


class ServerClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Run:
    """What a simulated read did."""

    sent: list[float] = field(default_factory=list)  # send times of admitted requests
    statuses: list[int] = field(default_factory=list)
    retry_waits: list[tuple[float, float]] = field(default_factory=list)  # (wait, seconds to Dub's reset)
    end: float = 0.0
    other_statuses: list[int] = field(default_factory=list)

    @property
    def throttled(self) -> int:
        return self.statuses.count(429)


def simulate(
    pacer: WindowPacer,
    limit: int,
    *,
    requests: int,
    start: float,
    concurrency: int = 8,
    latency: float = 0.05,
    offset: float = 0.0,
    other_interval: float | None = None,
) -> Run:
    """
    ``concurrency`` workers read ``requests`` admitted requests through ``pacer`` from ``start``.

    Each request reaches Dub's limiter half-way through ``latency`` and is answered at its end, with a
    ``Date`` header from Dub's clock (ours + ``offset``); a 429 carries Dub's headers and is retried as
    the pacer books it. ``other_interval``: another client sends every that many seconds.
    """
    clock = ServerClock()
    limiter = SlidingWindowLimiter(MINUTE, clock)
    key = ApiKey("dub_simulated", rate_limit=limit)
    run = Run()
    order = itertools.count()
    events: list[tuple[float, int, str, dict]] = []

    def push(moment: float, kind: str, **data: object) -> None:
        heapq.heappush(events, (moment, next(order), kind, data))

    for _ in range(concurrency):
        push(start, "free", booking=None, throttled=0)
    if other_interval:
        push(start - 5.0, "other")
    admitted = 0
    while events and admitted < requests:
        moment, _, kind, data = heapq.heappop(events)
        if kind == "other":
            clock.now = moment + offset
            run.other_statuses.append(200 if limiter.hit(key).allowed else 429)
            push(moment + other_interval, "other")
        elif kind == "free":
            booking = data["booking"] or pacer.reserve(moment)
            push(max(moment, booking.at), "due", booking=booking, throttled=data["throttled"])
        elif kind == "due":  # as the hooks do: confirm the slot when it comes, wait again if it moved
            booking = pacer.confirm(data["booking"], moment)
            if booking.at > moment:
                push(booking.at, "due", booking=booking, throttled=data["throttled"])
            else:
                push(
                    moment + latency / 2, "arrive", booking=booking, sent=moment, throttled=data["throttled"]
                )
        elif kind == "arrive":
            clock.now = moment + offset
            state = limiter.hit(key)
            headers = {"Date": formatdate(clock.now, usegmt=True)}
            if not state.allowed:
                headers.update(state.headers())
            push(moment + latency / 2, "answer", state=state, headers=headers, **data)
        else:  # answer
            state, headers, sent = data["state"], data["headers"], data["sent"]
            status = 200 if state.allowed else 429
            run.statuses.append(status)
            pacer.finish(data["booking"], sent=sent, received=moment, status=status, headers=headers)
            if status == 200:
                admitted += 1
                run.sent.append(sent)
                run.end = moment
                push(moment, "free", booking=None, throttled=0)
            else:
                throttled = data["throttled"] + 1
                retry = pacer.book_retry(moment, headers, throttled)
                assert retry is not None
                run.retry_waits.append((retry.at - moment, state.reset_ms / 1000 - offset - moment))
                push(moment, "free", booking=retry, throttled=throttled)
    return run


def per_window(times: list[float], offset: float = 0.0) -> dict[int, int]:
    counts: dict[int, int] = {}
    for moment in times:
        number = math.floor((moment + offset) / MINUTE)
        counts[number] = counts.get(number, 0) + 1
    return counts


# -- the formula --------------------------------------------------------------------------------------


def test_admits_is_dubs_formula():
    assert admits(previous=0, current=9, fraction=0.0, limit=10)
    assert not admits(previous=0, current=10, fraction=0.99, limit=10)
    assert not admits(previous=10, current=0, fraction=0.0, limit=10)  # floor(10 * 1) = 10
    assert admits(previous=10, current=0, fraction=0.001, limit=10)  # floor(9.99) = 9
    assert not admits(previous=10, current=5, fraction=0.5, limit=10)  # 5 + 5
    assert admits(previous=10, current=5, fraction=0.51, limit=10)  # floor(4.9) + 5


def test_earliest_fraction():
    assert earliest_fraction(previous=10, current=5, fraction=0.2, limit=10) == pytest.approx(0.5)
    assert earliest_fraction(previous=10, current=0, fraction=0.3, limit=10) == 0.3
    assert earliest_fraction(previous=0, current=10, fraction=0.3, limit=10) is None


def test_safety_margin():
    assert [safety_margin(n) for n in (20, 600, 1200, 3000)] == [1, 3, 6, 15]


# -- our own traffic -------------------------------------------------------------------------------------


def test_an_idle_key_sends_its_budget_at_once():
    pacer = WindowPacer(1200)
    now = EPOCH_MINUTE + 20.0
    bookings = [pacer.reserve(now) for _ in range(1200)]
    free = [b for b in bookings if b.at == now]
    assert len(free) == 1200 - safety_margin(1200)
    assert all(b.at > now for b in bookings[len(free) :])


@pytest.mark.parametrize("start_second", [0.5, 30.0, 59.7])
def test_a_long_read_sustains_the_window_without_a_429(start_second):
    limit = 300
    pacer = WindowPacer(limit)
    start = EPOCH_MINUTE + start_second
    run = simulate(pacer, limit, requests=1_500, start=start)
    assert run.throttled == 0
    floor = window_floor(1_500, start, limit=limit, concurrency=8, latency=0.05) + 0.05
    assert run.end - start <= 1.05 * floor, (run.end - start, floor)
    # once the offset to Dub's clock is known, every whole minute carries about the limit
    counts = per_window(run.sent)
    steady = sorted(counts)[2:-1]
    assert steady and all(counts[number] >= limit * 0.98 for number in steady), counts


@pytest.mark.parametrize("offset", [-7.3, -0.4, 0.6, 12.9])
def test_dubs_clock_ahead_or_behind_ours_causes_no_429(offset):
    """The offset is learned from the Date header; until then +-1 s is assumed."""
    limit = 300
    pacer = WindowPacer(limit)
    start = EPOCH_MINUTE + 30.0 - offset  # mid-minute in Dub's clock: learnt before the first boundary
    run = simulate(pacer, limit, requests=900, start=start, offset=offset)
    assert run.throttled == 0
    low, high = pacer.offset_bounds()
    assert low <= offset <= high
    assert high - low < 0.5


def test_threads_sharing_a_pacer_never_overbook():
    pacer = WindowPacer(600)
    now = EPOCH_MINUTE + 10.0
    at_once: list[int] = []
    lock = threading.Lock()

    def worker() -> None:
        count = 0
        for _ in range(100):
            booking = pacer.reserve(now)
            if booking.at == now:
                count += 1
        with lock:
            at_once.append(count)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(at_once) == 600 - safety_margin(600)


def test_a_cancelled_booking_gives_its_slot_back():
    pacer = WindowPacer(60)
    now = EPOCH_MINUTE + 10.0
    bookings = [pacer.reserve(now) for _ in range(59)]
    late = pacer.reserve(now)
    assert late.at > now
    pacer.cancel(late)
    pacer.cancel(bookings[-1])
    assert pacer.reserve(now).at == now


def test_a_request_that_may_land_in_the_next_minute_waits_for_it():
    """
    50 answered and 8 in flight in a minute of 60: near its end a request may reach Dub in the next
    minute, where the 58 weigh fully (and the 8 may count again): it waits until the next admits it.
    """
    pacer = WindowPacer(60)
    start = EPOCH_MINUTE + 5.0
    for _ in range(50):
        booking = pacer.reserve(start)
        pacer.finish(booking, sent=start, received=start + 0.1, status=200, headers={})
    in_flight = [pacer.reserve(EPOCH_MINUTE + 50.0) for _ in range(8)]
    assert all(b.at == EPOCH_MINUTE + 50.0 for b in in_flight)
    assert pacer.reserve(EPOCH_MINUTE + 20.0).at == EPOCH_MINUTE + 50.0  # never before an earlier booking
    late = pacer.reserve(EPOCH_MINUTE + 59.5)
    assert late.at > EPOCH_MINUTE + MINUTE


# -- another client on the key -------------------------------------------------------------------------


def test_another_client_on_the_key_costs_few_429s_and_little_time():
    limit = 600
    pacer = WindowPacer(limit)
    start = EPOCH_MINUTE + 25.0
    other_interval = 0.2  # 300 a minute: half the limit
    run = simulate(pacer, limit, requests=1_500, start=start, other_interval=other_interval)
    # the floor of what the window left us: the other client's admitted requests, and ours at best
    others = [start - 5.0 + i * other_interval for i, s in enumerate(run.other_statuses) if s == 200]
    floor = window_floor(1_500, start, limit=limit, concurrency=8, latency=0.05, others=others)
    assert run.end - start <= 1.15 * floor, (run.end - start, floor)
    assert run.throttled <= 0.1 * 1_500  # each 429 teaches the pacer what the other client sends
    # never later than Dub's reset (plus a request's share of the window per retry queued after it)
    for wait, to_reset in run.retry_waits:
        assert wait >= RETRY_FLOOR - 1e-9
        assert wait <= to_reset + RATE_LIMIT_MARGIN + 8 * MINUTE / limit + 1e-6


def test_a_retry_goes_no_later_than_dubs_reset():
    pacer = WindowPacer(1200)
    now = EPOCH_MINUTE + 42.0
    booking = pacer.reserve(now)
    reset_ms = str(int((EPOCH_MINUTE + MINUTE) * 1000))
    headers = {"X-RateLimit-Limit": "1200", "X-RateLimit-Remaining": "0", "Retry-After": reset_ms}
    pacer.finish(booking, sent=now, received=now + 0.2, status=429, headers=headers)
    retry = pacer.book_retry(now + 0.2, headers, throttled=1)
    assert retry is not None
    # another client filled the minute: the retry waits for the next one, and not beyond it
    assert EPOCH_MINUTE + MINUTE - 1.0 <= retry.at <= EPOCH_MINUTE + MINUTE + RATE_LIMIT_MARGIN
    # meanwhile nothing else of ours goes into the full minute
    assert pacer.reserve(now + 0.3).at > retry.at


def test_repeated_429s_back_off_from_the_floor():
    pacer = WindowPacer(1200)
    now = EPOCH_MINUTE + 10.0
    headers = {"Retry-After": str(int((now + 0.01) * 1000))}  # a reset (nearly) now, not a minute's
    waits = []
    for throttled in range(1, 6):
        booking = pacer.reserve(now)
        pacer.finish(booking, sent=now, received=now, status=429, headers=headers)
        retry = pacer.book_retry(now, headers, throttled)
        assert retry is not None
        waits.append(retry.at - now)
        pacer.cancel(retry)
    # the reset (+ margin) at first, then the doubling floor: no tight loop
    reset = 0.01 + RATE_LIMIT_MARGIN
    assert waits == pytest.approx([max(reset, RETRY_FLOOR * 2**i) for i in range(5)], abs=1e-6)


def test_a_429_teaches_a_lower_limit_and_a_headerless_one_teaches_nothing():
    pacer = WindowPacer(1200)
    now = EPOCH_MINUTE + 10.0
    booking = pacer.reserve(now)
    pacer.finish(booking, sent=now, received=now, status=429, headers={})
    assert pacer.limit == 1200
    assert pacer.book_retry(now, {}, 1) is None  # no reset named: the caller backs off
    assert pacer.reserve(now).at == now
    booking = pacer.reserve(now)
    headers = {"x-ratelimit-limit": "600", "retry-after": str(int((EPOCH_MINUTE + MINUTE) * 1000))}
    pacer.finish(booking, sent=now, received=now, status=429, headers=headers)
    assert pacer.limit == 600
    pacer.configure(1200)
    assert pacer.limit == 1200


def test_remaining_on_an_error_reveals_another_clients_requests():
    pacer = WindowPacer(100)
    now = EPOCH_MINUTE + 10.0
    booking = pacer.reserve(now)
    # Dub says 40 are used, we sent 1: the other 39 are someone else's
    headers = {"X-RateLimit-Limit": "100", "X-RateLimit-Remaining": "60"}
    pacer.finish(booking, sent=now, received=now + 0.1, status=422, headers=headers)
    free = [pacer.reserve(now + 0.2).at == now + 0.2 for _ in range(100)]
    assert sum(free) == 100 - 40 - safety_margin(100)


# -- one pacer per key and process ----------------------------------------------------------------------


def test_one_pacer_per_key_and_url_shared_by_hooks():
    forget_pacers()
    try:
        first = pacer_for("https://api.dub.co", "dub_secret_key_0123456789ab", 1200)
        assert pacer_for("https://api.dub.co", "dub_secret_key_0123456789ab", 1200) is first
        assert pacer_for("https://api.dub.co", "dub_other_key_0123456789abc", 1200) is not first
        assert pacer_for("http://127.0.0.1:8089", "dub_secret_key_0123456789ab", 1200) is not first
        assert "secret" not in repr(first)
        assert all("secret" not in digest for _, digest in pacer_module._registry)
        assert pacer_for("https://api.dub.co", "dub_secret_key_0123456789ab", 3000).limit == 3000
    finally:
        forget_pacers()


def test_a_429_from_a_server_with_another_window_holds_until_its_reset():
    """The emulator's shortened window (or a proxy): the reset is no epoch minute; wait for it, no more."""
    pacer = WindowPacer(1200)
    now = EPOCH_MINUTE + 10.0
    booking = pacer.reserve(now)
    waiting = pacer.reserve(now)  # booked before the 429: moved when it comes due
    headers = {"Retry-After": str(int((now + 1.5) * 1000)), "X-RateLimit-Limit": "20"}
    pacer.finish(booking, sent=now, received=now + 0.1, status=429, headers=headers)
    assert pacer.limit == 1200  # not learnt from a window that is not Dub's
    retry = pacer.book_retry(now + 0.1, headers, 1)
    assert retry is not None and retry.at == pytest.approx(now + 1.5 + RATE_LIMIT_MARGIN)
    assert pacer.confirm(waiting, now + 0.1).at >= now + 1.5
    assert pacer.reserve(now + 2.0).at == now + 2.0  # and after the reset, nothing holds
