"""Task loaders read the real sets (GSM8K, BFCL, our document-QA and arithmetic tasks), and a malformed
task file gives an error that names the file and the line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from graphwright import GraphwrightError
from graphwright.errors import TaskFileError
from graphwright.evals import Numeric, Outcome, Regex, ToolCall, load_tasks

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data" / "evalsets"  # copies of shared/data (see its README)
BENCH_TASKS = ROOT / "bench" / "tasks"


def test_gsm8k_dev_set_is_recognised_by_its_fields() -> None:
    tasks = load_tasks(DATA / "gsm8k" / "test_dev.jsonl")
    assert len(tasks) == 300
    first = tasks[0]
    assert first.id == "test_dev-1"
    assert first.input.startswith("Janet")
    assert first.check == Numeric(18.0)
    assert first.graph_input() == {"messages": [("human", first.input)]}
    assert all(isinstance(t.check, Numeric) for t in tasks)
    assert len(load_tasks(DATA / "gsm8k" / "test_dev.jsonl", limit=10)) == 10


def test_bfcl_folder_loads_every_scorable_category() -> None:
    tasks = load_tasks(DATA / "bfcl")
    ids = [t.id for t in tasks]
    assert len(tasks) == 300 + 150 + 150 + 180
    by_id = {t.id: t for t in tasks}
    simple = by_id["simple_python_0"]
    assert simple.input.startswith("Find the area of a triangle")
    assert simple.tools[0]["function"]["name"] == "calculate_triangle_area"
    assert simple.tools[0]["function"]["parameters"]["type"] == "object"  # BFCL's "dict" translated
    assert isinstance(simple.check, ToolCall)
    right = Outcome("", tool_calls=({"name": "calculate_triangle_area", "args": {"base": 10, "height": 5}},))
    assert simple.check(right)
    assert by_id["irrelevance_0"].check(Outcome("I cannot do that."))
    assert not by_id["irrelevance_0"].check(right)
    assert len(by_id["parallel_0"].check.calls) == 2
    assert ids.index("irrelevance_0") < ids.index("multiple_0")  # files in name order


def test_one_bfcl_file_loads_with_its_answers() -> None:
    tasks = load_tasks(DATA / "bfcl" / "BFCL_v4_multiple.json", limit=3)
    assert [t.id for t in tasks] == ["multiple_0", "multiple_1", "multiple_2"]
    assert all(len(t.tools) >= 2 for t in tasks)


@pytest.mark.parametrize("name", ["docs", "kg"])
def test_document_qa_tasks_pass_when_the_answer_contains_an_expected_string(name: str) -> None:
    tasks = load_tasks(BENCH_TASKS / f"{name}.jsonl")
    rows = [json.loads(line) for line in (BENCH_TASKS / f"{name}.jsonl").read_text().splitlines() if line.strip()]
    assert len(tasks) == len(rows)
    for task, row in zip(tasks, rows, strict=True):
        assert isinstance(task.check, Regex) and task.check.ignore_case
        assert task.check(Outcome(f"The answer is {row['expected'][-1].upper()}."))
        assert not task.check(Outcome("I do not know."))


def test_arithmetic_answers_are_numbers() -> None:
    tasks = load_tasks(BENCH_TASKS / "arithmetic.jsonl")
    assert tasks[0].check == Numeric(1248.0)
    assert tasks[0].check(Outcome("48 * 26 = 1,248"))


def test_our_format_with_ids_object_input_and_tools(tmp_path: Path) -> None:
    path = tmp_path / "mine.jsonl"
    rows = [
        {"id": "q1", "input": "What is 6 * 7?", "check": {"numeric": 42}},
        {"id": 7, "input": {"messages": [["system", "Be brief."], ["user", "Hi"]]}, "check": {"regex": "hello"}},
        {"input": "area of 3", "check": {"tool_call": {"name": "area", "args": {"side": 3}}},
         "tools": [{"name": "area", "description": "Area.",
                    "parameters": {"type": "dict", "properties": {"side": {"type": "float"}}}}]},
    ]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n\n")
    tasks = load_tasks(path)
    assert [t.id for t in tasks] == ["q1", "7", "mine-3"]
    assert tasks[1].graph_input() == {"messages": [["system", "Be brief."], ["user", "Hi"]]}
    assert tasks[2].tools[0]["function"]["parameters"]["properties"]["side"] == {"type": "number"}
    assert tasks[2].source == f"{path}:3"


@pytest.mark.parametrize(
    ("lines", "line", "message"),
    [
        (['{"input": "a", "check": {"exact": "a"}}', '{"input": "b", "check": '], 2, "not valid JSON"),
        (['{"input": "a", "check": {"exact": "a"}}', '', '{"check": {"exact": "a"}}'], 3, "no input"),
        (['{"input": "  ", "check": {"exact": "a"}}'], 1, "no input"),
        (['{"input": "a", "check": {"exact": "a"}}', '{"input": "b", "check": {"smells_like": "b"}}'], 2,
         "unknown checker 'smells_like'"),
        (['{"input": "a"}'], 1, "no checker"),
        (['["input", "a"]'], 1, "a task is a JSON object"),
        (['{"id": "x", "input": "a", "check": {"exact": "a"}}', '{"id": "x", "input": "b", "check": {"exact": "b"}}'],
         2, "duplicate task id 'x'"),
        (['{"question": "a", "answer": "#### many"}'], 1, "not a number"),
        (['{"input": "a", "check": {"regex": "[a-"}}'], 1, "does not compile"),
        (['{"input": "a", "check": {"predicate": "nowhere_to_be_found:f"}}'], 1, "cannot import"),
        (['{"input": "a", "check": {"exact": "a"}, "tools": "calculator"}'], 1, "tools"),
    ],
)
def test_malformed_task_files_name_the_line(tmp_path: Path, lines: list[str], line: int, message: str) -> None:
    path = tmp_path / "tasks.jsonl"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(TaskFileError, match=message) as caught:
        load_tasks(path, limit=1)
    assert caught.value.line == line
    assert str(caught.value).startswith(f"{path}:{line}: ")
    assert isinstance(caught.value, GraphwrightError)


def test_missing_or_empty_paths(tmp_path: Path) -> None:
    with pytest.raises(TaskFileError, match="no such file"):
        load_tasks(tmp_path / "nope.jsonl")
    (tmp_path / "empty.jsonl").write_text("\n")
    with pytest.raises(TaskFileError, match="holds no tasks"):
        load_tasks(tmp_path / "empty.jsonl")
    with pytest.raises(TaskFileError, match="BFCL_v4_"):
        load_tasks(tmp_path)


def test_bfcl_case_without_an_answer_names_its_line(tmp_path: Path) -> None:
    case = {"id": "simple_9", "question": [[{"role": "user", "content": "x"}]], "function": [{"name": "f"}]}
    (tmp_path / "BFCL_v4_simple.json").write_text(json.dumps(case) + "\n")
    (tmp_path / "possible_answer_BFCL_v4_simple.json").write_text('{"id": "other", "ground_truth": []}\n')
    with pytest.raises(TaskFileError, match=r"BFCL_v4_simple.json:1: case 'simple_9' has no possible answer"):
        load_tasks(tmp_path / "BFCL_v4_simple.json")
