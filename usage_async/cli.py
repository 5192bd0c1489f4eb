"""The ``usage-async`` command line (also ``python -m usage_async``), on the public API only.

    usage-async ENDPOINT --since 30d [...]   every bucket of one endpoint, as rows
    usage-async summary [--since 30d]        totals of all endpoints, fetched concurrently
    usage-async sync [--db URL] --since 90d  every endpoint into a database (usage_async.sync)
    usage-async query [--db URL] spend       what sync collected
    usage-async serve [--port 8000]          the simulator, standalone

Every command is one row of :data:`COMMANDS`: ``Command(name, help, add_arguments, run)``.
``add_arguments(parser)`` adds its options to its argparse sub-parser; ``run(args)`` is a
coroutine that returns the exit code. Adding a command is one more row (``sync`` and
``query`` live in ``usage_async.sync.cli``, imported only when used). Commands that call
the API add :func:`add_client_arguments` (``--fake``, ``--api-key``, ``--base-url`` ...),
get a client from :func:`open_client` and report progress through :class:`Progress`.

Errors reach :func:`main`, which prints one line on stderr and returns the exit code: 2 for
bad arguments (:class:`CommandError`, ``InvalidParameterError``, ``ConfigurationError``), 1
for API and network failures (any other ``UsageError``, ``OSError``), 130 on Ctrl-C, 141
when the reader of stdout went away (``usage-async costs ... | head``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import datetime as _dt
import json
import logging
import os
import re
import sys
import textwrap
import time
import types
from collections.abc import (
    AsyncGenerator,
    AsyncIterator,
    Awaitable,
    Callable,
    Coroutine,
    Iterator,
    Sequence,
)
from decimal import Decimal
from typing import IO, TYPE_CHECKING, Any, NoReturn, TextIO

import attrs

from . import (
    DEFAULT_BASE_URL,
    ENDPOINTS,
    ConfigurationError,
    EndpointSpec,
    InvalidParameterError,
    RetryPolicy,
    UsageClient,
    UsageError,
    __version__,
)
from ._endpoints import WIDTH_SECONDS, floor_to_width
from ._rows import Row, arows, columns, rows

if TYPE_CHECKING:
    from . import Bucket, Page

__all__ = [
    "COMMANDS",
    "Command",
    "CommandError",
    "Progress",
    "TimeArg",
    "add_client_arguments",
    "build_parser",
    "decimal_text",
    "endpoint_params",
    "main",
    "open_client",
    "parse_time",
    "resolve_time",
]

PROG = "usage-async"
API_KEY_ENV = "OPENAI_ADMIN_KEY"
FORMATS = ("table", "csv", "jsonl")
_UNIT_SECONDS = {"S": 1, "M": 60, "H": 3600, "D": 86400, "W": 7 * 86400}
_RELATIVE = re.compile(r"(\d+)([SMHDW])")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_UTC = _dt.timezone.utc
log = logging.getLogger("usage_async")

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as a shell reports Ctrl-C
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, as a shell reports `yes | head -1`

TIME_HELP = """\
TIME is how long ago (30d, 12h, 90m, 2w: m is minutes, as in the bucket width 1m),
floored to the bucket width's UTC boundary so that repeated runs ask for the same
buckets; or a date (2025-01-01, UTC midnight); or an ISO datetime with a zone
(2025-01-01T12:00:00Z, 2025-01-01T14:00:00+02:00); or Unix seconds (1735689600)."""


class CommandError(Exception):
    """An expected failure of a command: ``main`` prints its message as one line.

    ``exit_code`` is 2 (bad arguments) by default; 1 for failures of the world.
    """

    def __init__(self, message: str, exit_code: int = EXIT_USAGE) -> None:
        super().__init__(message)
        self.exit_code = exit_code


@attrs.frozen
class Command:
    """One sub-command: its name, one line of help, its options and its coroutine."""

    name: str
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], Coroutine[Any, Any, int]]
    description: str | None = None
    epilog: str | None = None
    aliases: tuple[str, ...] = ()


# -- times --------------------------------------------------------------------------------


@attrs.frozen
class TimeArg:
    """A ``--since``/``--until`` value: Unix seconds, or (``relative``) seconds ago."""

    seconds: int
    relative: bool = False


def parse_time(text: str) -> TimeArg:
    """Read ``30d``/``12h``/``90m``/``2w`` (ago), ``2025-01-01``, an ISO datetime with a zone,
    or Unix seconds; raise ``argparse.ArgumentTypeError`` with what is accepted."""
    given, text = text, text.strip().upper()  # also 30D, 2025-01-01t00:00:00z
    match = _RELATIVE.fullmatch(text)
    if match is not None:
        return TimeArg(int(match[1]) * _UNIT_SECONDS[match[2]], relative=True)
    if text.isdigit():
        return TimeArg(int(text))
    try:
        if _DATE.fullmatch(text):
            day = _dt.date.fromisoformat(text)
            return TimeArg(int(_dt.datetime(day.year, day.month, day.day, tzinfo=_UTC).timestamp()))
        # Python 3.10's fromisoformat does not read a trailing Z.
        when = _dt.datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith("Z") else text)
    except ValueError:
        pass
    else:
        if when.utcoffset() is None:
            raise argparse.ArgumentTypeError(
                f"{given!r} has no UTC offset, that is no time zone; add Z or +00:00 "
                "(bucket boundaries are UTC)"
            )
        return TimeArg(int(when.timestamp()))
    raise argparse.ArgumentTypeError(
        f"{given!r} is not a time: use 30d, 12h, 90m, 2w, 2025-01-01, "
        "2025-01-01T00:00:00Z or Unix seconds"
    )


def resolve_time(value: TimeArg, bucket_width: str, now: int) -> int:
    """Unix seconds of ``value``; a relative one is ``now`` minus it, floored to the start of
    its bucket of ``bucket_width`` (UTC), so that runs an hour apart ask for the same grid."""
    if not value.relative:
        return value.seconds
    when = now - value.seconds
    # An unknown width is left for the library to refuse, with the allowed ones.
    return floor_to_width(when, bucket_width) if bucket_width in WIDTH_SECONDS else when


def _iso(when: _dt.datetime | int) -> str:
    if isinstance(when, int):
        when = _dt.datetime.fromtimestamp(when, _UTC)
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


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


def _json_default(value: object) -> str:
    if isinstance(value, Decimal):
        return decimal_text(value)
    if isinstance(value, _dt.datetime):
        return _iso(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _cell(value: object) -> str:
    """A row value as CSV or table text: None is empty, bools as in JSON, decimals exact."""
    if value is None:
        return ""
    if value is True or value is False:
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return decimal_text(value)
    if isinstance(value, _dt.datetime):
        return _iso(value)
    if isinstance(value, (dict, list)):
        return json.dumps(value, default=_json_default, separators=(",", ":"))
    return str(value)


def _json_line(row: Row) -> str:
    return json.dumps(row, default=_json_default, ensure_ascii=False, separators=(",", ":"))


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


def add_client_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the options of :func:`open_client`: ``--fake``, ``--seed``, ``--api-key``,
    ``--base-url``, ``--allow-http``, ``--retries``."""
    group = parser.add_argument_group("API")
    where = group.add_mutually_exclusive_group()
    where.add_argument(
        "--fake",
        action="store_true",
        help="ask an in-process simulator instead of the API: no key needed, seeded "
        "synthetic usage up to the current time",
    )
    where.add_argument(
        "--base-url",
        metavar="URL",
        help=f"API root (default {DEFAULT_BASE_URL}); e.g. a simulator from `{PROG} serve`",
    )
    group.add_argument(
        "--seed", type=int, default=0, help="the simulator's seed, with --fake (default 0)"
    )
    group.add_argument(
        "--api-key",
        metavar="KEY",
        help=f"organization admin key (sk-admin-...); default: ${API_KEY_ENV}",
    )
    group.add_argument(
        "--allow-http",
        action="store_true",
        help="allow a plain http:// --base-url whose host is not loopback",
    )
    group.add_argument(
        "--retries",
        type=_non_negative_int,
        default=RetryPolicy().max_attempts - 1,
        metavar="N",
        help="retries of a failed request (connection errors, 429, 5xx) before giving up "
        "(default %(default)s)",
    )


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {value}")
    return value


