"""Reports add results up as a hand count would; the HTML embeds its plots; comparisons and the gate."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import pytest

from graphwright.errors import EvalReportError
from graphwright.evals import (
    build_report,
    compare,
    format_comparison,
    format_table,
    gate,
    load_report,
    percentile,
    render_html,
    save_html,
    save_report,
    wilson_interval,
)

PNG = b"\x89PNG\r\n\x1a\n"


def result(task_id: str, ok: bool, seconds: float, *, calls: int = 2, error: str | None = None, nodes=None) -> dict:
    return {
        "id": task_id, "ok": ok, "seconds": seconds, "model_calls": calls, "prompt_tokens": 100 * calls,
        "completion_tokens": 10 * calls, "steps": 2 * calls, "error": error, "answer": f"answer {task_id}",
        "nodes": nodes if nodes is not None else {
            "planner": {"runs": calls, "seconds": seconds / 2, "errors": 0},
            "tools": {"runs": calls, "seconds": seconds / 4, "errors": int(bool(error))},
        },
    }


TEN = [result(f"t{i}", ok=i not in (2, 5, 9), seconds=float(i), calls=1 + i % 3, error="boom" if i == 9 else None)
       for i in range(1, 11)]


def test_report_matches_a_hand_count_of_ten_tasks() -> None:
    report = build_report(TEN, graph="g", tasks_file="t.jsonl", concurrency=4)
    # By hand: 7 of 10 passed; latencies 1..10 s: median (5 + 6) / 2 = 5.5, p95 = 9 + 0.55 * (10 - 9) = 9.55.
    assert (report["tasks"], report["passed"], report["success_rate"]) == (10, 7, 0.7)
    assert report["ci95"] == [pytest.approx(0.3968, abs=1e-4), pytest.approx(0.8922, abs=1e-4)]
    assert report["latency_s"] == {"p50": 5.5, "p95": 9.55, "mean": 5.5, "max": 10.0}
    calls = [1 + i % 3 for i in range(1, 11)]  # 2,3,1,2,3,1,2,3,1,2 = 20
    assert report["model_calls"] == {"total": 20, "per_task": 2.0}
    assert report["prompt_tokens"] == {"total": 2000, "per_task": 200.0}
    assert report["completion_tokens"] == {"total": 200, "per_task": 20.0}
    assert report["steps"] == {"total": 2 * sum(calls), "per_task": 4.0}
    assert report["errors"] == 1
    planner, tools = report["nodes"]["planner"], report["nodes"]["tools"]
    assert (planner["runs"], planner["seconds"], planner["errors"]) == (20, 27.5, 0)
    assert (tools["runs"], tools["seconds"], tools["errors"]) == (20, 13.75, 1)
    assert planner["share"] == pytest.approx(2 / 3, abs=1e-4) and planner["mean_s"] == pytest.approx(27.5 / 20)
    assert list(report["nodes"]) == ["planner", "tools"]  # most time first
    assert [r["id"] for r in report["results"]] == [f"t{i}" for i in range(1, 11)]
    json.dumps(report)  # all JSON


def test_terminal_table_ends_with_the_summary_line() -> None:
    table = format_table(build_report(TEN, graph="g", tasks_file="t.jsonl", concurrency=4))
    assert table.splitlines()[-1] == "success_rate=0.700 tasks=10 p50_s=5.50 p95_s=9.55"
    assert "7/10 = 70.0%  (95% CI 39.7%-89.2%)" in table
    assert re.search(r"planner\s+20\s+27\.50\s+1\.375\s+66\.7%\s+0", table)
    assert "t9: boom" in table and "t2: answer: answer t2" in table


def test_statistics_helpers() -> None:
    assert wilson_interval(0, 0) == (0.0, 1.0)
    low, high = wilson_interval(10, 10)
    assert high == pytest.approx(1.0) and 0.69 < low < 0.73
    assert percentile([], 50) == 0.0 and percentile([3.0], 95) == 3.0


def test_html_embeds_png_plots_and_a_comparison(tmp_path: Path) -> None:
    before = build_report(TEN, graph="g", tasks_file="t.jsonl", concurrency=4)
    flipped = {"t1": False, "t2": True}
    after_rows = [dict(r, ok=flipped.get(r["id"], r["ok"])) for r in TEN]
    after = build_report(after_rows, graph="g", tasks_file="t.jsonl", concurrency=4)
    page = render_html(after, before)
    images = re.findall(r"src='data:image/png;base64,([A-Za-z0-9+/=]+)'", page)
    assert len(images) >= 4 and all(base64.b64decode(i).startswith(PNG) for i in images)
    assert "<h2>Before and after</h2>" in page
    assert "passed before, fail now</b> (1): t1" in page and "failed before, pass now</b> (1): t2" in page
    assert "http" not in page.replace("http-equiv", "")  # self-contained: nothing fetched
    alone = render_html(before)
    assert "Before and after" not in alone and alone.count("data:image/png;base64,") == 3
    json_path, html_path = save_report(after, tmp_path / "out", before)
    assert load_report(json_path) == json.loads(json_path.read_text())
    assert load_report(tmp_path / "out")["passed"] == 7
    assert html_path.read_text() == page
    saved = {p.name: p.read_bytes() for p in html_path.parent.glob("*.png")}  # the same plots, as files
    assert sorted(saved) == ["comparison.png", "latency.png", "nodes.png", "usage.png"]
    assert all(png.startswith(PNG) and base64.b64encode(png).decode() in images for png in saved.values())
    save_html(before, tmp_path / "out" / "before.html")  # another page in the folder keeps its plots apart
    assert (tmp_path / "out" / "before-latency.png").exists() and not (tmp_path / "out" / "before-comparison.png").exists()


def test_html_escapes_answers() -> None:
    rows = [dict(result("x", True, 1.0), answer="<script>alert(1)</script>")]
    page = render_html(build_report(rows, graph="<g>", tasks_file="t", concurrency=1))
    assert "<script>" not in page and "&lt;script&gt;" in page


def test_compare_and_gate() -> None:
    before = build_report(TEN, graph="g", tasks_file="t.jsonl", concurrency=4)
    rows = [dict(r, ok=False) if r["id"] == "t1" else r for r in TEN]
    dropped = build_report(rows, graph="g", tasks_file="t", concurrency=4)
    found = compare(before, dropped)
    assert found["broken"] == ["t1"] and found["fixed"] == []
    assert found["metrics"][0] == ("success rate", 0.7, 0.6, pytest.approx(-0.1))
    passed, message = gate(before, dropped, 0.02)
    assert not passed and "fell from 0.700 to 0.600" in message
    assert gate(before, dropped, 0.1)[0]  # exactly at the margin passes (no float noise)
    assert gate(before, before, 0.0)[0]
    fewer = build_report(TEN[:8], graph="g", tasks_file="t", concurrency=4)
    assert "not the same tasks: 2 only in the baseline, 0 only in this run" in format_comparison(before, fewer)


def test_load_report_refuses_what_is_not_a_report(tmp_path: Path) -> None:
    with pytest.raises(EvalReportError, match="cannot read"):
        load_report(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(EvalReportError, match="not JSON"):
        load_report(tmp_path / "bad.json")
    (tmp_path / "other.json").write_text('{"success_rate": 1}')
    with pytest.raises(EvalReportError, match="not a graphwright eval report"):
        load_report(tmp_path / "other.json")
