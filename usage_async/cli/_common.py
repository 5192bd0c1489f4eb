"""What every command shares: exit codes, the command row, the time grammar, the API options,
the one :func:`open_client` (``sync`` included), and names for ids (``--no-names``, the name
columns, the directory walk run beside a command's requests).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import contextvars
import datetime as _dt
import logging
import os
import re
import time
from collections.abc import (
    AsyncIterable,
    AsyncIterator,
    Callable,
    Collection,
    Coroutine,
    Mapping,
    Sequence,
)
from types import MappingProxyType
from typing import Any

import attrs

from .. import (
    DEFAULT_BASE_URL,
    ConfigurationError,
    EndpointSpec,
    InvalidParameterError,
    RetryEvent,
    RetryPolicy,
    UsageClient,
)
from .._endpoints import WIDTH_SECONDS, floor_to_width
from .._rows import Row
from ..directory import Directory, Owner, build_directory
from ..localtime import Zone, load_zone, local_day, local_midnight, rebucket, zone_name
from ..models import Bucket, ProjectApiKey
from ..periods import PERIOD_NAMES, period
from ._names import (
    API_KEY_ENV,
    BASE_URL_ENV,
    EXIT_BROKEN_PIPE,
    EXIT_FAILURE,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    ORGANIZATION_ENV,
    PROG,
)

__all__ = [
    "API_KEY_ENV",
    "BASE_URL_ENV",
    "EXIT_BROKEN_PIPE",
    "EXIT_FAILURE",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_USAGE",
    "FAKE_KEYS",
    "NAME_COLUMNS",
    "ORGANIZATION_ENV",
    "PERIOD_HELP",
    "PROG",
    "TIME_HELP",
    "Api",
    "Command",
    "CommandError",
    "DirectoryWalk",
    "TimeArg",
    "Watch",
    "add_client_arguments",
    "add_names",
    "add_names_argument",
    "cli_words",
    "directory_walk",
    "iso",
    "listen",
    "local_days",
    "name_values",
    "named_columns",
    "non_negative_int",
    "open_client",
    "option_message",
    "option_name",
    "parse_since",
    "parse_time",
    "parse_zone",
    "resolve_range",
    "resolve_time",
    "split_commas",
]

_UNIT_SECONDS = {"S": 1, "M": 60, "H": 3600, "D": 86400, "W": 7 * 86400}
_RELATIVE = re.compile(r"(\d+)([SMHDW])")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_UTC = _dt.timezone.utc
# Unix seconds from here on are after the year 5000: a number this big is milliseconds.
_MILLISECONDS_FROM = 10**11


TIME_HELP = """\
TIME is how long ago (30d, 12h, 90m, 2w: m is minutes, as in the bucket width 1m),
floored to the bucket width's UTC boundary so that repeated runs ask for the same
buckets; or a date (2025-01-01, UTC midnight); or an ISO datetime with a zone
(2025-01-01T12:00:00Z, 2025-01-01T14:00:00+02:00); or Unix seconds (1735689600)."""

PERIOD_HELP = """\
--since also takes a period name, which sets --until too unless it is given: today,
yesterday, week (this ISO week so far), last-week, month (this month so far), last-month,
year, last-year; UTC days, or the days of --tz where the command has it."""


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
    examples: tuple[str, ...] = ()


# -- times --------------------------------------------------------------------------------


@attrs.frozen
class TimeArg:
    """A ``--since``/``--until`` value: Unix seconds, or (``relative``) seconds ago, or
    (``period``) a period name of :data:`~usage_async.periods.PERIOD_NAMES`. ``date`` is the
    day a bare date named, so that ``--tz`` can read it as that zone's day."""

    seconds: int
    relative: bool = False
    period: str | None = None
    date: _dt.date | None = None


def parse_time(text: str) -> TimeArg:
    """Read ``30d``/``12h``/``90m``/``2w`` (ago), ``2025-01-01``, an ISO datetime with a zone,
    or Unix seconds; raise ``argparse.ArgumentTypeError`` with what is accepted."""
    given, text = text, text.strip().upper()  # also 30D, 2025-01-01t00:00:00z
    match = _RELATIVE.fullmatch(text)
    if match is not None:
        return TimeArg(int(match[1]) * _UNIT_SECONDS[match[2]], relative=True)
    if text.isdigit():
        seconds = int(text)
        if seconds >= _MILLISECONDS_FROM:
            raise argparse.ArgumentTypeError(
                f"{given!r} is not a time in seconds: as Unix seconds it is after the year 5000, "
                f"as milliseconds it is {iso(seconds // 1000)}; give seconds ({seconds // 1000})"
            )
        return TimeArg(seconds)
    try:
        if _DATE.fullmatch(text):
            day = _dt.date.fromisoformat(text)
            midnight = _dt.datetime(day.year, day.month, day.day, tzinfo=_UTC)
            return TimeArg(_not_before_1970(given, int(midnight.timestamp())), date=day)
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
        return TimeArg(_not_before_1970(given, int(when.timestamp())))
    raise argparse.ArgumentTypeError(
        f"{given!r} is not a time: use 30d, 12h, 90m, 2w, 2025-01-01, "
        "2025-01-01T00:00:00Z or Unix seconds"
    )


