"""The ``usage-async`` command line (also ``python -m usage_async``), on the public API only.

    usage-async ENDPOINT --since 30d [...]   every bucket of one endpoint, as rows
    usage-async summary [--since 30d]        totals of all endpoints, fetched concurrently
    usage-async sync [--db URL] --since 90d  every endpoint into a database (usage_async.sync)
    usage-async query [--db URL] spend       what sync collected
    usage-async check                        what the key is, and what it can read
    usage-async serve [--port 8000]          the simulator, standalone

One module per command group (``rows``, ``summary``, ``sync``, ``query``, ``check``,
``serve``), each with a ``COMMANDS`` tuple of :class:`Command` rows: ``add_arguments(parser)``
adds the options to its argparse sub-parser; ``run(args)`` is a coroutine that returns the
exit code.
:data:`COMMAND_MODULES` is the registry. What every command shares (exit codes, times, the
API options, :func:`open_client`) is in ``_common``; writers and progress in ``_output``.

Errors reach :func:`main`, which prints one line on stderr and returns the exit code: 2 for
bad arguments (:class:`CommandError`, ``InvalidParameterError``, ``ConfigurationError``), 1
for API and network failures (any other ``UsageError``, ``OSError``), 130 on Ctrl-C, 141
when the reader of stdout went away (``usage-async costs ... | head``).
"""

from __future__ import annotations

import argparse
import difflib
import importlib
import os
import re
import sys
import textwrap
from collections.abc import Callable, Coroutine, Sequence
from typing import TYPE_CHECKING, Any, NoReturn

from .._version import __version__
from ..errors import ConfigurationError, InvalidParameterError, UsageError
from ._names import API_KEY_ENV, EXIT_BROKEN_PIPE, EXIT_FAILURE, EXIT_INTERRUPTED, EXIT_USAGE, PROG

if TYPE_CHECKING:
    from ._common import Command

__all__ = ["COMMAND_MODULES", "build_parser", "commands", "main"]

COMMAND_MODULES = (
    "rows",
    "summary",
    "budget",
    "reconcile",
    "sync",
    "query",
    "check",
    "report",
    "exporter",
    "export",
    "serve",
    "completion",
)
"""The command groups, in ``--help`` order: modules of this package, each with ``COMMANDS``."""


def commands() -> tuple[Command, ...]:
    """Every sub-command, in ``--help`` order."""
    found: list[Command] = []
    for name in COMMAND_MODULES:
        module = importlib.import_module(f"{__name__}.{name}")
        found.extend(module.COMMANDS)
    return tuple(found)


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser with one-line errors (exit code 2), no abbreviated options (``--fa``
    never means ``--fake``), and a "did you mean" for a misspelt option, command or choice."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["allow_abbrev"] = False
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        choice = _INVALID_CHOICE.search(message)
        if choice is not None:
            allowed = [c.strip("'") for c in choice["allowed"].split(", ")]
            message += _did_you_mean(choice["given"], allowed)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")

    def parse_known_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace, list[str]]:
        parsed, extras = super().parse_known_args(args, namespace)
        if extras and not hasattr(parsed, "_unrecognized_by"):
            parsed._unrecognized_by = self  # the innermost (sub)command that saw them first
        return parsed, extras

    def parse_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> argparse.Namespace:
        parsed, extras = self.parse_known_args(args, namespace)
        if extras:
            owner: _Parser = getattr(parsed, "_unrecognized_by", self)
            options = [o for action in owner._actions for o in action.option_strings]
            hints = "".join(
                _did_you_mean(extra.split("=", 1)[0], options)
                for extra in extras
                if extra.startswith("-")
            )
            owner.error(f"unrecognized arguments: {' '.join(extras)}{hints}")
        if hasattr(parsed, "_unrecognized_by"):
            del parsed._unrecognized_by
        return parsed


_INVALID_CHOICE = re.compile(r"invalid choice: '(?P<given>[^']*)' \(choose from (?P<allowed>.*)\)")


def _did_you_mean(given: str, allowed: Sequence[str]) -> str:
    close = difflib.get_close_matches(given, allowed, n=1, cutoff=0.6)
    return f" (did you mean {close[0]}?)" if close else ""


def _epilog(command: Command) -> str | None:
    parts = [command.epilog] if command.epilog else []
    if command.examples:
        parts.append("Examples:\n" + "\n".join(f"  {line}" for line in command.examples))
    return "\n\n".join(parts) or None


def build_parser() -> argparse.ArgumentParser:
    """The ``usage-async`` parser: one sub-parser per command of :func:`commands`."""
    parser = _Parser(
        prog=PROG,
        description="Read OpenAI's organization Usage and Costs API: every endpoint as rows "
        "(table, csv, json, jsonl), a summary, a database kept current, or a local simulator. "
        "--fake runs any command against the simulator, with no key.",
        epilog=f"Without --fake the key is --api-key or ${API_KEY_ENV}. "
        f"'{PROG} COMMAND --help' tells more, with examples.",
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    subparsers = parser.add_subparsers(
        title="commands", metavar="COMMAND", dest="command", required=True
    )
    for command in commands():
        sub = subparsers.add_parser(
            command.name,
            aliases=list(command.aliases),
            help=command.help,
            # Raw, so that the epilog keeps its lines; the description is wrapped here.
            description=textwrap.fill(command.description or command.help, 88),
            epilog=_epilog(command),
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        command.add_arguments(sub)
        sub.set_defaults(run=command.run, command=command.name)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line and return its exit code (the ``usage-async`` console script).

    Everything but this module's own few imports happens in here, so that Ctrl-C at any
    moment, start-up included, exits 130 without a traceback.
    """
    try:
        return _main(argv)
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader of stdout left (`| head`): send what is still buffered nowhere, so that
        # the interpreter's own flush at exit does not complain either.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_BROKEN_PIPE


def _main(argv: Sequence[str] | None) -> int:
    import asyncio

    from ._common import CommandError

    args = build_parser().parse_args(argv)
    run: Callable[[argparse.Namespace], Coroutine[Any, Any, int]] = args.run
    prog = f"{PROG} {args.command}"  # errors name the command first, as argparse's do
    try:
        return asyncio.run(run(args))
    except CommandError as exc:
        return _fail(prog, str(exc), exc.exit_code)
    except (InvalidParameterError, ConfigurationError) as exc:
        return _fail(prog, str(exc), EXIT_USAGE)
    except UsageError as exc:
        return _fail(prog, str(exc) or type(exc).__name__, EXIT_FAILURE)
    except OSError as exc:
        if isinstance(exc, BrokenPipeError):
            raise
        return _fail(prog, str(exc), EXIT_FAILURE)


def _fail(prog: str, message: str, code: int) -> int:
    sys.stderr.write(f"{prog}: error: {' '.join(message.split())}\n")
    return code
