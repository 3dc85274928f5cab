"""The public API stays small, explicit and sorted, and `import graphwright` stays light."""

from __future__ import annotations

import importlib
import inspect
import subprocess
import sys

import pytest

import graphwright

PACKAGES = ["graphwright", "graphwright.graphs", "graphwright.nodes", "graphwright.models", "graphwright.memory", "graphwright.tools", "graphwright.service", "graphwright.evals", "graphwright.envs"]


@pytest.mark.parametrize("name", PACKAGES)
def test_all_is_sorted_and_every_name_resolves(name: str) -> None:
    module = importlib.import_module(name)
    assert module.__all__ == sorted(module.__all__)
    for public in module.__all__:
        assert getattr(module, public) is not None, public


@pytest.mark.parametrize("name", PACKAGES[1:])
def test_every_public_module_member_is_exported(name: str) -> None:
    module = importlib.import_module(name)
    defined_here = {
        attr
        for attr, value in vars(module).items()
        if not attr.startswith("_") and getattr(value, "__module__", "").startswith(name + "._")
    }
    assert defined_here <= set(module.__all__)


def test_public_functions_have_docstrings() -> None:
    missing = []
    for name in PACKAGES:
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
