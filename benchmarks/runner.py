"""The command line: start the page server and the workers, run, check, report.

``python -m benchmarks [--quick|--tiny] [--repeat N] [--workers K] [--only S1,S3]
[--json PATH]``. Each client runs in ``K`` worker processes of its own (default 3, at most
one per repeat), kept for all the timed scenarios: repeat ``r`` runs in worker ``r % K``,
so one process that happens to run slowly sets only some of a client's runs, not its
median. For each scenario the runner asks every worker for an untimed warm-up run, then
for the timed runs repeat by repeat, a different client first each time, so a drift of
the machine falls on every client alike. The memory scenario starts a fresh worker per
run. After each run the runner asks the server what it answered that run and checks it
(``report.check_run``); each scenario's table and targets are printed when it is done.
The exit status is 1 when a run of usage-async or the floor failed its checks (a slow
figure is a FAIL in the table, not an error); the openai baseline's failures are reported
only.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime as _dt
import importlib.util
import json
import os
import platform
import shlex
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from . import child, pacing, report, sync_scenario
from .scenarios import CLIENTS, FLOOR, OPENAI, SIZES, UA_JSON, UA_ORJSON, Scenario, scenarios
from .server import PageServer

__all__ = ["WorkerProcess", "main", "run_suite"]

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_JSON = "benchmarks/results/latest.json"


def available_clients() -> tuple[set[str], list[str]]:
    """The clients that can run here, and a note for each one that cannot."""
    found, notes = {FLOOR, UA_JSON}, []
    if importlib.util.find_spec("orjson") is not None:
        found.add(UA_ORJSON)
    else:
        notes.append(
            "usage-async (orjson) skipped: orjson is not installed (pip install -e '.[speed]')"
        )
    if importlib.util.find_spec("openai") is not None:
        found.add(OPENAI)
    else:
        notes.append("openai baseline skipped: openai is not installed (pip install -e '.[bench]')")
    return found, notes


def clients_of(scenario: Scenario, available: set[str]) -> list[str]:
    """The clients a scenario runs here, in its order."""
    chosen = [c for c in scenario.clients if c in available]
    if scenario.usage_async_once:
        first = next((c for c in chosen if c in (UA_ORJSON, UA_JSON)), None)
        chosen = [c for c in chosen if c not in (UA_ORJSON, UA_JSON) or c == first]
    return chosen


def rotated(clients: Sequence[str], turn: int) -> list[str]:
    """``clients`` starting at ``turn``: each repeat puts another client first."""
    k = turn % len(clients) if clients else 0
    return [*clients[k:], *clients[:k]]


class WorkerProcess:
    """A ``python -m benchmarks.worker`` process and its JSON-lines conversation.

    The process starts (and imports its client) at once; :meth:`connect` tells it where
    the page server is. Its stderr (the client's own warnings, a traceback) goes to a
    temporary file whose tail is shown when the worker fails. Used as a context manager,
    it is always ended.
    """

    def __init__(self, client: str, timeout: float) -> None:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
        # Cache bytecode as an installed package has it: an import compiling usage-async
        # from source at every start would cost it time and RSS that users do not pay.
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        self.client = client
        self.timeout = timeout
        self._stderr = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115 - closed in close()
        self._proc = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            [sys.executable, "-m", "benchmarks.worker", client],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
            cwd=ROOT,
            env=env,
        )
        self.hello: dict[str, Any] = {}

    def connect(self, size: str, port: int, prefix: str) -> WorkerProcess:
        """Send the size preset, the server's port and the run-key prefix; wait for ready."""
        try:
            self.hello = self._ask({"size": size, "port": port, "prefix": prefix})
        except BaseException:
            self.close()
            raise
        return self

    def __enter__(self) -> WorkerProcess:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _ask(self, message: dict[str, Any]) -> dict[str, Any]:
        try:
            answer: dict[str, Any] = child.ask(self._proc, message, self.timeout)
        except child.ChildGoneError as gone:
            raise RuntimeError(self._failure(gone.what)) from None
        return answer

    def _failure(self, what: str) -> str:
        self._stderr.seek(0)
        tail = self._stderr.read().strip().splitlines()[-12:]
        code = self._proc.poll()
        return f"worker {what} (exit code {code}):\n    " + "\n    ".join(tail)

    def timed(self, scenario: str, label: str) -> dict[str, Any]:
        """One run of ``scenario`` (``label`` ``warm`` for the warm-up)."""
        return self._ask({"run": scenario, "label": label})

    def memory(self, scenario: str) -> dict[str, Any]:
        """The memory run of ``scenario``."""
        return self._ask({"memory": scenario})

    def stop(self) -> None:
        """Close the process's input, which ends it; :meth:`close` waits for that."""
        if self._proc.stdin is not None:
            with contextlib.suppress(OSError):
                self._proc.stdin.close()

    def close(self) -> None:
        """End the process (end of input, then terminate, then kill); drop its stderr file."""
        child.end(self._proc)
        self._stderr.close()


def _machine() -> str:
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{model}, {os.cpu_count()} cores, {platform.system()} {platform.release()}"


def _git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],  # noqa: S607 - local repository only
            capture_output=True,
            text=True,
            cwd=ROOT,
            check=False,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def _shape(scenario: Scenario) -> str:
    d = scenario.dataset
    text = f"{d.streams} x {d.pages} pages x {d.buckets} buckets x {d.results} results"
    if d.latency:
        text += f", {d.latency * 1000:g} ms latency"
    if d.rate:
        text += f", {d.rate:g} req/s burst {d.burst}"
        text += f", Retry-After: {d.retry_after}" if d.retry_after else ", no Retry-After"
    return text


