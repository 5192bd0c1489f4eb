"""``usage-async exporter``: scraped over HTTP and parsed with prometheus_client's own parser,
its values are ``query``'s for the ranges it states; every scrape reads the database again."""

from __future__ import annotations

import json
import socket
import sqlite3
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from report_support import FAKE, NOW, SCRIPT, usage_async

parser = pytest.importorskip("prometheus_client.parser")

Samples = dict[str, list[tuple[dict[str, str], float, Any]]]


def _query(db: str, *args: str) -> dict[str, Decimal]:
    done = usage_async("query", "--db", db, "spend", "--by", "project", *args, "--format", "json")
    assert done.returncode == 0, done.stderr
    return {r["project_id"]: Decimal(r["amount"]) for r in json.loads(done.stdout)}


@pytest.fixture(scope="module")
def fake_db(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("db") / "usage.db"
    db = f"sqlite:///{path}"
    done = usage_async("sync", *FAKE, "--since", "40d", "--db", db)
    assert done.returncode == 0, done.stderr
    return db


class Exporter:
    """A running ``usage-async exporter`` subprocess and its URL."""

    def __init__(self, *args: str) -> None:
        self.process = subprocess.Popen(  # noqa: S603 - our own console script
            [SCRIPT, "exporter", "--port", "0", *args],
            stderr=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            text=True,
        )
        assert self.process.stderr is not None
        line = self.process.stderr.readline()
        assert "serving http://" in line, line + self.process.stderr.read()
        self.url = line.split("serving ", 1)[1].strip()

    def scrape(self) -> tuple[str, Samples]:
        with urllib.request.urlopen(self.url, timeout=30) as reply:  # noqa: S310 - loopback
            text = reply.read().decode()
        samples: Samples = {}
        for family in parser.text_string_to_metric_families(text):
            for s in family.samples:
                samples.setdefault(s.name, []).append((s.labels, s.value, s.timestamp))
        return text, samples

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)
        if self.process.stderr is not None:
            self.process.stderr.close()


@pytest.fixture
def exporter(fake_db: str) -> Iterator[Exporter]:
    running = Exporter("--db", fake_db, "--now", NOW, "--budget", "1000", "--names", *FAKE)
    yield running
    running.stop()


def _by_project(samples: Samples, name: str) -> dict[str, float]:
    return {labels["project_id"]: value for labels, value, _ in samples[name]}


def _range(samples: Samples, name: str, endpoint: str) -> str:
    (value,) = [v for labels, v, _ in samples[name] if labels["endpoint"] == endpoint]
    return str(int(value))


def test_settled_costs_equal_query_over_the_range_the_scrape_states(
    exporter: Exporter, fake_db: str
) -> None:
    _, samples = exporter.scrape()
    since = _range(samples, "openai_collected_since_timestamp_seconds", "costs")
    until = _range(samples, "openai_settled_until_timestamp_seconds", "costs")
    expected = _query(fake_db, "--since", since, "--until", until)

    assert _by_project(samples, "openai_cost_total") == {k: float(v) for k, v in expected.items()}
    assert int(until) < int(_range(samples, "openai_collected_until_timestamp_seconds", "costs"))


def test_month_to_date_and_budget_use_equal_query_from_the_first_of_the_month(
    exporter: Exporter, fake_db: str
) -> None:
    _, samples = exporter.scrape()
    month = _query(fake_db, "--since", "2025-03-01")

    assert _by_project(samples, "openai_cost_month_to_date") == {
        k: float(v) for k, v in month.items()
    }
    ((labels, ratio, _),) = samples["openai_budget_used_ratio"]
    assert labels == {"budget": "organization", "currency": "usd"}
    assert ratio == float(sum(month.values()) / 1000)


def test_names_are_an_info_metric_joined_by_project_id(exporter: Exporter) -> None:
    text, samples = exporter.scrape()
    info = samples["openai_project_info"]
    names = {labels["project_id"]: labels["name"] for labels, _, _ in info}
    assert set(_by_project(samples, "openai_cost_total")) <= set(names)
    assert all(not n.startswith("proj_") for n in names.values())
    assert "# TYPE openai_project_info gauge" in text


def test_samples_carry_no_timestamps_and_no_user_or_key_labels(exporter: Exporter) -> None:
    _, samples = exporter.scrape()
    for name, found in samples.items():
        for labels, _, timestamp in found:
            assert timestamp is None, name
            assert not {"user_id", "api_key_id", "line_item"} & set(labels), name


def test_every_scrape_reads_the_database_never_adding_to_what_it_said(
    exporter: Exporter, fake_db: str
) -> None:
    _, first = exporter.scrape()
    _, second = exporter.scrape()
    assert _by_project(first, "openai_cost_total") == _by_project(second, "openai_cost_total")
    with sqlite3.connect(fake_db.removeprefix("sqlite:///")) as conn:  # a revised bucket
        (start, project, item, old) = conn.execute(
            "SELECT start_time, project_id, line_item, amount_value FROM costs"
            " WHERE settled = 1 AND project_id != '' ORDER BY start_time LIMIT 1"
        ).fetchone()
        conn.execute(
            "UPDATE costs SET amount_value = ? WHERE start_time = ? AND project_id = ?"
            " AND line_item = ?",
            (str(Decimal(old) + 1000), start, project, item),
        )
    _, third = exporter.scrape()
    before = _by_project(second, "openai_cost_total")[project]
    assert _by_project(third, "openai_cost_total")[project] == pytest.approx(before + 1000)


def test_line_items_are_a_label_only_when_asked(fake_db: str) -> None:
    running = Exporter("--db", fake_db, "--labels", "line_item")
    try:
        _, samples = running.scrape()
    finally:
        running.stop()
    labels = [set(labels) for labels, _, _ in samples["openai_cost_total"]]
    assert all(found == {"project_id", "line_item", "currency"} for found in labels)
    assert len(labels) > 20


def test_an_occupied_port_exits_2_naming_it(fake_db: str) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(  # noqa: S603 - our own console script
            [SCRIPT, "exporter", "--db", fake_db, "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert done.returncode == 2
    assert f"usage-async exporter: error: cannot listen on 127.0.0.1 port {port}" in done.stderr
    assert len(done.stderr.splitlines()) == 1


def test_a_database_that_does_not_exist_exits_2(tmp_path: Path) -> None:
    done = usage_async("exporter", "--db", f"sqlite:///{tmp_path}/nope.db")
    assert done.returncode == 2
    assert "no such database" in done.stderr


def test_without_the_prometheus_extra_the_error_names_the_install(fake_db: str) -> None:
    code = (
        "import sys; sys.modules['prometheus_client'] = None\n"
        "from usage_async.cli import main\n"
        f"sys.exit(main(['exporter', '--db', {fake_db!r}]))"
    )
    done = subprocess.run(  # noqa: S603 - this interpreter
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 2
    assert "pip install 'usage-async[prometheus]'" in done.stderr
