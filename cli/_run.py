"""`graphwright run` and `graphwright resume`: ask a graph a question, or continue a thread's unfinished run.

    graphwright run [GRAPH] "question" [--thread ID] [--db PATH|URL] [--model PATH]
    graphwright resume [GRAPH] --thread ID [--db PATH|URL] [--model PATH] [--approve | --reject [WHY] | --edit JSON]

Steps are printed as they happen and the last line is the answer alone. When a tool call waits for approval,
a terminal is asked what to do; otherwise the command exits with `AWAITING_APPROVAL` and `resume` answers.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any, TextIO

from ..errors import GraphwrightError, ThreadStateError
from ._shared import (
    AWAITING_APPROVAL,
    GRAPH_HELP,
    add_db_option,
    approval_answer,
    pending_interrupts,
    show_answer,
    show_interrupts,
    show_steps,
    writable_db,
)

__all__ = ["add_run_commands"]

_ANSWERS = {"a": "approve", "approve": "approve", "e": "edit", "edit": "edit", "r": "reject", "reject": "reject"}
"""What a person may type at the terminal's approval prompt, and the answer each means."""


def add_run_commands(sub: Any) -> None:
    """Add the `run` and `resume` subcommands to `sub` (from `ArgumentParser.add_subparsers`).

    Example:
        >>> parser = argparse.ArgumentParser(prog="graphwright")
        >>> add_run_commands(parser.add_subparsers(dest="command"))
        >>> args = parser.parse_args(["resume", "--thread", "t1", "--reject", "too much"])
        >>> args.graph, args.thread, args.reject, args.approve
        (None, 't1', 'too much', False)
    """
    run = sub.add_parser("run", help="ask a graph a question and print its steps and answer")
    run.add_argument("graph", nargs="?", default=None, help=GRAPH_HELP)
    run.add_argument("question", help="the question to ask")
    _add_run_options(run)
    run.set_defaults(handler=_cmd_run)

    resume = sub.add_parser("resume", help="continue a thread's unfinished run from its last checkpoint")
    resume.add_argument("graph", nargs="?", default=None, help=GRAPH_HELP)
    _add_run_options(resume, thread_required=True)
    decision = resume.add_mutually_exclusive_group()
    decision.add_argument("--approve", action="store_true", help="approve the tool call waiting for approval")
    decision.add_argument("--reject", nargs="?", const="", default=None, metavar="WHY", help="reject it (reason optional)")
    decision.add_argument("--edit", default=None, metavar="JSON", help="run it with these arguments (a JSON object)")
    resume.set_defaults(handler=_cmd_resume)


def _add_run_options(parser: argparse.ArgumentParser, *, thread_required: bool = False) -> None:
    parser.add_argument("--thread", required=thread_required, help="thread id (default: a new one, printed)")
    add_db_option(parser, "for checkpoints")
    parser.add_argument("--model", default=None, help="a .gguf file or Transformers folder (default: packaged)")


def _cmd_run(args: argparse.Namespace, out: TextIO) -> int:
    if not args.question.strip():
        raise GraphwrightError("the question is empty")
    return _execute(args, out, question=args.question)


def _cmd_resume(args: argparse.Namespace, out: TextIO) -> int:
    return _execute(args, out, question=None, decision=_decision(args))


def _decision(args: argparse.Namespace) -> Any:
    """The resume value `--approve`, `--reject` or `--edit` ask for (None when none was given)."""
    if args.approve:
        return approval_answer("approve")
    if args.reject is not None:
        return approval_answer("reject", args.reject)
    if args.edit is not None:
        return approval_answer("edit", args.edit, source="--edit")
    return None


def _execute(args: argparse.Namespace, out: TextIO, *, question: str | None, decision: Any = None) -> int:
    """Validate everything that can be checked up front, then run or resume; nothing is written before."""
    from ..graphs import (
        DEFAULT_GRAPH,
        check_thread_id,
        compile_graph,
        load_graph,
        new_thread_id,
        thread_config,
        unfinished_nodes,
    )
    from ..memory import open_checkpointer

    thread_id = check_thread_id(args.thread) if args.thread is not None else new_thread_id()
    db = writable_db(args.db)
    model = None
    if args.model is not None or (args.graph or DEFAULT_GRAPH) == DEFAULT_GRAPH:
        from ..models import ChatLocal

        model = ChatLocal(model=args.model)
        model.load()  # a missing or broken model fails here, before any checkpoint is written
    builder = load_graph(args.graph or DEFAULT_GRAPH, model=model)
    compile_graph(builder)  # a malformed graph fails here, before the database is touched
    config = thread_config(thread_id)
    with open_checkpointer(db) as saver:
        graph = compile_graph(builder, checkpointer=saver)
        pending = unfinished_nodes(graph.get_state(config))  # saved writes not yet checkpointed count too
        if question is None and not pending:
            raise ThreadStateError(f"thread {thread_id!r} has no unfinished run to resume in {db}")
        if question is not None and pending:
            raise ThreadStateError(
                f"thread {thread_id!r} has an unfinished run (next: {', '.join(pending)}); "
                "continue it with `graphwright resume` or use another thread"
            )
        if decision is not None and not pending_interrupts(graph.get_state(config)):
            raise ThreadStateError(f"thread {thread_id!r} has no tool call waiting for approval")
        print(f"thread: {thread_id}", file=out, flush=True)
        from langgraph.types import Command

        run_input: Any = None if question is None else {"messages": [("human", question)]}
        if decision is not None:
            run_input = Command(resume=decision)
        while True:
            show_steps(graph, run_input, config, out)
            waiting = pending_interrupts(graph.get_state(config))
            if not waiting:
                break
            show_interrupts(waiting, out)
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
    return show_answer(values, out)


def _ask(out: TextIO) -> Any:
    """Ask on the terminal what to do with the pending call; None when stdin closes."""
    while True:
        print("approve, edit or reject? [a/e/r] ", end="", file=out, flush=True)
        choice = sys.stdin.readline()
        if not choice:
            return None
        action = _ANSWERS.get(choice.strip().lower())
        if action is None:
            continue
        detail = None
        if action == "reject":
            print("reason (optional): ", end="", file=out, flush=True)
            detail = sys.stdin.readline().strip()
        elif action == "edit":
            print("arguments as a JSON object: ", end="", file=out, flush=True)
            detail = sys.stdin.readline()
        try:
            return approval_answer(action, detail, source="the edit")
        except GraphwrightError as exc:
            print(exc, file=out, flush=True)
