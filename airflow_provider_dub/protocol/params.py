"""
Parameters of ``GET /customers`` and ``GET /customers/count``: names, validation, query strings.

Callers use snake_case names; Dub's camelCase names go on the wire. Everything is checked here,
before any request is sent, and a bad value raises :class:`DubValidationError` naming the parameter
and what it accepts. ``None`` and the empty string mean "not set", so a templated argument that
renders to nothing simply drops the filter.
"""

from __future__ import annotations

import ast
import json
import re
from typing import Any

from airflow_provider_dub.exceptions import DubValidationError
from airflow_provider_dub.protocol.new_customers import NewCustomersPlan, Watermark
from airflow_provider_dub.protocol.pagination import CustomerReadPlan

MAX_PAGE_SIZE = 100
SORT_BY_VALUES = ("createdAt", "saleAmount", "firstSaleAt", "subscriptionCanceledAt")
SORT_ORDER_VALUES = ("asc", "desc")
#: ``groupBy`` of ``GET /customers/count``: Dub answers a list of groups for the first two, and a
#: bare integer (the plain count) for ``partnerId``.
GROUP_BY_VALUES = ("country", "linkId", "partnerId")
#: The most ids ``customer_ids`` takes: they all go in the URL (about 32 bytes each, the comma
#: encoded), which must stay well under the 14 KB a URL may have on Dub's hosting.
MAX_CUSTOMER_IDS = 250

#: Filters shared by listing, counting and iterating: snake_case name -> Dub's query name.
FILTER_PARAMS: dict[str, str] = {
    "email": "email",
    "external_id": "externalId",
    "search": "search",
    "country": "country",
    "link_id": "linkId",
    "program_id": "programId",
    "partner_id": "partnerId",
    "customer_ids": "customerIds",
}
_EXPANDED = {"include_expanded_fields": "includeExpandedFields"}
_SORTING = {"sort_by": "sortBy", "sort_order": "sortOrder"}
_PAGING = {
    "page": "page",
    "page_size": "pageSize",
    "starting_after": "startingAfter",
    "ending_before": "endingBefore",
}
LIST_PARAMS: dict[str, str] = {**FILTER_PARAMS, **_EXPANDED, **_SORTING, **_PAGING}
COUNT_PARAMS: dict[str, str] = {**FILTER_PARAMS, "group_by": "groupBy"}
#: The filter Dub drops from a count grouped by that filter's own field.
_DROPPED_BY_GROUPING = {"country": "country", "linkId": "link_id"}
NEW_CUSTOMER_PARAMS = (*FILTER_PARAMS, *_EXPANDED)
READ_PARAMS = (*FILTER_PARAMS, *_EXPANDED, *_SORTING, "page_size", "limit")

_COUNTRY = re.compile(r"^[A-Za-z]{2}$")
_INTEGER_TEXT = re.compile(r"^-?[0-9]+$")
_TRUE = ("true", "1", "yes", "on")
_FALSE = ("false", "0", "no", "off")


