"""The layout promises of docs/architecture.md, checked on the source: SQL only in
storage/, no arrow from storage/ or rules/ up into gateway/, and no import circle."""
from __future__ import annotations

import ast
from pathlib import Path

from tests.paths import REPO

PACKAGES = ("gateway", "rules", "storage")


def modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (REPO / package).rglob("*.py"):
            rel = path.relative_to(REPO).with_suffix("")
            if "migrations" in rel.parts:
                continue  # Alembic scripts: loaded by path, by Alembic alone
            name = ".".join(rel.parts[:-1] if rel.name == "__init__" else rel.parts)
            found[name] = path
    return found


def imports_of(path: Path, name: str, known: set[str]) -> set[str]:
    """Every module of ours this file imports, at any depth of the file (a function's
    lazy import is still an arrow in the graph)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parts + ([base] if base else []))
            targets = [base] + [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        for target in targets:
            if target in known:
                out.add(target)
    return out - {name}


def third_party(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            out.add(node.module.split(".")[0])
    return out


def graph() -> dict[str, set[str]]:
    mods = modules()
    known = set(mods)
    return {name: imports_of(path, name, known) for name, path in mods.items()}


def test_only_storage_speaks_sql():
    offenders = sorted(name for name, path in modules().items()
                       if not name.startswith("storage") and "sqlalchemy" in third_party(path))
    assert offenders == [], f"these import sqlalchemy; add the operation to storage/ instead: {offenders}"


def test_storage_and_rules_never_import_gateway():
    arrows = sorted(f"{name} -> {target}" for name, targets in graph().items()
                    if name.split(".")[0] in ("storage", "rules")
                    for target in targets if target.split(".")[0] == "gateway")
    assert arrows == []


def test_rules_import_nothing_of_storage():
    arrows = sorted(f"{name} -> {target}" for name, targets in graph().items()
                    if name.startswith("rules") for target in targets if target.startswith("storage"))
    assert arrows == []


def test_the_import_graph_has_no_circle():
    edges = graph()
    # A package's __init__ is imported with each of its modules; leave those arrows
    # (module -> its own package) out, they are not a design choice.
    edges = {name: {t for t in targets if not name.startswith(t + ".")} for name, targets in edges.items()}
    cycles = []
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for target in sorted(edges.get(node, ())):
            if state.get(target) == 1:
                cycles.append(stack[stack.index(target):] + [target])
            elif target not in state:
                visit(target)
        stack.pop()
        state[node] = 2

    for node in sorted(edges):
        if node not in state:
            visit(node)
    assert cycles == [], "import circles:\n" + "\n".join(" -> ".join(c) for c in cycles)


def test_the_checks_see_the_code():
    """The graph is read from the tree as it is: a vacuous pass would hide a regression."""
    edges = graph()
    assert "gateway.pipeline.process" in edges
    assert "gateway.pipeline.dispose" in edges["gateway.pipeline.process"]
    assert "sqlalchemy" in third_party(modules()["storage.register"])
