"""The HTML page of an eval report: summary, plots (matplotlib PNGs embedded as data URIs, and saved beside the
page as PNG files), per-node table, task table, and, given a baseline, the two reports side by side. One
self-contained file, nothing fetched."""

from __future__ import annotations

import html
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ._jsonl import write_text_atomic
from ._plots import figure as _figure
from ._plots import img, png, save_pngs
from ._report import compare, fmt_number, summary_line

_PASS, _FAIL, _BEFORE, _AFTER = "#2e7d32", "#c62828", "#9e9e9e", "#1565c0"

_STYLE = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 72em; color: #222; }
table { border-collapse: collapse; margin: .6em 0 1.4em; }
th, td { border-bottom: 1px solid #ddd; padding: .25em .7em; text-align: right; vertical-align: top; }
th:first-child, td:first-child, td.text { text-align: left; }
td.text { max-width: 40em; overflow-wrap: anywhere; }
.ok { color: #2e7d32; } .bad { color: #c62828; }
img { max-width: 100%; border: 1px solid #eee; margin: .3em 0; }
code { background: #f4f4f4; padding: 0 .3em; }
"""


def render_html(report: Mapping[str, Any], baseline: Mapping[str, Any] | None = None) -> str:
    """Return the self-contained HTML page of `report`, with a before/after section when `baseline` is given.

    Example:
        >>> from graphwright.evals import build_report
        >>> rows = [{"id": "a", "ok": True, "seconds": 1.0, "nodes": {"n": {"runs": 1, "seconds": 1.0, "errors": 0}}}]
        >>> page = render_html(build_report(rows, graph="g", tasks_file="t.jsonl", concurrency=1))
        >>> page.count("data:image/png;base64,") >= 2, "<h2>Tasks</h2>" in page
        (True, True)
    """
    return _page(report, baseline, _report_plots(report, baseline))


def _report_plots(report: Mapping[str, Any], baseline: Mapping[str, Any] | None = None) -> dict[str, bytes]:
    """The plots of `report`'s page as PNG bytes by name: `latency`, `nodes` (when node timings were recorded),
    `usage`, and `comparison` against `baseline` when given."""
    plots = {"latency": _latency_plot(report)}
    if report.get("nodes"):
        plots["nodes"] = _node_plot(report)
    plots["usage"] = _usage_plot(report)
    if baseline is not None:
        plots["comparison"] = _comparison_plot(baseline, report)
    return plots


def _page(report: Mapping[str, Any], baseline: Mapping[str, Any] | None, plots: Mapping[str, bytes]) -> str:
    title = f"eval: {report['graph']} on {report['tasks_file']}"
    parts = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>{_e(title)}</title><style>{_STYLE}</style>",
        f"</head><body><h1>{_e(title)}</h1>",
        f"<p><code>{_e(summary_line(report))}</code> &middot; {_e(report.get('created', ''))}"
        f" &middot; concurrency {_e(report.get('concurrency', ''))}</p>",
        _summary_table(report),
    ]
    if baseline is not None:
        parts.append(_comparison(baseline, report, plots["comparison"]))
    parts += [
        "<h2>Where the time goes</h2>",
        img(plots["latency"], "latency"),
        img(plots["nodes"], "nodes") if "nodes" in plots else "<p>No node timings were recorded.</p>",
        _node_table(report),
        img(plots["usage"], "usage"),
        "<h2>Tasks</h2>",
        _task_table(report),
        "</body></html>",
    ]
    return "\n".join(parts)


def _summary_table(report: Mapping[str, Any]) -> str:
    low, high = report["ci95"]
    rows = [
        ("success rate", f"{report['passed']}/{report['tasks']} = {100 * report['success_rate']:.1f}%"
                         f" (95% CI {100 * low:.1f}%–{100 * high:.1f}%)"),
        ("latency p50 / p95 / max", "{p50:.2f} s / {p95:.2f} s / {max:.2f} s".format(**report["latency_s"])),
    ]
    for label, key in (("model calls", "model_calls"), ("prompt tokens", "prompt_tokens"),
                       ("completion tokens", "completion_tokens"), ("steps (node runs)", "steps")):
        rows.append((label, f"{report[key]['per_task']:.1f} per task ({report[key]['total']} in all)"))
    rows.append(("tasks with errors", str(report["errors"])))
    body = "".join(f"<tr><td>{_e(k)}</td><td>{_e(v)}</td></tr>" for k, v in rows)
    return f"<table>{body}</table>"


def _node_table(report: Mapping[str, Any]) -> str:
    if not report.get("nodes"):
        return ""
    head = "<tr><th>node</th><th>runs</th><th>total s</th><th>mean s</th><th>share of time</th><th>errors</th></tr>"
    rows = "".join(
        f"<tr><td>{_e(name)}</td><td>{s['runs']}</td><td>{s['seconds']:.2f}</td><td>{s['mean_s']:.3f}</td>"
        f"<td>{100 * s['share']:.1f}%</td><td class='{'bad' if s['errors'] else ''}'>{s['errors']}</td></tr>"
        for name, s in report["nodes"].items()
    )
    return f"<table>{head}{rows}</table>"


def _task_table(report: Mapping[str, Any]) -> str:
    columns = ("task", "result", "s", "calls", "tokens in/out", "steps", "answer or error", "thread")
    head = "<tr>" + "".join(f"<th>{c}</th>" for c in columns) + "</tr>"
    rows = []
    for r in report["results"]:
        mark = "<span class='ok'>pass</span>" if r.get("ok") else "<span class='bad'>fail</span>"
        said = r.get("error") or r.get("answer") or ""
        rows.append(
            f"<tr><td>{_e(r['id'])}</td><td>{mark}</td><td>{float(r.get('seconds') or 0):.2f}</td>"
            f"<td>{r.get('model_calls') or 0}</td>"
            f"<td>{r.get('prompt_tokens') or 0}/{r.get('completion_tokens') or 0}</td><td>{r.get('steps') or 0}</td>"
            f"<td class='text'>{_e(said[:500])}</td><td class='text'>{_e(r.get('thread_id') or '')}</td></tr>"
        )
    return f"<table>{head}{''.join(rows)}</table>"


def _comparison(before: Mapping[str, Any], after: Mapping[str, Any], plot: bytes) -> str:
    found = compare(before, after)
    head = "<tr><th>metric</th><th>before</th><th>after</th><th>change</th></tr>"
    rows = "".join(
        f"<tr><td>{_e(name)}</td><td>{fmt_number(old)}</td><td>{fmt_number(new)}</td>"
        f"<td>{fmt_number(change, sign=True)}</td></tr>"
        for name, old, new, change in found["metrics"]
    )
    flips = "".join(
        f"<p><b>{label}</b> ({len(found[key])}): {_e(', '.join(found[key]))}</p>"
        for key, label in (("broken", "passed before, fail now"), ("fixed", "failed before, pass now"),
                           ("only_before", "only in the baseline"), ("only_after", "only in this run"))
        if found[key]
    )
    return (
        f"<h2>Before and after</h2><p>before: <code>{_e(before.get('graph'))}</code> on "
        f"<code>{_e(before.get('tasks_file'))}</code> ({_e(before.get('created', ''))}); after: this report.</p>"
        f"<table>{head}{rows}</table>{flips or '<p>No task changed its result.</p>'}"
        f"{img(plot, 'comparison')}"
    )


def _latency_plot(report: Mapping[str, Any]) -> bytes:
    figure, axes = _figure(1)
    passed = [float(r.get("seconds") or 0) for r in report["results"] if r.get("ok")]
    failed = [float(r.get("seconds") or 0) for r in report["results"] if not r.get("ok")]
    axes[0].hist([passed, failed], bins=min(20, max(5, len(report["results"]) // 2)), stacked=True,
                 color=[_PASS, _FAIL], label=["passed", "failed"])
    for q, style in (("p50", "--"), ("p95", ":")):
        value = report["latency_s"][q]
        axes[0].axvline(value, color="#333", linestyle=style, label=f"{q} {value:.2f} s")
    axes[0].set(title="Latency per task", xlabel="seconds", ylabel="tasks")
    axes[0].legend()
    return png(figure)


def _node_plot(report: Mapping[str, Any]) -> bytes:
    nodes = list(report["nodes"].items())[::-1]
    figure, axes = _figure(1, height=1.2 + 0.4 * len(nodes))
    bars = axes[0].barh([n for n, _ in nodes], [s["seconds"] for _, s in nodes], color=_AFTER)
    for bar, (_, s) in zip(bars, nodes, strict=True):
        note = f" {s['runs']} runs" + (f", {s['errors']} errors" if s["errors"] else "")
        axes[0].text(bar.get_width(), bar.get_y() + bar.get_height() / 2, note, va="center", fontsize=8)
    axes[0].set(title="Time per node (all tasks)", xlabel="seconds")
    axes[0].locator_params(axis="x", nbins=6)
    return png(figure)


def _usage_plot(report: Mapping[str, Any]) -> bytes:
    figure, axes = _figure(2)
    results = report["results"]
    colours = [_PASS if r.get("ok") else _FAIL for r in results]
    tokens = [(r.get("prompt_tokens") or 0) + (r.get("completion_tokens") or 0) for r in results]
    axes[0].scatter(tokens, [float(r.get("seconds") or 0) for r in results], c=colours, s=18)
    axes[0].set(title="Tokens and latency per task (green passed)", xlabel="prompt + completion tokens",
                ylabel="seconds")
    calls = [r.get("model_calls") or 0 for r in results]
    steps = [r.get("steps") or 0 for r in results]
    axes[1].scatter(steps, calls, c=colours, s=18)
    axes[1].set(title="Steps and model calls per task", xlabel="steps (node runs)", ylabel="model calls")
    return png(figure)


def _comparison_plot(before: Mapping[str, Any], after: Mapping[str, Any]) -> bytes:
    figure, axes = _figure(3, height=3.2)
    for x, (report, colour) in enumerate(((before, _BEFORE), (after, _AFTER))):
        rate = report["success_rate"]
        low, high = report.get("ci95", (rate, rate))
        axes[0].bar(x, rate, color=colour, yerr=[[rate - low], [high - rate]], capsize=6)
    axes[0].set(title="Success rate (95% CI)", xticks=[0, 1], xticklabels=["before", "after"], ylim=(0, 1))
    for offset, (report, colour, label) in enumerate(((before, _BEFORE, "before"), (after, _AFTER, "after"))):
        values = [report["latency_s"]["p50"], report["latency_s"]["p95"]]
        axes[1].bar([i + 0.4 * offset for i in range(2)], values, width=0.4, color=colour, label=label)
    axes[1].set(title="Latency (s)", xticks=[0.2, 1.2], xticklabels=["p50", "p95"])
    axes[1].legend()
    names = list(dict.fromkeys([*after.get("nodes", {}), *before.get("nodes", {})]))
    for offset, (report, colour, label) in enumerate(((before, _BEFORE, "before"), (after, _AFTER, "after"))):
        values = [report.get("nodes", {}).get(n, {}).get("mean_s", 0.0) for n in names]
        axes[2].barh([i + 0.4 * offset for i in range(len(names))], values, height=0.4, color=colour, label=label)
    axes[2].set(title="Mean seconds per node run", yticks=[i + 0.2 for i in range(len(names))], yticklabels=names)
    axes[2].locator_params(axis="x", nbins=4)
    axes[2].legend()
    return png(figure)


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def save_report(
    report: Mapping[str, Any], folder: Path, baseline: Mapping[str, Any] | None = None
) -> tuple[Path, Path]:
    """Write `report` into `folder` as `report.json` and `report.html` (each replaced atomically); return both.

    Example:
        >>> import tempfile
        >>> from graphwright.evals import build_report, load_report
        >>> report = build_report([{"id": "a", "ok": True, "seconds": 2.0}], graph="g", tasks_file="t", concurrency=1)
        >>> json_path, html_path = save_report(report, Path(tempfile.mkdtemp()))
        >>> load_report(json_path)["success_rate"], html_path.name
        (1.0, 'report.html')
    """
    folder.mkdir(parents=True, exist_ok=True)
    json_path, html_path = folder / "report.json", folder / "report.html"
    write_text_atomic(json_path, json.dumps(report, indent=1, ensure_ascii=False, default=str) + "\n")
    save_html(report, html_path, baseline)
    return json_path, html_path


def save_html(report: Mapping[str, Any], path: Path, baseline: Mapping[str, Any] | None = None) -> Path:
    """Write `render_html(report, baseline)` to `path` and its plots beside it as PNG files, each replaced
    atomically (readers never see half a page or picture): beside a `report.html` they are `latency.png`,
    `usage.png`, `nodes.png` (when node timings were recorded) and `comparison.png` (given a baseline); beside
    another page, `STEM-latency.png` and so on.

    Returns:
        `path`.

    Raises:
        OSError: `path`'s folder is missing or not writable.
    """
    plots = _report_plots(report, baseline)
    save_pngs(path, plots)
    write_text_atomic(path, _page(report, baseline, plots))
    return path