def parse_since(text: str) -> TimeArg:
    """:func:`parse_time`, or a period name (``month``, ``last-week``, ...: see
    :data:`~usage_async.periods.PERIOD_NAMES`), which sets both ends of the range."""
    name = text.strip().lower()
    if name in PERIOD_NAMES:
        return TimeArg(0, period=name)
    try:
        return parse_time(text)
    except argparse.ArgumentTypeError as exc:
        if "is not a time: use" not in str(exc):  # not a bad time of a known form
            raise
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a time or a period: use 30d, 12h, 90m, 2w, 2025-01-01, "
            f"2025-01-01T00:00:00Z, Unix seconds, or one of {', '.join(PERIOD_NAMES)}"
        ) from None


def parse_zone(name: str | None) -> Zone | None:
    """The ``--tz`` zone (None when not given); :class:`CommandError` (exit 2) names an
    unknown zone and how to list the known ones."""
    if name is None:
        return None
    try:
        return load_zone(name)
    except InvalidParameterError as exc:
        message = str(exc)
        raise CommandError("--tz" + message[2:] if message.startswith("tz:") else message) from None


async def local_days(hours: AsyncIterable[Bucket[Any]], zone: Zone) -> AsyncIterator[Bucket[Any]]:
    """``hours`` summed into the local days of ``zone`` (``localtime.rebucket``), as buckets
    spanning each day; a day that cannot be summed is a :class:`CommandError` naming the zone."""
    found = [bucket async for bucket in hours]
    try:
        days = rebucket(found, zone)
    except InvalidParameterError as exc:
        raise CommandError(f"--tz {zone_name(zone)}: {exc}") from None
    for day in days:
        yield Bucket(start_time=day.day_start, end_time=day.day_end, results=day.results)


def _not_before_1970(given: str, seconds: int) -> int:
    if seconds < 0:
        raise argparse.ArgumentTypeError(f"{given!r} is before 1970, when usage data begins")
    return seconds


def resolve_time(value: TimeArg, bucket_width: str, now: int, tz: Zone | None = None) -> int:
    """Unix seconds of ``value``; a relative one is ``now`` minus it, floored to the start of
    its bucket of ``bucket_width`` (UTC), so that runs an hour apart ask for the same grid.

    With ``tz``, a bare date is that zone's day, and a relative time with ``1d`` buckets is
    floored to that zone's midnight. A period name is the period's start.
    """
    if value.period is not None:
        return period(value.period, tz=tz, now=now).start_time
    if tz is not None and value.date is not None:
        return local_day(value.date, tz)[0]
    if not value.relative:
        return value.seconds
    when = now - value.seconds
    if tz is not None and bucket_width == "1d":
        return local_midnight(when, tz)
    # An unknown width is left for the library to refuse, with the allowed ones.
    return floor_to_width(when, bucket_width) if bucket_width in WIDTH_SECONDS else when


def resolve_range(
    since: TimeArg,
    until: TimeArg | None,
    bucket_width: str,
    now: int,
    *,
    tz: Zone | None = None,
) -> tuple[int, int | None]:
    """``--since`` and ``--until`` as Unix seconds (see :func:`resolve_time`), checked.

    A period name in ``--since`` sets the end too, unless ``--until`` is given: the period's
    end, or None (up to now) for a period to date (``month``, ``week``, ``today``), whose end
    is in the future. Periods are whole days of ``tz`` (UTC by default).

    Raises :class:`CommandError` (exit 2), in ISO times, when ``--since`` is in the future
    or ``--until`` is not after ``--since``.
    """
    start = resolve_time(since, bucket_width, now, tz)
    if until is not None:
        end: int | None = resolve_time(until, bucket_width, now, tz)
    elif since.period is not None:
        named = period(since.period, tz=tz, now=now)
        end = named.end_time if named.end_time <= now else None
    else:
        end = None
    if start > now:
        raise CommandError(
            f"--since {iso(start)} is in the future (now is {iso(now)}): there is no usage "
            "yet; for the last 30 days use --since 30d"
        )
    if end is not None and end <= start:
        raise CommandError(f"--until {iso(end)} must be after --since {iso(start)}")
    return start, end


