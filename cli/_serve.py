"""`graphwright serve GRAPH [GRAPH ...]`: run graphs as a LangGraph-API server under uvicorn.

API keys come from `$GRAPHWRIGHT_API_KEYS` (`key=tenant,...`); without keys the server refuses to start unless
`--no-auth` is given. With `--workers N` (N > 1) use a `postgresql://` `--db`: the workers then share threads,
runs and checkpoints, and a run started on one can be read, joined, resumed or cancelled on any other.

A run in flight when its server died (kill -9 included) is run again, continuing from its last checkpoint: with
SQLite when the server restarts, with Postgres once its lease (`--lease`, 30 s) has expired, by any worker.

The live view is served at `/view/` beside the API (`--no-view` turns it off): its page and pictures load
without a key, and it calls the API with the key given in its URL fragment, `/view/#key=KEY`.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
from pathlib import Path
from typing import Any, TextIO

from ..errors import GraphNotFoundError, ServiceSetupError
from ._shared import DEFAULT_DB, add_db_option

__all__ = ["SERVE_ENV", "add_serve_command", "app_from_env"]

SERVE_ENV = "GRAPHWRIGHT_SERVE"
"""Environment variable carrying the serve settings (JSON) to each uvicorn worker process."""

_OPEN: contextlib.ExitStack | None = None


def add_serve_command(subparsers: Any) -> argparse.ArgumentParser:
    """Add the `serve` subcommand to `subparsers` (from `ArgumentParser.add_subparsers`) and return its parser.

    Example:
        >>> parser = argparse.ArgumentParser(prog="graphwright")
        >>> _ = add_serve_command(parser.add_subparsers(dest="command"))
        >>> args = parser.parse_args(["serve", "assistant", "--port", "9000", "--no-auth"])
        >>> args.graphs, args.port, args.no_auth
        (['assistant'], 9000, True)
    """
    serve = subparsers.add_parser(
        "serve",
        help="serve graphs over the LangGraph server API (for langgraph_sdk and RemoteGraph)",
        description=__doc__.split("\n\n", 1)[1] if __doc__ else None,
    )
    serve.add_argument(
        "graphs",
        nargs="+",
        metavar="GRAPH",
        help="built-in name (assistant) or module:attr, optionally NAME=REF to choose the assistant id",
    )
    serve.add_argument("--host", default="127.0.0.1", help="interface to listen on (default: 127.0.0.1)")
    serve.add_argument("--port", type=int, default=2024, help="port (default: 2024)")
    add_db_option(serve, "for checkpoints", note="; ':memory:' for none")
    serve.add_argument("--workers", type=int, default=1, help="uvicorn worker processes (>1 needs Postgres)")
    serve.add_argument("--model", default=None, help="a .gguf file or Transformers folder (default: packaged)")
    serve.add_argument("--no-auth", action="store_true", help="serve without API keys (local use only)")
    serve.add_argument(
        "--no-view", action="store_true", help="do not serve the live view page at /view/ (it needs no key to load)"
    )
    serve.add_argument("--max-body", type=int, default=None, help="largest request body in bytes")
    serve.add_argument("--rate", type=float, default=None, help="requests per second per tenant and worker")
    serve.add_argument("--burst", type=int, default=None, help="requests a tenant may send at once")
    serve.add_argument("--run-timeout", type=float, default=None, help="seconds a run may take")
    serve.add_argument(
        "--multitask", choices=("reject", "enqueue"), default=None, help="a new run on a busy thread: 409 or wait"
    )
    serve.add_argument(
        "--lease",
        type=float,
        default=None,
        help="with Postgres: seconds after which the threads and unfinished runs of a worker that died are taken "
        "over (its runs continue from their last checkpoint; default 30)",
    )
    serve.set_defaults(handler=_cmd_serve)
    return serve


def _settings(args: argparse.Namespace) -> dict[str, Any]:
    options = {
        "max_body_bytes": args.max_body,
        "rate_per_second": args.rate,
        "rate_burst": args.burst,
        "run_timeout": args.run_timeout,
        "multitask_strategy": args.multitask,
        "busy_lease_seconds": args.lease,
    }
    db = args.db or str(DEFAULT_DB)
    return {
        "graphs": list(args.graphs),
        "db": db,
        "model": args.model,
        "no_auth": bool(args.no_auth),
        "view": not args.no_view,
        "options": {k: v for k, v in options.items() if v is not None},
    }


def _cmd_serve(args: argparse.Namespace, out: TextIO) -> int:
    import uvicorn

    from ..memory import is_postgres_url
    from ..service import ApiKeyAuth, ServiceOptions

    settings = _settings(args)
    if args.workers < 1:
        raise ServiceSetupError("--workers must be at least 1")
    if args.workers > 1 and not is_postgres_url(settings["db"]):
        raise ServiceSetupError("--workers > 1 needs a postgresql:// --db so the workers share threads and runs")
    if not 0 < args.port < 65536:
        raise ServiceSetupError(f"--port must be 1-65535, got {args.port}")
    ServiceOptions(**settings["options"])  # bad limits: refuse before anything is loaded or written
    if not args.no_auth:
        ApiKeyAuth.from_env()  # no keys: likewise
    settings["make_default_dir"] = args.db is None
    os.environ[SERVE_ENV] = json.dumps(settings)
    if args.workers == 1:
        app = app_from_env()  # bad graphs, keys or database fail here, before the port is bound
    else:
        with _opened(settings):  # check everything once in this process before forking workers
            pass
        app = "graphwright.cli._serve:app_from_env"
    auth_note = "auth off (--no-auth)" if args.no_auth else "API keys from $GRAPHWRIGHT_API_KEYS"
    where = f"http://{args.host}:{args.port}"
    print(f"serving {', '.join(settings['graphs'])} on {where} ({auth_note})", file=out, flush=True)
    if settings["view"]:
        key_note = "" if args.no_auth else "#key=YOUR_API_KEY"
        print(f"live view at {where}/view/{key_note}", file=out, flush=True)
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        workers=args.workers,
        factory=args.workers > 1,
        log_level="warning",
        timeout_graceful_shutdown=5,
    )
    return 0


@contextlib.contextmanager
def _opened(settings: dict[str, Any]) -> Any:
    from ..graphs import load_graph
    from ..memory import open_checkpointer
    from ..service import ServiceOptions, create_app, view_app

    model = None
    if settings.get("model"):
        from ..models import ChatLocal

        model = ChatLocal(model=settings["model"])
    graphs: dict[str, Any] = {}
    for ref in settings["graphs"]:
        name, sep, target = ref.partition("=")
        if not sep:
            name, target = _default_name(ref), ref
        if name in graphs:
            raise ServiceSetupError(f"two graphs are named {name!r}; use NAME=REF to tell them apart")
        graphs[name] = load_graph(target, model=model)
    if settings.get("make_default_dir"):
        Path(settings["db"]).parent.mkdir(exist_ok=True)
    with open_checkpointer(settings["db"]) as saver:
        app = create_app(
            graphs,
            checkpointer=saver,
            auth=False if settings["no_auth"] else None,
            options=ServiceOptions(**settings["options"]),
        )
        if settings.get("view", True):
            app = view_app(graphs, api=app)  # the page and its pictures at /view/, the API everywhere else
        yield app


def _default_name(ref: str) -> str:
    if ":" not in ref:
        return ref
    return ref.rsplit(":", 1)[1].rsplit(".", 1)[-1]


def app_from_env() -> Any:
    """Build the app from `$GRAPHWRIGHT_SERVE` (set by `graphwright serve`); used as uvicorn's app factory.

    The checkpointer stays open for the life of the process.

    Raises:
        ServiceSetupError: the variable is missing or malformed.
        GraphNotFoundError: a graph reference does not resolve.
    """
    global _OPEN
    raw = os.environ.get(SERVE_ENV)
    if not raw:
        raise ServiceSetupError(f"${SERVE_ENV} is not set; start the server with `graphwright serve`")
    try:
        settings = json.loads(raw)
    except ValueError as exc:
        raise ServiceSetupError(f"${SERVE_ENV} is not valid JSON: {exc}") from exc
    if not isinstance(settings.get("graphs"), list) or not settings["graphs"]:
        raise GraphNotFoundError(f"${SERVE_ENV} names no graphs")
    stack = contextlib.ExitStack()
    app = stack.enter_context(_opened(settings))
    _OPEN = stack
    return app
