"""The `graphwright` command: run, resume, draw, serve and evaluate agent graphs.

    graphwright run [GRAPH] "question" [--thread ID] [--db PATH|URL] [--model PATH]
    graphwright resume [GRAPH] --thread ID [--db PATH|URL] [--model PATH] [--approve | --reject [WHY] | --edit JSON]
    graphwright draw [GRAPH] [--format mermaid|dot|svg|png] [--thread ID [--db PATH|URL]] [-o FILE]
    graphwright view [GRAPH ...] [--port N] [--db PATH|URL]   (a live view in the browser, on 127.0.0.1)
    graphwright history|state|fork [GRAPH] --thread ID ...   (time travel; see `graphwright fork --help`)
    graphwright serve GRAPH [GRAPH ...] [--port N] [--db PATH|URL]   (the LangGraph server API, live view at /view/)
    graphwright eval GRAPH TASKS [--limit N] [--out DIR] [--baseline REPORT --max-drop F]   (see `eval --help`)
    graphwright eval-compare BEFORE.json AFTER.json -o FILE.html

GRAPH is a built-in name (`assistant`, the default) or `module:attr`. Steps are printed as they happen; the
last line of `run` and `resume` is the answer alone. When a tool call waits for a human's approval, the call is
printed; on a terminal you are asked to approve, edit or reject it, otherwise answer with `resume --approve`,
`--reject [WHY]` or `--edit '{"arg": ...}'`. Exit codes: 0 answered, 1 the run ended without an approved
answer, 2 bad input (nothing is written), 3 waiting for approval, 130 interrupted.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, TextIO

from .errors import GraphwrightError, ThreadStateError

DEFAULT_DB = Path(".graphwright") / "checkpoints.sqlite"


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line `argv` (default: `sys.argv[1:]`) and return the exit code."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        return args.handler(args, sys.stdout)
    except GraphwrightError as exc:
        print(f"graphwright: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("graphwright: interrupted; resume with `graphwright resume --thread ...`", file=sys.stderr)
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="graphwright", description="Agents as state graphs on a local model.")
    sub = parser.add_subparsers(dest="command")

    run = sub.add_parser("run", help="ask a graph a question and print its steps and answer")
    run.add_argument("graph", nargs="?", default=None, help="built-in name or module:attr (default: assistant)")
    run.add_argument("question", help="the question to ask")
    _add_run_options(run)
    run.set_defaults(handler=_cmd_run)

    resume = sub.add_parser("resume", help="continue a thread's unfinished run from its last checkpoint")
    resume.add_argument("graph", nargs="?", default=None, help="built-in name or module:attr (default: assistant)")
    _add_run_options(resume, thread_required=True)
    decision = resume.add_mutually_exclusive_group()
    decision.add_argument("--approve", action="store_true", help="approve the tool call waiting for approval")
    decision.add_argument("--reject", nargs="?", const="", default=None, metavar="WHY", help="reject it (reason optional)")
    decision.add_argument("--edit", default=None, metavar="JSON", help="run it with these arguments (a JSON object)")
    resume.set_defaults(handler=_cmd_resume)

    from .evals._cli import add_eval_commands
    from .graphs._draw_cli import add_draw_command
    from .graphs._history_cli import add_history_commands
    from .graphs._view import add_view_command
    from .service._cli import add_serve_command

    add_draw_command(sub)
    add_eval_commands(sub)
    add_history_commands(sub)
    add_serve_command(sub)
    add_view_command(sub)
    return parser


def _add_run_options(parser: argparse.ArgumentParser, *, thread_required: bool = False) -> None:
    parser.add_argument("--thread", required=thread_required, help="thread id (default: a new one, printed)")
    parser.add_argument(
        "--db",
        default=os.environ.get("GRAPHWRIGHT_DB"),
        help=f"SQLite file or postgresql:// URL for checkpoints (default: $GRAPHWRIGHT_DB or {DEFAULT_DB})",
    )
    parser.add_argument("--model", default=None, help="a .gguf file or Transformers folder (default: packaged)")


def _cmd_run(args: argparse.Namespace, out: TextIO) -> int:
    if not args.question.strip():
        raise _usage("the question is empty")
    return _execute(args, out, question=args.question)


def _cmd_resume(args: argparse.Namespace, out: TextIO) -> int:
    return _execute(args, out, question=None, decision=_decision(args))


AWAITING_APPROVAL = 3
"""Exit code of a run that stopped at a tool call waiting for a human's approval."""


def _decision(args: argparse.Namespace) -> Any:
    """The resume value `--approve`, `--reject` or `--edit` ask for (None when none was given)."""
    import json

    if args.approve:
        return {"action": "approve"}
    if args.reject is not None:
        return {"action": "reject", "reason": args.reject} if args.reject else {"action": "reject"}
    if args.edit is not None:
        try:
            edited = json.loads(args.edit)
        except json.JSONDecodeError as exc:
            raise _usage(f"--edit needs a JSON object of arguments: {exc}") from exc
        if not isinstance(edited, dict):
            raise _usage(f"--edit needs a JSON object of arguments, got {type(edited).__name__}")
        return {"action": "edit", "args": edited}
    return None


