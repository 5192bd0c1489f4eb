"""``usage-async ENDPOINT``: every bucket of one endpoint, one row per result."""

from __future__ import annotations

import argparse
import contextlib
import datetime as _dt
from collections.abc import AsyncGenerator, AsyncIterable, Callable, Coroutine, Sequence
from typing import TYPE_CHECKING, Any

from .. import ENDPOINTS, EndpointSpec, InvalidParameterError, UsageError
from .._rows import Row, arows, columns, rows
from ..localtime import Zone, local_midnight, zone_name
from ..models import Bucket
from ._common import (
    EXIT_FAILURE,
    EXIT_OK,
    NAME_COLUMNS,
    PERIOD_HELP,
    PROG,
    TIME_HELP,
    Command,
    CommandError,
    DirectoryWalk,
    add_client_arguments,
    add_names,
    add_names_argument,
    directory_walk,
    iso,
    local_days,
    named_columns,
    open_client,
    option_message,
    option_name,
    parse_since,
    parse_time,
    parse_zone,
    resolve_range,
    split_commas,
)
from ._output import (
    FORMAT_HELP,
    Progress,
    Target,
    add_output_arguments,
    output_spec,
    project,
    write_rows,
)

if TYPE_CHECKING:
    from .. import Page, UsageClient

__all__ = ["COMMANDS", "endpoint_params"]

ROWS_EPILOG = f"""\
{TIME_HELP}
{PERIOD_HELP}

Rows: one per result of every bucket (all pages are followed), with the bucket's start_time
and end_time as ISO UTC timestamps, the --group-by columns in the order given, then the
result's other fields as named by the API; amount is amount_value and amount_currency.
Empty buckets give no rows. csv, json and jsonl are written as pages arrive, so memory
stays flat; table waits for the last page and leaves out columns that are empty in every
row. Money and other decimals are exact (never floats: strings in json); a missing value is
empty in csv and null in json.

Names: each id column of --group-by (project_id, user_id, api_key_id) is followed by its
name columns: project_name; user_email; api_key_name and api_key_owner (the owner's email,
or the service account's name). They come from the organization's directory, read beside
the rows (3 + projects + active projects requests, only when a name column is written). An
id it cannot name shows as the id and "(unknown)"; a list the key may not read is one
warning, and its ids show so. --no-names writes ids only and skips those requests.

Local days: --tz ZONE (an IANA name, Europe/Berlin) with --bucket-width 1d asks for 1h
buckets and sums them into that zone's days (23 or 25 hours on the days the clocks
change); start_time and end_time are then that zone's midnights, with their UTC offset
(--since and --until are floored to them, a bare date is that zone's day). A
zone whose offset is not whole hours (Asia/Kolkata) cannot be built from hours: refused.
Costs exist only in UTC days: costs --tz is refused.

{FORMAT_HELP}"""


