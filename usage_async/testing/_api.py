"""The simulator's request handling as pure functions: query pairs in, a :class:`Reply` out.

Rules, each as the spec or the real API has them (API-NOTES numbers in brackets):

* Arrays come as repeated keys (``group_by=a&group_by=b``), in the bracket form of the
  official SDK (``group_by[]=a``), indexed (``group_by[0]=a``) or comma-separated
  (``group_by=a,b``, as seen in the wild); all mean the same.
* Parameters the endpoint does not have are ignored, as the real API does; a scalar given
  twice is a 400.
* Buckets start at ``start_time`` floored to the width's UTC boundary (a minute, an hour, a
  UTC midnight) and are always whole: ``end_time`` is the start of the last bucket's
  successor, rounded up. Without ``end_time`` the range ends with the bucket containing
  ``now`` [5, 12].
* ``limit`` buckets a page, with the spec's defaults and maxima per width [3]; empty buckets
  are returned with empty ``results``. ``next_page`` is on every page, null on the last.
  Costs accepts a ``limit`` up to 180 but answers at most 31 buckets a page [13].
* Costs refuses ``group_by`` with ``api_key_id`` for a window that starts before 2025-12-06
  (a 400 naming the date) [14]: the date was observed, not documented.
* Cursors (``page_`` + base64, like the real ones) carry the next bucket's start and a MAC of
  every other parameter: a cursor replayed with different parameters, or altered, is a 400
  "The page token is invalid, have you modified the query parameters?" [1].
* Errors use OpenAI's body, ``{"error": {"message", "type", "param", "code"}}``. Codes: the
  page-token error's is ``invalid_request_error`` as the real API sends it; the others
  (``missing_required_parameter``, ``invalid_value``, ``integer_below_min_value``,
  ``integer_above_max_value``, ``invalid_api_key``) follow OpenAI's other endpoints.
"""

from __future__ import annotations

import base64
import binascii
import datetime as _dt
import hashlib
import hmac
import json
import re
import struct
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any

import attrs

from ._spec import ARRAY, BOOLEAN, INTEGER, EndpointDef, ParamDef
from ._state import COSTS, Money, Selection, UsageState

__all__ = [
    "COSTS_PAGE_MAX",
    "GROUP_BY_SINCE",
    "INVALID_PAGE_TOKEN",
    "Reply",
    "encode_json",
    "error_reply",
    "missing_scope",
    "respond",
]

# The real API's words (API-NOTES #2); not a secret.
INVALID_PAGE_TOKEN = "The page token is invalid, have you modified the query parameters?"  # noqa: S105
INVALID_REQUEST = "invalid_request_error"
_UNITS = {"m": 60, "h": 3600, "d": 86400}
_INTEGER = re.compile(r"[+-]?\d{1,19}")
_INT64_MAX = 2**63 - 1
_INDEXED = re.compile(r"^(.*)\[\d*\]$")  # group_by[] and group_by[0]
# API-NOTES #13: Costs takes a `limit` of up to 180 but a page holds at most 31 buckets.
COSTS_PAGE_MAX = 31
# API-NOTES #14: (endpoint, group_by value) -> the first start_time the API groups by it.
GROUP_BY_SINCE: Mapping[tuple[str, str], int] = {("costs", "api_key_id"): 1_764_979_200}


@attrs.frozen
class Reply:
    """An HTTP response as plain values."""

    status: int
    body: bytes
    headers: Mapping[str, str] = attrs.field(factory=dict)


def encode_json(obj: Any, *, amount_as_string: bool = False) -> bytes:
    """Compact JSON; money as a JSON number, or as a string when ``amount_as_string``."""

    def number(value: object) -> object:
        if isinstance(value, Money) and amount_as_string:
            return str(value)
        if isinstance(value, Decimal):
            return float(value)
        raise TypeError(f"cannot encode {type(value).__name__}")

    return json.dumps(obj, separators=(",", ":"), default=number).encode()