def _execute(args: argparse.Namespace, out: TextIO, *, question: str | None, decision: Any = None) -> int:
    """Validate everything that can be checked up front, then run or resume; nothing is written before."""
    from .graphs import DEFAULT_GRAPH, check_thread_id, compile_graph, load_graph, new_thread_id, thread_config
    from .memory import check_sqlite_path, is_postgres_url, open_checkpointer

    thread_id = check_thread_id(args.thread) if args.thread is not None else new_thread_id()
    db = args.db or str(DEFAULT_DB)
    if not is_postgres_url(db):
        if args.db is None:
            DEFAULT_DB.parent.mkdir(exist_ok=True)
        check_sqlite_path(Path(db))
    model = None
    if args.model is not None or (args.graph or DEFAULT_GRAPH) == DEFAULT_GRAPH:
        from .models import ChatLocal

        model = ChatLocal(model=args.model)
        model.load()  # a missing or broken model fails here, before any checkpoint is written
    builder = load_graph(args.graph or DEFAULT_GRAPH, model=model)
    compile_graph(builder)  # a malformed graph fails here, before the database is touched
    config = thread_config(thread_id)
    with open_checkpointer(db) as saver:
        graph = compile_graph(builder, checkpointer=saver)
        pending = graph.get_state(config).next
        if question is None and not pending:
            raise ThreadStateError(f"thread {thread_id!r} has no unfinished run to resume in {db}")
        if question is not None and pending:
            raise ThreadStateError(
                f"thread {thread_id!r} has an unfinished run (next: {', '.join(pending)}); "
                "continue it with `graphwright resume` or use another thread"
            )
        if decision is not None and not _pending_interrupts(graph.get_state(config)):
            raise ThreadStateError(f"thread {thread_id!r} has no tool call waiting for approval")
        print(f"thread: {thread_id}", file=out, flush=True)
        from langgraph.types import Command

        run_input: Any = None if question is None else {"messages": [("human", question)]}
        if decision is not None:
            run_input = Command(resume=decision)
        while True:
            for node, update in _updates(graph, run_input, config):
                for line in describe_update(node, update):
                    print(f"[{node}] {line}", file=out, flush=True)
            pending = _pending_interrupts(graph.get_state(config))
            if not pending:
                break
            for node, value in pending:
                print(f"[{node}] {describe_interrupt(value)}", file=out, flush=True)
            answer = _ask(out) if sys.stdin.isatty() else None
            if answer is None:
                print(
                    f"graphwright: waiting for approval; answer with `graphwright resume --thread {thread_id} "
                    "--approve`, `--reject [WHY]` or `--edit JSON`",
                    file=sys.stderr,
                )
                return AWAITING_APPROVAL
            run_input = Command(resume=answer)
        values = graph.get_state(config).values
    answer = (values.get("answer") or "").strip() if isinstance(values, dict) else ""
    print(answer or "(no answer)", file=out, flush=True)
    verdict = values.get("verdict") if isinstance(values, dict) else None
    return 0 if answer and verdict in (None, "approve") else 1


def _updates(graph: Any, run_input: Any, config: Any) -> Iterator[tuple[str, Any]]:
    # durability="sync": each step's checkpoint is on disk before the next step starts, so a kill -9 loses
    # at most the step that was running.
    for chunk in graph.stream(run_input, config, stream_mode="updates", durability="sync"):
        for node, update in chunk.items():
            if node != "__interrupt__":  # shown from the saved state once the run has stopped
                yield node, update


def _pending_interrupts(snapshot: Any) -> list[tuple[str, Any]]:
    return [(task.name, item.value) for task in snapshot.tasks for item in (task.interrupts or ())]


def describe_interrupt(value: Any) -> str:
    """Return one line for a pending interrupt: the tool call awaiting approval, or the interrupt's value."""
    if isinstance(value, dict) and value.get("type") == "tool_approval":
        args = ", ".join(f"{k}={v!r}" for k, v in (value.get("args") or {}).items())
        return f"awaiting approval: {value.get('tool')}({args}) [call {value.get('id')}]"
    return f"interrupted: {_one_line(repr(value))}"


def _ask(out: TextIO) -> Any:
    """Ask on the terminal what to do with the pending call; None when stdin closes."""
    import json

    while True:
        print("approve, edit or reject? [a/e/r] ", end="", file=out, flush=True)
        choice = sys.stdin.readline()
        if not choice:
            return None
        choice = choice.strip().lower()
        if choice in ("a", "approve"):
            return {"action": "approve"}
        if choice in ("r", "reject"):
            print("reason (optional): ", end="", file=out, flush=True)
            reason = sys.stdin.readline().strip()
            return {"action": "reject", "reason": reason} if reason else {"action": "reject"}
        if choice in ("e", "edit"):
            print("arguments as a JSON object: ", end="", file=out, flush=True)
            try:
                edited = json.loads(sys.stdin.readline() or "null")
            except json.JSONDecodeError as exc:
                print(f"not JSON: {exc}", file=out, flush=True)
                continue
            if isinstance(edited, dict):
                return {"action": "edit", "args": edited}
            print("the arguments must be a JSON object", file=out, flush=True)


def describe_update(node: str, update: Any) -> list[str]:
    """Return human-readable lines for one node's state update (tool calls, tool results, answers)."""
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


def _usage(message: str) -> GraphwrightError:
    return GraphwrightError(message)


if __name__ == "__main__":
    raise SystemExit(main())
