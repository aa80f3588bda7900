"""Injected faults and the log of requests the emulator served."""

from __future__ import annotations

import enum
import random
import threading
from collections import deque
from dataclasses import dataclass


class FaultKind(enum.Enum):
    """What can go wrong with a request to an API path."""

    SERVER_ERROR = "server_error"  # a 500/502/503 with Dub's error envelope
    RATE_LIMIT = "rate_limit"  # a 429 as if the key's window was full
    DROP = "drop"  # the connection closes without any response
    SLOW = "slow"  # the answer is normal but comes ``delay`` seconds late
    TRUNCATE = "truncate"  # full Content-Length, half the body, then the connection closes


SERVER_ERROR_STATUSES = (500, 502, 503)


@dataclass
class RequestRecord:
    """One HTTP request as the emulator saw it (``status`` 0: no complete response)."""

    method: str
    path: str
    query: dict[str, str]
    status: int
    started: float
    ended: float
    fault: str | None = None


@dataclass(frozen=True)
class Fault:
    """One fault to apply to one request."""

    kind: FaultKind
    status: int = 500
    delay: float = 1.0


class FaultPlan:
    """Faults waiting to be applied: a FIFO of injected ones, then seeded random ones."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queue: deque[Fault] = deque()
        self._probabilities: dict[FaultKind, float] = {}
        self._rng = random.Random(0)
        self._random_status = 500
        self._random_delay = 1.0

    def inject(self, fault: Fault, times: int) -> None:
        """Queue ``fault`` for the next ``times`` API requests (after those already queued)."""
        if fault.kind is FaultKind.SERVER_ERROR and fault.status not in SERVER_ERROR_STATUSES:
            raise ValueError(f"status must be one of {SERVER_ERROR_STATUSES}, not {fault.status}")
        with self._lock:
            self._queue.extend([fault] * times)

    def set_random(self, probabilities: dict[FaultKind, float], seed: int, status: int, delay: float) -> None:
        """Give every request an independent chance of each fault; ``{}`` turns it off."""
        if sum(probabilities.values()) > 1:
            raise ValueError("fault probabilities must add up to at most 1")
        if status not in SERVER_ERROR_STATUSES:
            raise ValueError(f"status must be one of {SERVER_ERROR_STATUSES}, not {status}")
        with self._lock:
            self._probabilities = dict(probabilities)
            self._rng = random.Random(seed)
            self._random_status = status
            self._random_delay = delay

    def clear(self) -> None:
        """Forget queued and random faults."""
        with self._lock:
            self._queue.clear()
            self._probabilities = {}

    def next_fault(self) -> Fault | None:
        """The fault for the request being served, if any (consumes it)."""
        with self._lock:
            if self._queue:
                return self._queue.popleft()
            if not self._probabilities:
                return None
            roll = self._rng.random()
            for kind, probability in self._probabilities.items():
                if roll < probability:
                    return Fault(kind, self._random_status, self._random_delay)
                roll -= probability
            return None
