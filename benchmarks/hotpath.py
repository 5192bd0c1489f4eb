"""Where usage-async's CPU goes on S1 and S3: ``python -m benchmarks.hotpath``.

Three views, all in this process (the page server in its own):

1. **parts**, each timed alone with no profiler, per S1 page and per S3 request: JSON
   parse, structuring (``_convert.structure_page``), URL building (``UsageClient._url``),
   the tenacity wrapper (``AsyncRetrying.copy()`` and ``__call__`` around an attempt), the
   pacer, and the pagination generators (``iter_pages`` + ``iter_buckets``, one task per
   page) against a hand-written loop over the same fetch.
2. **end to end** against the page server: CPU per page (S1, S2) and per request (S3) of
   the floor and of usage-async.
3. **cProfile** of one usage-async run: inclusive time per call of the hot functions
   (inflated by the profiler, so read them as shares), and ``--cprofile PATH`` dumps it.

Views 1 and 3 reach into usage-async's private modules on purpose (a profile is about the
inside); when those change, the affected lines say "n/a" instead of failing.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import pstats
import statistics
import sys
import time
import timeit
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

from .clients import Tally, Workload
from .pages import render
from .scenarios import API_KEY, Dataset, base_url, scenarios
from .server import PageServer

__all__ = ["main"]

US = 1e6


def _interleaved(
    fns: dict[str, Callable[[], object]], number: int, rounds: int
) -> dict[str, float]:
    """Seconds per call of each function: the best of ``rounds`` rounds of ``number`` calls,
    the functions taking turns within each round so a drift of the machine hits them alike."""
    best = dict.fromkeys(fns, float("inf"))
    for _ in range(rounds):
        for name, fn in fns.items():
            best[name] = min(best[name], timeit.Timer(fn).timeit(number) / number)
    return best


def _async_fn(
    make: Callable[[int], Coroutine[Any, Any, None]], number: int
) -> Callable[[], object]:
    """A function running ``make(number)`` in a fresh event loop, timed per iteration."""
    return lambda: asyncio.run(make(number))


def parts(shape: Dataset, number: int, rounds: int = 7) -> dict[str, float | None]:
    """Microseconds per page of each part of usage-async's hot path, each timed alone."""
    import json

    from usage_async import UsageClient
    from usage_async.models import Page
    from usage_async.retry import RetryPolicy, build_retrying

    body = render(shape).pages[0][0]
    fns: dict[str, Callable[[], object]] = {"json.loads (floor)": lambda: json.loads(body)}
    try:
        import orjson

        fns["orjson.loads"] = lambda: orjson.loads(body)
    except ImportError:
        pass
    try:
        from usage_async import _convert, _pacing
        from usage_async._pagination import iter_buckets, iter_pages
        from usage_async._query import build_query
    except ImportError:
        return {k: v * US for k, v in _interleaved(fns, number, rounds).items()}
    loads = _convert.FAST_LOADS or _convert._json_loads  # decode_page's first parser
    structure = _convert.structure_page
    obj = loads(body)
    fns["usage-async parse (its loads)"] = lambda: loads(body)
    fns["structure_page"] = lambda: structure(obj)
    # For reference: the results alone through the generated hooks and through a default
    # cattrs converter (what _convert's docstring compares them with).
    import cattrs

    from usage_async.models import CompletionsResult

    results = [r for bucket in obj["data"] for r in bucket["results"]]
    default_converter = cattrs.Converter()
    fns["results: structure_results"] = lambda: _convert.structure_results(results)
    fns["results: default cattrs converter"] = lambda: [
        default_converter.structure(r, CompletionsResult) for r in results
    ]
    fns["decode_page (parse + structure)"] = lambda: _convert.decode_page(200, {}, body)
    client = UsageClient(api_key=API_KEY, base_url="http://127.0.0.1:1/v1")
    query = build_query(client.endpoint("completions").spec, shape.stream_params(0))
    cursor = "page_AAAAAGdGxdEiJdKOAAAAAGcqsYA="
    url = getattr(client, "_url", None)
    if url is not None:
        fns["URL building (_url)"] = lambda: url(query, cursor)
    page: Page[Any] = structure(obj)

    async def attempt(path: str, url: object) -> Page[Any]:
        return page

    retrying = build_retrying(RetryPolicy())

    async def bare(n: int) -> None:
        for _ in range(n):
            await attempt("p", None)

    async def wrapped(n: int) -> None:
        for _ in range(n):
            await retrying.copy()(attempt, "p", None)

    pacer = _pacing.make_pacer("adaptive", max_pause=RetryPolicy().max_retry_after)

    async def paced(n: int) -> None:
        for _ in range(n):
            ticket = await pacer.acquire()
            pacer.release(ticket, 200, {})

    chain = [Page(page.data, i < number - 1, f"c{i + 1}") for i in range(number)]

    async def fetch(q: object, c: str | None) -> Page[Any]:
        return chain[0 if c is None else int(c[1:])]

    async def hand_loop(n: int) -> None:
        cursor: str | None = None
        while True:
            p = await fetch(query, cursor)
            for _bucket in p.data:
                pass
            if not p.has_more:
                break
            cursor = p.next_page

    async def generators(n: int) -> None:
        async for _bucket in iter_buckets(iter_pages(fetch, query)):
            pass

    fns["(await attempt, bare)"] = _async_fn(bare, number)
    fns["(await attempt in tenacity)"] = _async_fn(wrapped, number)
    fns["pacer (acquire + observe)"] = _async_fn(paced, number)
    fns["(hand-written page loop)"] = _async_fn(hand_loop, number)
    fns["(iter_pages + iter_buckets)"] = _async_fn(generators, number)
    # Plain calls are timed ``number`` at a time; each coroutine loop makes ``number``.
    plain = {k: f for k, f in fns.items() if not k.startswith("(") and "pacer" not in k}
    loops = {k: f for k, f in fns.items() if k not in plain}
    timed = _interleaved(plain, number, rounds)
    timed.update({k: v / number for k, v in _interleaved(loops, 1, rounds).items()})
    found: dict[str, float | None] = {k: v * US for k, v in timed.items()}
    found["tenacity wrapper (difference)"] = (
        timed["(await attempt in tenacity)"] - timed["(await attempt, bare)"]
    ) * US
    found["pagination generators (difference)"] = (
        timed["(iter_pages + iter_buckets)"] - timed["(hand-written page loop)"]
    ) * US
    return found


