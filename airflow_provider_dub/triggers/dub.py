"""DubNewCustomersTrigger: waits in the triggerer until enough new customers exist."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_dub.exceptions import DubAPIError, DubError
from airflow_provider_dub.hooks.dub_async import DubAsyncHook
from airflow_provider_dub.protocol import Watermark, build_new_customers_plan


class DubNewCustomersTrigger(BaseTrigger):
    """
    Poll Dub asynchronously until at least ``min_new`` customers are new, or until ``end_time``.

    It only counts; the sensor then reads the new customers on a worker. Its arguments are
    serialised into Airflow's database: a connection id, hook settings, filters and a watermark,
    never the key.

    .. seealso::
        The deferrable mode of the sensor, in the guide: :doc:`/sensor`

    :param dub_conn_id: the Dub connection.
    :param hook_params: the task's settings for :class:`DubAsyncHook` (``max_retry_seconds``,
        ``requests_per_minute``), as for the sensor's ``DubHook``.
    :param filters: the sensor's filters (snake_case, as the hook takes them).
    :param watermark: the previous run's watermark (JSON), or ``None``.
    :param since_ms: customers created since this Unix time (ms) are new, when there is no watermark.
    :param min_new: how many new customers are enough.
    :param poll_interval: seconds between polls.
    :param end_time: Unix time (s) after which the trigger gives up with a ``timeout`` event. A poll
        still running then (Dub slow, or retrying) is given :attr:`poll_grace` more seconds, then
        abandoned: the trigger always ends by ``end_time + poll_grace``.
    """

    #: Seconds a poll may run past ``end_time`` (one request normally takes well under one).
    poll_grace = 5.0

    def __init__(
        self,
        *,
        dub_conn_id: str,
        filters: dict[str, Any],
        watermark: dict[str, Any] | None,
        since_ms: int | None,
        min_new: int,
        poll_interval: float,
        end_time: float,
        hook_params: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        self.dub_conn_id = dub_conn_id
        self.hook_params = hook_params or {}
        self.filters = filters
        self.watermark = watermark
        self.since_ms = since_ms
        self.min_new = min_new
        self.poll_interval = poll_interval
        self.end_time = end_time

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """Return the trigger's class path and arguments, as Airflow stores them."""
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "dub_conn_id": self.dub_conn_id,
                "hook_params": self.hook_params,
                "filters": self.filters,
                "watermark": self.watermark,
                "since_ms": self.since_ms,
                "min_new": self.min_new,
                "poll_interval": self.poll_interval,
                "end_time": self.end_time,
            },
        )

    async def count_new(self, hook: DubAsyncHook) -> int:
        """Count the new customers, no further than ``min_new``."""
        plan = build_new_customers_plan(
            watermark=Watermark.from_json(self.watermark),
            since_ms=self.since_ms,
            stop_after=self.min_new,
            **self.filters,
        )
        found = 0
        async for page in hook.run_plan(plan):
            found += len(page)
        return found

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Poll every ``poll_interval`` s; yield one ``success``, ``timeout`` or ``error`` event."""
        hook = DubAsyncHook(self.dub_conn_id, **self.hook_params)
        try:
            while True:
                # The sensor has just checked once on the worker: wait before the first poll.
                remaining = self.end_time - time.time()
                if remaining <= 0:
                    yield TriggerEvent({"status": "timeout"})
                    return
                await asyncio.sleep(min(self.poll_interval, remaining))
                # Retries and timeouts could keep one poll going for minutes: bound it by end_time.
                limit = max(self.end_time - time.time(), 0.0) + self.poll_grace
                try:
                    found = await asyncio.wait_for(self.count_new(hook), limit)
                except asyncio.TimeoutError:
                    self.log.warning("Dub did not answer within the sensor's timeout; giving up")
                    yield TriggerEvent({"status": "timeout"})
                    return
                if found >= self.min_new:
                    yield TriggerEvent({"status": "success", "found": found})
                    return
                self.log.info("%d new Dub customers, waiting for %d", found, self.min_new)
        except DubAPIError as err:
            yield TriggerEvent(
                {
                    "status": "error",
                    "message": err.message,
                    "code": err.code,
                    "http_status": err.http_status,
                    "doc_url": err.doc_url,
                }
            )
        except DubError as err:
            yield TriggerEvent({"status": "error", "message": str(err), "code": None})
        finally:
            await hook.close()
