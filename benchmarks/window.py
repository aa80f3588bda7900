"""
The floor Dub's rate limit sets on a read, by simulating its window, and a second client for the key.

Dub admits a request at ``now`` (milliseconds) when ``floor(previous * (1 - (now mod W) / W)) + current
< limit`` over epoch-aligned windows of ``W``; only admitted requests count. :func:`window_floor` plays a
client that knows the window exactly: ``concurrency`` requests in flight, each reaching the limiter
``latency`` after it is sent and sent again as soon as the window admits it, from the same start
time as the measured read, next to the requests Dub admitted from the other client in that read. When its ``n``-th request is
admitted is the earliest any client could finish.
"""

from __future__ import annotations

import heapq
import math
import threading
import time
from collections.abc import Sequence

import requests

WINDOW_MS = 60_000


class _Window:
    def __init__(self, limit: int, window_ms: int) -> None:
        self.limit = limit
        self.window_ms = window_ms
        self.counts: dict[int, int] = {}

    def admits(self, now_ms: int) -> bool:
        number = now_ms // self.window_ms
        previous = self.counts.get(number - 1, 0)
        weighted = math.floor((1 - (now_ms % self.window_ms) / self.window_ms) * previous)
        return weighted + self.counts.get(number, 0) < self.limit

    def count(self, now_ms: int) -> None:
        number = now_ms // self.window_ms
        self.counts[number] = self.counts.get(number, 0) + 1

    def earliest(self, now_ms: int) -> int:
        """The first millisecond from ``now_ms`` that admits a request, with the counts as they are."""
        while not self.admits(now_ms):
            number = now_ms // self.window_ms
            current = self.counts.get(number, 0)
            previous = self.counts.get(number - 1, 0)
            if current >= self.limit:
                now_ms = (number + 1) * self.window_ms
                continue
            fraction = 1 - (self.limit - current) / previous
            now_ms = max(now_ms + 1, number * self.window_ms + math.floor(fraction * self.window_ms))
        return now_ms


def window_floor(
    n: int,
    start: float,
    *,
    limit: int,
    concurrency: int,
    latency: float,
    others: Sequence[float] = (),
    window_ms: int = WINDOW_MS,
) -> float:
    """
    Seconds from ``start`` until a client knowing the window could have had ``n`` requests admitted.

    :param start: when the read started (epoch seconds).
    :param others: when the other client's requests that Dub admitted in the measured run reached the
        limiter (epoch seconds): the floor is that of what the window left us.
    """
    window = _Window(limit, window_ms)
    start_ms = round(start * 1000)
    latency_ms = max(1, round(latency * 1000))
    pending = sorted(round(t * 1000) for t in others)
    slots = [start_ms + latency_ms] * concurrency
    heapq.heapify(slots)
    other = 0
    admitted = 0
    last = start_ms
    while admitted < n:
        moment = heapq.heappop(slots)
        while other < len(pending) and pending[other] <= moment:
            window.count(pending[other])  # admitted in the measured run: what it left us is the rest
            other += 1
        if window.admits(moment):
            window.count(moment)
            admitted += 1
            last = moment
            heapq.heappush(slots, moment + latency_ms)
        else:  # wait for the window; the other client may still take the slot first
            heapq.heappush(slots, window.earliest(moment))
    return (last - start_ms) / 1000


def latency_floor(requests_needed: int, concurrency: int, latency: float) -> float:
    """Seconds ``requests_needed`` take at ``concurrency`` in flight with no rate limit at all."""
    return math.ceil(requests_needed / concurrency) * latency


class OtherClient:
    """
    Another client of the same key: one ``GET /customers?pageSize=1`` every ``60 / per_minute`` s.

    Runs in a thread between :meth:`start` and :meth:`stop`; sends on schedule whatever the answer.
    """

    QUERY = {"pageSize": "1"}

    def __init__(self, url: str, key: str, per_minute: int) -> None:
        self.url = url
        self.key = key
        self.interval = 60.0 / per_minute
        self.statuses: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="other-client", daemon=True)

    def _run(self) -> None:
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {self.key}"
        moment = time.time()
        while not self._stop.is_set():
            try:
                self.statuses.append(
                    session.get(f"{self.url}/customers", params=self.QUERY, timeout=10).status_code
                )
            except requests.RequestException:
                self.statuses.append(0)
            moment += self.interval
            self._stop.wait(max(0.0, moment - time.time()))

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
