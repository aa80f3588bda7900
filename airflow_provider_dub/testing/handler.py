"""The HTTP side of the emulator: one handler per connection, Dub's request pipeline.

Order of checks for every request, as on Dub: authentication (no rate-limit
headers), the per-key rate limiter, then (API paths only) an injected fault,
the ``before_request`` callback, the plan check, validation and the query.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import random
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit

from airflow_provider_dub.testing.errors import INTERNAL_ERROR_MESSAGE, ApiError
from airflow_provider_dub.testing.faults import Fault, FaultKind, RequestRecord
from airflow_provider_dub.testing.query import parse_filters, parse_group_by, parse_list_query
from airflow_provider_dub.testing.ratelimit import PLANS_WITH_CUSTOMERS, ApiKey, RateLimitState

if TYPE_CHECKING:
    from airflow_provider_dub.testing.server import DubEmulator

LIST_PATH = "/customers"
COUNT_PATH = "/customers/count"
API_PATHS = frozenset({LIST_PATH, COUNT_PATH})
SERVER_ERROR_MESSAGES = {500: INTERNAL_ERROR_MESSAGE, 502: "Bad gateway.", 503: "Service unavailable."}


class EmulatorHTTPServer(ThreadingHTTPServer):
    """A threaded HTTP server that knows its emulator and its open connections."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], emulator: DubEmulator) -> None:
        self.emulator = emulator
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        super().__init__(address, DubRequestHandler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Stay quiet about clients that went away; report real bugs."""
        error = sys.exc_info()[1]
        if not isinstance(error, OSError):
            super().handle_error(request, client_address)

    def close_connections(self) -> None:
        """Shut down every open client connection (so idle keep-alive threads end)."""
        with self.connections_lock:
            connections = list(self.connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)


class DubRequestHandler(BaseHTTPRequestHandler):
    """Serves ``/customers`` and ``/customers/count`` like api.dub.co."""

    protocol_version = "HTTP/1.1"
    server_version = "DubEmulator/1.0"
    sys_version = ""
    server: EmulatorHTTPServer
    _recorded = False  # whether the current request is in the emulator's log yet

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in two writes: without this, Nagle's algorithm and
        # delayed ACKs add ~40 ms to every response on a keep-alive connection.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self.server.connections_lock:
            self.server.connections.add(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            with self.server.connections_lock:
                self.server.connections.discard(self.connection)

    def log_message(self, format: str, *args: Any) -> None:
        """No per-request logging."""

    def date_time_string(self, timestamp: float | None = None) -> str:
        """The ``Date`` header (sent on every response, as Dub does), from the emulator's clock."""
        return super().date_time_string(self.server.emulator.clock() if timestamp is None else timestamp)

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_PUT(self) -> None:
        self._serve()

    def do_PATCH(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()

    # ----- pipeline ---------------------------------------------------------------------

    def _serve(self) -> None:
        split = urlsplit(self.path)
        record = RequestRecord(
            method=self.command,
            path=split.path,
            query=dict(parse_qsl(split.query, keep_blank_values=True)),
            status=0,
            started=time.time(),
            ended=0.0,
        )
        self._recorded = False
        try:
            self._discard_body()
            self._respond(self.server.emulator, record)
        finally:
            self._finish_record(record, record.status)

    def _finish_record(self, record: RequestRecord, status: int) -> None:
        """Log the request once, before its last byte leaves (so clients see it logged)."""
        if not self._recorded:
            self._recorded = True
            record.status = status
            record.ended = time.time()
            self.server.emulator._record(record)

    def _discard_body(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length > 0:
            self.rfile.read(length)

    def _respond(self, emulator: DubEmulator, record: RequestRecord) -> None:
        is_api = record.path in API_PATHS
        if is_api and emulator.latency > 0:
            time.sleep(emulator.latency)
        try:
            key = emulator._authenticate(self.headers.get("Authorization"))
        except ApiError as error:
            self._send_error(record, error, None)
            return
        limit = emulator._limiter.hit(key)
        if not limit.allowed:
            self._send_error(record, ApiError(429, "rate_limit_exceeded", "Too many requests."), limit)
            return
        fault = emulator._faults.next_fault() if is_api else None
        if fault is not None:
            record.fault = fault.kind.value
            if self._answer_fault(emulator, record, fault, key, limit):
                return
        truncate = fault is not None and fault.kind is FaultKind.TRUNCATE
        if is_api:
            emulator._call_before_request(dataclasses.replace(record))
        try:
            body = self._route(emulator, record, key.plan)
        except ApiError as error:
            self._send_error(record, error, limit, truncate)
            return
        except Exception:  # a bug in the emulator: answer like Dub would
            self._send_error(
                record, ApiError(500, "internal_server_error", INTERNAL_ERROR_MESSAGE), limit, truncate
            )
            raise
        self._send(record, 200, body, {}, truncate)

    def _answer_fault(
        self, emulator: DubEmulator, record: RequestRecord, fault: Fault, key: ApiKey, limit: RateLimitState
    ) -> bool:
        """Apply ``fault``; True when it answered (or dropped) the request itself."""
        if fault.kind is FaultKind.DROP:
            self.close_connection = True
            return True
        if fault.kind is FaultKind.SERVER_ERROR:
            error = ApiError(fault.status, "internal_server_error", SERVER_ERROR_MESSAGES[fault.status])
            self._send_error(record, error, limit if fault.status == 500 else None)
            return True
        if fault.kind is FaultKind.RATE_LIMIT:
            error = ApiError(429, "rate_limit_exceeded", "Too many requests.")
            self._send_error(record, error, emulator._limiter.full_window(key))
            return True
        if fault.kind is FaultKind.SLOW:
            time.sleep(fault.delay)
        return False  # SLOW answers normally, late; TRUNCATE cuts the normal answer

    def _route(self, emulator: DubEmulator, record: RequestRecord, plan: str) -> bytes:
        if record.path not in API_PATHS:
            raise ApiError(404, "not_found", "Not found.")
        if self.command != "GET":
            raise ApiError(405, "bad_request", f"Method {self.command} is not allowed.")
        if record.path == COUNT_PATH:
            group_by = parse_group_by(record.query)
            count = emulator._store.count(parse_filters(record.query), group_by, random.Random())
            return json.dumps(count, separators=(",", ":")).encode()
        if plan not in PLANS_WITH_CUSTOMERS:
            raise ApiError(403, "forbidden", "Unauthorized: Need higher plan.")
        query = parse_list_query(record.query)
        customers = emulator._store.list_page(query, random.Random(), emulator.page_cap)
        return json.dumps(customers, separators=(",", ":")).encode()

    # ----- responses --------------------------------------------------------------------

    def _send_error(
        self,
        record: RequestRecord,
        error: ApiError,
        limit: RateLimitState | None,
        truncate: bool = False,
    ) -> None:
        headers = limit.headers() if limit is not None else {}
        self._send(record, error.status, error.body(), headers, truncate)

    def _send(
        self,
        record: RequestRecord,
        status: int,
        body: bytes,
        headers: dict[str, str],
        truncate: bool,
    ) -> None:
        self._finish_record(record, 0 if truncate else status)
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        if truncate:
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(body)
