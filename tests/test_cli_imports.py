"""Commands that need no model start without torch: `--help`, `draw` and `history` never import it (nor
Transformers), so they cost the CLI's own imports, not the model stack's."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).parent

_PROBE = """
import contextlib, io, json, sys
from graphwright.cli import main
out = io.StringIO()
with contextlib.redirect_stdout(out):
    try:
        code = main(sys.argv[1:])
    except SystemExit as exc:  # --help exits through argparse
        code = exc.code
heavy = sorted(m for m in ("torch", "transformers") if m in sys.modules)
print(json.dumps({"code": code, "heavy": heavy, "out": out.getvalue()[-300:]}))
"""


def _probe(*args: str) -> dict:
    env = dict(os.environ, PYTHONPATH=str(TESTS), HF_HUB_OFFLINE="1")
    done = subprocess.run([sys.executable, "-c", _PROBE, *args], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = str(tmp_path_factory.mktemp("cli") / "c.sqlite")
    ran = _probe("run", "scripted_graphs:slow_assistant", "add 20 and 22", "--thread", "t1", "--db", path)
    assert ran["code"] == 0, ran
    return path


@pytest.mark.parametrize(
    "args",
    [["--help"], ["draw"], ["draw", "--format", "dot"], ["history", "--thread", "t1", "--db", "{db}"]],
    ids=["help", "draw", "draw-dot", "history"],
)
def test_commands_without_a_model_never_import_torch(args: list[str], db: str) -> None:
    result = _probe(*[a.format(db=db) for a in args])
    assert result["code"] == 0, result
    assert result["out"].strip()
    assert result["heavy"] == []
