"""The time-travel commands: `graphwright history`, `graphwright state` and `graphwright fork`.

    graphwright history [GRAPH] --thread ID [--db PATH|URL] [--limit N]
    graphwright state [GRAPH] --thread ID [--checkpoint ID] [--db PATH|URL]
    graphwright fork [GRAPH] --thread ID --checkpoint ID [--set KEY=JSON ...] [--as-node NODE] [--db ...] [--model ...]

`history` prints one line per checkpoint, newest first: id, step, source, next nodes, writing nodes; a corrupt
checkpoint is left out with a warning on stderr, so the intact ones can still be inspected and forked from (every
other command stops on one with `graphwright: error:` naming the thread and checkpoint). `state`
prints the state at a checkpoint (the latest by default) as JSON. `fork` writes the `--set` values on top of
a checkpoint as a new branch of the thread, runs on from it printing steps like `run`, and ends with the answer.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TextIO

from ..errors import GraphwrightError
from ._shared import (
    AWAITING_APPROVAL,
    GRAPH_HELP,
    add_db_option,
    existing_db,
    pending_interrupts,
    show_answer,
    show_interrupts,
    show_steps,
)

__all__ = ["add_history_commands"]


def add_history_commands(sub: Any) -> None:
    """Add the `history`, `state` and `fork` subcommands to the `graphwright` subparsers `sub`.

    Example:
        >>> parser = argparse.ArgumentParser(prog="graphwright")
        >>> add_history_commands(parser.add_subparsers(dest="command"))
        >>> args = parser.parse_args(["fork", "--thread", "t1", "--checkpoint", "c1", "--set", 'answer="no"'])
        >>> args.graph, args.thread, args.checkpoint, args.set
        (None, 't1', 'c1', ['answer="no"'])
    """
    history = sub.add_parser("history", help="list a thread's checkpoints, newest first")
    _common(history)
    history.add_argument("--limit", type=int, default=None, help="show at most this many")
    history.set_defaults(handler=_cmd_history)

    state = sub.add_parser("state", help="print a thread's state at a checkpoint as JSON")
    _common(state)
    state.add_argument("--checkpoint", default=None, help="checkpoint id (default: the latest)")
    state.set_defaults(handler=_cmd_state)

    fork = sub.add_parser("fork", help="fork a thread from a checkpoint with edited state and continue")
    _common(fork)
    fork.add_argument("--checkpoint", required=True, help="the checkpoint id to fork from (see `history`)")
    fork.add_argument(
        "--set", action="append", default=[], metavar="KEY=JSON", help="a state value to write (repeatable)"
    )
    fork.add_argument("--as-node", default=None, help="write the values as if this node returned them")
    fork.add_argument("--model", default=None, help="a .gguf file or Transformers folder (default: packaged)")
    fork.set_defaults(handler=_cmd_fork)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("graph", nargs="?", default=None, help=GRAPH_HELP)
    parser.add_argument("--thread", required=True, help="thread id")
    add_db_option(parser, "of the checkpoints")


@contextmanager
def _opened(args: argparse.Namespace, model: Any = None) -> Iterator[Any]:
    from ..graphs import DEFAULT_GRAPH, check_thread_id, compile_graph, load_graph
    from ..memory import open_checkpointer

    check_thread_id(args.thread)
    db = existing_db(args.db)
    builder = load_graph(args.graph or DEFAULT_GRAPH, model=model)
    compile_graph(builder)
    with open_checkpointer(db) as saver:
        yield compile_graph(builder, checkpointer=saver)


def _cmd_history(args: argparse.Namespace, out: TextIO) -> int:
    from ..graphs import list_checkpoints

    if args.limit is not None and args.limit < 1:
        raise GraphwrightError("--limit must be positive")
    from ..memory import corrupt_checkpoints

    with _opened(args) as graph:
        for info in list_checkpoints(graph, args.thread, limit=args.limit):  # corrupt ones are skipped
            nxt = ",".join(info.next) or "-"
            writes = ",".join(info.writes) or "-"
            where = f"step={info.step}  source={info.source}"
            print(f"{info.checkpoint_id}  {where}  next={nxt}  writes={writes}", file=out)
        for checkpoint_id, why in corrupt_checkpoints(graph.checkpointer, args.thread):
            print(f"graphwright: warning: checkpoint {checkpoint_id} is corrupt, not listed: {why}", file=sys.stderr)
    return 0


def _cmd_state(args: argparse.Namespace, out: TextIO) -> int:
    from ..graphs import state_at

    with _opened(args) as graph:
        snapshot = state_at(graph, args.thread, args.checkpoint)
    shown = {
        "checkpoint": snapshot.config["configurable"].get("checkpoint_id"),
        "next": list(snapshot.next),
        "values": {key: _plain(value) for key, value in dict(snapshot.values).items()},
    }
    print(json.dumps(shown, indent=2, ensure_ascii=False, default=str), file=out)
    return 0


def _cmd_fork(args: argparse.Namespace, out: TextIO) -> int:
    from ..graphs import fork, thread_config

    values = dict(_parse_set(item) for item in args.set)
    model = None
    if args.model is not None:
        from ..models import ChatLocal

        model = ChatLocal(model=args.model)
        model.load()
    with _opened(args, model) as graph:
        config = fork(graph, args.thread, args.checkpoint, values, as_node=args.as_node)
        print(f"forked: {config['configurable']['checkpoint_id']}", file=out, flush=True)
        show_steps(graph, None, config, out)
        snapshot = graph.get_state(thread_config(args.thread))
        pending = pending_interrupts(snapshot)
        show_interrupts(pending, out)
    if pending:
        return AWAITING_APPROVAL
    return show_answer(snapshot.values, out)


def _parse_set(item: str) -> tuple[str, Any]:
    key, sep, raw = item.partition("=")
    if not sep or not key.strip():
        raise GraphwrightError(f"--set needs KEY=JSON, got {item!r}")
    try:
        return key.strip(), json.loads(raw)
    except json.JSONDecodeError as exc:
        raise GraphwrightError(f"--set {key}: the value is not JSON ({exc}); quote strings: {key}='\"text\"'") from exc


def _plain(value: Any) -> Any:
    from langchain_core.messages import BaseMessage

    if isinstance(value, BaseMessage):
        shown: dict[str, Any] = {"type": value.type, "content": value.text, "id": value.id}
        if getattr(value, "tool_calls", None):
            shown["tool_calls"] = [{"name": c["name"], "args": c["args"], "id": c["id"]} for c in value.tool_calls]
        if getattr(value, "name", None):
            shown["name"] = value.name
        return shown
    if isinstance(value, list):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    return value