def _is_unset(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _check_names(given: dict[str, Any], allowed: tuple[str, ...] | dict[str, str], what: str) -> None:
    for name in given:
        if name not in allowed:
            raise DubValidationError(name, f"unknown parameter for {what}", list(allowed))


def _text(name: str, value: Any) -> str:
    if not isinstance(value, str):
        raise DubValidationError(name, f"expected a string, got {type(value).__name__}", "a non-empty string")
    return value.strip()


def as_integer(name: str, value: Any, minimum: int, maximum: int | None = None) -> int:
    """Accept an int, or a string of digits (what a templated field renders to)."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise DubValidationError(name, f"expected an integer, got {value!r}", _range_text(minimum, maximum))
    if isinstance(value, str):
        if not _INTEGER_TEXT.match(value.strip()):
            raise DubValidationError(
                name, f"expected an integer, got {value!r}", _range_text(minimum, maximum)
            )
        value = int(value.strip())
    if value < minimum or (maximum is not None and value > maximum):
        raise DubValidationError(name, f"{value} is out of range", _range_text(minimum, maximum))
    return value


def _range_text(minimum: int, maximum: int | None) -> str:
    return f"an integer from {minimum} to {maximum}" if maximum is not None else f"an integer >= {minimum}"


def as_boolean(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in (*_TRUE, *_FALSE):
        return value.strip().lower() in _TRUE
    raise DubValidationError(name, f"expected a boolean, got {value!r}", "True or False")


def _choice(name: str, value: Any, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise DubValidationError(name, f"{value!r} is not one of the allowed values", allowed)
    return str(value)


_CUSTOMER_IDS_ALLOWED = (
    f"a list of up to {MAX_CUSTOMER_IDS} customer ids, e.g. ['cus_1', 'cus_2'], or one string of ids "
    "separated by commas, or a JSON list"
)


def as_customer_ids(name: str, value: Any) -> list[str] | None:
    """
    Customer ids from a list or tuple of strings, or from the one string a template renders.

    A string holds ids separated by commas (``"cus_1,cus_2"``) or a list literal: JSON, or the Python
    ``repr`` a template renders a list to (``"['cus_1', 'cus_2']"``). Each id is stripped; an empty
    id, an id with a comma or a space, more than :data:`MAX_CUSTOMER_IDS` ids, or an empty list are
    errors (an empty list selects nobody, most likely by mistake upstream; sent as nothing it would
    select everybody). Duplicates are sent once. ``None`` or an empty string: no filter (``None``
    returned).
    """
    if _is_unset(value):
        return None
    items: Any = value
    if isinstance(value, str):
        text = value.strip()
        items = _list_literal(name, text) if text.startswith("[") else text.split(",")
    if not isinstance(items, list | tuple):
        raise DubValidationError(
            name, f"expected a list of strings, got {type(value).__name__}", _CUSTOMER_IDS_ALLOWED
        )
    ids: list[str] = []
    for item in items:
        if not isinstance(item, str):
            raise DubValidationError(
                name, f"expected customer ids as strings, got {type(item).__name__}", _CUSTOMER_IDS_ALLOWED
            )
        text = item.strip()
        if not text or "," in text or any(char.isspace() for char in text):
            raise DubValidationError(
                name,
                f"{item!r} is not a customer id (empty, or with a comma or a space)",
                _CUSTOMER_IDS_ALLOWED,
            )
        if text not in ids:
            ids.append(text)
    if not ids:
        raise DubValidationError(
            name,
            "an empty list selects no customer (leave it unset, None or '', for every customer)",
            _CUSTOMER_IDS_ALLOWED,
        )
    if len(ids) > MAX_CUSTOMER_IDS:
        raise DubValidationError(
            name,
            f"{len(ids)} ids do not fit in one request's URL; split them into several reads",
            _CUSTOMER_IDS_ALLOWED,
        )
    return ids


def _list_literal(name: str, text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        pass
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        raise DubValidationError(name, f"{text[:50]!r} is not a list", _CUSTOMER_IDS_ALLOWED) from None


def _filters_query(params: dict[str, Any]) -> dict[str, str]:
    query: dict[str, str] = {}
    for name, wire_name in FILTER_PARAMS.items():
        value = params.get(name)
        if name == "customer_ids":
            ids = as_customer_ids(name, value)
            if ids is not None:
                query[wire_name] = ",".join(ids)
            continue
        if _is_unset(value):
            continue
        text = _text(name, value)
        if name == "country":
            if not _COUNTRY.match(text):
                raise DubValidationError(
                    name, f"{value!r} is not a country code", "an ISO 3166-1 alpha-2 code, e.g. 'US'"
                )
            text = text.upper()
        query[wire_name] = text
    if not _is_unset(params.get("include_expanded_fields")):
        expanded = as_boolean("include_expanded_fields", params["include_expanded_fields"])
        query["includeExpandedFields"] = "true" if expanded else "false"
    return query


def _sorting(params: dict[str, Any]) -> tuple[str | None, str | None]:
    sort_by = params.get("sort_by")
    sort_order = params.get("sort_order")
    sort_by = None if _is_unset(sort_by) else _choice("sort_by", sort_by, SORT_BY_VALUES)
    sort_order = None if _is_unset(sort_order) else _choice("sort_order", sort_order, SORT_ORDER_VALUES)
    return sort_by, sort_order


def build_list_query(**params: Any) -> dict[str, str]:
    """
    Validate the arguments of one ``GET /customers`` request and return its query.

    :param params: any of :data:`LIST_PARAMS`, in snake_case.
    """
    _check_names(params, LIST_PARAMS, "GET /customers")
    query = _filters_query(params)
    sort_by, sort_order = _sorting(params)
    page = None if _is_unset(params.get("page")) else as_integer("page", params["page"], 1)
    page_size = params.get("page_size")
    page_size = None if _is_unset(page_size) else as_integer("page_size", page_size, 1, MAX_PAGE_SIZE)
    starting_after = params.get("starting_after")
    ending_before = params.get("ending_before")
    starting_after = None if _is_unset(starting_after) else _text("starting_after", starting_after)
    ending_before = None if _is_unset(ending_before) else _text("ending_before", ending_before)
    if starting_after and ending_before:
        raise DubValidationError(
            "starting_after", "cannot be used together with 'ending_before'", "only one of the two cursors"
        )
    if starting_after or ending_before:
        cursor_name = "starting_after" if starting_after else "ending_before"
        if sort_by not in (None, "createdAt"):
            raise DubValidationError(
                "sort_by",
                f"cursor pagination ('{cursor_name}') only supports sorting by createdAt",
                "'createdAt' (or leave sort_by unset) with a cursor; other sorts need 'page'",
            )
        if page is not None and page > 1:
            raise DubValidationError(
                "page", f"cannot be used together with '{cursor_name}'", "page 1 or unset"
            )
    for name, value in (
        ("sort_by", sort_by),
        ("sort_order", sort_order),
        ("page", page),
        ("page_size", page_size),
        ("starting_after", starting_after),
        ("ending_before", ending_before),
    ):
        if value is not None:
            query[LIST_PARAMS[name]] = str(value)
    return query


def build_count_query(**filters: Any) -> dict[str, str]:
    """
    Validate filters for ``GET /customers/count`` and return its query.

    Dub's count ignores ``customerIds``: the query still carries it (the caller must then count by a
    read, see :meth:`~airflow_provider_dub.hooks.dub.DubHook.count_customers`), and it cannot be
    grouped.

    :param filters: any of :data:`FILTER_PARAMS`, in snake_case, and ``group_by`` (one of
        :data:`GROUP_BY_VALUES`).
    """
    _check_names(filters, COUNT_PARAMS, "GET /customers/count")
    query = _filters_query(filters)
    group_by = filters.get("group_by")
    if not _is_unset(group_by):
        query["groupBy"] = _choice("group_by", group_by, GROUP_BY_VALUES)
        if "customerIds" in query:
            raise DubValidationError(
                "group_by",
                "Dub's count ignores customerIds, so a count filtered by customer_ids cannot be grouped",
                "no group_by with customer_ids (group the customers of iter_customers(customer_ids=...))",
            )
    return query


def filter_dropped_by_grouping(query: dict[str, str]) -> str | None:
    """
    The filter (snake_case) a grouped count's query sets that Dub will not apply, or ``None``.

    Dub drops the ``country`` filter from a count grouped by country, and ``link_id`` from one grouped
    by ``linkId``: the answer holds every group, not only the filtered one.
    """
    field = _DROPPED_BY_GROUPING.get(query.get("groupBy", ""))
    return field if field is not None and FILTER_PARAMS[field] in query else None


def build_read_plan(**params: Any) -> CustomerReadPlan:
    """
    Validate the arguments of a complete read and return the plan that pages through it.

    An ordered read whose ``limit`` fits in one request (up to 100) asks for exactly ``limit``
    customers in that one request, whatever ``page_size``; above that the caller reads everything
    and keeps the top (:mod:`.top`).

    :param params: any of the filters, ``include_expanded_fields``, ``sort_by``, ``sort_order``,
        ``page_size`` (1..100, default 100) and ``limit`` (stop after this many customers).
    """
    _check_names(
        params, READ_PARAMS, "iter_customers (paging is done for you; 'page' and cursors are not taken)"
    )
    filters = _filters_query(params)
    sort_by, sort_order = _sorting(params)
    page_size = params.get("page_size")
    page_size = (
        MAX_PAGE_SIZE if _is_unset(page_size) else as_integer("page_size", page_size, 1, MAX_PAGE_SIZE)
    )
    limit = params.get("limit")
    limit = None if _is_unset(limit) else as_integer("limit", limit, 1)
    if (sort_by or sort_order) and limit is not None and page_size < limit <= MAX_PAGE_SIZE:
        page_size = limit  # the top customers in one request: the only exact offset page
    return CustomerReadPlan(filters, page_size=page_size, limit=limit, sort_by=sort_by, sort_order=sort_order)


def build_new_customers_plan(
    *,
    watermark: Watermark | None,
    since_ms: int | None = None,
    stop_after: int | None = None,
    **filters: Any,
) -> NewCustomersPlan:
    """
    Validate the filters of a search for new customers and return its plan.

    :param watermark: where the previous successful search stopped, or ``None``.
    :param since_ms: customers created since this Unix time (ms) are new; overrides the watermark.
    :param stop_after: stop once this many are found.
    :param filters: any of the filters and ``include_expanded_fields``.
    """
    _check_names(filters, NEW_CUSTOMER_PARAMS, "new customers")
    return NewCustomersPlan(
        _filters_query(filters), watermark=watermark, since_ms=since_ms, stop_after=stop_after
    )
