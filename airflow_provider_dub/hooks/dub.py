"""DubHook: the Dub connection, authenticated HTTP with retries and pacing, and customer reads."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from functools import cached_property
from typing import TYPE_CHECKING, Any, Literal, TypeVar, overload

from airflow_provider_dub.exceptions import DubAPIError, DubInvalidCursorError
from airflow_provider_dub.hooks.base import DubBaseHook
from airflow_provider_dub.hooks.connection import (
    DubConnectionSettings,
    request_headers,
    settings_from_connection,
)
from airflow_provider_dub.hooks.connection_schema import CONNECTION_FIELDS, UI_FIELD_BEHAVIOUR
from airflow_provider_dub.protocol import (
    ParallelReadPlan,
    ReadPlan,
    RetryLoop,
    RetryPolicy,
    WindowPacer,
    build_count_query,
    build_list_query,
    build_read_plan,
    is_top_read,
    pacer_for,
    parse_answer,
    parse_count,
    parse_count_groups,
    parse_customer_page,
    top_of,
)
from airflow_provider_dub.protocol.attempts import RequestAttempts, log_cursor_deleted
from airflow_provider_dub.protocol.pagination import CustomerReadPlan
from airflow_provider_dub.protocol.params import filter_dropped_by_grouping

if TYPE_CHECKING:
    import requests

T = TypeVar("T")


def _transport_errors() -> tuple[type[Exception], ...]:
    """Return what requests raises when Dub does not answer properly (imported on first use: DAG files stay light)."""
    import requests

    return (
        requests.ConnectionError,
        requests.Timeout,
        requests.exceptions.ChunkedEncodingError,
        requests.exceptions.ContentDecodingError,
    )


class DubHook(DubBaseHook):
    """
    Interact with Dub's API (``GET /customers`` and ``GET /customers/count``).

    The connection's password is the API key, its host an optional base URL (default
    ``https://api.dub.co``); extras set timeouts, the retry budget and the plan's rate limit.
    Nothing is read or sent until a method needs it.

    :param dub_conn_id: the Airflow connection of type ``dub``.
    :param max_retry_seconds: overrides the connection's retry budget (seconds a request may go on retrying).
    :param requests_per_minute: overrides the connection's rate limit; 0 turns pacing off.
    """

    conn_type = "dub"
    hook_name = "Dub"

    # -- connection ---------------------------------------------------------------------------------

    @cached_property
    def settings(self) -> DubConnectionSettings:
        """
        Read the connection's settings, once.

        :raises DubValidationError: on a missing key or a bad extra.
        """
        return settings_from_connection(self.get_connection(self.dub_conn_id), self.overrides)

    @cached_property
    def retry_policy(self) -> RetryPolicy:
        return RetryPolicy(max_retry_seconds=self.settings.max_retry_seconds)

    @cached_property
    def pacer(self) -> WindowPacer | None:
        """Return the key's rate-limit pacer, shared by every hook of the process; ``None`` when pacing is off."""
        if not self.settings.requests_per_minute:
            return None
        return pacer_for(self.settings.base_url, self.settings.api_key, self.settings.requests_per_minute)

    def get_conn(self) -> requests.Session:
        """Return the hook's one ``requests.Session``, authenticated."""
        return self._session

    @cached_property
    def _session(self) -> requests.Session:
        import requests

        session = requests.Session()
        session.headers.update(request_headers(self.settings))
        adapter = requests.adapters.HTTPAdapter(pool_maxsize=max(10, self.settings.max_concurrency))
        session.mount("https://", adapter)
        session.mount("http://", adapter)
        return session

    # -- transport ----------------------------------------------------------------------------------

    def _get(
        self, path: str, query: dict[str, str], parse: Callable[[bytes], T], policy: RetryPolicy | None = None
    ) -> T:
        """
        Send ``GET path?query`` until it succeeds or the retry budget is spent; return ``parse(body)``.

        400/401/403/404/422 fail at once; 429 waits until Dub's window can admit the request again
        (:mod:`~airflow_provider_dub.protocol.pacer`); 5xx, timeouts, dropped connections and malformed
        bodies back off exponentially with jitter (:mod:`~airflow_provider_dub.protocol.attempts`).
        """
        retries = RetryLoop(policy or self.retry_policy, self._rng, pacer=self.pacer)
        attempts = RequestAttempts(path, query, parse, retries, self.log, tls_hint=self.settings.tls_hint)
        url = f"{self.settings.base_url}{path}"
        timeout = (self.settings.connect_timeout, self.settings.read_timeout)
        while True:
            try:
                while (delay := attempts.wait_before_send(time.time())) > 0:
                    time.sleep(delay)
                self.request_count += 1
                attempts.sending(time.time())
                response = self.get_conn().get(url, params=query, timeout=timeout)
                outcome = attempts.answered(
                    response.status_code, response.headers, response.content, time.time()
                )
            except _transport_errors() as exc:
                outcome = attempts.failed(exc, time.time())
            finally:
                attempts.ended(time.time())
            if outcome.retry_in is None:
                return outcome.result()
            time.sleep(outcome.retry_in)

    # -- API ----------------------------------------------------------------------------------------

    def list_customers(self, **params: Any) -> list[dict[str, Any]]:
        """
        Send one ``GET /customers`` request; return the page exactly as Dub returns it.

        :param params: ``email``, ``external_id``, ``search``, ``country``, ``link_id``, ``program_id``,
            ``partner_id``, ``customer_ids``, ``include_expanded_fields``, ``sort_by``, ``sort_order``,
            ``page``, ``page_size``, ``starting_after``, ``ending_before``.
        :raises DubValidationError: on a bad parameter, before any request.
        """
        return self._get("/customers", build_list_query(**params), parse_customer_page)

    def iter_customers(self, **params: Any) -> Iterator[dict[str, Any]]:
        """
        Yield every customer that matches the filters exactly once, page by page.

        Without ``sort_by``/``sort_order`` the read is complete whatever the number of customers,
        imported customers and legacy ids included, and customers present throughout appear exactly
        once while others are added or deleted (see :mod:`airflow_provider_dub.protocol.pagination`).
        With them, the order is Dub's (nulls first in ``asc``, last in ``desc``). With a ``limit``
        up to 100 that is one request; with a larger one every matching customer is read and the
        top ``limit`` kept in memory, ties by id (:mod:`airflow_provider_dub.protocol.top`); without
        a limit, more than one page raises
        :class:`~airflow_provider_dub.exceptions.DubPaginationError` before anything is yielded.

        :param params: the filters of :meth:`list_customers`, ``include_expanded_fields``,
            ``sort_by``, ``sort_order``, ``page_size`` (default 100) and ``limit`` (stop after N).
        :raises DubValidationError: on a bad parameter, before any request.
        """
        return (customer for page in self.iter_customer_pages(**params) for customer in page)

    def iter_customer_pages(self, **params: Any) -> Iterator[list[dict[str, Any]]]:
        """
        Yield the read of :meth:`iter_customers`, one list per response (possibly empty), for writers
        that work page by page; the top customers of an ordered read above 100 come once the whole
        read is done, in pages of ``page_size``. Parameters are validated at the call, before any
        request.
        """
        plan = build_read_plan(**params)
        workers = self.settings.max_concurrency
        if is_top_read(plan):
            return self._top_customer_pages(plan, workers)
        if plan.ordered or plan.limit is not None:
            return self.run_plan(plan)
        return self._complete_read(plan.filters, plan.page_size, workers)

    def _complete_read(
        self, filters: dict[str, str], page_size: int, workers: int
    ) -> Iterator[list[dict[str, Any]]]:
        """Every customer matching ``filters`` once: in parallel sweeps when ``workers`` > 1."""
        if workers < 2 or "customerIds" in filters:  # at most 250 customers: one sweep is enough
            return self.run_plan(CustomerReadPlan(filters, page_size=page_size))
        return self.run_plan(ParallelReadPlan(filters, page_size=page_size, max_sweeps=2 * workers), workers)

    def _top_customer_pages(self, plan: CustomerReadPlan, workers: int) -> Iterator[list[dict[str, Any]]]:
        """Read everything for an ordered read above one request, keep the top in a heap, yield it in pages."""
        top = top_of(plan)
        for page in self._complete_read(plan.filters, plan.page_size, workers):
            top.add(page)
        customers = top.result()
        self.log.info("Kept the top %d of %d customers by %s", len(customers), top.seen, top.sort_by)
        for start in range(0, len(customers), plan.page_size):
            yield customers[start : start + plan.page_size]

    def run_plan(self, plan: ReadPlan, workers: int = 1) -> Iterator[list[dict[str, Any]]]:
        """
        Send the requests a read plan asks for, up to ``workers`` at once; yield what it makes of each answer.

        :param plan: any read plan: sequential, parallel or new customers.
        :param workers: requests in flight at most (threads).
        """
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="dub-read") as pool:
            in_flight: dict[Future[Any], tuple[str, dict[str, str]]] = {}

            def send_ready() -> None:
                for key, path, query in plan.ready(workers - len(in_flight)):
                    in_flight[pool.submit(self._get, path, query, parse_answer(path))] = (key, query)

            try:
                send_ready()
                while in_flight:
                    finished, _ = wait(in_flight, return_when=FIRST_COMPLETED)
                    for future in finished:
                        key, query = in_flight.pop(future)
                        try:
                            rows = plan.accept(key, future.result())
                        except DubInvalidCursorError:
                            log_cursor_deleted(self.log, query)
                            rows = plan.cursor_lost(key)
                        # The next requests go out before the caller takes its time with these rows.
                        send_ready()
                        yield rows
            finally:
                for future in in_flight:
                    future.cancel()

    @overload
    def count_customers(
        self, *, group_by: Literal["country", "linkId"], **filters: Any
    ) -> list[dict[str, Any]]: ...

    @overload
    def count_customers(self, *, group_by: Literal["partnerId", ""] | None = None, **filters: Any) -> int: ...

    @overload
    def count_customers(
        self, *, group_by: str | None = None, **filters: Any
    ) -> int | list[dict[str, Any]]: ...

    def count_customers(self, *, group_by: str | None = None, **filters: Any) -> int | list[dict[str, Any]]:
        """
        Count the customers that match the filters (``GET /customers/count``, available on every plan).

        Without ``group_by`` (or with ``partnerId``, for which Dub answers the plain count): an
        integer. With ``country`` or ``linkId``: Dub's groups as it sends them, largest first, e.g.
        ``[{"_count": 12, "country": "US"}, ...]`` or ``[{"_count", "linkId", "shortLink", "url"}, ...]``
        (at most 10,000 links). Dub ignores the filter on the field it groups by (``country``,
        ``link_id``): every group comes back, and a warning says so in the log.

        Dub's count ignores ``customerIds``, so with ``customer_ids`` the matching customers are
        counted from a read of ``GET /customers`` (at most 250: three requests; Business plan) and
        ``group_by`` is refused.

        :param group_by: ``country``, ``linkId`` or ``partnerId``.
        :param filters: ``email``, ``external_id``, ``search``, ``country``, ``link_id``,
            ``program_id``, ``partner_id``, ``customer_ids``.
        :raises DubValidationError: on a bad parameter, before any request.
        """
        query = build_count_query(group_by=group_by, **filters)
        if "customerIds" in query:
            return sum(len(page) for page in self.iter_customer_pages(**filters))
        if dropped := filter_dropped_by_grouping(query):
            self.log.warning(
                "Dub ignores the %s filter of a count grouped by %s: every %s comes back",
                dropped,
                query["groupBy"],
                query["groupBy"],
            )
        if query.get("groupBy") in ("country", "linkId"):
            field = query["groupBy"]
            return self._get("/customers/count", query, lambda body: parse_count_groups(body, field))
        return self._get("/customers/count", query, parse_count)

    def test_connection(self) -> tuple[bool, str]:
        """Check the key can list customers: one request, no retries. Never raises."""
        try:
            self._get("/customers", {"pageSize": "1"}, parse_customer_page, RetryPolicy(max_retry_seconds=0))
        except DubAPIError as err:
            return False, err.message
        except Exception as err:
            return False, str(err)
        return True, "Connection successful: the API key can list Dub customers."

    # -- connection form on Airflow 3.1 (3.2+ reads it from provider info) ---------------------------

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        """Return the relabelled and hidden fields of the connection form, for Airflow before 3.2."""
        return {
            "hidden_fields": list(UI_FIELD_BEHAVIOUR["hidden-fields"]),
            "relabeling": dict(UI_FIELD_BEHAVIOUR["relabeling"]),
            "placeholders": dict(UI_FIELD_BEHAVIOUR["placeholders"]),
        }

    @classmethod
    def get_connection_form_widgets(cls) -> dict[str, Any]:
        """
        Return the extra fields of the connection form, for Airflow before 3.2.

        They are Flask-AppBuilder widgets. Without it installed (Airflow 3.1 does not require the FAB
        provider) there are none: Airflow would otherwise skip the hook's relabelled and hidden
        fields too, and the form would show Login, Schema and Port.
        """
        try:
            from flask_appbuilder.fieldwidgets import BS3TextFieldWidget
            from flask_babel import lazy_gettext
            from wtforms import IntegerField, StringField
        except ImportError:
            return {}

        widgets = {}
        for name, field in CONNECTION_FIELDS.items():
            schema = field["schema"]
            kind = IntegerField if "integer" in schema["type"] else StringField
            widgets[name] = kind(
                lazy_gettext(field["label"]),
                widget=BS3TextFieldWidget(),
                description=field["description"],
                default=schema.get("default"),
            )
        return widgets
