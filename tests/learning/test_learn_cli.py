"""`graphwright learn`, `eval --learned` and `trajectories export` end to end in a subprocess.

The learning graph is scripted (`learn_graphs:summing`, no model): it answers right only when the worked
examples it is given show a sum, so what `learn --method in_context` keeps is what makes it pass. The
environment export plays real TextWorldExpress episodes with the `random` graph.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from learn_graphs import write_problems

from graphwright.evals import read_trajectories
from graphwright.learning import Trajectory

HERE = Path(__file__).resolve().parent
TESTS = HERE.parent
LAST = re.compile(r"before=(\d\.\d{3}) after=(\d\.\d{3}) gain=([+-]\d\.\d{3}) kept=(yes|no) learned=(.+)")
SUMMARY = re.compile(r"success_rate=(\d\.\d{3}) tasks=(\d+) p50_s=\S+ p95_s=\S+")


def _env(**extra: str) -> dict[str, str]:
    path = os.pathsep.join(str(p) for p in (TESTS, TESTS / "evals", HERE))
    return dict(os.environ, PYTHONPATH=path, HF_HUB_OFFLINE="1", **extra)


def graphwright(*args: str, cwd: Path | None = None, **env: str) -> subprocess.CompletedProcess[str]:
    """Run `python -m graphwright ARGS` with the test graphs importable; return the finished process."""
    return subprocess.run([sys.executable, "-m", "graphwright", *args], env=_env(**env), cwd=cwd,
                          capture_output=True, text=True, timeout=300)




def learn_args(source: Path, out: Path) -> list[str]:
    return ["learn", "learn_graphs:summing", str(source), "--out", str(out), "--method", "in_context",
            "--dev-size", "4", "--limit", "8", "--concurrency", "2", "--minutes", "5"]


def test_learn_in_context_then_eval_with_what_it_kept_and_export_the_runs(tmp_path: Path) -> None:
    source, out = write_problems(tmp_path / "train.jsonl", 12), tmp_path / "learned"
    done = graphwright(*learn_args(source, out))
    assert done.returncode == 0, done.stderr
    last = LAST.fullmatch(done.stdout.strip().splitlines()[-1])
    assert last and last.groups() == ("0.000", "1.000", "+1.000", "yes", str(out))
    assert "8 demonstrations" in done.stdout and "8 worked examples" in done.stdout
    assert f"--learned {out}" in done.stdout  # where the result is, and how to use it
    for phase in ("collect", "check before", "learn in context", "check after"):
        assert f"[{phase}]" in done.stderr  # a progress line per phase
    report = json.loads((out / "report.json").read_text())
    assert report["kept"] and report["dev_tasks"] == 4 and report["train_tasks"] == 8
    assert set(report["phases"]) == {"collect", "before", "learn", "after"}

    again = graphwright(*learn_args(source, out))  # a finished run: every phase is resumed, nothing redone
    assert again.returncode == 0, again.stderr
    assert "resuming: collect, before, learn, after done" in again.stderr
    assert again.stdout.strip().splitlines()[-1] == done.stdout.strip().splitlines()[-1]

    plain = graphwright("eval", "learn_graphs:summing", str(source), "--out", str(tmp_path / "plain"))
    assert plain.returncode == 0, plain.stderr
    assert SUMMARY.fullmatch(plain.stdout.strip().splitlines()[-1]).groups() == ("0.000", "12")
    evaluated = tmp_path / "with-learned"
    taught = graphwright("eval", "learn_graphs:summing", str(source), "--learned", str(out), "--out", str(evaluated))
    assert taught.returncode == 0, taught.stderr
    assert SUMMARY.fullmatch(taught.stdout.strip().splitlines()[-1]).groups() == ("1.000", "12")
    assert "worked examples" in taught.stderr

    # The task eval's runs as experience records, each with its model call and reward; they read back.
    lines_file = tmp_path / "runs.jsonl"
    exported = graphwright("trajectories", "export", str(evaluated), "-o", str(lines_file))
    assert exported.returncode == 0, exported.stderr
    records = [Trajectory.from_record(json.loads(line)) for line in lines_file.read_text().splitlines()]
    assert len(records) == 12 and all(r.source == "eval" and r.reward == 1.0 for r in records)
    first = next(r for r in records if r.task_id == "train-1")
    assert first.task == "Ann has 2 apples and Bob has 5 apples. How many in all?"
    assert first.calls[-1]["completion"] == "The answer is 7."

    # The learn folder's collected experience, to stdout.
    experience = graphwright("trajectories", "export", str(out))
    assert experience.returncode == 0, experience.stderr
    demos = [Trajectory.from_record(json.loads(line)) for line in experience.stdout.splitlines()]
    assert len(demos) == 8 and {d.source for d in demos} == {"demonstration"}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["learn", "learn_graphs:summing", "{missing}", "--out", "{out}", "--dev-size", "2"], "missing.jsonl"),
        (["learn", "learn_graphs:summing", "{source}", "--out", "{out}", "--method", "dream"], "--method must be"),
        (["learn", "counting", "{source}", "--out", "{out}"], "unknown graph"),
        (["learn", "eval_graphs:counting", "{source}", "--out", "{out}", "--dev-size", "2"], "no examples= parameter"),
        (["learn", "learn_graphs:summing", "{source}", "--out", "{out}", "--dev-size", "6"], "nothing is left to learn"),
        (["learn", "learn_graphs:summing", "{source}", "--out", "{out}", "--device", "tpu"], "--device must be"),
        (["learn", "learn_graphs:summing", "{source}", "--out", "{out}", "--minutes", "0"], "--minutes must be"),
        (["learn", "learn_graphs:summing", "{source}", "--out", "{out}", "--method", "lora"], "no model= parameter"),
        (["learn", "random", "twx:coin", "--out", "{out}", "--method", "in_context"], "no examples= parameter"),
        (["learn", "env_agent", "twx:nogame", "--out", "{out}", "--method", "lora"], "unknown TextWorldExpress game"),
        (["eval", "learn_graphs:summing", "{source}", "--learned", "{out}", "--out", "{out}/eval"], "no finished learn"),
        (["trajectories", "export", "{here}", "-o", "{out}.jsonl"], "is not an eval folder"),
    ],
)
def test_bad_input_exits_2_and_writes_nothing(tmp_path: Path, args: list[str], message: str) -> None:
    source = write_problems(tmp_path / "train.jsonl", 6)
    out = tmp_path / "out"
    values = {"missing": str(tmp_path / "missing.jsonl"), "source": str(source), "out": str(out), "here": str(HERE)}
    done = graphwright(*[a.format(**values) for a in args])
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert done.stderr.strip().splitlines()[-1].startswith("graphwright: error: ")
    assert message in done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["train.jsonl"]  # nothing written


def test_ctrl_c_exits_130_and_the_same_command_resumes(tmp_path: Path) -> None:
    source, out = write_problems(tmp_path / "train.jsonl", 12), tmp_path / "learned"
    log = tmp_path / "stderr.txt"
    with log.open("w") as stderr:
        process = subprocess.Popen([sys.executable, "-m", "graphwright", *learn_args(source, out)],
                                   env=_env(GW_LEARN_SLOW="2"), stdout=subprocess.DEVNULL, stderr=stderr)
        deadline = time.monotonic() + 120
        while "[check before]" not in log.read_text() and time.monotonic() < deadline:
            time.sleep(0.1)  # collected, and checking the graph as it is (each task takes 2 s)
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=60) == 130
    said = log.read_text()
    assert "interrupted" in said and "Run the same command again to resume" in said
    state = json.loads((out / "state.json").read_text())
    assert state["phases"]["collect"]["done"] and "before" not in state["phases"]

    done = graphwright(*learn_args(source, out))
    assert done.returncode == 0, done.stderr
    assert "resuming: collect done" in done.stderr and "[collect]" not in done.stderr
    assert LAST.fullmatch(done.stdout.strip().splitlines()[-1]).group(4) == "yes"


def test_trajectories_export_of_an_environment_eval_reads_back(tmp_path: Path) -> None:
    folder = tmp_path / "coin"
    played = graphwright("eval", "random", "twx:coin", "--limit", "2", "--max-steps", "5", "--out", str(folder))
    assert played.returncode == 0, played.stderr
    target = tmp_path / "episodes.jsonl"
    exported = graphwright("trajectories", "export", str(folder), "-o", str(target))
    assert exported.returncode == 0, exported.stderr
    assert "2 episode line(s)" in exported.stderr
    episodes = list(read_trajectories(target))
    assert [e["seed"] for e in episodes] == [0, 1]
    for episode in episodes:
        assert episode["format"] == "graphwright-trajectory/1" and episode["graph"] == "random"
        assert 1 <= len(episode["trajectory"]) <= 5
        assert all(step["action"] in step["valid_actions"] for step in episode["trajectory"])
    to_stdout = graphwright("trajectories", "export", str(folder))
    assert [json.loads(line) for line in to_stdout.stdout.splitlines()] == episodes
