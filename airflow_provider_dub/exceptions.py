"""Exceptions raised by the Dub provider.

Every error Dub answers with maps to one class below (see :data:`ERROR_CLASSES_BY_CODE`); each
carries Dub's ``code``, ``message``, ``doc_url`` and the HTTP status. None of them ever holds the API key.
"""

from __future__ import annotations

from collections.abc import Sequence

from airflow.sdk.exceptions import AirflowException


class DubError(AirflowException):
    """Base class of every error raised by the Dub provider."""


class DubValidationError(DubError, ValueError):
    """
    A parameter is not acceptable; raised before any request is sent.

    :param param: the parameter's name, as the caller spelt it.
    :param problem: what is wrong with the value.
    :param allowed: what the parameter accepts.
    """

    def __init__(self, param: str, problem: str, allowed: str | Sequence[str] | None = None) -> None:
        self.param = param
        self.problem = problem
        if allowed is not None and not isinstance(allowed, str):
            allowed = ", ".join(repr(value) for value in allowed)
        self.allowed = allowed
        text = f"Invalid value for '{param}': {problem}."
        if allowed:
            text += f" Allowed: {allowed}."
        super().__init__(text)


class DubPaginationError(DubError):
    """A read cannot be delivered completely in the order asked for, or lost its place."""


class DubXComLimitError(DubError):
    """More customers match than ``max_xcom_records``: they belong in a file, not in XCom."""


class DubOutputError(DubError):
    """The customers could not be written to the output path (storage or file-format failure)."""


class WriteAbandoned(Exception):
    """
    Raise from the pages given to a writer to abandon the write: no file is kept, none replaced.

    The sensor does this when fewer customers are new than it waits for. Never reaches a user.
    """


class DubWarehouseError(DubError):
    """The warehouse load (``DubCustomersToSqlOperator``) could not apply a snapshot."""


class DubDeletedShareError(DubWarehouseError):
    """A snapshot lacks more than ``max_deleted_share`` of the live customers; nothing was changed."""


class DubConnectionError(DubError):
    """Dub could not be reached or did not answer properly (network, timeout, malformed reply)."""


class DubAPIError(DubError):
    """
    Dub answered with an error.

    :param code: Dub's error code, e.g. ``unprocessable_entity``.
    :param message: Dub's own message.
    :param doc_url: Dub's documentation link for the error.
    :param status_code: the HTTP status (kept as ``http_status``).
    """

    def __init__(self, code: str, message: str, doc_url: str | None, status_code: int) -> None:
        self.code = code
        self.message = message
        self.doc_url = doc_url
        self.http_status = status_code
        super().__init__(f"Dub API error {status_code} {code}: {message}")


class DubBadRequestError(DubAPIError):
    """400 ``bad_request``: e.g. a malformed Authorization header."""


class DubUnauthorizedError(DubAPIError):
    """401 ``unauthorized``: missing, invalid or expired API key."""


class DubForbiddenError(DubAPIError):
    """403 ``forbidden``: the key's plan does not allow this (listing customers needs Business)."""


class DubExceededLimitError(DubAPIError):
    """403 ``exceeded_limit``: the workspace is over a usage limit of its plan."""


class DubNotFoundError(DubAPIError):
    """404 ``not_found``: e.g. "Program not found" when filtering by program or partner."""


class DubConflictError(DubAPIError):
    """409 ``conflict``."""


class DubInvitePendingError(DubAPIError):
    """409 ``invite_pending``."""


class DubInviteExpiredError(DubAPIError):
    """410 ``invite_expired``."""


class DubUnprocessableEntityError(DubAPIError):
    """422 ``unprocessable_entity``: Dub rejected a parameter or a pagination combination."""


class DubInvalidCursorError(DubUnprocessableEntityError):
    """422: the cursor customer does not exist (any more)."""


class DubRateLimitError(DubAPIError):
    """429 ``rate_limit_exceeded``: the key's per-minute window is full."""


class DubServerError(DubAPIError):
    """5xx, ``internal_server_error`` or an unknown code with a 5xx status."""


ERROR_CLASSES_BY_CODE: dict[str, type[DubAPIError]] = {
    "bad_request": DubBadRequestError,
    "unauthorized": DubUnauthorizedError,
    "forbidden": DubForbiddenError,
    "exceeded_limit": DubExceededLimitError,
    "not_found": DubNotFoundError,
    "conflict": DubConflictError,
    "invite_pending": DubInvitePendingError,
    "invite_expired": DubInviteExpiredError,
    "unprocessable_entity": DubUnprocessableEntityError,
    "rate_limit_exceeded": DubRateLimitError,
    "internal_server_error": DubServerError,
}

ERROR_CLASSES_BY_STATUS: dict[int, type[DubAPIError]] = {
    400: DubBadRequestError,
    401: DubUnauthorizedError,
    403: DubForbiddenError,
    404: DubNotFoundError,
    409: DubConflictError,
    410: DubInviteExpiredError,
    422: DubUnprocessableEntityError,
    429: DubRateLimitError,
}
