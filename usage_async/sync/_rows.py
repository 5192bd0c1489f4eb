"""Buckets to table rows: one prepared plan per (table, dialect, width, group_by). Pure.

A row is a tuple in :attr:`Table.columns` order. The plan generates one function per table
that reads each attribute of a result once and converts only what needs it (a group value
to text, a Decimal to the store's exact form, an Amount to its two columns), as the
client's ``_convert`` does for results: rows are the sync's per-result cost.
"""

from __future__ import annotations

import decimal
import hashlib
import json
import linecache
import logging
import typing
from collections.abc import Callable, Sequence
from typing import Any

import attrs

from ..errors import UsageError
from ..models import Bucket, UnknownResult
from ._schema import DECIMAL, Dialect, Table, line_item_values
from ._store_base import UnknownRow

__all__ = ["DuplicateResultError", "PageRows", "RowPlan"]

log = logging.getLogger("usage_async.sync")

Row = tuple[Any, ...]
_BOOL_TEXT = {None: "", True: "true", False: "false"}


class DuplicateResultError(UsageError):
    """A page holds two results with the same key (bucket and group values): storing both
    is impossible and keeping either would silently drop the other, so the page fails."""

    def __init__(self, endpoint: str, start_time: int, key: dict[str, Any]) -> None:
        shown = ", ".join(f"{k}={v!r}" for k, v in key.items()) or "no group values"
        super().__init__(
            f"{endpoint}: two results in the bucket starting at {start_time} have the same "
            f"key ({shown}); nothing of this page was stored"
        )
        self.endpoint = endpoint
        self.start_time = start_time
        self.key = key


@attrs.frozen
class PageRows:
    """One page as the store takes it: its rows and their keys, the results the client could
    not type (kept raw), and the starts of the buckets that held any."""

    rows: list[Row]
    keys: frozenset[tuple[Any, ...]]
    unknown: list[UnknownRow]
    unsure: frozenset[int]


def _json_default(value: Any) -> Any:
    if isinstance(value, decimal.Decimal):
        return str(value)  # exact, never through a float
    if attrs.has(type(value)):
        return attrs.asdict(value, recurse=False)
    raise TypeError(f"cannot store {type(value).__name__} as JSON")


def unknown_row(start: int, end: int, result: Any) -> UnknownRow:
    """A result the client could not type, as stored: its tag and canonical JSON."""
    if isinstance(result, UnknownResult):
        tag, data = result.object, result.data
    else:  # a typed result of another endpoint's class
        tag, data = type(result).__name__, attrs.asdict(result, recurse=False)
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), default=_json_default)
    digest = hashlib.sha256(text.encode()).hexdigest()[:32]
    return UnknownRow(start, end, tag, digest, text)


def _nullable(convert: Callable[[Any], Any]) -> Callable[[Any], Any]:
    def out(value: Any) -> Any:
        return None if value is None else convert(value)

    return out


def _make_row_function(
    table: Table, result_type: type, dialect: Dialect, head: tuple[str, str]
) -> Callable[..., Row]:
    """``row(r, start, end, tail)``: one result's row, generated from the table's columns."""
    hints = typing.get_type_hints(result_type)
    env: dict[str, Any] = {
        "_bool_text": _BOOL_TEXT,
        "_dec": _nullable(dialect.decimal_out),
        "_width": head[0],
        "_group_by": head[1],
        "_line_item": line_item_values,
    }
    parts = ["s", "e", "_width", "_group_by"]
    for group in table.groups:
        if bool in typing.get_args(hints[group]) or hints[group] is bool:
            parts.append(f"_bool_text[r.{group}]")
        else:  # str or None (the converter guarantees it): None becomes ''
            parts.append(f'(r.{group} or "")')
    lines = [f"def row_{table.name}(r, s, e, tail):"]
    for column in table.fields:
        if column.part == "value":
            lines.append(f"    a_{column.attr} = r.{column.attr}")
            parts.append(f"(None if a_{column.attr} is None else _dec(a_{column.attr}.value))")
        elif column.part == "currency":
            parts.append(f"(None if a_{column.attr} is None else a_{column.attr}.currency)")
        elif column.kind == DECIMAL:
            parts.append(f"_dec(r.{column.attr})")
        else:
            parts.append(f"r.{column.attr}")
    derived = ", *_line_item(r.line_item)" if table.derived else ""  # parsed, cached
    lines.append(f"    return ({', '.join(parts)}, *tail{derived})")
    source = "\n".join(lines) + "\n"
    filename = f"<usage_async.sync generated row_{table.name}>"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    return _compile(source, filename, env, f"row_{table.name}")


def _compile(source: str, filename: str, env: dict[str, Any], name: str) -> Callable[..., Row]:
    exec(compile(source, filename, "exec"), env)  # noqa: S102 - generated from the schema
    function: Callable[..., Row] = env[name]
    return function


class RowPlan:
    """Turns one target's buckets into rows of ``table`` for ``dialect``."""

    def __init__(
        self,
        table: Table,
        dialect: Dialect,
        *,
        result_type: type,
        bucket_width: str,
        group_by: str,
    ) -> None:
        self.table = table
        self.result_type = result_type
        self._n_groups = len(table.groups)
        self._row = _make_row_function(table, result_type, dialect, (bucket_width, group_by))
        self._bool_out = dialect.bool_out

    def rows(
        self,
        buckets: Sequence[Bucket[Any]],
        *,
        settled_before: int,
        fetched_at: int,
        read_at: int = 0,
    ) -> PageRows:
        """The rows of ``buckets``, and the results the client could not type.

        A bucket is settled when it ended at or before ``settled_before``. Raises
        :class:`DuplicateResultError` when two results have the same key.
        """
        out: list[Row] = []
        append = out.append
        unknown: list[UnknownRow] = []
        unsure: set[int] = set()
        row, result_type, bool_out = self._row, self.result_type, self._bool_out
        for bucket in buckets:
            start, end = bucket.start_time, bucket.end_time
            tail = (bool_out(end <= settled_before), fetched_at, read_at, None)
            for result in bucket.results:
                if result.__class__ is result_type:
                    append(row(result, start, end, tail))
                    continue
                unsure.add(start)
                unknown.append(unknown_row(start, end, result))
                log.warning("kept a result the client could not type, raw: %r", result)
        key = self.key
        keys = frozenset(map(key, out))
        if len(keys) < len(out):
            self._duplicate(out)
        return PageRows(out, keys, unknown, frozenset(unsure))

    def _duplicate(self, rows: list[Row]) -> None:
        seen: set[tuple[Any, ...]] = set()
        for row in rows:
            key = self.key(row)
            if key in seen:
                groups = {g: v for g, v in zip(self.table.groups, key[1:], strict=True) if v}
                raise DuplicateResultError(self.table.endpoint, row[0], groups)
            seen.add(key)

    def key(self, row: Row) -> tuple[Any, ...]:
        """The part of a row that tells it apart within one (width, group_by): start, groups."""
        return (row[0], *row[4 : 4 + self._n_groups])
