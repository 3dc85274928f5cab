"""Evaluation: run a task set through a graph and measure it, so a change to a prompt, model or graph can be
judged by its success rate, latency, tokens, and where in the graph time and failures go.

The command line is `graphwright eval GRAPH TASKS` (see `graphwright eval --help`); the same parts in Python:

Example:
    >>> import tempfile, pathlib
    >>> from langgraph.graph import START, StateGraph
    >>> from typing import TypedDict
    >>> class S(TypedDict, total=False):
    ...     messages: list
    ...     answer: str
    >>> graph = StateGraph(S)
    >>> _ = graph.add_node("solve", lambda state: {"answer": "It is 42."})
    >>> _ = graph.add_edge(START, "solve")
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (folder / "t.jsonl").write_text('{"input": "6*7?", "check": {"numeric": 42}}\\n')
    >>> results = run_eval(load_tasks(folder / "t.jsonl"), lambda tools: graph, folder / "out", label="demo")
    >>> report = build_report(results, graph="demo", tasks_file="t.jsonl", concurrency=1)
    >>> summary_line(report).split()[:2], report["nodes"]["solve"]["runs"]
    (['success_rate=1.000', 'tasks=1'], 1)
"""

from ._bfcl import bfcl_cases, bfcl_files, call_matches, calls_match, normalize, to_json_schema, tool_of
from ._env_html import render_env_html, save_env_html
from ._envs import (
    TRAJECTORY_FORMAT,
    env_summary,
    env_summary_line,
    export_trajectories,
    read_trajectories,
    run_env_eval,
)
from ._checkers import KINDS, Checker, Exact, Numeric, Outcome, Predicate, Regex, ToolCall, numbers_in, parse_checker
from ._injection import (
    INJECTION_TASKS,
    USER_TASKS,
    CaseOutcome,
    InjectionTask,
    SuiteResult,
    UserTask,
    obeying_model,
    run_case,
    run_suite,
)
from ._html import render_html, save_html, save_report
from ._report import (
    FORMAT,
    build_report,
    compare,
    format_comparison,
    format_table,
    gate,
    load_report,
    percentile,
    summary_line,
    wilson_interval,
)
from ._ray import GraphRef, RayOptions, folder_run_id, ray_session, run_episodes_on_ray, run_tasks_on_ray
from ._run import RunRecorder, claim_folder, continue_thread, outcome_of, previous_results, run_eval, stub_tools
from ._tasks import Task, gsm8k_answer, load_tasks, thread_id_for

__all__ = [
    "CaseOutcome",
    "Checker",
    "Exact",
    "FORMAT",
    "GraphRef",
    "INJECTION_TASKS",
    "InjectionTask",
    "KINDS",
    "Numeric",
    "Outcome",
    "Predicate",
    "RayOptions",
    "Regex",
    "RunRecorder",
    "SuiteResult",
    "TRAJECTORY_FORMAT",
    "Task",
    "ToolCall",
    "USER_TASKS",
    "UserTask",
    "bfcl_cases",
    "bfcl_files",
    "build_report",
    "call_matches",
    "calls_match",
    "claim_folder",
    "compare",
    "continue_thread",
    "env_summary",
    "env_summary_line",
    "export_trajectories",
    "folder_run_id",
    "format_comparison",
    "format_table",
    "gate",
    "gsm8k_answer",
    "load_report",
    "load_tasks",
    "normalize",
    "numbers_in",
    "obeying_model",
    "outcome_of",
    "parse_checker",
    "percentile",
    "previous_results",
    "ray_session",
    "read_trajectories",
    "render_env_html",
    "render_html",
    "run_case",
    "run_env_eval",
    "run_episodes_on_ray",
    "run_eval",
    "run_suite",
    "run_tasks_on_ray",
    "save_env_html",
    "save_html",
    "save_report",
    "stub_tools",
    "summary_line",
    "thread_id_for",
    "to_json_schema",
    "tool_of",
    "wilson_interval",
]
