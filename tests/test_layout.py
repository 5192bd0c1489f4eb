"""The package's layout: imports point one way (no cycle), and nothing below the CLI imports it."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent / "usage_async"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _resolve(module: str, is_package: bool, node: ast.ImportFrom) -> list[str]:
    if node.level == 0:
        base = node.module or ""
    else:
        anchor = module.split(".")
        if not is_package:
            anchor.pop()
        anchor = anchor[: len(anchor) - (node.level - 1)]
        base = ".".join([*anchor, node.module] if node.module else anchor)
    # `from . import x` may name a submodule: count both the package and the submodule.
    return [base, *(f"{base}.{alias.name}" for alias in node.names)]


def import_graph() -> dict[str, set[str]]:
    """Every module of the package -> the package modules it imports (at any depth of its
    code, lazy imports included; ``if TYPE_CHECKING:`` blocks left out)."""
    paths = {_module_name(p): p for p in ROOT.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in paths.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        skipped: set[int] = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                skipped.update(id(n) for child in node.body for n in ast.walk(child))
        targets: set[str] = set()
        for node in ast.walk(tree):
            if id(node) in skipped:
                continue
            if isinstance(node, ast.Import):
                targets.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                targets.update(_resolve(name, path.name == "__init__.py", node))
        graph[name] = {t for t in targets if t in paths and t != name}
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}  # 1 on the path, 2 done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            # A package's __init__ re-exporting its own submodules is not a cycle of layers.
            if node.startswith(nxt + "."):
                continue
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state:
            found = visit(start)
            if found:
                return found
    return None


def test_the_package_has_no_import_cycle() -> None:
    cycle = _cycle(import_graph())
    assert cycle is None, " -> ".join(cycle or [])


def test_the_cycle_check_finds_a_cycle_it_is_given() -> None:
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


@pytest.mark.parametrize("below", ["usage_async.sync", "usage_async.testing"])
def test_nothing_below_the_command_line_imports_it(below: str) -> None:
    graph = import_graph()
    offenders = {
        module: sorted(
            t for t in targets if t == "usage_async.cli" or t.startswith("usage_async.cli.")
        )
        for module, targets in graph.items()
        if module == below or module.startswith(below + ".")
    }
    assert {m: t for m, t in offenders.items() if t} == {}


@pytest.mark.parametrize("backend", ["usage_async.sync._sqlite", "usage_async.sync._postgres"])
def test_store_back_ends_import_the_shared_types_not_the_facade(backend: str) -> None:
    imports = import_graph()[backend]
    assert "usage_async.sync._store_base" in imports
    assert "usage_async.sync.stores" not in imports


def test_query_reads_the_default_group_by_without_importing_the_client() -> None:
    graph = import_graph()
    seen: set[str] = set()
    todo = ["usage_async.sync.query"]
    while todo:
        module = todo.pop()
        if module in seen:
            continue
        seen.add(module)
        todo.extend(t for t in graph[module] if not module.startswith(t + "."))
    assert "usage_async.client" not in seen
