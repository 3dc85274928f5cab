"""Code as the action: the model writes short Python programs, a sandbox tool runs them, the printed results vote.

`make_code_planner` asks the model for a program (several, sampled in one batch, when `samples` > 1) and writes
them as calls of the `python` tool; the graph's tool executor runs them; `make_voter` takes the answer most
programs printed (self-consistency over executed results: failed runs do not vote). With `step_samples`, the
same batch also asks for step-by-step answers in words, and the number each one states votes beside the
programs' (program and prose err on different problems, so together they agree on the right answer more often
than either alone). When nothing answered, the planner is asked again and sees the failed program and its
error, so it can fix it.
"""

from __future__ import annotations

import ast
import hashlib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AnyMessage, BaseMessage, HumanMessage, SystemMessage, ToolMessage
from langchain_core.runnables.config import ContextThreadPoolExecutor

from ..errors import GraphSetupError
from ._examples import Example, ExampleSource, no_examples
from ._messages import CRITIC, question_of

CODE_PROMPT = (
    "You answer questions by writing Python. Write a short Python program that computes the answer step by "
    "step and prints it. Reply with the program in one ```python block."
)

CODE_PLANNER_WRITES = frozenset({"messages", "answer"})
"""The state keys a code planner node writes."""

VOTER_WRITES = frozenset({"messages", "answer"})
"""The state keys a voter node writes."""

_FENCE = re.compile(r"```[ \t]*(?:python|py)?[ \t]*\n(.*?)(?:\n```|$)", re.DOTALL)
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")
_STOP = ["\n```\n"]
_STATED = re.compile(r"answer is\W*(-?[\d,]*\d(?:\.\d+)?)", re.IGNORECASE)

STEPS_PROMPT = "Solve the math problem step by step. End with: The answer is <number>."


@dataclass(frozen=True)
class CodeOptions:
    """How a code planner asks for programs."""

    samples: int = 5
    """Programs asked for per turn: the first greedy, the rest sampled; their results vote (1: no voting). Each
    sample is one more model call, batched with the others: a greedy program alone can print a number it
    worked out in a comment, and the sampled ones outvote it."""
    temperature: float = 0.7
    """Sampling temperature of the samples after the first."""
    max_new_tokens: int = 384
    """Tokens each program may take (passed to models that have a `max_new_tokens` setting)."""
    prompt: str = CODE_PROMPT
    """The system prompt."""
    step_samples: int = 0
    """Step-by-step answers in words asked for beside the programs, in the same batch (the first greedy, the rest
    sampled at `temperature`); the number each states votes with the programs' printed results (0: programs
    only). Asked on a question's first turn, not when a failed program is being fixed."""
    step_weight: float = 1.0
    """What one stated answer counts against one program's printed result in the vote."""
    step_prompt: str = STEPS_PROMPT
    """The system prompt of the step-by-step answers."""


def make_code_planner(
    model: BaseChatModel,
    *,
    examples: ExampleSource = no_examples,
    options: CodeOptions = CodeOptions(),
    tool: str = "python",
) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """Return a code planner node: the model writes programs that answer the question, as calls of the tool
    `tool` (one call per distinct program; how many samples wrote each is in the reply's
    `response_metadata["votes"]`, and which call each sample wrote, in sample order, in `["samples"]`).

    The prompt is the system prompt (with what memory recalled, when `context` is set), the worked examples
    `examples(question)` as earlier turns, and the question; after a turn whose programs all failed, also the
    first failed program and its error. `options.samples` calls go to the model at once, so a batching model
    runs them together. A reply without a program is taken as a direct answer.

    Reads: `messages`, `context` (optional). Writes: `messages` (the tool calls, or the direct answer) and
    `answer` (None while programs run, else the direct answer).

    Args:
        model: any chat model; for `samples` > 1 it must accept `temperature` and `seed` per call.
        examples: the example slot: worked examples for a question (see `graphwright.nodes.ExampleSource`).
        options: samples, temperature, token bound and prompt.
        tool: the name of the tool that runs a program (its one argument is `code`).

    Raises:
        GraphSetupError: `options.samples` is below 1.
    """
    if options.samples < 1:
        raise GraphSetupError(f"samples must be at least 1, got {options.samples}")
    if options.step_samples < 0 or options.step_weight < 0:
        raise GraphSetupError(
            f"step_samples and step_weight must not be negative, got {options.step_samples} and {options.step_weight}"
        )
    limit: dict[str, Any] = {}
    if "max_new_tokens" in getattr(type(model), "model_fields", {}):
        limit["max_new_tokens"] = options.max_new_tokens

    def sampled(n: int, base: dict[str, Any], first_seed: int) -> list[dict[str, Any]]:
        return [dict(base)] + [{**base, "temperature": options.temperature, "seed": first_seed + i} for i in range(1, n)]

    settings = sampled(options.samples, {**limit, "stop": _STOP}, 0)
    step_settings = sampled(options.step_samples, limit, options.samples) if options.step_samples else []

    def planner(state: dict[str, Any]) -> dict[str, Any]:
        messages = state["messages"]
        prompt = code_prompt(messages, examples, options.prompt, state.get("context"))
        calls = [(prompt, kwargs) for kwargs in settings]
        first_turn = _last_code_turn(messages) is None
        if first_turn:
            steps_chat = [SystemMessage(options.step_prompt), HumanMessage(question_of(messages))]
            calls += [(steps_chat, kwargs) for kwargs in step_settings]
        if len(calls) == 1:
            replies = [model.invoke(prompt, **settings[0])]
        else:
            with ContextThreadPoolExecutor(max_workers=len(calls)) as pool:
                replies = list(pool.map(lambda call: model.invoke(call[0], **call[1]), calls))
        stated = [stated_answer(reply.text) for reply in replies[len(settings) :]]
        replies = replies[: len(settings)]  # the programs' replies
        votes: dict[str, int] = {}
        programs = [program_of(reply.text) for reply in replies]
        for program in programs:
            if program is not None:
                votes[program] = votes.get(program, 0) + 1
        if not votes:
            answer = vote([(a, 1) for a in stated if a is not None]) or replies[0].text.strip()
            return {"messages": [AIMessage(answer)], "answer": answer}
        seed = hashlib.sha1("\n".join(m.text for m in prompt).encode()).hexdigest()[:10]
        calls = [
            {"name": tool, "args": {"code": program}, "id": f"code_{seed}_{i}", "type": "tool_call"}
            for i, program in enumerate(votes)
        ]
        counts = {call["id"]: votes[call["args"]["code"]] for call in calls}
        ids = {call["args"]["code"]: call["id"] for call in calls}
        metadata: dict[str, Any] = {"votes": counts, "samples": [ids.get(program) for program in programs]}  # type: ignore[arg-type]
        if step_settings and first_turn:
            metadata["stated"] = stated
            metadata["step_weight"] = options.step_weight
        return {"messages": [AIMessage("", tool_calls=calls, response_metadata=metadata)], "answer": None}

    return planner


