"""DubNewCustomersSensor: waits until customers are new since this sensor's last successful run."""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime, timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any

import pendulum
from airflow.providers.common.compat.sdk import AirflowSensorTimeout, AirflowSkipException, conf
from airflow.sdk import BaseSensorOperator, PokeReturnValue

from airflow_provider_dub.exceptions import DubError, DubValidationError
from airflow_provider_dub.hooks.dub import DubHook
from airflow_provider_dub.operators.dub import open_output_path
from airflow_provider_dub.protocol import FILTER_PARAMS, Watermark, build_new_customers_plan
from airflow_provider_dub.protocol.params import as_boolean, as_integer
from airflow_provider_dub.sensors.watermarks import WatermarkStore
from airflow_provider_dub.writers import check_format_support, resolve_format, write_customers

if TYPE_CHECKING:
    from airflow.sdk import Context


class _TooFew(Exception):
    """Raised inside a file write to abandon it: fewer new customers than ``min_new``."""


def _to_ms(value: datetime) -> int:
    return int(value.timestamp() * 1000)


class DubNewCustomersSensor(BaseSensorOperator):
    """
    Wait until at least ``min_new`` customers matching the filters are new since the last run.

    "New since the last run" means created after what this sensor's previous successful run of the
    same DAG saw (its watermark, kept in the Variable ``dub_watermark:<dag_id>:<task_id>``; see
    :mod:`~airflow_provider_dub.sensors.watermarks`); on the very first run, created
    since the run's data interval start (or, without one, since the run was due); ``since`` overrides
    both. Imported customers, whose ``createdAt`` is backdated, count as new when they appear: newness
    is read from Dub's time-ordered ids. A failed or skipped run does not move the watermark.

    The new customers go to XCom (``return_value``: ``count``, ``customers``, ``uri``, ``watermark``,
    ``since``); above ``max_xcom_records`` they are written to ``output_path`` and only its URI is pushed.

    :param dub_conn_id: the Dub connection.
    :param email: exact email (takes precedence over ``external_id`` and ``search``).
    :param external_id: exact external id (takes precedence over ``search``).
    :param search: whole words of name or email; with ``@``, an exact email.
    :param country: ISO 3166-1 alpha-2 country code.
    :param link_id: customers referred through this link.
    :param program_id: customers of the workspace's partner program (Dub uses the default program).
    :param partner_id: customers referred by this partner.
    :param customer_ids: only these customers: a list of up to 250 ids, or a string of ids separated
        by commas (or a JSON list). (templated)
    :param include_expanded_fields: add link, programId, partner and discount to each customer.
    :param since: count customers created since this time instead (ISO 8601 string or datetime).
    :param min_new: how many new customers make the sensor succeed (default 1).
    :param max_xcom_records: the most new customers pushed to XCom (default 1,000).
    :param output_path: where to write the new customers when there are more (any ObjectStoragePath URL).
    :param output_conn_id: the object storage connection, if not in the URL.
    :param output_format: ``jsonl`` (default), ``csv`` or ``parquet``.
    :param deferrable: wait in the triggerer (default: ``[operators] default_deferrable``).
    """

    template_fields: Sequence[str] = (
        "dub_conn_id",
        *FILTER_PARAMS,
        "include_expanded_fields",
        "since",
        "min_new",
        "max_xcom_records",
        "output_path",
        "output_conn_id",
        "output_format",
    )
    ui_color = "#f3e8ff"

    def __init__(
        self,
        *,
        dub_conn_id: str = DubHook.default_conn_name,
        email: str | None = None,
        external_id: str | None = None,
        search: str | None = None,
        country: str | None = None,
        link_id: str | None = None,
        program_id: str | None = None,
        partner_id: str | None = None,
        customer_ids: list[str] | str | None = None,
        include_expanded_fields: bool | str = False,
        since: str | datetime | None = None,
        min_new: int | str = 1,
        max_xcom_records: int | str = 1000,
        output_path: str | None = None,
        output_conn_id: str | None = None,
        output_format: str | None = None,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.dub_conn_id = dub_conn_id
        self.email = email
        self.external_id = external_id
        self.search = search
        self.country = country
        self.link_id = link_id
        self.program_id = program_id
        self.partner_id = partner_id
        self.customer_ids = customer_ids
        self.include_expanded_fields = include_expanded_fields
        self.since = since
        self.min_new = min_new
        self.max_xcom_records = max_xcom_records
        self.output_path = output_path
        self.output_conn_id = output_conn_id
        self.output_format = output_format
        # Not templated; a string such as 'no' would otherwise count as true and defer.
        self.deferrable = as_boolean("deferrable", deferrable)

    @cached_property
    def hook(self) -> DubHook:
        return DubHook(dub_conn_id=self.dub_conn_id)

    @property
    def filters(self) -> dict[str, Any]:
        """The filters as the hook takes them, unset ones left out."""
        values = {name: getattr(self, name) for name in FILTER_PARAMS}
        values["include_expanded_fields"] = self.include_expanded_fields
        return {name: value for name, value in values.items() if value not in (None, "")}

    # -- where "new" starts --------------------------------------------------------------------------

    def _since_ms(self) -> int | None:
        if self.since in (None, ""):
            return None
        value: Any = self.since
        if isinstance(value, str):
            try:
                value = pendulum.parse(value)
            except (ValueError, TypeError, pendulum.parsing.exceptions.ParserError):
                raise DubValidationError(
                    "since",
                    f"{self.since!r} is not a date-time",
                    "an ISO 8601 date-time, e.g. '2026-01-31T00:00:00Z'",
                ) from None
        if not isinstance(value, datetime):
            raise DubValidationError(
                "since", f"{self.since!r} is not a date-time", "an ISO 8601 string or a datetime"
            )
        if value.tzinfo is None:
            value = value.replace(tzinfo=pendulum.UTC)
        return _to_ms(value)

    def _start(self, context: Context, store: WatermarkStore) -> tuple[Watermark | None, int | None]:
        """The previous watermark, or the time from which customers count as new."""
        since = self._since_ms()
        if since is not None:
            return None, since
        # The newest successful earlier run's, in the order runs happened (not by logical date).
        watermark = store.load()
        if watermark is not None:
            return watermark, None
        dag_run = context.get("dag_run")
        start = (
            context.get("data_interval_start")
            or getattr(dag_run, "run_after", None)
            or context.get("logical_date")
            or pendulum.now("UTC")
        )
        return None, _to_ms(start)

    def _check_arguments(self) -> tuple[int, int]:
        min_new = as_integer("min_new", self.min_new, 1)
        cap = as_integer("max_xcom_records", self.max_xcom_records, 0)
        if self.output_path:
            open_output_path(self.output_path, self.output_conn_id)
            check_format_support(resolve_format(self.output_format, self.output_path))
        else:
            resolve_format(self.output_format, "")  # unused without a path, but a typo is still an error
            if min_new > cap:
                raise DubValidationError(
                    "min_new",
                    f"{min_new} is more than max_xcom_records={cap} and there is no output_path",
                    "<= max_xcom_records",
                )
        return min_new, cap

    # -- reading the new customers -------------------------------------------------------------------

    def collect(self, context: Context) -> dict[str, Any] | None:
        """
        Read the new customers; ``None`` when fewer than ``min_new``, else the XCom result.

        On success the new watermark is saved in the sensor's :class:`WatermarkStore`.
        """
        min_new, cap = self._check_arguments()
        store = WatermarkStore(context["ti"])
        watermark, since_ms = self._start(context, store)
        plan = build_new_customers_plan(watermark=watermark, since_ms=since_ms, **self.filters)
        started = time.monotonic()
        pages = self.hook.run_plan(plan)
        kept: list[list[dict[str, Any]]] = []
        count = 0
        uri = None
        for page in pages:
            kept.append(page)
            count += len(page)
            if count > cap:
                uri = self._write(kept, pages, min_new)
                if uri is None:
                    return None
                count = plan.found
                kept = []
                break
        if count < min_new:
            self.log.info("%d new Dub customers; waiting for %d", count, min_new)
            return None
        new_watermark = plan.new_watermark()
        store.save(new_watermark)
        self.log.info(
            "%d new Dub customers in %.1f s with %d requests%s",
            count,
            time.monotonic() - started,
            self.hook.request_count,
            f", written to {uri}" if uri else "",
        )
        return {
            "count": count,
            "customers": None if uri else [c for page in kept for c in page],
            "uri": uri,
            "path": self.output_path if uri else None,
            "watermark": new_watermark.to_json(),
            "since": None if since_ms is None else pendulum.from_timestamp(since_ms / 1000).isoformat(),
        }

    def _write(
        self, kept: list[list[dict[str, Any]]], rest: Iterable[list[dict[str, Any]]], min_new: int
    ) -> str | None:
        if not self.output_path:
            raise DubError(
                f"More than max_xcom_records={self.max_xcom_records} new customers; set output_path to write "
                "them to object storage. The watermark is not moved, so none is lost."
            )
        path = open_output_path(self.output_path, self.output_conn_id)
        output_format = resolve_format(self.output_format, self.output_path)

        def all_pages() -> Iterator[list[dict[str, Any]]]:
            count = 0
            for page in [*kept, *rest]:
                count += len(page)
                yield page
            if count < min_new:
                raise _TooFew

        expanded = self.filters.get("include_expanded_fields") not in (None, False, "false", "False")
        try:
            return write_customers(path, all_pages(), output_format, expanded=expanded).uri
        except _TooFew:
            return None

    # -- the three modes -----------------------------------------------------------------------------

    def poke(self, context: Context) -> PokeReturnValue | bool:
        result = self.collect(context)
        return PokeReturnValue(is_done=True, xcom_value=result) if result is not None else False

    def execute(self, context: Context) -> Any:
        if not self.deferrable:
            return super().execute(context)
        result = self.collect(context)  # one cheap check on the worker before handing over
        if result is not None:
            return result
        self._defer(context)

    def _defer(self, context: Context) -> None:
        from airflow_provider_dub.triggers.dub import (
            DubNewCustomersTrigger,  # core's triggers: only when deferring
        )

        watermark, since_ms = self._start(context, WatermarkStore(context["ti"]))
        self.defer(
            trigger=DubNewCustomersTrigger(
                dub_conn_id=self.dub_conn_id,
                filters=self.filters,
                watermark=watermark.to_json() if watermark else None,
                since_ms=since_ms,
                min_new=as_integer("min_new", self.min_new, 1),
                poll_interval=float(self.poke_interval),
                end_time=time.time() + float(self.timeout),
            ),
            method_name="execute_complete",
            timeout=timedelta(seconds=float(self.timeout)),
        )

    def execute_complete(self, context: Context, event: dict[str, Any]) -> Any:
        """Resume after the trigger: read the new customers it saw, or fail with Dub's message."""
        status = event.get("status")
        if status == "error":
            raise DubError(f"Dub: {event.get('message')}")
        if status == "timeout":
            message = f"No {self.min_new} new Dub customers within the sensor's timeout of {self.timeout} s"
            if self.soft_fail:
                raise AirflowSkipException(message)
            raise AirflowSensorTimeout(message)
        result = self.collect(context)
        if result is None:  # deleted again since the trigger saw them: keep waiting
            self._defer(context)
        return result
