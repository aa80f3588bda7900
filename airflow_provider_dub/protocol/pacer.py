"""
Dub's rate-limit window as the client models it, and the pacer that sends by it: pure arithmetic.

Dub limits each API key with Upstash's ``slidingWindow``: fixed windows aligned on the epoch (one
minute); a request at ``now`` is admitted when ``floor(previous * (1 - (now mod W) / W)) + current <
limit``, where ``previous`` and ``current`` count the admitted requests of the previous and the
current window. A 200 says nothing about the window, so the pacer keeps the server's counts itself,
from the requests this process sent with the key:

* each request counts in every window it may have reached Dub's limiter in: from its send time
  (in Dub's clock) to its answer (while it is in flight: every window from its send time on);
* Dub's clock is ours plus an offset learned from the ``Date`` header of every answer;
* a 429 it did not predict means another client uses the key: the pacer adds what that client must
  have sent to the window, and books the retry at the earliest moment the window can admit it, never
  later than Dub's reset (plus one request's share of the window for each request already waiting);
  a header ``X-RateLimit-Limit`` below the configured limit is taken as the key's limit;
* a 429 whose reset is not the start of an epoch minute comes from a server with another window
  (the emulator's shortened one, a proxy): nothing is sent before that reset, as the only safe rule.

An idle key so sends its whole budget as fast as the requests come; a long read keeps to what the
window admits (the limit a minute). One pacer per API key and base URL is shared by every hook of the
process (:func:`pacer_for`), sync and async, so tasks running side by side do not overrun each other.
"""

from __future__ import annotations

import hashlib
import itertools
import math
import threading
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

from airflow_provider_dub.protocol.retry import MAX_RATE_LIMIT_WAIT, RATE_LIMIT_MARGIN, parse_wait_value

#: Dub's window, in seconds.
WINDOW_SECONDS = 60.0
#: The clock offset assumed either way until Dub's ``Date`` header has been seen.
DEFAULT_SKEW = 1.0
#: Added either way to the offset learned from ``Date`` headers (the header is whole seconds).
SKEW_MARGIN = 0.05
#: How long a request may take to reach Dub's limiter, until answers have been timed.
DEFAULT_TRANSIT = 1.0
#: The shortest wait after a 429, doubled for each further 429 of the same request.
RETRY_FLOOR = 0.05
#: Rounding of Dub's millisecond clock, added to computed admission times.
_EPSILON = 0.002
_SAMPLES = 32
#: How long an answer's ``Date`` is trusted for the clock offset (clocks drift by a few ppm).
_OFFSET_MEMORY = 600.0


