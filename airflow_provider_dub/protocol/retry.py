"""When to retry and how long to wait: pure arithmetic on times and headers."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from airflow_provider_dub.protocol.pacer import Booking, WindowPacer

#: Dub's rate-limit window is one minute; a wait longer than this means a header we misread.
MAX_RATE_LIMIT_WAIT = 65.0
#: Added to a rate-limit wait so the retry lands after the window has moved on.
RATE_LIMIT_MARGIN = 0.05

_EPOCH_MS_THRESHOLD = 1e11  # numbers above this are epoch milliseconds (year 1973 in ms, 5138 in s)
_EPOCH_S_THRESHOLD = 1e9  # numbers above this (and below the one above) are epoch seconds


@dataclass(frozen=True)
class RetryPolicy:
    """
    Say how the transport retries.

    :param max_retry_seconds: how long one request may go on retrying after its first failure: the
        waits and the retried attempts' own time (a timeout, a slow error) together.
    :param backoff_base: first backoff for 5xx and network errors, doubled each attempt.
    :param backoff_cap: the longest single backoff.
    """

    max_retry_seconds: float = 300.0
    backoff_base: float = 0.5
    backoff_cap: float = 30.0


def parse_wait_value(value: str, now: float) -> float | None:
    """
    Return the seconds from ``now`` until the time a ``Retry-After`` or ``X-RateLimit-Reset`` value names.

    Dub sends the end of the window as Unix time in **milliseconds**; seconds since the epoch,
    a delay in seconds and an HTTP date are accepted too. ``None`` when the value is unreadable.
    """
    value = value.strip()
    if not value:
        return None
    try:
        number = float(value)
    except ValueError:
        try:
            return max(0.0, parsedate_to_datetime(value).timestamp() - now)
        except (TypeError, ValueError, IndexError):
            return None
    if number != number or number < 0:  # NaN or negative
        return None
    if number >= _EPOCH_MS_THRESHOLD:
        return max(0.0, number / 1000.0 - now)
    if number >= _EPOCH_S_THRESHOLD:
        return max(0.0, number - now)
    return number


def wait_from_headers(headers: Mapping[str, str], now: float) -> float | None:
    """Return the wait a rate-limited response asks for, from ``Retry-After`` or else ``X-RateLimit-Reset``."""
    lowered = {key.lower(): val for key, val in headers.items()}
    for name in ("retry-after", "x-ratelimit-reset"):
        if name in lowered:
            wait = parse_wait_value(str(lowered[name]), now)
            if wait is not None:
                return min(wait, MAX_RATE_LIMIT_WAIT)
    return None


def backoff_seconds(policy: RetryPolicy, attempt: int, rng: random.Random) -> float:
    """Return a capped exponential backoff with equal jitter: half fixed, half random. ``attempt`` counts from 1."""
    ceiling = min(policy.backoff_cap, policy.backoff_base * 2 ** min(attempt - 1, 32))
    return ceiling / 2 + rng.uniform(0, ceiling / 2)


def retry_delay(
    policy: RetryPolicy,
    *,
    status_code: int | None,
    headers: Mapping[str, str],
    attempt: int,
    waited: float,
    now: float,
    rng: random.Random,
    rate_limit_wait: float | None = None,
) -> float | None:
    """
    How long to wait before trying a failed request again, or ``None`` to give up.

    :param status_code: the HTTP status, or ``None`` for a network failure (timeout, reset, truncation).
        429 and every 5xx are retried; other statuses are final.
    :param headers: the failed response's headers (empty for a network failure).
    :param attempt: how many attempts have failed so far, from 1.
    :param waited: seconds already spent waiting on earlier retries of this request.
    :param rate_limit_wait: for a 429, the wait the rate-limit pacer booked (instead of the headers').
    """
    if status_code is not None and status_code != 429 and status_code < 500:
        return None
    delay: float | None = None
    if status_code == 429:
        delay = rate_limit_wait
        if delay is None:
            delay = wait_from_headers(headers, now)
            if delay is not None:
                delay += RATE_LIMIT_MARGIN
    if delay is None:
        delay = backoff_seconds(policy, attempt, rng)
    if waited + delay > policy.max_retry_seconds:
        return None
    return delay


class RetryLoop:
    """
    Keep the retry bookkeeping of one request, shared by the sync hook and the async trigger.

    For each attempt the transport waits :meth:`wait_before_send` (the pacer's slot), sends, and
    reports the outcome to :meth:`answered` (always, even when the attempt raised). On a failure it
    asks :meth:`delay_after` how long to sleep, and when the answer is ``None`` it raises
    :meth:`give_up`'s error, which says how long it tried.

    :param policy: the retry policy.
    :param rng: the source of jitter.
    :param clock: a monotonic clock, for the time spent since the first failure.
    :param pacer: the key's rate-limit pacer; ``None``: no pacing, 429s wait for Dub's reset.
    """

    def __init__(
        self,
        policy: RetryPolicy,
        rng: random.Random,
        clock: Callable[[], float] = time.monotonic,
        pacer: WindowPacer | None = None,
    ) -> None:
        self.policy = policy
        self.rng = rng
        self.clock = clock
        self.pacer = pacer
        self.attempts = 0
        self.throttled = 0
        self.waited = 0.0
        self.first_failure: float | None = None
        self._booking: Booking | None = None
        self._retry_booking: Booking | None = None

    def wait_before_send(self, now: float) -> float:
        """
        Book this attempt's slot with the pacer; the seconds until it (``now``: ``time.time()``).

        The transport sleeps that long and asks again, until the answer is 0: a slot that came due
        is confirmed first, and moved if other clients' traffic showed up meanwhile.
        """
        if self.pacer is None:
            return 0.0
        if self._booking is None:
            self._booking = self.pacer.reserve(now)
        elif self._booking.at <= now:
            self._booking = self.pacer.confirm(self._booking, now)
        return max(0.0, self._booking.at - now)

    def answered(
        self, status_code: int | None, headers: Mapping[str, str], sent: float, received: float
    ) -> None:
        """Tell the pacer how the attempt ended (``status_code`` ``None``: no HTTP answer)."""
        booking, self._booking = self._booking, None
        if status_code == 429:
            self.throttled += 1
        if self.pacer is None or booking is None:
            return
        self.pacer.finish(booking, sent=sent, received=received, status=status_code, headers=headers)
        if status_code == 429:
            self._retry_booking = self.pacer.book_retry(received, headers, self.throttled)

    def delay_after(self, status_code: int | None, headers: Mapping[str, str], now: float) -> float | None:
        """Count a failed attempt; return the wait before the next one, or ``None`` to give up."""
        self.attempts += 1
        moment = self.clock()
        if self.first_failure is None:
            self.first_failure = moment
        retry_booking, self._retry_booking = self._retry_booking, None
        # The budget covers the retried attempts too: a request that times out after the read
        # timeout each time must not get budget / backoff attempts of a read timeout each.
        spent = max(self.waited, moment - self.first_failure)
        delay = retry_delay(
            self.policy,
            status_code=status_code,
            headers=headers,
            attempt=self.attempts,
            waited=spent,
            now=now,
            rng=self.rng,
            rate_limit_wait=None if retry_booking is None else max(0.0, retry_booking.at - now),
        )
        if retry_booking is not None and self.pacer is not None:
            if delay is None:
                self.pacer.cancel(retry_booking)
            else:
                self._booking = retry_booking  # the retry goes in the slot booked for it
        if delay is not None:
            self.waited += delay
        return delay

    def give_up(self, error: Exception) -> Exception:
        """Return the error to raise, its text saying how long the retries went on (after more than one attempt)."""
        if self.attempts > 1:
            error.args = (
                f"{error} (gave up after {self.attempts} attempts and {self.waited:.1f} s of waiting; "
                f"retry budget {self.policy.max_retry_seconds:g} s)",
            )
        return error
