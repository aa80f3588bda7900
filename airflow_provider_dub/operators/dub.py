"""DubListCustomersOperator: the customers matching filters, to XCom or streamed to object storage."""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from airflow.sdk import Asset, AssetAlias

from airflow_provider_dub.exceptions import DubError, DubXComLimitError
from airflow_provider_dub.protocol.params import as_integer
from airflow_provider_dub.utils.mixins import DubCustomersMixin
from airflow_provider_dub.writers import asset_uri, output_asset_uri, write_customers

if TYPE_CHECKING:
    from airflow.sdk import Context, ObjectStoragePath

_PROGRESS_EVERY_SECONDS = 15.0


class _Progress:
    """Log how a long read is going, without customer data."""

    def __init__(self, operator: DubListCustomersOperator, estimate: Any) -> None:
        self.log = operator.log
        self.estimate = estimate
        self.started = time.monotonic()
        self.last_log = self.started
        self.records = 0
        self.pages = 0

    def track(self, pages: Iterable[list[dict[str, Any]]]) -> Iterator[list[dict[str, Any]]]:
        for page in pages:
            self.pages += 1
            self.records += len(page)
            now = time.monotonic()
            if now - self.last_log >= _PROGRESS_EVERY_SECONDS:
                self.last_log = now
                self.report(now)
            yield page

    def report(self, now: float) -> None:
        rate = self.records / max(now - self.started, 1e-9)
        total = self.estimate()
        of_total = f" of about {total} ({100 * self.records / total:.0f}%)" if total else ""
        self.log.info(
            "Read %d customers%s in %d pages, %.0f customers/s", self.records, of_total, self.pages, rate
        )

    @property
    def duration(self) -> float:
        return time.monotonic() - self.started


class DubListCustomersOperator(DubCustomersMixin):
    """
    Read the Dub customers that match filters: every one, exactly once.

    Without ``output_path`` the customers are returned to XCom (at most ``max_xcom_records``; more
    fail the task before anything is pushed). With it they are streamed page by page to a file in
    object storage, renamed into place when complete, and XCom gets a small summary.

    .. seealso::
        For more information on how to use this operator, take a look at the guide:
        :doc:`/operator`

    :param sort_by: ``createdAt``, ``saleAmount``, ``firstSaleAt`` or ``subscriptionCanceledAt``; with
        more than one page of customers only together with ``max_records`` (the top customers: up to
        100 in one request, more from a complete read kept in memory). (templated)
    :param sort_order: ``asc`` or ``desc``. (templated)
    :param page_size: customers per request, 1..100. (templated)
    :param max_records: stop after this many customers; with ``sort_by``/``sort_order``, the top
        ones. (templated)
    :param max_xcom_records: the most customers returned to XCom (default 1,000). (templated)
    """

    template_fields: Sequence[str] = (
        *DubCustomersMixin.template_fields,
        "sort_by",
        "sort_order",
        "page_size",
        "max_records",
        "max_xcom_records",
    )
    ui_color = "#f3e8ff"

    def __init__(
        self,
        *,
        sort_by: str | None = None,
        sort_order: str | None = None,
        page_size: int | str = 100,
        max_records: int | str | None = None,
        max_xcom_records: int | str = 1000,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.sort_by = sort_by
        self.sort_order = sort_order
        self.page_size = page_size
        self.max_records = max_records
        self.max_xcom_records = max_xcom_records
        output_path = self.output_path
        if isinstance(output_path, str) and output_path and "{{" not in output_path and not self.outlets:
            # A fixed path is a fixed Asset; a templated one is emitted through an AssetAlias outlet.
            self.outlets = [Asset(output_asset_uri(output_path))]

    def _read_params(self) -> dict[str, Any]:
        return {
            **self.filters,
            "include_expanded_fields": self.expanded,
            "sort_by": self.sort_by,
            "sort_order": self.sort_order,
            "page_size": self.page_size,
            "limit": self.max_records,
        }

    def execute(self, context: Context) -> Any:
        """Read the customers; return them (for XCom), or the summary of the file written."""
        # Everything is validated before the first request: the read's parameters by the hook at
        # this call (max_records first, which the hook would call 'limit'), the XCom guard and the
        # output path just below.
        if self.max_records not in (None, ""):
            as_integer("max_records", self.max_records, 1)
        pages = self.hook.iter_customer_pages(**self._read_params())
        path, output_format = self.check_output()
        if path is None:
            return self._to_xcom(pages, self._xcom_limit())
        return self._to_storage(pages, path, output_format, context)

    def _xcom_limit(self) -> int:
        return as_integer("max_xcom_records", self.max_xcom_records, 1)

    def _to_xcom(self, pages: Iterable[list[dict[str, Any]]], limit: int) -> list[dict[str, Any]]:
        customers: list[dict[str, Any]] = []
        for page in pages:
            customers.extend(page)
            if len(customers) > limit:
                raise DubXComLimitError(
                    f"More than max_xcom_records={limit} customers match; XCom is for small results. "
                    "Set output_path to stream them to object storage (XCom then gets a summary), "
                    "narrow the filters, or set max_records."
                )
        self.log.info("Read %d customers with %d requests", len(customers), self.hook.request_count)
        return customers

    def _estimate_total(self) -> int | None:
        if "customer_ids" in self.filters:
            return None  # Dub cannot count them: the hook would read them all a second time
        if not hasattr(self, "_total"):
            try:
                self._total: int | None = self.hook.count_customers(**self.filters)
            except DubError as err:
                self.log.info("No estimate of the total (%s)", err)
                self._total = None
        if self.max_records and self._total:
            return min(self._total, int(self.max_records))
        return self._total

    def _to_storage(
        self,
        pages: Iterable[list[dict[str, Any]]],
        path: ObjectStoragePath,
        output_format: str,
        context: Context,
    ) -> dict[str, Any]:
        progress = _Progress(self, self._estimate_total)
        self.log.info("Writing Dub customers as %s to %s", output_format, asset_uri(path))
        result = write_customers(path, progress.track(pages), output_format, expanded=self.expanded)
        summary = {
            "uri": result.uri,
            "path": self.output_path,
            "records": result.records,
            "pages": progress.pages,
            "requests": self.hook.request_count,
            "duration_seconds": round(progress.duration, 3),
            "format": output_format,
            "filters": {
                name: value
                for name, value in self._read_params().items()
                if name != "page_size" and value not in (None, "", False)
            },
        }
        self.log.info(
            "Wrote %d customers to %s in %.1f s (%d pages, %d requests)",
            result.records,
            result.uri,
            summary["duration_seconds"],
            progress.pages,
            summary["requests"],
        )
        self._emit_asset(result.uri, context)
        self._lineage_output = result.uri
        return summary

    def _emit_asset(self, uri: str, context: Context) -> None:
        for outlet in self.outlets:
            if isinstance(outlet, AssetAlias):
                context["outlet_events"][outlet].add(Asset(uri))

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        """Report to OpenLineage: the Dub workspace's customers as input, the file written (if any) as output."""
        try:
            from airflow.providers.openlineage.extractors import OperatorLineage
            from openlineage.client.event_v2 import Dataset
        except ImportError:
            return None
        namespace = f"dub://{urlsplit(self.hook.settings.base_url).netloc}"
        outputs = []
        if uri := getattr(self, "_lineage_output", None):
            parts = urlsplit(uri)
            outputs.append(Dataset(namespace=f"{parts.scheme}://{parts.netloc}", name=parts.path))
        return OperatorLineage(inputs=[Dataset(namespace=namespace, name="customers")], outputs=outputs)
