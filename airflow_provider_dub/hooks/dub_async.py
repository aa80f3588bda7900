"""DubAsyncHook: the same requests, retries and pacing as DubHook, on asyncio (for triggers)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from typing import Any, TypeVar

import httpx

from airflow_provider_dub.exceptions import DubInvalidCursorError
from airflow_provider_dub.hooks.base import DubBaseHook
from airflow_provider_dub.hooks.connection import (
    DubConnectionSettings,
    request_headers,
    settings_from_connection,
)
from airflow_provider_dub.protocol import (
    ReadPlan,
    RetryLoop,
    RetryPolicy,
    WindowPacer,
    pacer_for,
    parse_answer,
)
from airflow_provider_dub.protocol.attempts import RequestAttempts, log_cursor_deleted

T = TypeVar("T")


class DubAsyncHook(DubBaseHook):
    """
    Interact with Dub asynchronously, for triggers: never blocks the event loop.

    The connection is read with ``aget_connection``; requests go through one ``httpx.AsyncClient``;
    retries, 429 waits and pacing follow the same protocol module as :class:`DubHook`.

    :param dub_conn_id: the Airflow connection of type ``dub``.
    :param max_retry_seconds: overrides the connection's retry budget (seconds a request may go on retrying).
    :param requests_per_minute: overrides the connection's rate limit; 0 turns pacing off.
    """

    # Set on first use (no I/O at construction): the connection, the HTTP client, the key's pacer.
    _settings: DubConnectionSettings | None = None
    _client: httpx.AsyncClient | None = None
    _pacer: WindowPacer | None = None

    async def get_settings(self) -> DubConnectionSettings:
        """Read the connection's settings, once, without blocking."""
        if self._settings is None:
            self._settings = settings_from_connection(
                await self.aget_connection(self.dub_conn_id), self.overrides
            )
        return self._settings

    async def _get_client(self) -> httpx.AsyncClient:
        if self._client is None:
            settings = await self.get_settings()
            self._client = httpx.AsyncClient(
                headers=request_headers(settings),
                timeout=httpx.Timeout(settings.read_timeout, connect=settings.connect_timeout),
            )
            if settings.requests_per_minute:  # the same pacer as DubHook's for this key
                self._pacer = pacer_for(settings.base_url, settings.api_key, settings.requests_per_minute)
        return self._client

    async def close(self) -> None:
        """Close the HTTP client."""
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def get(self, path: str, query: dict[str, str], parse: Callable[[bytes], T]) -> T:
        """Send ``GET path?query`` with :class:`DubHook`'s retry rules; return ``parse(body)``."""
        client = await self._get_client()
        settings = await self.get_settings()
        retries = RetryLoop(
            RetryPolicy(max_retry_seconds=settings.max_retry_seconds), self._rng, pacer=self._pacer
        )
        attempts = RequestAttempts(path, query, parse, retries, self.log, tls_hint=settings.tls_hint)
        while True:
            try:
                while (delay := attempts.wait_before_send(time.time())) > 0:
                    await asyncio.sleep(delay)
                self.request_count += 1
                attempts.sending(time.time())
                response = await client.get(f"{settings.base_url}{path}", params=query)
                outcome = attempts.answered(
                    response.status_code, response.headers, response.content, time.time()
                )
            except httpx.TransportError as exc:
                outcome = attempts.failed(exc, time.time())
            finally:
                attempts.ended(time.time())
            if outcome.retry_in is None:
                return outcome.result()
            await asyncio.sleep(outcome.retry_in)

    async def run_plan(self, plan: ReadPlan) -> AsyncIterator[list[dict[str, Any]]]:
        """Send the requests a read plan asks for, one at a time; yield what it makes of each answer."""
        while requests := plan.ready(1):
            for key, path, query in requests:
                try:
                    answer = await self.get(path, query, parse_answer(path))
                except DubInvalidCursorError:
                    log_cursor_deleted(self.log, query)
                    yield plan.cursor_lost(key)
                    continue
                yield plan.accept(key, answer)
