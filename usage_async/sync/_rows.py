"""Buckets to table rows: one prepared plan per (table, dialect, width, group_by). Pure.

A row is a tuple in :attr:`Table.columns` order. The plan reads every attribute of a result
in one ``attrgetter`` call and converts only the few values that need it (group values to
text, Decimals to the store's exact form, an Amount to its two columns).
"""

from __future__ import annotations

import logging
import operator
from collections.abc import Callable, Sequence
from typing import Any

from ..models import Bucket, UnknownResult
from ._schema import DECIMAL, Dialect, Table

__all__ = ["RowPlan"]

log = logging.getLogger("usage_async.sync")

Row = tuple[Any, ...]


def _group_text(value: object) -> str:
    if value is None:
        return ""
    if value is True:
        return "true"
    if value is False:
        return "false"
    return str(value)


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
        self._head = (bucket_width, group_by)
        self._n_groups = len(table.groups)
        attrs_ = [*table.groups]
        converters: list[tuple[int, Callable[[Any], Any]]] = []
        for i in range(len(table.groups)):
            converters.append((i, _group_text))
        seen: dict[str, int] = {}
        for column in table.fields:
            if column.part is not None:  # an Amount: one attribute, two columns
                if column.attr not in seen:
                    seen[column.attr] = len(attrs_)
                    attrs_.append(column.attr)
                continue
            if column.kind == DECIMAL:
                converters.append((len(attrs_), _nullable(dialect.decimal_out)))
            attrs_.append(column.attr)
        self._get = operator.attrgetter(*attrs_)
        self._converters = converters
        self._amounts = sorted(seen.values(), reverse=True)  # split from the right
        self._decimal_out = dialect.decimal_out
        self._bool_out = dialect.bool_out

    def rows(
        self, buckets: Sequence[Bucket[Any]], *, settled_before: int, fetched_at: int
    ) -> tuple[list[Row], int]:
        """The rows of ``buckets``, and how many results could not be typed (skipped).

        A bucket is settled when it ended at or before ``settled_before``.
        """
        out: list[Row] = []
        skipped = 0
        get, converters, amounts = self._get, self._converters, self._amounts
        width, group_by = self._head
        result_type = self.result_type
        decimal_out, bool_out = self._decimal_out, self._bool_out
        single = len(self.table.groups) + len(self.table.fields) == 1
        for bucket in buckets:
            start, end = bucket.start_time, bucket.end_time
            head = (start, end, width, group_by)
            tail = (bool_out(end <= settled_before), fetched_at)
            for result in bucket.results:
                if result.__class__ is not result_type:
                    skipped += 1
                    if isinstance(result, UnknownResult):
                        log.warning("skipped a result that could not be typed: %r", result)
                    continue
                got = get(result)
                values: list[Any] = [got] if single else list(got)
                for i, convert in converters:
                    values[i] = convert(values[i])
                for i in amounts:
                    amount = values[i]
                    if amount is None:
                        values[i : i + 1] = [None, None]
                    else:
                        values[i : i + 1] = [decimal_out(amount.value), amount.currency]
                out.append((*head, *values, *tail))
        return out, skipped

    def key(self, row: Row) -> tuple[Any, ...]:
        """The part of a row that tells it apart within one (width, group_by): start, groups."""
        return (row[0], *row[4 : 4 + self._n_groups])


def _nullable(convert: Callable[[Any], Any]) -> Callable[[Any], Any]:
    def out(value: Any) -> Any:
        return None if value is None else convert(value)

    return out
