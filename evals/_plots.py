"""Plots of the HTML reports: matplotlib figures rendered once to PNG, embedded in the page as data URIs and
saved beside it as files (for a README, a chat or a slide, where an HTML page cannot go)."""

from __future__ import annotations

import base64
import io
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ._jsonl import write_text_atomic


def figure(columns: int, height: float = 3.4) -> tuple[Any, list[Any]]:
    """A new figure of `columns` plots side by side, and its axes."""
    from matplotlib.figure import Figure  # no pyplot: no global backend, safe in threads and servers

    made = Figure(figsize=(4.6 * columns if columns > 1 else 8, height), layout="constrained")
    return made, list(made.subplots(1, columns, squeeze=False)[0])


def png(made: Any) -> bytes:
    """The figure as PNG bytes."""
    buffer = io.BytesIO()
    made.savefig(buffer, format="png", dpi=90)
    return buffer.getvalue()


def img(data: bytes, name: str = "plot") -> str:
    """An `<img>` tag that carries the PNG `data` in the page itself, `name` as its alt text."""
    return f"<img alt='{name}' src='data:image/png;base64,{base64.b64encode(data).decode()}'>"


def save_pngs(page: Path, plots: Mapping[str, bytes]) -> list[Path]:
    """Write each of `plots` (name -> PNG bytes) beside the HTML file `page`, replaced atomically; return the paths.

    The files are `NAME.png` beside a `report.html` (a report folder), else `STEM-NAME.png`, so two pages in
    one folder keep their plots apart.
    """
    prefix = "" if page.stem == "report" else f"{page.stem}-"
    paths = []
    for name, data in plots.items():
        path = page.parent / f"{prefix}{name}.png"
        write_text_atomic(path, data)
        paths.append(path)
    return paths