def _variants() -> dict[str, Callable[[Workload], Coroutine[Any, Any, list[Tally]]]]:
    from .clients import floor, usage_async_client

    return {"floor": floor.run, "usage-async": usage_async_client.run}


def end_to_end(
    server: PageServer, dataset: Dataset, concurrency: int | None, repeat: int, counter: list[int]
) -> dict[str, float]:
    """Median CPU seconds per page of each variant: a warm-up each, then ``repeat`` rounds
    in which the variants take turns (a fresh client every run)."""
    variants = _variants()
    cpus: dict[str, list[float]] = {name: [] for name in variants}
    for i in range(repeat + 1):
        for name, run in variants.items():
            counter[0] += 1
            workload = Workload(
                base_url(server.port, dataset.name, f"hp{counter[0]}"),
                [dataset.stream_params(s) for s in range(dataset.streams)],
                concurrency=concurrency,
            )
            gc.collect()
            t = time.process_time()
            tallies = asyncio.run(run(workload))
            cpu = time.process_time() - t
            errors = [t.error for t in tallies if t.error]
            delivered = sum(len(t.starts) for t in tallies)
            if errors or delivered != dataset.total_pages * dataset.buckets:
                raise RuntimeError(f"{name}: incomplete run: {errors[:1]}")
            if i:  # the first round is the warm-up
                cpus[name].append(cpu)
    return {name: statistics.median(v) / dataset.total_pages for name, v in cpus.items()}


HOT = (
    ("aiohttp ClientSession._request", "aiohttp/client.py", "_request"),
    ("aiohttp ClientResponse.read", "aiohttp/client_reqrep.py", "read"),
    ("usage-async Transport.get", "usage_async/_transport.py", "get"),
    ("tenacity AsyncRetrying.__call__", "tenacity/asyncio/__init__.py", "__call__"),
    ("tenacity AsyncRetrying.iter", "tenacity/asyncio/__init__.py", "iter"),
    ("tenacity BaseRetrying.copy", "tenacity/__init__.py", "copy"),
    ("usage-async UsageClient._get", "usage_async/client.py", "_get"),
    ("usage-async UsageClient._finish", "usage_async/client.py", "_finish"),
    ("usage-async decode_page", "usage_async/_convert.py", "decode_page"),
    ("usage-async structure_page", "usage_async/_convert.py", "structure_page"),
    ("usage-async UsageClient._url", "usage_async/client.py", "_url"),
    ("usage-async iter_pages (own time)", "usage_async/_pagination.py", "iter_pages"),
    ("usage-async iter_buckets (own time)", "usage_async/_pagination.py", "iter_buckets"),
)
OWN_TIME = ("iter_pages", "iter_buckets")


