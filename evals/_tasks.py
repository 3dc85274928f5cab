"""Task sets: what to ask a graph and how to tell whether it succeeded, loaded from JSON-lines files.

`load_tasks` reads three formats, recognised line by line or by file name:

- ours: `{"id": "t1", "input": "What is 6 * 7?", "check": {"numeric": 42}}`. `input` is the question (or an
  object passed to the graph as its input); `check` is a checker (see `parse_checker`); `id` is optional
  (default `<file stem>-<line>`); `tools` optionally lists function declarations the graph is given as stub
  tools that only record their calls (for tool-call checks).
- GSM8K-style: `{"question": ..., "answer": "...#### 18"}`: the number after `####` is checked with
  `numeric`. An answer without `####` is checked as a number when it is one, else as text the answer must
  contain. Our document-QA style, `{"question": ..., "expected": ["h2", "HTTP/2"]}`, passes when the answer
  contains one of the expected strings (case ignored).
- BFCL: a `BFCL_v4_<category>.json` file, or a folder of them (like ../shared/data/bfcl/): each case's
  functions become the task's tools, its possible answer a `tool_call` checker.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import TaskFileError
from ._bfcl import bfcl_cases, bfcl_files, to_json_schema, tool_of
from ._checkers import Checker, Numeric, Regex, ToolCall, numbers_in, parse_checker
from ._jsonl import read_jsonl

_ID = re.compile(r"[^A-Za-z0-9._:-]+")
_OUR_KEYS = {"id", "input", "question", "check", "tools"}


@dataclass(frozen=True)
class Task:
    """One thing to ask a graph, and the checker that says whether its run succeeded."""

    id: str
    """Unique within its set; names the task in results and (sanitised) its thread."""
    input: str | Mapping[str, Any]
    """The question (sent as `{"messages": [("human", question)]}`), or the graph's input itself."""
    check: Checker
    """Judges the run's outcome."""
    tools: tuple[Mapping[str, Any], ...] = ()
    """OpenAI-style function tools the graph is given for this task (BFCL cases); empty for most tasks."""
    source: str = ""
    """Where the task was read: `file:line`."""

    def graph_input(self) -> Any:
        """Return what the graph is invoked with.

        Example:
            >>> Task("t", "What is 6 * 7?", Numeric(42)).graph_input()
            {'messages': [('human', 'What is 6 * 7?')]}
        """
        if isinstance(self.input, str):
            return {"messages": [("human", self.input)]}
        return dict(self.input)

    def key(self) -> str:
        """Return a digest of the task's content: a finished result is reused only while the task is unchanged.

        Example:
            >>> Task("t", "q", Numeric(1)).key() == Task("t", "q", Numeric(2)).key()
            False
        """
        content = {"input": self.input, "check": self.check.spec(), "tools": list(self.tools)}
        return hashlib.sha256(json.dumps(content, sort_keys=True, default=str).encode()).hexdigest()[:16]


def gsm8k_answer(answer: str) -> str:
    """Return the final answer of a GSM8K solution: the text after its last `####`, without thousands commas.

    Example:
        >>> gsm8k_answer("9 * 2 = <<9*2=18>>18 dollars.\\n#### 1,018")
        '1018'
    """
    return answer.rsplit("####", 1)[-1].strip().replace(",", "")


def load_tasks(path: str | Path, *, limit: int | None = None) -> list[Task]:
    """Return the tasks in `path` (a JSON-lines file, a BFCL file or folder), the first `limit` when given.

    Args:
        path: a `.jsonl` file of our or GSM8K format, a `BFCL_v4_*.json` file, or a folder of BFCL files.
        limit: keep only the first this many tasks (None: all); every line is checked either way.

    Raises:
        TaskFileError: the path is missing or empty, or a line is malformed: not JSON, no input, no or an
            unknown checker, a duplicate id. The message names the file and the line.

    Example:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "math.jsonl"
        >>> _ = p.write_text('{"question": "1+1?", "answer": "#### 2"}\\n')
        >>> load_tasks(p)[0].check
        Numeric(expected=2.0, tolerance=1e-06)
        >>> _ = p.write_text('{"question": "1+1?", "answer": "#### 2"}\\n{"input": "Capital of France?"}\\n')
        >>> load_tasks(p, limit=1)  # the whole file is checked, whatever the limit
        Traceback (most recent call last):
        ...
        graphwright.errors.TaskFileError: ...math.jsonl:2: no checker: add "check", e.g. {"exact": "..."}
    """
    path = Path(path)
    if path.is_dir():
        files = bfcl_files(path)
        if not files:
            raise TaskFileError(str(path), None, "a folder of tasks must hold BFCL_v4_*.json files with answers")
        tasks = [task for file in files for task in _bfcl_tasks(file)]
    elif not path.exists():
        raise TaskFileError(str(path), None, "no such file or folder")
    elif path.name.startswith("BFCL_v4_"):
        tasks = _bfcl_tasks(path)
    else:
        tasks = [_task(row, path, number) for number, row in read_jsonl(path)]
    if not tasks:
        raise TaskFileError(str(path), None, "holds no tasks")
    seen: dict[str, str] = {}
    for task in tasks:
        if task.id in seen:
            file, _, line = task.source.rpartition(":")
            raise TaskFileError(file, int(line), f"duplicate task id {task.id!r} (first at {seen[task.id]})")
        seen[task.id] = task.source
    return tasks[:limit] if limit is not None else tasks


