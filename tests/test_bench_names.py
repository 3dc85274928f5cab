"""Bench scripts never shadow an installed package: tests put bench/ on sys.path to import them, and a
`bench/ray.py` once made every later `import ray` of the run find the script instead of Ray."""

from __future__ import annotations

import sys
from importlib.machinery import PathFinder
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"


def test_no_bench_script_has_the_name_of_an_importable_module() -> None:
    # The checkout's own folders (bench/, the repository root whose subpackages are graphwright's) do not count.
    elsewhere = [p for p in sys.path if Path(p or ".").resolve() not in (BENCH, ROOT, ROOT / "tests")]
    shadowing = [
        path.name
        for path in sorted(BENCH.glob("*.py"))
        if path.stem in sys.builtin_module_names or PathFinder.find_spec(path.stem, elsewhere) is not None
    ]
    assert shadowing == []
