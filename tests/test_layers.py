"""The package's layering: imports go to the same or a lower layer, no import-time cycles, no
private names imported across modules.

Every ``import`` of every module under ``src/clipscale`` is read with :mod:`ast`, including
imports inside functions (a lazy import is still a dependency); imports under
``if TYPE_CHECKING:`` are exempt (they never run). The layer table follows the design notes
(``docs/contributing.md``); a new module must be given a layer here.
"""

from __future__ import annotations

import ast
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "clipscale"

#: layer of each module or package (the longest matching dotted prefix wins)
LAYERS: dict[str, int] = {
    "_version": 0,
    "exceptions": 0,
    "_linalg": 0,
    "losses": 1,
    "forms": 1,
    "data": 1,
    "frontier": 1,
    "datasets": 1,
    "_output": 1,
    "_engine": 2,
    "fitting": 3,
    "results": 3,
    "_render": 3,
    "_bands": 3,
    "bootstrap": 4,
    "_uncertainty": 4,
    "backtest": 4,
    "groups": 4,
    "allocation": 4,
    "compare": 4,
    "plotting": 5,
    "reproduce": 5,
    "cli": 6,
}
#: the public facade: may import anything, and nothing of ours may import it
FACADE = ("__init__", "__main__")
FACADE_LAYER = 7
#: the one documented upward call: ``FitResult.bootstrap()`` imports the bootstrap
ALLOWED_UPWARD = {("results", "bootstrap")}


@dataclass(frozen=True)
class Import:
    source: str  # dotted module name inside the package, e.g. "_engine.grid"
    target: str  # dotted module the import resolves to ("" is the package itself)
    name: str | None  # a name taken from ``target`` (``from target import name``), if any
    top_level: bool  # runs when the module is imported (not inside a function)
    line: int