def safety_margin(limit: int) -> int:
    """Requests of the limit the pacer leaves unused (0.5%, at least 1), for what it cannot see."""
    return max(1, limit // 200)


def admits(previous: float, current: float, fraction: float, limit: float) -> bool:
    """Whether a window with these counts admits a request ``fraction`` of the way through it."""
    return math.floor((1 - fraction) * previous) + current < limit


def earliest_fraction(previous: float, current: float, fraction: float, limit: float) -> float | None:
    """
    The first fraction of the window, from ``fraction`` on, at which it admits a request.

    ``None`` when it admits none before it ends (``current`` has reached the limit).
    """
    if current >= limit:
        return None
    if admits(previous, current, fraction, limit):
        return fraction
    # floor((1 - f) * previous) < limit - current  <=>  (1 - f) * previous < limit - current
    return max(fraction, 1 - (limit - current) / previous)


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    if value is None:
        lowered = name.lower()
        value = next((v for k, v in headers.items() if k.lower() == lowered), None)
    return None if value is None else str(value)


@dataclass
class Booking:
    """A request's slot: ``at`` is when to send it (our clock), ``earliest`` its soonest arrival (Dub's)."""

    number: int
    at: float
    earliest: float
    generation: int = 0  # what the pacer knew of other clients when it booked


class WindowPacer:
    """
    Books send times so that the requests of one API key stay inside Dub's window. Thread-safe.

    Use: ``booking = reserve(now)``; wait until ``booking.at``; send; then :meth:`finish` with the
    answer (or a failure). After a 429, :meth:`book_retry` books the retry; :meth:`cancel` frees a
    booking that will not be sent. Times are ``time.time()`` seconds.

    :param requests_per_minute: the key's limit a minute (the plan's).
    :param window: Dub's window in seconds.
    """

    def __init__(self, requests_per_minute: int, window: float | None = None) -> None:
        self.window = WINDOW_SECONDS if window is None else window
        self._lock = threading.Lock()
        self._numbers = itertools.count(1)
        self._counts: dict[int, int] = {}  # window number -> our answered requests that landed in it
        # answered requests that may have landed in either of two windows: (sent, received), our clock;
        # which windows is decided anew as the offset to Dub's clock is learned better
        self._straddling: list[tuple[float, float]] = []
        self._external: dict[int, int] = {}  # window number -> what other clients must have sent
        self._in_flight: dict[int, Booking] = {}
        self._in_flight_from: dict[int, int] = {}  # window number of their earliest arrival -> bookings
        self._last_at = 0.0
        self._generation = 0  # goes up whenever a 429 or a header shows more traffic than we knew
        self._hold_until = 0.0  # after a 429 from a server whose window is not Dub's minute
        self._offsets: deque[tuple[float, float, float]] = deque(maxlen=8 * _SAMPLES)  # (when, low, high)
        self._offset: tuple[float, float] | None = None  # the bounds they give together
        self._transits: deque[float] = deque(maxlen=_SAMPLES)
        self.configure(requests_per_minute)

    def configure(self, requests_per_minute: int) -> None:
        """Set the configured limit (a minute); it also forgets a limit learned from a 429."""
        with self._lock:
            self.configured_limit = max(1, round(requests_per_minute * self.window / 60.0))
            self.limit = self.configured_limit

    def __repr__(self) -> str:
        return f"WindowPacer(limit={self.limit}, window={self.window:g})"

    # -- Dub's clock ----------------------------------------------------------------------------

    def offset_bounds(self) -> tuple[float, float]:
        """Dub's clock minus ours: the lowest and highest the answers so far allow."""
        if self._offset is None:
            return -DEFAULT_SKEW, DEFAULT_SKEW
        low, high = self._offset
        return low - SKEW_MARGIN, high + SKEW_MARGIN

    def _observe_date(self, date: str | None, sent: float, received: float) -> None:
        if not date:
            return
        try:
            server_second = parsedate_to_datetime(date).timestamp()
        except (TypeError, ValueError, IndexError):
            return
        # Dub stamped the answer between our send and our receipt, in a whole second of its clock.
        low, high = server_second - received, server_second + 1 - sent
        if self._offset is not None:
            known_low, known_high = self._offset
            if low > known_high or high < known_low:  # a clock moved: start again from this answer
                self._offsets.clear()
            elif low <= known_low and high >= known_high:
                return  # tells nothing new
        self._offsets.append((received, low, high))
        self._settle_offset()

    def _settle_offset(self) -> None:
        if self._offsets:
            self._offset = (max(o[1] for o in self._offsets), min(o[2] for o in self._offsets))
        else:
            self._offset = None

    def _transit(self) -> float:
        longest = max(self._transits) if self._transits else DEFAULT_TRANSIT
        return min(longest, self.window / 4)

    # -- the window -------------------------------------------------------------------------------

    def _number(self, server_time: float) -> int:
        return math.floor(server_time / self.window)

    def _total(self, number: int) -> int:
        """What Dub may have counted in window ``number``: ours, in flight, and other clients'."""
        in_flight = sum(n for start, n in self._in_flight_from.items() if start <= number)
        low, high = self.offset_bounds()
        straddling = sum(
            1
            for sent, received in self._straddling
            if self._number(sent + low) <= number <= self._number(received + high)
        )
        return self._counts.get(number, 0) + in_flight + straddling + self._external.get(number, 0)

    def _admission_in(self, number: int, server_time: float, limit: int) -> float | None:
        """The first moment (Dub's clock) from ``server_time`` on in window ``number`` that admits."""
        start = number * self.window
        previous = min(self._total(number - 1), self.limit)  # Dub never counts more than its limit
        fraction = earliest_fraction(
            previous, self._total(number), (server_time - start) / self.window, limit
        )
        if fraction is None:
            return None
        moment = start + fraction * self.window
        return server_time if moment <= server_time else moment + _EPSILON

    def _earliest(self, after: float, limit: int) -> float:
        """The first send time (our clock) from ``after`` on that the window admits wherever it lands."""
        low, high = self.offset_bounds()
        transit = self._transit()
        moment = after
        for _ in range(64):
            arrival = moment + low
            number = self._number(arrival)
            admitted = self._admission_in(number, arrival, limit)
            if admitted is None:
                moment = (number + 1) * self.window - low + _EPSILON
                continue
            if admitted > arrival:
                moment = admitted - low
                continue
            # It may reach Dub as late as moment + high + transit: in the next window, at its start.
            if self._number(moment + high + transit) > number:
                next_start = (number + 1) * self.window
                admitted = self._admission_in(number + 1, next_start, limit)
                if admitted is None or admitted > next_start:
                    later = (number + 2) * self.window if admitted is None else admitted
                    moment = later - low
                    continue
            return moment
        return moment

    def _prune(self, now: float) -> None:
        oldest = self._number(now - DEFAULT_SKEW) - 2
        for table in (self._counts, self._external):
            for number in [n for n in table if n < oldest]:
                del table[number]
        self._straddling = [(s, r) for s, r in self._straddling if r >= (oldest - 1) * self.window]
        if self._offsets and self._offsets[0][0] < now - _OFFSET_MEMORY:
            while self._offsets and self._offsets[0][0] < now - _OFFSET_MEMORY:
                self._offsets.popleft()
            self._settle_offset()
        # a booking never finished (its thread died) stops counting after two windows
        for booking in list(self._in_flight.values()):
            if booking.at < now - 2 * self.window:
                self._drop(booking)

    # -- booking ----------------------------------------------------------------------------------

    def _book(self, at: float) -> Booking:
        low, _ = self.offset_bounds()
        booking = Booking(next(self._numbers), at, at + low, self._generation)
        self._in_flight[booking.number] = booking
        start = self._number(booking.earliest)
        self._in_flight_from[start] = self._in_flight_from.get(start, 0) + 1
        self._last_at = max(self._last_at, at)
        return booking

    def _drop(self, booking: Booking) -> bool:
        """Take a booking out of the in-flight ones; False when it was not there."""
        if self._in_flight.pop(booking.number, None) is None:
            return False
        start = self._number(booking.earliest)
        left = self._in_flight_from[start] - 1
        if left:
            self._in_flight_from[start] = left
        else:
            del self._in_flight_from[start]
        return True

    def reserve(self, now: float) -> Booking:
        """Book the next send slot the window allows: now, or later (never before an earlier booking)."""
        with self._lock:
            self._prune(now)
            limit = self.limit - safety_margin(self.limit)
            return self._book(self._earliest(max(now, self._last_at, self._hold_until), limit))

    def confirm(self, booking: Booking, now: float) -> Booking:
        """
        The booking to send on at ``now`` (its time): itself, or a new one when a 429 (or Dub's headers)
        showed other clients' requests since it was made, which its time did not allow for.
        """
        with self._lock:
            if booking.generation == self._generation:
                return booking
            self._drop(booking)
            start = max(now, self._hold_until)
            return self._book(self._earliest(start, self.limit - safety_margin(self.limit)))

    def cancel(self, booking: Booking) -> None:
        """Free a booking that will not be sent."""
        with self._lock:
            if self._drop(booking) and booking.at >= self._last_at:
                self._last_at = max((b.at for b in self._in_flight.values()), default=0.0)

    def finish(
        self,
        booking: Booking,
        *,
        sent: float,
        received: float,
        status: int | None,
        headers: Mapping[str, str],
    ) -> None:
        """
        Record the answer to a booked request (``status`` ``None``: no answer, it may have landed).

        :param sent: when it was sent (our clock).
        :param received: when the answer (or the failure) came.
        :param headers: the answer's headers (``Date``, and on errors Dub's ``X-RateLimit-*``).
        """
        with self._lock:
            self._drop(booking)
            if status is not None:
                self._observe_date(_header(headers, "Date"), sent, received)
                self._transits.append(max(0.0, received - sent))
            low, high = self.offset_bounds()
            earliest = min(booking.earliest, sent + low)
            latest = received + high
            if status == 429:  # not counted by Dub; with Dub's headers it says the window was full
                reset = self._reset(headers, received)
                if reset is None:
                    return
                if reset[1]:
                    self._learn_limit(headers)
                    self._learn_full(earliest, latest)
                else:  # a server whose window is not Dub's minute: send nothing before its reset
                    self._hold_until = max(self._hold_until, reset[0] + RATE_LIMIT_MARGIN)
                    self._generation += 1
                return
            if self._number(earliest) == self._number(latest):
                self._counts[self._number(latest)] = self._counts.get(self._number(latest), 0) + 1
            else:
                self._straddling.append((min(booking.at, sent), received))
            if status is not None and status >= 400:
                self._learn_remaining(headers, earliest)

    def _learn_limit(self, headers: Mapping[str, str]) -> None:
        try:
            limit = int(_header(headers, "X-RateLimit-Limit") or "")
        except ValueError:
            return
        if limit >= 1 and min(self.configured_limit, limit) != self.limit:
            self.limit = min(self.configured_limit, limit)
            self._generation += 1

    def _learn_full(self, earliest: float, latest: float) -> None:
        """A 429 between ``earliest`` and ``latest`` (Dub's clock): others filled what we did not."""
        bump = max(1, math.ceil(self.limit / 50))  # they go on sending: expect some more
        for number in range(self._number(earliest), self._number(latest) + 1):
            at = min(latest, (number + 1) * self.window - _EPSILON)  # the latest it can have been
            fraction = at / self.window - number
            previous = min(self._total(number - 1), self.limit)
            ours = self._total(number) - self._external.get(number, 0)
            needed = self.limit - math.floor((1 - fraction) * previous) - ours
            if needed > self._external.get(number, 0):
                self._external[number] = min(needed + bump, max(0, self.limit - ours))
                self._generation += 1

    def _learn_remaining(self, headers: Mapping[str, str], earliest: float) -> None:
        """An admitted error's ``X-RateLimit-Remaining``: what the window held, others included."""
        try:
            remaining = int(_header(headers, "X-RateLimit-Remaining") or "")
            limit = int(_header(headers, "X-RateLimit-Limit") or "")
        except ValueError:
            return
        number = self._number(earliest)
        fraction = earliest / self.window - number
        previous = min(self._total(number - 1), self.limit)
        ours = math.floor((1 - fraction) * previous) + self._total(number) - self._external.get(number, 0)
        needed = (limit - remaining) - ours
        if needed > self._external.get(number, 0):
            self._external[number] = min(needed, max(0, self.limit - ours))
            self._generation += 1

    def _reset(self, headers: Mapping[str, str], now: float) -> tuple[float, bool] | None:
        """
        When (our clock) a 429 says the window resets, and whether that is the start of one of our
        windows (Dub's epoch minutes); ``None`` when it names no reset.
        """
        low, high = self.offset_bounds()
        for name in ("Retry-After", "X-RateLimit-Reset"):
            value = _header(headers, name)
            wait = None if value is None else parse_wait_value(value, now + (low + high) / 2)
            if wait is not None:
                try:
                    aligned = int(value or "") % round(self.window * 1000) == 0
                except ValueError:
                    aligned = False
                return now + min(wait, MAX_RATE_LIMIT_WAIT), aligned
        return None

    def book_retry(self, now: float, headers: Mapping[str, str], throttled: int) -> Booking | None:
        """
        Book the retry of a request Dub answered 429 (after :meth:`finish`).

        The earliest moment the window can admit it, by the model, but no later than Dub's reset plus
        one request's share of the window for each request of ours booked after the reset; never
        sooner than :data:`RETRY_FLOOR` doubled for each 429 of this request after the first.
        ``None`` when the 429 names no reset (the caller backs off instead).

        :param throttled: how many 429s this request has had, this one included.
        """
        with self._lock:
            named = self._reset(headers, now)
            if named is None:
                return None
            reset = named[0]
            floor = min(RETRY_FLOOR * 2 ** min(throttled - 1, 16), MAX_RATE_LIMIT_WAIT)
            queued = sum(1 for b in self._in_flight.values() if b.at >= reset)
            latest = reset + RATE_LIMIT_MARGIN + queued * self.window / self.limit
            start = max(now + floor, self._last_at, self._hold_until)
            at = min(self._earliest(start, self.limit), latest)
            return self._book(max(at, now + floor))


_registry: dict[tuple[str, str], WindowPacer] = {}
_registry_lock = threading.Lock()


def pacer_for(base_url: str, api_key: str, requests_per_minute: int) -> WindowPacer:
    """
    The process's one pacer for ``api_key`` at ``base_url``: every hook of the key shares it.

    The registry holds a hash of the key, never the key. A new configured limit replaces the old.
    """
    digest = hashlib.sha256(api_key.encode()).hexdigest()[:16]
    with _registry_lock:
        pacer = _registry.get((base_url, digest))
        if pacer is None or pacer.window != WINDOW_SECONDS:
            pacer = _registry[(base_url, digest)] = WindowPacer(requests_per_minute)
        elif pacer.configured_limit != max(1, round(requests_per_minute * pacer.window / 60.0)):
            pacer.configure(requests_per_minute)
        return pacer


def forget_pacers() -> None:
    """Drop every shared pacer (tests that restart a server at the same URL start from nothing)."""
    with _registry_lock:
        _registry.clear()
