"""The ``dub`` connection as the hooks read it: base URL, API key, timeouts, retry budget, rate limit."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from airflow_provider_dub import __version__
from airflow_provider_dub.exceptions import DubValidationError
from airflow_provider_dub.hooks.connection_schema import (
    CONNECTION_FIELDS,
    DEFAULT_BASE_URL,
    DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_MAX_CONCURRENCY,
    DEFAULT_MAX_RETRY_SECONDS,
    DEFAULT_READ_TIMEOUT,
    DEFAULT_REQUESTS_PER_MINUTE,
)
from airflow_provider_dub.protocol.params import as_integer

if TYPE_CHECKING:
    from airflow.sdk import Connection

USER_AGENT = f"airflow-provider-dub/{__version__}"


@dataclass(frozen=True)
class DubConnectionSettings:
    """Hold what the hooks read from their Airflow connection. ``repr`` never shows the key."""

    base_url: str
    api_key: str
    connect_timeout: float
    read_timeout: float
    max_retry_seconds: float
    requests_per_minute: int | None
    max_concurrency: int = 1
    #: The connection's host had no scheme and ``https://`` was put in front of it.
    https_assumed: bool = False

    @property
    def tls_hint(self) -> str | None:
        """Return what to add to a TLS failure when https was assumed (a local server often speaks plain HTTP)."""
        if not self.https_assumed:
            return None
        plain = "http://" + self.base_url.removeprefix("https://")
        return (
            "the connection's Base URL has no scheme, so https was used; for a server that speaks "
            f"plain HTTP write {plain!r} in the Base URL (host) field"
        )

    def __repr__(self) -> str:
        return (
            f"DubConnectionSettings(base_url={self.base_url!r}, api_key='***', "
            f"connect_timeout={self.connect_timeout}, read_timeout={self.read_timeout}, "
            f"max_retry_seconds={self.max_retry_seconds}, requests_per_minute={self.requests_per_minute}, "
            f"max_concurrency={self.max_concurrency})"
        )


def _number_extra(extra: dict[str, Any], name: str, default: float, minimum: float) -> float:
    """Return an extra as its form declares it: finite, an integer where the form says so, within range."""
    value = extra.get(name)
    if value is None or value == "":
        return default
    field = CONNECTION_FIELDS[name]
    maximum = field["schema"].get("maximum")
    kind = "an integer" if "integer" in field["schema"]["type"] else "a number"
    expected = f"{kind} from {minimum:g} to {maximum:g}" if maximum is not None else f"{kind} >= {minimum:g}"
    allowed = f"{expected} ({field['label']})"
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = float("nan")
    if (
        isinstance(value, bool)
        or not math.isfinite(number)
        or (kind == "an integer" and not number.is_integer())
    ):
        raise DubValidationError(f"extra.{name}", f"expected {kind}, got {value!r}", allowed)
    if number < minimum or (maximum is not None and number > maximum):
        raise DubValidationError(f"extra.{name}", f"{value!r} is out of range", allowed)
    return number


def _seconds_argument(name: str, value: Any) -> float:
    """Return a number of seconds given as an argument: finite and >= 0 (a retry budget must end)."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = float("nan")
    if isinstance(value, bool) or not (math.isfinite(number) and number >= 0):
        raise DubValidationError(
            name, f"{value!r} is not a finite number >= 0", "seconds, e.g. 300 (0 turns retries off)"
        )
    return number


@dataclass(frozen=True)
class HookOverrides:
    """
    Check a task's settings for its hook; ``None`` keeps the connection's extra.

    :param max_retry_seconds: overrides the connection's retry budget (seconds, 0 turns retries off).
    :param requests_per_minute: overrides the connection's rate limit; 0 turns pacing off.
    :raises DubValidationError: on a value that is not acceptable, naming it.
    """

    max_retry_seconds: float | None = None
    requests_per_minute: int | None = None

    def __post_init__(self) -> None:
        if self.max_retry_seconds is not None:
            object.__setattr__(
                self, "max_retry_seconds", _seconds_argument("max_retry_seconds", self.max_retry_seconds)
            )
        if self.requests_per_minute is not None:
            object.__setattr__(
                self, "requests_per_minute", as_integer("requests_per_minute", self.requests_per_minute, 0)
            )