def iso(when: _dt.datetime | int) -> str:
    """``2025-01-01T00:00:00Z``: a time as the command line prints it."""
    if isinstance(when, int):
        when = _dt.datetime.fromtimestamp(when, _UTC)
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


# -- options --------------------------------------------------------------------------------

# CLI option of each API parameter, for help and for error messages.
_TIME_OPTIONS = {"start_time": "--since", "end_time": "--until"}


def option_name(param: str, kind: str) -> str:
    """``project_ids`` -> ``--project-id``: list filters take one value per use."""
    if param in _TIME_OPTIONS:
        return _TIME_OPTIONS[param]
    if kind in ("str_list", "enum_list") and param.endswith("s"):
        param = param[:-1]
    return "--" + param.replace("_", "-")


def option_message(spec: EndpointSpec, exc: InvalidParameterError) -> str:
    """The library's message, naming the option instead of the API parameter."""
    message = str(exc)
    param = exc.param
    if param is not None and param in spec.params and message.startswith(f"{param}:"):
        message = option_name(param, spec.params[param]) + message[len(param) :]
    return message


def split_commas(text: str) -> list[str]:
    """``"a, b,,c"`` -> ``["a", "b", "c"]``."""
    return [part.strip() for part in text.split(",") if part.strip()]


def non_negative_int(text: str) -> int:
    """An argparse type: a whole number, 0 or more."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {value}")
    return value


def _positive_int(text: str) -> int:
    value = non_negative_int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, got {value}")
    return value


# -- the client -----------------------------------------------------------------------------


def add_client_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the options of :func:`open_client`: ``--fake``, ``--seed``, ``--fake-now``,
    ``--fake-key``, ``--fake-mismatch``, ``--api-key``, ``--base-url``, ``--allow-http``,
    ``--retries``, ``--max-concurrency``."""
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
        help=f"API root (default ${BASE_URL_ENV}, else {DEFAULT_BASE_URL}); e.g. a simulator "
        f"from `{PROG} serve`",
    )
    group.add_argument(
        "--seed", type=int, default=0, help="the simulator's seed, with --fake (default 0)"
    )
    group.add_argument(
        "--fake-now",
        type=parse_time,
        metavar="TIME",
        help="with --fake, fix the simulator's clock (default: the real time)",
    )
    group.add_argument(
        "--fake-key",
        choices=FAKE_KEYS,
        help="with --fake, which of the simulator's keys to use: admin (every scope, the "
        "default) or limited (a restricted admin key without api.usage.read and the users "
        "list, to see what such a key gets)",
    )
    group.add_argument(
        "--fake-mismatch",
        action="append",
        type=_utc_date,
        metavar="DAY",
        help="with --fake, a UTC day (2025-01-05) on which the simulator's Costs over-bill one "
        "model's output by a quarter, for reconcile to find; repeatable",
    )
    group.add_argument(
        "--api-key",
        metavar="KEY",
        help=f"organization admin key (sk-admin-...); default: ${API_KEY_ENV}",
    )
    group.add_argument(
        "--organization",
        metavar="ORG",
        help=f"the organization to read (org-...), sent as OpenAI-Organization; default "
        f"${ORGANIZATION_ENV}, else the key's own",
    )
    group.add_argument(
        "--allow-http",
        action="store_true",
        help="allow a plain http:// --base-url whose host is not loopback",
    )
    group.add_argument(
        "--retries",
        type=non_negative_int,
        default=RetryPolicy().max_attempts - 1,
        metavar="N",
        help="retries of a failed request (connection errors, 429, 5xx) before giving up "
        "(default %(default)s)",
    )
    group.add_argument(
        "--max-concurrency",
        type=_positive_int,
        default=8,
        metavar="N",
        help="requests in flight at most (default %(default)s)",
    )


