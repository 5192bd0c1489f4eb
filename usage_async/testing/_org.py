"""The synthetic organization: who exists, and what each of them used in any hour. Pure.

``Organization.from_seed(seed)`` draws projects, users, API keys, vector stores and each
project's mix of models; ``hour_events(org, traffic, hour)`` draws the usage events of one
endpoint in one hour from a hash of ``(seed, endpoint, hour)``, so any hour can be made on its
own, in any order, and is the same every time. Every bucket the API reports is a sum of these
events, which is why 1m buckets add up to 1h buckets and groups add up to totals.

``Organization.roster`` names everyone for the admin list endpoints (see ``_roster``); the
keys it adds (an archived project's, service accounts', a deleted one) make usage from
``LATER_START`` (2025-06-01) on, drawn by ``later_events`` from a random stream of their own,
so every event of the first keys, and every number reported before that date, is as it was.

How many events an hour holds follows a daily rhythm (quiet at night UTC, busiest in the
afternoon) and a weekly one (weekends are quieter), growing slowly from ``ORG_START``
(2024-01-01T00:00Z), before which the organization has no usage at all.
"""

from __future__ import annotations

import bisect
import hashlib
import itertools
import math
import random
import string
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

import attrs

from . import _prices as prices
from ._roster import LATER_START, Roster, draw_roster

__all__ = [
    "ORG_START",
    "TRAFFIC",
    "ApiKey",
    "CostItem",
    "Event",
    "Organization",
    "Traffic",
    "VectorStore",
    "hour_events",
]

ORG_START = 1_704_067_200  # 2024-01-01T00:00:00Z
HOUR = 3600
DAY = 86400
WEEK = 7 * DAY
LAG_SCALE = 1 << 16  # an event's lag is a fraction lag/LAG_SCALE of the late-data window
LATER_SHARE = 0.3  # the later keys' events an hour, as a share of the first keys'

# Share of a day's traffic by hour of day (UTC), and by day of week (Monday first).
DAILY = (
    0.25, 0.2, 0.18, 0.18, 0.2, 0.25, 0.35, 0.5, 0.7, 0.85, 0.95, 1.0,
    1.0, 1.0, 1.0, 1.0, 0.95, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3,
)  # fmt: skip
WEEKLY = (1.0, 1.0, 1.0, 1.0, 0.95, 0.45, 0.35)

_ID_CHARS = string.ascii_letters + string.digits

# (ts, dims, counts, lag): when (Unix seconds), who and what (in the traffic's `dims` order),
# how much (in its `counts` order), and how late it becomes visible (0..LAG_SCALE-1).
Event = tuple[int, tuple[Any, ...], tuple[int, ...], int]


@attrs.frozen
class ApiKey:
    """An API key, its project and the user who owns it (None: a service account does).

    A key makes usage from ``active_from`` until ``active_until`` (None: for ever); the
    organization's first keys are active from the start.
    """

    id: str
    project_id: str
    user_id: str | None
    weight: float
    active_from: int = 0
    active_until: int | None = None


