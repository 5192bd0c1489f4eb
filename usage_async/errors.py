"""The exception tree, and the pure mapping from an HTTP response to an exception.

Every exception raised by the package is a :class:`UsageError`. An error raised out of a
stream (``.pages()``, ``.buckets()``, ``.collect()``) carries ``cursor`` and ``resume_time``
so the stream can be continued without losing or repeating a bucket.
"""

from __future__ import annotations

import email.utils
import json
import math
import time
from collections.abc import Mapping
from typing import Any

__all__ = [
    "APIConnectionError",
    "APIError",
    "APIResponseValidationError",
    "APIStatusError",
    "APITimeoutError",
    "AuthenticationError",
    "BadRequestError",
    "ClientClosedError",
    "ConfigurationError",
    "ConflictError",
    "InternalServerError",
    "InvalidParameterError",
    "NotFoundError",
    "PaginationError",
    "PermissionDeniedError",
    "RateLimitError",
    "UnprocessableEntityError",
    "UsageError",
    "error_from_response",
    "parse_retry_after",
]

ADMIN_KEY_HINT = (
    "the Usage and Costs endpoints need an organization admin key (sk-admin-...), "
    "not a project key; create one at https://platform.openai.com/settings/organization/admin-keys"
)


class UsageError(Exception):
    """Base class of every error raised by usage_async.

    ``cursor`` and ``resume_time`` are set when the error is raised out of a stream:
    ``cursor`` is the ``page`` value of the request that failed (None for the first request,
    or after the stream re-asked without a cursor), and ``resume_time`` the ``end_time`` of
    the last bucket delivered (the stream's ``start_time`` before the first bucket; None for
    a stream started from a cursor).
    """

    cursor: str | None = None
    resume_time: int | None = None


class ConfigurationError(UsageError):
    """The client was constructed with settings it cannot work with (no key, bad base_url)."""


class ClientClosedError(UsageError):
    """The request's client was closed (``aclose()``, or leaving its ``async with``) before
    or while the request ran: in flight, waiting for its pace, a concurrency slot or a
    retry. Never retried: a closed client sends nothing more."""


class InvalidParameterError(UsageError, ValueError):
    """A query parameter was refused before any request was sent."""

    def __init__(self, message: str, *, param: str | None = None) -> None:
        super().__init__(message)
        self.param = param


class PaginationError(UsageError):
    """The API's cursors would lose or repeat data: ``has_more`` without a cursor, or a
    cursor the stream already used."""


class APIError(UsageError):
    """A request reached the network and failed."""

    def __init__(self, message: str, *, request_id: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.request_id = request_id

    def __str__(self) -> str:
        if self.request_id:
            return f"{self.request_id}: {self.message}"
        return self.message


class APIResponseValidationError(APIError):
    """A 2xx response whose body is not JSON, or not a page of this API (a key that carries
    data is missing: ``data``, ``has_more``, a bucket's ``start_time``, ``end_time`` or
    ``results``).

    Retried like any failed attempt (a proxy or a server under strain can cut or mangle a
    body), unless the response says ``x-should-retry: false``. ``json_error`` is true when
    the body was not valid JSON at all (a truncated response, say).
    """

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        body: bytes,
        request_id: str | None = None,
        json_error: bool = False,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message, request_id=request_id)
        self.status_code = status_code
        self.body = body
        self.json_error = json_error
        self.headers: Mapping[str, str] = headers if headers is not None else {}


class APIConnectionError(APIError):
    """The request could not be sent or its response not read (refused, reset, dropped)."""


class APITimeoutError(APIConnectionError):
    """An attempt took longer than the client's ``timeout``."""


class APIStatusError(APIError):
    """The API answered with a status that is not a success.

    ``retry_after`` is the wait the server asked for, in seconds, or None when it sent none.
    """

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        headers: Mapping[str, str],
        body: Any,
        request_id: str | None = None,
        type: str | None = None,
        code: str | None = None,
        param: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, request_id=request_id)
        self.status_code = status_code
        self.headers = headers
        self.body = body
        self.type = type
        self.code = code
        self.param = param
        self.retry_after = retry_after


