"""The command line: a run prints its steps and answer; bad input fails cleanly; a killed run resumes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from kill_support import kill_when, next_nodes
from langchain_core.messages import BaseMessage

from graphwright.graphs import compile_graph, load_graph, thread_config
from graphwright.memory import open_checkpointer

TESTS = Path(__file__).parent
GRAPH = "scripted_graphs:slow_assistant"


def graphwright(*args: str, env: dict[str, str] | None = None, **kwargs) -> subprocess.CompletedProcess[str]:
    """Run `python -m graphwright ARGS` with tests/ importable; return the finished process."""
    return subprocess.run(
        [sys.executable, "-m", "graphwright", *args],
        env=_env(env),
        capture_output=True,
        text=True,
        timeout=300,
        **kwargs,
    )


def _env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ, PYTHONPATH=str(TESTS), HF_HUB_OFFLINE="1")
    env.update(extra or {})
    return env


def final_state(db: str, thread: str) -> dict:
    with open_checkpointer(db) as saver:
        graph = compile_graph(load_graph(GRAPH), checkpointer=saver)
        snapshot = graph.get_state(thread_config(thread))
    assert not snapshot.next, f"thread {thread} did not finish: next={snapshot.next}"
    values = dict(snapshot.values)
    values["messages"] = [_comparable(m) for m in values["messages"]]
    if "usage" in values:  # the spend must match; the question's id is random and the seconds are timing
        values["usage"] = (values["usage"]["calls"], values["usage"]["tokens"])
    return values


def _comparable(message: BaseMessage) -> tuple:
    """A message without its random id, for comparing two runs."""
    calls = [(c["name"], c["args"], c["id"]) for c in getattr(message, "tool_calls", [])]
    return (message.type, message.text, calls, getattr(message, "tool_call_id", None))


def test_run_prints_steps_and_ends_with_the_answer(tmp_path: Path) -> None:
    done = graphwright("run", GRAPH, "add 20 and 22", "--thread", "t1", "--db", str(tmp_path / "c.sqlite"))
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert lines[0] == "thread: t1"
    assert "[planner] calls slow_add(a=20, b=22)" in lines
    assert "[tools] slow_add returned: 42" in lines
    assert "[critic] verdict: approve" in lines
    assert lines[-1] == "The answer is 42."


def test_draw_prints_mermaid_for_builtin_and_module_graphs() -> None:
    for ref in ("assistant", GRAPH):
        done = graphwright("draw", ref)
        assert done.returncode == 0, done.stderr
        assert "planner -.-> tools;" in done.stdout and "tools --> responder;" in done.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "nosuch", "q"], "unknown graph 'nosuch'"),
        (["run", "no_such_module:graph", "q"], "cannot import module 'no_such_module'"),
        (["run", "scripted_graphs:nothing", "q"], "has no attribute 'nothing'"),
        (["run", GRAPH, "q", "--thread", "bad id!"], "invalid thread id 'bad id!'"),
        (["run", GRAPH, "q", "--thread", "x" * 129], "invalid thread id"),
        (["run", GRAPH, "   "], "the question is empty"),
        (["run", "assistant", "q", "--model", "/nonexistent/model.gguf"], "model '/nonexistent/model.gguf' not found"),
        (["resume", GRAPH, "--thread", "never-started"], "has no unfinished run to resume"),
    ],
)
def test_bad_input_fails_with_a_clear_error_and_writes_nothing(tmp_path: Path, args: list[str], message: str) -> None:
    db = tmp_path / "c.sqlite"
    done = graphwright(*args, "--db", str(db))
    assert done.returncode == 2
    assert message in done.stderr
    assert "Traceback" not in done.stderr
    if args[0] == "run":
        assert not db.exists(), "a rejected run must not create the database"


@pytest.mark.parametrize(
    ("prepare", "message"),
    [
        (lambda p: p.mkdir(), "is a folder"),
        (lambda p: p.write_text("my notes, not a database\n"), "is not a SQLite database"),
        (lambda p: None, "does not exist"),
    ],
    ids=["folder", "not-sqlite", "missing-folder"],
)
def test_unusable_database_path_is_refused_untouched(tmp_path: Path, prepare, message: str) -> None:
    db = tmp_path / "db.sqlite" if message != "does not exist" else tmp_path / "missing" / "db.sqlite"
    prepare(db)
    before = sorted(p.name for p in tmp_path.rglob("*"))
    content = db.read_bytes() if db.is_file() else None
    done = graphwright("run", GRAPH, "add 1 and 2", "--db", str(db))
    assert done.returncode == 2 and message in done.stderr
    assert sorted(p.name for p in tmp_path.rglob("*")) == before
    if content is not None:
        assert db.read_bytes() == content


def test_new_question_on_a_thread_with_an_unfinished_run_is_refused(tmp_path: Path) -> None:
    db = str(tmp_path / "c.sqlite")
    _kill_inside_tool(tmp_path, db, "t-busy")
    done = graphwright("run", GRAPH, "add 1 and 2", "--thread", "t-busy", "--db", db)
    assert done.returncode == 2 and "has an unfinished run (next: tools)" in done.stderr


def _kill_inside_tool(tmp_path: Path, db: str, thread: str) -> None:
    """Start a run, SIGKILL it while its tool runs (after the planner's checkpoint), and check where it stopped."""
    marker = tmp_path / f"{thread}.marker"
    args = ["run", GRAPH, "add 391 and 4", "--thread", thread, "--db", db]
    kill_when(args, _env({"GW_SLOW": "60", "GW_MARKER": str(marker)}), marker.exists, waiting_for="its tool")
    assert next_nodes(db, GRAPH, thread) == ("tools",), "the kill should leave the run waiting at its tool step"


def _kill_and_resume_matches_uninterrupted(tmp_path: Path, db: str, prefix: str) -> None:
    killed, clean = f"{prefix}-killed", f"{prefix}-clean"
    _kill_inside_tool(tmp_path, db, killed)
    resumed = graphwright("resume", GRAPH, "--thread", killed, "--db", db)
    assert resumed.returncode == 0, resumed.stderr
    assert resumed.stdout.strip().splitlines()[-1] == "The answer is 395."
    uninterrupted = graphwright("run", GRAPH, "add 391 and 4", "--thread", clean, "--db", db)
    assert uninterrupted.returncode == 0, uninterrupted.stderr
    assert final_state(db, killed) == final_state(db, clean)


def test_sigkilled_run_resumes_from_sqlite_to_the_same_final_state(tmp_path: Path) -> None:
    _kill_and_resume_matches_uninterrupted(tmp_path, str(tmp_path / "c.sqlite"), "sqlite")


def test_sigkilled_run_resumes_from_postgres_to_the_same_final_state(
    tmp_path: Path, postgres_url: str, thread_id: str
) -> None:
    _kill_and_resume_matches_uninterrupted(tmp_path, postgres_url, thread_id)


@pytest.mark.model
def test_demo_question_is_answered_by_a_program_on_the_default_model(tmp_path: Path) -> None:
    done = graphwright("run", "What is 17 * 23 + 4?", "--db", str(tmp_path / "c.sqlite"))
    assert done.returncode == 0, done.stderr
    assert "[planner] calls python(code=" in done.stdout
    assert "[tools] python returned: exit code 0 stdout: 395" in done.stdout
    assert "395" in done.stdout.strip().splitlines()[-1]
