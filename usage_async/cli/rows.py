"""``usage-async ENDPOINT``: every bucket of one endpoint, one row per result."""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import AsyncGenerator, Callable, Coroutine
from typing import TYPE_CHECKING, Any

from .. import ENDPOINTS, EndpointSpec, InvalidParameterError, UsageError
from .._rows import arows, columns
from ._common import (
    EXIT_FAILURE,
    EXIT_OK,
    TIME_HELP,
    Command,
    CommandError,
    add_client_arguments,
    iso,
    open_client,
    option_message,
    option_name,
    parse_time,
    resolve_time,
    split_commas,
)
from ._output import FORMATS, Progress, output, write_csv, write_jsonl, write_table

if TYPE_CHECKING:
    from .. import Page

__all__ = ["COMMANDS", "endpoint_params"]

ROWS_EPILOG = f"""\
{TIME_HELP}

Rows: one per result of every bucket (all pages are followed), with the bucket's start_time
and end_time as ISO UTC timestamps, then the result's fields as named by the API; amount
is amount_value and amount_currency. Empty buckets give no rows. csv and jsonl are written
as pages arrive, so memory stays flat; table waits for the last page and leaves out columns
that are empty in every row. Money and other decimals are exact (never floats: strings in
jsonl); a missing value is empty in csv and null in jsonl."""


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
        async with open_client(args) as api:
            params = endpoint_params(spec, args, api.now())
            try:
                pages = api.client.endpoint(spec.name).pages(**params)
            except InvalidParameterError as exc:
                raise CommandError(option_message(spec, exc)) from None
            try:
                await _write_rows(spec, args, pages)
            except UsageError as exc:
                resume = exc.resume_time
                if args.format == "table" or resume is None or resume <= params["start_time"]:
                    raise
                # csv and jsonl rows before the failure are out: say where to go on from.
                raise CommandError(
                    f"{exc} (rows before {iso(resume)} are written; "
                    f"to go on: --since {iso(resume)})",
                    EXIT_FAILURE,
                ) from None
        return EXIT_OK

    return run


async def _write_rows(
    spec: EndpointSpec, args: argparse.Namespace, pages: AsyncGenerator[Page[Any], None]
) -> None:
    async with contextlib.aclosing(pages):
        with output(args.output) as out, Progress(spec.name) as progress:
            header = columns(spec.result_type)
            stream = arows(progress.count(pages))
            if args.format == "table":
                found = [row async for row in stream]
                progress.clear()  # the table may go to the same terminal
                write_table(out, header, found)
            elif args.format == "csv":
                await write_csv(out, header, spec.result_tag, stream, progress.warn)
            else:
                await write_jsonl(out, stream)
            if args.output is not None and progress.active:
                progress.clear()
                progress.stream.write(f"{progress.text()}; wrote {args.output}\n")


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


COMMANDS: tuple[Command, ...] = tuple(_endpoint_command(spec) for spec in ENDPOINTS.values())
"""One command per endpoint."""
