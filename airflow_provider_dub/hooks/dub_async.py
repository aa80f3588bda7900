"""DubAsyncHook: the same requests, retries and pacing as DubHook, on asyncio (for triggers)."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator, Callable
from typing import Any, TypeVar

import httpx
from airflow.sdk import BaseHook

from airflow_provider_dub.exceptions import DubConnectionError, DubError, DubInvalidCursorError
from airflow_provider_dub.hooks.dub import (
    DubConnectionSettings,
    HookOverrides,
    request_headers,
    settings_from_connection,
    without_query,
)
from airflow_provider_dub.protocol import (
    ReadPlan,
    RetryLoop,
    RetryPolicy,
    WindowPacer,
    error_from_response,
    pacer_for,
    parse_customer_page,
)

T = TypeVar("T")


class DubAsyncHook(BaseHook):
    """
    Asynchronous access to Dub for triggers: never blocks the event loop.

    The connection is read with ``aget_connection``; requests go through one ``httpx.AsyncClient``;
    retries, 429 waits and pacing follow the same protocol module as :class:`DubHook`.

    :param dub_conn_id: the Airflow connection of type ``dub``.
    :param max_retry_seconds: overrides the connection's retry budget (seconds a request may go on retrying).
    :param requests_per_minute: overrides the connection's rate limit; 0 turns pacing off.
    """

    conn_name_attr = "dub_conn_id"
    default_conn_name = "dub_default"

    def __init__(
        self,
        dub_conn_id: str = default_conn_name,
        *,
        max_retry_seconds: float | None = None,
        requests_per_minute: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.dub_conn_id = dub_conn_id
        self.overrides = HookOverrides(max_retry_seconds, requests_per_minute)
        self._settings: DubConnectionSettings | None = None
        self._client: httpx.AsyncClient | None = None
        self._pacer: WindowPacer | None = None
        self._rng = random.Random()
        self.request_count = 0

    async def get_settings(self) -> DubConnectionSettings:
        """The connection's settings, read once without blocking."""
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

    async def _wait_for_slot(self, retries: RetryLoop) -> None:
        while (delay := retries.wait_before_send(time.time())) > 0:
            await asyncio.sleep(delay)

    async def get(self, path: str, query: dict[str, str], parse: Callable[[bytes], T]) -> T:
        """``GET path?query`` with :class:`DubHook`'s retry rules; return ``parse(body)``."""
        client = await self._get_client()
        settings = await self.get_settings()
        retries = RetryLoop(
            RetryPolicy(max_retry_seconds=settings.max_retry_seconds), self._rng, pacer=self._pacer
        )
        while True:
            status: int | None = None
            headers: dict[str, str] = {}
            sent = time.time()
            try:
                await self._wait_for_slot(retries)
                self.request_count += 1
                sent = time.time()
                response = await client.get(f"{settings.base_url}{path}", params=query)
                status = response.status_code
                headers = dict(response.headers)
                if status < 400:
                    return parse(response.content)
                error: DubError = error_from_response(status, response.content)
            except httpx.TransportError as exc:
                status = None
                error = DubConnectionError(
                    f"Dub did not answer GET {path}: {type(exc).__name__}: {without_query(exc)}"
                )
            except DubConnectionError as exc:
                status = None
                error = exc
            finally:
                retries.answered(status, headers, sent, time.time())
            delay = retries.delay_after(status, headers, time.time())
            if delay is None:
                raise retries.give_up(error)
            self.log.warning("Dub GET %s failed (%s); retrying in %.2f s", path, error, delay)
            await asyncio.sleep(delay)

    async def run_plan(self, plan: ReadPlan) -> AsyncIterator[list[dict[str, Any]]]:
        """Send the requests a read plan asks for; yield what it makes of each page."""
        while (query := plan.next_query()) is not None:
            try:
                page = await self.get("/customers", query, parse_customer_page)
            except DubInvalidCursorError:
                plan.cursor_lost()
                continue
            yield plan.accept_page(page)
