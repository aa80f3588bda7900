"""DubListCustomersOperator: the customers matching filters, to XCom or streamed to object storage."""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from airflow.sdk import Asset, AssetAlias, BaseOperator

from airflow_provider_dub.exceptions import DubError, DubXComLimitError
from airflow_provider_dub.hooks.dub import DubHook
from airflow_provider_dub.protocol import FILTER_PARAMS
from airflow_provider_dub.protocol.params import as_boolean, as_integer
from airflow_provider_dub.writers import (
    asset_uri,
    check_format_support,
    open_storage_path,
    resolve_format,
    write_customers,
)

if TYPE_CHECKING:
    from airflow.sdk import Context, ObjectStoragePath

_PROGRESS_EVERY_SECONDS = 15.0


def output_asset_uri(url: str) -> str:
    """An output URL as an Asset URI: ``s3://conn_id@bucket/key`` -> ``s3://bucket/key``."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    return f"{parts.scheme}://{host}{parts.path}"


def open_output_path(url: str, conn_id: str | None) -> ObjectStoragePath:
    """
    Open the output URL as an ``ObjectStoragePath``, checked before anything is read.

    :raises DubValidationError: when the URL has no scheme or no filesystem handles its scheme.
    """
    return open_storage_path(
        url,
        conn_id,
        url_argument="output_path",
        conn_argument="output_conn_id",
        allowed="a URL such as 'file:///data/customers.jsonl' or 's3://bucket/key'",
    )


class _Progress:
    """Logs how a long read is going, without customer data."""

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


class DubListCustomersOperator(BaseOperator):
    """
    Read the Dub customers that match filters: every one, exactly once.

    Without ``output_path`` the customers are returned to XCom (at most ``max_xcom_records``; more
    fail the task before anything is pushed). With it they are streamed page by page to a file in
    object storage, renamed into place when complete, and XCom gets a small summary.

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
    :param include_expanded_fields: add ``link``, ``programId``, ``partner`` and ``discount``.
    :param sort_by: ``createdAt``, ``saleAmount``, ``firstSaleAt`` or ``subscriptionCanceledAt``; with
        more than one page of customers only together with ``max_records`` (the top customers: up to
        100 in one request, more from a complete read kept in memory).
    :param sort_order: ``asc`` or ``desc``.
    :param page_size: customers per request, 1..100.
    :param max_records: stop after this many customers; with ``sort_by``/``sort_order``, the top ones.
    :param max_xcom_records: the most customers returned to XCom (default 1,000).
    :param output_path: where to write the customers: any URL ``ObjectStoragePath`` takes
        (``file:///...``, ``s3://conn_id@bucket/key``, ...).
    :param output_conn_id: the connection of the object storage, if not in the URL.
    :param output_format: ``jsonl`` (default), ``csv`` or ``parquet``; by default from the extension.
    """

    template_fields: Sequence[str] = (
        "dub_conn_id",
        "email",
        "external_id",
        "search",
        "country",
        "link_id",
        "program_id",
        "partner_id",
        "customer_ids",
        "include_expanded_fields",
        "sort_by",
        "sort_order",
        "page_size",
        "max_records",
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
        sort_by: str | None = None,
        sort_order: str | None = None,
        page_size: int | str = 100,
        max_records: int | str | None = None,
        max_xcom_records: int | str = 1000,
        output_path: str | None = None,
        output_conn_id: str | None = None,
        output_format: str | None = None,
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
        self.sort_by = sort_by
        self.sort_order = sort_order
        self.page_size = page_size
        self.max_records = max_records
        self.max_xcom_records = max_xcom_records
        self.output_path = output_path
        self.output_conn_id = output_conn_id
        self.output_format = output_format
        if isinstance(output_path, str) and output_path and "{{" not in output_path and not self.outlets:
            # A fixed path is a fixed Asset; a templated one is emitted through an AssetAlias outlet.
            self.outlets = [Asset(output_asset_uri(output_path))]

    @cached_property
    def hook(self) -> DubHook:
        return DubHook(dub_conn_id=self.dub_conn_id)

    @property
    def filters(self) -> dict[str, Any]:
        """The filters as the hook takes them, unset ones left out."""
        values = {name: getattr(self, name) for name in FILTER_PARAMS}
        return {name: value for name, value in values.items() if value not in (None, "")}

    def _read_params(self) -> dict[str, Any]:
        return {
            **self.filters,
            "include_expanded_fields": self.include_expanded_fields,
            "sort_by": self.sort_by,
            "sort_order": self.sort_order,
            "page_size": self.page_size,
            "limit": self.max_records,
        }

    def execute(self, context: Context) -> Any:
        # Everything is validated before the first request: the read's parameters by the hook at
        # this call (max_records first, which the hook would call 'limit'), the XCom guard and the
        # output path just below.
        if self.max_records not in (None, ""):
            as_integer("max_records", self.max_records, 1)
        pages = self.hook.iter_customer_pages(**self._read_params())
        if not self.output_path:
            resolve_format(self.output_format, "")  # unused without a path, but a typo is still an error
            return self._to_xcom(pages, self._xcom_limit())
        path = open_output_path(self.output_path, self.output_conn_id)
        output_format = resolve_format(self.output_format, self.output_path)
        check_format_support(output_format)
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
        expanded = bool(self.include_expanded_fields) and as_boolean(
            "include_expanded_fields", self.include_expanded_fields
        )
        result = write_customers(path, progress.track(pages), output_format, expanded=expanded)
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
        """OpenLineage: input the Dub workspace's customers, output the file written (if any)."""
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
