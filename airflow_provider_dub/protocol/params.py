"""
Parameters of ``GET /customers`` and ``GET /customers/count``: names, validation, query strings.

Callers use snake_case names; Dub's camelCase names go on the wire. Everything is checked here,
before any request is sent, and a bad value raises :class:`DubValidationError` naming the parameter
and what it accepts. ``None`` and the empty string mean "not set", so a templated argument that
renders to nothing simply drops the filter.
"""

from __future__ import annotations

import re
from typing import Any

from airflow_provider_dub.exceptions import DubValidationError
from airflow_provider_dub.protocol.new_customers import NewCustomersPlan, Watermark
from airflow_provider_dub.protocol.pagination import CustomerReadPlan

MAX_PAGE_SIZE = 100
SORT_BY_VALUES = ("createdAt", "saleAmount", "firstSaleAt", "subscriptionCanceledAt")
SORT_ORDER_VALUES = ("asc", "desc")

#: Filters shared by listing, counting and iterating: snake_case name -> Dub's query name.
FILTER_PARAMS: dict[str, str] = {
    "email": "email",
    "external_id": "externalId",
    "search": "search",
    "country": "country",
    "link_id": "linkId",
    "program_id": "programId",
    "partner_id": "partnerId",
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
COUNT_PARAMS: dict[str, str] = {**FILTER_PARAMS}
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


def _filters_query(params: dict[str, Any]) -> dict[str, str]:
    query: dict[str, str] = {}
    for name, wire_name in FILTER_PARAMS.items():
        value = params.get(name)
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

    :param filters: any of :data:`FILTER_PARAMS`, in snake_case.
    """
    _check_names(filters, COUNT_PARAMS, "GET /customers/count")
    return _filters_query(filters)


def build_read_plan(**params: Any) -> CustomerReadPlan:
    """
    Validate the arguments of a complete read and return the plan that pages through it.

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
