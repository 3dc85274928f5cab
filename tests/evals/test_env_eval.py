"""Environment evaluations on real TextWorldExpress and CartPole: results, summary, trajectory files."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from graphwright.errors import TaskFileError
from graphwright.evals import (
    TRAJECTORY_FORMAT,
    env_summary,
    env_summary_line,
    export_trajectories,
    read_trajectories,
    run_env_eval,
)
from graphwright.graphs import build_env_agent, build_random_agent
from graphwright.memory import open_checkpointer

LINE = re.compile(
    r"success_rate=\d\.\d{3} tasks=\d+ p50_s=\d+\.\d\d p95_s=\d+\.\d\d mean_score=-?\d+\.\d{3} valid_action_rate=\d\.\d{3}"
)


def test_episodes_of_a_fold_run_concurrently_and_add_up(tmp_path: Path) -> None:
    with open_checkpointer(tmp_path / "c.sqlite") as saver:
        results = run_env_eval(build_random_agent(seed=2), "twx:coin?fold=test&max_steps=15", episodes=4,
                               first_seed=10, concurrency=2, checkpointer=saver, label="random")
    assert [r["seed"] for r in results] == [10, 11, 12, 13]
    for r in results:
        assert r["steps"] == len(r["trajectory"]) <= 15 and r["valid_action_rate"] == 1.0 and r["error"] is None
        assert r["task"].startswith("Your task") and r["success"] == (r["score"] >= 1.0)
    summary = env_summary(results)
    assert summary["tasks"] == 4 and summary["valid_action_rate"] == 1.0
    assert LINE.fullmatch(env_summary_line(summary))
    # the same seeds give the same episodes
    again = run_env_eval(build_random_agent(seed=2), "twx:coin?fold=test&max_steps=15", episodes=1, first_seed=10)
    assert again[0]["trajectory"] == results[0]["trajectory"]


def test_trajectories_round_trip_through_json_lines(tmp_path: Path) -> None:
    results = run_env_eval(build_random_agent(seed=0), "gym:CartPole-v1?max_steps=10", episodes=2, label="random")
    path = export_trajectories(results, tmp_path / "episodes.jsonl")
    read = list(read_trajectories(path))
    assert [r["format"] for r in read] == [TRAJECTORY_FORMAT] * 2
    assert [r["trajectory"] for r in read] == [r["trajectory"] for r in results]
    assert read[0]["env"] == "gym:CartPole-v1?max_steps=10" and read[0]["trajectory"][0]["valid_actions"] == [
        "push left", "push right"]
    assert json.loads(path.read_text().splitlines()[1])["seed"] == 1
    (tmp_path / "bad.jsonl").write_text('{"format": "other"}\n')
    with pytest.raises(TaskFileError, match="bad.jsonl:1: not a graphwright-trajectory/1 line"):
        list(read_trajectories(tmp_path / "bad.jsonl"))


def test_an_invalid_action_ends_its_episode_as_a_counted_failure() -> None:
    stubborn = build_env_agent(policy=lambda state: "look around" if state["steps"] else "dance")
    results = run_env_eval(stubborn, "twx:coin?max_steps=5", episodes=1)
    assert results[0]["error"].startswith("InvalidActionError: action 'dance' is not valid here")
    assert results[0]["valid_action_rate"] == 0.0 and not results[0]["success"]
    assert env_summary(results)["valid_action_rate"] == 0.0