def _new_scenario_entry(scenario: Scenario, server: PageServer) -> dict[str, Any]:
    info = server.datasets[scenario.dataset.name]
    return {
        "title": scenario.title,
        "kind": scenario.kind,
        "shape": _shape(scenario),
        "dataset": dataclasses.asdict(scenario.dataset),
        "page_bytes": info["page_bytes_mean"],
        "bound_s": scenario.bound_s,
        "clients": {},
    }


def _record_run(
    entry: dict[str, Any],
    scenario: Scenario,
    worker: WorkerProcess,
    run: dict[str, Any],
    server: PageServer,
    server_cpu: float,
) -> None:
    """Attach the server's counts to a run, check it, and file it under its client."""
    dataset = scenario.warmup_dataset if run["warmup"] else scenario.dataset
    counts = server.stats([(dataset.name, run["run"])])[0]
    run.update(counts)
    run["server_cpu_s"] = server_cpu
    run["problems"] = report.check_run(
        run, server.datasets[dataset.name], dataset.total_pages, counts
    )
    if scenario.kind == "memory" and not run.get("memory_supported"):
        run["problems"].append("no /proc/self/clear_refs here: peak RSS not measured")
    run["figures"] = report.run_figures(run, dataset.total_pages, scenario.bound_s)
    client = entry["clients"].setdefault(
        worker.client,
        {"label": CLIENTS[worker.client], "runs": [], "warmups": [], "workers": []},
    )
    if worker.hello not in client["workers"]:
        client["workers"].append(worker.hello)
    (client["warmups"] if run["warmup"] else client["runs"]).append(run)


def _finish_scenario(entry: dict[str, Any]) -> None:
    """Summaries (median, min, max of each figure) and the page server's load."""
    server_cpu = requests = 0.0
    busy = []
    for client in entry["clients"].values():
        runs = client["runs"]
        client["failed_runs"] = sum(1 for r in runs if r["problems"]) + len(
            client.get("errors", [])
        )
        client["failed_warmups"] = sum(1 for r in client["warmups"] if r["problems"])
        keys = {k for r in runs for k in r["figures"]}
        client["summary"] = {
            k: report.summarize([r["figures"].get(k) for r in runs]) for k in sorted(keys)
        }
        for run in runs + client["warmups"]:
            server_cpu += run["server_cpu_s"]
            requests += run["requests"]
            if run["wall_s"] > 0:
                busy.append(run["server_cpu_s"] / run["wall_s"])
    if requests:
        entry["server"] = {
            "cpu_per_request_us": 1e6 * server_cpu / requests,
            "busy_share_max": max(busy),
        }


