"""Buckets to table rows: one prepared plan per (table, dialect, width, group_by). Pure.

A row is a tuple in :attr:`Table.columns` order. The plan generates one function per table
that reads each attribute of a result once and converts only what needs it (a group value
to text, a Decimal to the store's exact form, an Amount to its two columns), as the
client's ``_convert`` does for results: rows are the sync's per-result cost.
"""

from __future__ import annotations

import linecache
import logging
import typing
from collections.abc import Callable, Sequence
from typing import Any

from ..models import Bucket, UnknownResult
from ._schema import DECIMAL, Dialect, Table

__all__ = ["RowPlan"]

log = logging.getLogger("usage_async.sync")

Row = tuple[Any, ...]
_BOOL_TEXT = {None: "", True: "true", False: "false"}


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
    lines.append(f"    return ({', '.join(parts)}, *tail)")
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
        self, buckets: Sequence[Bucket[Any]], *, settled_before: int, fetched_at: int
    ) -> tuple[list[Row], int]:
        """The rows of ``buckets``, and how many results could not be typed (skipped).

        A bucket is settled when it ended at or before ``settled_before``.
        """
        out: list[Row] = []
        append = out.append
        skipped = 0
        row, result_type, bool_out = self._row, self.result_type, self._bool_out
        for bucket in buckets:
            start, end = bucket.start_time, bucket.end_time
            tail = (bool_out(end <= settled_before), fetched_at)
            for result in bucket.results:
                if result.__class__ is result_type:
                    append(row(result, start, end, tail))
                    continue
                skipped += 1
                if isinstance(result, UnknownResult):
                    log.warning("skipped a result that could not be typed: %r", result)
        return out, skipped

    def key(self, row: Row) -> tuple[Any, ...]:
        """The part of a row that tells it apart within one (width, group_by): start, groups."""
        return (row[0], *row[4 : 4 + self._n_groups])
