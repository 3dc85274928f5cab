"""Function-calling benchmark on BFCL v4 (AST categories), with and without constrained decoding.

Runs every `BFCL_v4_<category>.json` in `--data` (a folder laid out like ../shared/data/bfcl/) through
`ChatLocal` with the case's functions bound and `tool_choice="auto"`, scores the calls with the leaderboard's
AST rules (function name; required arguments present; every given argument's value among the allowed ones,
numbers by value, strings after case and space normalisation; for `irrelevance`, correct means no call), and
prints a table per mode and category. Last line: `constrained: cases=N valid=V% accuracy=A%`.

    .venv/bin/python bench/toolcalls.py --limit 5 [--data ../shared/data/bfcl] [--modes constrained,free]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import jsonschema

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from graphwright.models import ChatLocal  # noqa: E402

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "bfcl"
_TYPES = {"dict": "object", "float": "number", "tuple": "array", "any": None, "int": "integer", "str": "string"}


def to_json_schema(node: Any) -> Any:
    """Map BFCL's Python-flavoured type names (dict, float, tuple, any) to JSON schema."""
    if isinstance(node, list):
        return [to_json_schema(v) for v in node]
    if not isinstance(node, dict):
        return node
    out = {}
    for key, value in node.items():
        if key == "type" and isinstance(value, str) and value in _TYPES:
            if _TYPES[value] is not None:
                out["type"] = _TYPES[value]
        elif key == "optional":
            continue
        else:
            out[key] = to_json_schema(value)
    return out


def tool_of(function: dict[str, Any]) -> dict[str, Any]:
    """An OpenAI-style tool dict for one BFCL function."""
    params = to_json_schema(function.get("parameters") or {"type": "object", "properties": {}})
    params.setdefault("type", "object")
    return {"type": "function", "function": {"name": function["name"], "description": function.get("description", ""), "parameters": params}}


def _norm(value: Any) -> Any:
    if isinstance(value, str):
        return value.strip().lower()
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, list):
        return [_norm(v) for v in value]
    if isinstance(value, dict):
        return {k: _norm(v) for k, v in value.items()}
    return value


def call_matches(call: dict[str, Any], truth: dict[str, dict[str, list[Any]]], functions: dict[str, Any]) -> bool:
    """True when `call` matches the ground-truth entry `truth` ({name: {arg: allowed values}})."""
    (name, allowed), = truth.items()
    if call["name"] != name:
        return False
    required = functions[name].get("parameters", {}).get("required", [])
    args = call["args"]
    if any(r not in args for r in required):
        return False
    for key, value in args.items():
        if key not in allowed:
            return False
        options = [_norm(v) for v in allowed[key] if v != ""]
        if _norm(value) not in options:
            return False
    return True


def score(calls: list[dict[str, Any]], truths: list[dict[str, Any]] | None, functions: dict[str, Any]) -> bool:
    """Leaderboard AST scoring: irrelevance wants no call; otherwise calls match truths one to one, any order."""
    if truths is None:
        return not calls
    if len(calls) != len(truths):
        return False
    remaining = list(truths)
    for call in calls:
        match = next((t for t in remaining if call_matches(call, t, functions)), None)
        if match is None:
            return False
        remaining.remove(match)
    return True


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


def load_cases(data: Path, limit: int | None) -> dict[str, list[tuple[dict, list | None]]]:
    """Cases per category: (case, ground truth or None for irrelevance)."""
    out: dict[str, list[tuple[dict, list | None]]] = {}
    for path in sorted(data.glob("BFCL_v4_*.json")):
        category = path.stem.removeprefix("BFCL_v4_")
        answers_path = data / f"possible_answer_{path.name}"
        answers = {}
        if answers_path.exists():
            for line in answers_path.read_text().splitlines():
                if line.strip():
                    item = json.loads(line)
                    answers[item["id"]] = item["ground_truth"]
        elif "irrelevance" not in category:
            continue  # not an AST category we can score
        cases = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        out[category] = [(case, answers.get(case["id"])) for case in cases[:limit]]
    return out


def run(mode: str, cases: dict[str, list], max_new_tokens: int) -> list[tuple[str, int, int, int, float]]:
    """Run every case in `mode`; return rows (category, cases, valid, correct, median seconds)."""
    model = ChatLocal(constrained=(mode == "constrained"), max_new_tokens=max_new_tokens)
    rows = []
    for category, items in cases.items():
        n_valid = n_correct = 0
        seconds = []
        for case, truth in items:
            tools = [tool_of(f) for f in case["function"]]
            by_name = {t["function"]["name"]: t for t in tools}
            functions = {f["name"]: to_json_schema(f) for f in case["function"]}
            messages = [(m["role"], m["content"]) for m in case["question"][0]]
            started = time.perf_counter()
            reply = model.bind_tools(tools, tool_choice="auto").invoke(messages)
            seconds.append(time.perf_counter() - started)
            ok = valid(reply, by_name)
            n_valid += ok
            n_correct += ok and score(reply.tool_calls, truth, functions)
            print(f"  {mode:11} {case['id']:22} valid={ok!s:5} calls={[(c['name'], c['args']) for c in reply.tool_calls]}"[:200], file=sys.stderr, flush=True)
        rows.append((category, len(items), n_valid, n_correct, statistics.median(seconds) if seconds else 0.0))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder laid out like shared/data/bfcl")
    parser.add_argument("--limit", type=int, default=None, help="first N cases per category")
    parser.add_argument("--modes", default="free,constrained", help="comma-separated: free, constrained")
    parser.add_argument("--max-new-tokens", type=int, default=256)
    args = parser.parse_args()
    cases = load_cases(args.data, args.limit)
    if not cases:
        raise SystemExit(f"no BFCL_v4_*.json cases with answers in {args.data}")
    results = {mode: run(mode, cases, args.max_new_tokens) for mode in args.modes.split(",")}
    print(f"{'mode':12} {'category':14} {'cases':>5} {'valid':>7} {'accuracy':>9} {'median s':>9}")
    for mode, rows in results.items():
        for category, n, n_valid, n_correct, median in rows:
            print(f"{mode:12} {category:14} {n:5d} {100 * n_valid / n:6.1f}% {100 * n_correct / n:8.1f}% {median:9.2f}")
    for mode, rows in results.items():
        total = sum(r[1] for r in rows)
        print(f"{mode}: cases={total} valid={100 * sum(r[2] for r in rows) / total:.1f}% accuracy={100 * sum(r[3] for r in rows) / total:.1f}%")


if __name__ == "__main__":
    main()