def code_prompt(
    messages: Sequence[AnyMessage], examples: ExampleSource, prompt: str = CODE_PROMPT, context: Sequence[str] | None = None
) -> list[BaseMessage]:
    """Return the chat a code planner sends: system prompt, examples as earlier turns, the question, and the
    last failed program with its error (or the critic's feedback) when there is one.

    Example:
        >>> from langchain_core.messages import HumanMessage
        >>> chat = code_prompt([HumanMessage("What is 2+3?")], lambda q: [Example("What is 1+1?", "print(1 + 1)")])
        >>> [m.type for m in chat], chat[2].text
        (['system', 'human', 'ai', 'human'], '```python\\nprint(1 + 1)\\n```')
    """
    question = question_of(messages)
    system = prompt if not context else prompt + "\n\nWhat memory recalls:\n" + "\n".join(f"- {c}" for c in context)
    chat: list[BaseMessage] = [SystemMessage(system)]
    for example in examples(question):
        chat += [HumanMessage(example.question), AIMessage(f"```python\n{example.program}\n```")]
    chat.append(HumanMessage(question))
    failed = last_failure(messages)
    if failed is not None:
        program, error = failed
        chat += [AIMessage(f"```python\n{program}\n```"), HumanMessage(f"The program failed:\n{error}\nFix it: write the whole corrected program.")]
    elif messages and isinstance(messages[-1], HumanMessage) and messages[-1].name == CRITIC:
        chat.append(HumanMessage(messages[-1].text))
    return chat


def last_failure(messages: Sequence[AnyMessage]) -> tuple[str, str] | None:
    """Return (program, what went wrong) of the latest turn's first program when no program of that turn
    printed anything, else None."""
    turn = _last_code_turn(messages)
    if turn is None:
        return None
    call_message, results = turn
    if any(printed(results[call["id"]]) is not None for call in call_message.tool_calls if call["id"] in results):
        return None
    first = call_message.tool_calls[0]
    result = results.get(first["id"])
    error = result.text if result is not None else "it did not run"
    if result is not None and result.status != "error" and "stderr:" not in error:
        error += "\nIt printed nothing: print the answer."
    return str(first["args"].get("code", "")), error[-1500:]


def make_voter(*, tool: str = "python") -> Callable[[dict[str, Any]], dict[str, Any]]:
    """Return a voter node: the answer is what most programs of the latest turn printed (see `vote`), with the
    numbers that turn's step-by-step answers stated voting beside them (`CodeOptions.step_samples`).

    Reads: `messages`. Writes: `answer` (None when no program printed anything) and, with an answer,
    `messages` (the answer as the assistant's reply).

    Args:
        tool: the name of the tool whose results vote.
    """

    def voter(state: dict[str, Any]) -> dict[str, Any]:
        turn = _last_code_turn(state["messages"], tool)
        if turn is None:
            return {"answer": None}
        call_message, results = turn
        votes = call_message.response_metadata.get("votes") or {}
        outputs = []
        for call in call_message.tool_calls:
            result = results.get(call["id"])
            output = printed(result) if result is not None else None
            if output is not None:
                outputs.append((output, int(votes.get(call["id"], 1))))
        weight = float(call_message.response_metadata.get("step_weight", 1.0))
        outputs += [(answer, weight) for answer in call_message.response_metadata.get("stated") or [] if answer is not None]
        answer = vote(outputs)
        if answer is None:
            return {"answer": None}
        return {"answer": answer, "messages": [AIMessage(answer)]}

    return voter