def _task(row: Any, path: Path, number: int) -> Task:
    def bad(message: str) -> TaskFileError:
        return TaskFileError(str(path), number, message)

    if not isinstance(row, dict):
        raise bad(f"a task is a JSON object, not {type(row).__name__}")
    task_id = row.get("id", f"{path.stem}-{number}")
    if not isinstance(task_id, str | int) or isinstance(task_id, bool) or not str(task_id).strip():
        raise bad(f"task id must be a non-empty string or number, got {task_id!r}")
    text = row.get("input", row.get("question"))
    if isinstance(text, str) and not text.strip() or text is None:
        raise bad('no input: a task needs "input" (or GSM8K "question" and "answer")')
    if not isinstance(text, str | dict):
        raise bad(f'"input" must be a string or a JSON object, not {type(text).__name__}')
    tools = row.get("tools", [])
    if not isinstance(tools, list) or not all(isinstance(t, dict) and isinstance(t.get("name"), str) for t in tools):
        raise bad('"tools" must be a list of function declarations, each with a "name"')
    functions = {t["name"]: to_json_schema(t) for t in tools}
    try:
        if "check" in row:
            check = parse_checker(row["check"], functions=functions)
        elif "expected" in row:
            check = _any_of(row["expected"])
        elif isinstance(row.get("answer"), str | int | float) and not isinstance(row.get("answer"), bool):
            check = _from_answer(str(row["answer"]))
        else:
            raise ValueError('no checker: add "check", e.g. {"exact": "..."}')
    except ValueError as exc:
        raise bad(str(exc)) from exc
    return Task(str(task_id), text, check, tuple(tool_of(t) for t in tools), f"{path}:{number}")


def _from_answer(answer: str) -> Checker:
    final = gsm8k_answer(answer) if "####" in answer else answer.strip()
    if not final:
        raise ValueError('"answer" is empty')
    found = numbers_in(final)
    if len(found) == 1 and re.fullmatch(r"-?\d+(?:\.\d+)?", final.replace(",", "")):
        return Numeric(found[0])
    if "####" in answer:
        raise ValueError(f"the GSM8K answer after #### is not a number: {final!r}")
    return Regex(re.escape(final), ignore_case=True)


def _any_of(expected: Any) -> Checker:
    if isinstance(expected, str):
        expected = [expected]
    if not isinstance(expected, list) or not expected or not all(isinstance(e, str) and e.strip() for e in expected):
        raise ValueError('"expected" must be a non-empty list of strings')
    return Regex("|".join(re.escape(e.strip()) for e in expected), ignore_case=True)


def _bfcl_tasks(path: Path) -> list[Task]:
    tasks = []
    for number, case, truth in bfcl_cases(path):
        conversation = case["question"][0] if case["question"] else []
        if not conversation or not all(isinstance(m, dict) and "role" in m and "content" in m for m in conversation):
            raise TaskFileError(str(path), number, "a BFCL case's question is a list of {role, content} turns")
        if len(conversation) == 1 and conversation[0]["role"] == "user":
            text: str | dict[str, Any] = conversation[0]["content"]
        else:
            text = {"messages": [[m["role"], m["content"]] for m in conversation]}
        functions = {f["name"]: to_json_schema(f) for f in case["function"]}
        check = ToolCall(calls=list(truth or []), functions=functions)
        tools = tuple(tool_of(f) for f in case["function"])
        tasks.append(Task(str(case["id"]), text, check, tools, f"{path}:{number}"))
    return tasks


def thread_id_for(task: Task, suffix: str) -> str:
    """Return a valid thread id for a run of `task`: its id with other characters replaced, then `suffix`.

    Example:
        >>> thread_id_for(Task("gsm8k #3", "q", Numeric(1)), "a1b2")
        'gsm8k_3-a1b2'
    """
    stem = _ID.sub("_", task.id).strip("._:-") or "task"
    return f"{stem[: 127 - len(suffix)]}-{suffix}"
