"""The import layers hold (issue 15): core never reaches up, components never reach across,
and no two modules import each other at module level.

Layers, bottom to top: core (``capture.*`` except the application modules), components
(``spiders``, ``pipelines``, ``middlewares``, ``feeds``), application (the modules in
:data:`APPLICATION`, which may import anything). The graph is read from the source with ``ast``,
not by importing it, so an import inside a function counts for the layer rules just as one at
module level does; only module-level imports can form an import-time cycle, so those alone are
searched for cycles (Tarjan's strongly connected components). ``if TYPE_CHECKING:`` imports
never run: they count for the layers (a type is a dependency too) but not for cycles.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("capture", "spiders", "pipelines", "middlewares", "feeds")
COMPONENTS = ("spiders", "pipelines", "middlewares", "feeds")
APPLICATION = (
    "capture.cli",
    "capture.commands",
    "capture.run",
    "capture.spiderloader",
    "capture.domains",
    "capture.__main__",
)
# capture.settings is core: the defaults of every setting, plain values (it imports only os and
# the version), read by CaptureSettings; what it names (pipelines, middlewares) are strings.
#: Component -> the components it must not import.
ACROSS = {
    "spiders": {"pipelines", "middlewares"},
    "pipelines": {"spiders"},
    "middlewares": {"spiders"},
    "feeds": {"spiders"},
}
CORE, COMPONENT, APP = 0, 1, 2
LAYER_NAMES = {CORE: "core", COMPONENT: "components", APP: "application"}


@dataclass(frozen=True)
class Import:
    """One import statement's edge: ``source`` imports ``target`` at ``path:line``."""

    source: str
    target: str
    path: str
    line: int
    module_level: bool  # runs when ``source`` is imported (not in a function or TYPE_CHECKING)

    def __str__(self) -> str:
        where = "" if self.module_level else " (inside a function or TYPE_CHECKING)"
        return f"{self.path}:{self.line}: {self.source} imports {self.target}{where}"


