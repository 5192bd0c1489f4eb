"""``usage-async check``: which kind of key this is, and what it can read. One line a check.

The checks are the library's (``await client.check()``, :mod:`usage_async.keycheck`): the
key's kind by its public prefix only (the key itself is never shown), whether it reaches the
API and is accepted, whether it can read usage (a 403 "Missing scopes" names the scope),
whether it can read each directory list, and the server's clock against this machine's.

Exit codes: 0 the key can do the main job, reading usage (a directory list it may not read,
or a clock that drifts, is a FAIL line but only costs names or precision); 1 it cannot (no
answer from the API, a refused key, a missing scope), with one line on stderr saying why; 2
no key or bad settings.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from .._rows import Row
from ..keycheck import KeyCheck
from ._common import (
    EXIT_FAILURE,
    EXIT_OK,
    PROG,
    Command,
    CommandError,
    add_client_arguments,
    open_client,
)
from ._output import FORMAT_HELP, Target, add_output_arguments, output_spec, project, write_rows

__all__ = ["CHECK_COLUMNS", "COMMANDS", "check_rows", "why_not"]

CHECK_COLUMNS = ("status", "check", "detail")
"""The columns of each check's line: ``ok``, ``FAIL`` or ``skip``; its name; what was seen."""
_STATUS = {True: "ok", False: "FAIL", None: "skip"}

CHECK_EPILOG = f"""\
Checks, in order: key_kind (by the key's public prefix: sk-admin- is the admin key the
Usage and Costs API needs), reaches_api, authenticated, usage_read (Costs, one bucket: a
403 names the missing scope, e.g. api.usage.read), list_projects, list_users,
list_admin_api_keys, list_project_api_keys, list_project_service_accounts (the directory
that names ids; the per-project ones on the first active project), clock (the server's Date
against this machine's). At most six requests, each for one bucket or object.

Exit codes: 0 when the key can read usage (the main job), even if a list or the clock
FAILs; 1 when it cannot (one line on stderr says why); 2 without a key or with bad settings.
--fake checks the simulator's admin key; --fake --fake-key limited its restricted key,
which lacks api.usage.read and the users list.

{FORMAT_HELP}"""


def check_rows(result: KeyCheck) -> list[Row]:
    """One row per check: ``status`` (ok, FAIL, skip), ``check`` and ``detail``."""
    return [{"status": _STATUS[c.ok], "check": c.name, "detail": c.detail} for c in result.checks]


def why_not(result: KeyCheck) -> str:
    """One line: why the key cannot do the main job (read usage), and what it is."""
    reach = result.check("reaches_api")
    if reach.ok is False:
        return f"the check got no answer: {reach.detail}"
    usage = result.check("usage_read")
    line = f"the key cannot read usage (usage_read: {usage.detail})"
    kind = result.check("key_kind")
    if kind.ok is False:
        line += f"; it is {kind.detail}"
    return line


def _lines(rows: Sequence[Row], names: Sequence[str]) -> str:
    """Aligned lines, one a check, without a header: ``ok    usage_read  HTTP 200``."""
    widths = {n: max(len(str(row[n])) for row in rows) for n in names}
    out = []
    for row in rows:
        cells = [str(row[n]).ljust(widths[n]) for n in names]
        out.append("  ".join(cells).rstrip())
    return "\n".join(out) + "\n"


def _check_arguments(parser: argparse.ArgumentParser) -> None:
    add_output_arguments(parser, append=False)
    add_client_arguments(parser)


async def _run_check(args: argparse.Namespace) -> int:
    out = output_spec(args)
    names = project(CHECK_COLUMNS, out.fields)  # a bad --fields is refused before any request
    async with open_client(args) as api:
        result = await api.client.check()
    rows = check_rows(result)
    with Target(out) as target:
        if out.format == "table":
            target.write(_lines(rows, names))
        else:
            await write_rows(target, CHECK_COLUMNS, rows)
    if not result.main_job_ok:
        raise CommandError(why_not(result), EXIT_FAILURE)
    return EXIT_OK


COMMANDS = (
    Command(
        name="check",
        help="check the key: its kind, whether it reaches the API and reads usage and names",
        description="Check the key, one line a check: which kind of key it is (by its public "
        "prefix only; the key is never shown), whether it reaches the API, whether it can read "
        "usage (a missing scope is named) and each of the organization's lists, and the "
        "server's clock against this machine's. Exit 0 when it can read usage.",
        epilog=CHECK_EPILOG,
        add_arguments=_check_arguments,
        run=_run_check,
        examples=(
            f"{PROG} check --fake",
            f"{PROG} check --fake --fake-key limited   # exits 1: no api.usage.read",
            f"{PROG} check --format json",
            f"{PROG} check --base-url http://127.0.0.1:8000/v1 --api-key sk-admin-...",
        ),
    ),
)
