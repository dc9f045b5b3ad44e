"""No import cycles inside the ``trufor`` package.

The graph is built from the source with :mod:`ast` (nothing is imported). Its rule:

* a node is a module of ``src/trufor`` (a package is its ``__init__``);
* an edge ``a -> b`` is an import statement of ``a`` that runs when ``a`` is imported: at module
  level, also inside ``try``/``if``/``with`` blocks and class bodies, but not inside
  ``if TYPE_CHECKING:`` (never run) and not inside functions (run when called, once every module
  is loaded; a deferred import is the usual way to break a cycle on purpose);
* ``from P import name`` points to ``P.name`` when that is a module, else to ``P``; ``import P.Q``
  points to ``P.Q``. The parent packages that Python imports first are not edges (otherwise every
  package ``__init__`` that imports its own submodules would be a cycle).

A cycle is a strongly connected component of more than one module, or a module importing itself.
:data:`KNOWN_CYCLES` would list the accepted ones (none today). The training package is held to a
stricter rule: no cycle even when the imports inside functions count (its loop, phases and
checkpoint format used to import each other that way).
"""

from __future__ import annotations

import ast
from pathlib import Path

import trufor

PACKAGE = Path(trufor.__file__).resolve().parent

#: Cycles accepted for now, as sorted tuples of module names, each with the reason. None today.
KNOWN_CYCLES: dict[tuple[str, ...], str] = {}


def modules() -> dict[str, tuple[Path, bool]]:
    """Module name -> (file, is a package)."""
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        is_pkg = parts[-1] == "__init__"
        if is_pkg:
            parts = parts[:-1]
        found[".".join(parts)] = (path, is_pkg)
    return found


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def import_graph(*, deferred: bool = False) -> dict[str, set[str]]:
    """Module -> the modules it imports (see the module docstring); ``deferred``: count the imports
    inside functions too."""
    mods = modules()

    def target(mod: str, is_pkg: bool, level: int, name: str | None) -> str:
        if not level:
            return name or ""
        base = mod.split(".") if is_pkg else mod.split(".")[:-1]
        base = base[:len(base) - (level - 1)]
        return ".".join(base + ([name] if name else []))

    def deepest(name: str) -> str | None:
        while name and name not in mods:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {}
    for mod, (path, is_pkg) in mods.items():
        edges: set[str] = set()

        def visit(body: list[ast.stmt]) -> None:
            for node in body:
                if isinstance(node, ast.Import):
                    for alias in node.names:
                        if alias.name.split(".")[0] == "trufor" and (hit := deepest(alias.name)):
                            edges.add(hit)
                elif isinstance(node, ast.ImportFrom):
                    base = target(mod, is_pkg, node.level, node.module)
                    if base.split(".")[0] != "trufor":
                        continue
                    for alias in node.names:
                        sub = f"{base}.{alias.name}"
                        hit = sub if sub in mods else deepest(base)
                        if hit:
                            edges.add(hit)
                elif isinstance(node, ast.If):
                    if not _is_type_checking(node.test):
                        visit(node.body)
                    visit(node.orelse)
                elif isinstance(node, ast.Try):
                    visit(node.body)
                    for handler in node.handlers:
                        visit(handler.body)
                    visit(node.orelse)
                    visit(node.finalbody)
                elif isinstance(node, (ast.With, ast.For, ast.While)):
                    visit(node.body)
                elif isinstance(node, ast.ClassDef):
                    visit(node.body)
                elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and deferred:
                    for inner in ast.walk(node):
                        if isinstance(inner, (ast.Import, ast.ImportFrom)):
                            visit([inner])

        visit(ast.parse(path.read_text(encoding="utf-8"), str(path)).body)
        graph[mod] = edges
    return graph


def cycles(graph: dict[str, set[str]]) -> list[tuple[str, ...]]:
    """The strongly connected components of more than one module (or with a self-import), sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[tuple[str, ...]] = []

    def connect(v: str) -> None:  # Tarjan's algorithm
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1 or v in graph.get(v, ()):
                found.append(tuple(sorted(component)))

    for v in sorted(graph):
        if v not in index:
            connect(v)
    return sorted(found)


def test_the_graph_sees_the_imports():
    graph = import_graph()
    assert "trufor.training.checkpoint" in graph["trufor.training.loop"]
    assert "trufor.errors" in graph["trufor.masks"]
    assert "trufor.training.config" in graph["trufor.training.phases"]
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": {"e"}}) == [("a", "b", "c"), ("e",)]


def test_no_import_cycle_in_the_package():
    found = {c for c in cycles(import_graph()) if c not in KNOWN_CYCLES}
    assert not found, "import cycles (see this test's docstring for the rule): " + "; ".join(
        " <-> ".join(c) for c in sorted(found))


def test_no_import_cycle_in_training_even_through_deferred_imports():
    found = [c for c in cycles(import_graph(deferred=True)) if any(m.startswith("trufor.training") for m in c)]
    assert not found, found
