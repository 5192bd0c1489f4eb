"""Check keyword arguments against a list endpoint's row and encode them. Pure.

As ``_query.py`` does for the usage endpoints, once per call: a list stream's pages differ
only in the ``after`` cursor appended to the prepared query string.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import attrs

from ._endpoints import BOOL, INT, STR, STR_LIST
from ._lists import ENUM, LIST_LIMIT_MAX, STREAM_LIMIT, ListSpec
from ._query import _encode_extra, _encode_scalar, _refuse, _str_list

__all__ = ["ListQuery", "build_list_query"]


@attrs.frozen
class ListQuery:
    """A checked list query: its path (parameters filled in), values and query string."""

    spec: ListSpec
    path: str
    values: Mapping[str, Any]  # checked values, None-free, without after
    after: str | None  # where the first request starts
    query_string: str  # without after

    def query_for(self, after: str | None) -> str:
        """The query string of the request starting after the object ``after``."""
        if after is None:
            return self.query_string
        cursor = "after=" + quote(after, safe="")
        return f"{self.query_string}&{cursor}" if self.query_string else cursor


def _path(spec: ListSpec, path_args: Mapping[str, Any]) -> str:
    path = spec.path
    for name in spec.path_params:
        value = path_args.get(name)
        if not isinstance(value, str) or not value:
            raise _refuse(name, f"expected a non-empty id string, got {value!r}")
        # Quoted whole: an id is matched exactly and can never reach another path.
        path = path.replace("{" + name + "}", quote(value, safe=""))
    return path


def _check(spec: ListSpec, name: str, kind: str, value: Any) -> Any:
    if kind == BOOL:
        if not isinstance(value, bool):
            raise _refuse(name, f"expected True or False, got {value!r}")
        return value
    if kind == ENUM:
        allowed = spec.enums[name]
        if value not in allowed:
            raise _refuse(name, f"{value!r} is not allowed; allowed values: {', '.join(allowed)}")
        return value
    if kind == STR_LIST:
        return _str_list(name, value, None)
    if kind == INT:
        if isinstance(value, bool) or not isinstance(value, int):
            raise _refuse(name, f"expected an int, got {value!r}")
        if not 1 <= value <= LIST_LIMIT_MAX:
            raise _refuse(name, f"must be between 1 and {LIST_LIMIT_MAX}, got {value}")
        return value
    if kind == STR:
        if not isinstance(value, str) or not value:
            raise _refuse(name, f"expected a non-empty object id, got {value!r}")
        return value
    raise AssertionError(f"unknown parameter kind {kind!r}")  # pragma: no cover - table bug


def build_list_query(
    spec: ListSpec,
    kwargs: Mapping[str, Any],
    *,
    path_args: Mapping[str, Any] | None = None,
    stream: bool = False,
) -> ListQuery:
    """Check ``kwargs`` against the list's row and return the prepared :class:`ListQuery`.

    Raises :class:`InvalidParameterError` naming the parameter and the allowed values.
    ``None`` values count as not given. The row's ``defaults`` fill what is not given; a
    ``stream`` asks for ``limit=100`` unless told otherwise (one page alone leaves ``limit``
    to the API, whose default is 20).
    """
    path = _path(spec, path_args or {})
    values: dict[str, Any] = {}
    extra: tuple[tuple[str, str], ...] = ()
    for name, value in kwargs.items():
        if name == "extra_query":
            if value is not None:
                extra = _encode_extra(value)
                if any(key == "after" for key, _ in extra):
                    raise _refuse("extra_query", "'after' drives the list; pass it as after=")
            continue
        kind = spec.params.get(name)
        if kind is None:
            allowed = ", ".join([*spec.params, "extra_query"])
            raise _refuse(name, f"unknown parameter for {spec.name}; its parameters are: {allowed}")
        if value is not None:
            values[name] = _check(spec, name, kind, value)
    for name, value in spec.defaults.items():
        values.setdefault(name, value)
    if stream:
        values.setdefault("limit", STREAM_LIMIT)
    after = values.pop("after", None)
    pairs: list[tuple[str, str]] = []
    for name in spec.params:
        value = values.get(name)
        if isinstance(value, list):
            pairs.extend((name, item) for item in value)
        elif value is not None:
            pairs.append((name, _encode_scalar(value)))
    pairs.extend(extra)
    query_string = "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in pairs)
    return ListQuery(spec=spec, path=path, values=values, after=after, query_string=query_string)
