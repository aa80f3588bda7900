"""``DubEmulator``: a local stand-in for api.dub.co's customers endpoints.

Usage::

    with DubEmulator(customers=10_000, seed=1) as dub:
        requests.get(dub.url + "/customers", headers={"Authorization": f"Bearer {dub.api_key}"})

Construction generates the data; ``start()`` (or ``with``) serves it on
127.0.0.1 from a background thread, ``stop()`` shuts the server down.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Callable, Iterable
from datetime import datetime
from types import TracebackType
from typing import Any

from airflow_provider_dub.testing import ids
from airflow_provider_dub.testing.errors import MISCONFIGURED_AUTH_MESSAGE, ApiError
from airflow_provider_dub.testing.faults import Fault, FaultKind, FaultPlan, RequestRecord
from airflow_provider_dub.testing.handler import EmulatorHTTPServer
from airflow_provider_dub.testing.query import MAX_OFFSET_PAGE
from airflow_provider_dub.testing.ratelimit import PLAN_RATE_LIMITS, ApiKey, SlidingWindowLimiter
from airflow_provider_dub.testing.store import CustomerStore

BeforeRequest = Callable[[RequestRecord], None]


class DubEmulator:
    """A Dub API emulator with synthetic customers, faults, latency and rate limits."""

    def __init__(
        self,
        customers: int = 1000,
        seed: int = 0,
        *,
        page_cap: int = MAX_OFFSET_PAGE,
        latency: float = 0.0,
        rate_limit: int | None = None,
        rate_limit_window: float = 60.0,
        clock: Callable[[], float] = time.time,
        imported_share: float = 0.1,
        legacy_share: float = 0.3,
        anonymous_share: float = 0.02,
        default_program: bool = True,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        if page_cap < 1:
            raise ValueError(f"page_cap must be positive (Dub's is {MAX_OFFSET_PAGE})")
        if imported_share + legacy_share > 1:
            raise ValueError("imported_share + legacy_share must be at most 1")
        self.page_cap = page_cap
        self.latency = latency
        self.host = host
        self.port = port
        self._store = CustomerStore(
            customers,
            seed,
            imported_share=imported_share,
            legacy_share=legacy_share,
            anonymous_share=anonymous_share,
            default_program=default_program,
        )
        self._key_rng = random.Random(f"keys:{seed}")
        self.api_key = ids.make_api_key(self._key_rng)
        self._keys = {self.api_key: ApiKey(self.api_key, "business", False, rate_limit)}
        #: The rate limiter's and the ``Date`` header's clock (seconds since the epoch).
        self.clock = clock
        self._limiter = SlidingWindowLimiter(rate_limit_window, clock)
        self._faults = FaultPlan()
        self._requests: list[RequestRecord] = []
        self._requests_lock = threading.Lock()
        self._before_request: BeforeRequest | None = None
        self._server: EmulatorHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ----- lifecycle --------------------------------------------------------------------

    def start(self) -> DubEmulator:
        """Start serving on ``host:port`` (port 0: a free one) from a daemon thread."""
        if self._server is not None:
            return self
        server = EmulatorHTTPServer((self.host, self.port), self)
        self.port = server.server_address[1]
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"dub-emulator-{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close every open connection."""
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.close_connections()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> DubEmulator:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``, no trailing slash (the API is at ``url + "/customers"``)."""
        if self._server is None:
            raise RuntimeError("the emulator is not running: call start() or use `with`")
        return f"http://{self.host}:{self.port}"

    def airflow_conn_json(self) -> str:
        """The JSON for ``AIRFLOW_CONN_DUB_DEFAULT``."""
        return json.dumps({"conn_type": "dub", "host": self.url, "password": self.api_key})

    # ----- ground truth and data changes ------------------------------------------------

    def customers(self) -> list[dict[str, Any]]:
        """Every current customer as the API shows it, with expanded keys where present.

        Customers with neither name nor email have ``name: None`` here (the API
        invents a random name for them on every request).
        """
        return self._store.all_customers()

    def customer_ids(self) -> set[str]:
        """The ids of every current customer."""
        return self._store.live_ids()

    def get_customer(self, customer_id: str) -> dict[str, Any] | None:
        """One customer's ground truth, or None if there is no such customer."""
        return self._store.get(customer_id)

    def add_customers(
        self, n: int, imported: bool = False, created_at: str | datetime | None = None
    ) -> list[dict[str, Any]]:
        """Create ``n`` customers now, with ULID ids from the current clock.

        createdAt is now; with ``imported=True`` it is backdated 1-3 years at random;
        ``created_at`` (ISO string or datetime) sets it exactly in either case.
        """
        created_ms = None if created_at is None else ids.parse_time(created_at)
        return self._store.add(n, imported, created_ms)

    def delete_customers(self, ids_to_delete: Iterable[str]) -> None:
        """Delete customers by id; unknown ids are ignored."""
        self._store.delete(ids_to_delete)

    def delete_random(self, n: int, rng_seed: int | None = None) -> list[str]:
        """Delete ``n`` random current customers and return their ids."""
        return self._store.delete_random(n, rng_seed)

    def update_customer(self, customer_id: str, **fields: Any) -> dict[str, Any]:
        """Change fields (API names: ``sales=3, saleAmount=1999, name=...``); returns the customer.

        Times accept ISO strings, datetimes or None. Giving a customer its first sales
        also stamps ``firstSaleAt`` (now) unless given. ``linkId`` (None: no link) and
        ``partnerId`` move the customer to an existing link or partner (ValueError for
        unknown ones). Raises KeyError for an unknown id.
        """
        return self._store.update(customer_id, fields)

    # ----- keys, requests, faults -------------------------------------------------------

    def add_key(self, plan: str = "business", expired: bool = False, rate_limit: int | None = None) -> str:
        """Create another API key for the same workspace and return it."""
        if plan not in PLAN_RATE_LIMITS:
            raise ValueError(f"unknown plan {plan!r}; one of {sorted(PLAN_RATE_LIMITS)}")
        token = ids.make_api_key(self._key_rng)
        while token in self._keys:
            token = ids.make_api_key(self._key_rng)
        self._keys[token] = ApiKey(token, plan, expired, rate_limit)
        return token

    @property
    def requests(self) -> list[RequestRecord]:
        """A snapshot of every request served so far, oldest first."""
        with self._requests_lock:
            return list(self._requests)

    def request_count(self, path: str | None = "/customers") -> int:
        """How many requests went to ``path`` (None: to any path)."""
        with self._requests_lock:
            return sum(1 for r in self._requests if path is None or r.path == path)

    def clear_requests(self) -> None:
        """Forget the recorded requests."""
        with self._requests_lock:
            self._requests.clear()

    def before_request(self, callback: BeforeRequest | None) -> None:
        """Call ``callback(record)`` in the handler thread before each API request is served.

        It runs after authentication and rate limiting, before validation and the
        query, without any lock held (it may add or delete customers). None removes it.
        """
        self._before_request = callback

    def inject(self, kind: FaultKind, times: int = 1, *, status: int = 500, delay: float = 1.0) -> None:
        """Make the next ``times`` API requests fail with ``kind`` (queued FIFO).

        ``status`` (500, 502 or 503) applies to SERVER_ERROR, ``delay`` seconds to SLOW.
        """
        self._faults.inject(Fault(kind, status, delay), times)

    def random_faults(
        self, probabilities: dict[FaultKind, float], seed: int = 0, *, status: int = 500, delay: float = 1.0
    ) -> None:
        """Give each API request an independent, seeded chance of each fault; ``{}`` stops it."""
        self._faults.set_random(probabilities, seed, status, delay)

    def clear_faults(self) -> None:
        """Drop queued faults and stop random ones."""
        self._faults.clear()

    # ----- used by the request handler --------------------------------------------------

    def _authenticate(self, header: str | None) -> ApiKey:
        """The key of a request, or the 400/401 Dub answers (no rate-limit headers)."""
        if header is None:
            raise ApiError(401, "unauthorized", "Missing Authorization header.")
        if not header.startswith("Bearer "):
            raise ApiError(400, "bad_request", MISCONFIGURED_AUTH_MESSAGE)
        key = self._keys.get(header[len("Bearer ") :])
        if key is None:
            raise ApiError(401, "unauthorized", "Unauthorized: Invalid API key.")
        if key.expired:
            raise ApiError(401, "unauthorized", "Unauthorized: Access token expired.")
        return key

    def _record(self, record: RequestRecord) -> None:
        with self._requests_lock:
            self._requests.append(record)

    def _call_before_request(self, record: RequestRecord) -> None:
        callback = self._before_request
        if callback is not None:
            callback(record)
