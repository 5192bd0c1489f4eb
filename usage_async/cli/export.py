"""``usage-async export``: an endpoint's rows (costs by default) to CSV or Parquet, costs also
in FOCUS 1.2 columns; from the API, ``--fake``, or a ``sync`` database (``--db``).

Exit codes: 0 written (also for a range with no rows: the file has none, and stderr says
so); 1 the API or the database failed; 2 bad input (a range no one collection holds, the
``parquet`` extra missing, FOCUS for an endpoint other than costs).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as _dt
import sys
import time

from .. import ENDPOINTS, columns
from .._endpoints import floor_to_width
from .._rows import Row, rows
from ..errors import InvalidParameterError
from ..export import FOCUS_COLUMNS, focus_row, pyarrow, write_parquet
from ..sync.query import SpendRangeError, spend
from ..sync.reading import choose, collections
from ..sync.stores import (
    NoSuchDatabaseError,
    SchemaVersionError,
    Store,
    StoreError,
    StoreURLError,
    open_store,
    redact_url,
)
from ._common import (
    EXIT_FAILURE,
    EXIT_OK,
    EXIT_USAGE,
    PERIOD_HELP,
    PROG,
    TIME_HELP,
    Api,
    Command,
    CommandError,
    add_client_arguments,
    iso,
    open_client,
    parse_since,
    parse_time,
    resolve_range,
)
from ._output import OutputSpec, Progress, Target, write_rows

__all__ = ["COMMANDS"]

_UTC = _dt.timezone.utc


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "endpoint", nargs="?", default="costs", choices=tuple(ENDPOINTS), metavar="ENDPOINT",
        help="what to export (default costs; any endpoint, e.g. completions)",
    )  # fmt: skip
    parser.add_argument(
        "-o", "--output", required=True, metavar="FILE",
        help="the file: .parquet or .csv (written whole, or not at all)",
    )  # fmt: skip
    parser.add_argument("--format", choices=("csv", "parquet"), help="default: -o's extension")
    parser.add_argument("--focus", action="store_true", help="costs in FOCUS 1.2 columns")
    parser.add_argument(
        "--since", type=parse_since, default=parse_since("30d"), metavar="TIME",
        help="first UTC day (default 30d); or a period (last-month, ...) that sets --until too",
    )  # fmt: skip
    parser.add_argument(
        "--until", type=parse_time, metavar="TIME", help="end, exclusive (default: the newest)"
    )
    parser.add_argument(
        "--db", metavar="URL", help="read a sync database instead of the API (its one "
        "collection that holds the range, as query chooses)",
    )  # fmt: skip
    add_client_arguments(parser)


async def _from_api(
    api: Api, args: argparse.Namespace
) -> tuple[list[Row], str, dict[str, str], str]:
    now = api.now()
    since, until = resolve_range(args.since, args.until, "1d", now)
    since = floor_to_width(since, "1d")
    end = floor_to_width(until, "1d") if until is not None else floor_to_width(now, "1d") + 86400
    spec = ENDPOINTS[args.endpoint]
    group_by = [g for g in ("project_id", "line_item", "model") if g in spec.group_by]
    found: list[Row] = []
    with Progress("export") as progress:
        pages = api.client.endpoint(spec.name).pages(
            start_time=since, end_time=end, bucket_width="1d", group_by=group_by
        )
        async with contextlib.aclosing(pages):
            async for bucket in progress.count(pages):
                found.extend(r for r in rows([bucket]) if r["object"] == spec.result_tag)
    names: dict[str, str] = {}
    if args.focus:
        directory = await api.client.directory()
        names = {pid: n.label for pid, n in directory.projects.items() if n.known}
    said = f"buckets from {iso(since)} to {iso(min(end, now))}, grouped by {','.join(group_by)}"
    account = args.organization or "unknown"
    return found, said, names, account


async def _from_db(args: argparse.Namespace) -> tuple[list[Row], str, dict[str, str], str]:
    now = int(time.time())
    since, until = resolve_range(args.since, args.until, "1d", now)
    try:
        async with open_store(args.db, create=False) as store:
            return await _read_db(store, args.endpoint, since, until)
    except (
        InvalidParameterError,
        StoreURLError,
        SchemaVersionError,
        NoSuchDatabaseError,
        SpendRangeError,
    ) as exc:
        raise CommandError(str(exc), EXIT_USAGE) from None
    except StoreError as exc:
        raise CommandError(str(exc), EXIT_FAILURE) from None


async def _read_db(
    store: Store, endpoint: str, since: int, until: int | None
) -> tuple[list[Row], str, dict[str, str], str]:
    if endpoint == "costs":  # the collection and range `query spend --by project` sums
        answer = await spend(store, by="project", since=since, until=until)
        chosen, low, high = answer.collection, answer.since, answer.until
    else:
        held = await collections(store, endpoint)
        high = until if until is not None else max((c.watermark for c in held), default=None)
        chosen = choose(held, endpoint, (), since, high)
        low = since
    if chosen is None or low is None or high is None:
        raise CommandError(
            f"{redact_url(store.url)} holds no {endpoint} collection that holds "
            f"{iso(since)} onwards: run usage-async sync first, or ask within what it holds"
        )
    table = store.schema.tables[endpoint]
    spec = ENDPOINTS[endpoint]
    found = []
    for stored in await store.table_rows(endpoint):
        if (stored["bucket_width"], stored["group_by"]) != (chosen.bucket_width, chosen.group_by):
            continue
        if not low <= stored["start_time"] < high:
            continue
        row: Row = {
            "start_time": _dt.datetime.fromtimestamp(stored["start_time"], _UTC),
            "end_time": _dt.datetime.fromtimestamp(stored["end_time"], _UTC),
            "object": spec.result_tag,
        }
        for name in table.groups:
            row[name] = stored[name] or None
        for column in table.fields:
            row[column.name] = stored[column.name]
        found.append(row)
    identity = await store.source()
    account = identity.identity.removeprefix("org:") if identity is not None else "unknown"
    said = f"{chosen} (buckets from {iso(low)} to {iso(high)})"
    return found, said, {}, account


async def _run(args: argparse.Namespace) -> int:
    path: str = args.output
    fmt = args.format or ("parquet" if path.lower().endswith(".parquet") else "csv")
    if args.focus and args.endpoint != "costs":
        raise CommandError("--focus: FOCUS columns describe costs, not " + args.endpoint)
    if fmt == "parquet":
        try:
            pyarrow()
        except ImportError as exc:
            raise CommandError(str(exc)) from None
    if args.db is not None:
        if args.fake or args.base_url:
            raise CommandError("--db reads a database: drop --fake and --base-url")
        found, said, names, account = await _from_db(args)
    else:
        async with open_client(args) as api:
            found, said, names, account = await _from_api(api, args)
    header: list[str] = list(columns(ENDPOINTS[args.endpoint].result_type))
    if args.focus:
        found = [focus_row(r, account=account, names=names) for r in found]
        header = list(FOCUS_COLUMNS)
    if fmt == "parquet":
        try:
            write_parquet(path, header, found)
        except OSError as exc:
            message = f"cannot write {path}: {exc.strerror or exc}"
            raise CommandError(message, EXIT_FAILURE) from None
    else:
        with Target(OutputSpec("csv", path)) as target:
            await write_rows(target, header, found)
    what = f"{len(found)} rows" if found else "no rows: nothing in that range"
    sys.stderr.write(f"{PROG} export: wrote {path}, {what} ({said})\n")
    return EXIT_OK


COMMANDS = (
    Command(
        name="export",
        help="costs (or any endpoint) to CSV or Parquet, optionally in FOCUS 1.2 columns",
        description="Export an endpoint's rows (costs by default) to CSV or Parquet (money as "
        "a decimal type; the parquet extra), costs also in FOCUS 1.2 columns (--focus), from "
        "the API, --fake, or a sync database (--db).",
        epilog=f"{TIME_HELP}\n{PERIOD_HELP}",
        add_arguments=_arguments,
        run=_run,
        examples=(
            f"{PROG} export --fake -o costs.parquet",
            f"{PROG} export --db sqlite:///usage.db --focus --since 2025-03-01 -o focus.parquet",
            f"{PROG} export completions --db sqlite:///usage.db --since 7d -o tokens.csv",
            f"{PROG} export --db sqlite:///usage.db --since last-month -o last-month.csv",
        ),
    ),
)
