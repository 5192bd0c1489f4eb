"""Check keyword arguments against an endpoint row and encode them as a query string. Pure.

Everything here runs once per call (or once per re-ask), never once per page: a stream's
pages differ only in the ``page`` cursor appended to the prepared query string.
"""

from __future__ import annotations

import datetime as _dt
import operator
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import quote

import attrs

from ._endpoints import (
    BOOL,
    DEFAULT_BUCKET_WIDTH,
    ENUM_LIST,
    INT,
    STR,
    STR_LIST,
    TIME,
    WIDTH,
    EndpointSpec,
)
from .errors import InvalidParameterError

__all__ = ["Query", "build_query", "to_unix"]

_EPOCH = _dt.datetime(1970, 1, 1, tzinfo=_dt.timezone.utc)
_ONE_SECOND = _dt.timedelta(seconds=1)
# Parameters a stream itself drives: they cannot come in through extra_query.
_STREAM_PARAMS = frozenset({"start_time", "end_time", "page"})


def _refuse(param: str, message: str) -> InvalidParameterError:
    return InvalidParameterError(f"{param}: {message}", param=param)


def to_unix(value: object, param: str = "start_time") -> int:
    """Return Unix seconds for an int, a timezone-aware datetime or a date (midnight UTC).

    Fractions of a second are dropped (floored). A naive datetime, a bool, a float or a
    negative time is refused with :class:`InvalidParameterError`.
    """
    if isinstance(value, bool):
        raise _refuse(param, "expected int Unix seconds, an aware datetime or a date, got a bool")
    if isinstance(value, _dt.datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise _refuse(
                param,
                "naive datetime refused: bucket boundaries are UTC; pass an aware datetime, "
                "e.g. datetime(2025, 1, 1, tzinfo=timezone.utc)",
            )
        seconds = (value - _EPOCH) // _ONE_SECOND
    elif isinstance(value, _dt.date):
        seconds = (value - _EPOCH.date()).days * 86400
    elif isinstance(value, float):
        raise _refuse(param, f"expected int Unix seconds, got float {value!r}; use int(...)")
    else:
        try:
            seconds = operator.index(value)  # type: ignore[arg-type]
        except TypeError:
            raise _refuse(
                param,
                "expected int Unix seconds, an aware datetime or a date, "
                f"got {type(value).__name__}",
            ) from None
    if seconds < 0:
        raise _refuse(param, f"must not be negative, got {seconds}")
    return seconds


def _encode_scalar(value: object) -> str:
    if value is True:
        return "true"
    if value is False:
        return "false"
    return str(value)


def _str_list(param: str, value: object, allowed: tuple[str, ...] | None) -> list[str]:
    if isinstance(value, (str, bytes)):
        hint = f"[{value!r}]"
        raise _refuse(param, f"expected a list of strings, got a bare string; pass {hint}")
    if not isinstance(value, Iterable):
        raise _refuse(param, f"expected a list of strings, got {type(value).__name__}")
    items = list(value)
    if not items:
        raise _refuse(param, "is empty; leave it out (or pass None) to not filter")
    for item in items:
        if not isinstance(item, str):
            raise _refuse(param, f"expected strings, got {item!r}")
        if allowed is not None and item not in allowed:
            raise _refuse(param, f"{item!r} is not allowed; allowed values: {', '.join(allowed)}")
    return items


@attrs.frozen
class Query:
    """A checked query: its values, and the encoded query string without the cursor."""

    endpoint: EndpointSpec
    values: Mapping[str, Any]  # checked values, None-free, without page
    extra: tuple[tuple[str, str], ...]
    start_time: int
    end_time: int | None
    bucket_width: str
    page: str | None
    query_string: str

    def with_start(self, start_time: int) -> Query:
        """The same query from another start time, with no cursor (a stream's re-ask)."""
        return _prepare(
            self.endpoint, {**self.values, "start_time": start_time}, self.extra, page=None
        )

    def pairs(self) -> list[tuple[str, str]]:
        """The query as ``(key, value)`` pairs, arrays as repeated keys, without the cursor."""
        return _pairs(self.endpoint, self.values, self.extra)


def _pairs(
    endpoint: EndpointSpec, values: Mapping[str, Any], extra: tuple[tuple[str, str], ...]
) -> list[tuple[str, str]]:
    pairs: list[tuple[str, str]] = []
    for name in endpoint.params:
        value = values.get(name)
        if value is None:
            continue
        if isinstance(value, list):
            pairs.extend((name, item) for item in value)
        else:
            pairs.append((name, _encode_scalar(value)))
    pairs.extend(extra)
    return pairs


def _prepare(
    endpoint: EndpointSpec,
    values: Mapping[str, Any],
    extra: tuple[tuple[str, str], ...],
    *,
    page: str | None,
) -> Query:
    pairs = _pairs(endpoint, values, extra)
    query_string = "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in pairs)
    return Query(
        endpoint=endpoint,
        values=values,
        extra=extra,
        start_time=values["start_time"],
        end_time=values.get("end_time"),
        bucket_width=values.get("bucket_width") or DEFAULT_BUCKET_WIDTH,
        page=page,
        query_string=query_string,
    )


def _encode_extra(extra_query: object) -> tuple[tuple[str, str], ...]:
    if not isinstance(extra_query, Mapping):
        raise _refuse("extra_query", f"expected a mapping, got {type(extra_query).__name__}")
    pairs: list[tuple[str, str]] = []
    for key, value in extra_query.items():
        if not isinstance(key, str):
            raise _refuse("extra_query", f"keys must be strings, got {key!r}")
        if key in _STREAM_PARAMS:
            raise _refuse(
                "extra_query", f"{key!r} drives the stream; pass it as a keyword argument"
            )
        if value is None:
            continue
        if isinstance(value, (list, tuple, set, frozenset)):
            pairs.extend((key, _encode_scalar(item)) for item in value)
        else:
            pairs.append((key, _encode_scalar(value)))
    return tuple(pairs)


def build_query(
    endpoint: EndpointSpec, kwargs: Mapping[str, Any], *, largest_pages: bool = False
) -> Query:
    """Check ``kwargs`` against the endpoint's row and return the prepared :class:`Query`.

    Raises :class:`InvalidParameterError` naming the parameter and the allowed values.
    ``None`` values count as not given. ``largest_pages`` (streams): without a ``limit``,
    ask for the most buckets a page may hold for the bucket width, not the API's default.
    """
    params = endpoint.params
    values: dict[str, Any] = {}
    extra: tuple[tuple[str, str], ...] = ()
    for name, value in kwargs.items():
        if name == "extra_query":
            if value is not None:
                extra = _encode_extra(value)
            continue
        kind = params.get(name)
        if kind is None:
            allowed = ", ".join([*params, "extra_query"])
            raise _refuse(
                name, f"unknown parameter for {endpoint.name}; its parameters are: {allowed}"
            )
        if value is None:
            continue
        if kind == TIME:
            values[name] = to_unix(value, name)
        elif kind == WIDTH:
            if value not in endpoint.limits:
                raise _refuse(
                    name,
                    f"{value!r} is not allowed for {endpoint.name}; "
                    f"allowed values: {', '.join(endpoint.limits)}",
                )
            values[name] = value
        elif kind == STR_LIST:
            values[name] = _str_list(name, value, None)
        elif kind == ENUM_LIST:
            values[name] = _str_list(name, value, endpoint.enums[name])
        elif kind == BOOL:
            if not isinstance(value, bool):
                raise _refuse(name, f"expected True or False, got {value!r}")
            values[name] = value
        elif kind == INT:
            if isinstance(value, bool) or not isinstance(value, int):
                raise _refuse(name, f"expected an int, got {value!r}")
            values[name] = value
        elif kind == STR:
            if not isinstance(value, str) or not value:
                raise _refuse(name, f"expected a non-empty cursor string, got {value!r}")
            values[name] = value
    if "start_time" not in values:
        raise _refuse("start_time", f"is required for {endpoint.name}")
    end_time = values.get("end_time")
    if end_time is not None and end_time <= values["start_time"]:
        raise _refuse(
            "end_time",
            f"must be after start_time ({end_time} <= {values['start_time']})",
        )
    width = values.get("bucket_width", DEFAULT_BUCKET_WIDTH)
    limit = values.get("limit")
    if limit is None and largest_pages and all(key != "limit" for key, _ in extra):
        # API-NOTES #3-#4: few requests a minute are allowed, and the API's default page
        # (7 daily buckets) takes about 4x the requests a month needs. Costs answers at most
        # 31 buckets whatever the limit (#13): nothing may assume a page holds `limit`.
        values["limit"] = endpoint.limits[width][1]
    elif limit is not None:
        _, maximum = endpoint.limits[width]
        if not 1 <= limit <= maximum:
            raise _refuse(
                "limit",
                f"must be between 1 and {maximum} for {endpoint.name} with "
                f"bucket_width={width!r}, got {limit}",
            )
    page = values.pop("page", None)
    return _prepare(endpoint, values, extra, page=page)