def error_reply(
    status: int,
    message: str,
    *,
    type: str = INVALID_REQUEST,
    param: str | None = None,
    code: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> Reply:
    """An error response with OpenAI's body: all of ``message``, ``type``, ``param``, ``code``."""
    body = {"error": {"message": message, "type": type, "param": param, "code": code}}
    return Reply(status, encode_json(body), dict(headers or {}))


class QueryError(Exception):
    """A query parameter the API refuses, as the 400 it answers with."""

    def __init__(self, message: str, *, param: str | None, code: str | None) -> None:
        super().__init__(message)
        self.reply = error_reply(400, message, param=param, code=code)


def _invalid(param: str, message: str) -> QueryError:
    return QueryError(message, param=param, code="invalid_value")


def width_seconds(width: str) -> int:
    """Seconds in a bucket width such as ``1m``, ``1h`` or ``1d``."""
    return int(width[:-1]) * _UNITS[width[-1]]


@attrs.frozen
class Query:
    """A checked query of one endpoint."""

    endpoint: EndpointDef
    start_time: int
    end_time: int | None
    width: str
    limit: int
    selection: Selection
    page: str | None
    canonical: bytes  # every parameter but `page`, normalised, for the cursor's MAC


def normalise(pairs: Iterable[tuple[str, str]], endpoint: EndpointDef) -> dict[str, list[str]]:
    """Group the query's values by parameter name, arrays in any of their spellings."""
    values: dict[str, list[str]] = {}
    for raw_key, value in pairs:
        match = _INDEXED.match(raw_key)
        key = match.group(1) if match else raw_key
        param = endpoint.params.get(key)
        if param is None:
            continue  # unknown parameters are ignored, as the real API does
        if param.kind == ARRAY:
            values.setdefault(key, []).extend(v for v in value.split(",") if v)
        else:
            values.setdefault(key, []).append(value)
    return values


def _integer(param: str, raw: str) -> int:
    if not _INTEGER.fullmatch(raw) or abs(int(raw)) > _INT64_MAX:
        raise _invalid(param, f"Invalid value for '{param}': expected an integer, got {raw!r}.")
    value = int(raw)
    if value < 0:
        raise QueryError(
            f"Invalid '{param}': integer below minimum value. "
            f"Expected a value >= 0, but got {value} instead.",
            param=param,
            code="integer_below_min_value",
        )
    return value


def _enum(param: ParamDef, raw: str) -> str:
    if param.enum is not None and raw not in param.enum:
        allowed = ", ".join(f"'{v}'" for v in param.enum)
        raise _invalid(param.name, f"Invalid value: '{raw}'. Supported values are: {allowed}.")
    return raw


def _boolean(param: str, raw: str) -> bool:
    lowered = raw.lower()
    if lowered not in ("true", "false"):
        raise _invalid(param, f"Invalid value for '{param}': expected true or false, got {raw!r}.")
    return lowered == "true"


def parse_query(endpoint: EndpointDef, pairs: Iterable[tuple[str, str]]) -> Query:
    """Check a query against the endpoint's parameters; raise :class:`QueryError` if refused."""
    values = normalise(pairs, endpoint)
    scalars: dict[str, Any] = {}
    filters: dict[str, frozenset[Any]] = {}
    group_by: list[str] = []
    for name, param in endpoint.params.items():
        raw = values.get(name)
        if raw is None:
            if param.required:
                raise QueryError(
                    f"Missing required parameter: '{name}'.",
                    param=name,
                    code="missing_required_parameter",
                )
            continue
        if param.kind == ARRAY:
            items = [_enum(param, item) for item in raw]
            if name == "group_by":
                group_by = list(dict.fromkeys(items))
            else:
                filters[endpoint.filters[name]] = frozenset(items)
            continue
        if len(raw) != 1:
            raise _invalid(name, f"Invalid value for '{name}': expected one value, got {len(raw)}.")
        if param.kind == INTEGER:
            scalars[name] = _integer(name, raw[0])
        elif param.kind == BOOLEAN:
            filters[endpoint.filters[name]] = frozenset([_boolean(name, raw[0])])
        else:
            scalars[name] = _enum(param, raw[0])
    start, end = scalars["start_time"], scalars.get("end_time")
    if end is not None and end <= start:
        raise _invalid(
            "end_time",
            f"Invalid 'end_time': must be greater than 'start_time' ({end} <= {start}).",
        )
    width = scalars.get("bucket_width", endpoint.default_width)
    default_limit, max_limit = endpoint.limits[width]
    limit = scalars.get("limit", default_limit)
    if not 1 <= limit <= max_limit:
        low = limit < 1
        raise QueryError(
            f"Invalid 'limit': integer {'below minimum' if low else 'above maximum'} value. "
            f"Expected a value {'>= 1' if low else f'<= {max_limit}'} for "
            f"bucket_width={width}, but got {limit} instead.",
            param="limit",
            code="integer_below_min_value" if low else "integer_above_max_value",
        )
    for field in group_by:
        since = GROUP_BY_SINCE.get((endpoint.name, field))
        if since is not None and start < since:
            day = _dt.datetime.fromtimestamp(since, _dt.timezone.utc).date().isoformat()
            raise QueryError(
                f"Grouping by '{field}' is only supported for data from {day} onwards "
                f"(start_time >= {since}); got start_time={start}.",
                param="group_by",
                code="invalid_value",
            )
    canonical = repr(
        (
            endpoint.path,
            start,
            end,
            width,
            limit,
            sorted((k, sorted(map(str, v))) for k, v in filters.items()),
            sorted(group_by),
        )
    ).encode()
    return Query(
        endpoint=endpoint,
        start_time=start,
        end_time=end,
        width=width,
        limit=limit,
        selection=Selection(filters=filters, group_by=tuple(group_by)),
        page=scalars.get("page"),
        canonical=canonical,
    )


# -- cursors ------------------------------------------------------------------------------


def _mac(secret: bytes, query: Query, start: int, *, dead: bool) -> bytes:
    message = query.canonical + struct.pack(">q", start) + (b"dead" if dead else b"live")
    return hmac.new(secret, message, hashlib.sha256).digest()[:8]


def make_cursor(secret: bytes, query: Query, start: int, *, dead: bool = False) -> str:
    """An opaque cursor to the bucket starting at ``start``; a ``dead`` one is refused later."""
    raw = struct.pack(">q", start) + _mac(secret, query, start, dead=dead)
    return "page_" + base64.b64encode(raw).decode("ascii")


def read_cursor(secret: bytes, query: Query, cursor: str) -> int | None:
    """The bucket start a cursor points to, or None if it is not one of ours for this query."""
    if not cursor.startswith("page_"):
        return None
    # A client that sends `+` unescaped has it decoded as a space; put it back.
    text = cursor[len("page_") :].replace(" ", "+")
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None
    if len(raw) != 16:
        return None
    (start,) = struct.unpack(">q", raw[:8])
    if not hmac.compare_digest(raw[8:], _mac(secret, query, start, dead=False)):
        return None
    return int(start)


# -- the endpoint -------------------------------------------------------------------------


def page_body(
    state: UsageState,
    query: Query,
    secret: bytes,
    *,
    costs_cursor_after_empty_tail: bool = False,
) -> dict[str, Any]:
    """The page a checked query asks for, as JSON-ready values.

    Raises :class:`QueryError` for a cursor that is not valid for this query.
    """
    width = width_seconds(query.width)
    first = query.start_time - query.start_time % width
    now = state.now()
    end = query.end_time if query.end_time is not None else now - now % width + width
    total = max(0, -(-(end - first) // width))
    page_start = first
    if query.page is not None:
        cursor_start = read_cursor(secret, query, query.page)
        if (
            cursor_start is None
            or cursor_start < first
            or (cursor_start - first) % width
            or cursor_start >= first + total * width
        ):
            raise QueryError(INVALID_PAGE_TOKEN, param=None, code=INVALID_REQUEST)
        page_start = cursor_start
    index = (page_start - first) // width
    name = query.endpoint.name
    # API-NOTES #13: a Costs limit of 32-180 is accepted, and silently clamped to 31.
    limit = min(query.limit, COSTS_PAGE_MAX) if name == COSTS else query.limit
    count = max(0, min(limit, total - index))
    buckets = state.buckets(name, page_start, width, count, query.selection)
    next_start = page_start + count * width
    has_more = index + count < total
    next_page = None
    if has_more:
        # API-NOTES #2: Costs has handed out a cursor past trailing empty buckets that it
        # then refused.
        dead = (
            costs_cursor_after_empty_tail
            and name == COSTS
            and not state.has_usage(name, next_start, first + total * width, query.selection)
        )
        next_page = make_cursor(secret, query, next_start, dead=dead)
    return {
        "object": "page",
        "data": [
            {
                "object": "bucket",
                "start_time": page_start + i * width,
                "end_time": page_start + (i + 1) * width,
                "results": results,
            }
            for i, results in enumerate(buckets)
        ],
        "has_more": has_more,
        "next_page": next_page,
    }


def respond(
    state: UsageState,
    endpoint: EndpointDef,
    pairs: Sequence[tuple[str, str]],
    secret: bytes,
    *,
    amount_as_string: bool = False,
    costs_cursor_after_empty_tail: bool = False,
) -> Reply:
    """The reply to an authorised GET of ``endpoint`` with these query pairs."""
    try:
        query = parse_query(endpoint, pairs)
        body = page_body(
            state, query, secret, costs_cursor_after_empty_tail=costs_cursor_after_empty_tail
        )
    except QueryError as exc:
        return exc.reply
    return Reply(
        200,
        encode_json(body, amount_as_string=amount_as_string),
        {"Content-Type": "application/json"},
    )


def missing_scope(scope: str) -> Reply:
    """The 403 a restricted key gets for what it may not read, worded as the real API does
    (API-NOTES #19)."""
    return error_reply(
        403,
        f"You have insufficient permissions for this operation. Missing scopes: {scope}. "
        "Check that you have the correct role in your organization (Reader, Writer, Owner) "
        "and project (Viewer, Member, Owner), and if you're using a restricted API key, that "
        "it has the necessary scopes.",
    )


def authorise(header: str | None, api_key: str) -> Reply | None:
    """None if ``Authorization`` carries the key, else the 401 the API answers with."""
    if not header:
        return error_reply(
            401,
            "You didn't provide an API key. You need to provide your API key in an "
            "Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
            code="invalid_api_key",
        )
    scheme, _, given = header.partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip(), api_key):
        shown = given.strip()
        masked = f"{shown[:3]}*****{shown[-4:]}" if len(shown) > 8 else "*****"
        return error_reply(
            401,
            f"Incorrect API key provided: {masked}. The Usage and Costs API needs an "
            "organization admin key.",
            code="invalid_api_key",
        )
    return None
