"""`graphwright eval GRAPH twx:GAME|gym:ENV_ID` end to end, in a subprocess like a user runs it."""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
from pathlib import Path

from graphwright.evals import read_trajectories


def _eval(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "graphwright", "eval", *args], capture_output=True, text=True,
                          timeout=300, env=dict(os.environ, HF_HUB_OFFLINE="1"))


def test_eval_random_on_a_twx_game_prints_the_summary_line_and_writes_trajectories(tmp_path: Path) -> None:
    done = _eval("random", "twx:coin", "--limit", "3", "--first-seed", "5", "--fold", "dev", "--max-steps", "10",
                 "--out", str(tmp_path / "run"))
    assert done.returncode == 0, done.stderr
    last = done.stdout.strip().splitlines()[-1]
    assert re.fullmatch(r"success_rate=\d\.\d{3} tasks=3 p50_s=\S+ p95_s=\S+ mean_score=\S+ valid_action_rate=1\.000", last)
    episodes = list(read_trajectories(tmp_path / "run" / "trajectories.jsonl"))
    assert [e["seed"] for e in episodes] == [5, 6, 7] and episodes[0]["env"] == "twx:coin?fold=dev&max_steps=10"
    assert json.loads((tmp_path / "run" / "summary.json").read_text())["tasks"] == 3
    page = (tmp_path / "run" / "report.html").read_text()
    assert page.count("data:image/png;base64,") == 1 and page.count("<details") == 3  # scores plot, 3 replays
    plot = (tmp_path / "run" / "scores.png").read_bytes()  # the plot, also as a file beside the page
    assert plot.startswith(b"\x89PNG\r\n\x1a\n") and base64.b64encode(plot).decode() in page
    assert episodes[0]["trajectory"][0]["action"] in page


def test_eval_on_cartpole_and_bad_environment_input(tmp_path: Path) -> None:
    done = _eval("random", "gym:CartPole-v1", "--limit", "2", "--max-steps", "8", "--out", str(tmp_path / "cp"))
    assert done.returncode == 0, done.stderr
    assert "tasks=2" in done.stdout.strip().splitlines()[-1]
    bad = _eval("random", "twx:chess", "--out", str(tmp_path / "x"))
    assert bad.returncode == 2 and "unknown TextWorldExpress game 'chess'" in bad.stderr
    assert _eval("random", "twx:coin", "--fold", "val").returncode == 2


def test_a_second_run_into_the_same_folder_continues_the_first(tmp_path: Path) -> None:
    out = str(tmp_path / "run")
    first = _eval("random", "twx:coin", "--limit", "2", "--fold", "dev", "--max-steps", "6", "--out", out)
    assert first.returncode == 0, first.stderr
    before = {e["seed"]: e for e in read_trajectories(tmp_path / "run" / "trajectories.jsonl")}
    saved = _checkpoints_per_thread(tmp_path / "run" / "checkpoints.sqlite")
    again = _eval("random", "twx:coin", "--limit", "3", "--fold", "dev", "--max-steps", "6", "--out", out)
    assert again.returncode == 0, again.stderr
    after = {e["seed"]: e for e in read_trajectories(tmp_path / "run" / "trajectories.jsonl")}
    assert sorted(after) == [0, 1, 2]
    assert all(after[seed]["trajectory"] == before[seed]["trajectory"] for seed in (0, 1))
    now = _checkpoints_per_thread(tmp_path / "run" / "checkpoints.sqlite")
    assert len(now) == 3 and {t: now[t] for t in saved} == saved  # the same threads, read back, not played again
    other = _eval("random", "twx:mapreader", "--limit", "1", "--fold", "dev", "--out", out)
    assert other.returncode == 2 and "holds episodes of twx:coin?fold=dev&max_steps=6" in other.stderr


def _checkpoints_per_thread(path: Path) -> dict[str, int]:
    import sqlite3

    with sqlite3.connect(path) as db:
        return dict(db.execute("SELECT thread_id, COUNT(*) FROM checkpoints GROUP BY thread_id").fetchall())
