"""Reading any endpoint's collection back by the rule ``query`` uses for costs.

:func:`usage_async.sync.query.spend` sums exactly one costs collection (one ``(bucket_width,
group_by)``) that holds the whole range asked, preferring the most current: adding two would
count the same spend twice. The report, the exporter and the export read usage endpoints
too (tokens by model), and costs grouped by more than ``spend`` asks (a day and a project at
once); :func:`choose` applies the same rule to any endpoint and any set of group columns, so
every output of a database picks the collection ``query`` would.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from ._targets import DEFAULT_GROUP_BY
from .query import Collection
from .stores import Store

__all__ = ["choose", "collections", "covering"]


async def collections(store: Store, endpoint: str) -> list[Collection]:
    """Every collection of ``endpoint`` the database holds (its ``usage_async_state`` rows)."""
    return [
        Collection(width, group_by, since, watermark)
        for name, width, group_by, since, watermark in await store.states()
        if name == endpoint
    ]


def covering(
    held: Iterable[Collection], needs: Sequence[str], since: int | None, until: int | None
) -> list[Collection]:
    """The collections grouped by every column of ``needs`` that hold ``[since, until)``
    (an open end is not checked)."""
    return [
        c
        for c in held
        if set(needs) <= set(filter(None, c.group_by.split(",")))
        and (since is None or c.since <= since)
        and (until is None or c.watermark >= until)
    ]


def choose(
    held: Iterable[Collection],
    endpoint: str,
    needs: Sequence[str] = (),
    since: int | None = None,
    until: int | None = None,
) -> Collection | None:
    """The collection ``query`` would sum for ``endpoint``: grouped by ``needs``, holding
    ``[since, until)``, the most current (latest watermark; then the endpoint's default
    ``group_by``; then the fewest groups). None when no collection qualifies."""
    default = ",".join(sorted(DEFAULT_GROUP_BY[endpoint]))
    able = covering(held, needs, since, until)
    if not able:
        return None
    return min(
        able,
        key=lambda c: (
            -c.watermark,
            c.group_by != default,
            len(c.group_by.split(",")) if c.group_by else 0,
            c.bucket_width,
            c.group_by,
        ),
    )
