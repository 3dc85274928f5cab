"""The public API stays small, explicit and sorted, and `import graphwright` stays light.

Each package's `__all__` must equal what the package actually offers, so these tests look at both sides:
what `__init__.py` binds (read from its source, so names a lazy `__getattr__` would serve count too) and what
the imported package holds once every lazy name has been loaded. A lazily exported package
(`__all__ = sorted(_EXPORTS)`) is checked through its `_EXPORTS`: each entry must load, come from the module it
names, and match the `if TYPE_CHECKING:` imports that type checkers read instead.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import inspect
import os
import pkgutil
import subprocess
import sys
import types
from pathlib import Path

import pytest

import graphwright
import graphwright.errors as errors

ROOT = Path(graphwright.__file__).resolve().parent
NOT_SHIPPED = {"tests", "bench", "examples"}
PACKAGES = ["graphwright"] + sorted(
    f"graphwright.{info.name}"
    for info in pkgutil.iter_modules(graphwright.__path__)
    if info.ispkg and info.name not in NOT_SHIPPED
)
MODULES = [*PACKAGES, "graphwright.errors"]
"""Every module whose `__all__` is public API: the root, each package, and the errors module."""


def _source(name: str) -> ast.Module:
    module = importlib.import_module(name)
    return ast.parse(Path(module.__file__).read_text(), module.__file__)


def _is_type_checking(test: ast.expr) -> bool:
    return isinstance(test, ast.Name) and test.id == "TYPE_CHECKING"


def _bound_names(tree: ast.Module) -> dict[str, str]:
    """Public names the module's own source binds at top level (and under `if TYPE_CHECKING:`), each with how:
    re-exports from the package's own modules (`from ._x import name`, `from .x import name`), definitions and
    assignments. Imports from elsewhere (the standard library, dependencies, sibling packages) are tools the
    module uses, not API, and are left out."""
    bound: dict[str, str] = {}

    def visit(statements: list[ast.stmt], where: str) -> None:
        for node in statements:
            if isinstance(node, ast.ImportFrom) and node.level == 1:
                for alias in node.names:
                    bound[alias.asname or alias.name] = f"{where}from .{node.module} import"
            elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                bound[node.name] = f"{where}def/class"
            elif isinstance(node, ast.Assign | ast.AnnAssign):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                for target in targets:
                    for leaf in ast.walk(target):
                        if isinstance(leaf, ast.Name):
                            bound[leaf.id] = f"{where}assignment"
            elif isinstance(node, ast.If) and _is_type_checking(node.test):
                visit(node.body, "TYPE_CHECKING: ")

    visit(tree.body, "")
    return {name: how for name, how in bound.items() if not name.startswith("_")}


def _type_checking_imports(tree: ast.Module) -> dict[str, str]:
    """`{name: module}` for the imports under the module's `if TYPE_CHECKING:` blocks."""
    found: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for statement in node.body:
                if isinstance(statement, ast.ImportFrom):
                    for alias in statement.names:
                        found[alias.asname or alias.name] = "." * statement.level + (statement.module or "")
    return found


def _package_sources() -> list[Path]:
    """The package's own `.py` files: the repository root minus what does not ship and what is not ours."""
    found = []
    for folder, subfolders, files in os.walk(ROOT):
        if Path(folder) == ROOT:
            subfolders[:] = [d for d in subfolders if d not in NOT_SHIPPED and (ROOT / d / "__init__.py").exists()]
        found += [Path(folder) / f for f in files if f.endswith(".py")]
    return sorted(found)


def _load_everything(name: str) -> types.ModuleType:
    """Import package `name` and load every name of its `__all__` (a lazy `__getattr__` binds them as it goes)."""
    module = importlib.import_module(name)
    for public in module.__all__:
        getattr(module, public)
    return module


@pytest.mark.parametrize("name", MODULES)
def test_all_is_sorted_unique_and_every_name_resolves(name: str) -> None:
    module = importlib.import_module(name)
    assert module.__all__ == sorted(set(module.__all__)), f"{name}.__all__ is not sorted, or repeats a name"
    unresolved = [public for public in module.__all__ if getattr(module, public, None) is None]
    assert unresolved == [], f"{name}.__all__ names what the package does not provide"


@pytest.mark.parametrize("name", MODULES)
def test_every_name_the_source_binds_is_in_all(name: str) -> None:
    module = importlib.import_module(name)
    bound = _bound_names(_source(name))
    missing = {public: how for public, how in bound.items() if public not in module.__all__}
    assert missing == {}, f"{name} binds public names that its __all__ leaves out"


