"""What a sync reads: targets (an endpoint at one bucket width and one ``group_by`` set),
checked against the endpoint table, and the default ``group_by`` of each endpoint.

Data and checks only: no client, no store, so ``query`` can read the defaults without
importing the client.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from types import MappingProxyType

import attrs

from .._endpoints import ENDPOINTS, WIDTH_SECONDS, EndpointSpec
from ..errors import InvalidParameterError

__all__ = ["DEFAULT_BUCKET_WIDTH", "DEFAULT_GROUP_BY", "Target", "plan_targets"]

DEFAULT_BUCKET_WIDTH = "1d"


def _default_group_by(spec: EndpointSpec) -> tuple[str, ...]:
    # What a FinOps user asks first: spend by project and line item; usage by project and
    # model (by project alone where the endpoint has no model).
    wanted = ("project_id", "line_item") if spec.name == "costs" else ("project_id", "model")
    return tuple(g for g in wanted if g in spec.group_by)


DEFAULT_GROUP_BY: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {name: _default_group_by(spec) for name, spec in ENDPOINTS.items()}
)
"""The ``group_by`` of each endpoint when none is given."""


@attrs.frozen
class Target:
    """One thing to sync: an endpoint at one bucket width and one ``group_by`` set."""

    endpoint: str
    bucket_width: str
    group_by: tuple[str, ...]
    limit: int

    @property
    def group_key(self) -> str:
        """The ``group_by`` set as stored: names sorted and comma-joined ('' for none)."""
        return ",".join(sorted(self.group_by))


def plan_targets(
    endpoints: Iterable[str] | None,
    bucket_width: str | Mapping[str, str],
    group_by: Mapping[str, Sequence[str]] | None,
    limit: int | None,
) -> tuple[Target, ...]:
    """The targets a collector syncs, checked against each endpoint's row.

    Raises :class:`InvalidParameterError` naming the endpoint, width or group value refused.
    """
    names = list(ENDPOINTS) if endpoints is None else list(dict.fromkeys(endpoints))
    if isinstance(endpoints, str):
        raise InvalidParameterError(
            f"endpoints: expected a list of names, got the string {endpoints!r}",
            param="endpoints",
        )
    for name in names:
        if name not in ENDPOINTS:
            raise InvalidParameterError(
                f"unknown endpoint {name!r}; endpoints: {', '.join(ENDPOINTS)}",
                param="endpoints",
            )
    if not names:
        raise InvalidParameterError("endpoints: no endpoint given", param="endpoints")
    widths = bucket_width if not isinstance(bucket_width, str) else {}
    groups = dict(group_by or {})
    for mapping, what in ((widths, "bucket_width"), (groups, "group_by")):
        for name in mapping:
            if name not in names:
                raise InvalidParameterError(
                    f"{what} for {name!r}, which is not among the endpoints synced", param=what
                )
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise InvalidParameterError(f"limit: expected an int >= 1, got {limit!r}", param="limit")
    targets = []
    for name in names:
        spec = ENDPOINTS[name]
        if isinstance(bucket_width, str):
            width = bucket_width if bucket_width in spec.bucket_widths else DEFAULT_BUCKET_WIDTH
            if bucket_width not in WIDTH_SECONDS:
                raise InvalidParameterError(
                    f"bucket_width {bucket_width!r}; widths: {', '.join(WIDTH_SECONDS)}",
                    param="bucket_width",
                )
        else:
            width = widths.get(name, DEFAULT_BUCKET_WIDTH)
        if width not in spec.bucket_widths:
            raise InvalidParameterError(
                f"{name}: bucket_width {width!r} is not offered; "
                f"widths: {', '.join(spec.bucket_widths)}",
                param="bucket_width",
            )
        chosen = groups.get(name, DEFAULT_GROUP_BY[name])
        if isinstance(chosen, str):
            raise InvalidParameterError(
                f"{name}: group_by must be a list of names, got the string {chosen!r}",
                param="group_by",
            )
        chosen = tuple(dict.fromkeys(chosen))
        for value in chosen:
            if value not in spec.group_by:
                raise InvalidParameterError(
                    f"{name}: cannot group by {value!r}; group_by values: "
                    f"{', '.join(spec.group_by)}",
                    param="group_by",
                )
        ordered = tuple(g for g in spec.group_by if g in chosen)  # the spec's order
        default_limit, max_limit = spec.limits[width]
        del default_limit
        page = max_limit if limit is None else min(limit, max_limit)
        targets.append(Target(name, width, ordered, page))
    return tuple(targets)
