"""Distributed runs on a real local Ray cluster with Postgres: results as a local run's, and nothing lost, reported
twice or repeated when actors are killed at random moments. One cluster serves the module; when it stops, no
Ray process of it may be left."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
from ray_support import actor_connections, local_cluster, no_ray_processes, tagged, ray_processes

from graphwright.evals import GraphRef, RayOptions, load_tasks, run_episodes_on_ray, run_tasks_on_ray
from graphwright.tools import LEDGER_TABLE

pytestmark = pytest.mark.services

TESTS = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def postgres_url(postgres_url):
    """The test database, its actors' connections named for this module (other runs may share it)."""
    return tagged(postgres_url)


@pytest.fixture(scope="module")
def cluster(postgres_url, tmp_path_factory):
    """A local Ray cluster for the module, its actors writing side effects to one file; stopped and checked. Tasks
    from number 100 on wait for the file GATE beside it (see ray_graphs), which is there unless a test removes it."""
    effects = tmp_path_factory.mktemp("ray") / "effects.txt"
    (effects.parent / "gate").touch()
    with local_cluster({"GW_EFFECTS": str(effects), "GW_PAUSE": "0.3", "GW_GATE": str(effects.parent / "gate"), "GW_GATE_FROM": "100"}):
        yield effects


def write_tasks(folder: Path, numbers, word: str = "task") -> Path:
    path = folder / "tasks.jsonl"
    path.write_text("".join(json.dumps({"id": f"{word}{k}", "input": f"Please do {word} {k}.", "check": {"numeric": k}})
                            + "\n" for k in numbers))
    return path


def effects_of(path: Path, numbers) -> Counter:
    wanted = {str(k) for k in numbers}
    return Counter(line for line in path.read_text().split() if line in wanted) if path.exists() else Counter()


def ledger_threads(url: str, threads, status: str) -> set[str]:
    """Those of `threads` whose `record` call the ledger holds with `status`: `done` (it finished), or `started`
    (it began and never reported back: its outcome is unknown)."""
    import psycopg

    with psycopg.connect(url) as conn:
        rows = conn.execute(f"SELECT key FROM {LEDGER_TABLE} WHERE tool = 'record' AND status = %s", (status,)).fetchall()
    return {row[0].split("|", 1)[0] for row in rows} & set(threads)


class Killer(threading.Thread):
    """Kills `target` live actors of the run, one at a random moment after another: by `ray.kill`, or SIGKILL
    of the actor's process, alternately."""

    def __init__(self, target: int, seed: int = 23, gate: Path | None = None) -> None:
        super().__init__(daemon=True)
        self.target, self.rng, self.kills, self.stop = target, random.Random(seed), [], threading.Event()
        self.gate = gate  # created once the kills are done: the run's gated tasks wait for it

    def run(self) -> None:
        import ray

        while len(self.kills) < self.target and not self.stop.wait(self.rng.uniform(0.1, 0.7)):
            names = [n for n in ray.util.list_named_actors() if n.startswith("graphwright-")]
            self.rng.shuffle(names)
            for name in names:
                try:
                    actor = ray.get_actor(name)
                    pid = ray.get(actor.pid.remote(), timeout=5)
                except Exception:  # noqa: BLE001 - dead or not started yet: try another
                    continue
                if len(self.kills) % 2:
                    ray.kill(actor)
                else:
                    os.kill(pid, signal.SIGKILL)
                self.kills.append(name)
                break
        if self.gate is not None:
            self.gate.touch()


def test_twenty_actor_kills_lose_no_task_report_none_twice_and_repeat_no_side_effect(cluster, tmp_path, postgres_url):
    numbers = range(0, 200)
    tasks = load_tasks(write_tasks(tmp_path, numbers))
    reported: list[str] = []
    gate = cluster.parent / "gate"
    gate.unlink(missing_ok=True)  # tasks 100-199 wait for the 20th kill: the run cannot end first, however slow restarts are
    killer = Killer(20, gate=gate)
    killer.start()
    started = time.monotonic()
    try:
        results = run_tasks_on_ray(tasks, GraphRef("ray_graphs:recorder"), postgres_url, tmp_path / "out",
                                   label="recorder", options=RayOptions(actors=2, concurrency=4, max_attempts=25),
                                   # a gated task in flight may be killed by most of the 20 kills
                                   on_result=lambda r, done, total: reported.append(r["id"]))
    finally:
        killer.stop.set()
        killer.join()
        gate.touch()
    assert len(killer.kills) == 20, f"the run ended after {len(killer.kills)} kills"
    assert sorted(reported) == sorted(t.id for t in tasks)  # every task reported, each once
    lines = [json.loads(line) for line in (tmp_path / "out" / "results.jsonl").read_text().splitlines()]
    assert sorted(r["id"] for r in lines) == sorted(reported)
    assert [(r["id"], r["answer"], r["error"]) for r in results if not r["ok"]] == []
    assert all(r["answer"] == f"Done {k}." for r, k in zip(results, numbers))
    effects = effects_of(cluster, numbers)
    assert [k for k, n in effects.items() if n > 1] == []  # no side effect repeated
    done = ledger_threads(postgres_url, [r["thread_id"] for r in results], "done")
    by_thread = {r["thread_id"]: str(k) for r, k in zip(results, numbers)}
    assert all(effects[by_thread[t]] == 1 for t in done)
    assert actor_connections(postgres_url) == 0
    print(f"20 kills, {len(effects)} side effects, {len(done)} done in the ledger, {time.monotonic() - started:.1f}s")


