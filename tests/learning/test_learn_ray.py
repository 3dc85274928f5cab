"""`learn`'s collection on a real local Ray cluster with Postgres: the experience it records is what a collection
in this process records, for a task file and for an environment, from Python and from `graphwright learn`.

The agents are scripted (`learn_graphs:half_knowing` answers the even half of the sums unshown; the random
environment agent chooses by seed, episode and step), so two collections of the same tasks must agree.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from learn_graphs import half_knowing, random_agent, write_problems
from ray_support import actor_connections, local_cluster, tagged

from graphwright.cli import main
from graphwright.evals import RayOptions
from graphwright.learning import ExperienceStore, LearnOptions, calls_of, learn

pytestmark = pytest.mark.services

HERE = Path(__file__).resolve().parent


@pytest.fixture(scope="module")
def postgres_url(postgres_url):
    """The test database, its actors' connections named for this module (other runs may share it)."""
    return tagged(postgres_url)


@pytest.fixture(scope="module")
def cluster(postgres_url):
    with local_cluster({}) as temp_dir:
        yield temp_dir


def experience(folder: Path) -> list[tuple]:
    """The store's records as what they say, not where their threads live: sorted, comparable across runs."""
    with ExperienceStore(folder / "experience.sqlite") as store:
        return sorted((t.source, t.task_id, t.task, t.reward, t.success,
                       json.dumps(t.steps if t.steps is not None else calls_of(t), sort_keys=True),
                       json.dumps({k: v for k, v in t.meta.items() if k != "thread_id"}, sort_keys=True))
                      for t in store.trajectories())


def test_collecting_on_ray_records_what_a_local_collection_records(cluster, tmp_path, postgres_url):
    source = write_problems(tmp_path / "train.jsonl", 12)
    options = LearnOptions(dev_size=4, train_limit=None, attempts=1, k=2, concurrency=2)
    on_ray = replace(options, ray=RayOptions(actors=2, concurrency=2), db=postgres_url)
    local = learn(source, tmp_path / "local", half_knowing, options=options, label="half")
    distributed = learn(source, tmp_path / "ray", half_knowing, options=on_ray, label="half")
    rows = experience(tmp_path / "ray")
    assert rows == experience(tmp_path / "local")
    runs = [row for row in rows if row[0] == "eval"]
    assert len(runs) == 8 and {row[3] for row in runs} == {0.0, 1.0}  # the even sums passed, the others not
    assert [(r["before"]["score"], r["after"]["score"], r["kept"]) for r in (local, distributed)] == [(0.75, 1.0, True)] * 2
    assert (distributed["learned"]["experience"]["demonstrations"], distributed["learned"]["experience"]["runs"]) == (8, 8)
    assert distributed["options"]["ray"]["actors"] == 2 and "db" not in distributed["options"]
    assert actor_connections(postgres_url) == 0


def test_collecting_episodes_on_ray_records_what_a_local_collection_records(cluster, tmp_path, postgres_url):
    options = LearnOptions(dev_size=1, train_limit=4, attempts=1, max_steps=5, concurrency=4)  # seed 3's gold path wins
    on_ray = replace(options, ray=RayOptions(actors=1, concurrency=4), db=postgres_url)
    learn("twx:coin", tmp_path / "local", random_agent, options=options, label="random")
    report = learn("twx:coin", tmp_path / "ray", random_agent, options=on_ray, label="random")
    # the agent's episodes; gold paths are collected here either way (and the engine's vary from run to run)
    played = [row for row in experience(tmp_path / "ray") if row[0] == "episode"]
    assert played == [row for row in experience(tmp_path / "local") if row[0] == "episode"]
    assert len(played) == 4 and report["learned"]["experience"]["runs"] == 4
    assert actor_connections(postgres_url) == 0


def test_learn_collects_on_ray_from_the_command_line_joining_a_cluster(cluster, tmp_path, postgres_url, capsys):
    import ray

    source, out = write_problems(tmp_path / "train.jsonl", 8), tmp_path / "learned"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(str(p) for p in (HERE.parent, HERE)), HF_HUB_OFFLINE="1")
    address = ray.get_runtime_context().gcs_address  # the module's cluster, joined as `--ray ADDRESS`
    done = subprocess.run([sys.executable, "-m", "graphwright", "learn", "learn_graphs:summing", str(source), "--out",
                           str(out), "--dev-size", "2", "--attempts", "1", "--ray", address, "--actors", "1",
                           "--concurrency", "3", "--db", postgres_url], env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    assert "6 demonstrations, 6 runs collected" in done.stdout
    assert done.stdout.strip().splitlines()[-1].startswith("before=0.000 after=1.000 gain=+1.000 kept=yes")
    assert json.loads((out / "report.json").read_text())["options"]["ray"]["concurrency"] == 3
    assert [n for n in ray.util.list_named_actors(all_namespaces=True) if "graphwright-" in str(n)] == []
    assert actor_connections(postgres_url) == 0
    assert main(["learn", "learn_graphs:summing", str(source), "--out", str(tmp_path / "other"), "--ray", "--db",
                 postgres_url]) == 2
    assert "give --attempts N" in capsys.readouterr().err
    assert not (tmp_path / "other").exists()