def _utc_date(text: str) -> _dt.date:
    try:
        return _dt.date.fromisoformat(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date: use 2025-01-05") from None


FAKE_KEYS = ("admin", "limited")
"""``--fake-key`` values: the simulator's ``api_key`` and ``limited_key``."""


@attrs.frozen
class Api:
    """An open client, and the clock of the API it talks to (the simulator's with --fake)."""

    client: UsageClient
    now: Callable[[], int]


class Watch:
    """The client :func:`open_client` opened, for the command's progress lines to show: its
    pace (``client.pace_stats()``) and each retry (its ``on_retry`` hook, passed on to the
    ``listeners``). Inside ``with watch:``, :func:`listen` finds it."""

    def __init__(self) -> None:
        self.client: UsageClient | None = None
        self.listeners: list[Callable[[RetryEvent], None]] = []
        self._token: contextvars.Token[Watch | None] | None = None

    def on_retry(self, event: RetryEvent) -> None:
        for listener in self.listeners:
            listener(event)

    def leave(self, listener: Callable[[RetryEvent], None]) -> None:
        """Stop passing retries to ``listener`` (see :func:`listen`)."""
        self.listeners.remove(listener)

    def __enter__(self) -> Watch:
        self._token = _WATCH.set(self)
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._token is not None:
            _WATCH.reset(self._token)
            self._token = None


_WATCH: contextvars.ContextVar[Watch | None] = contextvars.ContextVar("watch", default=None)


def listen(listener: Callable[[RetryEvent], None]) -> Watch | None:
    """Pass each retry of the client the running command opened to ``listener``; that
    client's :class:`Watch` (None if it opened none). Undo with :meth:`Watch.leave`."""
    watch = _WATCH.get()
    if watch is not None:
        watch.listeners.append(listener)
    return watch


@contextlib.asynccontextmanager
async def open_client(args: argparse.Namespace) -> AsyncIterator[Api]:
    """A :class:`UsageClient` for the options of :func:`add_client_arguments`, with its clock.

    With ``--fake``, an in-process simulator (seed ``--seed``, clock ``--fake-now`` or the
    real time) runs for as long as the client. Otherwise the key is ``--api-key`` or
    ``$OPENAI_ADMIN_KEY``; with neither, :class:`CommandError` says so.
    """
    retry = RetryPolicy(max_attempts=args.retries + 1)
    watch = Watch()
    if args.fake:
        from ..testing import FakeUsageServer, Quirks  # only --fake pays for its import

        fake_now: TimeArg | None = args.fake_now
        now = None
        if fake_now is not None:
            if fake_now.relative or fake_now.period is not None:
                raise CommandError("--fake-now takes a point in time, not a duration")
            now = fake_now.seconds
        limited = getattr(args, "fake_key", None) == "limited"
        quirks = Quirks(costs_mismatch_days=getattr(args, "fake_mismatch", None) or ())
        async with (
            FakeUsageServer(seed=args.seed, now=now, quirks=quirks) as server,
            UsageClient(
                server.limited_key if limited else server.api_key,
                base_url=server.base_url,
                retry=retry,
                max_concurrency=args.max_concurrency,
                on_retry=watch.on_retry,
            ) as client,
        ):
            watch.client = client
            with watch:
                yield Api(client, server.now)
        return
    if args.fake_now is not None:
        raise CommandError("--fake-now needs --fake")
    if getattr(args, "fake_key", None) is not None:
        raise CommandError("--fake-key needs --fake")
    if getattr(args, "fake_mismatch", None):
        raise CommandError("--fake-mismatch needs --fake")
    key = args.api_key or os.environ.get(API_KEY_ENV)
    if not key:
        raise CommandError(
            f"no API key: set {API_KEY_ENV} to an organization admin key (sk-admin-...), "
            "or pass --api-key; or try --fake for the built-in simulator"
        )
    try:
        client = UsageClient(
            key,
            base_url=args.base_url or os.environ.get(BASE_URL_ENV) or DEFAULT_BASE_URL,
            organization=args.organization or os.environ.get(ORGANIZATION_ENV) or None,
            retry=retry,
            allow_http=args.allow_http,
            max_concurrency=args.max_concurrency,
            on_retry=watch.on_retry,
        )
    except ConfigurationError as exc:
        raise CommandError(cli_words(str(exc))) from None
    watch.client = client
    async with client:
        with watch:
            yield Api(client, lambda: int(time.time()))


# The library's words for its settings -> the options that set them here.
_SETTINGS = (
    ("allow_http=True", "--allow-http"),
    ("api_key=", "--api-key"),
    ("base_url", "--base-url"),
    ("max_concurrency", "--max-concurrency"),
    ("organization=", "--organization"),
)


def cli_words(message: str) -> str:
    """A library message about a setting, naming the command-line option instead."""
    for setting, option in _SETTINGS:
        message = message.replace(setting, option)
    return message


# -- names for ids: the organization's directory ------------------------------------------

NAME_COLUMNS: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "project_id": ("project_name",),
        "user_id": ("user_email",),
        "api_key_id": ("api_key_name", "api_key_owner"),
    }
)
"""The name columns written right after each id column, unless ``--no-names``.

``project_name``: the project's name. ``user_email``: the user's email (their name when the
list gives no email; a service account's name, marked ``(service account)``, should usage
name one there). ``api_key_name``: the key's name (names repeat: "prod" in every project);
``api_key_owner``: who owns it, the user's email or the service account's name. An id the
directory cannot name (a deleted key; every id of a kind whose list could not be read, with
a warning saying so) is the id followed by ``(unknown)`` in the name column, and nothing in
``api_key_owner``: never a guess. A row without the id (not grouped by it, or spend the API
attributed to no project) has no name either."""

