"""
The attempts of one request to Dub: what each answer means, whether to try again and when.

Both transports, :class:`~airflow_provider_dub.hooks.dub.DubHook` (requests) and
:class:`~airflow_provider_dub.hooks.dub_async.DubAsyncHook` (httpx), do only the I/O around a
:class:`RequestAttempts`, and so log the same lines::

    attempts = RequestAttempts(path, query, parse, retry_loop, log)
    while True:
        try:
            while (wait := attempts.wait_before_send(now())) > 0:
                sleep(wait)
            attempts.sending(now())
            response = send()
            outcome = attempts.answered(response.status, response.headers, response.body, now())
        except <the library's transport errors> as error:
            outcome = attempts.failed(error, now())
        finally:
            attempts.ended(now())  # an attempt cut short (cancelled) frees its rate-limit slot
        if outcome.retry_in is None:
            return outcome.result()
        sleep(outcome.retry_in)
"""

from __future__ import annotations

import re
import ssl
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar, cast

from airflow_provider_dub.exceptions import DubConnectionError, DubError
from airflow_provider_dub.protocol.responses import error_from_response
from airflow_provider_dub.protocol.retry import RetryLoop

T = TypeVar("T")

_QUERY = re.compile(r"\?[^\s'\")]+")
_LONGEST_LOGGED_ERROR = 200


class Log(Protocol):
    """Describe the logging methods the attempts use (a hook's ``self.log``)."""

    def debug(self, event: Any, *args: Any, **kw: Any) -> Any: ...

    def info(self, event: Any, *args: Any, **kw: Any) -> Any: ...

    def warning(self, event: Any, *args: Any, **kw: Any) -> Any: ...


@dataclass(frozen=True)
class Outcome(Generic[T]):
    """
    Hold how one attempt ended: Dub's parsed answer, a wait before the next attempt, or the error to raise.

    :param retry_in: seconds to wait before the next attempt; ``None``: the request is over.
    """

    value: T | None = None
    retry_in: float | None = None
    error: Exception | None = None

    def result(self) -> T:
        """Return the parsed answer of a request that is over, or raise its error."""
        if self.error is not None:
            raise self.error
        return cast("T", self.value)


def without_query(error: BaseException) -> str:
    """
    Return an HTTP library's error text without any URL query in it (requests puts the whole URL in some).

    The query holds the filters, customer emails and names among them, which must not reach the
    task log, nor Airflow's DB through a trigger event.
    """
    return _QUERY.sub("?...", str(error))


def is_tls_failure(error: BaseException) -> bool:
    """Tell whether a transport error comes from the TLS handshake (e.g. https to a plain-HTTP server)."""
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, ssl.SSLError) or "SSL" in type(seen).__name__ or "[SSL" in str(seen):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def log_cursor_deleted(log: Log, query: Mapping[str, str]) -> None:
    """Log that a read's cursor customer was deleted and the read resumes (both transports' line)."""
    cursor = query.get("startingAfter") or query.get("endingBefore")
    log.info("Dub cursor %s was deleted during the read; resuming", cursor)


def _short(error: BaseException) -> str:
    text = str(error)
    return text if len(text) <= _LONGEST_LOGGED_ERROR else text[: _LONGEST_LOGGED_ERROR - 3] + "..."


@dataclass(repr=False)  # no repr: the query can hold customer data
class RequestAttempts(Generic[T]):
    """
    Decide between the attempts of one ``GET path?query``, for either transport.

    Every attempt ends in exactly one of :meth:`answered` (Dub sent a status), :meth:`failed` (the
    HTTP library raised a transport error) or :meth:`ended` (cut short, e.g. cancelled), which
    report it to the retry loop and its rate-limit pacer.

    :param path: the request's path, e.g. ``/customers``.
    :param query: the request's query (logged at DEBUG only: it can hold customer data).
    :param parse: turns a 2xx body into the result; raises
        :class:`~airflow_provider_dub.exceptions.DubConnectionError` on a body Dub would not send.
    :param retries: the request's retry loop (policy, budget, pacer).
    :param log: where the attempt number and the retries are logged.
    :param tls_hint: added to a TLS failure's message, which then ends the request (e.g. how to
        write the base URL of a plain-HTTP server, when the connection gave none).
    """

    path: str
    query: Mapping[str, str]
    parse: Callable[[bytes], T]
    retries: RetryLoop
    log: Log
    tls_hint: str | None = field(default=None, kw_only=True)
    #: When the attempt under way was sent (or began waiting for its slot); ``None`` between attempts.
    _sent: float | None = field(default=None, init=False)

    @property
    def attempt(self) -> int:
        """Return the number of the attempt under way or next, from 1."""
        return self.retries.attempts + 1

    def wait_before_send(self, now: float) -> float:
        """Return the seconds to wait for this attempt's rate-limit slot; ask again after waiting, until 0."""
        if self._sent is None:
            self._sent = now
        return self.retries.wait_before_send(now)

    def sending(self, now: float) -> None:
        """Note (and log at DEBUG) that the attempt is being sent now."""
        self._sent = now
        self.log.debug("Dub GET %s %s (attempt %d)", self.path, self.query, self.attempt)

    def answered(self, status: int, headers: Mapping[str, str], body: bytes, now: float) -> Outcome[T]:
        """Return the outcome of an attempt that Dub answered with ``status``."""
        headers = dict(headers)
        error: DubError
        answer: int | None = status
        if status < 400:
            try:
                value = self.parse(body)
            except DubConnectionError as exc:  # a 2xx whose body is not what Dub sends
                answer, error = None, exc
            else:
                self._report(answer, headers, now)
                return Outcome(value=value)
        else:
            error = error_from_response(status, body)
        self._report(answer, headers, now)
        return self._after_failure(error, answer, headers, now)

    def failed(self, error: BaseException, now: float) -> Outcome[T]:
        """
        Return the outcome of an attempt that got no answer: the error's text loses any URL query.

        A TLS failure with a ``tls_hint`` is final: the hint says the scheme was guessed, and a
        handshake with a server that speaks plain HTTP fails however often it is tried.
        """
        text = f"Dub did not answer GET {self.path}: {type(error).__name__}: {without_query(error)}"
        self._report(None, {}, now)
        if self.tls_hint and is_tls_failure(error):
            return Outcome(error=DubConnectionError(f"{text} ({self.tls_hint})"))
        return self._after_failure(DubConnectionError(text), None, {}, now)

    def ended(self, now: float) -> None:
        """Close an attempt that has no outcome (cut short): its booked slot goes back to the pacer."""
        if self._sent is not None:
            self._report(None, {}, now)

    def _report(self, status: int | None, headers: Mapping[str, str], now: float) -> None:
        sent, self._sent = self._sent, None
        self.retries.answered(status, headers, now if sent is None else sent, now)

    def _after_failure(
        self, error: DubError, status: int | None, headers: Mapping[str, str], now: float
    ) -> Outcome[T]:
        delay = self.retries.delay_after(status, headers, now)
        if delay is None:
            return Outcome(error=self.retries.give_up(error))
        self.log.warning(
            "Dub GET %s failed (%s); attempt %d, retrying in %.2f s",
            self.path,
            _short(error),
            self.retries.attempts,
            delay,
        )
        return Outcome(retry_in=delay)
