"""Code as the action: programs as tool calls, voting over executed results, repairs, and the example slot."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langchain_core.outputs import ChatGeneration, ChatResult

from graphwright.graphs import AssistantOptions, build_assistant, compile_graph
from graphwright.nodes import (
    CODE_PLANNER_WRITES,
    STEPS_PROMPT,
    TRAINING_EXAMPLES,
    VOTER_WRITES,
    CodeOptions,
    Example,
    fixed_examples,
    gsm8k_examples,
    gsm8k_program,
    program_of,
    stated_answer,
    vote,
)

DATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "gsm8k"


class SeededModel(BaseChatModel):
    """A chat model whose reply is `rule(messages, seed)`: the seed tells the samples of one turn apart."""

    rule: Any
    calls: list[tuple[list[BaseMessage], Any]] = []

    @property
    def _llm_type(self) -> str:
        return "seeded"

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        self.calls.append((list(messages), kwargs.get("seed")))
        return ChatResult(generations=[ChatGeneration(message=AIMessage(self.rule(list(messages), kwargs.get("seed"))))])


def fenced(code: str) -> str:
    return f"Here is the program:\n```python\n{code}\n```\n"


def run(model, question: str, **kwargs):
    return compile_graph(build_assistant(model=model, **kwargs)).invoke({"messages": [HumanMessage(question)]})


def test_programs_run_in_the_sandbox_and_the_majority_answer_wins() -> None:
    programs = {None: "print(17 * 23 + 4)", 1: "x = 17 * 23\nx + 4", 2: "print(17 * 23)", 3: "print(395.0)", 4: "1/0"}
    model = SeededModel(rule=lambda messages, seed: fenced(programs[seed]))
    result = run(model, "What is 17 * 23 + 4?", options=AssistantOptions(code=CodeOptions(samples=5, step_samples=0)))
    assert result["answer"] == "395" and result["verdict"] == "approve"
    calls = next(m for m in result["messages"] if m.type == "ai").tool_calls
    assert [c["name"] for c in calls] == ["python"] * 5
    assert calls[1]["args"]["code"] == "x = 17 * 23\nx + 4\nprint(x + 4)"  # a forgotten print is added
    tools = [m for m in result["messages"] if m.type == "tool"]
    assert len(tools) == 5 and "ZeroDivisionError" in tools[4].text
    assert result["usage"]["calls"] == 5


def test_identical_programs_run_once_and_keep_their_votes() -> None:
    model = SeededModel(rule=lambda messages, seed: fenced("print(2)" if seed in (None, 1) else "print(3)"))
    result = run(model, "2 or 3?", options=AssistantOptions(code=CodeOptions(samples=5, step_samples=0)))
    call_message = next(m for m in result["messages"] if m.type == "ai")
    assert call_message.response_metadata["votes"] == {call_message.tool_calls[0]["id"]: 2, call_message.tool_calls[1]["id"]: 3}
    assert result["answer"] == "3"


def test_a_failed_program_goes_back_to_the_model_with_its_error() -> None:
    def fixes(messages, seed):
        if "The program failed" in messages[-1].text:
            return fenced("print(sum([1, 2, 3]))")
        return fenced("print(summ([1, 2, 3]))")

    model = SeededModel(rule=fixes)
    result = run(model, "Add 1, 2 and 3.", options=AssistantOptions(code=CodeOptions(samples=1, step_samples=0)))
    assert result["answer"] == "6" and result["verdict"] == "approve"
    repair_prompt = model.calls[-1][0]
    assert "NameError" in repair_prompt[-1].text and "summ([1, 2, 3])" in repair_prompt[-2].text
    assert [m.type for m in result["messages"]].count("tool") == 2


def test_a_reply_without_a_program_is_a_direct_answer() -> None:
    model = SeededModel(rule=lambda messages, seed: "Paris is the capital of France.")
    result = run(model, "Capital of France?", options=AssistantOptions(code=CodeOptions(samples=1, step_samples=0)))
    assert result["answer"] == "Paris is the capital of France." and result["verdict"] == "approve"
    assert not any(m.type == "tool" for m in result["messages"])


def test_code_nodes_write_only_the_keys_they_declare() -> None:
    graph = compile_graph(build_assistant(model=SeededModel(rule=lambda m, s: fenced("print(4)"))))
    declared = {"planner": CODE_PLANNER_WRITES, "responder": VOTER_WRITES}
    seen = set()
    for chunk in graph.stream({"messages": [HumanMessage("What is 2+2?")]}, stream_mode="updates"):
        for node, update in chunk.items():
            if node in declared:
                assert set(update) <= declared[node] | {"usage"}, node
                seen.add(node)
    assert seen == set(declared)


def test_the_example_slot_fills_the_prompt() -> None:
    asked: list[str] = []

    def examples(question: str) -> list[Example]:
        asked.append(question)
        return [Example("How many legs do 3 spiders have?", "legs = 3 * 8\nprint(legs)")]

    model = SeededModel(rule=lambda messages, seed: fenced("print(12)"))
    run(model, "What is 3 * 4?", examples=examples, options=AssistantOptions(code=CodeOptions(samples=1, step_samples=0)))
    prompt = model.calls[0][0]
    assert asked == ["What is 3 * 4?"]
    assert [m.type for m in prompt] == ["system", "human", "ai", "human"]
    assert prompt[1].text == "How many legs do 3 spiders have?" and "legs = 3 * 8" in prompt[2].text
    assert prompt[3].text == "What is 3 * 4?"


def test_default_examples_are_training_problems_never_test_problems() -> None:
    if not (DATA / "train.jsonl").exists():
        pytest.skip("the GSM8K files are not here")
    train = [json.loads(line) for line in (DATA / "train.jsonl").read_text().splitlines() if line.strip()]
    tests = {json.loads(line)["question"] for path in DATA.glob("test*.jsonl") for line in path.read_text().splitlines() if line.strip()}
    assert tests, "no test file to check against"
    by_question = {row["question"]: row["answer"] for row in train}
    for example in TRAINING_EXAMPLES:
        assert example.question in by_question and example.question not in tests
        assert example.program == gsm8k_program(by_question[example.question])
    assert gsm8k_examples(DATA / "train.jsonl", limit=4) == list(TRAINING_EXAMPLES)
    assert fixed_examples(TRAINING_EXAMPLES)("any question") == list(TRAINING_EXAMPLES)


def test_training_solutions_become_programs_that_print_the_answer() -> None:
    from graphwright.tools import run_python

    solution = "She has 3*4 = <<3*4=12>>12 eggs.\nShe sells 12-5 = <<12-5=7>>7.\n#### 7"
    program = gsm8k_program(solution)
    assert program.splitlines()[-2:] == ["step2 = step1 - 5", "print(step2)"]
    assert run_python(program).stdout.strip() == "7.0" or run_python(program).stdout.strip() == "7"
    assert gsm8k_program("It is <<2+2=5>>5.\n#### 5") is None  # a wrong calculation is not an example
    assert gsm8k_program("no final answer") is None


def _steps_or(program: dict, stated: dict):
    """A rule that answers step-by-step prompts with `stated[seed]` and code prompts with `program[seed]`."""

    def rule(messages, seed):
        if messages[0].text == STEPS_PROMPT:
            return stated[seed]
        return fenced(program[seed])

    return rule


def test_stated_answers_vote_beside_the_programs() -> None:
    model = SeededModel(rule=_steps_or({None: "print(20)", 1: "print(20)", 2: "print(18)"},
                                       {None: "2 * 9 = 18. The answer is 18.", 4: "The answer is 18 apples.", 5: "Not 20: 3 + 15 = 18."}))
    options = AssistantOptions(code=CodeOptions(samples=3, step_samples=3, steps_when="always"))
    result = run(model, "How many apples?", options=options)
    assert result["answer"] == "18" and result["verdict"] == "approve"  # 20: two programs; 18: one and three stated
    call_message = next(m for m in result["messages"] if m.type == "ai")
    assert call_message.response_metadata["stated"] == ["18", "18", "18"]
    asked = [prompt for prompt, _ in model.calls if prompt[0].text == STEPS_PROMPT]
    assert len(asked) == 3 and all([m.type for m in p] == ["system", "human"] and p[1].text == "How many apples?" for p in asked)
    assert sorted(seed or 0 for _, seed in model.calls) == [0, 0, 1, 2, 4, 5]  # distinct seeds for every sample
    assert result["usage"]["calls"] == 6


def test_the_weight_of_stated_answers_decides_a_split_vote() -> None:
    model = SeededModel(rule=_steps_or({None: "print(20)", 1: "print(20)"}, {None: "The answer is 18.", 3: "The answer is 18."}))
    heavy = run(model, "How many?", options=AssistantOptions(code=CodeOptions(samples=2, step_samples=2, step_weight=1.5, steps_when="always")))
    light = run(model, "How many?", options=AssistantOptions(code=CodeOptions(samples=2, step_samples=2, step_weight=0.5, steps_when="always")))
    assert (heavy["answer"], light["answer"]) == ("18", "20")


def test_when_every_program_fails_the_stated_answers_answer_and_no_repair_is_asked() -> None:
    model = SeededModel(rule=_steps_or({None: "1/0", 1: "1/0"}, {None: "1 + 2 + 3 = 6. The answer is 6.", 3: "The answer is 6"}))
    result = run(model, "Add 1, 2 and 3.", options=AssistantOptions(code=CodeOptions(samples=2, step_samples=2, steps_when="always")))
    assert result["answer"] == "6" and result["verdict"] == "approve"
    assert len(model.calls) == 4 and not any("The program failed" in p[-1].text for p, _ in model.calls)


def test_a_repair_turn_asks_for_programs_only() -> None:
    def rule(messages, seed):
        if messages[0].text == STEPS_PROMPT:
            return "I cannot tell."  # no number: nothing votes for the first turn
        return fenced("print(sum([1, 2, 3]))" if "The program failed" in messages[-1].text else "print(summ([1, 2, 3]))")

    model = SeededModel(rule=rule)
    result = run(model, "Add 1, 2 and 3.", options=AssistantOptions(code=CodeOptions(samples=1, step_samples=2, steps_when="always")))
    assert result["answer"] == "6"
    assert [p[0].text == STEPS_PROMPT for p, _ in model.calls] == [False, True, True, False]


def test_by_default_programs_that_agree_answer_alone() -> None:
    model = SeededModel(rule=_steps_or({None: "print(20)", 1: "print(20)", 2: "print(20)", 3: "print(20)", 4: "print(7)"}, {}))
    result = run(model, "How many?")
    assert result["answer"] == "20" and result["verdict"] == "approve"
    assert not any(p[0].text == STEPS_PROMPT for p, _ in model.calls)  # 4 of 5 agree: no step-by-step answers
    assert result["usage"]["calls"] == 5


def test_by_default_programs_that_split_get_step_by_step_answers_from_the_voter() -> None:
    programs = {None: "print(20)", 1: "print(20)", 2: "print(18)", 3: "1/0", 4: "print(7)"}
    stated = {None: "The answer is 18.", 6: "So 18.", 7: "The answer is 20.", 8: "The answer is 18 apples.", 9: "It is 18."}
    model = SeededModel(rule=_steps_or(programs, stated))
    result = run(model, "How many apples?")
    assert result["answer"] == "18" and result["verdict"] == "approve"  # 20: 2 + 0.5; 18: 1 + 4 * 0.5
    voted = [m for m in result["messages"] if m.type == "ai" and not m.tool_calls][-1]
    assert voted.text == "18" and voted.response_metadata["stated"] == ["18", "18", "20", "18", "18"]
    order = [p[0].text == STEPS_PROMPT for p, _ in model.calls]
    assert order == [False] * 5 + [True] * 5  # asked after the programs ran, in one batch
    assert sorted(seed or 0 for p, seed in model.calls if p[0].text == STEPS_PROMPT) == [0, 6, 7, 8, 9]


def test_the_agreement_share_decides_when_step_by_step_answers_are_asked() -> None:
    programs = {None: "print(20)", 1: "print(20)", 2: "print(20)", 3: "print(1)", 4: "print(2)"}
    model = SeededModel(rule=_steps_or(programs, {None: "The answer is 20.", 6: "20", 7: "20", 8: "20", 9: "20"}))
    run(model, "How many?", options=AssistantOptions(code=CodeOptions(agreement=0.6)))
    assert len(model.calls) == 5  # 3 of 5 is enough at 0.6
    run(model, "How many?", options=AssistantOptions(code=CodeOptions(agreement=0.8)))
    assert len(model.calls) == 15


def test_when_every_program_fails_the_voters_stated_answers_answer() -> None:
    model = SeededModel(rule=_steps_or({None: "1/0", 1: "1/0"}, {None: "The answer is 6.", 3: "1 + 2 + 3 = 6"}))
    result = run(model, "Add 1, 2 and 3.", options=AssistantOptions(code=CodeOptions(samples=2, step_samples=2)))
    assert result["answer"] == "6" and result["verdict"] == "approve"
    assert len(model.calls) == 4 and not any("The program failed" in p[-1].text for p, _ in model.calls)


def test_no_step_by_step_answers_are_asked_once_the_budget_is_spent() -> None:
    from graphwright.nodes import Budget

    model = SeededModel(rule=_steps_or({None: "print(1)", 1: "print(2)", 2: "print(3)"}, {}))
    options = AssistantOptions(code=CodeOptions(samples=3), budget=Budget(model_calls=3))
    result = run(model, "Which?", options=options)
    assert len(model.calls) == 3 and result["answer"] == "1"  # the programs still ran and voted


def test_step_by_step_answers_are_asked_once_per_question() -> None:
    def rule(messages, seed):
        if messages[0].text == STEPS_PROMPT:
            return "I cannot tell."
        return fenced("print(sum([1, 2, 3]))" if "The program failed" in messages[-1].text else "print(summ([1, 2, 3]))")

    model = SeededModel(rule=rule)
    result = run(model, "Add 1, 2 and 3.", options=AssistantOptions(code=CodeOptions(samples=2, step_samples=2)))
    assert result["answer"] == "6"
    assert [p[0].text == STEPS_PROMPT for p, _ in model.calls] == [False, False, True, True, False, False]


@pytest.mark.parametrize(
    ("options", "message"),
    [(CodeOptions(steps_when="sometimes"), "steps_when"), (CodeOptions(agreement=0), "agreement"), (CodeOptions(agreement=1.5), "agreement")],
)
def test_bad_step_settings_are_setup_errors(options: CodeOptions, message: str) -> None:
    from graphwright.errors import GraphSetupError
    from graphwright.nodes import make_voter

    with pytest.raises(GraphSetupError, match=message):
        build_assistant(model=SeededModel(rule=lambda m, s: ""), options=AssistantOptions(code=options))
    with pytest.raises(GraphSetupError, match=message):
        make_voter(options=options)


def test_negative_step_samples_are_a_setup_error() -> None:
    from graphwright.errors import GraphSetupError

    with pytest.raises(GraphSetupError, match="step_samples"):
        build_assistant(model=SeededModel(rule=lambda m, s: ""), options=AssistantOptions(code=CodeOptions(step_samples=-1)))


def test_replies_and_votes_parse_as_documented() -> None:
    assert program_of("no code here at all") is None
    assert program_of("```python\nprint(1)\n```") == "print(1)"
    assert program_of("```\ntotal = 2 + 2\n") == "total = 2 + 2\nprint(total)"  # cut off before the closing fence
    assert vote([("1,200", 1), ("1200.0", 1), ("7", 1)]) == "1200"
    assert vote([("yes", 1), ("no", 2)]) == "no"
    assert stated_answer("The answer is: $1,250.") == "1250" and stated_answer("x = 3.50, so the answer is 3.5") == "3.5"
    assert stated_answer("It costs 12, not 7.") == "7" and stated_answer("no numbers") is None
    assert vote([("20", 2)], stated=["18"] * 4, weight=0.5) == "20"  # 2 against 2: the programs' answer
    assert vote([("20", 2)], stated=["18"] * 5, weight=0.5) == "18" and vote([], stated=[None, "7"]) == "7"


@pytest.mark.model
def test_the_default_model_solves_a_word_problem_through_the_sandbox(local_chat_model) -> None:
    question = "Anna has 5 bags with 8 apples in each bag. She eats 2 apples. How many apples does she have now?"
    result = run(local_chat_model, question, options=AssistantOptions(code=CodeOptions(samples=3, step_samples=0)))
    shown = [(m.type, m.text, getattr(m, "tool_calls", None)) for m in result["messages"]]
    assert any(m.type == "tool" and "exit code 0" in m.text for m in result["messages"]), shown
    assert result["answer"] == "38" and result["verdict"] == "approve", shown


@pytest.mark.model
def test_the_default_model_states_step_by_step_answers_that_vote_beside_its_program(local_chat_model) -> None:
    question = "Anna has 5 bags with 8 apples in each bag. She eats 2 apples. How many apples does she have now?"
    result = run(local_chat_model, question, options=AssistantOptions(code=CodeOptions(samples=1, step_samples=2, steps_when="always")))
    call_message = next(m for m in result["messages"] if m.type == "ai" and m.tool_calls)
    stated = call_message.response_metadata["stated"]
    assert len(stated) == 2 and all(answer is not None for answer in stated), stated  # the real model states a number
    assert result["answer"] == "38" and result["verdict"] == "approve", (stated, result["answer"])


@pytest.mark.model
def test_the_default_assistant_on_the_default_model_answers_a_word_problem(local_chat_model) -> None:
    question = "A shop sells pens at 3 dollars each. Tom buys 7 pens and pays with a 50 dollar bill. How much change does he get?"
    result = run(local_chat_model, question)
    shown = [(m.type, m.text, getattr(m, "tool_calls", None), m.response_metadata.get("stated")) for m in result["messages"]]
    assert result["answer"] == "29" and result["verdict"] == "approve", shown
    assert result["usage"]["calls"] in (5, 10), shown  # the programs, and step-by-step answers only if they split


def test_an_answer_that_writes_a_printed_float_plainly_is_approved() -> None:
    model = SeededModel(rule=lambda messages, seed: fenced("print(58 / 2)"))
    result = run(model, "Half of 58?", options=AssistantOptions(code=CodeOptions(samples=1, step_samples=0)))
    assert result["answer"] == "29" and result["verdict"] == "approve"
    assert [m.type for m in result["messages"]].count("tool") == 1