@contextlib.asynccontextmanager
async def open_client(args: argparse.Namespace) -> AsyncIterator[UsageClient]:
    """A :class:`UsageClient` for the options of :func:`add_client_arguments`.

    With ``--fake``, an in-process simulator (seed ``--seed``, real current time) runs for as
    long as the client. Otherwise the key is ``--api-key`` or ``$OPENAI_ADMIN_KEY``; with
    neither, :class:`CommandError` says so.
    """
    retry = RetryPolicy(max_attempts=args.retries + 1)
    if args.fake:
        from .testing import FakeUsageServer  # only --fake pays for the simulator's import

        async with (
            FakeUsageServer(seed=args.seed) as server,
            UsageClient(server.api_key, base_url=server.base_url, retry=retry) as client,
        ):
            yield client
        return
    key = args.api_key or os.environ.get(API_KEY_ENV)
    if not key:
        raise CommandError(
            f"no API key: set {API_KEY_ENV} to an organization admin key (sk-admin-...), "
            "or pass --api-key; or try --fake for the built-in simulator"
        )
    async with UsageClient(
        key,
        base_url=args.base_url or DEFAULT_BASE_URL,
        retry=retry,
        allow_http=args.allow_http,
    ) as client:
        yield client


# -- ENDPOINT: every bucket as rows --------------------------------------------------------