def module_files(root: Path = ROOT) -> dict[str, Path]:
    """Every module of the five packages, by dotted name (a package is its ``__init__``)."""
    found: dict[str, Path] = {}
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _statements(tree: ast.AST, module_level: bool = True) -> Iterator[tuple[ast.stmt, bool]]:
    """Import statements with whether they run at import time (class bodies do, functions
    and ``if TYPE_CHECKING:`` bodies do not)."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node, module_level
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            yield from _statements(node, False)
        elif isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.body:
                yield from _statements(ast.Module(body=[child], type_ignores=[]), False)
            for child in node.orelse:
                yield from _statements(ast.Module(body=[child], type_ignores=[]), module_level)
        else:
            yield from _statements(node, module_level)


def imports_of(name: str, path: Path, modules: Iterable[str], root: Path = ROOT) -> list[Import]:
    """The project modules ``name`` imports. ``from pkg import sub`` is an edge to ``pkg`` and
    to ``pkg.sub`` (when that is a module): it runs pkg's ``__init__`` too, so a submodule that
    imports names from its own package closes a loop through the ``__init__``."""
    known = set(modules)
    is_package = path.name == "__init__.py"
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    rel = str(path.relative_to(root))
    edges: list[Import] = []
    for node, module_level in _statements(tree):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        else:
            assert isinstance(node, ast.ImportFrom)
            base = node.module or ""
            if node.level:
                anchor = name.split(".")
                anchor = anchor if is_package else anchor[:-1]
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            # ``from pkg import sub`` runs pkg's __init__ first, then sub: an edge to both
            targets = [
                base,
                *(f"{base}.{a.name}" for a in node.names if f"{base}.{a.name}" in known),
            ]
        for target in targets:
            if target.split(".")[0] not in PACKAGES:
                continue
            while target not in known and "." in target:
                target = target.rsplit(".", 1)[0]
            if target in known and target != name:
                edges.append(Import(name, target, rel, node.lineno, module_level))
    return edges


def import_graph(root: Path = ROOT) -> list[Import]:
    """Every project-internal import of the five packages."""
    files = module_files(root)
    return [edge for name, path in files.items() for edge in imports_of(name, path, files, root)]


def layer(module: str) -> int:
    if any(module == app or module.startswith(app + ".") for app in APPLICATION):
        return APP
    return COMPONENT if module.split(".")[0] in COMPONENTS else CORE


def layer_violations(edges: Iterable[Import]) -> list[str]:
    """Imports that reach up a layer, or across between components that must not meet."""
    bad = []
    for edge in edges:
        src, dst = layer(edge.source), layer(edge.target)
        if dst > src:
            bad.append(f"{edge}: {LAYER_NAMES[src]} must not import {LAYER_NAMES[dst]}")
        elif src == dst == COMPONENT:
            a, b = edge.source.split(".")[0], edge.target.split(".")[0]
            if b in ACROSS.get(a, set()):
                bad.append(f"{edge}: {a} must not import {b}")
    return bad


def strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's strongly connected components with more than one member, sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
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

    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 10 * len(graph) + 100))
    try:
        for node in sorted(graph):
            if node not in index:
                visit(node)
    finally:
        sys.setrecursionlimit(limit)
    return sorted(found)


def cycles(edges: Iterable[Import]) -> list[str]:
    """Each module-level import cycle, as the imports that close it."""
    runtime = [edge for edge in edges if edge.module_level]
    graph: dict[str, set[str]] = {}
    for edge in runtime:
        graph.setdefault(edge.source, set()).add(edge.target)
    messages = []
    for component in strongly_connected(graph):
        members = set(component)
        inside = sorted(
            {str(e) for e in runtime if e.source in members and e.target in members},
        )
        messages.append(
            f"import cycle between {', '.join(component)}:\n    " + "\n    ".join(inside)
        )
    return messages


def package_of(module: str, files: dict[str, Path]) -> str:
    """The package a module counts under for package-level loops: ``capture.catalog``,
    ``spiders`` ...; ``capture`` for the core's top-level modules, while each top-level
    application module (``capture.spiderloader``) counts on its own."""
    parts = module.split(".")
    if parts[0] == "capture" and len(parts) > 1:
        sub = f"capture.{parts[1]}"
        if sub in files and files[sub].name == "__init__.py":
            return sub
        return sub if layer(sub) == APP else "capture"
    return parts[0]


def package_loops(edges: Iterable[Import], root: Path = ROOT) -> list[list[str]]:
    """Package-level loops (every import counts, also inside functions)."""
    files = module_files(root)
    graph: dict[str, set[str]] = {}
    for edge in edges:
        a, b = package_of(edge.source, files), package_of(edge.target, files)
        if a != b:
            graph.setdefault(a, set()).add(b)
    return strongly_connected(graph)


def test_layer_rules_hold() -> None:
    bad = layer_violations(import_graph())
    assert not bad, "layer rule broken:\n" + "\n".join(bad)


def test_no_module_level_import_cycle() -> None:
    found = cycles(import_graph())
    assert not found, "\n".join(found)


def test_format_readers_depend_on_nothing_else_in_the_project() -> None:
    """capture.formats sits at the bottom: spiders, scorers and the catalog read formats
    through it, and it reads bytes, never the crawl's services."""
    outside = [
        str(e)
        for e in import_graph()
        if e.source.startswith("capture.formats") and not e.target.startswith("capture.formats")
    ]
    assert not outside, "\n".join(outside)


def test_package_loops_stay_inside_the_core() -> None:
    """Packages may still import each other within the core (every import counts here, also
    inside functions), never across layers."""
    crossing = [loop for loop in package_loops(import_graph()) if any(layer(p) for p in loop)]
    assert not crossing, crossing


def test_the_checks_catch_a_violation(tmp_path: Path) -> None:
    """A planted upward import and a planted cycle are both reported, naming the import."""
    for package in PACKAGES:
        (tmp_path / package).mkdir()
        (tmp_path / package / "__init__.py").write_text("")
    (tmp_path / "capture" / "a.py").write_text("from capture import b\n")
    (tmp_path / "capture" / "b.py").write_text("import capture.a\n")
    (tmp_path / "capture" / "c.py").write_text("def f():\n    from pipelines import base\n")
    (tmp_path / "pipelines" / "base.py").write_text("from capture.c import f\n")
    (tmp_path / "spiders" / "x.py").write_text("from pipelines.base import f\n")
    edges = import_graph(tmp_path)
    bad = layer_violations(edges)
    assert any("capture/c.py:2: capture.c imports pipelines.base" in b for b in bad), bad
    assert any("spiders must not import pipelines" in b for b in bad), bad
    found = cycles(edges)
    assert len(found) == 1 and "capture.a, capture.b" in found[0], found
    assert "capture/a.py:1: capture.a imports capture.b" in found[0]
    # the function-level import in capture.c does not make a cycle with pipelines.base
    assert not any("capture.c" in c for c in found)


@pytest.mark.parametrize(
    "package",
    [
        "capture.formats",
        "capture.catalog",
        "capture.transfer",
        "capture.quality",
        "spiders",
        "pipelines",
    ],
)
def test_package_imports_alone(package: str) -> None:
    """Each imports in a fresh interpreter: no hidden dependency on import order."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", f"import {package}"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
