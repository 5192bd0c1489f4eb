"""Output: values as text, where output goes (``--format``, ``-o``, ``--append``,
``--fields``), the table/CSV/JSON/JSON-lines writers, number formats, progress on stderr.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import datetime as _dt
import json
import logging
import os
import re
import sys
import tempfile
import time
import types
from collections.abc import (
    AsyncGenerator,
    AsyncIterable,
    AsyncIterator,
    Callable,
    Iterable,
    Sequence,
)
from decimal import Decimal
from typing import IO, TYPE_CHECKING, Any, TextIO

import attrs

from .._rows import Row
from ._common import EXIT_FAILURE, PROG, CommandError, Watch, iso, listen

if TYPE_CHECKING:
    from .. import Bucket, PaceStats, Page, RetryEvent

__all__ = [
    "FORMATS",
    "FORMAT_HELP",
    "OutputSpec",
    "Progress",
    "RetryCounting",
    "Target",
    "add_output_arguments",
    "cell",
    "csv_cell",
    "decimal_text",
    "grouped",
    "json_default",
    "json_line",
    "money",
    "output_spec",
    "project",
    "request_parts",
    "text_rows",
    "text_table",
    "top_items",
    "write_rows",
]

FORMATS = ("table", "csv", "json", "jsonl")
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


class RetryCounting(logging.Handler):
    """What the progress displays share: while entered (``listen``), ``retried`` counts the
    client's retries and redraws; ``_stop`` leaves the logger and the retry hook."""

    retries: int
    _watch: Watch | None

    def draw(self) -> None:
        raise NotImplementedError

    def retried(self, event: RetryEvent) -> None:
        """Count one retry (the client's ``on_retry`` hook calls this); redraw the line."""
        self.retries += 1
        self.draw()

    def _stop(self) -> None:
        log.removeHandler(self)
        if self._watch is not None:
            self._watch.leave(self.retried)
            self._watch = None


