"""The Berkeley Function Calling Leaderboard (BFCL v4) format: its function schemas and AST scoring of calls.

A BFCL case is one JSON line with `id`, `question` (a list of conversations; the first is used) and `function`
(declarations whose parameter types use Python names: `dict`, `float`, `tuple`, `any`). Its possible answer
lists the accepted calls, each as `{function name: {argument: [allowed values]}}`, where `""` among the allowed
values means the argument may be left out. The leaderboard's AST rules, as implemented here: the function name
matches; every required argument is present; every argument the answer does not let be left out is present;
every given argument is one the answer names, with a value among its allowed ones (numbers by value, strings
after case and surrounding-space normalisation); calls match the answer's calls one to one, in any order; for
`irrelevance` (no answer), correct means no call.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..errors import TaskFileError
from ._jsonl import read_jsonl

_TYPES = {"dict": "object", "float": "number", "tuple": "array", "any": None, "int": "integer", "str": "string"}

GroundTruth = Mapping[str, Mapping[str, Sequence[Any]]]
"""One accepted call: `{function name: {argument: [allowed values]}}`."""


def to_json_schema(node: Any) -> Any:
    """Return BFCL's Python-flavoured schema `node` as JSON schema (dict→object, float→number, any→no type).

    Example:
        >>> to_json_schema({"type": "dict", "properties": {"x": {"type": "float"}, "y": {"type": "any"}}})
        {'type': 'object', 'properties': {'x': {'type': 'number'}, 'y': {}}}
    """
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


def tool_of(function: Mapping[str, Any]) -> dict[str, Any]:
    """Return an OpenAI-style tool dict for one BFCL function declaration.

    Example:
        >>> tool_of({"name": "math.factorial", "parameters": {"type": "dict", "properties": {}}})["function"]
        {'name': 'math.factorial', 'description': '', 'parameters': {'type': 'object', 'properties': {}}}
    """
    params = to_json_schema(function.get("parameters") or {"type": "object", "properties": {}})
    params.setdefault("type", "object")
    return {
        "type": "function",
        "function": {"name": function["name"], "description": function.get("description", ""), "parameters": params},
    }


def normalize(value: Any) -> Any:
    """Return `value` as the AST rules compare it: strings stripped and lower-cased, numbers as floats.

    Example:
        >>> normalize([" Paris ", 3, {"k": True}])
        ['paris', 3.0, {'k': True}]
    """
    if isinstance(value, str):
        return value.strip().lower()
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, list | tuple):
        return [normalize(v) for v in value]
    if isinstance(value, dict):
        return {k: normalize(v) for k, v in value.items()}
    return value


def call_matches(
    call: Mapping[str, Any],
    truth: GroundTruth,
    *,
    required: Sequence[str] = (),
    allow_extra: bool = False,
) -> bool:
    """Return True when `call` (`{"name", "args"}`) is the accepted call `truth` under the AST rules.

    Args:
        call: the call the model made.
        truth: `{name: {argument: [allowed values]}}`; `""` among the values lets the argument be left out.
        required: the function's required arguments (from its declaration).
        allow_extra: accept arguments `truth` does not name (a subset check) instead of refusing them.

    Example:
        >>> truth = {"area": {"base": [10], "unit": ["cm", ""]}}
        >>> call_matches({"name": "area", "args": {"base": 10.0}}, truth)
        True
        >>> call_matches({"name": "area", "args": {"base": 10, "unit": "m"}}, truth)
        False
    """
    ((name, allowed),) = truth.items()
    if call.get("name") != name:
        return False
    args = call.get("args") or {}
    if any(r not in args for r in required):
        return False
    if any(key not in args and "" not in values for key, values in allowed.items()):
        return False
    for key, value in args.items():
        if key not in allowed:
            if allow_extra:
                continue
            return False
        if normalize(value) not in [normalize(v) for v in allowed[key] if v != ""]:
            return False
    return True


def calls_match(
    calls: Sequence[Mapping[str, Any]],
    truths: Sequence[GroundTruth] | None,
    functions: Mapping[str, Mapping[str, Any]] | None = None,
) -> bool:
    """Return True when `calls` match `truths` one to one in any order; `truths` None or empty wants no call.

    Args:
        calls: the calls the model made (`{"name", "args"}` each).
        truths: the possible answer's accepted calls.
        functions: declarations by name, for their `required` arguments (None: nothing required).

    Example:
        >>> calls_match([{"name": "f", "args": {"x": 1}}], [{"f": {"x": [1]}}]), calls_match([], None)
        (True, True)
    """
    if not truths:
        return not calls
    if len(calls) != len(truths):
        return False
    remaining = list(truths)
    for call in calls:
        declared = (functions or {}).get(str(call.get("name")), {})
        required = (declared.get("parameters") or {}).get("required", [])
        match = next((t for t in remaining if call_matches(call, t, required=required)), None)
        if match is None:
            return False
        remaining.remove(match)
    return True


def bfcl_files(folder: Path) -> list[Path]:
    """Return the BFCL category files in `folder` that can be scored: those with a possible-answer file, and
    `irrelevance` (where the answer is no call)."""
    return [
        path
        for path in sorted(folder.glob("BFCL_v4_*.json"))
        if (folder / f"possible_answer_{path.name}").exists() or "irrelevance" in path.stem
    ]


def bfcl_cases(path: Path) -> list[tuple[int, dict[str, Any], list[GroundTruth] | None]]:
    """Return `(line number, case, accepted calls)` for each case of the BFCL category file `path`.

    The accepted calls come from `possible_answer_<file name>` beside it; they are None for `irrelevance`
    cases, where correct means no call.

    Raises:
        TaskFileError: a file is unreadable or malformed, or a case has no possible answer (names the line).
    """
    answers: dict[str, list[GroundTruth]] = {}
    answers_path = path.parent / f"possible_answer_{path.name}"
    irrelevance = "irrelevance" in path.stem
    if answers_path.exists():
        for number, item in read_jsonl(answers_path):
            if not isinstance(item, dict) or "id" not in item or not isinstance(item.get("ground_truth"), list):
                raise TaskFileError(str(answers_path), number, 'a possible answer needs "id" and a "ground_truth" list')
            answers[str(item["id"])] = item["ground_truth"]
    elif not irrelevance:
        raise TaskFileError(str(path), None, f"no possible answers beside it ({answers_path.name})")
    cases = []
    for number, case in read_jsonl(path):
        if not isinstance(case, dict) or not {"id", "question", "function"} <= set(case):
            raise TaskFileError(str(path), number, 'a BFCL case needs "id", "question" and "function"')
        truth = answers.get(str(case["id"]))
        if truth is None and not irrelevance:
            raise TaskFileError(str(path), number, f"case {case['id']!r} has no possible answer in {answers_path.name}")
        cases.append((number, case, truth))
    return cases
