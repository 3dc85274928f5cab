"""Eval reports: the numbers a set of task results adds up to, as a dict (saved as JSON) and a terminal table.

Success rate comes with a Wilson 95% interval; latency percentiles interpolate linearly between the sorted
values (so p50 of ten runs is the mean of the 5th and 6th); tokens are what the model's `usage_metadata`
reported; steps are node runs. `compare` lines two reports up (before and after a change), and `gate` is the
regression check CI runs.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..errors import EvalReportError

FORMAT = "graphwright-eval-report/1"
"""The `format` field of every report this module writes."""

_Z95 = 1.959963984540054
_RESULT_FIELDS = (
    "id", "ok", "seconds", "model_calls", "prompt_tokens", "completion_tokens", "steps", "error", "answer", "thread_id"
)


def wilson_interval(successes: int, n: int, z: float = _Z95) -> tuple[float, float]:
    """Return the Wilson score interval for `successes` out of `n` (95% by default); (0, 1) when n is 0.

    Example:
        >>> [round(x, 3) for x in wilson_interval(7, 10)]
        [0.397, 0.892]
    """
    if n == 0:
        return (0.0, 1.0)
    p = successes / n
    centre = p + z * z / (2 * n)
    spread = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    scale = 1 + z * z / n
    return (max(0.0, (centre - spread) / scale), min(1.0, (centre + spread) / scale))


def percentile(values: Sequence[float], q: float) -> float:
    """Return the `q`-th percentile (0-100) of `values`, interpolating linearly; 0.0 when there are none.

    Example:
        >>> percentile([4, 1, 3, 2], 50), percentile(range(1, 11), 95)
        (2.5, 9.55)
    """
    ordered = sorted(float(v) for v in values)
    if not ordered:
        return 0.0
    position = (len(ordered) - 1) * q / 100
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def build_report(
    results: Sequence[Mapping[str, Any]], *, graph: str, tasks_file: str, concurrency: int
) -> dict[str, Any]:
    """Return the report of `results` (as `run_eval` returns them): success, latency, usage, per-node numbers.

    Example:
        >>> rows = [{"id": "a", "ok": True, "seconds": 1.0, "model_calls": 2, "prompt_tokens": 100,
        ...          "completion_tokens": 10, "steps": 4,
        ...          "nodes": {"planner": {"runs": 2, "seconds": 0.8, "errors": 0}}},
        ...         {"id": "b", "ok": False, "seconds": 3.0, "model_calls": 1, "prompt_tokens": 50,
        ...          "completion_tokens": 5, "steps": 2, "error": "boom", "nodes": {}}]
        >>> report = build_report(rows, graph="g", tasks_file="t.jsonl", concurrency=2)
        >>> report["success_rate"], report["latency_s"]["p50"], report["model_calls"], report["errors"]
        (0.5, 2.0, {'total': 3, 'per_task': 1.5}, 1)
    """
    n = len(results)
    passed = sum(1 for r in results if r.get("ok"))
    latencies = [float(r.get("seconds") or 0.0) for r in results]

    def usage(key: str) -> dict[str, float]:
        total = sum(int(r.get(key) or 0) for r in results)
        return {"total": total, "per_task": round(total / n, 3) if n else 0.0}

    nodes: dict[str, dict[str, float]] = {}
    for result in results:
        for name, stats in (result.get("nodes") or {}).items():
            into = nodes.setdefault(name, {"runs": 0, "seconds": 0.0, "errors": 0})
            for key in into:
                into[key] += stats.get(key, 0)
    node_time = sum(s["seconds"] for s in nodes.values())
    for stats in nodes.values():
        stats["seconds"] = round(stats["seconds"], 4)
        stats["mean_s"] = round(stats["seconds"] / stats["runs"], 4) if stats["runs"] else 0.0
        stats["share"] = round(stats["seconds"] / node_time, 4) if node_time else 0.0
    low, high = wilson_interval(passed, n)
    return {
        "format": FORMAT,
        "graph": graph,
        "tasks_file": tasks_file,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "concurrency": concurrency,
        "tasks": n,
        "passed": passed,
        "success_rate": round(passed / n, 6) if n else 0.0,
        "ci95": [round(low, 6), round(high, 6)],
        "errors": sum(1 for r in results if r.get("error")),
        "latency_s": {
            "p50": round(percentile(latencies, 50), 4),
            "p95": round(percentile(latencies, 95), 4),
            "mean": round(sum(latencies) / n, 4) if n else 0.0,
            "max": round(max(latencies, default=0.0), 4),
        },
        "model_calls": usage("model_calls"),
        "prompt_tokens": usage("prompt_tokens"),
        "completion_tokens": usage("completion_tokens"),
        "steps": usage("steps"),
        "calls_without_usage": sum(int(r.get("calls_without_usage") or 0) for r in results),
        "nodes": dict(sorted(nodes.items(), key=lambda item: -item[1]["seconds"])),
        "results": [{key: r.get(key) for key in _RESULT_FIELDS} for r in results],
    }


def load_report(path: str | Path) -> dict[str, Any]:
    """Return the report saved at `path` (a `report.json`, or an eval folder holding one).

    Raises:
        EvalReportError: the file is missing, not JSON, or not an eval report.
    """
    path = Path(path)
    if path.is_dir():
        path = path / "report.json"
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise EvalReportError(f"cannot read report {str(path)!r}: {exc.strerror or exc}") from exc
    except ValueError as exc:
        raise EvalReportError(f"report {str(path)!r} is not JSON: {exc}") from exc
    if not isinstance(report, dict) or report.get("format") != FORMAT:
        raise EvalReportError(f"{str(path)!r} is not a graphwright eval report (no \"format\": {FORMAT!r})")
    return report


def gate(baseline: Mapping[str, Any], report: Mapping[str, Any], max_drop: float) -> tuple[bool, str]:
    """Return (passed, message): the regression gate fails when success dropped by more than `max_drop`.

    Example:
        >>> gate({"success_rate": 0.80}, {"success_rate": 0.78}, 0.02)[0]
        True
        >>> gate({"success_rate": 0.8}, {"success_rate": 0.7}, 0.02)
        (False, 'regression: success rate fell from 0.800 to 0.700 (-0.100), more than the allowed 0.020')
    """
    before, after = float(baseline["success_rate"]), float(report["success_rate"])
    drop = before - after
    change = f"from {before:.3f} to {after:.3f} ({after - before:+.3f})"
    if drop > max_drop + 1e-9:
        return False, f"regression: success rate fell {change}, more than the allowed {max_drop:.3f}"
    return True, f"gate passed: success rate went {change}; allowed drop {max_drop:.3f}"


def compare(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, Any]:
    """Return two reports side by side: `metrics` rows (name, before, after, change) and the tasks that flipped.

    `fixed` lists tasks that failed before and pass now, `broken` the reverse; tasks in only one report are in
    `only_before` / `only_after`.

    Example:
        >>> a = {"success_rate": 0.5, "tasks": 2, "latency_s": {"p50": 2.0, "p95": 3.0}, "results": [
        ...     {"id": "x", "ok": True}, {"id": "y", "ok": False}]}
        >>> b = {"success_rate": 0.5, "tasks": 2, "latency_s": {"p50": 1.0, "p95": 2.0}, "results": [
        ...     {"id": "x", "ok": False}, {"id": "y", "ok": True}]}
        >>> c = compare(a, b)
        >>> c["fixed"], c["broken"], c["metrics"][2]
        (['y'], ['x'], ('latency p50 (s)', 2.0, 1.0, -1.0))
    """
    rows = []
    for name, path in _METRICS:
        old, new = _dig(before, path), _dig(after, path)
        change = round(new - old, 6) if isinstance(old, int | float) and isinstance(new, int | float) else None
        rows.append((name, old, new, change))
    was = {r["id"]: bool(r.get("ok")) for r in before.get("results") or []}
    now = {r["id"]: bool(r.get("ok")) for r in after.get("results") or []}
    return {
        "metrics": rows,
        "fixed": [i for i in now if i in was and now[i] and not was[i]],
        "broken": [i for i in now if i in was and was[i] and not now[i]],
        "only_before": [i for i in was if i not in now],
        "only_after": [i for i in now if i not in was],
    }


_METRICS = (
    ("success rate", ("success_rate",)),
    ("tasks", ("tasks",)),
    ("latency p50 (s)", ("latency_s", "p50")),
    ("latency p95 (s)", ("latency_s", "p95")),
    ("model calls / task", ("model_calls", "per_task")),
    ("prompt tokens / task", ("prompt_tokens", "per_task")),
    ("completion tokens / task", ("completion_tokens", "per_task")),
    ("steps / task", ("steps", "per_task")),
    ("tasks with errors", ("errors",)),
)


def _dig(report: Mapping[str, Any], path: Sequence[str]) -> Any:
    value: Any = report
    for key in path:
        value = value.get(key) if isinstance(value, Mapping) else None
    return value


def format_table(report: Mapping[str, Any]) -> str:
    """Return the report as the terminal shows it; the last line is `success_rate=S tasks=N p50_s=X p95_s=Y`.

    Example:
        >>> rows = [{"id": "a", "ok": True, "seconds": 1.0}, {"id": "b", "ok": False, "seconds": 3.0}]
        >>> print(format_table(build_report(rows, graph="g", tasks_file="t.jsonl", concurrency=1)).splitlines()[-1])
        success_rate=0.500 tasks=2 p50_s=2.00 p95_s=2.90
    """
    n, latency = report["tasks"], report["latency_s"]
    low, high = report["ci95"]
    lines = [
        f"eval: {report['graph']} on {report['tasks_file']} ({n} tasks, concurrency {report['concurrency']})",
        "",
        f"  success rate        {report['passed']}/{n} = {100 * report['success_rate']:.1f}%"
        f"  (95% CI {100 * low:.1f}%-{100 * high:.1f}%)",
        f"  latency             p50 {latency['p50']:.2f} s   p95 {latency['p95']:.2f} s   max {latency['max']:.2f} s",
        f"  model calls         {_usage(report['model_calls'])}",
        f"  prompt tokens       {_usage(report['prompt_tokens'])}",
        f"  completion tokens   {_usage(report['completion_tokens'])}",
        f"  steps (node runs)   {_usage(report['steps'])}",
        f"  tasks with errors   {report['errors']}",
    ]
    if report.get("calls_without_usage"):
        lines.append(f"  (tokens unknown for {report['calls_without_usage']} model calls that reported no usage)")
    if report["nodes"]:
        lines += ["", f"  {'node':<20} {'runs':>6} {'total s':>9} {'mean s':>8} {'time':>6} {'errors':>7}"]
        for name, s in report["nodes"].items():
            lines.append(
                f"  {name[:20]:<20} {s['runs']:>6} {s['seconds']:>9.2f} {s['mean_s']:>8.3f}"
                f" {100 * s['share']:>5.1f}% {s['errors']:>7}"
            )
    failed = [r for r in report["results"] if not r.get("ok")]
    if failed:
        lines += ["", f"  failed tasks ({len(failed)}):"]
        for r in failed[:20]:
            why = r.get("error") or f"answer: {_one_line(r.get('answer') or '(none)')}"
            lines.append(f"    {r['id']}: {_one_line(why)}")
        if len(failed) > 20:
            lines.append(f"    ... and {len(failed) - 20} more (see the JSON report)")
    lines += ["", summary_line(report)]
    return "\n".join(lines)


def summary_line(report: Mapping[str, Any]) -> str:
    """Return `success_rate=S tasks=N p50_s=X p95_s=Y` for `report`."""
    latency = report["latency_s"]
    return (
        f"success_rate={report['success_rate']:.3f} tasks={report['tasks']} "
        f"p50_s={latency['p50']:.2f} p95_s={latency['p95']:.2f}"
    )


def format_comparison(before: Mapping[str, Any], after: Mapping[str, Any]) -> str:
    """Return `compare(before, after)` as terminal lines: one row per metric, then the tasks that flipped."""
    found = compare(before, after)
    lines = [f"  {'':<26} {'before':>10} {'after':>10} {'change':>10}"]
    for name, old, new, change in found["metrics"]:
        lines.append(f"  {name:<26} {fmt_number(old):>10} {fmt_number(new):>10} {fmt_number(change, sign=True):>10}")
    for label in ("broken", "fixed"):
        if found[label]:
            more = f" ... (+{len(found[label]) - 15})" if len(found[label]) > 15 else ""
            lines.append(f"  {label} ({len(found[label])}): {', '.join(found[label][:15])}{more}")
    if found["only_before"] or found["only_after"]:
        lines.append(
            f"  not the same tasks: {len(found['only_before'])} only in the baseline, "
            f"{len(found['only_after'])} only in this run"
        )
    return "\n".join(lines)


def _usage(stats: Mapping[str, Any]) -> str:
    return f"{stats['per_task']:.1f} per task ({stats['total']} in all)"


def fmt_number(value: Any, *, sign: bool = False) -> str:
    """Return a metric for a table: integers as they are, others with 3 decimals, `-` for None."""
    if value is None:
        return "-"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:+d}" if sign else str(value)
    return f"{value:+.3f}" if sign else f"{value:.3f}"


def _one_line(text: str, limit: int = 100) -> str:
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"