class Progress(RetryCounting):
    """A status line on stderr (pages, buckets, retries so far, 429s, the pace, time paused)
    and the library's warnings.

    The line is drawn only when stderr is a terminal; piped, nothing is drawn and each
    ``usage_async`` WARNING is one plain line (``usage-async: warning: retrying ...``).
    Retries are counted through the ``on_retry`` hook of the client the command opened
    (:func:`~._common.open_client`), never from log text; on a terminal they are shown on
    the line instead of printed. The 429s, the pace and the time paused are the client's
    ``pace_stats()``. Use as a context manager: it listens to the ``usage_async`` logger
    and to the client's retries inside, and clears its line on the way out.
    """

    def __init__(self, label: str, stream: TextIO | None = None, *, endpoints: int = 0) -> None:
        super().__init__(logging.WARNING)
        self.stream: TextIO = stream if stream is not None else sys.stderr
        self.active = _isatty(self.stream)
        self.label = label
        self.pages = self.buckets = self.retries = self.done = 0
        self.endpoints = endpoints
        self._shown = False
        self._watch: Watch | None = None

    def __enter__(self) -> Progress:
        log.addHandler(self)
        self._watch = listen(self.retried)
        self.draw()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop()
        self.clear()

    def text(self) -> str:
        """The status line as it would be drawn now."""
        parts = [
            _count(self.pages, "page"),
            _count(self.buckets, "bucket"),
            *request_parts(self.retries, self._watch),
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
        """Print the record as one warning line, unless it is a retry the line shows."""
        try:
            if self.active and self._watch is not None and hasattr(record, "retry_event"):
                return  # counted on the line, through the client's on_retry hook
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


def request_parts(retries: int, watch: Watch | None, *, zero: bool = True) -> list[str]:
    """How the requests are going, as parts of a progress line: ``retries`` so far (counted
    by the caller from the ``on_retry`` hook), then the 429s, pace and time paused of the
    ``watch``'s client. With ``zero=False``, nothing at all while nothing happened."""
    parts = [_count(retries, "retry", "retries")] if retries or zero else []
    client = watch.client if watch is not None else None
    if client is not None:
        parts.extend(_pace_parts(client.pace_stats()))
    return parts


def _pace_parts(stats: PaceStats) -> list[str]:
    """The client's 429s, pace and time paused, as parts of the status line: only what
    happened (nothing before the first 429 or the first pause)."""
    parts = []
    if stats.rate_limited:
        parts.append(_count(stats.rate_limited, "429"))
    if stats.rate is not None:
        rate = stats.rate
        parts.append(f"pace {rate:.3g}/s" if rate >= 1 else f"pace {rate * 60:.3g}/min")
    if stats.pause_seconds or stats.paused_until is not None:
        paused = f"paused {stats.pause_seconds:.1f}s"
        if stats.paused_until is not None:
            paused += f" ({max(0.0, stats.paused_until - time.time()):.0f}s more)"
        parts.append(paused)
    return parts


def _count(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else many or one + 's'}"


def _isatty(stream: IO[str]) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # a replaced or closed stream
        return False


# -- where output goes ------------------------------------------------------------------------

FORMAT_HELP = """\
Formats: table (aligned text), csv, json (one array), jsonl (one object a line). Without
--format, -o's extension decides (.csv, .json, .jsonl); else table. -o - is standard output.
A file is written to a temporary name and renamed when complete, so a failure never cuts
an existing file short; --append continues a csv or jsonl file instead."""

_EXTENSIONS = {".csv": "csv", ".json": "json", ".jsonl": "jsonl", ".ndjson": "jsonl"}
_APPENDABLE = ("csv", "jsonl")


def add_output_arguments(
    parser: argparse.ArgumentParser, *, fields: bool = True, append: bool = True
) -> None:
    """``--format``, ``-o/--output``, and (when the command has them) ``--append``, ``--fields``."""
    group = parser.add_argument_group("output")
    group.add_argument(
        "--format",
        choices=FORMATS,
        help="table, csv, json or jsonl (default: from -o's extension, else table)",
    )
    group.add_argument(
        "-o",
        "--output",
        metavar="FILE",
        help="write to FILE (- for standard output), complete or not at all",
    )
    if append:
        group.add_argument(
            "--append",
            action="store_true",
            help="add to the end of FILE (csv, jsonl) instead of replacing it",
        )
    if fields:
        group.add_argument(
            "--fields",
            type=_field_list,
            metavar="A,B,...",
            help="only these columns, in this order",
        )


def _field_list(text: str) -> list[str]:
    names = [part.strip() for part in text.split(",") if part.strip()]
    if not names:
        raise argparse.ArgumentTypeError("expected column names, comma-separated")
    return names


@attrs.frozen
class OutputSpec:
    """Where and how a command writes: ``path`` None is standard output."""

    format: str
    path: str | None = None
    append: bool = False
    fields: tuple[str, ...] | None = None


def output_spec(args: argparse.Namespace, *, default: str = "table") -> OutputSpec:
    """Check ``--format``/``-o``/``--append``/``--fields`` together, before any request.

    The format is ``--format``, else the extension of ``-o`` (``.csv``, ``.json``,
    ``.jsonl``), else ``default``; ``-o -`` is standard output. Raises :class:`CommandError`
    for a conflict, a value that looks like a format name, or a folder that does not exist.
    """
    fmt: str | None = getattr(args, "format", None)
    path: str | None = getattr(args, "output", None)
    append = bool(getattr(args, "append", False))
    fields = getattr(args, "fields", None)
    if path == "-":
        path = None
    if path is not None:
        if path in FORMATS and not os.path.exists(path):
            raise CommandError(
                f"-o {path} would write a file named {path!r}: did you mean --format {path}? "
                f"(for a file of that name, -o ./{path})"
            )
        implied = _EXTENSIONS.get(os.path.splitext(path)[1].lower())
        if fmt is not None and implied is not None and implied != fmt:
            raise CommandError(
                f"--format {fmt} conflicts with -o {path}, a .{implied} file name: "
                "drop one of them, or name the file to match"
            )
        fmt = fmt or implied
        folder = os.path.dirname(os.path.abspath(path))
        if not os.path.isdir(folder):
            raise CommandError(f"cannot write {path}: the folder {folder} does not exist")
        if os.path.isdir(path):
            raise CommandError(f"cannot write {path}: it is a folder")
    fmt = fmt or default
    if append:
        if path is None:
            raise CommandError("--append needs -o FILE")
        if fmt not in _APPENDABLE:
            raise CommandError(
                f"--append works with csv and jsonl, not {fmt} (a {fmt} file is one whole)"
            )
    return OutputSpec(fmt, path, append, tuple(fields) if fields else None)


class Target:
    """The open output of one command: standard output, or a file written in full or not at all.

    A new file is written under a temporary name in the same folder and renamed over ``path``
    when the command succeeds; when it fails, an existing file is left as it was, unless
    csv or jsonl rows were written (``rows``): then the partial file takes its place and
    :attr:`partial` is true, so that the caller can say how to go on with ``--append`` (a
    partial table or JSON array is of no use, and is dropped).
    With ``append``, rows go straight to the end of ``path``.
    """

    def __init__(self, spec: OutputSpec, stdout: TextIO | None = None) -> None:
        self.spec = spec
        self.path = spec.path
        self.rows = 0
        self.partial = False
        self.fresh = True  # nothing in the file before this command's rows
        self._tmp: str | None = None
        self.stream: TextIO = stdout if stdout is not None else sys.stdout

    def __enter__(self) -> Target:
        path = self.path
        if path is None:
            return self
        try:
            if self.spec.append:
                self.fresh = not os.path.exists(path) or os.path.getsize(path) == 0
                self.stream = open(path, "a", encoding="utf-8", newline="")
            else:
                folder, name = os.path.split(os.path.abspath(path))
                fd, self._tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".part", dir=folder)
                self.stream = os.fdopen(fd, "w", encoding="utf-8", newline="")
        except OSError as exc:
            raise CommandError(
                f"cannot write {path}: {exc.strerror or exc}", EXIT_FAILURE
            ) from None
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: types.TracebackType | None,
    ) -> None:
        if self.path is None:
            with contextlib.suppress(OSError):  # a closed pipe is main's to report
                self.stream.flush()
            return
        tmp, self._tmp = self._tmp, None
        try:
            self.stream.close()
            if tmp is not None:
                keep_partial = bool(self.rows) and self.spec.format in _APPENDABLE
                if exc_type is None or keep_partial:
                    os.replace(tmp, self.path)
                    self.partial = exc_type is not None
                else:
                    os.unlink(tmp)
        except OSError as err:
            if tmp is not None:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
            if exc_type is None:
                raise CommandError(
                    f"cannot write {self.path}: {err.strerror or err}", EXIT_FAILURE
                ) from None

    def write(self, text: str) -> None:
        """Write text; a failed write names the file."""
        try:
            self.stream.write(text)
        except OSError as exc:
            if self.path is None:
                raise
            raise CommandError(
                f"cannot write {self.path}: {exc.strerror or exc}", EXIT_FAILURE
            ) from None


