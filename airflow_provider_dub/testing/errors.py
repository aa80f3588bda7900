"""Dub's error envelope and the errors the emulator answers with."""

from __future__ import annotations

import json

DOC_URL_BASE = "https://dub.co/docs/api-reference/errors#"

INTERNAL_ERROR_MESSAGE = (
    "An internal server error occurred. Please contact our support if the problem persists."
)
MISCONFIGURED_AUTH_MESSAGE = (
    "Misconfigured authorization header. Did you forget to add 'Bearer '? Learn more: https://d.to/auth"
)


def doc_url(code: str) -> str:
    """Dub's doc link for ``code``: only the FIRST underscore becomes a hyphen."""
    return DOC_URL_BASE + code.replace("_", "-", 1)


class ApiError(Exception):
    """An error response: HTTP status, Dub error code and message."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message

    def body(self) -> bytes:
        """The JSON envelope ``{"error": {"code", "message", "doc_url"}}``."""
        error = {"code": self.code, "message": self.message, "doc_url": doc_url(self.code)}
        return json.dumps({"error": error}, separators=(",", ":")).encode()


def unprocessable(message: str) -> ApiError:
    """A 422 ``unprocessable_entity`` error (validation, pagination, cursor)."""
    return ApiError(422, "unprocessable_entity", message)
