"""The house's shape: no import cycle among the project's modules.

The layer and "imports nothing of the server" rules are import-linter contracts in
pyproject.toml (`lint-imports`, run by `make test`); cycles inside one layer are this test's.
Imports inside functions count too: a lazy import hides a cycle, it does not remove it. The
one kind allowed is where two GraphQL types name each other (a person's passages name the
person): Strawberry resolves such annotations lazily, and the construction needs one import
at call time. Each such edge is listed below with its reason.
"""

from __future__ import annotations

import importlib.util
from functools import cache

import grimp

PACKAGES = ("api", "schema", "resolvers", "realtime", "devices", "gatehouse_gate")
# (importer, imported): function-level imports allowed to close a cycle, and why.
ALLOWED_LATE_IMPORTS = {
    ("schema.people.types", "schema.scan.types"): "Person.accessLog lists GateEvents, which name their Person",
    ("schema.people.types", "schema.visits.types"): "Person.visit/hostedVisits are Visits, which name their host",
}


@cache
def _lines(module: str) -> list[str]:
    spec = importlib.util.find_spec(module)
    assert spec is not None and spec.origin is not None
    with open(spec.origin, encoding="utf-8") as f:
        return f.read().splitlines()


def _at_module_level(module: str, line_number: int) -> bool:
    line = _lines(module)[line_number - 1]
    return not line.startswith((" ", "\t"))


def _import_graph() -> dict[str, set[str]]:
    graph = grimp.build_graph(*PACKAGES, exclude_type_checking_imports=True)
    edges: dict[str, set[str]] = {m: set() for m in graph.modules}
    for importer in graph.modules:
        for imported in graph.find_modules_directly_imported_by(importer):
            details = graph.get_import_details(importer=importer, imported=imported)
            late = not any(_at_module_level(importer, d["line_number"]) for d in details)
            if not (late and (importer, imported) in ALLOWED_LATE_IMPORTS):
                edges[importer].add(imported)
    return edges


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in edges.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def test_no_module_level_import_cycle() -> None:
    cycles = _cycles(_import_graph())
    assert cycles == [], "import cycles:\n" + "\n".join(" <-> ".join(c) for c in cycles)


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
