"""Every snippet is a test: README code blocks and docstring examples run."""

from __future__ import annotations

import doctest
import importlib
import pkgutil
import re
import sys
import types
from pathlib import Path

import pytest

import graphwright

ROOT = Path(__file__).resolve().parents[1]


def _modules() -> list[str]:
    names = ["graphwright"]
    for info in pkgutil.walk_packages(graphwright.__path__, "graphwright."):
        if not info.name.startswith(("graphwright.tests", "graphwright.bench", "graphwright.examples")):
            names.append(info.name)
    return [n for n in names if n not in ("graphwright.__main__",)]


@pytest.mark.parametrize("name", _modules())
def test_docstring_examples_run(name: str) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0


def _readme_blocks() -> list[str]:
    text = (ROOT / "README.md").read_text()
    return re.findall(r"```python\n(.*?)```", text, re.DOTALL)


@pytest.mark.parametrize("index", range(len(_readme_blocks())))
def test_readme_python_blocks_run(index: str, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    module = types.ModuleType(f"readme_block_{index}")
    monkeypatch.setitem(sys.modules, module.__name__, module)  # type hints resolve through sys.modules
    exec(compile(_readme_blocks()[index], f"README.md block {index}", "exec"), module.__dict__)