@attrs.frozen
class VectorStore:
    """A vector store: its size is a gauge that grows from ``created_at`` and wobbles weekly."""

    id: str
    project_id: str
    created_at: int
    base_bytes: int
    growth_per_minute: int
    weekly_swing: int
    phase: int

    def usage_bytes(self, at: int) -> int:
        """Bytes stored at Unix second ``at`` (0 before the store was created)."""
        if at < self.created_at:
            return 0
        minutes = (at - self.created_at) // 60
        half = WEEK // 2
        position = (at + self.phase) % WEEK
        triangle = position if position < half else WEEK - position  # 0..half
        return (
            self.base_bytes
            + self.growth_per_minute * minutes
            + (self.weekly_swing * triangle // half)
        )


@attrs.frozen
class CostItem:
    """One line item of one usage event: its quantity and cost, both exact integers.

    ``quantity`` is in units of ``1/quantity_scale`` of ``quantity_unit`` (1 for everything
    but storage's GiB-hours); ``nanodollars`` is the cost in 1e-9 USD.
    """

    line_item: str
    quantity: int
    nanodollars: int
    quantity_unit: str | None
    quantity_scale: int = 1


def _item(line_item: str, quantity: int, price: prices.Price, *, divisor: int = 1) -> CostItem:
    cost = price.nanodollars(quantity, scale=divisor)
    return CostItem(line_item, quantity, cost, price.quantity_unit)


def _choice(rng: random.Random, values: tuple[Any, ...], cum: tuple[float, ...]) -> Any:
    return values[bisect.bisect_right(cum, rng.random() * cum[-1])]


def _cumulative(weights: list[float]) -> tuple[float, ...]:
    return tuple(itertools.accumulate(weights))


@attrs.frozen
class Mix:
    """Values and their cumulative weights, for weighted draws."""

    values: tuple[Any, ...]
    cum: tuple[float, ...]

    def draw(self, rng: random.Random) -> Any:
        """One value, drawn with its weight."""
        return _choice(rng, self.values, self.cum)


@attrs.frozen
class Organization:
    """Projects, users, API keys, vector stores and model mixes drawn from ``seed``."""

    seed: int
    projects: tuple[str, ...]
    users: tuple[str, ...]
    api_keys: tuple[ApiKey, ...]
    vector_stores: tuple[VectorStore, ...]
    key_mix: Mapping[str, Mix]  # endpoint -> which key makes its requests
    model_mix: Mapping[tuple[str, str], Mix]  # (endpoint, project_id) -> models
    stores_of: Mapping[str, tuple[VectorStore, ...]]  # project_id -> its vector stores
    # Names and lifetimes, for the admin list endpoints (see _roster), and the keys added
    # with them, whose usage is drawn apart from the first keys' (see later_events).
    roster: Roster | None = None
    later_keys: tuple[ApiKey, ...] = ()
    later_mix: Mix | None = None

    @classmethod
    def from_seed(cls, seed: int) -> Organization:
        """The organization of ``seed``: same seed, same organization, on every machine."""
        rng = random.Random(_stable_int("org", seed))  # noqa: S311 - reproducible, not secret

        def new_id(prefix: str, length: int) -> str:
            return prefix + "".join(rng.choices(_ID_CHARS, k=length))

        projects = tuple(new_id("proj_", 24) for _ in range(rng.randint(3, 6)))
        users = tuple(new_id("user-", 24) for _ in range(rng.randint(4, 9)))
        keys = tuple(
            ApiKey(new_id("key_", 16), project, rng.choice(users), rng.uniform(0.2, 3.0))
            for project in projects
            for _ in range(rng.randint(1, 3))
        )
        stores = tuple(
            VectorStore(
                id=new_id("vs_", 24),
                project_id=project,
                created_at=ORG_START + rng.randrange(120) * DAY + rng.randrange(DAY),
                base_bytes=rng.randint(50_000, 50_000_000),
                growth_per_minute=rng.randint(0, 400),
                weekly_swing=rng.randint(0, 5_000_000),
                phase=rng.randrange(WEEK),
            )
            for i, project in enumerate(projects)
            for _ in range(rng.randint(1 if i == 0 else 0, 3))
        )
        stores_of = {p: tuple(s for s in stores if s.project_id == p) for p in projects}
        key_mix: dict[str, Mix] = {}
        model_mix: dict[tuple[str, str], Mix] = {}
        for traffic in TRAFFIC.values():
            # Each project adopts each endpoint to its own degree; some not at all.
            adoption = {p: rng.choice((0.0, 0.3, 1.0, 1.0, 2.5)) for p in projects}
            if traffic.needs_vector_store:
                adoption = {p: a if stores_of[p] else 0.0 for p, a in adoption.items()}
            if not any(adoption.values()):
                adoption[projects[0]] = 1.0  # the first project always has a vector store
            weights = [k.weight * adoption[k.project_id] for k in keys]
            key_mix[traffic.endpoint] = Mix(keys, _cumulative(weights))
            for project in projects:
                if traffic.models:
                    models = traffic.models
                    model_weights = [rng.choice((0.0, 0.5, 1.0, 4.0)) for _ in models]
                    if not any(model_weights):
                        model_weights[rng.randrange(len(models))] = 1.0
                    model_mix[traffic.endpoint, project] = Mix(models, _cumulative(model_weights))
        # Everything above decides the first keys' usage; the roster is drawn after it, so it
        # moves none of those numbers.
        first = tuple((k.id, k.project_id, k.user_id) for k in keys if k.user_id is not None)
        roster = draw_roster(rng, ORG_START, projects, users, first)
        later = _later_keys(rng, roster)
        archived = roster.archived_project.id
        stores_of[archived] = ()
        for traffic in TRAFFIC.values():
            if traffic.models:
                weights = [rng.choice((0.0, 1.0, 4.0)) for _ in traffic.models]
                weights[rng.randrange(len(weights))] = 1.0
                model_mix[traffic.endpoint, archived] = Mix(traffic.models, _cumulative(weights))
        return cls(
            seed=seed,
            projects=projects,
            users=users,
            api_keys=keys,
            vector_stores=stores,
            key_mix=MappingProxyType(key_mix),
            model_mix=MappingProxyType(model_mix),
            stores_of=MappingProxyType(stores_of),
            roster=roster,
            later_keys=later,
            later_mix=Mix(later, _cumulative([k.weight for k in later])),
        )


def _later_keys(rng: random.Random, roster: Roster) -> tuple[ApiKey, ...]:
    """The keys the roster added, with the lifetimes their usage follows: a service account's
    key from its creation on; the archived project's keys until it was archived; the deleted
    key until it was deleted."""
    owners = {a.id for a in roster.service_accounts}
    ends = {p.id: p.archived_at for p in roster.projects if p.archived_at is not None}
    return tuple(
        ApiKey(
            id=entry.id,
            project_id=entry.project_id,
            user_id=None if entry.owner_id in owners else entry.owner_id,
            weight=rng.uniform(0.2, 3.0),
            active_from=entry.created_at,
            active_until=entry.deleted_at or ends.get(entry.project_id),
        )
        for entry in roster.project_keys
        if entry.created_at >= LATER_START and entry.project_id is not None
    )


def _stable_int(*parts: object) -> int:
    """A 64-bit integer hash of ``parts`` that is the same in every process (unlike hash())."""
    digest = hashlib.blake2b(repr(parts).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def rhythm(hour: int) -> float:
    """How busy an hour is, relative to a weekday afternoon at ``ORG_START``."""
    day = hour // DAY
    weekday = (day + 3) % 7  # 1970-01-01 was a Thursday
    growth = 1.0 + 0.5 * max(0, hour - ORG_START) / (365 * DAY)
    return DAILY[(hour // HOUR) % 24] * WEEKLY[weekday] * growth


def _poisson(rng: random.Random, mean: float) -> int:
    """A Poisson-distributed count (Knuth's method; the means here are small)."""
    limit = math.exp(-mean)
    count, product = 0, rng.random()
    while product > limit:
        count += 1
        product *= rng.random()
    return count


Drawn = tuple[tuple[Any, ...], tuple[int, ...]]  # an event's dims and counts
Draw = Callable[[random.Random, "Organization", "ApiKey", int], "Drawn | None"]
Bill = Callable[[tuple[Any, ...], tuple[int, ...]], "list[CostItem]"]


@attrs.frozen
class Traffic:
    """How one usage endpoint's events are drawn, and what they cost.

    ``dims`` names each event's dimensions (always starting with project, user and key) and
    ``counts`` its counters, both named as the spec's result fields; ``draw`` makes the
    endpoint-specific part of one event; ``bill`` turns an event into cost line items.
    """

    endpoint: str
    per_hour: float  # mean events an hour on a weekday afternoon at ORG_START
    dims: tuple[str, ...]
    counts: tuple[str, ...]
    draw: Draw
    bill: Bill
    models: tuple[str, ...] = ()
    needs_vector_store: bool = False


def hour_events(org: Organization, traffic: Traffic, hour: int) -> tuple[Event, ...]:
    """The events of ``traffic``'s endpoint in the hour starting at ``hour``, by time."""
    if hour < ORG_START:
        return ()
    if hour >= LATER_START and org.later_keys:
        later = later_events(org, traffic, hour)
        if later:
            return tuple(sorted((*_first_events(org, traffic, hour), *later), key=_time))
    return _first_events(org, traffic, hour)


def _time(event: Event) -> int:
    return event[0]


def later_events(org: Organization, traffic: Traffic, hour: int) -> tuple[Event, ...]:
    """The events of the keys the roster added (``org.later_keys``), in the hour from ``hour``.

    Drawn from a random stream of their own, so the first keys' events (and every number
    reported before ``LATER_START``) are exactly what they were before these keys existed.
    """
    mix = org.later_mix
    if mix is None:
        return ()
    rng = random.Random(_stable_int(org.seed, traffic.endpoint, hour, "later"))  # noqa: S311
    events: list[Event] = []
    for _ in range(_poisson(rng, traffic.per_hour * rhythm(hour) * LATER_SHARE)):
        ts = hour + rng.randrange(HOUR)
        key: ApiKey = mix.draw(rng)
        drawn = traffic.draw(rng, org, key, ts)
        lag = rng.randrange(LAG_SCALE)
        alive = key.active_from <= ts and (key.active_until is None or ts < key.active_until)
        if drawn is not None and alive:
            events.append((ts, drawn[0], drawn[1], lag))
    events.sort(key=_time)
    return tuple(events)


def _first_events(org: Organization, traffic: Traffic, hour: int) -> tuple[Event, ...]:
    rng = random.Random(_stable_int(org.seed, traffic.endpoint, hour))  # noqa: S311
    keys = org.key_mix[traffic.endpoint]
    events: list[Event] = []
    for _ in range(_poisson(rng, traffic.per_hour * rhythm(hour))):
        ts = hour + rng.randrange(HOUR)
        key: ApiKey = keys.draw(rng)
        drawn = traffic.draw(rng, org, key, ts)
        lag = rng.randrange(LAG_SCALE)
        if drawn is not None:
            events.append((ts, drawn[0], drawn[1], lag))
    events.sort(key=lambda event: event[0])
    return tuple(events)


def _requests(rng: random.Random, mean: float) -> int:
    return 1 + int(rng.expovariate(1.0 / mean))


def _who(key: ApiKey) -> tuple[str, str | None, str]:
    return (key.project_id, key.user_id, key.id)


def _model(rng: random.Random, org: Organization, endpoint: str, key: ApiKey) -> str:
    model: str = org.model_mix[endpoint, key.project_id].draw(rng)
    return model


_TIERS = Mix(("default", "flex", "priority"), (0.8, 0.9, 1.0))


def _draw_completions(
    rng: random.Random, org: Organization, key: ApiKey, ts: int
) -> tuple[tuple[Any, ...], tuple[int, ...]]:
    model = _model(rng, org, "completions", key)
    batch = rng.random() < 0.12
    tier = "default" if batch else _TIERS.draw(rng)
    n = _requests(rng, 6)
    text_in = n * rng.randint(150, 3000)
    cached_text = text_in * rng.randint(0, 60) // 100
    cache_write = text_in * rng.randint(0, 10) // 100
    image_in = n * 765 if rng.random() < 0.15 else 0
    cached_image = image_in * rng.randint(0, 30) // 100
    audio_in = cached_audio = audio_out = 0
    if "audio" in model:
        audio_in = n * rng.randint(100, 2000)
        cached_audio = audio_in * rng.randint(0, 20) // 100
        audio_out = n * rng.randint(100, 1500)
    text_out = n * rng.randint(20, 800)
    image_out = 0
    uncached = text_in + audio_in + image_in
    cached = cached_text + cached_audio + cached_image
    dims = (*_who(key), model, batch, tier)
    counts = (
        uncached + cached + cache_write,  # input_tokens
        cached,  # input_cached_tokens
        cache_write,  # input_cache_write_tokens
        uncached,  # input_uncached_tokens
        text_out + audio_out + image_out,  # output_tokens
        text_in,  # input_text_tokens
        text_out,  # output_text_tokens
        cached_text,  # input_cached_text_tokens
        audio_in,  # input_audio_tokens
        cached_audio,  # input_cached_audio_tokens
        audio_out,  # output_audio_tokens
        image_in,  # input_image_tokens
        cached_image,  # input_cached_image_tokens
        image_out,  # output_image_tokens
        n,  # num_model_requests
    )
    return dims, counts


def _bill_completions(dims: tuple[Any, ...], counts: tuple[int, ...]) -> list[CostItem]:
    model, batch = dims[3], dims[4]
    p_in, p_cached, p_out, p_audio_in, p_audio_out = prices.COMPLETIONS_PRICES[model]
    divisor = prices.BATCH_DISCOUNT if batch else 1
    kind = "batch " if batch else ""
    quantities = (
        ("input", counts[5] + counts[11] + counts[2], p_in),
        ("cached input", counts[1], p_cached),
        ("output", counts[6] + counts[13], p_out),
        ("audio input", counts[8], p_audio_in),
        ("audio output", counts[10], p_audio_out),
    )
    return [
        _item(f"{model}, {kind}{name}", q, price, divisor=divisor)
        for name, q, price in quantities
        if q
    ]


def _draw_tokens(endpoint: str, low: int, high: int, mean_requests: float) -> Draw:
    def draw(
        rng: random.Random, org: Organization, key: ApiKey, ts: int
    ) -> tuple[tuple[Any, ...], tuple[int, ...]]:
        model = _model(rng, org, endpoint, key)
        n = _requests(rng, mean_requests)
        return (*_who(key), model), (n * rng.randint(low, high), n)

    return draw


def _bill_by_model(table: Mapping[str, prices.Price], kind: str) -> Bill:
    def bill(dims: tuple[Any, ...], counts: tuple[int, ...]) -> list[CostItem]:
        model = dims[3]
        return [_item(f"{model}, {kind}", counts[0], table[model])]

    return bill


def _bill_nothing(dims: tuple[Any, ...], counts: tuple[int, ...]) -> list[CostItem]:
    return []


_IMAGE_SOURCES = {
    "dall-e-2": Mix(("image.generation", "image.edit", "image.variation"), (0.6, 0.85, 1.0)),
    "dall-e-3": Mix(("image.generation",), (1.0,)),
}
_IMAGE_SIZES = {
    model: Mix(
        tuple(size for m, size in prices.IMAGE_PRICES if m == model),
        _cumulative([1.0 for m, _ in prices.IMAGE_PRICES if m == model]),
    )
    for model in _IMAGE_SOURCES
}


def _draw_images(
    rng: random.Random, org: Organization, key: ApiKey, ts: int
) -> tuple[tuple[Any, ...], tuple[int, ...]]:
    model = _model(rng, org, "images", key)
    n = _requests(rng, 2)
    images = n * rng.choice((1, 1, 1, 2, 4))
    dims = (*_who(key), model, _IMAGE_SIZES[model].draw(rng), _IMAGE_SOURCES[model].draw(rng))
    return dims, (images, n)


def _bill_images(dims: tuple[Any, ...], counts: tuple[int, ...]) -> list[CostItem]:
    model, size = dims[3], dims[4]
    return [_item(f"{model}, {size}", counts[0], prices.IMAGE_PRICES[model, size])]


def _draw_sessions(
    rng: random.Random, org: Organization, key: ApiKey, ts: int
) -> tuple[tuple[Any, ...], tuple[int, ...]]:
    return _who(key), (_requests(rng, 1.5),)


def _bill_sessions(dims: tuple[Any, ...], counts: tuple[int, ...]) -> list[CostItem]:
    return [_item("code interpreter sessions", counts[0], prices.CODE_INTERPRETER_SESSION)]


def _draw_file_search(
    rng: random.Random, org: Organization, key: ApiKey, ts: int
) -> tuple[tuple[Any, ...], tuple[int, ...]] | None:
    stores = [s for s in org.stores_of[key.project_id] if s.created_at <= ts]
    n = _requests(rng, 4)
    if not stores:
        return None  # nothing to search yet
    return (*_who(key), rng.choice(stores).id), (n,)


def _bill_file_search(dims: tuple[Any, ...], counts: tuple[int, ...]) -> list[CostItem]:
    return [_item("file search tool calls", counts[0], prices.FILE_SEARCH_CALL)]


_CONTEXT_LEVELS = Mix(("low", "medium", "high"), (0.3, 0.85, 1.0))


def _draw_web_search(
    rng: random.Random, org: Organization, key: ApiKey, ts: int
) -> tuple[tuple[Any, ...], tuple[int, ...]]:
    model = _model(rng, org, "web_search_calls", key)
    n = _requests(rng, 3)
    searches = n + rng.randint(0, n)
    return (*_who(key), model, _CONTEXT_LEVELS.draw(rng)), (n, searches)


def _bill_web_search(dims: tuple[Any, ...], counts: tuple[int, ...]) -> list[CostItem]:
    level = dims[4]
    line_item = f"web search tool calls, {level} context"
    return [_item(line_item, counts[1], prices.WEB_SEARCH_CALL[level])]


_WHO = ("project_id", "user_id", "api_key_id")
_COMPLETIONS_COUNTS = (
    "input_tokens",
    "input_cached_tokens",
    "input_cache_write_tokens",
    "input_uncached_tokens",
    "output_tokens",
    "input_text_tokens",
    "output_text_tokens",
    "input_cached_text_tokens",
    "input_audio_tokens",
    "input_cached_audio_tokens",
    "output_audio_tokens",
    "input_image_tokens",
    "input_cached_image_tokens",
    "output_image_tokens",
    "num_model_requests",
)

TRAFFIC: Mapping[str, Traffic] = MappingProxyType(
    {
        t.endpoint: t
        for t in (
            Traffic(
                "completions",
                8.0,
                (*_WHO, "model", "batch", "service_tier"),
                _COMPLETIONS_COUNTS,
                _draw_completions,
                _bill_completions,
                models=tuple(prices.COMPLETIONS_PRICES),
            ),
            Traffic(
                "embeddings",
                3.0,
                (*_WHO, "model"),
                ("input_tokens", "num_model_requests"),
                _draw_tokens("embeddings", 50, 2000, 8),
                _bill_by_model(prices.EMBEDDINGS_PRICES, "input"),
                models=tuple(prices.EMBEDDINGS_PRICES),
            ),
            Traffic(
                "moderations",
                1.5,
                (*_WHO, "model"),
                ("input_tokens", "num_model_requests"),
                _draw_tokens("moderations", 20, 600, 4),
                _bill_nothing,
                models=("omni-moderation-latest", "text-moderation-latest"),
            ),
            Traffic(
                "images",
                0.8,
                (*_WHO, "model", "size", "source"),
                ("images", "num_model_requests"),
                _draw_images,
                _bill_images,
                models=tuple(_IMAGE_SOURCES),
            ),
            Traffic(
                "audio_speeches",
                0.6,
                (*_WHO, "model"),
                ("characters", "num_model_requests"),
                _draw_tokens("audio_speeches", 50, 3000, 2),
                _bill_by_model(prices.AUDIO_SPEECH_PRICES, "characters"),
                models=tuple(prices.AUDIO_SPEECH_PRICES),
            ),
            Traffic(
                "audio_transcriptions",
                0.6,
                (*_WHO, "model"),
                ("seconds", "num_model_requests"),
                _draw_tokens("audio_transcriptions", 5, 600, 2),
                _bill_by_model(prices.TRANSCRIPTION_PRICES, "seconds"),
                models=tuple(prices.TRANSCRIPTION_PRICES),
            ),
            Traffic(
                "code_interpreter_sessions",
                0.7,
                _WHO,
                ("num_sessions",),
                _draw_sessions,
                _bill_sessions,
            ),
            Traffic(
                "file_search_calls",
                1.2,
                (*_WHO, "vector_store_id"),
                ("num_requests",),
                _draw_file_search,
                _bill_file_search,
                needs_vector_store=True,
            ),
            Traffic(
                "web_search_calls",
                1.0,
                (*_WHO, "model", "context_level"),
                ("num_model_requests", "num_requests"),
                _draw_web_search,
                _bill_web_search,
                models=("gpt-4o-2024-08-06", "gpt-4o-mini-2024-07-18"),
            ),
        )
    }
)
"""The counter endpoints' traffic, by endpoint name (``vector_stores`` is a gauge: see
:meth:`VectorStore.usage_bytes`; ``costs`` is billed from these events)."""


GIB = 1 << 30
MICRO = 10**6


def storage_item(store: VectorStore, hour: int) -> CostItem | None:
    """The storage line item of one vector store for the hour starting at ``hour``."""
    size = store.usage_bytes(hour)
    if not size:
        return None
    gib_hours = (size * MICRO * 2 + GIB) // (2 * GIB)  # in 1e-6 GiB-hours, rounded half up
    cost = prices.STORAGE.nanodollars(size, scale=GIB)
    return CostItem("vector store storage", gib_hours, cost, prices.STORAGE.quantity_unit, MICRO)
