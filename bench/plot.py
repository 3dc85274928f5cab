"""Render a markdown table that a bench script printed (or one from bench/README.md) as a bar chart PNG.

Each numeric column becomes one panel of horizontal bars, one bar per row, labelled by the row's text cells; a
cell's leading number counts (`1.78`, `+0.44 (+24%)`, `**3.8**`, `45 tok/s`), an empty or non-numeric cell
leaves its bar out. Several tables in the input: `--table N` picks one (from 1), `--all` writes each.

    .venv/bin/python bench/tracing.py | .venv/bin/python bench/plot.py - -o tracing.png
    .venv/bin/python bench/plot.py bench/README.md --table 3 -o table3.png --columns "CPU ms per step"
    .venv/bin/python bench/plot.py bench/README.md --all -o plots/readme.png     # readme-1.png, readme-2.png, ...
"""

from __future__ import annotations

import argparse
import io
import math
import re
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_NUMBER = re.compile(r"^[*_~`\s]*([+-]?(?:\d+(?:[.,]\d+)*|\.\d+)(?:[eE][+-]?\d+)?)")


@dataclass(frozen=True)
class Table:
    """A markdown table: the heading above it (if any), its header cells and its rows of cells."""

    title: str
    header: list[str]
    rows: list[list[str]]


def read_tables(text: str) -> list[Table]:
    """Every markdown table in `text` (a `| a | b |` header, a `|---|---:|` rule, then rows), in order.

    Example:
        >>> [t.header for t in read_tables("## T\\n| mode | ms |\\n|---|---:|\\n| off | 1.5 |\\n| on | 2 |\\n")]
        [['mode', 'ms']]
    """
    lines = text.splitlines()
    tables, title, i = [], "", 0
    while i < len(lines):
        line = lines[i].strip()
        if line.startswith("#"):
            title = line.lstrip("#").strip()
        if line.startswith("|") and i + 1 < len(lines) and re.fullmatch(r"\|?[\s:|-]+\|?", lines[i + 1].strip() or "x"):
            header = _cells(line)
            rows, i = [], i + 2
            while i < len(lines) and lines[i].strip().startswith("|"):
                rows.append((_cells(lines[i]) + [""] * len(header))[: len(header)])
                i += 1
            tables.append(Table(title, header, rows))
            continue
        i += 1
    return tables


def number(cell: str) -> float:
    """The leading number of a cell (`+0.44 (+24%)` is 0.44, `1,024` is 1024), NaN when it has none.

    Example:
        >>> number("+0.44 (+24%)"), number("**3.8** tok/s"), math.isnan(number("n/a")), math.isnan(number("2026-12-04"))
        (0.44, 3.8, True, True)
    """
    if _DATE.match(cell.strip()):  # 2026-12-04 is a date, not 2026
        return math.nan
    found = _NUMBER.match(cell)
    return float(found.group(1).replace(",", "")) if found else math.nan


def numeric_columns(table: Table) -> list[int]:
    """Indexes of the columns (not the first) where at least half the non-empty cells are numbers."""
    chosen = []
    for index in range(1, len(table.header)):
        filled = [row[index] for row in table.rows if row[index].strip()]
        if filled and sum(not math.isnan(number(c)) for c in filled) * 2 >= len(filled):
            chosen.append(index)
    return chosen


def table_png(table: Table, columns: list[str] | None = None) -> bytes:
    """A bar chart of `table` as PNG bytes: one panel per numeric column (or those named in `columns`).

    Raises:
        ValueError: the table has no numeric column, or a named column is not one of its numeric columns.
    """
    from matplotlib.figure import Figure  # no pyplot: no global backend

    numeric = numeric_columns(table)
    if columns:
        wanted = [c.strip().lower() for c in columns]
        picked = [i for i in numeric if table.header[i].strip().lower() in wanted]
        if len(picked) != len(wanted):
            raise ValueError(f"columns {columns} are not all numeric columns of the table: "
                             f"{[table.header[i] for i in numeric]}")
        numeric = picked
    if not numeric:
        raise ValueError(f"the table {table.header} has no numeric column to plot")
    text = [i for i in range(len(table.header)) if i not in numeric_columns(table)]
    labels, carried = [], [""] * len(table.header)
    for row in table.rows:  # an empty text cell repeats the one above it, as the tables are written
        carried = [cell.strip() or carried[i] if i in text else "" for i, cell in enumerate(row)]
        labels.append(" · ".join(_plain(carried[i]) for i in text if carried[i]) or "—")
    height = 1.0 + 0.32 * len(table.rows)
    figure = Figure(figsize=(min(4.2 * len(numeric) + 2.5, 16), height), layout="constrained")
    axes = figure.subplots(1, len(numeric), squeeze=False, sharey=True)[0]
    positions = list(range(len(labels)))[::-1]
    for axis, index in zip(axes, numeric, strict=True):
        values = [number(row[index]) for row in table.rows]
        bars = axis.barh(positions, [0 if math.isnan(v) else v for v in values], color="#1565c0")
        for bar, value, row in zip(bars, values, table.rows, strict=True):
            if not math.isnan(value):
                axis.text(bar.get_width(), bar.get_y() + bar.get_height() / 2, f" {_plain(row[index])}",
                          va="center", fontsize=7)
        axis.set_title(_plain(table.header[index]), fontsize=9)
        axis.margins(x=0.25)
        axis.tick_params(labelsize=8)
    axes[0].set_yticks(positions, labels)
    if table.title:  # long headings wrapped to the figure's width (about 13 characters an inch at this size)
        width = figure.get_figwidth()
        figure.suptitle(textwrap.fill(_plain(table.title), width=int(13 * width)), fontsize=10)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    return buffer.getvalue()


def _cells(line: str) -> list[str]:
    return [c.strip() for c in line.strip().strip("|").split("|")]


def _plain(text: str) -> str:
    """Markdown emphasis and code marks dropped (matplotlib would treat `$` as mathtext: escaped)."""
    return re.sub(r"[*`]", "", text).replace("$", r"\$")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", help="a markdown file, or - for standard input (a bench script's output)")
    parser.add_argument("-o", "--out", required=True, help="the PNG to write (with --all: NAME-1.png, NAME-2.png, ...)")
    parser.add_argument("--table", type=int, default=1, help="which table of the input, from 1 (default 1)")
    parser.add_argument("--all", action="store_true", help="write every table that has a numeric column")
    parser.add_argument("--columns", help="comma-separated numeric columns to plot (default: all of them)")
    args = parser.parse_args(argv)
    text = sys.stdin.read() if args.source == "-" else Path(args.source).read_text()
    tables = read_tables(text)
    if not tables:
        parser.error(f"no markdown table in {args.source}")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    columns = args.columns.split(",") if args.columns else None
    if args.all:
        chosen = [(n, t) for n, t in enumerate(tables, start=1) if numeric_columns(t)]
        for n, table in chosen:
            path = out.with_name(f"{out.stem}-{n}.png")
            path.write_bytes(table_png(table))
            print(path)
        return 0
    if not 1 <= args.table <= len(tables):
        parser.error(f"--table {args.table}: the input has {len(tables)} table(s)")
    try:
        out.write_bytes(table_png(tables[args.table - 1], columns))
    except ValueError as exc:
        parser.error(str(exc))
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
