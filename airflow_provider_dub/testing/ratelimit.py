"""API keys, plans and Dub's per-key rate limiter: Upstash's ``slidingWindow``, as Dub runs it."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

PLAN_RATE_LIMITS = {"free": 60, "pro": 600, "business": 1200, "advanced": 3000, "enterprise": 3000}
PLANS_WITH_CUSTOMERS = frozenset({"business", "advanced", "enterprise"})


@dataclass(frozen=True)
class ApiKey:
    """A workspace API key."""

    token: str
    plan: str = "business"
    expired: bool = False
    rate_limit: int | None = None  # requests per window; None: the plan's

    @property
    def limit(self) -> int:
        """The number of requests allowed in one window."""
        return self.rate_limit if self.rate_limit is not None else PLAN_RATE_LIMITS[self.plan]


@dataclass(frozen=True)
class RateLimitState:
    """What the limiter decided for one request, and the values of its headers."""

    allowed: bool
    limit: int
    remaining: int
    reset_ms: int  # start of the next window, Unix milliseconds

    def headers(self) -> dict[str, str]:
        """``X-RateLimit-*`` and ``Retry-After``, both times in milliseconds as Dub sends."""
        return {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": str(self.reset_ms),
            "Retry-After": str(self.reset_ms),
        }


def weighted_previous(previous: int, now_ms: int, window_ms: int) -> int:
    """The previous window's count as it weighs at ``now_ms``: Upstash's float arithmetic, then floor."""
    return math.floor((1 - (now_ms % window_ms) / window_ms) * previous)


class SlidingWindowLimiter:
    """
    Upstash's ``slidingWindow`` per key, as Dub's API runs it.

    Windows are fixed and aligned on the epoch (``window`` seconds each, 60 on Dub). A request at
    ``now`` is admitted when ``floor(previous * (1 - (now mod window) / window)) + current < limit``
    (``previous`` and ``current``: the admitted requests of the previous and the current window);
    only admitted requests are counted. So an idle key admits ``limit`` requests at once and a key
    used steadily sustains ``limit`` a window. The reset is the start of the next window, even when
    the weighted previous window will still block there.

    :param window: the window in seconds.
    :param clock: the time in seconds since the epoch (``time.time``; injectable for tests).
    """

    def __init__(self, window: float = 60.0, clock: Callable[[], float] = time.time) -> None:
        self.window = window
        self.window_ms = max(1, round(window * 1000))
        self.clock = clock
        self._lock = threading.Lock()
        self._counts: dict[str, dict[int, int]] = {}  # token -> {window number: admitted requests}

    def _windows(self, key: ApiKey, now_ms: int) -> tuple[dict[int, int], int]:
        """The key's counts with windows older than the previous one dropped, and the current window."""
        current = now_ms // self.window_ms
        counts = self._counts.setdefault(key.token, {})
        for old in [number for number in counts if number < current - 1]:
            del counts[old]
        return counts, current

    def _now_ms(self) -> int:
        return math.floor(self.clock() * 1000)

    def hit(self, key: ApiKey) -> RateLimitState:
        """Count one request for ``key`` if the window admits it."""
        now_ms = self._now_ms()
        with self._lock:
            counts, current = self._windows(key, now_ms)
            reset_ms = (current + 1) * self.window_ms
            previous = weighted_previous(counts.get(current - 1, 0), now_ms, self.window_ms)
            used = counts.get(current, 0)
            if previous + used >= key.limit:
                return RateLimitState(False, key.limit, 0, reset_ms)
            counts[current] = used + 1
            return RateLimitState(True, key.limit, key.limit - (used + 1 + previous), reset_ms)

    def full_window(self, key: ApiKey) -> RateLimitState:
        """The state of a full window for ``key`` now: a 429's headers (for an injected 429)."""
        current = self._now_ms() // self.window_ms
        return RateLimitState(False, key.limit, 0, (current + 1) * self.window_ms)

    def counts(self, key: ApiKey) -> tuple[int, int]:
        """The admitted requests of ``key`` in the previous and the current window, now."""
        now_ms = self._now_ms()
        with self._lock:
            counts, current = self._windows(key, now_ms)
            return counts.get(current - 1, 0), counts.get(current, 0)
