"""What the commands share: the checkpoint database they default to, how a run's steps, waits and answer are
printed, and how a person's answer to a tool call awaiting approval becomes the value the run resumes with.

Each of these is said here once; the command modules import them.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any, TextIO

from ..errors import GraphwrightError, ThreadStateError

__all__ = [
    "AWAITING_APPROVAL",
    "DB_ENV",
    "DEFAULT_DB",
    "add_db_option",
    "approval_answer",
    "describe_interrupt",
    "describe_update",
    "existing_db",
    "pending_interrupts",
    "show_answer",
    "show_interrupts",
    "show_steps",
    "writable_db",
]

DB_ENV = "GRAPHWRIGHT_DB"
"""Environment variable naming the checkpoint database when `--db` is not given."""

DEFAULT_DB = Path(".graphwright") / "checkpoints.sqlite"
"""The checkpoint database when neither `--db` nor `$GRAPHWRIGHT_DB` names one (relative to the working folder)."""

AWAITING_APPROVAL = 3
"""Exit code of a run that stopped at a tool call waiting for a human's approval."""

GRAPH_HELP = "built-in name or module:attr (default: assistant)"
"""Help of the optional GRAPH argument the thread commands take."""


def add_db_option(parser: argparse.ArgumentParser, holding: str, *, note: str = "") -> None:
    """Add `--db` to `parser`: a SQLite file or `postgresql://` URL `holding` (e.g. "for checkpoints").

    Its default is `$GRAPHWRIGHT_DB` (read when the parser is built), else None: the command then uses
    `DEFAULT_DB`. `note` is appended to the help text.

    Example:
        >>> parser = argparse.ArgumentParser()
        >>> add_db_option(parser, "holding the thread")
        >>> parser.parse_args(["--db", "x.sqlite"]).db
        'x.sqlite'
    """
    parser.add_argument(
        "--db",
        default=os.environ.get(DB_ENV),
        help=f"SQLite file or postgresql:// URL {holding} (default: ${DB_ENV} or {DEFAULT_DB}){note}",
    )


def writable_db(db: str | None) -> str:
    """Return the database a run writes to: `db`, or `DEFAULT_DB` (its folder made); a SQLite path is checked.

    Raises:
        CheckpointerError: a SQLite path that cannot hold a database.
    """
    from ..memory import check_sqlite_path, is_postgres_url

    path = db or str(DEFAULT_DB)
    if not is_postgres_url(path):
        if db is None:
            DEFAULT_DB.parent.mkdir(exist_ok=True)
        check_sqlite_path(Path(path))
    return path


def existing_db(db: str | None) -> str:
    """Return the database a command reads threads from: `db` or `DEFAULT_DB`, which must already exist.

    Raises:
        ThreadStateError: a SQLite file that does not exist (nothing has run there).
        CheckpointerError: a SQLite path that cannot hold a database.
    """
    from ..memory import check_sqlite_path, is_postgres_url

    path = db or str(DEFAULT_DB)
    if not is_postgres_url(path):
        if not Path(path).is_file():
            raise ThreadStateError(f"no checkpoint database at {path}: nothing has run there (see --db)")
        check_sqlite_path(Path(path))
    return path


def show_steps(graph: Any, run_input: Any, config: Any, out: TextIO) -> None:
    """Run or resume `graph` on `run_input`, printing each node's update as `[node] line` as it happens.

    durability="sync": each step's checkpoint is on disk before the next step starts, so a kill -9 loses at
    most the step that was running.
    """
    for chunk in graph.stream(run_input, config, stream_mode="updates", durability="sync"):
        for node, update in chunk.items():
            if node != "__interrupt__":  # shown from the saved state once the run has stopped
                for line in describe_update(node, update):
                    print(f"[{node}] {line}", file=out, flush=True)


def pending_interrupts(snapshot: Any) -> list[tuple[str, Any]]:
    """Return `(node, value)` for each interrupt a state snapshot is waiting on, in task order."""
    return [(task.name, item.value) for task in snapshot.tasks for item in (task.interrupts or ())]


def show_interrupts(pending: list[tuple[str, Any]], out: TextIO) -> None:
    """Print one `[node] ...` line per pending interrupt (see `describe_interrupt`)."""
    for node, value in pending:
        print(f"[{node}] {describe_interrupt(value)}", file=out, flush=True)