NAMES_HELP = (
    "ids only: no name columns, and none of the requests that read the organization's "
    "directory (3 + projects + active projects)"
)


def add_names_argument(parser: argparse.ArgumentParser, help: str = NAMES_HELP) -> None:
    """``--no-names`` (``args.names``, True unless given)."""
    parser.add_argument("--no-names", dest="names", action="store_false", help=help)


def named_columns(header: Sequence[str], ids: Collection[str]) -> list[str]:
    """``header`` with the name columns of each of ``ids`` right after its id column."""
    out: list[str] = []
    for name in header:
        out.append(name)
        if name in ids:
            out.extend(NAME_COLUMNS[name])
    return out


def name_values(directory: Directory, field: str, id: str | None) -> dict[str, str | None]:
    """The name columns of one id found in ``field`` (see :data:`NAME_COLUMNS`)."""
    columns = NAME_COLUMNS[field]
    if not id:
        return dict.fromkeys(columns)
    if field == "project_id":
        return {"project_name": directory.project(id).label}
    if field == "user_id":
        user = directory.user(id)
        if not user.known:
            account = directory.service_account(id)
            if account.known:  # a user_id that is a service account's, if usage says so
                return {"user_email": f"{account.label} (service account)"}
        email = getattr(user.item, "email", None)
        return {"user_email": email or user.label}
    key = directory.api_key(id)
    return {"api_key_name": key.label, "api_key_owner": _owner(directory, key.item, key.owner)}


def _owner(directory: Directory, item: object, owner: Owner | None) -> str | None:
    """Who owns a key: the user's email (the key's own listing, else the user list), else
    the owner's name as the listing gives it (a service account's)."""
    if owner is None or owner.id is None:
        return None
    if isinstance(item, ProjectApiKey) and item.owner.user is not None:
        return item.owner.user.email or owner.name
    if owner.type == "user":
        email = getattr(directory.user(owner.id).item, "email", None)
        return str(email) if email else owner.name
    return owner.name


def add_names(row: Row, directory: Directory, ids: Collection[str]) -> Row:
    """``row`` with the name columns of each of ``ids`` right after its id, in order."""
    out: Row = {}
    for key, value in row.items():
        out[key] = value
        if key in ids:
            out.update(name_values(directory, key, value))
    return out


class DirectoryWalk:
    """The organization's directory, read beside a command's own requests and awaited where
    names are first needed. Its warnings (a list the key may not read) are printed then,
    once each, by ``warn``; not before, so that a command failing for its own reason (a
    refused key) says only that."""

    def __init__(self, client: UsageClient, warn: Callable[[str], None]) -> None:
        self._task = asyncio.ensure_future(build_directory(client))
        self._warn = warn
        self._told = False

    async def get(self) -> Directory:
        """The snapshot, once the walk is done."""
        directory = await self._task
        if not self._told:
            self._told = True
            for warning in directory.warnings:
                self._warn(f"directory: {warning}")
        return directory

    async def aclose(self) -> None:
        """Stop the walk if it is still running."""
        if not self._task.done():
            self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self._task


class _DirectoryLog(logging.Filter):
    """Drops the directory's own warning records: :class:`DirectoryWalk` prints them."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.module != "directory"


@contextlib.asynccontextmanager
async def directory_walk(
    client: UsageClient,
    wanted: bool,
    warn: Callable[[str], None],
    handler: logging.Handler | None = None,
) -> AsyncIterator[DirectoryWalk | None]:
    """A :class:`DirectoryWalk` started now when ``wanted`` (else None), stopped on the way
    out. ``handler`` (a command's progress line, which prints the library's warnings) is
    kept from printing the directory's warnings a second time."""
    if not wanted:
        yield None
        return
    quiet = _DirectoryLog()
    if handler is not None:
        handler.addFilter(quiet)
    walk = DirectoryWalk(client, warn)
    try:
        yield walk
    finally:
        await walk.aclose()
        if handler is not None:
            handler.removeFilter(quiet)