@pytest.mark.parametrize("name", MODULES)
def test_every_public_member_is_in_all(name: str) -> None:
    """After every lazy name is loaded, whatever the package holds that its own modules define is in `__all__`
    (submodules aside: importing `graphwright.x._y` binds `_y` on `graphwright.x`; names from sibling packages,
    such as `cli`'s `GraphwrightError`, are tools it uses)."""
    module = _load_everything(name)
    members = {
        attr
        for attr, value in vars(module).items()
        if not attr.startswith("_")
        and not isinstance(value, types.ModuleType)
        and (getattr(value, "__module__", None) or "").startswith(module.__name__ + ".")
    }
    assert sorted(members - set(module.__all__)) == []


@pytest.mark.parametrize("name", [n for n in PACKAGES if hasattr(importlib.import_module(n), "_EXPORTS")])
def test_lazy_exports_load_from_the_module_they_name(name: str) -> None:
    package = importlib.import_module(name)
    exports: dict[str, str] = package._EXPORTS
    assert package.__all__ == sorted(exports)
    wrong = []
    for public, where in exports.items():
        target = importlib.import_module(where, name)
        public_there = public in target.__all__ if hasattr(target, "__all__") else public in vars(target)
        if not public_there:
            wrong.append(f"{public}: {where} does not define or export it")
        elif getattr(package, public) is not getattr(target, public):
            wrong.append(f"{public}: {name}.{public} is not {where}'s")
    assert wrong == []
    assert set(dir(package)) >= set(exports), "dir() should list the lazy names"


@pytest.mark.parametrize("name", [n for n in PACKAGES if hasattr(importlib.import_module(n), "_EXPORTS")])
def test_type_checkers_see_the_same_lazy_exports(name: str) -> None:
    """The `if TYPE_CHECKING:` imports are what type checkers and IDEs read: the same names from the same
    modules as `_EXPORTS`."""
    package = importlib.import_module(name)
    seen = _type_checking_imports(_source(name))
    resolved = {public: importlib.util.resolve_name(where, name) for public, where in seen.items()}
    expected = {public: importlib.util.resolve_name(where, name) for public, where in package._EXPORTS.items()}
    assert resolved == expected


def test_every_error_class_is_exported_and_drawn_in_the_hierarchy() -> None:
    classes = {
        name
        for name, value in vars(errors).items()
        if inspect.isclass(value) and issubclass(value, errors.GraphwrightError)
    }
    assert set(errors.__all__) == classes, "graphwright.errors exports exactly its error classes"
    tree = [line.strip(" │├└─") for line in (errors.__doc__ or "").splitlines() if "──" in line or line.strip() == "GraphwrightError"]
    drawn = {line.split()[0] for line in tree if line}
    assert sorted(classes - drawn) == [], "each error needs its line in the module docstring's hierarchy"
    for name in classes:
        value = getattr(errors, name)
        assert value.__module__ == "graphwright.errors", name
        assert (value.__doc__ or "").strip(), f"{name} has no docstring"


def test_no_error_class_is_defined_outside_the_errors_module() -> None:
    """Error types live in `graphwright.errors` only (read from the source, so nothing needs importing)."""
    public_errors = set(errors.__all__)
    outside = []
    for path in _package_sources():
        relative = path.relative_to(ROOT)
        if relative == Path("errors.py"):
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ClassDef):
                bases = {getattr(base, "id", getattr(base, "attr", None)) for base in node.bases}
                if bases & public_errors:
                    outside.append(f"{relative}:{node.lineno} class {node.name}")
    assert outside == []


def test_public_functions_have_docstrings() -> None:
    missing = []
    for name in MODULES:
        module = importlib.import_module(name)
        for public in module.__all__:
            value = getattr(module, public)
            if (inspect.isfunction(value) or inspect.isclass(value)) and not (getattr(value, "__doc__", None) or "").strip():
                missing.append(f"{name}.{public}")
    assert missing == []


def test_import_does_not_load_torch_transformers_or_chromadb() -> None:
    code = "import sys, graphwright, graphwright.cli; print(sorted(m for m in ('torch', 'transformers', 'chromadb') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_unknown_attribute_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        graphwright.nope  # noqa: B018


def test_the_checks_catch_what_they_are_for() -> None:
    """The helpers above are not vacuous: a name bound but left out of `__all__`, and a TYPE_CHECKING import
    that disagrees with `_EXPORTS`, are both seen."""
    tree = ast.parse(
        "from typing import TYPE_CHECKING\n"
        "from ._a import kept, forgotten\n"
        "from ..errors import GraphwrightError\n"
        "LIMIT = 3\n"
        "_EXPORTS = {'lazy': '._b'}\n"
        "if TYPE_CHECKING:\n"
        "    from ._c import lazy\n"
    )
    assert set(_bound_names(tree)) == {"kept", "forgotten", "LIMIT", "lazy"}
    assert _type_checking_imports(tree) == {"lazy": "._c"}