def _endpoint_arguments(spec: EndpointSpec) -> Callable[[argparse.ArgumentParser], None]:
    def add_arguments(parser: argparse.ArgumentParser) -> None:
        when = parser.add_argument_group("time range")
        when.add_argument(
            "--since",
            type=parse_since,
            required=True,
            metavar="TIME",
            help="first bucket; or a period (month, last-week, ...) that sets --until too",
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
        when.add_argument(
            "--tz",
            metavar="ZONE",
            help="with --bucket-width 1d, days of this IANA zone (Europe/Berlin), summed from "
            "1h buckets"
            + (
                "; Costs exist only in UTC days, so costs refuses it"
                if spec.name == "costs"
                else ""
            ),
        )
        filters = parser.add_argument_group(
            "filters", "List options take several values, comma-separated or repeated."
        )
        for param, kind in spec.params.items():
            option = option_name(param, kind)
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
                    type=split_commas,
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
                    type=split_commas,
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
        add_names_argument(parser)
        add_output_arguments(parser)
        add_client_arguments(parser)

    return add_arguments


def local_zone(spec: EndpointSpec, args: argparse.Namespace) -> Zone | None:
    """The ``--tz`` zone of an endpoint command (None without it), checked before any
    request: a known zone, ``--bucket-width 1d``, and not Costs (UTC days only)."""
    zone = parse_zone(getattr(args, "tz", None))
    if zone is None:
        return None
    if spec.name == "costs":
        raise CommandError(
            "--tz: Costs are reported only in UTC days; a day's spend cannot be spread over "
            "local days without guessing: leave out --tz for UTC days (summary --tz shows "
            "usage in local days beside Costs in UTC days)"
        )
    if args.bucket_width != "1d":
        raise CommandError(
            f"--tz goes with --bucket-width 1d (it sums 1h buckets into local days), not "
            f"{args.bucket_width}: {args.bucket_width} buckets are UTC whatever the zone"
        )
    return zone


def endpoint_params(
    spec: EndpointSpec, args: argparse.Namespace, now: int, tz: Zone | None = None
) -> dict[str, Any]:
    """The API parameters of an endpoint command's options (None for an option not given).

    With ``tz`` (see :func:`local_zone`), the range is that zone's days and the buckets
    asked for are ``1h``, to be summed into them. Raises :class:`CommandError` for an
    impossible range (see :func:`resolve_range`).
    """
    width = args.bucket_width
    start, end = resolve_range(args.since, args.until, width, now, tz=tz)
    if tz is not None:
        # Whole local days only, so that each row's day is the day summed.
        start = local_midnight(start, tz)
        end = None if end is None else local_midnight(end, tz)
        if end is not None and end <= start:
            raise CommandError(
                f"--since and --until are within one day in {zone_name(tz)}: --tz sums whole "
                "local days"
            )
        width = "1h"
    params: dict[str, Any] = {"start_time": start, "end_time": end, "bucket_width": width}
    for param, kind in spec.params.items():
        if kind in ("str_list", "enum_list", "bool"):
            params[param] = getattr(args, param)
    params["limit"] = args.limit  # None: streams ask for the most a page may hold
    return params


def row_columns(spec: EndpointSpec, group_by: Sequence[str] | None) -> list[str]:
    """The columns of an endpoint's rows: the bucket's times, the ``--group-by`` columns in
    the order given, then the result's other fields (``columns()``'s order)."""
    header = list(columns(spec.result_type))
    groups = [g for g in dict.fromkeys(group_by or ()) if g in header]
    rest = [name for name in header if name not in groups]
    return [*rest[:2], *groups, *rest[2:]]


def named_ids(
    group_by: Sequence[str] | None, fields: Sequence[str] | None, names: bool
) -> list[str]:
    """The id columns whose names are written: those of ``group_by`` (an id column not
    grouped by is empty), unless ``--no-names``, and of those only the ones ``--fields``
    keeps a name column of. None: no directory walk at all."""
    if not names:
        return []
    ids = [g for g in dict.fromkeys(group_by or ()) if g in NAME_COLUMNS]
    if fields is not None:
        ids = [i for i in ids if set(NAME_COLUMNS[i]) & set(fields)]
    return ids


def _endpoint_run(spec: EndpointSpec) -> Callable[[argparse.Namespace], Coroutine[Any, Any, int]]:
    async def run(args: argparse.Namespace) -> int:
        out = output_spec(args)
        ids = named_ids(args.group_by, None, args.names)
        header = named_columns(row_columns(spec, args.group_by), ids)
        project(header, out.fields)  # a bad --fields is refused before any request
        ids = named_ids(args.group_by, out.fields, args.names)
        zone = local_zone(spec, args)
        async with open_client(args) as api:
            params = endpoint_params(spec, args, api.now(), zone)
            try:
                pages = api.client.endpoint(spec.name).pages(**params)
            except InvalidParameterError as exc:
                raise CommandError(option_message(spec, exc)) from None
            with Target(out) as target:
                try:
                    await _write_rows(spec, header, target, pages, api.client, ids, zone)
                except UsageError as exc:
                    resume = exc.resume_time
                    if not target.rows or resume is None or resume <= params["start_time"]:
                        raise
                    # csv and jsonl rows before the failure are out: say where to go on from.
                    raise CommandError(
                        f"{exc} ({_written(target)} rows before {iso(resume)}; "
                        f"to go on: {_go_on(target, resume)})",
                        EXIT_FAILURE,
                    ) from None
        return EXIT_OK

    return run


def _written(target: Target) -> str:
    if target.path is None:
        return "wrote the"
    return f"{target.path} holds the"


def _go_on(target: Target, resume: int) -> str:
    if target.path is None:
        return f"--since {iso(resume)}, appending to what was written"
    return f"--since {iso(resume)} --append -o {target.path}"


async def _write_rows(
    spec: EndpointSpec,
    header: Sequence[str],
    target: Target,
    pages: AsyncGenerator[Page[Any], None],
    client: UsageClient,
    ids: Sequence[str],
    zone: Zone | None = None,
) -> None:
    async with contextlib.aclosing(pages):
        with Progress(spec.name) as progress:
            async with directory_walk(client, bool(ids), progress.warn, progress) as walk:
                await _write_named(header, target, pages, progress, walk, ids, zone)


async def _write_named(
    header: Sequence[str],
    target: Target,
    pages: AsyncGenerator[Page[Any], None],
    progress: Progress,
    walk: DirectoryWalk | None,
    ids: Sequence[str],
    zone: Zone | None = None,
) -> None:
    if zone is None:
        rows = arows(progress.count(pages))
    else:
        rows = _local_rows(progress.count(pages), zone)
    if walk is not None:
        rows = _named(rows, walk, ids)
    written: AsyncIterable[Row] | list[Row] = rows
    if target.spec.format == "table":
        written = [row async for row in rows]
        progress.clear()  # the table may go to the same terminal
    await write_rows(
        target,
        header,
        written,
        warn=progress.warn,
        empty="(no rows: every bucket in the range is empty)",
    )
    if target.path is not None and progress.active:
        progress.clear()
        progress.stream.write(f"{progress.text()}; wrote {target.path}\n")


async def _named(
    rows: AsyncGenerator[Row, None], walk: DirectoryWalk, ids: Sequence[str]
) -> AsyncGenerator[Row, None]:
    """``rows`` with their name columns; the directory is awaited at the first row (a range
    with no rows never waits for it)."""
    async with contextlib.aclosing(rows):
        async for row in rows:
            yield add_names(row, await walk.get(), ids)


async def _local_rows(hours: AsyncIterable[Bucket[Any]], zone: Zone) -> AsyncGenerator[Row, None]:
    """The rows of ``hours`` summed into the local days of ``zone`` (``localtime.rebucket``):
    ``start_time``/``end_time`` are the day's local midnights, with their UTC offset."""
    async for bucket in local_days(hours, zone):
        start = _dt.datetime.fromtimestamp(bucket.start_time, zone).isoformat()
        end = _dt.datetime.fromtimestamp(bucket.end_time, zone).isoformat()
        for row in rows([bucket]):
            yield {**row, "start_time": start, "end_time": end}


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
        examples=_examples(spec),
    )


def _examples(spec: EndpointSpec) -> tuple[str, ...]:
    name = spec.name.replace("_", "-")
    groups = spec.enums["group_by"]
    group = ",".join(g for g in ("project_id", "line_item", "model") if g in groups)
    lines = [
        f"{PROG} {name} --fake --since 7d",
        f"{PROG} {name} --fake --since 7d --group-by {groups[0]} --no-names",
        f"{PROG} {name} --since 30d --group-by {group} -o {name}.csv",
        f"{PROG} {name} --since 2025-01-01 --until 2025-02-01 --format jsonl "
        f"--fields start_time,{groups[0]}",
    ]
    if "1h" in spec.bucket_widths:
        lines.append(f"{PROG} {name} --since 12h --bucket-width 1h --group-by {groups[0]}")
        lines.append(f"{PROG} {name} --fake --since last-week --tz Europe/Berlin")
    else:
        lines.append(f"{PROG} {name} --fake --since month --group-by line_item")
    return tuple(lines)


COMMANDS: tuple[Command, ...] = tuple(_endpoint_command(spec) for spec in ENDPOINTS.values())
"""One command per endpoint."""
