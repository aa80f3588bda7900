"""DubNewCustomersSensor: waits until customers are new since this sensor's last successful run."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, NoReturn

import pendulum
from airflow.providers.common.compat.sdk import AirflowSensorTimeout, AirflowSkipException, conf
from airflow.sdk import BaseSensorOperator, PokeReturnValue

from airflow_provider_dub.exceptions import DubError, DubValidationError, DubXComLimitError, WriteAbandoned
from airflow_provider_dub.protocol import Watermark, build_new_customers_plan, error_from_response
from airflow_provider_dub.protocol.params import as_boolean, as_integer
from airflow_provider_dub.sensors.watermarks import WatermarkStore
from airflow_provider_dub.utils.mixins import DubCustomersMixin
from airflow_provider_dub.writers import write_customers

if TYPE_CHECKING:
    from airflow.sdk import Context, ObjectStoragePath


def _to_ms(value: datetime) -> int:
    return int(value.timestamp() * 1000)


class DubNewCustomersSensor(DubCustomersMixin, BaseSensorOperator):
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

    .. seealso::
        For more information on how to use this sensor, take a look at the guide:
        :doc:`/sensor`

    :param since: count customers created since this time instead (ISO 8601 string or datetime).
        (templated)
    :param min_new: how many new customers make the sensor succeed (default 1). (templated)
    :param max_xcom_records: the most new customers pushed to XCom (default 1,000); more need
        ``output_path``. (templated)
    :param deferrable: wait in the triggerer (default: ``[operators] default_deferrable``).
    """

    template_fields: Sequence[str] = (
        *DubCustomersMixin.template_fields,
        "since",
        "min_new",
        "max_xcom_records",
    )
    ui_color = "#f3e8ff"

    def __init__(
        self,
        *,
        since: str | datetime | None = None,
        min_new: int | str = 1,
        max_xcom_records: int | str = 1000,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.since = since
        self.min_new = min_new
        self.max_xcom_records = max_xcom_records
        # Not templated; a string such as 'no' would otherwise count as true and defer.
        self.deferrable = as_boolean("deferrable", deferrable)

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
        if not self.output_path and min_new > cap:
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
        output = self.check_output()
        store = WatermarkStore(context["ti"])
        watermark, since_ms = self._start(context, store)
        plan = build_new_customers_plan(
            watermark=watermark, since_ms=since_ms, include_expanded_fields=self.expanded, **self.filters
        )
        started = time.monotonic()
        pages = self.hook.run_plan(plan)
        kept: list[list[dict[str, Any]]] = []
        count = 0
        uri = None
        for page in pages:
            kept.append(page)
            count += len(page)
            if count > cap:
                uri = self._write(output, kept, pages, min_new)
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
        self,
        output: tuple[ObjectStoragePath | None, str],
        kept: list[list[dict[str, Any]]],
        rest: Iterable[list[dict[str, Any]]],
        min_new: int,
    ) -> str | None:
        path, output_format = output
        if path is None:
            raise DubXComLimitError(
                f"More than max_xcom_records={self.max_xcom_records} new customers; set output_path to write "
                "them to object storage. The watermark is not moved, so none is lost."
            )

        def all_pages() -> Iterator[list[dict[str, Any]]]:
            count = 0
            for page in [*kept, *rest]:
                count += len(page)
                yield page
            if count < min_new:
                raise WriteAbandoned  # fewer than min_new: keep no file

        try:
            return write_customers(path, all_pages(), output_format, expanded=self.expanded).uri
        except WriteAbandoned:
            return None

    # -- the three modes -----------------------------------------------------------------------------

    def poke(self, context: Context) -> PokeReturnValue | bool:
        """Check once: done, with the XCom result, when at least ``min_new`` customers are new."""
        result = self.collect(context)
        return PokeReturnValue(is_done=True, xcom_value=result) if result is not None else False

    def execute(self, context: Context) -> Any:
        """Wait in the sensor's mode; when deferrable, check once here, then hand the wait over."""
        if not self.deferrable:
            return super().execute(context)
        end_time = time.time() + float(self.timeout)  # the whole wait, however often it defers
        result = self.collect(context)  # one cheap check on the worker before handing over
        if result is not None:
            return result
        self._defer(context, end_time)

    def _defer(self, context: Context, end_time: float) -> None:
        """Hand the wait to the triggerer until ``end_time`` (Unix time, s), then resume in ``execute_complete``."""
        from airflow_provider_dub.triggers.dub import (
            DubNewCustomersTrigger,  # core's triggers: only when deferring
        )

        remaining = end_time - time.time()
        if remaining <= 0:
            self._time_out()
        watermark, since_ms = self._start(context, WatermarkStore(context["ti"]))
        self.defer(
            trigger=DubNewCustomersTrigger(
                dub_conn_id=self.dub_conn_id,
                hook_params=self.hook_params,
                filters={**self.filters, "include_expanded_fields": self.expanded},
                watermark=watermark.to_json() if watermark else None,
                since_ms=since_ms,
                min_new=as_integer("min_new", self.min_new, 1),
                poll_interval=float(self.poke_interval),
                end_time=end_time,
            ),
            method_name="execute_complete",
            kwargs={"end_time": end_time},
            timeout=timedelta(seconds=remaining),
        )

    def _time_out(self) -> NoReturn:
        """End the wait: skipped with ``soft_fail``, else failed with ``AirflowSensorTimeout``."""
        message = f"No {self.min_new} new Dub customers within the sensor's timeout of {self.timeout} s"
        if self.soft_fail:
            raise AirflowSkipException(message)
        raise AirflowSensorTimeout(message)

    def execute_complete(self, context: Context, event: dict[str, Any], end_time: float | None = None) -> Any:
        """
        Resume after the trigger: read the new customers it saw, or fail as it did.

        :param event: the trigger's event: ``status`` ``success``, ``timeout`` or ``error`` (with
            Dub's ``code``, ``message``, ``http_status`` and ``doc_url``).
        :param end_time: when the whole wait ends (Unix time, s), set by the first deferral and kept
            by the next ones.
        :raises DubError: the class matching Dub's error code, for an ``error`` event.
        """
        status = event.get("status")
        if status == "error":
            raise error_from_event(event)
        if status == "timeout":
            self._time_out()
        result = self.collect(context)
        if result is None:  # deleted again since the trigger saw them: keep waiting, until the same end
            self._defer(context, end_time if end_time is not None else time.time() + float(self.timeout))
        return result


def error_from_event(event: dict[str, Any]) -> DubError:
    """
    Return the exception an ``error`` event reports: for a Dub API error the class of Dub's code.

    Without a code (Dub unreachable, a bad connection), a :class:`DubError` with the message.
    """
    message = str(event.get("message") or "")
    code = event.get("code")
    if not code:
        return DubError(f"Dub: {message}")
    envelope = {"error": {"code": code, "message": message, "doc_url": event.get("doc_url")}}
    return error_from_response(int(event.get("http_status") or 0), json.dumps(envelope))
