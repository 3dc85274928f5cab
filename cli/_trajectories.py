"""`graphwright trajectories export`: an eval folder's runs as JSON lines, the input of learning.

    graphwright trajectories export EVAL_DIR [-o FILE.jsonl]

What is written depends on the folder:
- an environment eval (`eval GRAPH twx:GAME ...`, it holds `trajectories.jsonl`): one episode a line in the
  `graphwright-trajectory/1` format (observation, valid actions, action and reward per step; documented in
  `graphwright.evals._envs`);
- a task eval (`eval GRAPH TASKS ...`, it holds `results.jsonl`): one task a line in the
  `graphwright-experience/1` format (each model call's prompt and completion, read from the task's checkpoint
  thread, and the reward: 1 passed, 0 failed; documented in `graphwright.learning._experience`);
- a learn folder (`learn ... --out DIR`, it holds `experience.sqlite`): every collected trajectory, in the
  `graphwright-experience/1` format.

Lines go to stdout, or with `-o` to FILE (written whole, never half). Exit codes: 0 written, 2 not an eval
folder or unreadable (nothing is written).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

from ..errors import GraphwrightError

__all__ = ["add_trajectories_command", "folder_lines"]


def add_trajectories_command(subparsers: Any) -> None:
    """Add `trajectories export` to `subparsers` (from `ArgumentParser.add_subparsers`).

    Example:
        >>> parser = argparse.ArgumentParser(prog="graphwright")
        >>> add_trajectories_command(parser.add_subparsers(dest="command"))
        >>> args = parser.parse_args(["trajectories", "export", "evals/run", "-o", "runs.jsonl"])
        >>> args.folder, args.output
        ('evals/run', 'runs.jsonl')
    """
    group = subparsers.add_parser(
        "trajectories",
        help="export an eval folder's episodes or task runs as JSON lines (the input of learning)",
        description=__doc__.split("\n\n", 2)[2] if __doc__ else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = group.add_subparsers(dest="action", required=True)
    export = actions.add_parser(
        "export",
        help="write an eval folder's trajectories as JSON lines",
        description=__doc__.split("\n\n", 2)[2] if __doc__ else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    export.add_argument("folder", metavar="EVAL_DIR", help="an eval folder (environment or task set) or a learn folder")
    export.add_argument("-o", "--output", default=None, metavar="FILE.jsonl",
                        help="write the lines to this file (default: stdout)")
    export.set_defaults(handler=_cmd_export)


def _cmd_export(args: argparse.Namespace, out: TextIO) -> int:
    target = Path(args.output) if args.output else None
    if target is not None and not target.parent.is_dir():
        raise GraphwrightError(f"cannot write {str(target)!r}: folder {str(target.parent)!r} does not exist")
    kind, lines = folder_lines(Path(args.folder))
    text = [line + "\n" for line in lines]  # read whole first: an unreadable run leaves no partial output
    count = len(text)
    if target is None:
        out.writelines(text)
        out.flush()
    else:
        tmp = target.with_name(f".{target.name}.tmp")
        with tmp.open("w", encoding="utf-8") as handle:
            handle.writelines(text)
        os.replace(tmp, target)
    print(f"graphwright: {count} {kind} line(s)" + (f" written to {target}" if target else ""), file=sys.stderr)
    return 0


def folder_lines(folder: Path) -> tuple[str, Iterator[str]]:
    """Return what `folder` holds (`episode`, `task` or `experience`) and its JSON lines, checked as they are read.

    Raises:
        GraphwrightError: `folder` is not an environment eval, task eval or learn folder; a line or a thread
            cannot be read (`TaskFileError`, `ExperienceError`).
    """
    if not folder.is_dir():
        raise GraphwrightError(f"{str(folder)!r} is not a folder")
    if (folder / "trajectories.jsonl").is_file():
        return "episode", _episodes(folder / "trajectories.jsonl")
    if (folder / "results.jsonl").is_file():
        return "task", _tasks(folder)
    if (folder / "experience.sqlite").is_file():
        return "experience", _experience(folder / "experience.sqlite")
    raise GraphwrightError(f"{str(folder)!r} is not an eval folder: it holds no trajectories.jsonl (environment "
                           "eval), results.jsonl (task eval) or experience.sqlite (learn folder)")


def _episodes(path: Path) -> Iterator[str]:
    from ..evals import read_trajectories

    for episode in read_trajectories(path):
        yield json.dumps(episode, ensure_ascii=False)


def _tasks(folder: Path) -> Iterator[str]:
    """Each finished task of a task eval as an experience record with its model calls copied in."""
    from dataclasses import replace

    from ..evals import previous_results
    from ..learning import calls_of, from_eval_results

    meta = _json(folder / "eval.json")
    results = list(previous_results(folder).values())
    for trajectory in from_eval_results(results, folder, tasks=_questions(folder), graph=meta.get("graph")):
        calls = calls_of(trajectory)
        task = trajectory.task or _first_user(calls)
        record = replace(trajectory, task=task, calls=tuple(calls)).to_record()
        yield json.dumps(record, ensure_ascii=False, default=str)


def _experience(path: Path) -> Iterator[str]:
    from ..learning import ExperienceStore

    with ExperienceStore(path) as store:
        records = [t.to_record() for t in store.trajectories()]
    for record in records:
        yield json.dumps(record, ensure_ascii=False, default=str)


def _questions(folder: Path) -> dict[str, str]:
    """Task id -> question, from the task file the folder's report names (empty when it is gone)."""
    from ..evals import load_tasks

    tasks_file = _json(folder / "report.json").get("tasks_file")
    if not tasks_file or not Path(tasks_file).exists():
        return {}
    try:
        return {task.id: str(task.input) for task in load_tasks(tasks_file)}
    except GraphwrightError:
        return {}


def _first_user(calls: list[dict[str, Any]]) -> str:
    for call in calls:
        for message in call.get("prompt") or []:
            if message.get("role") == "user":
                return str(message.get("content") or "")
    return ""


def _json(path: Path) -> dict[str, Any]:
    try:
        value = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}