ROWS_EPILOG = f"""\
{TIME_HELP}

Rows: one per result of every bucket (all pages are followed), with the bucket's start_time
and end_time as ISO UTC timestamps, then the result's fields as named by the API; amount
is amount_value and amount_currency. Empty buckets give no rows. csv and jsonl are written
as pages arrive, so memory stays flat; table waits for the last page and leaves out columns
that are empty in every row. Money and other decimals are exact (never floats: strings in
jsonl); a missing value is empty in csv and null in jsonl."""

# CLI option of each API parameter, for help and for error messages.
_TIME_OPTIONS = {"start_time": "--since", "end_time": "--until"}


def _option(param: str, kind: str) -> str:
    """``project_ids`` -> ``--project-id``: list filters take one value per use."""
    if param in _TIME_OPTIONS:
        return _TIME_OPTIONS[param]
    if kind in ("str_list", "enum_list") and param.endswith("s"):
        param = param[:-1]
    return "--" + param.replace("_", "-")


def _split_commas(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def _endpoint_arguments(spec: EndpointSpec) -> Callable[[argparse.ArgumentParser], None]:
    def add_arguments(parser: argparse.ArgumentParser) -> None:
        when = parser.add_argument_group("time range")
        when.add_argument(
            "--since", type=parse_time, required=True, metavar="TIME", help="first bucket"
        )
        when.add_argument(
            "--until", type=parse_time, metavar="TIME", help="end of the last bucket (default: now)"
        )
        when.add_argument(
            "--bucket-width",
            default="1d",
            metavar="WIDTH",
            help=f"one of {', '.join(spec.bucket_widths)} (default 1d)",
        )
        filters = parser.add_argument_group(
            "filters", "List options take several values, comma-separated or repeated."
        )
        for param, kind in spec.params.items():
            option = _option(param, kind)
            if kind == "bool":
                filters.add_argument(
                    option,
                    dest=param,
                    action=argparse.BooleanOptionalAction,
                    help=f"only results with {param} true (or false)",
                )
            elif param == "group_by":
                filters.add_argument(
                    option,
                    dest=param,
                    action="extend",
                    type=_split_commas,
                    metavar="FIELD",
                    help=f"group each bucket's results by: {', '.join(spec.enums[param])}",
                )
            elif kind in ("str_list", "enum_list"):
                field = option[2:].replace("-", "_")
                allowed = spec.enums.get(param)
                filters.add_argument(
                    option,
                    dest=param,
                    action="extend",
                    type=_split_commas,
                    metavar=field.upper(),
                    help=f"only results of this {field}"
                    + (f": {', '.join(allowed)}" if allowed else ""),
                )
        filters.add_argument(
            "--limit",
            type=int,
            metavar="N",
            help="buckets per page (default: the most allowed for the bucket width: "
            + ", ".join(f"{w} {m}" for w, (_, m) in spec.limits.items())
            + ")",
        )
        output = parser.add_argument_group("output")
        output.add_argument(
            "--format", choices=FORMATS, default="table", help="default %(default)s"
        )
        output.add_argument(
            "-o", "--output", metavar="FILE", help="write to FILE instead of stdout"
        )
        add_client_arguments(parser)

    return add_arguments


def endpoint_params(spec: EndpointSpec, args: argparse.Namespace, now: int) -> dict[str, Any]:
    """The API parameters of an endpoint command's options (None for an option not given)."""
    width = args.bucket_width
    params: dict[str, Any] = {
        "start_time": resolve_time(args.since, width, now),
        "end_time": None if args.until is None else resolve_time(args.until, width, now),
        "bucket_width": width,
    }
    for param, kind in spec.params.items():
        if kind in ("str_list", "enum_list", "bool"):
            params[param] = getattr(args, param)
    limit = args.limit
    if limit is None and width in spec.limits:
        _, limit = spec.limits[width]  # API-NOTES #3: bulk reads ask for the most per page
    params["limit"] = limit
    return params


def _endpoint_run(spec: EndpointSpec) -> Callable[[argparse.Namespace], Coroutine[Any, Any, int]]:
    async def run(args: argparse.Namespace) -> int:
        params = endpoint_params(spec, args, int(time.time()))
        async with open_client(args) as client:
            try:
                pages = client.endpoint(spec.name).pages(**params)
            except InvalidParameterError as exc:
                raise CommandError(_option_message(spec, exc)) from None
            try:
                await _write_rows(spec, args, pages)
            except UsageError as exc:
                resume = exc.resume_time
                if args.format == "table" or resume is None or resume <= params["start_time"]:
                    raise
                # csv and jsonl rows before the failure are out: say where to go on from.
                raise CommandError(
                    f"{exc} (rows before {_iso(resume)} are written; "
                    f"to go on: --since {_iso(resume)})",
                    EXIT_FAILURE,
                ) from None
        return EXIT_OK

    return run


async def _write_rows(
    spec: EndpointSpec, args: argparse.Namespace, pages: AsyncGenerator[Page[Any], None]
) -> None:
    async with contextlib.aclosing(pages):
        with _output(args.output) as out, Progress(spec.name) as progress:
            header = columns(spec.result_type)
            stream = arows(progress.count(pages))
            if args.format == "table":
                found = [row async for row in stream]
                progress.clear()  # the table may go to the same terminal
                _write_table(out, header, found)
            elif args.format == "csv":
                await _write_csv(out, header, spec.result_tag, stream, progress.warn)
            else:
                await _write_jsonl(out, stream)
            if args.output is not None and progress.active:
                progress.clear()
                progress.stream.write(f"{progress.text()}; wrote {args.output}\n")


def _option_message(spec: EndpointSpec, exc: InvalidParameterError) -> str:
    """The library's message, naming the option instead of the API parameter."""
    message = str(exc)
    param = exc.param
    if param is not None and param in spec.params and message.startswith(f"{param}:"):
        message = _option(param, spec.params[param]) + message[len(param) :]
    return message


@contextlib.contextmanager
def _output(path: str | None) -> Iterator[TextIO]:
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


async def _write_csv(
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
        writer.writerow([_cell(row.get(key)) for key in header])
        if not warned and row["object"] != tag and not known.issuperset(row):
            warned = True
            extra = ", ".join(key for key in row if key not in known)
            warn(
                f"a {row['object']} result has fields outside the CSV columns ({extra}); "
                "use --format jsonl to keep them"
            )


async def _write_jsonl(out: TextIO, stream: AsyncIterator[Row]) -> None:
    async for row in stream:
        out.write(_json_line(row) + "\n")


def _write_table(out: TextIO, header: Sequence[str], found: list[Row]) -> None:
    if not found:
        out.write("(no rows: every bucket in the range is empty)\n")
        return
    names = list(header) + sorted({key for row in found for key in row} - set(header))
    names = [n for n in names if any(row.get(n) is not None for row in found)]
    if "object" in names and len({row.get("object") for row in found}) == 1:
        names.remove("object")  # the endpoint's own tag on every row says nothing
    table = [[_cell(row.get(name)) for name in names] for row in found]
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

# What each endpoint is grouped by for the summary: cost by project and by line item come
# from one costs query; tokens by model from the usage endpoints that group by model.
_SUMMARY_GROUPS = {"costs": ["project_id", "line_item"]}
# Requests per endpoint: the first of these counters the endpoint has.
_REQUEST_COUNTERS = ("num_requests", "num_model_requests", "num_sessions")
_TOKEN_COUNTERS = ("input_tokens", "output_tokens", "num_model_requests")
_GAUGES = {"usage_bytes"}  # a level, not a count: the summary reports the latest bucket
_CENTS = Decimal("0.01")
_NUMBER = re.compile(r"-?[\d,]+(\.\d+)?")


@attrs.define
class Summary:
    """Totals of every endpoint over one range; money as exact Decimal sums."""

    since: int
    until: int | None
    # currency -> "project_id" | "line_item" -> key -> amount
    costs: dict[str, dict[str, dict[str, Decimal]]] = attrs.field(factory=dict)
    # model -> counter -> total
    tokens: dict[str, dict[str, int]] = attrs.field(factory=dict)
    # endpoint -> counter -> total (gauges: the value of the latest non-empty bucket)
    endpoints: dict[str, dict[str, int]] = attrs.field(factory=dict)

    def add_cost(self, row: Row) -> None:
        """Add one costs row to the cost by project and by line item."""
        value = row.get("amount_value")
        if value is None:
            return
        per = self.costs.setdefault(str(row.get("amount_currency") or "unknown"), {})
        for key in ("project_id", "line_item"):
            sums = per.setdefault(key, {})
            name = str(row.get(key) or "(none)")
            sums[name] = sums.get(name, Decimal(0)) + value

    def add_usage(self, endpoint: str, row: Row, latest: dict[str, int]) -> None:
        """Add one usage row to its endpoint's counters and, when it has tokens, its model's."""
        totals = self.endpoints.setdefault(endpoint, {})
        for key, value in row.items():
            if type(value) is not int:
                continue
            if key in _GAUGES:
                latest[key] = latest.get(key, 0) + value
            else:
                totals[key] = totals.get(key, 0) + value
        if "input_tokens" in row:
            model = self.tokens.setdefault(str(row.get("model") or "(none)"), {})
            for key in _TOKEN_COUNTERS:
                model[key] = model.get(key, 0) + (row.get(key) or 0)

    def to_json(self) -> dict[str, Any]:
        """The summary as JSON values: money as exact decimal strings."""
        return {
            "since": _iso(self.since),
            "until": None if self.until is None else _iso(self.until),
            "costs": {
                currency: {
                    "total": decimal_text(sum(per.get("project_id", {}).values(), Decimal(0))),
                    **{
                        f"by_{key}": {name: decimal_text(value) for name, value in _ranked(sums)}
                        for key, sums in per.items()
                    },
                }
                for currency, per in sorted(self.costs.items())
            },
            "tokens_by_model": dict(_ranked_models(self.tokens)),
            "endpoints": {
                name: self.endpoints.get(name, {}) for name in ENDPOINTS if name != "costs"
            },
        }


def _ranked(sums: dict[str, Decimal]) -> list[tuple[str, Decimal]]:
    return sorted(sums.items(), key=lambda item: (-item[1], item[0]))


def _ranked_models(tokens: dict[str, dict[str, int]]) -> list[tuple[str, dict[str, int]]]:
    return sorted(
        tokens.items(),
        key=lambda item: (-(item[1]["input_tokens"] + item[1]["output_tokens"]), item[0]),
    )


async def _tally(
    summary: Summary, client: UsageClient, spec: EndpointSpec, progress: Progress
) -> None:
    group_by = _SUMMARY_GROUPS.get(spec.name)
    if group_by is None and "model" in spec.enums["group_by"]:
        group_by = ["model"]
    pages = client.endpoint(spec.name).pages(
        start_time=summary.since,
        end_time=summary.until,
        bucket_width="1d",
        group_by=group_by,
        limit=spec.limits["1d"][1],
    )
    latest: dict[str, int] = {}
    async with contextlib.aclosing(pages):
        async for bucket in progress.count(pages):
            level: dict[str, int] = {}
            for row in _own_rows(spec, bucket):
                if spec.name == "costs":
                    summary.add_cost(row)
                else:
                    summary.add_usage(spec.name, row, level)
            if level:
                latest = level
    if latest:
        summary.endpoints.setdefault(spec.name, {}).update(latest)
    progress.done += 1
    progress.draw()


def _own_rows(spec: EndpointSpec, bucket: Bucket[Any]) -> Iterator[Row]:
    # Results the client could not type were already logged; their fields are not counted.
    return (row for row in rows([bucket]) if row["object"] == spec.result_tag)


async def _gather(*aws: Awaitable[None]) -> None:
    """``asyncio.gather``, but a failure cancels the others before it is raised (what
    ``asyncio.TaskGroup`` does from Python 3.11 on)."""
    tasks = [asyncio.ensure_future(aw) for aw in aws]
    try:
        await asyncio.gather(*tasks)
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise


def _summary_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--since",
        type=parse_time,
        default=parse_time("30d"),
        metavar="TIME",
        help="first day (default 30d, floored to UTC midnight)",
    )
    parser.add_argument("--until", type=parse_time, metavar="TIME", help="end (default: now)")
    parser.add_argument(
        "--format", choices=("text", "json"), default="text", help="default %(default)s"
    )
    parser.add_argument(
        "--top",
        type=_non_negative_int,
        default=10,
        metavar="N",
        help="rows per ranked table in text, the rest summed in one line (0: all; default 10)",
    )
    add_client_arguments(parser)


async def _run_summary(args: argparse.Namespace) -> int:
    now = int(time.time())
    since = resolve_time(args.since, "1d", now)
    until = None if args.until is None else resolve_time(args.until, "1d", now)
    summary = Summary(since, until)
    async with open_client(args) as client:
        with Progress("summary", endpoints=len(ENDPOINTS)) as progress:
            try:
                await _gather(
                    *(_tally(summary, client, spec, progress) for spec in ENDPOINTS.values())
                )
            except InvalidParameterError as exc:
                raise CommandError(_option_message(ENDPOINTS["costs"], exc)) from None
    if args.format == "json":
        sys.stdout.write(json.dumps(summary.to_json(), indent=2) + "\n")
    else:
        sys.stdout.write(_summary_text(summary, args.top, now))
    sys.stdout.flush()
    return EXIT_OK


def _grouped(n: int) -> str:
    return f"{n:,}"


def _money(value: Decimal) -> str:
    return f"{value.quantize(_CENTS):,}"


def _text_table(title: str, head: Sequence[str], lines: Sequence[Sequence[str]]) -> str:
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


def _top(items: list[tuple[str, Any]], top: int) -> tuple[list[tuple[str, Any]], list[Any]]:
    if top == 0 or len(items) <= top + 1:
        return items, []
    return items[:top], [value for _, value in items[top:]]


def _summary_text(summary: Summary, top: int, now: int) -> str:
    until = "now" if summary.until is None else _iso(summary.until)
    text = f"Usage and costs from {_iso(summary.since)} to {until} ({_iso(now)})\n\n"
    if not summary.costs:
        text += "Costs: none\n\n"
    for currency, per in sorted(summary.costs.items()):
        total = sum(per.get("project_id", {}).values(), Decimal(0))
        for key, title in (("project_id", "Cost by project"), ("line_item", "Cost by line item")):
            shown, rest = _top(_ranked(per.get(key, {})), top)
            lines = [[name, _money(value)] for name, value in shown]
            if rest:
                lines.append([f"({len(rest)} more)", _money(sum(rest, Decimal(0)))])
            lines.append(["total", _money(total)])
            text += _text_table(f"{title} ({currency})", [key, "amount"], lines)
    models, rest_models = _top(_ranked_models(summary.tokens), top)
    lines = [[name, *(_grouped(c[key]) for key in _TOKEN_COUNTERS)] for name, c in models]
    if rest_models:
        lines.append(
            [
                f"({len(rest_models)} more)",
                *(_grouped(sum(c[key] for c in rest_models)) for key in _TOKEN_COUNTERS),
            ]
        )
    text += _text_table("Tokens by model", ["model", *_TOKEN_COUNTERS], lines)
    lines = []
    for name in ENDPOINTS:
        counters = summary.endpoints.get(name, {})
        counter = next((key for key in (*_REQUEST_COUNTERS, *_GAUGES) if key in counters), None)
        if counter is None:
            lines.append([name, "0", ""])
        else:
            note = " (latest bucket)" if counter in _GAUGES else ""
            lines.append([name, _grouped(counters[counter]), counter + note])
    lines = [cells for cells in lines if cells[0] != "costs"]
    text += _text_table("Requests by endpoint", ["endpoint", "count", "counter"], lines)
    return text.rstrip("\n") + "\n"


# -- serve --------------------------------------------------------------------------------


def _serve_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default %(default)s)")
    parser.add_argument(
        "--port",
        type=_port,
        default=8000,
        help="port to bind; 0 picks a free one (default %(default)s)",
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="the synthetic organization's seed (default 0)"
    )


