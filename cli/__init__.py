"""The `graphwright` command: run, resume, draw, serve, evaluate and teach agent graphs.

    graphwright run [GRAPH] "question" [--thread ID] [--db PATH|URL] [--model PATH]
    graphwright resume [GRAPH] --thread ID [--db PATH|URL] [--model PATH] [--approve | --reject [WHY] | --edit JSON]
    graphwright draw [GRAPH] [--format mermaid|dot|svg|png] [--thread ID [--db PATH|URL]] [-o FILE]
    graphwright view [GRAPH ...] [--port N] [--db PATH|URL]   (a live view in the browser, on 127.0.0.1)
    graphwright history|state|fork [GRAPH] --thread ID ...   (time travel; see `graphwright fork --help`)
    graphwright serve GRAPH [GRAPH ...] [--port N] [--db PATH|URL]   (the LangGraph server API, live view at /view/)
    graphwright eval GRAPH TASKS [--limit N] [--out DIR] [--baseline REPORT --max-drop F]   (see `eval --help`)
    graphwright eval-compare BEFORE.json AFTER.json -o FILE.html
    graphwright eval GRAPH TASKS|twx:GAME --learned DIR   (with what `learn` kept in DIR)
    graphwright learn GRAPH TASKS|twx:GAME --out DIR [--minutes M] [--method in_context|lora|both]
                      [--device cpu|cuda|auto] [--limit N]   (keeps what helps; see `learn --help`)
    graphwright trajectories export EVAL_DIR [-o FILE.jsonl]   (an eval's episodes or task runs as JSON lines)

GRAPH is a built-in name (`assistant`, the default) or `module:attr`. Steps are printed as they happen; the
last line of `run` and `resume` is the answer alone. When a tool call waits for a human's approval, the call is
printed; on a terminal you are asked to approve, edit or reject it, otherwise answer with `resume --approve`,
`--reject [WHY]` or `--edit '{"arg": ...}'`. Exit codes: 0 answered, 1 the run ended without an approved
answer, 2 bad input (nothing is written), 3 waiting for approval, 130 interrupted.

Each family of commands has its module (`_run`, `_draw`, `_history`, `_view`, `_serve`, `_eval`, `_eval_env`,
`_learn`, `_trajectories`); what they share (the default database, how steps and answers are printed, approval
answers) is in `_shared`. The command modules load when the parser is built, so `import graphwright.cli` stays
light.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from ..errors import GraphwrightError
from ._shared import AWAITING_APPROVAL, DEFAULT_DB, describe_interrupt, describe_update

__all__ = ["AWAITING_APPROVAL", "DEFAULT_DB", "describe_interrupt", "describe_update", "main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line `argv` (default: `sys.argv[1:]`) and return the exit code.

    Example:
        >>> main(["draw", "--format", "nope"])
        2
    """
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        if getattr(args, "trace", False):
            _trace()
        return args.handler(args, sys.stdout)
    except GraphwrightError as exc:
        print(f"graphwright: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("graphwright: interrupted; resume with `graphwright resume --thread ...`", file=sys.stderr)
        return 130
    finally:
        if "graphwright.tracing" in sys.modules:  # only a traced command loaded it
            sys.modules["graphwright.tracing"].flush_traces()  # the last spans reach the collector before exit


_TRACED = ("run", "resume", "fork", "eval", "learn", "serve", "view")
"""The commands that run graphs and so take `--trace`."""


def _trace() -> None:
    """Turn tracing on for `--trace`: where `$GRAPHWRIGHT_TRACE` says, else OTLP to `$OTEL_EXPORTER_OTLP_ENDPOINT`
    (a collector on 127.0.0.1:4318 by default)."""
    import os

    from ..tracing import TRACE_ENV, enable_tracing, enable_tracing_from_env

    if not enable_tracing_from_env():
        os.environ[TRACE_ENV] = "otlp"  # child processes (an eval's workers, `serve --workers`) trace too
        enable_tracing("otlp")


def _parser() -> argparse.ArgumentParser:
    from ._draw import add_draw_command
    from ._eval import add_eval_commands
    from ._history import add_history_commands
    from ._learn import add_learn_command
    from ._run import add_run_commands
    from ._serve import add_serve_command
    from ._trajectories import add_trajectories_command
    from ._view import add_view_command

    parser = argparse.ArgumentParser(prog="graphwright", description="Agents as state graphs on a local model.")
    sub = parser.add_subparsers(dest="command")
    add_run_commands(sub)
    add_draw_command(sub)
    add_eval_commands(sub)
    add_learn_command(sub)
    add_trajectories_command(sub)
    add_history_commands(sub)
    add_serve_command(sub)
    add_view_command(sub)
    for name in _TRACED:
        sub.choices[name].add_argument(
            "--trace", action="store_true",
            help="send OpenTelemetry spans of every run, node, model and tool call over OTLP "
            "(to $OTEL_EXPORTER_OTLP_ENDPOINT; $GRAPHWRIGHT_TRACE=console|URL says otherwise)",
        )
    return parser