def _modules(root: Path) -> dict[str, Path]:
    """Dotted names (relative to the package, ``__init__`` for the package itself) to files."""
    out = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__" and len(parts) > 1:
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def _is_package(root: Path, dotted: str) -> bool:
    return dotted in ("", "__init__") or (root / Path(*dotted.split("."))).is_dir()


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(root: Path, package: str, dotted: str, path: Path) -> list[Import]:
    """Every import of one module that names a module of ``package``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    here = [] if dotted == "__init__" else dotted.split(".")
    # the package a relative import starts from
    base = here if _is_package(root, dotted) else here[:-1]
    modules = _modules(root)
    out: list[Import] = []

    def resolve(target: list[str], name: str | None) -> tuple[str, str | None]:
        if name is not None and ".".join([*target, name]) in modules:
            return ".".join([*target, name]), None  # ``from pkg import module``
        return ".".join(target), name

    def visit(node: ast.AST, top: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child.test):
                for sub in child.orelse:
                    visit(sub, top)
                continue
            if isinstance(child, ast.Import):
                for alias in child.names:
                    parts = alias.name.split(".")
                    if parts[0] == package:
                        out.append(Import(dotted, ".".join(parts[1:]), None, top, child.lineno))
            elif isinstance(child, ast.ImportFrom):
                if child.level:
                    start = base[: len(base) - (child.level - 1)] if child.level > 1 else base
                    target = start + (child.module.split(".") if child.module else [])
                elif child.module and child.module.split(".")[0] == package:
                    target = child.module.split(".")[1:]
                else:
                    continue
                for alias in child.names:
                    mod, name = resolve(target, alias.name)
                    out.append(Import(dotted, mod, name, top, child.lineno))
            inside = top and not isinstance(
                child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)
            )
            visit(child, inside)

    visit(tree, True)
    return out


def layer_of(dotted: str) -> int | None:
    """Layer of a module (``None`` if the table does not know it)."""
    if dotted in ("", *FACADE):
        return FACADE_LAYER
    parts = dotted.split(".")
    for i in range(len(parts), 0, -1):
        if ".".join(parts[:i]) in LAYERS:
            return LAYERS[".".join(parts[:i])]
    return None


def _top(dotted: str) -> str:
    return dotted.split(".")[0]


def check(root: Path, package: str) -> dict[str, list[str]]:
    """Layering problems of the package at ``root``: upward imports, unknown modules,
    private names imported across modules, import-time cycles."""
    modules = _modules(root)
    problems: dict[str, list[str]] = {"upward": [], "unknown": [], "private": [], "cycles": []}
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for dotted, path in modules.items():
        for imp in _imports(root, package, dotted, path):
            where = f"{dotted}:{imp.line} imports {imp.target or package}"
            if imp.name:
                where += f".{imp.name}"
            if imp.name and imp.name.startswith("_") and not imp.name.startswith("__"):
                if imp.target != dotted:
                    problems["private"].append(where)
            if imp.top_level and imp.target in modules and imp.target != dotted:
                graph[dotted].add(imp.target)
            if dotted in FACADE or _top(dotted) == _top(imp.target):
                continue  # the facade, and imports inside one package or module
            src, dst = layer_of(dotted), layer_of(imp.target)
            if src is None or dst is None:
                problems["unknown"].append(where)
            elif dst > src and (_top(dotted), _top(imp.target)) not in ALLOWED_UPWARD:
                problems["upward"].append(f"{where} (layer {src} -> {dst})")
    problems["cycles"] = _cycles(graph)
    return problems


def _cycles(graph: dict[str, set[str]]) -> list[str]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[str] = []

    def strong(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for u in graph.get(v, ()):
            if u not in index:
                strong(u)
                low[v] = min(low[v], low[u])
            elif u in on:
                low[v] = min(low[v], index[u])
        if low[v] == index[v]:
            comp = []
            while True:
                u = stack.pop()
                on.discard(u)
                comp.append(u)
                if u == v:
                    break
            if len(comp) > 1:
                out.append(" <-> ".join(sorted(comp)))

    for v in sorted(graph):
        if v not in index:
            strong(v)
    return out


# --------------------------------------------------------------------------- the package
@pytest.fixture(scope="module")
def problems() -> dict[str, list[str]]:
    return check(SRC, "clipscale")


def test_every_module_has_a_layer(problems: dict[str, list[str]]) -> None:
    assert problems["unknown"] == []


def test_imports_go_down(problems: dict[str, list[str]]) -> None:
    assert problems["upward"] == []


def test_no_import_time_cycle(problems: dict[str, list[str]]) -> None:
    assert problems["cycles"] == []


def test_no_private_names_across_modules(problems: dict[str, list[str]]) -> None:
    assert problems["private"] == []


# --------------------------------------------------------------------------- the checker
def _package(tmp_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / "pkg"
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
    return root


def test_checker_reports_what_it_should(tmp_path: Path) -> None:
    root = _package(
        tmp_path,
        {
            "__init__.py": "from .fitting import fit\n",
            "_linalg.py": "import numpy\n",
            "losses.py": "from . import _linalg\n",
            "forms/__init__.py": "from ._base import Form\n",  # inside one package: fine
            "forms/_base.py": """
                from typing import TYPE_CHECKING
                if TYPE_CHECKING:
                    from ..fitting import fit  # exempt: never runs
                def guess():
                    from ..fitting import initial_guess  # lazy, still upward
                """,
            "_engine/__init__.py": "",
            "_engine/grid.py": "from ..losses import _private_helper\nfrom . import solve\n",
            "_engine/solve.py": "from .grid import grid_starts\n",
            "fitting.py": "from ._engine import grid\nimport pkg.results\n",
            "results.py": """
                def bootstrap():
                    from .bootstrap import run  # the one allowed upward call
                """,
            "bootstrap.py": "from .results import x\n",
            "mystery.py": "",
        },
    )
    found = check(root, "pkg")
    assert found["upward"] == [
        "forms._base:6 imports fitting.initial_guess (layer 1 -> 3)",
    ]
    assert found["private"] == ["_engine.grid:1 imports losses._private_helper"]
    assert found["cycles"] == ["_engine.grid <-> _engine.solve"]
    assert found["unknown"] == []  # mystery imports nothing and nothing imports it
    root2 = _package(tmp_path / "b", {"__init__.py": "", "data.py": "from .mystery import y\n"})
    assert check(root2, "pkg")["unknown"] == ["data:1 imports mystery.y"]


def test_layer_table() -> None:
    assert layer_of("_engine.grid") == 2
    assert layer_of("forms.power") == 1
    assert layer_of("plotting._common") == 5
    assert layer_of("cli.fit") == 6
    assert layer_of("") == FACADE_LAYER
