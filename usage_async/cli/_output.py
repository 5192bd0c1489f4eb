"""Output: values as text, the table/CSV/JSON-lines writers, number formats, progress on stderr."""

from __future__ import annotations

import contextlib
import csv
import datetime as _dt
import json
import logging
import re
import sys
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterator, Sequence
from decimal import Decimal
from typing import IO, TYPE_CHECKING, Any, TextIO

from .._rows import Row
from ._common import PROG, CommandError, iso

if TYPE_CHECKING:
    from .. import Bucket, Page

__all__ = [
    "FORMATS",
    "Progress",
    "cell",
    "decimal_text",
    "grouped",
    "json_default",
    "json_line",
    "money",
    "output",
    "text_table",
    "top_items",
    "write_csv",
    "write_jsonl",
    "write_table",
]

FORMATS = ("table", "csv", "jsonl")
_CENTS = Decimal("0.01")
_NUMBER = re.compile(r"-?[\d,]+(\.\d+)?")
log = logging.getLogger("usage_async")

# -- values as text -----------------------------------------------------------------------


def decimal_text(value: Decimal) -> str:
    """The exact value as plain digits (``"12.50"``, ``"0.000025463"``), never a float.

    Decimals that would need more than 40 characters that way keep their exponent
    (``"1E+60"``), except zero, which is ``"0"`` (the API has sent ``"0E-6176"``).
    """
    text = format(value, "f")
    if len(text) <= 40:
        return text
    return "0" if value.is_zero() else str(value)