def test_a_task_that_kills_its_actor_is_failed_after_max_attempts_alone(cluster, tmp_path, postgres_url):
    lines = [{"id": f"task{k}", "input": f"Please do task {k}.", "check": {"numeric": k}} for k in range(200, 206)]
    lines.insert(2, {"id": "crash", "input": "Please crash 299.", "check": {"numeric": 299}})
    (tmp_path / "t.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    results = run_tasks_on_ray(load_tasks(tmp_path / "t.jsonl"), GraphRef("ray_graphs:recorder"), postgres_url,
                               tmp_path / "out", label="recorder", options=RayOptions(actors=2, max_attempts=2))
    by_id = {r["id"]: r for r in results}
    assert not by_id["crash"]["ok"]
    assert by_id["crash"]["error"].startswith("its Ray actor died 2 times, each time with this task on it")
    assert [r["id"] for r in results if not r["ok"]] == ["crash"]  # the tasks beside it were not charged
    effects = effects_of(cluster, range(200, 206))
    assert [k for k, n in effects.items() if n > 1] == []  # no side effect repeated
    # A task on the crashing actor may die after its `record` call started and before it wrote: its rerun is told
    # the outcome is unknown and does not call it again. Every other task's effect is there.
    unknown = ledger_threads(postgres_url, [by_id[f"task{k}"]["thread_id"] for k in range(200, 206)], "started")
    assert {str(k) for k in range(200, 206) if by_id[f"task{k}"]["thread_id"] not in unknown} <= set(effects)
    assert actor_connections(postgres_url) == 0


def test_a_rerun_into_the_same_folder_runs_nothing_again(cluster, tmp_path, postgres_url):
    tasks = load_tasks(write_tasks(tmp_path, range(300, 303)))
    options = RayOptions(actors=1, concurrency=3)
    first = run_tasks_on_ray(tasks, "ray_graphs:recorder", postgres_url, tmp_path / "out", label="r", options=options)
    again = run_tasks_on_ray(tasks, "ray_graphs:recorder", postgres_url, tmp_path / "out", label="r", options=options)
    assert first == again and all(r["ok"] for r in first)
    assert effects_of(cluster, range(300, 303)) == Counter(str(k) for k in range(300, 303))


@pytest.mark.model
def test_episodes_with_the_real_model_on_ray(cluster, postgres_url):
    results = run_episodes_on_ray(GraphRef("env_agent", max_new_tokens=16), "twx:coin?max_steps=2", postgres_url,
                                  episodes=2, label="env_agent", options=RayOptions(actors=1, concurrency=2))
    assert [r["seed"] for r in results] == [0, 1]
    assert all(r["error"] is None and 1 <= r["steps"] <= 2 and r["model_calls"] >= 1 for r in results)
    assert actor_connections(postgres_url) == 0


def test_the_example_runs(cluster, tmp_path, postgres_url, capsys, monkeypatch):
    import importlib.util

    path = TESTS.parent / "examples" / "ray_eval.py"
    spec = importlib.util.spec_from_file_location("example_ray_eval", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    results = module.main("ray_graphs:recorder", str(write_tasks(tmp_path, range(400, 404))), db=postgres_url,
                          actors=1, out=str(tmp_path / "out"))
    assert [r["answer"] for r in results] == [f"Done {k}." for k in range(400, 404)]
    assert capsys.readouterr().out.splitlines()[-1].startswith("success_rate=1.000 tasks=4 ")


def _cli(args: list[str], env: dict[str, str], **kwargs) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS / "evals"), str(TESTS), str(TESTS.parent.parent)]),
           "HF_HUB_OFFLINE": "1", **env}
    return subprocess.Popen([sys.executable, "-m", "graphwright", "eval", *args], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **kwargs)


