"""Parsing and validation of ``GET /customers`` query parameters.

Validation reproduces Dub's zod schema: ``pageSize`` and ``page`` are coerced
like JavaScript's ``Number()``, and only the first problem is reported, as
``"<code>: <param>: <text>"``, checking the schema's keys in its order:
includeExpandedFields, sortBy, sortOrder, page, pageSize. The pagination rules
follow (:func:`check_pagination`). A repeated parameter is read by its last value (the handler's job).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from airflow_provider_dub.testing.errors import unprocessable

SORT_FIELDS = ("createdAt", "saleAmount", "firstSaleAt", "subscriptionCanceledAt")
SORT_ORDERS = ("asc", "desc")
DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 100
MAX_OFFSET_PAGE = 1000  # Dub's cap on ``page`` (a cap of 100 lived for one day)
GROUP_BY_FIELDS = ("country", "linkId", "partnerId")

_JS_DECIMAL = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?|[+-]?Infinity")
_JS_PREFIXED = re.compile(r"0([xX][0-9a-fA-F]+|[oO][0-7]+|[bB][01]+)")


@dataclass(frozen=True)
class Filters:
    """The filters shared by ``/customers`` and ``/customers/count``."""

    email: str | None = None
    external_id: str | None = None
    search: str | None = None
    country: str | None = None
    link_id: str | None = None
    partner_id: str | None = None
    program: bool = False  # programId or partnerId was sent: restrict to the default program
    customer_ids: frozenset[str] | None = None  # ``customerIds``, on /customers only


@dataclass(frozen=True)
class ListQuery:
    """A validated ``GET /customers`` request."""

    filters: Filters
    page_size: int = DEFAULT_PAGE_SIZE
    page: int = 1
    page_given: bool = False  # whether ``page`` was sent at all
    sort_by: str = "createdAt"
    descending: bool = True
    expanded: bool = False
    starting_after: str | None = None
    ending_before: str | None = None

    @property
    def cursor(self) -> str | None:
        """The cursor id, whichever of startingAfter / endingBefore was given."""
        return self.starting_after if self.starting_after is not None else self.ending_before


def js_number(text: str) -> float:
    """Convert like JavaScript's ``Number(text)``: NaN when it is not a number."""
    text = text.strip()
    if text == "":
        return 0.0
    if _JS_DECIMAL.fullmatch(text):
        return float(text.replace("Infinity", "inf"))
    if _JS_PREFIXED.fullmatch(text):
        return float(int(text, 0))
    return math.nan


def _non_empty(params: dict[str, str], name: str) -> str | None:
    value = params.get(name)
    return value if value else None


def parse_filters(params: dict[str, str], *, customer_ids: bool = False) -> Filters:
    """Read the filter parameters; empty values count as absent.

    ``customerIds`` (comma-separated) is read only when ``customer_ids`` is set: Dub's
    ``/customers/count`` schema does not have it, so there it is ignored. An empty
    ``customerIds`` is not absent: it asks for the id ``""`` and matches nothing.
    """
    raw_ids = params.get("customerIds") if customer_ids else None
    return Filters(
        email=_non_empty(params, "email"),
        external_id=_non_empty(params, "externalId"),
        search=_non_empty(params, "search"),
        country=_non_empty(params, "country"),
        link_id=_non_empty(params, "linkId"),
        partner_id=_non_empty(params, "partnerId"),
        program=bool(_non_empty(params, "programId") or _non_empty(params, "partnerId")),
        customer_ids=None if raw_ids is None else frozenset(raw_ids.split(",")),
    )


def parse_group_by(params: dict[str, str]) -> str | None:
    """Validate ``/customers/count``'s ``groupBy`` (absent: a plain count)."""
    # The 422 text is our assumption: zod's enum message in Dub's "<code>: <param>: <text>"
    # form, like sortBy's; the real text for groupBy has not been observed.
    return _parse_choice(params.get("groupBy"), "groupBy", GROUP_BY_FIELDS, "") or None


def _parse_page_size(raw: str | None) -> int:
    if raw is None:
        return DEFAULT_PAGE_SIZE
    number = _positive_integer(raw, "pageSize", "Page size")
    if number > MAX_PAGE_SIZE:
        raise unprocessable(f"too_big: pageSize: Max page size is {MAX_PAGE_SIZE}.")
    return number


def _parse_page(raw: str | None) -> int:
    return 1 if raw is None else _positive_integer(raw, "page", "Page")


def _positive_integer(raw: str, param: str, label: str) -> int:
    """Read a number as zod does (``z.coerce.number().int().positive()``), with Dub's messages."""
    number = js_number(raw)
    if math.isnan(number) or math.isinf(number):
        raise unprocessable(f"invalid_type: {param}: {label} must be a number.")
    if not number.is_integer():
        raise unprocessable(f"invalid_type: {param}: {label} must be an integer.")
    if number < 1:
        raise unprocessable(f"too_small: {param}: {label} must be greater than 0.")
    return int(number)


def _parse_choice(raw: str | None, param: str, choices: tuple[str, ...], default: str) -> str:
    if raw is None:
        return default
    if raw not in choices:
        expected = "|".join(f'"{choice}"' for choice in choices)
        raise unprocessable(f"invalid_value: {param}: Invalid option: expected one of {expected}")
    return raw


def parse_list_query(params: dict[str, str]) -> ListQuery:
    """Validate ``GET /customers`` parameters (the schema), raising the first 422 Dub would give.

    The pagination rules are checked later, by :func:`check_pagination`: on Dub they
    come after the program lookup (its 404).
    """
    expanded_raw = params.get("includeExpandedFields")
    expanded = False
    if expanded_raw is not None:  # case-insensitive, unlike sortBy and sortOrder
        lowered = _parse_choice(expanded_raw.lower(), "includeExpandedFields", ("true", "false"), "false")
        expanded = lowered == "true"
    sort_by = _parse_choice(params.get("sortBy"), "sortBy", SORT_FIELDS, "createdAt")
    sort_order = _parse_choice(params.get("sortOrder"), "sortOrder", SORT_ORDERS, "desc")
    page = _parse_page(params.get("page"))
    page_size = _parse_page_size(params.get("pageSize"))
    return ListQuery(
        filters=parse_filters(params, customer_ids=True),
        page_size=page_size,
        page=page,
        page_given="page" in params,
        sort_by=sort_by,
        descending=sort_order == "desc",
        expanded=expanded,
        starting_after=_non_empty(params, "startingAfter"),
        ending_before=_non_empty(params, "endingBefore"),
    )


def check_pagination(query: ListQuery, page_cap: int) -> None:
    """Raise the 422 of Dub's pagination rules, in Dub's order, if one applies."""
    has_cursor = query.cursor is not None
    if query.starting_after is not None and query.ending_before is not None:
        raise unprocessable("You cannot use both startingAfter and endingBefore at the same time.")
    if has_cursor and query.sort_by != "createdAt":
        raise unprocessable(
            "Cursor-based pagination only supports sorting by `createdAt`. "
            "Use offset-based pagination (page/pageSize) for other sort fields."
        )
    if has_cursor and query.page_given:  # any page, page=1 included
        raise unprocessable(
            "You cannot use both page and startingAfter/endingBefore at the same time. "
            "Please use one pagination method."
        )
    if query.page > page_cap:
        raise unprocessable(
            f"Page is too big (cannot be more than {page_cap}), "
            "recommend using cursor-based pagination instead."
        )
