"""``usage-async serve``: the simulator, standalone, until Ctrl-C."""

from __future__ import annotations

import argparse
import sys

from ._common import EXIT_OK, PROG, Command, non_negative_int

__all__ = ["COMMANDS"]


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
    port = non_negative_int(text)
    if port > 65535:
        raise argparse.ArgumentTypeError(f"a port is 0 to 65535, got {port}")
    return port


async def _run_serve(args: argparse.Namespace) -> int:
    from ..testing import FakeUsageServer

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


COMMANDS = (
    Command(
        name="serve",
        help="run the simulator of the API until Ctrl-C",
        description="Serve the seeded simulator of the Usage and Costs API (all eleven "
        "endpoints, real current time) and print its base URL and API key.",
        add_arguments=_serve_arguments,
        run=_run_serve,
        examples=(
            f"{PROG} serve --port 8000",
            f"{PROG} serve --port 0 --seed 3",
        ),
    ),
)