def normalise_base_url(host: str | None) -> str:
    """
    Return the connection's host as a base URL: default Dub's API, ``https://`` when no scheme, no trailing slash.

    :raises DubValidationError: when it is not an http(s) URL with a host name.
    """
    host = (host or "").strip()
    if not host:
        return DEFAULT_BASE_URL
    if "://" not in host:
        host = f"https://{host}"
    parts = urlsplit(host)
    try:
        parts.port  # noqa: B018 (raises on a port that is not a number)
        valid = parts.scheme in ("http", "https") and bool(parts.hostname)
    except ValueError:
        valid = False
    if not valid or any(char.isspace() for char in host):
        # requests would fail later with "No connection adapters" or "Invalid URL", naming no field.
        raise DubValidationError(
            "host",
            f"{host!r} is not an http(s) URL",
            "a base URL such as 'https://api.dub.co' (empty: Dub's API)",
        )
    return host.rstrip("/")


def settings_from_connection(
    conn: Connection, overrides: HookOverrides | None = None
) -> DubConnectionSettings:
    """
    Read a ``dub`` connection; the ``overrides`` that are not ``None`` replace its extras.

    :raises DubValidationError: on a missing API key or a bad extra, naming it.
    """
    api_key = (conn.password or "").strip()
    if not api_key:
        # Said without the connection id: the form's Test button uses a random temporary one.
        raise DubValidationError(
            "password", "the connection's API key field (password) is empty", "a Dub API key ('dub_...')"
        )
    if not api_key.isprintable() or any(char.isspace() for char in api_key):
        # Said without the key: requests would put the whole header, key included, in its error.
        raise DubValidationError(
            "password",
            "the connection's API key (password) contains spaces or control characters",
            "a Dub API key ('dub_...') pasted without line breaks",
        )
    if not api_key.isascii():
        # An HTTP header is Latin-1: http.client would raise UnicodeEncodeError naming no field.
        raise DubValidationError(
            "password",
            "the connection's API key (password) contains characters that are not ASCII",
            "a Dub API key: 'dub_' and letters and digits",
        )
    extra = conn.extra_dejson
    overrides = overrides or HookOverrides()
    requests_per_minute = overrides.requests_per_minute
    max_retry_seconds = overrides.max_retry_seconds
    if requests_per_minute is None:
        requests_per_minute = int(_number_extra(extra, "requests_per_minute", DEFAULT_REQUESTS_PER_MINUTE, 1))
    if max_retry_seconds is None:
        max_retry_seconds = _number_extra(extra, "max_retry_seconds", DEFAULT_MAX_RETRY_SECONDS, 0)
    return DubConnectionSettings(
        base_url=normalise_base_url(conn.host),
        https_assumed=bool(conn.host and conn.host.strip()) and "://" not in str(conn.host),
        api_key=api_key,
        connect_timeout=_number_extra(extra, "connect_timeout", DEFAULT_CONNECT_TIMEOUT, 0.001),
        read_timeout=_number_extra(extra, "read_timeout", DEFAULT_READ_TIMEOUT, 0.001),
        max_retry_seconds=max_retry_seconds,
        requests_per_minute=requests_per_minute or None,
        max_concurrency=int(_number_extra(extra, "max_concurrency", DEFAULT_MAX_CONCURRENCY, 1)),
    )


def request_headers(settings: DubConnectionSettings) -> dict[str, str]:
    """Return the headers of every request: the key as a Bearer token, JSON, our User-Agent."""
    return {
        "Authorization": f"Bearer {settings.api_key}",
        "Accept": "application/json",
        "User-Agent": USER_AGENT,
    }
