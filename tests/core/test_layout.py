"""The layout holds: the Lambda's package has no import cycle, never reaches the editor or
the dev tools, and every feature package says what it owns (docs/architecture.md)."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.fixtures import ROOT

RUNTIME = "chalicelib"
# Never imported by what the Lambda runs: not shipped (editor), or for developers only.
OUTSIDE = ("editor", "devtools", "infra", "tests", "bench")

pytestmark = pytest.mark.no_aws


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _type_checking_only(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(tree: ast.AST, module: str, is_package: bool) -> Iterator[str]:
    """Every module ``module`` imports, at the top or inside a function (a lazy import
    still runs), except under ``if TYPE_CHECKING:`` (never at run time)."""
    pending: list[ast.AST] = [tree]
    while pending:
        node = pending.pop()
        if isinstance(node, ast.If) and _type_checking_only(node):
            pending.extend(node.orelse)
            continue
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = module if is_package else module.rpartition(".")[0]
                for _ in range(node.level - 1):
                    package = package.rpartition(".")[0]
                base = f"{package}.{base}".rstrip(".")
            yield base
            yield from (f"{base}.{alias.name}" for alias in node.names)  # `from pkg import module`
        pending.extend(ast.iter_child_nodes(node))


def _graph() -> dict[str, set[str]]:
    modules = {_module_name(path): path for path in sorted((ROOT / RUNTIME).rglob("*.py"))}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        found = set(_imports(tree, name, path.name == "__init__.py"))
        graph[name] = {target for target in found if target in modules and target != name}
        graph[name] |= {target for target in found if target.split(".")[0] in OUTSIDE}
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in graph:
                continue
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_runtime_package_has_no_import_cycle() -> None:
    assert _cycles(_graph()) == []


def test_the_cycle_finder_finds_a_cycle() -> None:
    """Guards the test above: a cycle through a lazy import, like the old aws ↔ config one."""
    aws = ast.parse("from chalicelib.core.config import get_settings\n")
    config = ast.parse("def read():\n    from chalicelib.core import aws\n")
    graph = {
        "chalicelib.core.aws": set(_imports(aws, "chalicelib.core.aws", False)),
        "chalicelib.core.config": set(_imports(config, "chalicelib.core.config", False)),
    }
    graph = {name: {target for target in targets if target in graph} for name, targets in graph.items()}
    assert _cycles(graph) == [["chalicelib.core.aws", "chalicelib.core.config"]]


def test_nothing_the_lambda_runs_imports_the_editor_or_dev_tools() -> None:
    reaching = {module: sorted(target for target in targets if target.split(".")[0] in OUTSIDE)
                for module, targets in _graph().items()}
    assert {module: targets for module, targets in reaching.items() if targets} == {}


def test_every_package_says_what_it_owns() -> None:
    for init in sorted([*(ROOT / RUNTIME).rglob("__init__.py"), *(ROOT / "editor").rglob("__init__.py")]):
        docstring = ast.get_docstring(ast.parse(init.read_text(encoding="utf-8")))
        assert docstring and len(docstring) > 40, f"{init.relative_to(ROOT)} has no docstring"