def vote(outputs: Sequence[tuple[str, float]]) -> str | None:
    """Return the output with the most votes among `(printed text, votes)`, None when there is none.

    Outputs agree when the last number they print is the same (thousands commas ignored), or, printing no
    number, when their text is the same. Ties go to the earlier output. A lone number is written plainly
    (`18.0` as `18`).

    Example:
        >>> vote([("18.0", 1), ("20", 1), ("The answer is 18", 1)])
        '18'
        >>> vote([]) is None
        True
    """
    tally: dict[str, float] = {}
    first: dict[str, str] = {}
    for text, count in outputs:
        key = _key(text)
        tally[key] = tally.get(key, 0) + count
        first.setdefault(key, text)
    if not tally:
        return None
    best = max(tally, key=lambda k: tally[k])  # max keeps the first of equals
    text = first[best].strip()
    return _plain(float(text.replace(",", ""))) if _NUMBER.fullmatch(text.replace(",", "")) else text[:2000]


def stated_answer(text: str) -> str | None:
    """Return the number a step-by-step answer states: the one after its last "answer is", else its last number;
    None when it has none.

    Example:
        >>> stated_answer("3 * 4 = 12 pens, so 12 + 1 = 13. The answer is 13 pens.")
        '13'
        >>> stated_answer("She pays $1,250 in total.") , stated_answer("No idea.")
        ('1250', None)
    """
    found = _STATED.findall(text) or _NUMBER.findall(text.replace(",", ""))
    return _plain(float(found[-1].replace(",", ""))) if found else None


def printed(result: ToolMessage) -> str | None:
    """Return what a sandboxed program printed when it exited cleanly and printed something, else None."""
    if result.status == "error":
        return None
    text = result.text
    if not text.startswith("exit code 0\nstdout:\n"):
        return None
    out = text[len("exit code 0\nstdout:\n") :].split("\nstderr:\n")[0].strip()
    return out or None


def program_of(text: str) -> str | None:
    """Return the program in a model reply (its first fenced block, else the whole reply when it parses as
    Python with an assignment or a call), with a `print` of the last value added when it prints nothing;
    None when the reply holds no program.

    Example:
        >>> print(program_of("Here:\\n```python\\ntotal = 3 * 4\\n```\\nDone."))
        total = 3 * 4
        print(total)
    """
    match = _FENCE.search(text)
    if match:
        code = match.group(1).strip("\n")
    else:
        code = text.strip()
        try:
            tree = ast.parse(code)
        except SyntaxError:
            return None
        if not any(isinstance(node, (ast.Assign, ast.Call)) for node in ast.walk(tree)):
            return None
    if not code.strip():
        return None
    return _with_print(code)


def _with_print(code: str) -> str:
    """`code` with its last value printed when it has no print call (small models often forget it)."""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return code  # the sandbox's error goes back to the model
    if "print" in {n.func.id for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}:
        return code
    last = tree.body[-1] if tree.body else None
    if isinstance(last, ast.Expr):
        return code + f"\nprint({ast.unparse(last.value)})"
    if isinstance(last, ast.Assign) and len(last.targets) == 1 and isinstance(last.targets[0], ast.Name):
        return code + f"\nprint({last.targets[0].id})"
    return code


def _last_code_turn(
    messages: Sequence[AnyMessage], tool: str | None = None
) -> tuple[AIMessage, dict[str, ToolMessage]] | None:
    """The latest AI message since the question that calls `tool` (any tool when None), with its results."""
    results: dict[str, ToolMessage] = {}
    for message in reversed(messages):
        if isinstance(message, ToolMessage):
            results.setdefault(message.tool_call_id, message)
        elif isinstance(message, AIMessage) and message.tool_calls:
            if tool is None or any(call["name"] == tool for call in message.tool_calls):
                return message, results
        elif isinstance(message, HumanMessage) and message.name != CRITIC:
            return None
    return None


def _key(text: str) -> str:
    numbers = _NUMBER.findall(text.replace(",", ""))
    return _plain(float(numbers[-1])) if numbers else " ".join(text.lower().split())


def _plain(value: float) -> str:
    if abs(value - round(value)) < 1e-6:
        return str(int(round(value)))
    return f"{value:.6f}".rstrip("0").rstrip(".")


__all__ = [
    "CODE_PLANNER_WRITES",
    "CODE_PROMPT",
    "CodeOptions",
    "STEPS_PROMPT",
    "VOTER_WRITES",
    "code_prompt",
    "last_failure",
    "make_code_planner",
    "make_voter",
    "printed",
    "program_of",
    "stated_answer",
    "vote",
]
