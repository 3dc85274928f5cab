"""One arithmetic task through the assistant on the real default model: calls and tokens are counted."""

from __future__ import annotations

from pathlib import Path

import pytest

from graphwright.evals import build_report, load_tasks, run_eval
from graphwright.graphs import build_assistant

ARITHMETIC = Path(__file__).resolve().parents[2] / "bench" / "tasks" / "arithmetic.jsonl"


@pytest.mark.model
def test_one_task_on_the_local_model_counts_calls_and_tokens(local_chat_model, tmp_path: Path) -> None:
    task = next(t for t in load_tasks(ARITHMETIC) if "17 * 23" in t.input)
    graph = build_assistant(model=local_chat_model)
    (result,) = run_eval([task], lambda tools: graph, tmp_path / "out", label="assistant")
    assert result["error"] is None, result["error"]
    assert result["model_calls"] >= 1 and result["calls_without_usage"] == 0
    assert result["prompt_tokens"] > 50 and result["completion_tokens"] > 0
    assert "planner" in result["nodes"] and result["nodes"]["planner"]["seconds"] > 0
    report = build_report([result], graph="assistant", tasks_file=str(ARITHMETIC), concurrency=1)
    assert report["prompt_tokens"]["total"] == result["prompt_tokens"]
