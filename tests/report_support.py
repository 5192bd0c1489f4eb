"""Reading a report back as a person reads it: its tables of exact figures, its captions."""

from __future__ import annotations

import os
import subprocess
import sys
from decimal import Decimal
from html.parser import HTMLParser
from pathlib import Path

SCRIPT = str(Path(sys.executable).parent / "usage-async")
NOW = "2025-03-15T12:00:00Z"
FAKE = ("--fake", "--fake-now", NOW)
WEEK = ("--since", "2025-03-01", "--until", "2025-03-08")


def usage_async(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run the console script with no key and no database in the environment."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "USAGE_ASYNC_"))}
    return subprocess.run(  # noqa: S603 - our own console script
        [SCRIPT, *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=cwd,
        env=environ,
    )


class _Tables(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self._table: str | None = None
        self._cell: list[str] | None = None
        self._row: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table":
            self._table = dict(attrs).get("data-table") or ""
            self.tables[self._table] = []
        elif tag == "tr" and self._table is not None:
            self._row = []
        elif tag in ("td", "th") and self._row is not None:
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None and self._row is not None:
            self._row.append("".join(self._cell))
            self._cell = None
        elif tag == "tr" and self._row is not None and self._table is not None:
            self.tables[self._table].append(self._row)
            self._row = None
        elif tag == "table":
            self._table = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def tables(html: str) -> dict[str, list[list[str]]]:
    """Every ``<table data-table=NAME>`` of a report: NAME -> rows (the header first)."""
    parser = _Tables()
    parser.feed(html)
    return parser.tables


def column(html: str, table: str, key: int, value: int) -> dict[str, Decimal]:
    """One table as ``{row[key]: Decimal(row[value])}``, its header and total left out."""
    rows = tables(html)[table][1:]
    return {row[key]: Decimal(row[value]) for row in rows if row[0] != "total"}