class BadRequestError(APIStatusError):
    """400: the API refused the query (a bad parameter, a rejected cursor)."""


class AuthenticationError(APIStatusError):
    """401: the key is missing, wrong, or not an admin key."""


class PermissionDeniedError(APIStatusError):
    """403: the key may not read this organization's usage."""


class NotFoundError(APIStatusError):
    """404."""


class ConflictError(APIStatusError):
    """409 (retried)."""


class UnprocessableEntityError(APIStatusError):
    """422."""


class RateLimitError(APIStatusError):
    """429 after the retries ran out, or with a server wait above ``max_retry_after``."""


class InternalServerError(APIStatusError):
    """5xx after the retries ran out."""


_STATUS_CLASSES: dict[int, type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    422: UnprocessableEntityError,
    429: RateLimitError,
}


def _status_class(status: int) -> type[APIStatusError]:
    if status >= 500:
        return InternalServerError
    return _STATUS_CLASSES.get(status, APIStatusError)


def parse_retry_after(headers: Mapping[str, str], *, now: float | None = None) -> float | None:
    """Return the server's requested wait in seconds, or None when it gave none.

    Order as in openai-python's ``_parse_retry_after_header``: ``retry-after-ms`` first, then
    ``Retry-After`` as seconds, then as an HTTP date (RFC 9110 section 10.2.3). A negative or
    unreadable value counts as none; a date in the past as 0.
    """
    raw_ms = headers.get("retry-after-ms")
    if raw_ms is not None:
        try:
            ms = float(raw_ms)
        except ValueError:
            pass
        else:
            if math.isfinite(ms) and ms >= 0:
                return ms / 1000.0
    raw = headers.get("retry-after")
    if raw is None:
        return None
    try:
        seconds = float(raw)
    except ValueError:
        parsed = email.utils.parsedate_tz(raw)
        if parsed is None:
            return None
        when = email.utils.mktime_tz(parsed)
        return max(0.0, when - (time.time() if now is None else now))
    if not math.isfinite(seconds) or seconds < 0:
        return None
    return seconds


def _str_or_none(value: object) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else str(value)


def error_from_response(
    status: int, headers: Mapping[str, str], body: bytes, *, now: float | None = None
) -> APIStatusError:
    """Return the exception for a non-2xx response: pure, no I/O.

    The message comes from OpenAI's ``{"error": {"message", "type", "param", "code"}}`` body
    when there is one, else from the status line; 401 and 403 add that an admin key is
    needed.
    """
    request_id = headers.get("x-request-id")
    parsed: Any
    try:
        parsed = json.loads(body) if body else None
    except ValueError:
        parsed = body.decode("utf-8", "replace")
    message = ""
    err_type = code = param = None
    error = parsed.get("error") if isinstance(parsed, dict) else None
    if isinstance(error, dict):
        message = _str_or_none(error.get("message")) or ""
        err_type = _str_or_none(error.get("type"))
        code = _str_or_none(error.get("code"))
        param = _str_or_none(error.get("param"))
    elif isinstance(error, str):
        message = error
    elif isinstance(parsed, str) and parsed.strip():
        message = parsed.strip()[:500]
    head = f"HTTP {status}"
    text = f"{head}: {message}" if message else head
    if status in (401, 403):
        text = f"{text} ({ADMIN_KEY_HINT})"
    if 300 <= status < 400 and headers.get("location"):
        text = f"{text} (redirect to {headers['location']} not followed)"
    return _status_class(status)(
        text,
        status_code=status,
        headers=headers,
        body=parsed,
        request_id=request_id,
        type=err_type,
        code=code,
        param=param,
        retry_after=parse_retry_after(headers, now=now),
    )