def json_default(value: object) -> str:
    if isinstance(value, Decimal):
        return decimal_text(value)
    if isinstance(value, _dt.datetime):
        return iso(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def cell(value: object) -> str:
    """A row value as CSV or table text: None is empty, bools as in JSON, decimals exact."""
    if value is None:
        return ""
    if value is True or value is False:
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return decimal_text(value)
    if isinstance(value, _dt.datetime):
        return iso(value)
    if isinstance(value, (dict, list)):
        return json.dumps(value, default=json_default, separators=(",", ":"))
    return str(value)


def json_line(row: Row) -> str:
    return json.dumps(row, default=json_default, ensure_ascii=False, separators=(",", ":"))


# -- progress and log lines on stderr -----------------------------------------------------


# -- progress and log lines on stderr -----------------------------------------------------


class Progress(logging.Handler):
    """A status line on stderr (pages, buckets, retries so far) and the library's warnings.

    The line is drawn only when stderr is a terminal; piped, nothing is drawn and each
    ``usage_async`` WARNING is one plain line (``usage-async: warning: retrying ...``). On a
    terminal, retries are counted on the line instead of printed. Use as a context manager:
    it listens to the ``usage_async`` logger inside, and clears its line on the way out.
    """

    def __init__(self, label: str, stream: TextIO | None = None, *, endpoints: int = 0) -> None:
        super().__init__(logging.WARNING)
        self.stream: TextIO = stream if stream is not None else sys.stderr
        self.active = _isatty(self.stream)
        self.label = label
        self.pages = self.buckets = self.retries = self.done = 0
        self.endpoints = endpoints
        self._shown = False

    def __enter__(self) -> Progress:
        log.addHandler(self)
        self.draw()
        return self

    def __exit__(self, *exc_info: object) -> None:
        log.removeHandler(self)
        self.clear()

    def text(self) -> str:
        """The status line as it would be drawn now."""
        parts = [
            _count(self.pages, "page"),
            _count(self.buckets, "bucket"),
            _count(self.retries, "retry", "retries"),
        ]
        if self.endpoints:
            parts.insert(0, f"{self.done}/{self.endpoints} endpoints")
        return f"{self.label}: {', '.join(parts)}"

    def draw(self) -> None:
        """Redraw the line (on a terminal only)."""
        if self.active:
            self.stream.write(f"\r{self.text()}\x1b[K")
            self.stream.flush()
            self._shown = True

    def clear(self) -> None:
        """Erase the line, before other output goes to the terminal."""
        if self._shown:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self._shown = False

    def page(self, page: Page[Any]) -> None:
        """Count one page and its buckets."""
        self.pages += 1
        self.buckets += len(page.data)

    def warn(self, message: str) -> None:
        """One warning line on stderr, above the status line."""
        self.clear()
        self.stream.write(f"{PROG}: warning: {message}\n")
        self.draw()

    def emit(self, record: logging.LogRecord) -> None:
        """Count a retry on the line, or print the record as one warning line."""
        try:
            # The library logs every retry as "retrying <path> after <wait>s (...)".
            if isinstance(record.msg, str) and record.msg.startswith("retrying "):
                self.retries += 1
                if self.active:
                    self.draw()
                    return
            self.warn(record.getMessage())
        except Exception:  # noqa: BLE001 - logging's own rule: a handler never raises
            self.handleError(record)

    async def count(self, pages: AsyncIterator[Page[Any]]) -> AsyncGenerator[Bucket[Any], None]:
        """The buckets of ``pages``, counting each page; the line is redrawn between pages."""
        async for page in pages:
            self.page(page)
            self.clear()  # rows may go to the same terminal
            for bucket in page.data:
                yield bucket
            self.draw()


def _count(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else many or one + 's'}"


def _isatty(stream: IO[str]) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # a replaced or closed stream
        return False


# -- the client ---------------------------------------------------------------------------


# -- writers --------------------------------------------------------------------------------


@contextlib.contextmanager
def output(path: str | None) -> Iterator[TextIO]:
    if path is None:
        yield sys.stdout
        sys.stdout.flush()
        return
    try:
        out = open(path, "w", encoding="utf-8", newline="")  # noqa: SIM115 - closed below
    except OSError as exc:
        raise CommandError(f"cannot write {path}: {exc.strerror or exc}") from None
    with out:
        yield out


async def write_csv(
    out: TextIO,
    header: Sequence[str],
    tag: str,
    stream: AsyncIterator[Row],
    warn: Callable[[str], None],
) -> None:
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    known = frozenset(header)
    warned = False
    async for row in stream:
        writer.writerow([cell(row.get(key)) for key in header])
        if not warned and row["object"] != tag and not known.issuperset(row):
            warned = True
            extra = ", ".join(key for key in row if key not in known)
            warn(
                f"a {row['object']} result has fields outside the CSV columns ({extra}); "
                "use --format jsonl to keep them"
            )


async def write_jsonl(out: TextIO, stream: AsyncIterator[Row]) -> None:
    async for row in stream:
        out.write(json_line(row) + "\n")


def write_table(out: TextIO, header: Sequence[str], found: list[Row]) -> None:
    if not found:
        out.write("(no rows: every bucket in the range is empty)\n")
        return
    names = list(header) + sorted({key for row in found for key in row} - set(header))
    names = [n for n in names if any(row.get(n) is not None for row in found)]
    if "object" in names and len({row.get("object") for row in found}) == 1:
        names.remove("object")  # the endpoint's own tag on every row says nothing
    table = [[cell(row.get(name)) for name in names] for row in found]
    numeric = [
        all(
            isinstance(row.get(name), (int, Decimal)) and not isinstance(row.get(name), bool)
            for row in found
            if row.get(name) is not None
        )
        for name in names
    ]
    widths = [max(len(name), *(len(line[i]) for line in table)) for i, name in enumerate(names)]

    def line(cells: Sequence[str]) -> str:
        padded = [
            cell.rjust(width) if right else cell.ljust(width)
            for cell, width, right in zip(cells, widths, numeric, strict=True)
        ]
        return "  ".join(padded).rstrip() + "\n"

    out.write(line(names))
    out.write(line(["-" * width for width in widths]))
    for cells in table:
        out.write(line(cells))


# -- summary ------------------------------------------------------------------------------


# -- number formats and ranked tables -----------------------------------------------------


def grouped(n: int) -> str:
    return f"{n:,}"


def money(value: Decimal) -> str:
    return f"{value.quantize(_CENTS):,}"


def text_table(title: str, head: Sequence[str], lines: Sequence[Sequence[str]]) -> str:
    """A titled block of columns: numbers right-aligned, text left-aligned."""
    widths = [max(len(cells[i]) for cells in [head, *lines]) for i in range(len(head))]
    right = [all(_NUMBER.fullmatch(cells[i]) for cells in lines) for i in range(len(head))]
    out = [title]
    for cells in [head, *lines]:
        padded = [
            cell.rjust(width) if numeric else cell.ljust(width)
            for cell, width, numeric in zip(cells, widths, right, strict=True)
        ]
        out.append("  " + "  ".join(padded).rstrip())
    return "\n".join(out) + "\n\n"


def top_items(items: list[tuple[str, Any]], top: int) -> tuple[list[tuple[str, Any]], list[Any]]:
    if top == 0 or len(items) <= top + 1:
        return items, []
    return items[:top], [value for _, value in items[top:]]