def _measure(
    entry: dict[str, Any],
    scenario: Scenario,
    worker: WorkerProcess,
    server: PageServer,
    label: str,
) -> None:
    """One run of one worker, filed; a failing worker is recorded and re-raised."""
    cpu = server.cpu()
    try:
        run = worker.memory(scenario.id) if label == "mem" else worker.timed(scenario.id, label)
    except RuntimeError as exc:
        client = entry["clients"].setdefault(
            worker.client,
            {"label": CLIENTS[worker.client], "runs": [], "warmups": [], "workers": []},
        )
        client.setdefault("errors", []).append(f"{label}: {exc}")
        raise
    _record_run(entry, scenario, worker, run, server, server.cpu() - cpu)


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Benchmark usage-async against a raw aiohttp floor and the openai SDK.",
    )
    sizes = parser.add_mutually_exclusive_group()
    sizes.add_argument("--quick", action="store_true", help="smaller sizes (about a fifth)")
    sizes.add_argument("--tiny", action="store_true", help="smoke-test sizes: checks counts only")
    parser.add_argument(
        "--repeat", type=int, default=5, help="timed runs per job (default 5; at least 3)"
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=3,
        help="worker processes per client, used in turn (default 3; at most one per repeat)",
    )
    parser.add_argument(
        "--only", default="", help="scenario ids, e.g. S1,S3; or pacing (the matrix)"
    )
    parser.add_argument(
        "--jobs",
        type=int,
        default=12,
        help="pacing matrix: 50/s, then virtual, tasks at once (default 12)",
    )
    parser.add_argument(
        "--json", default=DEFAULT_JSON, help=f"raw figures (default {DEFAULT_JSON})"
    )
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    if args.workers < 1:
        parser.error("--workers must be at least 1")
    if args.jobs < 1:
        parser.error("--jobs must be at least 1")
    args.argv = list(sys.argv[1:] if argv is None else argv)
    return args


def run_suite(args: argparse.Namespace, out: Any = sys.stdout) -> dict[str, Any]:
    """Run the suite as ``args`` says, print as it goes, and return the results."""
    size = "tiny" if args.tiny else "quick" if args.quick else "full"
    found = scenarios(size)
    wanted = [w.strip().upper() for w in args.only.split(",") if w.strip()]
    unknown = [w for w in wanted if w not in {k.upper() for k in found} | {"SYNC"}]
    if unknown:
        known = ", ".join([*found, "SYNC"])
        raise SystemExit(f"unknown scenario(s) {', '.join(unknown)}; known: {known}")
    selected = [s for s in found.values() if not wanted or s.id.upper() in wanted]
    available, notes = available_clients()
    if args.repeat < 3:
        notes.append(f"--repeat {args.repeat}: the issue asks for at least 3 runs")
    for note in notes:
        print(f"note: {note}", file=out)
    timeout = 120.0 if size == "tiny" else 900.0
    n_workers = min(args.workers, args.repeat)
    datasets = {d.name: d for s in selected for d in (s.dataset, s.warmup_dataset)}
    started = time.perf_counter()
    results: dict[str, Any] = {
        "meta": {
            "command": " ".join(["python -m benchmarks", *map(shlex.quote, args.argv)]),
            "size": size,
            "sizes": SIZES[size],
            "repeat": args.repeat,
            "workers": n_workers,
            "machine": _machine(),
            "python": platform.python_version(),
            "commit": _git_commit(),
            "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "notes": notes,
        },
        "scenarios": {},
        "errors": [],
    }
    timed = {c for s in selected if s.kind != "memory" for c in clients_of(s, available)}
    print(f"rendering {len(datasets)} datasets in the page server ({size} sizes)...", file=out)
    with contextlib.ExitStack() as stack:
        # Start the workers first: they import their clients while the server renders.
        starting = {
            (c, k): stack.enter_context(WorkerProcess(c, timeout))
            for c in CLIENTS
            if c in timed
            for k in range(n_workers)
        }
        server = stack.enter_context(PageServer(list(datasets.values())))
        for process in starting.values():  # on exit, all end at once, then each is waited for
            stack.callback(process.stop)
        print(f"page server on 127.0.0.1:{server.port}", file=out)
        workers: dict[tuple[str, int], WorkerProcess | None] = {}
        for (client, k), process in starting.items():
            try:
                workers[client, k] = process.connect(size, server.port, f"{client}-t{k}")
            except RuntimeError as exc:
                results["errors"].append(f"{CLIENTS[client]} worker {k} did not start: {exc}")
                print(f"ERROR {results['errors'][-1]}", file=out)
                workers[client, k] = None

        for scenario in selected:
            t0 = time.perf_counter()
            entry = _new_scenario_entry(scenario, server)
            clients = clients_of(scenario, available)
            if scenario.kind == "memory":
                for turn in range(args.repeat):
                    for client in rotated(clients, turn):
                        prefix = f"{client}-m{turn}"
                        try:
                            with WorkerProcess(client, timeout) as w:
                                w.connect(size, server.port, prefix)
                                _measure(entry, scenario, w, server, "mem")
                        except RuntimeError as exc:
                            results["errors"].append(f"{scenario.id} {CLIENTS[client]}: {exc}")
                            print(f"ERROR {results['errors'][-1]}", file=out)
            else:
                # Every worker warms up, then repeat r runs in worker r % n_workers.
                jobs = [(k, k, "warm") for k in range(n_workers)]
                jobs += [(n_workers + r, r % n_workers, f"r{r}") for r in range(args.repeat)]
                for turn, k, label in jobs:
                    for client in rotated(clients, turn):
                        worker = workers.get((client, k))
                        if worker is None:
                            continue
                        try:
                            _measure(entry, scenario, worker, server, label)
                        except RuntimeError as exc:
                            results["errors"].append(f"{scenario.id} {CLIENTS[client]}: {exc}")
                            print(f"ERROR {results['errors'][-1]}", file=out)
                            workers[client, k] = None
                            worker.close()
            _finish_scenario(entry)
            results["scenarios"][scenario.id] = entry
            targets = report.evaluate_targets(results)
            print(f"\n{report.format_scenario(scenario.id, entry)}", file=out)
            print(report.format_targets(targets, scenario.id), file=out)
            print(f"  ({time.perf_counter() - t0:.1f}s)\n", file=out)
    results["targets"] = report.evaluate_targets(results)
    if not wanted or "SYNC" in wanted:  # the simulator-backed sync scenario: its own module
        t0 = time.perf_counter()
        results["sync"] = sync_scenario.run(size, args.repeat, out)
        print(f"  ({time.perf_counter() - t0:.1f}s)\n", file=out)
        results["targets"].append(results["sync"]["target"])
        results["errors"] += [f"SYNC: {p}" for p in results["sync"]["problems"]]
    results["meta"]["seconds"] = round(time.perf_counter() - started, 1)
    return results


