"""``usage-async exporter``: Prometheus metrics over a ``sync`` database, read at scrape time.

Exit codes: 2 bad input (a bad URL, no such database, the port taken, the ``prometheus``
extra missing); 1 the database failed at start; 130 on Ctrl-C (the usual way to stop it).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import time
from collections.abc import AsyncIterator, Mapping

from ..errors import InvalidParameterError
from ..exporter import EXTRA_LABELS, DatabaseCollector, Family, prometheus_client, read_families
from ..sync.stores import (
    NoSuchDatabaseError,
    SchemaVersionError,
    StoreError,
    StoreURLError,
    open_store,
)
from ._common import (
    EXIT_FAILURE,
    EXIT_USAGE,
    PROG,
    Api,
    Command,
    CommandError,
    add_client_arguments,
    open_client,
    parse_time,
    split_commas,
)
from .report import add_budget_argument
from .serve import _port

__all__ = ["COMMANDS"]


def _labels(text: str) -> list[str]:
    labels = split_commas(text)
    unknown = [label for label in labels if label not in EXTRA_LABELS]
    if unknown:
        raise argparse.ArgumentTypeError(
            f"no label {', '.join(unknown)}: choose from {', '.join(EXTRA_LABELS)}"
        )
    return labels


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--db", required=True, metavar="URL", help="the sync database to read")
    parser.add_argument(
        "--host", default="127.0.0.1",
        help="address to listen on (default %(default)s; 0.0.0.0 for a Prometheus elsewhere)",
    )  # fmt: skip
    parser.add_argument(
        "--port", type=_port, default=9464, help="port (default %(default)s; 0 picks a free one)"
    )
    parser.add_argument(
        "--labels", type=_labels, default=[], metavar="A,B",
        help=f"more labels, each multiplying the series: {', '.join(EXTRA_LABELS)} (each only "
        "where a collection of the database groups by it)",
    )  # fmt: skip
    parser.add_argument(
        "--names", action="store_true",
        help="add openai_project_info{project_id,name} from the organization's directory "
        "(needs the API options: a key, or --fake)",
    )  # fmt: skip
    parser.add_argument(
        "--now", type=parse_time, metavar="TIME",
        help="the clock that picks the month of month-to-date figures (default: the real time)",
    )  # fmt: skip
    add_budget_argument(parser)
    add_client_arguments(parser)


@contextlib.asynccontextmanager
async def _names(args: argparse.Namespace) -> AsyncIterator[Api | None]:
    if not args.names:
        yield None
        return
    async with open_client(args) as api:
        yield api


async def _run(args: argparse.Namespace) -> int:
    try:
        client = prometheus_client()
    except ImportError as exc:
        raise CommandError(str(exc)) from None
    now_arg = args.now
    if now_arg is not None and now_arg.relative:
        raise CommandError("--now takes a point in time, not a duration")
    try:
        store = open_store(args.db, create=False)
        await store.open()
    except (InvalidParameterError, StoreURLError, SchemaVersionError, NoSuchDatabaseError) as exc:
        raise CommandError(str(exc), EXIT_USAGE) from None
    except StoreError as exc:
        raise CommandError(str(exc), EXIT_FAILURE) from None
    try:
        async with _names(args) as api:

            async def read() -> list[Family]:
                names: Mapping[str, str] | None = None
                if api is not None:
                    directory = await api.client.directory()  # cached by the client
                    names = {pid: n.label for pid, n in directory.projects.items() if n.known}
                now = now_arg.seconds if now_arg is not None else int(time.time())
                return await read_families(
                    store, now=now, labels=args.labels, budgets=args.budget or (), names=names
                )

            registry = client.CollectorRegistry(auto_describe=False)
            registry.register(DatabaseCollector(asyncio.get_running_loop(), read))
            try:
                server, thread = client.start_http_server(
                    args.port, addr=args.host, registry=registry
                )
            except OSError as exc:
                raise CommandError(
                    f"cannot listen on {args.host} port {args.port}: {exc.strerror or exc}"
                ) from None
            try:
                port = server.server_port
                sys.stderr.write(f"{PROG} exporter: serving http://{args.host}:{port}/metrics\n")
                sys.stderr.flush()
                await asyncio.Event().wait()  # until Ctrl-C
            finally:
                server.shutdown()
                server.server_close()
                thread.join(5)
    finally:
        await store.aclose()
    return 0  # pragma: no cover - only Ctrl-C ends it


COMMANDS = (
    Command(
        name="exporter",
        help="Prometheus metrics of a sync database, read at each scrape",
        description="Serve Prometheus metrics of a sync database, read from it at every scrape: "
        "settled costs and tokens as counters, month-to-date spend and budget use as gauges, "
        "project names as an info metric, and the range each figure covers. Needs the "
        "prometheus extra.",
        add_arguments=_arguments,
        run=_run,
        examples=(
            f"{PROG} exporter --db sqlite:///usage.db --port 9464",
            f"{PROG} exporter --db postgresql://me@db/usage --host 0.0.0.0 --budget 1000",
            f"{PROG} exporter --db sqlite:///usage-fake.db --names --fake --labels line_item",
        ),
    ),
)
