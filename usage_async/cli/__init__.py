"""The ``usage-async`` command line (also ``python -m usage_async``), on the public API only.

    usage-async ENDPOINT --since 30d [...]   every bucket of one endpoint, as rows
    usage-async summary [--since 30d]        totals of all endpoints, fetched concurrently
    usage-async sync [--db URL] --since 90d  every endpoint into a database (usage_async.sync)
    usage-async query [--db URL] spend       what sync collected
    usage-async serve [--port 8000]          the simulator, standalone

One module per command group (``rows``, ``summary``, ``sync``, ``query``, ``serve``), each
with a ``COMMANDS`` tuple of :class:`Command` rows: ``add_arguments(parser)`` adds the
options to its argparse sub-parser; ``run(args)`` is a coroutine that returns the exit code.
:data:`COMMAND_MODULES` is the registry. What every command shares (exit codes, times, the
API options, :func:`open_client`) is in ``_common``; writers and progress in ``_output``.

Errors reach :func:`main`, which prints one line on stderr and returns the exit code: 2 for
bad arguments (:class:`CommandError`, ``InvalidParameterError``, ``ConfigurationError``), 1
for API and network failures (any other ``UsageError``, ``OSError``), 130 on Ctrl-C, 141
when the reader of stdout went away (``usage-async costs ... | head``).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import os
import sys
import textwrap
from collections.abc import Callable, Coroutine, Sequence
from typing import Any, NoReturn

from .. import ConfigurationError, InvalidParameterError, UsageError, __version__
from ._common import (
    API_KEY_ENV,
    EXIT_BROKEN_PIPE,
    EXIT_FAILURE,
    EXIT_INTERRUPTED,
    EXIT_USAGE,
    PROG,
    Command,
    CommandError,
)

__all__ = ["COMMAND_MODULES", "Command", "CommandError", "build_parser", "commands", "main"]

COMMAND_MODULES = ("rows", "summary", "sync", "query", "serve")
"""The command groups, in ``--help`` order: modules of this package, each with ``COMMANDS``."""


def commands() -> tuple[Command, ...]:
    """Every sub-command, in ``--help`` order."""
    found: list[Command] = []
    for name in COMMAND_MODULES:
        module = importlib.import_module(f"{__name__}.{name}")
        found.extend(module.COMMANDS)
    return tuple(found)


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line (and exit code 2)."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    """The ``usage-async`` parser: one sub-parser per command of :func:`commands`."""
    parser = _Parser(
        prog=PROG,
        description="Read OpenAI's organization Usage and Costs API: every endpoint as rows "
        "(table, csv, jsonl), a summary, or a local simulator. --fake runs any command "
        "against the simulator, with no key.",
        epilog=f"Without --fake the key is --api-key or ${API_KEY_ENV}. "
        f"'{PROG} COMMAND --help' tells more.",
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    subparsers = parser.add_subparsers(title="commands", metavar="COMMAND", required=True)
    for command in commands():
        sub = subparsers.add_parser(
            command.name,
            aliases=list(command.aliases),
            help=command.help,
            # Raw, so that the epilog keeps its lines; the description is wrapped here.
            description=textwrap.fill(command.description or command.help, 88),
            epilog=command.epilog,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        command.add_arguments(sub)
        sub.set_defaults(run=command.run, command=command.name)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line and return its exit code (the ``usage-async`` console script)."""
    args = build_parser().parse_args(argv)
    run: Callable[[argparse.Namespace], Coroutine[Any, Any, int]] = args.run
    prog = f"{PROG} {args.command}"  # errors name the command first, as argparse's do
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
        return _fail(prog, str(exc), exc.exit_code)
    except (InvalidParameterError, ConfigurationError) as exc:
        return _fail(prog, str(exc), EXIT_USAGE)
    except UsageError as exc:
        return _fail(prog, str(exc) or type(exc).__name__, EXIT_FAILURE)
    except OSError as exc:
        return _fail(prog, str(exc), EXIT_FAILURE)


def _fail(prog: str, message: str, code: int) -> int:
    sys.stderr.write(f"{prog}: error: {' '.join(message.split())}\n")
    return code