def failed_checks(results: dict[str, Any]) -> list[str]:
    """``scenario client`` of every usage-async or floor run that failed its checks."""
    failed = []
    for sid, entry in results["scenarios"].items():
        for client, client_entry in entry["clients"].items():
            if client == OPENAI:
                continue
            n = client_entry["failed_runs"] + client_entry["failed_warmups"]
            if n:
                failed.append(f"{sid} {CLIENTS[client]}: {n} run(s)")
    return failed


def _pacing(args: argparse.Namespace) -> int:
    """``--only pacing``: the pacing matrix (``benchmarks.pacing``), on its own."""
    argv = ["--repeat", str(args.repeat), "--jobs", str(args.jobs)]
    if args.quick or args.tiny:
        argv.append("--quick")
    if args.json != DEFAULT_JSON:
        argv += ["--json", args.json, "--markdown", str(Path(args.json).with_suffix(".md"))]
    return pacing.main(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the suite; write the JSON; return the exit status."""
    args = _parse(argv)
    wanted = {w.strip().lower() for w in args.only.split(",") if w.strip()}
    if "pacing" in wanted:
        if wanted != {"pacing"}:
            raise SystemExit("--only pacing runs on its own: python -m benchmarks --only pacing")
        return _pacing(args)
    results = run_suite(args)
    path = Path(args.json)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=1) + "\n")
    verdicts = [t["result"] for t in results["targets"]]
    counts = ", ".join(f"{verdicts.count(v)} {v}" for v in ("PASS", "FAIL", "SKIP"))
    print(f"targets: {counts}")
    failed = failed_checks(results)
    if failed or results["errors"]:
        print("runs that failed their checks: " + "; ".join(failed))
        for error in results["errors"]:
            print(f"error: {error}")
    else:
        print("checks: every run delivered every bucket once, with the exact request counts")
    print(f"raw figures: {path} ({results['meta']['seconds']}s in all)")
    return 1 if failed or results["errors"] else 0
