"""Approval from the command line: a run stops at the call, `resume --approve/--reject/--edit` decides it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

GRAPH = "effect_graphs:payments"


def _start(graphwright, db: str, thread: str):
    started = graphwright("run", GRAPH, "please pay bob 500", "--thread", thread, "--db", db)
    assert started.returncode == 3, started.stderr
    assert started.stdout.strip().splitlines()[-1] == "[tools] awaiting approval: pay(to='bob', amount=500) [call pay-1]"
    assert f"graphwright resume --thread {thread} --approve" in started.stderr
    return started


@pytest.mark.parametrize(
    ("flags", "effects", "answer"),
    [
        (["--approve"], ["paid 500 to bob"], "Done: paid 500 to bob."),
        (["--edit", '{"to": "bob", "amount": 5}'], ["paid 5 to bob"], "Done: paid 5 to bob."),
        (["--reject", "over budget"], [], "Nothing was done: A human rejected this call: over budget. It was not executed."),
        (["--reject"], [], "Nothing was done: A human rejected this call. It was not executed."),
    ],
    ids=["approve", "edit", "reject-why", "reject"],
)
def test_run_waits_for_approval_and_resume_applies_the_decision(
    tmp_path: Path, graphwright, effects_file: Path, flags: list[str], effects: list[str], answer: str
) -> None:
    db = str(tmp_path / "c.sqlite")
    _start(graphwright, db, "pay")
    assert not effects_file.exists(), "nothing may be paid before approval"
    waiting = graphwright("resume", GRAPH, "--thread", "pay", "--db", db)  # no decision: still waiting
    assert waiting.returncode == 3 and "awaiting approval: pay(" in waiting.stdout
    done = graphwright("resume", GRAPH, "--thread", "pay", "--db", db, *flags)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == answer
    assert (effects_file.read_text().splitlines() if effects_file.exists() else []) == effects
    again = graphwright("resume", GRAPH, "--thread", "pay", "--db", db, "--approve")
    assert again.returncode == 2 and "has no unfinished run" in again.stderr
    assert (effects_file.read_text().splitlines() if effects_file.exists() else []) == effects


def test_without_a_terminal_the_run_does_not_prompt(tmp_path: Path, graphwright, effects_file: Path) -> None:
    db = str(tmp_path / "c.sqlite")
    started = graphwright("run", GRAPH, "please pay bob 7", "--thread", "t", "--db", db, stdin="a\n")
    assert started.returncode == 3 and "approve, edit or reject?" not in started.stdout
    assert not effects_file.exists()


def test_on_a_terminal_the_run_prompts_and_applies_the_answer(tmp_path: Path, cli_env, effects_file: Path) -> None:
    primary, secondary = os.openpty()
    try:
        os.write(primary, b"maybe\ne\n{\"to\": \"ann\", \"amount\": 3}\n")  # one unclear answer, then an edit
        done = subprocess.run(
            [sys.executable, "-m", "graphwright", "run", GRAPH, "please pay bob 500", "--db", str(tmp_path / "c.sqlite")],
            stdin=secondary,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=cli_env({"GW_EFFECTS": str(effects_file)}),
            text=True,
            timeout=300,
        )
    finally:
        os.close(primary)
        os.close(secondary)
    assert done.returncode == 0, done.stderr
    assert "[tools] awaiting approval: pay(to='bob', amount=500) [call pay-1]" in done.stdout
    assert done.stdout.count("approve, edit or reject? [a/e/r]") == 2
    assert done.stdout.strip().splitlines()[-1] == "Done: paid 3 to ann."
    assert effects_file.read_text().splitlines() == ["paid 3 to ann"]


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--edit", "{not json"], "--edit needs a JSON object of arguments"),
        (["--edit", "[1, 2]"], "got list"),
    ],
)
def test_bad_decisions_are_refused_before_anything_runs(
    tmp_path: Path, graphwright, effects_file: Path, flags: list[str], message: str
) -> None:
    db = str(tmp_path / "c.sqlite")
    _start(graphwright, db, "pay")
    done = graphwright("resume", GRAPH, "--thread", "pay", "--db", db, *flags)
    assert done.returncode == 2 and message in done.stderr and "Traceback" not in done.stderr
    assert not effects_file.exists()


def test_a_decision_for_a_thread_with_nothing_to_approve_is_refused(tmp_path: Path, graphwright) -> None:
    db = str(tmp_path / "c.sqlite")
    done = graphwright("run", "effect_graphs:effects", "go", "--thread", "t", "--db", db)
    assert done.returncode == 0, done.stderr
    refused = graphwright("resume", GRAPH, "--thread", "t", "--db", db, "--approve")
    assert refused.returncode == 2 and "has no unfinished run" in refused.stderr
