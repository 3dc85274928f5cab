"""The HTML page of a learn run: the dev score before and after against minutes and against examples learned
from, what was learned, the time of each phase, and links to the two dev evals' own pages.

One self-contained file beside `report.json` (`report.html`), its plot embedded as a data URI and saved beside
it as `learning.png`, as the eval pages do.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..evals._html import _STYLE, _e
from ..evals._jsonl import write_text_atomic
from ..evals._plots import figure, img, png, save_pngs

_BEFORE, _AFTER, _KEPT, _DROPPED = "#9e9e9e", "#1565c0", "#2e7d32", "#c62828"


def render_learn_html(report: Mapping[str, Any]) -> str:
    """Return the self-contained HTML page of a learn `report` (as `learn` returns it or `report.json` holds it).

    Example:
        >>> report = {"graph": "assistant", "source": "tasks.jsonl", "method": "in_context", "metric": "success_rate",
        ...           "before": {"score": 0.25, "tasks": 8}, "after": {"score": 0.5, "tasks": 8}, "gain": 0.25,
        ...           "kept": True, "learned": {"trajectories": 6, "examples": 6, "experience": {"runs": 12}},
        ...           "phases": {"collect": 60.0, "before": 30.0, "learn": 5.0, "after": 30.0},
        ...           "train_tasks": 12, "dev_tasks": 8, "options": {"min_gain": 0.0}}
        >>> page = render_learn_html(report)
        >>> page.count("data:image/png;base64,"), "kept" in page
        (1, True)
    """
    return _page(report, learning_plot(report))


def learning_plot(report: Mapping[str, Any]) -> bytes:
    """The dev score against minutes since the learn run began and against examples learned from, as PNG bytes.

    The agent as it was is measured when the `before` check ends, having learned from nothing; the candidate
    when the `after` check ends, having learned from the successful trajectories. A dashed line marks the score
    the candidate had to beat to be kept (`before` plus `min_gain`).
    """
    phases = {k: float(v or 0.0) for k, v in (report.get("phases") or {}).items()}
    before_at = (phases.get("collect", 0.0) + phases.get("before", 0.0)) / 60
    after_at = sum(phases.values()) / 60
    learned = report.get("learned") or {}
    examples = int(learned.get("examples") or learned.get("trajectories") or 0)
    before, after = float(report["before"]["score"]), float(report["after"]["score"])
    bar = before + float((report.get("options") or {}).get("min_gain", 0.0))
    colour = _KEPT if report.get("kept") else _DROPPED
    metric = str(report.get("metric", "score")).replace("_", " ")
    made, axes = figure(2, height=3.2)
    for axis, xs, label in ((axes[0], (before_at, after_at), "minutes since learn began"),
                            (axes[1], (0, examples), "examples learned from")):
        axis.plot(xs, (before, after), color="#555", linewidth=1, zorder=1)
        axis.scatter(xs[:1], [before], color=_BEFORE, s=48, label=f"before {before:.3f}", zorder=2)
        axis.scatter(xs[1:], [after], color=colour, s=48,
                     label=f"after {after:.3f} ({'kept' if report.get('kept') else 'not kept'})", zorder=2)
        axis.axhline(bar, color="#333", linestyle="--", linewidth=0.8, label=f"to keep: above {bar:.3f}")
        axis.set(xlabel=label, ylabel=f"dev {metric}")
        axis.set_xlim(left=0)
        axis.legend(fontsize=8, loc="best")
    axes[0].set_title("Dev score against time")
    axes[1].set_title("Dev score against examples")
    return png(made)


def save_learn_html(report: Mapping[str, Any], folder: Path) -> Path:
    """Write the learn `report`'s page to `folder/report.html` and its plot to `folder/learning.png` (each
    replaced atomically); return the page's path.

    Raises:
        OSError: `folder` is missing or not writable.
    """
    page = folder / "report.html"
    plot = learning_plot(report)
    save_pngs(page, {"learning": plot})
    write_text_atomic(page, _page(report, plot, folder))
    return page


def _page(report: Mapping[str, Any], plot: bytes, folder: Path | None = None) -> str:
    title = f"learn: {report.get('graph')} from {report.get('source')} ({report.get('method')})"
    before, after = report["before"], report["after"]
    verdict = ("<span class='ok'>kept</span>" if report.get("kept")
               else "<span class='bad'>not kept</span>: the dev score did not rise enough")
    learned = report.get("learned") or {}
    rows = [("dev tasks", report.get("dev_tasks")), ("training tasks", report.get("train_tasks")),
            (f"dev {report.get('metric', 'score')} before", f"{float(before['score']):.3f}"),
            (f"dev {report.get('metric', 'score')} after", f"{float(after['score']):.3f}"),
            ("gain", f"{float(report.get('gain', 0.0)):+.3f}"),
            *((f"learned: {k}", v) for k, v in learned.items() if not isinstance(v, Mapping)),
            *((f"experience: {k}", v) for k, v in (learned.get("experience") or {}).items()),
            *((f"LoRA: {k}", v) for k, v in (learned.get("lora") or {}).items()),
            *((f"phase {k} (s)", f"{float(v or 0.0):.1f}") for k, v in (report.get("phases") or {}).items())]
    table = "".join(f"<tr><td>{_e(k)}</td><td>{_e(v)}</td></tr>" for k, v in rows)
    links = "".join(
        f"<li><a href='{name}/report.html'>{name}</a>: the agent {what} on the dev split</li>"
        for name, what in (("dev-before", "as it was"), ("dev-after", "with what was learned"))
        if folder is None or (folder / name / "report.html").exists()
    )
    return "\n".join([
        f"<!doctype html><html><head><meta charset='utf-8'><title>{_e(title)}</title><style>{_STYLE}</style>",
        f"</head><body><h1>{_e(title)}</h1><p>{verdict}</p>",
        img(plot, "learning"),
        f"<table><tr><th></th><th></th></tr>{table}</table>",
        f"<h2>The dev evals</h2><ul>{links}</ul>" if links else "",
        "</body></html>",
    ])

