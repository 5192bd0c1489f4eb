"""``usage-async completion bash|zsh``: a shell completion script, from the parser itself.

Made by shtab (the optional ``completion`` extra): it reads the argparse parser once and
writes a static script, so pressing Tab never starts Python (argcomplete, the other
well-kept choice, runs the program on every Tab: about a third of a second here).
"""

from __future__ import annotations

import argparse
import sys

from ._common import EXIT_OK, PROG, Command, CommandError

__all__ = ["COMMANDS"]

SHELLS = ("bash", "zsh")


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("shell", choices=SHELLS, help="the shell to complete in")


async def _run(args: argparse.Namespace) -> int:
    try:
        import shtab
    except ImportError:
        raise CommandError(
            "completion needs shtab: pip install 'usage-async[completion]'"
        ) from None
    from . import build_parser  # the whole command line, as the user runs it

    script = shtab.complete(build_parser(), shell=args.shell)
    sys.stdout.write(script if script.endswith("\n") else script + "\n")
    return EXIT_OK


COMMANDS = (
    Command(
        name="completion",
        help="print a bash or zsh completion script",
        description="Print a completion script for bash or zsh (needs the optional "
        "'completion' extra: pip install 'usage-async[completion]').",
        add_arguments=_arguments,
        run=_run,
        examples=(
            f"{PROG} completion bash > ~/.local/share/bash-completion/completions/{PROG}",
            f"{PROG} completion zsh > ~/.zfunc/_{PROG}  # with fpath+=(~/.zfunc) in ~/.zshrc",
        ),
    ),
)
