"""Reading Dub's answers: customer pages, counts and the error envelope."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from airflow_provider_dub.exceptions import (
    ERROR_CLASSES_BY_CODE,
    ERROR_CLASSES_BY_STATUS,
    DubAPIError,
    DubConnectionError,
    DubInvalidCursorError,
    DubServerError,
    DubUnprocessableEntityError,
)

#: One customer as Dub sends it (a JSON object with an ``id``); the protocol modules' name for it.
Customer = dict[str, Any]

INVALID_CURSOR_MESSAGE = "Invalid cursor"


def _load_json(body: bytes | str, what: str) -> Any:
    try:
        return json.loads(body)
    except ValueError as err:
        raise DubConnectionError(
            f"Dub sent a {what} that is not valid JSON ({len(body)} bytes): {err}"
        ) from None


def parse_customer_page(body: bytes | str) -> list[Customer]:
    """Parse a ``GET /customers`` body: a bare JSON array of customer objects, each with an ``id``."""
    page = _load_json(body, "customer page")
    if not isinstance(page, list) or not all(isinstance(row, dict) and "id" in row for row in page):
        raise DubConnectionError(
            f"Dub sent a customer page that is not a list of customers (got {type(page).__name__})."
        )
    return page


def parse_count(body: bytes | str) -> int:
    """Parse a ``GET /customers/count`` body: a bare integer."""
    count = _load_json(body, "count")
    if isinstance(count, bool) or not isinstance(count, int):
        raise DubConnectionError(f"Dub sent a count that is not an integer: {str(body)[:100]!r}")
    return count


def parse_answer(path: str) -> Callable[[bytes | str], Any]:
    """Return the parser of a plan's request to ``path``: the count, or a page of customers."""
    return parse_count if path.endswith("/count") else parse_customer_page


def parse_count_groups(body: bytes | str, group_by: str) -> list[dict[str, Any]]:
    """
    Parse a grouped ``GET /customers/count`` body: a JSON array of groups, returned as Dub sends it.

    Each group is an object with an integer ``_count`` and the ``group_by`` key (``null`` for the
    customers without one); ``linkId`` groups also carry ``shortLink`` and ``url``.
    """
    groups = _load_json(body, "grouped count")
    if not isinstance(groups, list) or not all(
        isinstance(group, dict)
        and group_by in group
        and isinstance(group.get("_count"), int)
        and not isinstance(group.get("_count"), bool)
        for group in groups
    ):
        raise DubConnectionError(
            f"Dub sent a count by {group_by} that is not a list of groups with a _count "
            f"(got {type(groups).__name__})."
        )
    return groups


def error_from_response(status_code: int, body: bytes | str) -> DubAPIError:
    """
    Turn an error response into the matching exception, keeping Dub's code, message and doc_url.

    The envelope is ``{"error": {"code", "message", "doc_url"}}``. A body without it (a proxy's HTML
    page, say) still gives the class for its HTTP status, with the start of the body as the message.
    """
    code, message, doc_url = "", "", None
    try:
        envelope = json.loads(body)
        error = envelope.get("error") if isinstance(envelope, dict) else None
        if isinstance(error, dict):
            code = str(error.get("code") or "")
            message = str(error.get("message") or "")
            doc_url = error.get("doc_url")
    except ValueError:
        pass
    if not message:
        text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
        message = " ".join(text.split())[:200] or "(empty response)"
    cls = ERROR_CLASSES_BY_CODE.get(code) or ERROR_CLASSES_BY_STATUS.get(status_code)
    if cls is None:
        cls = DubServerError if status_code >= 500 else DubAPIError
    if cls is DubUnprocessableEntityError and message.startswith(INVALID_CURSOR_MESSAGE):
        cls = DubInvalidCursorError
    return cls(code or f"http_{status_code}", message, doc_url, status_code)