# -- writers --------------------------------------------------------------------------------


def project(header: Sequence[str], fields: Sequence[str] | None) -> list[str]:
    """The columns to write: ``fields`` when given (each must be one of ``header``)."""
    if fields is None:
        return list(header)
    unknown = [name for name in fields if name not in header]
    if unknown:
        raise CommandError(
            f"--fields: no column {', '.join(map(repr, unknown))}; columns: {', '.join(header)}"
        )
    return list(fields)


async def _arrive(rows: Iterable[Row]) -> AsyncIterator[Row]:
    for row in rows:
        yield row


async def write_rows(
    target: Target,
    header: Sequence[str],
    rows: AsyncIterable[Row] | Iterable[Row],
    *,
    warn: Callable[[str], None] | None = None,
    empty: str = "(no rows)",
) -> int:
    """Write ``rows`` in the target's format, with ``header``'s columns (``--fields`` applied).

    csv, json and jsonl are written as rows arrive (flat memory); table waits for the last
    row and leaves out columns that are empty in every row (unless ``--fields`` chose them).
    A row's keys outside ``header`` are kept by json and jsonl when no ``--fields`` was given,
    and dropped by csv with one warning. Returns the number of rows written. ``rows`` may be
    a stream or rows already at hand (a list).
    """
    if not isinstance(rows, AsyncIterable):
        rows = _arrive(rows)
    spec = target.spec
    names = project(header, spec.fields)
    fmt = spec.format
    if fmt == "table":
        found = [row async for row in rows]
        if spec.fields is None:  # raw fields of results the client could not type
            names += sorted({key for row in found for key in row} - set(names))
        text = text_rows(names, found, keep_empty=spec.fields is not None)
        target.write(text if found else empty + "\n")
        target.rows = len(found)
        return len(found)
    if fmt == "csv":
        return await _write_csv(target, names, rows, warn)
    keep_all = spec.fields is None
    if fmt == "jsonl":
        async for row in rows:
            target.write(json_line(row if keep_all else _only(row, names)) + "\n")
            target.rows += 1
        return target.rows
    target.write("[")
    async for row in rows:
        target.write(
            ("\n" if not target.rows else ",\n") + json_line(row if keep_all else _only(row, names))
        )
        target.rows += 1
    target.write("\n]\n" if target.rows else "]\n")
    return target.rows