def profiled(
    server: PageServer, dataset: Dataset, dump: str | None, counter: list[int]
) -> tuple[float, dict[str, float]]:
    """cProfile one usage-async run: total seconds, and inclusive seconds per page by function."""
    from .clients import usage_async_client

    def workload() -> Workload:
        counter[0] += 1
        return Workload(
            base_url(server.port, dataset.name, f"hp{counter[0]}"),
            [dataset.stream_params(s) for s in range(dataset.streams)],
        )

    asyncio.run(usage_async_client.run(workload()))
    profile = cProfile.Profile()
    profile.enable()
    asyncio.run(usage_async_client.run(workload()))
    profile.disable()
    if dump:
        profile.dump_stats(dump)
    stats: dict[Any, Any] = pstats.Stats(profile).stats  # type: ignore[attr-defined]
    total = sum(entry[2] for entry in stats.values())
    found = {}
    for label, path, name in HOT:
        seconds = 0.0
        for (filename, _line, function), entry in stats.items():
            if function == name and filename.replace("\\", "/").endswith(path):
                seconds += entry[2] if name in OWN_TIME else entry[3]
        found[label] = seconds / dataset.total_pages
    return total / dataset.total_pages, found


def _print_table(title: str, rows: Sequence[tuple[str, str]]) -> None:
    print(title)
    width = max(len(r[0]) for r in rows) + 2
    for name, value in rows:
        print(f"  {name:<{width}}{value:>16}")
    print()


def main(argv: Sequence[str] | None = None) -> None:
    """Print the three views (see the module docstring)."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.hotpath", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer pages (about a fifth)")
    parser.add_argument("--no-orjson", action="store_true", help="block orjson, as without it")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--cprofile", metavar="PREFIX", help="dump PREFIX-S1.prof, -S3.prof")
    args = parser.parse_args(argv)
    if args.no_orjson:
        sys.modules["orjson"] = None  # type: ignore[assignment]
    found = scenarios("quick" if args.quick else "full")
    s1, s2, s3 = (found[k].dataset for k in ("S1", "S2", "S3"))
    import usage_async._convert as convert  # after the block above, so it takes effect

    fast = convert.FAST_LOADS
    print(f"usage-async parses with {'orjson' if fast is not None else 'json'} first")
    print("figures in microseconds (us)\n")
    for label, shape, number in (("S1 page", s1, 20), ("S3 request", s3, 2000)):
        one = Dataset("one", 1, 1, shape.buckets, shape.results)
        rows = [(k, "n/a" if v is None else f"{v:.1f}") for k, v in parts(one, number).items()]
        _print_table(f"1. parts, alone, per {label} ({one.results * one.buckets} results)", rows)
    counter = [0]
    with PageServer([s1, s2, s3]) as server:
        for label, sid, dataset in (
            ("S1 page", "S1", s1),
            ("S2 page", "S2", s2),
            ("S3 request", "S3", s3),
        ):
            per = end_to_end(server, dataset, found[sid].concurrency, args.repeat, counter)
            floor = per["floor"]
            rows = [(k, f"{v * US:.1f} ({v / floor:.2f}x)") for k, v in per.items()]
            _print_table(f"2. end to end, median CPU per {label} (x floor)", rows)
        for sid, dataset in (("S1", s1), ("S3", s3)):
            dump = f"{args.cprofile}-{sid}.prof" if args.cprofile else None
            total, hot = profiled(server, dataset, dump, counter)
            rows = [(k, f"{v * US:.1f}") for k, v in hot.items()]
            rows.append(("(all profiled time, per page)", f"{total * US:.1f}"))
            _print_table(f"3. cProfile, inclusive us per {sid} page (profiler-inflated)", rows)


if __name__ == "__main__":
    main()
