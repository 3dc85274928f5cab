"""`graphwright eval` end to end in a subprocess: the GSM8K dev set on the assistant graph (scripted model),
resuming after a kill, the regression gate, malformed input, BFCL tasks, and `eval-compare`."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

GSM8K = Path(__file__).resolve().parents[1] / "data" / "evalsets" / "gsm8k" / "test_dev.jsonl"
HERE = Path(__file__).resolve().parent
SUMMARY = re.compile(r"success_rate=(\d\.\d{3}) tasks=(\d+) p50_s=(\d+\.\d\d) p95_s=(\d+\.\d\d)")


def _env(**extra: str) -> dict[str, str]:
    return dict(os.environ, PYTHONPATH=f"{HERE.parent}{os.pathsep}{HERE}", HF_HUB_OFFLINE="1", **extra)


def graphwright(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """Run `python -m graphwright ARGS` with the test graphs importable; return the finished process."""
    return subprocess.run(
        [sys.executable, "-m", "graphwright", *args], env=_env(**env), capture_output=True, text=True, timeout=300
    )


def sums_file(folder: Path, count: int) -> Path:
    path = folder / "sums.jsonl"
    rows = [{"id": f"s{i}", "input": f"add {i} and {i + 1}", "check": {"numeric": 2 * i + 1}}
            for i in range(1, count + 1)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_gsm8k_dev_set_on_the_assistant_graph(tmp_path: Path) -> None:
    out = tmp_path / "gsm8k"
    done = graphwright("eval", "eval_graphs:gsm8k_assistant", str(GSM8K), "--limit", "10", "--out", str(out))
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    summary = SUMMARY.fullmatch(lines[-1])
    assert summary, lines[-1]
    assert summary.group(1, 2) == ("0.700", "10")
    assert "7/10 = 70.0%" in done.stdout
    assert re.search(r"^\s+planner\s+\d+", done.stdout, re.MULTILINE)  # the per-node table
    assert "[10/10]" in done.stderr  # progress, one line per task off a terminal

    # A hand count over the saved answers agrees with the report.
    report = json.loads((out / "report.json").read_text())
    questions = [json.loads(line) for line in GSM8K.read_text().splitlines()[:10]]
    answers = {r["id"]: r["answer"] for r in map(json.loads, (out / "results.jsonl").read_text().splitlines())}
    by_hand = 0
    for number, row in enumerate(questions, start=1):
        wanted = row["answer"].split("####")[-1].strip().replace(",", "")
        said = re.findall(r"-?\d+(?:\.\d+)?", answers[f"test_dev-{number}"].replace(",", ""))
        by_hand += bool(said) and float(said[-1]) == float(wanted)
    assert report["passed"] == by_hand == 7
    seconds = sorted(r["seconds"] for r in report["results"])
    assert report["latency_s"]["p50"] == round((seconds[4] + seconds[5]) / 2, 4)
    assert f"{report['latency_s']['p95']:.2f}" == summary.group(4)
    calls = sum(r["model_calls"] for r in report["results"])
    assert report["model_calls"]["total"] == calls > 10  # planner, responder: at least one call each task
    assert {"planner", "critic", "tools", "responder"} <= set(report["nodes"])
    page = (out / "report.html").read_text()
    assert page.count("data:image/png;base64,") >= 3
    assert (out / "checkpoints.sqlite").stat().st_size > 0

    # Each task's run is in the checkpoints, for `graphwright history`.
    thread = report["results"][0]["thread_id"]
    db = str(out / "checkpoints.sqlite")
    history = graphwright("history", "eval_graphs:gsm8k_assistant", "--thread", thread, "--db", db)
    assert history.returncode == 0, history.stderr
    assert "planner" in history.stdout


def test_a_killed_eval_resumes_without_rerunning_finished_tasks(tmp_path: Path) -> None:
    tasks, out = sums_file(tmp_path, 8), tmp_path / "out"
    first_log, second_log = tmp_path / "first.log", tmp_path / "second.log"
    proc = subprocess.Popen(
        [sys.executable, "-m", "graphwright", "eval", "eval_graphs:counting", str(tasks), "--out", str(out),
         "--concurrency", "1"],
        env=_env(GW_EVAL_LOG=str(first_log), GW_EVAL_SLOW="0.5"),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    results = out / "results.jsonl"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and (not results.exists() or len(results.read_text().splitlines()) < 3):
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    finished = [json.loads(line)["id"] for line in results.read_text().splitlines()]
    assert 3 <= len(finished) < 8

    done = graphwright("eval", "eval_graphs:counting", str(tasks), "--out", str(out), GW_EVAL_LOG=str(second_log))
    assert done.returncode == 0, done.stderr
    assert f"resuming: {len(finished)} of 8 tasks done" in done.stderr
    rerun = second_log.read_text().splitlines()
    asked = {f"s{i}": f"add {i} and {i + 1}" for i in range(1, 9)}
    assert not {asked[i] for i in finished} & set(rerun)  # no finished task ran again
    assert sorted(rerun) == sorted(q for i, q in asked.items() if i not in finished)
    assert done.stdout.strip().splitlines()[-1].startswith("success_rate=1.000 tasks=8 ")


def test_ctrl_c_says_how_to_resume(tmp_path: Path) -> None:
    tasks, out = sums_file(tmp_path, 4), tmp_path / "out"
    proc = subprocess.Popen(
        [sys.executable, "-m", "graphwright", "eval", "eval_graphs:counting", str(tasks), "--out", str(out),
         "--concurrency", "1"],
        env=_env(GW_EVAL_SLOW="1"), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not (out / "results.jsonl").exists():
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert f"Run the same command with --out {out} to go on" in stderr


def test_regression_gate_fails_on_a_planted_drop(tmp_path: Path) -> None:
    tasks = sums_file(tmp_path, 5)
    base = graphwright("eval", "eval_graphs:counting", str(tasks), "--out", str(tmp_path / "base"))
    assert base.returncode == 0, base.stderr
    assert base.stdout.strip().splitlines()[-1].startswith("success_rate=1.000 tasks=5 ")
    baseline = str(tmp_path / "base" / "report.json")

    # One task in five now gets a wrong answer: success falls by 0.2.
    dropped = graphwright("eval", "eval_graphs:counting", str(tasks), "--out", str(tmp_path / "after"),
                          "--baseline", baseline, "--max-drop", "0.02", GW_EVAL_WRONG="add 3 and 4")
    assert dropped.returncode == 1, dropped.stderr
    assert "regression: success rate fell from 1.000 to 0.800" in dropped.stderr
    assert dropped.stdout.strip().splitlines()[-1].startswith("success_rate=0.800 tasks=5 ")
    assert re.search(r"success rate\s+1\.000\s+0\.800\s+-0\.200", dropped.stdout)
    assert "broken (1): s3" in dropped.stdout
    assert "Before and after" in (tmp_path / "after" / "report.html").read_text()

    within = graphwright("eval", "eval_graphs:counting", str(tasks), "--out", str(tmp_path / "after"),
                         "--baseline", str(tmp_path / "base"), "--max-drop", "0.2")
    assert within.returncode == 0, within.stderr  # same folder: results reused, gate re-checked
    assert "gate passed" in within.stderr

    compared = graphwright("eval-compare", baseline, str(tmp_path / "after"), "-o", str(tmp_path / "cmp.html"))
    assert compared.returncode == 0, compared.stderr
    assert "broken (1): s3" in compared.stdout
    assert "passed before, fail now" in (tmp_path / "cmp.html").read_text()


def test_bad_input_exits_2_and_writes_nothing(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"input": "add 1 and 2", "check": {"numeric": 3}}\n{"input": "x", "check": {"close_to": 1}}\n')
    out = tmp_path / "out"
    done = graphwright("eval", "eval_graphs:counting", str(bad), "--out", str(out))
    assert done.returncode == 2
    assert f"{bad}:2: unknown checker 'close_to'" in done.stderr
    assert not out.exists()
    for args, message in [
        (["eval_graphs:nothing", str(sums_file(tmp_path, 1))], "has no attribute 'nothing'"),
        (["eval_graphs:counting", str(tmp_path / "missing.jsonl")], "no such file"),
        (["eval_graphs:counting", str(sums_file(tmp_path, 1)), "--limit", "0"], "--limit must be at least 1"),
        (["eval_graphs:counting", str(sums_file(tmp_path, 1)), "--baseline", str(bad)], "not JSON"),
    ]:
        done = graphwright("eval", *args, "--out", str(out))
        assert done.returncode == 2, (args, done.stderr)
        assert message in done.stderr
        assert not out.exists()


def test_bfcl_tasks_give_the_graph_their_tools(tmp_path: Path) -> None:
    folder = tmp_path / "bfcl"
    folder.mkdir()
    function = {"name": "math.factorial", "description": "Factorial.",
                "parameters": {"type": "dict", "properties": {"number": {"type": "integer"}}, "required": ["number"]}}
    cases = [
        {"id": f"simple_{n}", "question": [[{"role": "user", "content": f"Factorial of {n}."}]], "function": [function]}
        for n in (5, 6)
    ]
    answers = [{"id": "simple_5", "ground_truth": [{"math.factorial": {"number": [5]}}]},
               {"id": "simple_6", "ground_truth": [{"math.factorial": {"number": [7]}}]}]
    (folder / "BFCL_v4_simple.json").write_text("".join(json.dumps(c) + "\n" for c in cases))
    (folder / "possible_answer_BFCL_v4_simple.json").write_text("".join(json.dumps(a) + "\n" for a in answers))
    done = graphwright("eval", "eval_graphs:tool_caller", str(folder), "--out", str(tmp_path / "out"))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1].startswith("success_rate=0.500 tasks=2 ")
    refused = graphwright("eval", "eval_graphs:counting", str(folder), "--out", str(tmp_path / "out2"))
    assert refused.returncode == 2
    assert "builder function that takes tools=" in refused.stderr


def test_a_builtin_graph_gets_a_chat_local_with_the_options(tmp_path: Path, monkeypatch, capsys) -> None:
    """The built-in path (`graphwright eval assistant ...`), with ChatLocal swapped for a scripted model."""
    import graphwright.models
    from eval_graphs import _gsm8k_answers, _gsm8k_rule
    from fakes import ScriptedChatModel

    from graphwright.cli import main

    made: list[dict] = []

    class FakeLocal(ScriptedChatModel):
        def __init__(self, model=None, **options):
            super().__init__(rule=_gsm8k_rule(_gsm8k_answers()))
            made.append({"model": model, **options})

        def load(self):
            return None

    monkeypatch.setattr(graphwright.models, "ChatLocal", FakeLocal)
    code = main(["eval", "assistant", str(GSM8K), "--limit", "3", "--max-new-tokens", "48", "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert code == 0
    assert made == [{"model": None, "max_new_tokens": 48}]
    assert out.strip().splitlines()[-1].startswith("success_rate=0.667 tasks=3 ")  # the third is wrong by one


def test_document_qa_tasks_run_over_the_docs_ingested_into_a_vector_memory(tmp_path: Path) -> None:
    corpus = HERE.parent / "data" / "corpus"
    docs_tasks = HERE.parents[1] / "bench" / "tasks" / "docs.jsonl"
    out = tmp_path / "out"
    done = graphwright("eval", "eval_graphs:memory_reader", str(docs_tasks), "--limit", "4", "--docs", str(corpus), "--out", str(out))
    assert done.returncode == 0, done.stderr
    rate, tasks = SUMMARY.search(done.stdout.strip().splitlines()[-1]).group(1, 2)
    assert tasks == "4" and float(rate) >= 0.5  # the best-matching chunk holds the expected words
    assert (out / "memory").is_dir()
    for args, message in [
        (["eval_graphs:counting", str(docs_tasks), "--docs", str(corpus)], "needs a graph that takes memory="),
        (["eval_graphs:memory_reader", str(docs_tasks), "--docs", str(tmp_path / "none")], "is not a folder"),
    ]:
        refused = graphwright("eval", *args, "--out", str(tmp_path / "refused"))
        assert refused.returncode == 2 and message in refused.stderr, refused.stderr
        assert not (tmp_path / "refused").exists()