def _only(row: Row, names: Sequence[str]) -> Row:
    return {name: row.get(name) for name in names}


async def _write_csv(
    target: Target,
    names: Sequence[str],
    rows: AsyncIterable[Row],
    warn: Callable[[str], None] | None,
) -> int:
    writer = csv.writer(target, lineterminator="\n")  # Target.write names the file on failure
    if target.fresh:
        writer.writerow(names)
    elif target.path is not None:
        _check_csv_header(target.path, names)
    known = frozenset(names)
    warned = False
    async for row in rows:
        writer.writerow([csv_cell(row.get(key)) for key in names])
        target.rows += 1
        if warn is not None and not warned and not known.issuperset(row):
            warned = True
            extra = ", ".join(key for key in row if key not in known)
            what = f"a {row['object']} result" if row.get("object") else "a row"
            warn(
                f"{what} has fields outside the CSV columns ({extra}); "
                "use --format jsonl to keep them"
            )
    return target.rows


def _check_csv_header(path: str, names: Sequence[str]) -> None:
    with open(path, encoding="utf-8", newline="") as existing:
        first = next(csv.reader(existing), None)
    if first is not None and first != list(names):
        raise CommandError(
            f"--append: {path} has the columns {','.join(first)}, not {','.join(names)}; "
            "write to a new file, or choose the same columns with --fields"
        )


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: object) -> str:
    """A value as CSV text; text that a spreadsheet would run as a formula (``=cmd|...``,
    ``+``, ``-``, ``@``) is prefixed with ``'`` (OWASP's CSV-injection rule). Numbers are
    never touched: a negative amount stays ``-1.5``."""
    text = cell(value)
    if isinstance(value, str) and text.startswith(_FORMULA_START):
        return "'" + text
    return text


def text_rows(names: Sequence[str], found: Sequence[Row], *, keep_empty: bool = False) -> str:
    """Rows as an aligned text table: a header, a rule, numbers right-aligned.

    Columns empty in every row are left out unless ``keep_empty``; so is ``object`` when it
    is the same on every row (the endpoint's own tag says nothing).
    """
    names = list(names)
    if not keep_empty:
        names = [n for n in names if any(row.get(n) is not None for row in found)]
        if "object" in names and len({row.get("object") for row in found}) == 1:
            names.remove("object")
    table = [[cell(row.get(name)) for name in names] for row in found]
    numeric = [
        all(
            isinstance(row.get(name), (int, Decimal)) and not isinstance(row.get(name), bool)
            for row in found
            if row.get(name) is not None
        )
        for name in names
    ]
    widths = [max([len(name), *(len(line[i]) for line in table)]) for i, name in enumerate(names)]

    def line(cells: Sequence[str]) -> str:
        padded = [
            text.rjust(width) if right else text.ljust(width)
            for text, width, right in zip(cells, widths, numeric, strict=True)
        ]
        return "  ".join(padded).rstrip() + "\n"

    out = [line(names), line(["-" * width for width in widths])]
    out.extend(line(cells) for cells in table)
    return "".join(out)


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
