"""The exception tree, and the pure mapping from an HTTP response to an exception.

Every exception raised by the package is a :class:`UsageError`. An error raised out of a
stream (``.pages()``, ``.buckets()``, ``.collect()``) carries ``cursor`` and ``resume_time``
so the stream can be continued without losing or repeating a bucket.
"""

from __future__ import annotations

import email.utils
import json
import math
import re
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
__all__ += ["auth_hint", "missing_scopes", "refuses_api_key_grouping"]

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
    ``key_kind`` is the kind of key the client sent (``"admin"``, ``"project"``, ``"other"``,
    from its prefix; None when not known) and ``missing_scopes`` the scopes a 401/403 says the
    key lacks (``("api.usage.read",)``).
    """

    key_kind: str | None = None
    missing_scopes: tuple[str, ...] = ()

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
    status: int,
    headers: Mapping[str, str],
    body: bytes,
    *,
    now: float | None = None,
    key_kind: str | None = None,
) -> APIStatusError:
    """Return the exception for a non-2xx response: pure, no I/O.

    The message comes from OpenAI's ``{"error": {"message", "type", "param", "code"}}`` body
    when there is one, else from the status line; 401 and 403 add that an admin key is
    needed, and with ``key_kind`` (``"admin"``, ``"project"``, ``"other"``: see
    ``_keys.key_kind``) which kind of key was refused and what it lacks (``missing_scopes``).
    A 400 refusing to group by ``api_key_id`` adds from when that grouping works.
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
    scopes = missing_scopes(message) if status in (401, 403) else ()
    if status in (401, 403):
        text = f"{text} ({auth_hint(status, key_kind, scopes)})"
    if status == 400 and refuses_api_key_grouping(message, param):
        text = f"{text} ({API_KEY_GROUPING_HINT})"
    if 300 <= status < 400 and headers.get("location"):
        text = f"{text} (redirect to {headers['location']} not followed)"
    error = _status_class(status)(
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
    error.key_kind = key_kind
    error.missing_scopes = scopes
    return error


# -- what a 401/403 says about the key, and the api_key_id grouping date ------------------

_MISSING_SCOPES = re.compile(r"Missing scopes?: ([\w.]+(?:\s*,\s*[\w.]+)*)")
_ADMIN_KEYS_PAGE = "https://platform.openai.com/settings/organization/admin-keys"
_KIND_NAMES = {
    "admin": "an admin key (sk-admin-...)",
    "project": "a project key (sk-proj-... or sk-svcacct-...)",
    "other": "not an organization admin key (no sk-admin- prefix)",
}

API_KEY_GROUPING_SINCE = 1_764_979_200
"""2025-12-06T00:00:00Z: the first ``start_time`` for which the API has been seen to group
by ``api_key_id`` (API-NOTES #14). Observed, not documented: the client sends such queries
anyway and only explains the API's refusal."""

API_KEY_GROUPING_HINT = (
    "grouping by api_key_id works for windows starting 2025-12-06 (Unix 1764979200) or "
    "later, as observed on the real API: start the window then, or leave api_key_id out of "
    "group_by for earlier data"
)


def missing_scopes(message: str) -> tuple[str, ...]:
    """The scopes an OpenAI 401/403 message says are missing ("Missing scopes: a.b, c.d")."""
    match = _MISSING_SCOPES.search(message)
    if match is None:
        return ()
    # The scope list ends a sentence: "Missing scopes: api.usage.read. Check that ..."
    return tuple(s.strip().rstrip(".") for s in match.group(1).split(","))


def auth_hint(status: int, key_kind: str | None, scopes: tuple[str, ...] = ()) -> str:
    """What a 401/403 means for the kind of key that was sent, and what is needed; the key
    itself never appears (only its kind, from its public prefix)."""
    if key_kind is None:
        return ADMIN_KEY_HINT
    seen = f"the key given is {_KIND_NAMES.get(key_kind, _KIND_NAMES['other'])}"
    if key_kind != "admin":
        return (
            f"{seen}; the Usage and Costs API and the organization's lists need an "
            f"organization admin key (sk-admin-...): create one at {_ADMIN_KEYS_PAGE}"
        )
    if scopes:
        return (
            f"{seen} without the scope {', '.join(scopes)}: give the key that permission "
            f"(read) at {_ADMIN_KEYS_PAGE}, or use an admin key that has it"
        )
    if status == 401:
        return (
            f"{seen}, but it was refused: it may be mistyped, deleted or of another "
            f"organization; check it at {_ADMIN_KEYS_PAGE}"
        )
    return (
        f"{seen}, but it may not read this: check its permissions at {_ADMIN_KEYS_PAGE} and "
        "your role in the organization"
    )


def refuses_api_key_grouping(message: str, param: str | None) -> bool:
    """Whether a 400 is the API refusing ``group_by`` with ``api_key_id`` (for a window that
    starts too early, API-NOTES #14)."""
    return "api_key_id" in message and (param == "group_by" or "group" in message.lower())
