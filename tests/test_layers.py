"""The package's layers, read from the source: no import cycle, no module importing upward.

Every ``import`` and ``from ... import`` of the package's modules is read with :mod:`ast`
(function-level and ``TYPE_CHECKING`` imports included: they are edges too). The layers, from
the bottom (see ``docs/architecture.md``):

* **engine** ``hypergrad``: torch only; imports nothing of ours above it.
* **base** ``config``, ``data``, ``spaces``, ``derive``, ``collapse``, ``budget``, ``nb201``,
  ``outputs``, ``runtime``, ``metrics``, ``strategy_table``, ``_optional``, ``_version``:
  light (no NNI or Lightning); import the engine at most.
* **strategy** ``strategy``: NNI strategies over the engine, reading the strategy table and
  the remedies from the base; imports the engine and the base.
* **adapter** ``nni_adapter``: all NNI/Lightning adaptation of a run; imports NNI at its top.
* **run** ``search``, ``report``, ``evaluate``, ``ground_truth``, ``objectives``.
* **top** ``integrations``, ``cli``: may import anything; nothing imports them.

The package's ``__init__`` is a facade over the engine and the strategies (and its version).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "idarts_plugin"
ROOT = "idarts_plugin"

LAYERS: dict[str, tuple[str, ...]] = {
    "engine": ("hypergrad",),
    "strategy": ("strategy",),
    "base": (
        "_optional",
        "_version",
        "budget",
        "config",
        "data",
        "derive",
        "collapse",
        "metrics",
        "nb201",
        "outputs",
        "runtime",
        "spaces",
        "strategy_table",
    ),
    "adapter": ("nni_adapter",),
    "run": ("evaluate", "ground_truth", "objectives", "report", "search"),
    "top": ("cli", "integrations"),
    "facade": ("",),
}

MAY_IMPORT: dict[str, set[str]] = {
    "engine": {"engine"},
    "strategy": {"engine", "base", "strategy"},
    "base": {"engine", "base"},
    "adapter": {"engine", "strategy", "base", "adapter"},
    "run": {"engine", "strategy", "base", "adapter", "run"},
    "top": {"engine", "strategy", "base", "adapter", "run", "top"},
    "facade": {"engine", "strategy", "base", "facade"},
}

KNOWN_EXCEPTIONS: set[tuple[str, str]] = set()
"""``(importer, imported)`` edges allowed against the layers until they are fixed, each with a
comment saying why (none now: config's ``MethodSpec`` moved from strategy/ into the engine)."""

HEAVY = ("nni", "pytorch_lightning", "lightning")
"""Third-party packages only the strategy, adapter and top layers import at module level."""


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


MODULES = _modules()


def _resolve(module: str, path: Path, node: ast.ImportFrom) -> str:
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    if node.level == 0:
        return node.module or ""
    base = package.split(".")
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, *([node.module] if node.module else [])])


def _is_type_checking(node: ast.If) -> bool:
    """``if TYPE_CHECKING:`` (or ``typing.TYPE_CHECKING``)."""
    return isinstance(node.test, ast.Name | ast.Attribute) and ast.unparse(node.test).endswith(
        "TYPE_CHECKING"
    )


def _run_at_import(tree: ast.Module) -> set[int]:
    """ids of the import statements that run when the module is imported: any outside a function
    (class bodies and ``try``/``if``/``with``/loop bodies included), but none under ``if
    TYPE_CHECKING:``."""
    found: set[int] = set()

    def visit(body: list[ast.stmt]) -> None:
        for node in body:
            if isinstance(node, ast.Import | ast.ImportFrom):
                found.add(id(node))
            elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            elif isinstance(node, ast.If):
                if not _is_type_checking(node):
                    visit(node.body)
                visit(node.orelse)
            else:  # try, with, for, while, class bodies run at import
                for field in ("body", "orelse", "finalbody"):
                    visit(getattr(node, field, []))
                for handler in getattr(node, "handlers", []):
                    visit(handler.body)

    visit(tree.body)
    return found


def test_imports_in_try_and_if_blocks_run_at_import_but_type_checking_ones_do_not():
    tree = ast.parse(
        "import a\n"
        "try:\n    import b\nexcept ImportError:\n    import c\n"
        "if TYPE_CHECKING:\n    import d\nelse:\n    import e\n"
        "def f():\n    import g\n"
        "class K:\n    import h\n"
    )
    names = {
        alias.name
        for node in ast.walk(tree)
        if id(node) in _run_at_import(tree) and isinstance(node, ast.Import)
        for alias in node.names
    }
    assert names == {"a", "b", "c", "e", "h"}


def _imports(module: str) -> Iterator[tuple[str, bool]]:
    """``(imported name, at module level)`` of every import in ``module``."""
    path = MODULES[module]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    top_level = _run_at_import(tree)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, id(node) in top_level
        elif isinstance(node, ast.ImportFrom):
            target = _resolve(module, path, node)
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                yield (sub if sub in MODULES else target), id(node) in top_level


def _edges() -> dict[str, set[str]]:
    edges: dict[str, set[str]] = {}
    for module in MODULES:
        ours = set()
        for name, _ in _imports(module):
            if name == ROOT or name.startswith(ROOT + "."):
                while name not in MODULES:  # a name inside a module: the module
                    name = name.rsplit(".", 1)[0]
                if name != module:
                    ours.add(name)
        edges[module] = ours
    return edges


def _layer(module: str) -> str:
    rest = module[len(ROOT) + 1 :] if module != ROOT else ""
    top = rest.split(".", 1)[0]
    for layer, names in LAYERS.items():
        if top in names:
            return layer
    raise AssertionError(f"{module} is in no layer: add it to LAYERS (and docs/architecture.md)")


def test_every_module_has_a_layer():
    for module in MODULES:
        _layer(module)


def test_no_module_imports_upward():
    bad = sorted(
        f"{a} ({_layer(a)}) imports {b} ({_layer(b)})"
        for a, targets in _edges().items()
        for b in targets
        if _layer(b) not in MAY_IMPORT[_layer(a)] and (a, b) not in KNOWN_EXCEPTIONS
    )
    assert not bad, "\n".join(bad)


def test_known_exceptions_still_exist():
    """An exception that was fixed is taken off the list (so it cannot come back unseen)."""
    edges = _edges()
    gone = sorted(f"{a} -> {b}" for a, b in KNOWN_EXCEPTIONS if b not in edges.get(a, set()))
    assert not gone, f"remove from KNOWN_EXCEPTIONS: {gone}"


def test_engine_imports_nothing_of_ours_above_it():
    for module, targets in _edges().items():
        if _layer(module) == "engine":
            assert all(_layer(t) == "engine" for t in targets), (module, targets)


def test_no_import_cycle():
    edges = _edges()
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(edges[node]):
            if state.get(nxt) == 1:
                cycle = [*path[path.index(nxt) :], nxt]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if nxt not in state:
                visit(nxt)
        path.pop()
        state[node] = 2

    for module in sorted(edges):
        if module not in state:
            visit(module)


@pytest.mark.parametrize("layer", ["engine", "base", "run"])
def test_light_layers_import_nni_and_lightning_only_inside_functions(layer):
    bad = sorted(
        f"{module}: {name}"
        for module in MODULES
        if _layer(module) == layer
        for name, at_top in _imports(module)
        if at_top and name.split(".")[0] in HEAVY
    )
    assert not bad, "\n".join(bad)
