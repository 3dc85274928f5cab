"""The package's layers hold: each top-level unit imports only units of lower layers.

Read statically from the source (no import runs), so an upward import fails here even when it sits inside a
function or behind `TYPE_CHECKING`. The order is ../shared/DESIGN.md's "Layers"; a new top-level package must
be given its place in `LAYERS` before the suite passes.
"""

from __future__ import annotations

import ast
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOT_PACKAGE = {"tests", "bench", "examples", "build", "dist", "test-artifacts"}

LAYERS: list[set[str]] = [
    {"errors"},
    {"models", "memory", "tools", "envs", "tracing"},  # tracing: spans from LangChain's callbacks, for all above
    {"nodes"},
    {"graphs"},
    {"evals", "service"},
    {"learning"},  # learning checks what it learned with evals' runs and checks
    {"cli"},
]
"""Bottom to top. A unit may import units of a lower layer only (its own layer's siblings are off limits too)."""

FACADES = {"__init__", "__main__"}
"""The root `__init__` re-exports public names and `__main__` runs the CLI: both stand above every layer."""


def layer_violations(root: Path) -> list[str]:
    """Return one line per import that breaks the layers in the package source under `root`, `file:line: why`.

    Example:
        >>> layer_violations(ROOT)
        []
    """
    rank = {unit: i for i, layer in enumerate(LAYERS) for unit in layer}
    problems: list[str] = []
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root)
        if rel.parts[0] in NOT_PACKAGE or rel.parts[0].startswith("."):
            continue
        unit = rel.parts[0] if len(rel.parts) > 1 else rel.stem
        if unit in FACADES:
            continue
        if unit not in rank:
            problems.append(f"{rel}: top-level unit {unit!r} has no layer; give it one in tests/test_layers.py")
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(rel))):
            for target in _imported_units(node, rel):
                if target == unit or target not in rank and target not in FACADES:
                    continue
                if target in FACADES or rank[target] >= rank[unit]:
                    line = ast.unparse(node).splitlines()[0]
                    problems.append(f"{rel}:{node.lineno}: {unit} (layer {rank[unit]}) imports {target}: `{line}`")
    return problems


def _imported_units(node: ast.AST, rel: Path) -> set[str]:
    """The top-level units of graphwright that an import statement at `rel` names."""
    if isinstance(node, ast.Import):
        return {a.name.split(".")[1] for a in node.names if a.name.startswith("graphwright.")}
    if not isinstance(node, ast.ImportFrom):
        return set()
    if node.level == 0:
        if node.module == "graphwright":
            return {a.name for a in node.names}
        if node.module and node.module.startswith("graphwright."):
            return {node.module.split(".")[1]}
        return set()
    package = list(rel.parts[:-1])
    base = package[: len(package) - (node.level - 1)] if node.level > 1 else package
    parts = base + (node.module.split(".") if node.module else [])
    if parts:
        return {parts[0]}
    return {a.name for a in node.names}  # `from . import x` at the root names root units


def test_the_package_respects_its_layers() -> None:
    assert layer_violations(ROOT) == []


def _copy_of_package(tmp_path: Path) -> Path:
    copy = tmp_path / "graphwright"
    shutil.copytree(
        ROOT, copy, ignore=shutil.ignore_patterns(*NOT_PACKAGE, ".*", "__pycache__", "*.egg-info", "view", "*.c")
    )
    return copy


@pytest.mark.parametrize(
    ("where", "planted", "names"),
    [
        ("models/_planted.py", "from ..graphs import compile_graph\n", "models (layer 1) imports graphs"),
        ("tools/_planted.py", "def f():\n    from graphwright.nodes import make_executor\n", "tools (layer 1) imports nodes"),
        ("memory/_planted.py", "import graphwright.models._local\n", "memory (layer 1) imports models"),
        ("graphs/_planted.py", "from ..cli import main\n", "graphs (layer 3) imports cli"),
        ("errors.py", "from . import models\n", "errors (layer 0) imports models"),
    ],
)
def test_a_planted_upward_import_is_named(tmp_path: Path, where: str, planted: str, names: str) -> None:
    copy = _copy_of_package(tmp_path)
    before = set(layer_violations(copy))
    target = copy / where
    target.write_text((target.read_text() if target.exists() else "") + planted)
    new = sorted(set(layer_violations(copy)) - before)
    assert len(new) == 1, new
    assert new[0].startswith(f"{where}:") and names in new[0]


def test_a_package_without_a_layer_is_reported(tmp_path: Path) -> None:
    copy = _copy_of_package(tmp_path)
    before = set(layer_violations(copy))
    (copy / "plugins").mkdir()
    (copy / "plugins" / "__init__.py").write_text("")
    assert sorted(set(layer_violations(copy)) - before) == [
        "plugins/__init__.py: top-level unit 'plugins' has no layer; give it one in tests/test_layers.py"
    ]
