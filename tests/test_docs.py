"""Every snippet is a test: README code blocks and docstring examples run, and what they print is checked.

README blocks follow pydantic-ai's convention: the `#>` lines of a block are what the block prints, in order,
each written under the `print` that prints it. A block that prints must say what (a block that prints with no
`#>` line fails), and `...` in a `#>` line matches any text, as in doctest.
"""

from __future__ import annotations

import contextlib
import doctest
import io
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


def _expected_output(block: str) -> str:
    """What the block says it prints: its `#>` lines, in order, without the marker."""
    lines = [line.strip() for line in block.splitlines()]
    return "".join(line[2:].removeprefix(" ") + "\n" for line in lines if line.startswith("#>"))


def _printed_mismatch(expected: str, printed: str) -> str | None:
    """None when `printed` is what `expected` says (with doctest's `...`), else a report of the difference."""
    checker = doctest.OutputChecker()
    if checker.check_output(expected, printed, doctest.ELLIPSIS):
        return None
    return checker.output_difference(doctest.Example("", expected), printed, doctest.ELLIPSIS)


def _run_block(source: str, name: str, monkeypatch) -> str:
    """Run a README block as a module of its own and return what it printed."""
    module = types.ModuleType(name)
    monkeypatch.setitem(sys.modules, module.__name__, module)  # type hints resolve through sys.modules
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(source, f"README.md {name}", "exec"), module.__dict__)
    return printed.getvalue()


@pytest.mark.parametrize("index", range(len(_readme_blocks())))
def test_readme_python_blocks_run_and_print_what_they_say(index: int, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    block = _readme_blocks()[index]
    printed = _run_block(block, f"readme_block_{index}", monkeypatch)
    expected = _expected_output(block)
    if printed and not expected:
        pytest.fail(f"README block {index} prints but has no `#>` lines saying what:\n{printed}")
    assert _printed_mismatch(expected, printed) is None, _printed_mismatch(expected, printed)


def test_printed_output_checks_can_fail(monkeypatch) -> None:
    block = 'print("a")\n#> a\nfor n in (1, 2):\n    print(n * 10)\n#> 10\n#> 2...\n'
    printed = _run_block(block, "readme_block_check", monkeypatch)
    assert printed == "a\n10\n20\n"
    assert _expected_output(block) == "a\n10\n2...\n"
    assert _printed_mismatch(_expected_output(block), printed) is None
    assert _printed_mismatch("a\n10\n30\n", printed) is not None
    assert _printed_mismatch("", printed) is not None
