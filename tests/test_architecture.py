"""The packages of app/ import one way (docs/architecture.md): core at the bottom, the domains in
their order above it, the wiring (main, models, the CLI, the demo) on top. An import against the
order, or a cycle between packages, fails here and names the file."""

import ast
from collections import defaultdict
from pathlib import Path

APP = Path(__file__).resolve().parents[1] / "app"

LAYERS: list[set[str]] = [
    {"__init__", "core"},
    {"imports", "audit", "system"},
    {"reference"},
    {"accounts"},
    {"applications"},
    {"trainings", "bases"},
    {"exams"},
    {"credits", "funding"},
    {"evaluations", "committee", "reconciliation"},
    {"yearbook"},
    {"demo", "main", "models", "plugins", "__main__", "upload_client"},
]
"""Bottom first. A package may import from its own package and from lower layers only; two
packages of one layer (trainings and bases, credits and funding, evaluations and committee) do not
import each other."""

RANK = {package: rank for rank, layer in enumerate(LAYERS) for package in layer}


def _package(path: Path) -> str:
    parts = path.relative_to(APP).with_suffix("").parts
    return parts[0]


def _imports(source: str) -> set[str]:
    """The app packages ``source`` imports, at module level or inside functions."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        names: list[str] = []
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
            if node.module == "app":
                names = [f"app.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        for name in names:
            parts = name.split(".")
            if parts[0] == "app" and len(parts) > 1:
                found.add(parts[1])
    return found


def _edges() -> dict[tuple[str, str], list[str]]:
    """(importer, imported) package pairs, with the files that make each."""
    edges: dict[tuple[str, str], list[str]] = defaultdict(list)
    for path in sorted(APP.rglob("*.py")):
        importer = _package(path)
        for imported in _imports(path.read_text(encoding="utf-8")):
            is_module = (APP / imported).is_dir() or (APP / f"{imported}.py").exists()
            if imported != importer and is_module:
                edges[importer, imported].append(str(path.relative_to(APP.parent)))
    return edges


def test_every_package_has_a_layer() -> None:
    packages = {_package(path) for path in APP.rglob("*.py")}
    assert packages - RANK.keys() == set()


WIRING = LAYERS[-1]


def test_packages_import_down_the_order_only() -> None:
    against = [
        f"{importer} -> {imported} ({', '.join(files)})"
        for (importer, imported), files in _edges().items()
        if RANK[imported] >= RANK[importer] and not {importer, imported} <= WIRING
    ]
    assert against == []


def _reachable(graph: dict[str, set[str]], start: str) -> set[str]:
    seen: set[str] = set()
    todo = [start]
    while todo:
        for following in graph[todo.pop()] - seen:
            seen.add(following)
            todo.append(following)
    return seen


def test_no_cycle_between_packages() -> None:
    graph: dict[str, set[str]] = defaultdict(set)
    for importer, imported in _edges():
        graph[importer].add(imported)
    reach = {package: _reachable(graph, package) for package in list(graph)}
    cycles = sorted(
        {
            tuple(sorted(p for p in reach if p in reach[package] and package in reach[p]))
            for package in reach
            if package in reach[package]
        }
    )
    assert cycles == []


def test_the_check_sees_every_form_of_import() -> None:
    source = (
        "import app.exams.service\n"
        "from app import credits\n"
        "from app.funding.models import Expenditure\n"
        "from .sibling import x\n"
        "def later():\n"
        "    from app.trainings import service\n"
    )
    assert _imports(source) == {"exams", "credits", "funding", "trainings"}
