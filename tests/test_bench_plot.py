"""bench/plot.py: a bench script's markdown table, or one of bench/README.md's, as a bar chart PNG."""

from __future__ import annotations

import doctest
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

import plot  # noqa: E402

PNG = b"\x89PNG\r\n\x1a\n"
PRINTED = """warm-up done
| tracing | wall ms per step | extra | CPU ms per step | extra |
|---|---:|---:|---:|---:|
| off | 1.398 |  | 1.023 |  |
| on: spans kept in memory | 1.776 | +0.377 (+27%) | 1.249 | +0.226 (+22%) |
medians of 9 rounds
"""


def test_a_printed_table_piped_in_becomes_a_png(tmp_path: Path) -> None:
    out = tmp_path / "charts" / "tracing.png"
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "plot.py"), "-", "-o", str(out)], input=PRINTED,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert out.read_bytes().startswith(PNG) and done.stdout.strip() == str(out)
    [table] = plot.read_tables(PRINTED)
    assert [table.header[i] for i in plot.numeric_columns(table)] == ["wall ms per step", "extra", "CPU ms per step", "extra"]
    assert [plot.number(row[2]) for row in table.rows][1] == 0.377


def test_readme_tables_parse_and_one_renders_with_chosen_columns(tmp_path: Path) -> None:
    tables = plot.read_tables((ROOT / "bench" / "README.md").read_text())
    plotted = [t for t in tables if plot.numeric_columns(t)]
    assert len(plotted) >= 10 and all(len(row) == len(t.header) for t in tables for row in t.rows)
    wanted = next(t for t in plotted if "tok/s" in " ".join(t.header))
    column = next(wanted.header[i] for i in plot.numeric_columns(wanted) if "tok/s" in wanted.header[i])
    assert plot.table_png(wanted, [column]).startswith(PNG)
    machines = next(t for t in tables if t.header[:2] == ["id", "CPU"])  # dates are not numbers
    assert "measured" not in [machines.header[i] for i in plot.numeric_columns(machines)]
    bad = subprocess.run([sys.executable, str(ROOT / "bench" / "plot.py"), "-", "-o", str(tmp_path / "x.png"),
                          "--columns", "nope"], input=PRINTED, capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "not all numeric columns" in bad.stderr and not (tmp_path / "x.png").exists()
    assert doctest.testmod(plot).failed == 0
