"""API keys, plans and Dub's per-key sliding-window rate limiter."""

from __future__ import annotations

import threading
import time
from collections import deque
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
    reset_ms: int  # end of the window, Unix milliseconds

    def headers(self) -> dict[str, str]:
        """``X-RateLimit-*`` and ``Retry-After``, both times in milliseconds as Dub sends."""
        return {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": str(self.reset_ms),
            "Retry-After": str(self.reset_ms),
        }


class SlidingWindowLimiter:
    """A sliding window per key: at most ``limit`` requests in any ``window`` seconds.

    Requests the limiter rejects are not counted (as with Upstash's limiter).
    """

    def __init__(self, window: float) -> None:
        self.window = window
        self._lock = threading.Lock()
        self._hits: dict[str, deque[float]] = {}

    def _prune(self, hits: deque[float], now: float) -> None:
        while hits and hits[0] <= now - self.window:
            hits.popleft()

    def _reset_ms(self, hits: deque[float], now: float) -> int:
        window_end = (hits[0] if hits else now) + self.window
        return int(window_end * 1000)

    def hit(self, key: ApiKey) -> RateLimitState:
        """Count one request for ``key`` unless its window is full."""
        now = time.time()
        with self._lock:
            hits = self._hits.setdefault(key.token, deque())
            self._prune(hits, now)
            if len(hits) >= key.limit:
                return RateLimitState(False, key.limit, 0, self._reset_ms(hits, now))
            hits.append(now)
            return RateLimitState(True, key.limit, key.limit - len(hits), self._reset_ms(hits, now))

    def full_window(self, key: ApiKey) -> RateLimitState:
        """The state of a full window for ``key`` (for an injected 429)."""
        now = time.time()
        with self._lock:
            hits = self._hits.setdefault(key.token, deque())
            self._prune(hits, now)
            return RateLimitState(False, key.limit, 0, self._reset_ms(hits, now))
