"""Fixtures for the tools tests: running the CLI on the graphs in `effect_graphs.py`."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

HERE = Path(__file__).parent


def _cli_env(extra: dict[str, str]) -> dict[str, str]:
    path = os.pathsep.join([str(HERE), str(HERE.parent)])
    return {**os.environ, "PYTHONPATH": path, "HF_HUB_OFFLINE": "1", **extra}


@pytest.fixture
def cli_env() -> Callable[[dict[str, str]], dict[str, str]]:
    """Return the environment for a `python -m graphwright` subprocess: tests/ and tests/tools/ importable."""
    return _cli_env


@pytest.fixture
def effects_file(tmp_path: Path) -> Path:
    """The external file side effects append lines to (GW_EFFECTS)."""
    return tmp_path / "effects.txt"


@pytest.fixture
def graphwright(effects_file: Path) -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run `python -m graphwright ARGS` (with `env=` extras) and return the finished process."""

    def run(*args: str, env: dict[str, str] | None = None, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "graphwright", *args],
            env=_cli_env({"GW_EFFECTS": str(effects_file), **(env or {})}),
            capture_output=True,
            text=True,
            input=stdin,
            timeout=300,
        )

    return run
