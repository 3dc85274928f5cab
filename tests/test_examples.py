"""Every example in examples/ runs on the default model, prints its steps and answers its question."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
SCRIPTS = sorted(
    path for path in EXAMPLES.glob("*.py") if not path.name.startswith("_") and "def main(model=None)" in path.read_text()
)
"""The agent examples (each has `main(model=None)`, `QUESTION` and `EXPECTED`); drawing examples run elsewhere."""


def test_there_is_an_example_per_prebuilt_graph_and_a_custom_one() -> None:
    from graphwright.graphs import BUILTIN_GRAPHS

    sources = {path.name: path.read_text() for path in EXAMPLES.glob("*.py")}
    for name, builder in BUILTIN_GRAPHS.items():
        assert any(f"{builder.__name__}(" in text for text in sources.values()), name
    assert any("StateGraph(" in text for text in sources.values())


@pytest.mark.model
@pytest.mark.parametrize("script", SCRIPTS, ids=lambda path: path.stem)
def test_example_runs(script: Path, local_chat_model, capsys, monkeypatch) -> None:
    monkeypatch.syspath_prepend(str(EXAMPLES))
    spec = importlib.util.spec_from_file_location(f"example_{script.stem}", script)
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)  # type hints of its state resolve through sys.modules
    spec.loader.exec_module(module)
    state = module.main(model=local_chat_model)
    printed = capsys.readouterr().out
    assert printed.startswith(f"question: {module.QUESTION}") and "\n[" in printed
    assert module.EXPECTED.lower() in (state.get("answer") or "").lower(), printed
    sys.modules.pop("_show", None)