def show_answer(values: Any, out: TextIO) -> int:
    """Print a finished run's answer alone on the last line and return the exit code.

    Returns:
        0 when there is an answer and no verdict other than "approve", else 1.
    """
    answer = (values.get("answer") or "").strip() if isinstance(values, dict) else ""
    print(answer or "(no answer)", file=out, flush=True)
    verdict = values.get("verdict") if isinstance(values, dict) else None
    return 0 if answer and verdict in (None, "approve") else 1


def approval_answer(action: str, detail: str | None = None, *, source: str = "--edit") -> dict[str, Any]:
    """Return the value a run resumes with when a person answers a tool call that waits for approval.

    Args:
        action: "approve", "reject" or "edit".
        detail: for "reject" the reason (optional); for "edit" the call's new arguments as a JSON object.
        source: where the edit came from, named in the error.

    Raises:
        GraphwrightError: an unknown action, or an edit that is not a JSON object.

    Example:
        >>> approval_answer("reject", "too much"), approval_answer("edit", '{"amount": 3}')
        ({'action': 'reject', 'reason': 'too much'}, {'action': 'edit', 'args': {'amount': 3}})
    """
    if action == "approve":
        return {"action": "approve"}
    if action == "reject":
        return {"action": "reject", "reason": detail} if detail else {"action": "reject"}
    if action != "edit":
        raise GraphwrightError(f"unknown answer {action!r}: approve, edit or reject")
    try:
        edited = json.loads(detail or "null")
    except json.JSONDecodeError as exc:
        raise GraphwrightError(f"{source} needs a JSON object of arguments: {exc}") from exc
    if not isinstance(edited, dict):
        raise GraphwrightError(f"{source} needs a JSON object of arguments, got {type(edited).__name__}")
    return {"action": "edit", "args": edited}


def describe_interrupt(value: Any) -> str:
    """Return one line for a pending interrupt: the tool call awaiting approval, or the interrupt's value.

    Example:
        >>> describe_interrupt({"type": "tool_approval", "tool": "pay", "args": {"to": "bob"}, "id": "c1"})
        "awaiting approval: pay(to='bob') [call c1]"
    """
    if isinstance(value, dict) and value.get("type") == "tool_approval":
        args = ", ".join(f"{k}={v!r}" for k, v in (value.get("args") or {}).items())
        return f"awaiting approval: {value.get('tool')}({args}) [call {value.get('id')}]"
    return f"interrupted: {_one_line(repr(value))}"


def describe_update(node: str, update: Any) -> list[str]:
    """Return human-readable lines for one node's state update (tool calls, tool results, answers).

    Example:
        >>> from langchain_core.messages import AIMessage
        >>> describe_update("planner", {"messages": [AIMessage("It is 42.")], "verdict": "approve"})
        ['says: It is 42.', 'verdict: approve']
        >>> describe_update("responder", {"messages": [AIMessage("18", response_metadata={"stated": ["18", None]})]})
        ['stated step by step: 18, (none)', 'says: 18']
    """
    from langchain_core.messages import AIMessage, HumanMessage, ToolMessage

    if not isinstance(update, dict):
        return [repr(update)[:200]]
    lines: list[str] = []
    for message in update.get("messages", []) or []:
        if isinstance(message, AIMessage) and message.tool_calls:
            for call in message.tool_calls:
                args = ", ".join(f"{k}={v!r}" for k, v in call["args"].items())
                lines.append(f"calls {call['name']}({args})")
        elif isinstance(message, AIMessage):
            if message.response_metadata.get("stated"):
                stated = ", ".join(answer or "(none)" for answer in message.response_metadata["stated"])
                lines.append(f"stated step by step: {stated}")
            lines.append(f"says: {_one_line(message.text) or '(empty)'}")
        elif isinstance(message, ToolMessage):
            verb = "failed" if message.status == "error" else "returned"
            lines.append(f"{message.name} {verb}: {_one_line(message.text)}")
        elif isinstance(message, HumanMessage):
            lines.append(f"feedback: {_one_line(message.text)}")
    if "verdict" in update:
        lines.append(f"verdict: {update['verdict']}")
    return lines or ["(no change)"]


def _one_line(text: str, limit: int = 200) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"