def running_actor() -> int | None:
    """The pid of a graphwright actor of the module's cluster (this process's descendant) running a task now."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # gone meanwhile
            continue
        parents[int(stat.parent.name)] = int(fields[1])
    under, grew = {os.getpid()}, True
    while grew:
        more = {pid for pid, parent in parents.items() if parent in under} - under
        under |= more
        grew = bool(more)
    for pid in sorted(under):
        try:
            title = (Path("/proc") / str(pid) / "cmdline").read_bytes()
        except OSError:
            continue
        if title.startswith(b"ray::_Worker.run_task"):
            return pid
    return None


def test_the_eval_command_joins_a_cluster_survives_a_kill_9_of_an_actor_and_prints_what_a_local_eval_prints(
        cluster, tmp_path, postgres_url):
    import ray

    numbers = range(500, 512)
    tasks = str(write_tasks(tmp_path, numbers))
    env = {"GW_EFFECTS": str(cluster), "GW_PAUSE": "0.3"}  # as the module's cluster has them
    local = _cli(["ray_graphs:recorder", tasks, "--out", str(tmp_path / "local")], env)
    on_ray = _cli(["ray_graphs:recorder", tasks, "--out", str(tmp_path / "ray"), "--ray",
                   ray.get_runtime_context().gcs_address, "--actors", "2", "--concurrency", "2", "--db", postgres_url],
                  env)
    results = tmp_path / "ray" / "results.jsonl"
    deadline, killed = time.monotonic() + 120, None
    while killed is None:  # kill -9 an actor while it runs a task, before the run has finished
        assert on_ray.poll() is None and time.monotonic() < deadline, "the run ended before an actor could be killed"
        killed = running_actor()
        if killed is not None:
            assert not results.exists() or results.read_text().count("\n") < len(numbers)
            os.kill(killed, signal.SIGKILL)
        time.sleep(0.05)
    (local_out, local_err), (ray_out, ray_err) = local.communicate(timeout=300), on_ray.communicate(timeout=300)
    assert local.returncode == 0 and on_ray.returncode == 0, ray_err
    assert ray_out.splitlines()[-1].split()[:2] == local_out.splitlines()[-1].split()[:2] == ["success_rate=1.000",
                                                                                              "tasks=12"]
    progress = sorted(line.split()[1] for line in ray_err.splitlines() if line.startswith("["))
    assert progress == sorted(line.split()[1] for line in local_err.splitlines() if line.startswith("["))
    assert progress == sorted(f"task{k}" for k in numbers)  # each task reported once, the killed actor's too
    assert sorted(json.loads(line)["id"] for line in results.read_text().splitlines()) == progress
    reports = [json.loads((tmp_path / name / "report.json").read_text()) for name in ("local", "ray")]
    assert reports[0].keys() == reports[1].keys() and reports[1]["concurrency"] == 4
    # Once per run, kill or not. The kill may land after the killed task's `record` call started and before it
    # wrote: its rerun is told the outcome is unknown and does not call it again, so that task has the local
    # run's effect alone.
    effects = effects_of(cluster, numbers)
    rows = {json.loads(line)["id"]: json.loads(line) for line in results.read_text().splitlines()}
    unknown = ledger_threads(postgres_url, [row["thread_id"] for row in rows.values()], "started")
    assert len(unknown) <= 1
    assert effects == Counter({str(k): 1 if rows[f"task{k}"]["thread_id"] in unknown else 2 for k in numbers})
    assert [n for n in ray.util.list_named_actors(all_namespaces=True) if "graphwright-" in str(n)] == []
    assert actor_connections(postgres_url) == 0


def test_ctrl_c_leaves_no_ray_process_and_no_postgres_connection(tmp_path, postgres_url):
    temp_dir = tempfile.mkdtemp(prefix="gwr", dir="/tmp")
    out = tmp_path / "out"
    env = {"GW_EFFECTS": str(tmp_path / "effects.txt"), "GW_PAUSE": "0.5", "RAY_TMPDIR": temp_dir}
    proc = _cli(["ray_graphs:recorder", str(write_tasks(tmp_path, range(600, 800))), "--out", str(out), "--ray",
                 "--db", postgres_url], env)
    deadline = time.monotonic() + 120
    while not ((out / "results.jsonl").exists() and (out / "results.jsonl").read_text().count("\n") >= 2):
        assert proc.poll() is None, proc.stderr.read()
        assert time.monotonic() < deadline, "no task finished"
        time.sleep(0.1)
    assert ray_processes(temp_dir), "the cluster is up, and the check below can see it"
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "interrupted" in err
    assert no_ray_processes(temp_dir) == []
    assert actor_connections(postgres_url) == 0


def test_environment_episodes_on_ray_from_the_command_line(cluster, tmp_path, postgres_url):
    import ray

    proc = _cli(["random", "twx:coin", "--limit", "3", "--max-steps", "3", "--out", str(tmp_path / "out"), "--ray",
                 ray.get_runtime_context().gcs_address, "--actors", "1", "--db", postgres_url], {})
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    assert out.splitlines()[-1].split()[1] == "tasks=3"
    assert [json.loads(line)["seed"] for line in (tmp_path / "out" / "trajectories.jsonl").read_text().splitlines()] == [0, 1, 2]


def test_bad_ray_flags_exit_2_before_anything_is_written(tmp_path, capsys, monkeypatch):
    from graphwright.cli import main

    monkeypatch.syspath_prepend(str(TESTS / "evals"))
    tasks = str(write_tasks(tmp_path, [1]))
    for args, message in ((["--ray"], "--ray needs --db postgresql://"), (["--db", "x.sqlite"], "go with --ray"),
                          (["--ray", "--db", "postgresql://h/db", "--actors", "0"], "--actors must be at least 1")):
        assert main(["eval", "ray_graphs:recorder", tasks, "--out", str(tmp_path / "out"), *args]) == 2
        assert message in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
