"""examples/draw_graphs.py draws every prebuilt graph and the custom example offline, as real PNGs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from graphwright.graphs import BUILTIN_GRAPHS

ROOT = Path(__file__).resolve().parents[1]


def test_every_example_graph_is_drawn_to_png(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "draw_graphs.py"), "--out", str(tmp_path)],
        capture_output=True, text=True, timeout=300, env={"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 0, done.stderr
    expected = {f"{name}.png" for name in BUILTIN_GRAPHS} | {"custom_fanout.png"}
    assert {p.name for p in tmp_path.glob("*.png")} == expected
    for picture in tmp_path.glob("*.png"):
        assert picture.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and picture.stat().st_size > 5000
    for name in expected:
        assert (ROOT / "examples" / name).is_file(), f"examples/{name} should be committed"
