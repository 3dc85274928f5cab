"""Code as the action: the model writes short Python programs, a sandbox tool runs them, the printed results vote.

`make_code_planner` asks the model for a program (several, sampled in one batch, when `samples` > 1) and writes
them as calls of the `python` tool; the graph's tool executor runs them; `make_voter` takes the answer most
programs printed (self-consistency over executed results: failed runs do not vote). With `step_samples`, the
model is also asked for step-by-step answers in words, and the number each one states votes beside the
programs' (program and prose err on different problems, so together they agree on the right answer more often
than either alone). By default the voter asks for them only when the programs split (fewer than `agreement`
of them printed the leading answer): an easy question costs one batch, a contested one two. When nothing
answered, the planner is asked again and sees the failed program and its error, so it can fix it.
"""

from __future__ import annotations

import ast
import hashlib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AnyMessage, BaseMessage, HumanMessage, SystemMessage, ToolMessage
from langchain_core.runnables.config import ContextThreadPoolExecutor

from ..errors import GraphSetupError
from ._budget import Budget, spent
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
    step_samples: int = 5
    """Step-by-step answers in words asked for beside the programs (the first greedy, the rest sampled at
    `temperature`, all in one batch); the number each states votes with the programs' printed results (0:
    programs only). Asked at most once per question, on its first turn, never when a failed program is being
    fixed. Program and prose err on different problems: on GSM8K dev problems 5 programs and 5 answers voting
    solved about 1.4x what 5 programs did (bench/README.md)."""
    steps_when: Literal["split", "always"] = "split"
    """When the step-by-step answers are asked: "split", by the voter after the programs ran and only when fewer
    than `agreement` of them printed the leading answer (easy questions stay one batch); "always", by the planner
    in the programs' own batch (one batch every time, each a larger one)."""
    agreement: float = 0.8
    """With `steps_when="split"`, the share of the programs (failed ones count against) that must print the
    leading answer for it to stand without step-by-step answers."""
    step_weight: float = 0.5
    """What one stated answer counts against one program's printed result in the vote: less than a program,
    whose arithmetic ran (the default model's prose multiplies two-digit numbers wrong often); ties go to the
    programs (see `vote`)."""
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
        GraphSetupError: `options.samples` is below 1, or a step-by-step setting is out of range.
    """
    if options.samples < 1:
        raise GraphSetupError(f"samples must be at least 1, got {options.samples}")
    _check_steps(options)
    limit = _token_limit(model, options)
    settings = _sampled(options, options.samples, {**limit, "stop": _STOP}, 0)
    asks_steps = options.step_samples > 0 and options.steps_when == "always"
    step_settings = _sampled(options, options.step_samples, limit, options.samples) if asks_steps else []

    def planner(state: dict[str, Any]) -> dict[str, Any]:
        messages = state["messages"]
        prompt = code_prompt(messages, examples, options.prompt, state.get("context"))
        calls = [(prompt, kwargs) for kwargs in settings]
        first_turn = _last_code_turn(messages) is None
        if first_turn:
            calls += _steps_calls(messages, options, step_settings)
        replies = _invoke_all(model, calls)
        stated = [stated_answer(reply.text) for reply in replies[len(settings) :]]
        replies = replies[: len(settings)]  # the programs' replies
        votes: dict[str, int] = {}
        programs = [program_of(reply.text) for reply in replies]
        for program in programs:
            if program is not None:
                votes[program] = votes.get(program, 0) + 1
        if not votes:
            answer = vote([], stated) or replies[0].text.strip()
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
        chat += [HumanMessage(example.question), AIMessage(fenced_program(example.program))]
    chat.append(HumanMessage(question))
    failed = last_failure(messages)
    if failed is not None:
        program, error = failed
        chat += [AIMessage(fenced_program(program)), HumanMessage(f"The program failed:\n{error}\nFix it: write the whole corrected program.")]
    elif messages and isinstance(messages[-1], HumanMessage) and messages[-1].name == CRITIC:
        chat.append(HumanMessage(messages[-1].text))
    return chat


def fenced_program(program: str) -> str:
    """Return `program` as the code planner's prompt writes a program reply: in a ```python block.

    Worked examples, a failed attempt shown back and imitation data (`graphwright.learning.in_agent_prompt`) all
    use this one form, so the model sees and learns the reply the planner reads (`program_of` is its inverse).

    Example:
        >>> fenced_program("print(6 * 7)")
        '```python\\nprint(6 * 7)\\n```'
        >>> program_of(fenced_program("print(6 * 7)"))
        'print(6 * 7)'
    """
    return f"```python\n{program}\n```"


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


def make_voter(
    model: BaseChatModel | None = None,
    *,
    options: CodeOptions = CodeOptions(),
    budget: Budget | None = None,
    tool: str = "python",
) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """Return a voter node: the answer is what most programs of the latest turn printed (see `vote`), with the
    numbers step-by-step answers stated voting beside them (`CodeOptions.step_samples`).

    The stated answers are those the planner asked for in the programs' batch (`steps_when="always"`), or, with
    a `model` and `steps_when="split"`, those the voter asks for itself when the programs split: on a question's
    first code turn, when fewer than `options.agreement` of its `options.samples` programs printed the leading
    answer and `budget` (if given) allows more model calls. The voter's reply then carries them in
    `response_metadata["stated"]`, where the critic's grounding check finds them.

    Reads: `messages`, `usage` (for `budget`). Writes: `answer` (None when nothing answered) and, with an
    answer, `messages` (the answer as the assistant's reply).

    Args:
        model: the chat model for step-by-step answers; None: programs (and the planner's stated answers) only.
        options: the planner's options: samples, step-by-step settings, token bound.
        budget: the question's budget; no step-by-step answers are asked once it is spent.
        tool: the name of the tool whose results vote.

    Raises:
        GraphSetupError: a step-by-step setting is out of range.
    """
    _check_steps(options)
    asks = model is not None and options.step_samples > 0 and options.steps_when == "split"
    step_settings = _sampled(options, options.step_samples, _token_limit(model, options), options.samples) if asks else []

    def voter(state: dict[str, Any]) -> dict[str, Any]:
        messages = state["messages"]
        turn = _last_code_turn(messages, tool)
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
        weight = float(call_message.response_metadata.get("step_weight", options.step_weight))
        stated = call_message.response_metadata.get("stated")
        metadata: dict[str, Any] = {}
        if stated is None and step_settings and _first_code_turn(messages) and _split(outputs, options):
            if budget is None or budget.allows(spent(state)):
                replies = _invoke_all(model, _steps_calls(messages, options, step_settings))  # type: ignore[arg-type]
                stated = [stated_answer(reply.text) for reply in replies]
                metadata = {"stated": stated, "step_weight": weight}
        answer = vote(outputs, stated or [], weight)
        if answer is None:
            return {"answer": None}
        return {"answer": answer, "messages": [AIMessage(answer, response_metadata=metadata)]}

    return voter


def _split(outputs: Sequence[tuple[str, float]], options: CodeOptions) -> bool:
    """Whether fewer than `options.agreement` of the turn's programs printed the leading answer."""
    leading = max(_tally(outputs).values(), default=0)
    return leading < options.agreement * options.samples - 1e-9


def _tally(outputs: Sequence[tuple[str, float]]) -> dict[str, float]:
    """Votes per answer (`_key`) of `(text, votes)` pairs, in the order answers first appear."""
    tally: dict[str, float] = {}
    for text, count in outputs:
        tally[_key(text)] = tally.get(_key(text), 0) + count
    return tally


def _steps_calls(
    messages: Sequence[AnyMessage], options: CodeOptions, settings: Sequence[dict[str, Any]]
) -> list[tuple[list[BaseMessage], dict[str, Any]]]:
    """The step-by-step calls for the question of `messages`: its prompt once per setting."""
    chat: list[BaseMessage] = [SystemMessage(options.step_prompt), HumanMessage(question_of(messages))]
    return [(chat, kwargs) for kwargs in settings]


def _first_code_turn(messages: Sequence[AnyMessage]) -> bool:
    """Whether the question's latest code turn is its first (no earlier tool calls since the question)."""
    turns = 0
    for message in reversed(messages):
        if isinstance(message, AIMessage) and message.tool_calls:
            turns += 1
        elif isinstance(message, HumanMessage) and message.name != CRITIC:
            break
    return turns == 1


def _check_steps(options: CodeOptions) -> None:
    if options.step_samples < 0 or options.step_weight < 0:
        raise GraphSetupError(
            f"step_samples and step_weight must not be negative, got {options.step_samples} and {options.step_weight}"
        )
    if options.steps_when not in ("split", "always"):
        raise GraphSetupError(f'steps_when must be "split" or "always", got {options.steps_when!r}')
    if not 0 < options.agreement <= 1:
        raise GraphSetupError(f"agreement must be in (0, 1], got {options.agreement}")


def _token_limit(model: BaseChatModel | None, options: CodeOptions) -> dict[str, Any]:
    """`max_new_tokens` for models that have that setting (a per-call keyword others would reject)."""
    if model is not None and "max_new_tokens" in getattr(type(model), "model_fields", {}):
        return {"max_new_tokens": options.max_new_tokens}
    return {}


def _sampled(options: CodeOptions, n: int, base: dict[str, Any], first_seed: int) -> list[dict[str, Any]]:
    """Settings of `n` calls: the first greedy, the rest sampled at the options' temperature, one seed each."""
    return [dict(base)] + [{**base, "temperature": options.temperature, "seed": first_seed + i} for i in range(1, n)]


def _invoke_all(model: BaseChatModel, calls: Sequence[tuple[list[BaseMessage], dict[str, Any]]]) -> list[BaseMessage]:
    """Replies to `calls` in order, sent at once so that a batching model decodes them together."""
    if len(calls) == 1:
        return [model.invoke(calls[0][0], **calls[0][1])]
    with ContextThreadPoolExecutor(max_workers=len(calls)) as pool:
        return list(pool.map(lambda call: model.invoke(call[0], **call[1]), calls))


def vote(outputs: Sequence[tuple[str, float]], stated: Sequence[str | None] = (), weight: float = 1.0) -> str | None:
    """Return the output with the most votes among the programs' `(printed text, votes)` and the `stated`
    answers (`weight` votes each; None ones do not vote); None when there is none.

    Outputs agree when the last number they print is the same (thousands commas ignored), or, printing no
    number, when their text is the same. Ties go to the answer more programs printed (a run program checked
    its arithmetic; a stated answer did not), then to the earlier one. A lone number is written plainly
    (`18.0` as `18`).

    Example:
        >>> vote([("18.0", 1), ("20", 1), ("The answer is 18", 1)])
        '18'
        >>> vote([("405", 1), ("395", 2)], stated=["405", "405", None], weight=0.5)  # 2 against 2: programs decide
        '395'
        >>> vote([]) is None
        True
    """
    said = [(text, weight) for text in stated if text is not None]
    printed_by = _tally(outputs)
    tally = _tally([*outputs, *said])
    first: dict[str, str] = {}
    for text, _ in [*outputs, *said]:
        first.setdefault(_key(text), text)
    if not tally:
        return None
    best = max(tally, key=lambda k: (round(tally[k], 9), printed_by.get(k, 0)))  # max keeps the first of equals
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
    "fenced_program",
    "last_failure",
    "make_code_planner",
    "make_voter",
    "printed",
    "program_of",
    "stated_answer",
    "vote",
]