def _port(text: str) -> int:
    port = _non_negative_int(text)
    if port > 65535:
        raise argparse.ArgumentTypeError(f"a port is 0 to 65535, got {port}")
    return port


async def _run_serve(args: argparse.Namespace) -> int:
    from .testing import FakeUsageServer

    server = FakeUsageServer(seed=args.seed, host=args.host, port=args.port)
    await server.start()
    sys.stdout.write(
        f"base_url: {server.base_url}\n"
        f"api_key: {server.api_key}\n"
        f"try: {PROG} summary --base-url {server.base_url} --api-key {server.api_key}\n"
        "Ctrl-C stops it.\n"
    )
    sys.stdout.flush()
    await server.serve_forever()  # already started: serves until cancelled, then stops
    return EXIT_OK


# -- the command table and main -----------------------------------------------------------


def _endpoint_command(spec: EndpointSpec) -> Command:
    dashed = spec.name.replace("_", "-")
    return Command(
        name=spec.name,
        aliases=(dashed,) if dashed != spec.name else (),
        help=f"rows of {spec.path}",
        description=f"Every bucket of {spec.path} from --since to --until, one row per result.",
        epilog=ROWS_EPILOG,
        add_arguments=_endpoint_arguments(spec),
        run=_endpoint_run(spec),
    )


