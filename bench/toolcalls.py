"""Function-calling benchmark on BFCL v4 (AST categories), with and without constrained decoding.

Runs every `BFCL_v4_<category>.json` in `--data` (a folder laid out like ../shared/data/bfcl/) through
`ChatLocal` with the case's functions bound and `tool_choice="auto"`, scores the calls with the leaderboard's
AST rules (`graphwright.evals.calls_match`: function name; required arguments present, and every argument whose
allowed values do not include ""; every given argument's value among the allowed ones,
numbers by value, strings after case and space normalisation; for `irrelevance`, correct means no call), and
prints a table per mode and category with Wilson 95% intervals. Last line: `constrained: cases=N valid=V%
accuracy=A%`.

Folds: `dev` is the cases at even positions (0, 2, 4, ...) of each file, the ones prompts and grammars were
tuned on; `heldout` is the cases at odd positions, run only to report. `--limit N` takes the first N of the
fold per category. Cases run `--concurrency` at a time, as concurrent calls do in an agent (they share batches).

    .venv/bin/python bench/toolcalls.py --fold dev --limit 25 [--data ../shared/data/bfcl] [--modes constrained,free]
        [--tool-relevance 0.42] [--model DIR]

`--model DIR` checks another model folder (a merged `graphwright learn` result, say) in place of the default, so
learning can be shown not to break tool calling: run it beside a run without `--model`.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import jsonschema

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from graphwright.evals import bfcl_cases, bfcl_files, calls_match, to_json_schema, tool_of, wilson_interval  # noqa: E402
from graphwright.models import ChatLocal  # noqa: E402

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "bfcl"


def valid(reply: Any, tools: dict[str, dict[str, Any]]) -> bool:
    """A plain answer, or only calls to bound tools whose arguments validate against their schemas."""
    if reply.invalid_tool_calls:
        return False
    for call in reply.tool_calls:
        try:
            jsonschema.validate(call["args"], tools[call["name"]]["function"]["parameters"])
        except (jsonschema.ValidationError, jsonschema.SchemaError, KeyError):
            return False
    return True


FOLDS = {"dev": 0, "heldout": 1}
"""Position parity of each fold's cases in their file: dev is tuned on, heldout only reported."""


def load_cases(data: Path, limit: int | None, fold: str = "all") -> dict[str, list[tuple[dict, list | None]]]:
    """Cases per category: (case, accepted calls, or None for irrelevance), from `fold` ("dev", "heldout", "all")."""
    out = {}
    for path in bfcl_files(data):
        items = [(case, truth) for _, case, truth in bfcl_cases(path)]
        if fold in FOLDS:
            items = items[FOLDS[fold] :: 2]
        out[path.stem.removeprefix("BFCL_v4_")] = items[:limit]
    return out


def run(
    mode: str, cases: dict[str, list], max_new_tokens: int, concurrency: int, relevance: float | None = None,
    model_name: str | None = None,
) -> list[tuple[str, int, int, int, float]]:
    """Run every case in `mode` (`relevance`: `ChatLocal.tool_relevance`; `model_name`: a model folder, None for the
    default); return rows (category, cases, valid, correct, median seconds)."""
    named = {"model": model_name} if model_name else {}
    model = ChatLocal(**named, constrained=(mode == "constrained"), max_new_tokens=max_new_tokens, tool_relevance=relevance)
    model.load()

    def one(item: tuple[dict, list | None]) -> tuple[bool, bool, float]:
        case, truth = item
        tools = [tool_of(f) for f in case["function"]]
        by_name = {t["function"]["name"]: t for t in tools}
        functions = {f["name"]: to_json_schema(f) for f in case["function"]}
        messages = [(m["role"], m["content"]) for m in case["question"][0]]
        started = time.perf_counter()
        reply = model.bind_tools(tools, tool_choice="auto").invoke(messages)
        seconds = time.perf_counter() - started
        ok = valid(reply, by_name)
        correct = ok and calls_match(reply.tool_calls, truth, functions)
        calls = [(c["name"], c["args"]) for c in reply.tool_calls] or reply.content
        print(f"  {mode:11} {case['id']:22} valid={ok!s:5} correct={correct!s:5} {calls}"[:220], file=sys.stderr, flush=True)
        return ok, correct, seconds

    rows = []
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        for category, items in cases.items():
            results = list(pool.map(one, items))
            seconds = [r[2] for r in results]
            rows.append((category, len(items), sum(r[0] for r in results), sum(r[1] for r in results), statistics.median(seconds) if seconds else 0.0))
    return rows


def _share(k: int, n: int) -> str:
    low, high = wilson_interval(k, n)
    return f"{100 * k / n:5.1f}% [{100 * low:4.1f}, {100 * high:5.1f}]"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder laid out like shared/data/bfcl")
    parser.add_argument("--fold", choices=["dev", "heldout", "all"], default="dev", help="dev: even positions; heldout: odd")
    parser.add_argument("--limit", type=int, default=None, help="first N cases of the fold per category")
    parser.add_argument("--modes", default="free,constrained", help="comma-separated: free, constrained")
    parser.add_argument("--max-new-tokens", type=int, default=256)
    parser.add_argument("--concurrency", type=int, default=6, help="cases in flight at once")
    parser.add_argument("--tool-relevance", type=float, default=None, help="ChatLocal.tool_relevance (0.42: tuned on dev)")
    parser.add_argument("--model", default=None, metavar="DIR", help="a model folder to check instead of the default")
    args = parser.parse_args()
    cases = load_cases(args.data, args.limit, args.fold)
    if not cases:
        raise SystemExit(f"no BFCL_v4_*.json cases with answers in {args.data}")
    results = {mode: run(mode, cases, args.max_new_tokens, args.concurrency, args.tool_relevance, args.model)
               for mode in args.modes.split(",")}
    print(f"fold={args.fold} model={args.model or 'default'}")
    print(f"{'mode':12} {'category':14} {'cases':>5} {'valid':>7} {'accuracy [Wilson 95%]':>24} {'median s':>9}")
    for mode, rows in results.items():
        for category, n, n_valid, n_correct, median in rows:
            print(f"{mode:12} {category:14} {n:5d} {100 * n_valid / n:6.1f}% {_share(n_correct, n):>24} {median:9.2f}")
        total = sum(r[1] for r in rows)
        print(f"{mode:12} {'all':14} {total:5d} {100 * sum(r[2] for r in rows) / total:6.1f}% {_share(sum(r[3] for r in rows), total):>24}")
    for mode, rows in results.items():
        total = sum(r[1] for r in rows)
        print(f"{mode}: cases={total} valid={100 * sum(r[2] for r in rows) / total:.1f}% accuracy={100 * sum(r[3] for r in rows) / total:.1f}%")


if __name__ == "__main__":
    main()
