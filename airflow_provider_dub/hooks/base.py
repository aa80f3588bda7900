"""DubBaseHook: what both Dub hooks take and keep, defined once."""

from __future__ import annotations

import random
from typing import Any

from airflow.sdk import BaseHook

from airflow_provider_dub.hooks.connection import HookOverrides


class DubBaseHook(BaseHook):
    """
    Hold what :class:`~airflow_provider_dub.hooks.dub.DubHook` and
    :class:`~airflow_provider_dub.hooks.dub_async.DubAsyncHook` share: the connection id and the
    task's settings, checked at construction. Nothing is read or sent here.

    :param dub_conn_id: the Airflow connection of type ``dub``.
    :param max_retry_seconds: overrides the connection's retry budget (seconds a request may go on retrying).
    :param requests_per_minute: overrides the connection's rate limit; 0 turns pacing off.
    :raises DubValidationError: on an override the hooks do not accept, naming it.
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
        self._rng = random.Random()
        #: Requests sent by this hook (every attempt, retries included).
        self.request_count = 0
