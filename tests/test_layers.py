"""The import graph of s1lib: no cycle between modules, and every import runs downward through the layers.

Imports inside functions count (they run too); imports under ``if TYPE_CHECKING`` do not (type hints only). A
module's import of its own package's ``__init__`` (implied by any submodule import) is not an edge.
"""

from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent / "s1lib"

LAYERS: list[set[str]] = [
    {
        "s1lib",
        "s1lib.paths",
        "s1lib.machine",
        "s1lib.progress",
        "s1lib.tables",
        "s1lib.openai_client",
        "s1lib.ngrams",
        "s1lib.versions",
        "s1lib.named",
    },
    {"s1lib.configfile", "s1lib.toy", "s1lib.device"},
    {"s1lib.precision", "s1lib.text_format", "s1lib.attention", "s1lib.viz"},
    {"s1lib.answers", "s1lib.results"},
    {"s1lib.models"},
    {"s1lib.forcing"},
    {"s1lib.backends"},
    {"s1lib.eval"},
    {"s1lib.curation", "s1lib.train", "s1lib.serve"},
    {"s1lib.batch", "s1lib.widgets", "s1lib.notebook_params"},
    {"s1lib.cli"},
    {"s1lib.benches"},
]
"""Ground floor first. A module may import its own unit and any lower layer, never a higher one or a sibling."""

ALIASES = {"s1lib.forcing.vllm_processor": "s1lib.backends.vllm_processor"}
"""Former public import paths kept for users (``vllm serve --logits-processors`` names a class by module path): each
forwards to its new home and holds nothing else, so the one upward edge it makes carries no logic."""


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(ROOT.rglob("*.py"))}


def unit(module: str) -> str:
    """The layer unit of a module: the top-level module or subpackage it belongs to."""
    return ".".join(module.split(".")[:2])


def layer_of(module: str) -> int:
    for level, units in enumerate(LAYERS):
        if unit(module) in units:
            return level
    raise AssertionError(f"{module}: its unit {unit(module)!r} is in no layer of tests/test_layers.py; add it")


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    type_only = {
        id(n)
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
        for n in ast.walk(node)
    }
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in type_only:
            continue
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "s1lib":
            submodules = {f"{node.module}.{a.name}" for a in node.names} & set(MODULES)
            found |= submodules or {node.module}
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == "s1lib"}
    return found


def graph() -> dict[str, set[str]]:
    edges = {}
    for name, path in MODULES.items():
        ancestors = {".".join(name.split(".")[:i]) for i in range(1, name.count(".") + 1)}
        if name in ALIASES or name.endswith(".__main__"):  # an alias only forwards; nothing imports an entry point
            edges[name] = set()
            continue
        edges[name] = {m for m in imports_of(path) if m in MODULES and m != name and m not in ancestors}
    return edges


@pytest.mark.parametrize("alias", sorted(ALIASES))
def test_alias_only_forwards(alias):
    """An alias module imports only its target and defines nothing but the forwarding ``__getattr__``."""
    tree = ast.parse(MODULES[alias].read_text(encoding="utf-8"))
    assert imports_of(MODULES[alias]) == {ALIASES[alias]}
    defined = [n for n in tree.body if not isinstance(n, (ast.Expr, ast.ImportFrom, ast.Import))]
    assert [getattr(n, "name", type(n).__name__) for n in defined] == ["__getattr__"]
    old, new = importlib.import_module(alias), importlib.import_module(ALIASES[alias])
    assert old.PROCESSOR_FQCN_ANY == new.PROCESSOR_FQCN_ANY


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(edges[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def test_no_import_cycle():
    assert cycles(graph()) == []


def test_imports_run_downward():
    wrong = [
        f"{m} (layer {layer_of(m)}) imports {d} (layer {layer_of(d)})"
        for m, deps in sorted(graph().items())
        for d in sorted(deps)
        if unit(d) != unit(m) and layer_of(d) >= layer_of(m)
    ]
    assert wrong == []


@pytest.mark.parametrize(
    ("edges", "expected"),
    [
        ({"a": {"b"}, "b": set()}, []),
        ({"a": {"b"}, "b": {"a"}}, [["a", "b"]]),
        ({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}, [["a", "b", "c"]]),
    ],
)
def test_the_cycle_finder_finds_cycles(edges, expected):
    assert cycles(edges) == expected


def test_the_readme_map_names_every_module():
    """The README's map of the code matches the tree: every module is named, and every name is a module."""
    readme = (ROOT.parent / "README.md").read_text(encoding="utf-8")
    start = readme.index("**Map of the code.**")
    table = readme[start : readme.index("\n## ", start)]
    named = set(re.findall(r"`([a-z_]+(?:\.py|/))`", table))
    files = {p.name for p in ROOT.rglob("*.py") if p.name not in ("__init__.py", "__main__.py")}
    folders = {f"{p.name}/" for p in ROOT.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert files - named == set(), "modules the README's map does not name"
    assert {n for n in named if n.endswith(".py")} - files == set(), "names in the map that are no module"
    assert {n for n in named if n.endswith("/")} - folders == set()


MAX_LINES = 450


def test_no_module_is_longer_than_one_sitting():
    """A module is one concept, small enough to read in one sitting: at most ``MAX_LINES`` lines."""
    long = {
        name: n
        for name, path in MODULES.items()
        if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert long == {}