def _sync_cli() -> types.ModuleType:
    """The collector's commands, imported when used (they need sqlite3, maybe psycopg)."""
    from .sync import cli

    return cli


COMMANDS: tuple[Command, ...] = (
    *(_endpoint_command(spec) for spec in ENDPOINTS.values()),
    Command(
        name="summary",
        help="totals of all endpoints: cost by project and line item, tokens by model, "
        "requests by endpoint",
        description="Fetch every endpoint concurrently (1d buckets) and print totals: cost by "
        "project and by line item (exact sums; text rounds to cents, json is exact), tokens "
        "by model, requests per endpoint.",
        epilog=TIME_HELP,
        add_arguments=_summary_arguments,
        run=_run_summary,
    ),
    Command(
        name="sync",
        help="collect usage and costs into a database (SQLite or PostgreSQL), incrementally",
        description="Collect every endpoint into a database: the first run reads from "
        "--since, later runs from the stored watermark minus --lookback, upserting, so a "
        "rerun changes nothing but revised values.",
        add_arguments=lambda parser: _sync_cli().add_sync_arguments(parser),
        run=lambda args: _sync_cli().run_sync(args),
    ),
    Command(
        name="query",
        help="read back what sync collected (spend by project, line item or day)",
        description="Read back what usage-async sync collected, without writing SQL.",
        add_arguments=lambda parser: _sync_cli().add_query_arguments(parser),
        run=lambda args: _sync_cli().run_query(args),
    ),
    Command(
        name="serve",
        help="run the simulator of the API until Ctrl-C",
        description="Serve the seeded simulator of the Usage and Costs API (all eleven "
        "endpoints, real current time) and print its base URL and API key.",
        add_arguments=_serve_arguments,
        run=_run_serve,
    ),
)
"""Every sub-command, in ``--help`` order."""


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line (and exit code 2)."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    """The ``usage-async`` parser: one sub-parser per row of :data:`COMMANDS`."""
    parser = _Parser(
        prog=PROG,
        description="Read OpenAI's organization Usage and Costs API: every endpoint as rows "
        "(table, csv, jsonl), a summary, or a local simulator. --fake runs any command "
        "against the simulator, with no key.",
        epilog=f"Without --fake the key is --api-key or ${API_KEY_ENV}. "
        f"'{PROG} COMMAND --help' tells more.",
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    commands = parser.add_subparsers(title="commands", metavar="COMMAND", required=True)
    for command in COMMANDS:
        sub = commands.add_parser(
            command.name,
            aliases=list(command.aliases),
            help=command.help,
            # Raw, so that the epilog keeps its lines; the description is wrapped here.
            description=textwrap.fill(command.description or command.help, 88),
            epilog=command.epilog,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        command.add_arguments(sub)
        sub.set_defaults(run=command.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line and return its exit code (the ``usage-async`` console script)."""
    args = build_parser().parse_args(argv)
    run: Callable[[argparse.Namespace], Coroutine[Any, Any, int]] = args.run
    try:
        return asyncio.run(run(args))
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader of stdout left (`| head`): send what is still buffered nowhere, so that
        # the interpreter's own flush at exit does not complain either.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_BROKEN_PIPE
    except CommandError as exc:
        return _fail(str(exc), exc.exit_code)
    except (InvalidParameterError, ConfigurationError) as exc:
        return _fail(str(exc), EXIT_USAGE)
    except UsageError as exc:
        return _fail(str(exc) or type(exc).__name__, EXIT_FAILURE)
    except OSError as exc:
        return _fail(str(exc), EXIT_FAILURE)


def _fail(message: str, code: int) -> int:
    sys.stderr.write(f"{PROG}: error: {' '.join(message.split())}\n")
    return code
