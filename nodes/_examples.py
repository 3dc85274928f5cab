"""Worked examples for a prompt: a question and a program that prints its answer, and where they come from.

A prompt's example slot takes an `ExampleSource`: a callable `examples(question) -> list[Example]`. Sources
here: a fixed list (`fixed_examples`), the nearest questions of a pool by embedding (`nearest_examples`), and
GSM8K-style training files turned into programs mechanically (`gsm8k_examples`). Anything else that returns
examples for a question plugs in the same way (an agent's own solved tasks, for one).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from ..tools import evaluate


@dataclass(frozen=True)
class Example:
    """One worked example: a question and a Python program that prints its answer."""

    question: str
    """The question as a user would ask it."""
    program: str
    """A short program whose printed output answers `question`."""


class ExampleSource(Protocol):
    """Gives the worked examples to show with a question (most relevant last: nearest the question)."""

    def __call__(self, question: str) -> Sequence[Example]:
        """Return the examples to show before `question`."""
        ...


def no_examples(question: str) -> list[Example]:
    """The empty example source: a zero-shot prompt."""
    return []


def fixed_examples(examples: Sequence[Example]) -> ExampleSource:
    """Return a source that shows the same `examples` with every question.

    Example:
        >>> source = fixed_examples([Example("What is 2+3?", "print(2 + 3)")])
        >>> [e.program for e in source("anything")]
        ['print(2 + 3)']
    """
    chosen = list(examples)
    return lambda question: list(chosen)


def nearest_examples(examples: Sequence[Example], k: int = 4, *, embeddings: Any = None) -> ExampleSource:
    """Return a source that shows the `k` examples whose questions are nearest the question (cosine over
    sentence embeddings), the nearest last, so it sits next to the question in the prompt.

    The pool is embedded once, when this is called.

    Args:
        examples: the pool to choose from.
        k: how many to show.
        embeddings: a LangChain `Embeddings`; None uses the packaged all-MiniLM-L6-v2.
    """
    import numpy as np

    if embeddings is None:
        from ..memory import packaged_embeddings

        embeddings = packaged_embeddings()
    pool = list(examples)
    matrix = np.asarray(embeddings.embed_documents([e.question for e in pool]), dtype=np.float32)
    matrix /= np.linalg.norm(matrix, axis=1, keepdims=True) + 1e-12

    def nearest(question: str) -> list[Example]:
        if not pool or k <= 0:
            return []
        vector = np.asarray(embeddings.embed_query(question), dtype=np.float32)
        scores = matrix @ (vector / (np.linalg.norm(vector) + 1e-12))
        best = np.argsort(-scores)[:k]
        return [pool[i] for i in reversed(best)]

    return nearest


_CALC = re.compile(r"<<([^<>=]*)=([^<>]*)>>")
_NUMBER = re.compile(r"(?<![\d.])\d+(?:\.\d+)?")  # a number standing alone, not the "5" of ".5"


def gsm8k_program(solution: str) -> str | None:
    """Return a GSM8K worked solution as a Python program that prints its answer, or None when it will not
    convert cleanly.

    Each line of the solution becomes a comment, each calculation `<<expr=value>>` a line `stepN = expr`,
    where a number that an earlier step computed is written as that step's name (so the program shows how the
    steps feed each other), and the last step is printed. None when a calculation is not plain arithmetic or
    the last step does not compute the final answer after `####`.

    Example:
        >>> print(gsm8k_program("May: 48/2 = <<48/2=24>>24.\\nIn all 48+24 = <<48+24=72>>72.\\n#### 72"))
        # May: 48/2 = 24.
        step1 = 48 / 2
        # In all 48+24 = 72.
        step2 = 48 + step1
        print(step2)
    """
    body, sep, final = solution.rpartition("####")
    if not sep:
        return None
    lines: list[str] = []
    names: dict[float, str] = {}
    last: tuple[str, float] | None = None
    steps = 0  # not len(names): two steps that compute the same value share one entry there
    for line in body.strip().splitlines():
        if not line.strip():
            continue
        lines.append("# " + _CALC.sub("", line).strip())
        for expr, value in _CALC.findall(line):
            expr = expr.replace("x", "*").replace("X", "*").replace("÷", "/").replace(",", "").strip()
            if not re.fullmatch(r"[\d\s.+\-*/%()]+", expr):
                return None
            try:
                computed = float(evaluate(expr))
                stated = float(value.strip().replace(",", ""))
            except (ValueError, ZeroDivisionError, OverflowError):
                return None
            if abs(computed - stated) > 1e-6 * max(1.0, abs(stated)):
                return None
            steps += 1
            name = f"step{steps}"
            lines.append(f"{name} = {_with_names(expr, names)}")
            names[round(computed, 6)] = name
            last = (name, computed)
    try:
        answer = float(final.strip().replace(",", ""))
    except ValueError:
        return None
    if last is None or abs(last[1] - answer) > 1e-6 * max(1.0, abs(answer)):
        return None
    lines.append(f"print({last[0]})")
    return "\n".join(lines)


def _with_names(expr: str, names: dict[float, str]) -> str:
    """`expr` spaced around operators, each number an earlier step computed replaced by that step's name."""

    def name_of(match: re.Match[str]) -> str:
        return names.get(round(float(match.group()), 6), match.group())

    spaced = re.sub(r"\s*([+\-*/%()])\s*", r" \1 ", expr)
    spaced = re.sub(r"\(\s", "(", re.sub(r"\s\)", ")", spaced))
    spaced = re.sub(r"\s+", " ", spaced).strip().replace("* *", "**").replace("/ /", "//")
    return _NUMBER.sub(name_of, spaced)


def gsm8k_rows(path: str | Path) -> Iterator[tuple[int, str, str]]:
    """Yield `(line number, question, answer)` for each problem of a GSM8K-style JSON-lines file, in file order.

    Blank lines are skipped; line numbers count them, so a number names the line in the file.

    Raises:
        OSError: the file cannot be read.
        ValueError: a line is not JSON with `question` and `answer`; the message names the file and line.
    """
    with Path(path).open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                question, answer = row["question"], row["answer"]
            except (json.JSONDecodeError, KeyError, TypeError) as exc:
                raise ValueError(f"{path}:{number}: not a GSM8K problem (question, answer): {exc}") from exc
            yield number, question, answer


def gsm8k_examples(path: str | Path, *, limit: int | None = None) -> list[Example]:
    """Return the problems of a GSM8K-style JSON-lines file (`question`, `answer` with `<<…>>` calculations and
    a final `#### n`) that convert to programs (`gsm8k_program`), in file order, at most `limit`.

    Meant for a training split: examples shown to a model must never come from the problems it is scored on.

    Raises:
        OSError: the file cannot be read.
        ValueError: a line is not JSON with `question` and `answer`.
    """
    found: list[Example] = []
    for _, question, answer in gsm8k_rows(path):
        if limit is not None and len(found) >= limit:
            break
        program = gsm8k_program(answer)
        if program is not None:
            found.append(Example(question, program))
    return found


TRAINING_EXAMPLES: tuple[Example, ...] = (
    Example(
        'Natalia sold clips to 48 of her friends in April, and then she sold half as many clips in May. How many clips did Natalia sell altogether in April and May?',
        '# Natalia sold 48/2 = 24 clips in May.\nstep1 = 48 / 2\n# Natalia sold 48+24 = 72 clips altogether in April and May.\nstep2 = 48 + step1\nprint(step2)',
    ),
    Example(
        'Weng earns $12 an hour for babysitting. Yesterday, she just did 50 minutes of babysitting. How much did she earn?',
        '# Weng earns 12/60 = $0.2 per minute.\nstep1 = 12 / 60\n# Working 50 minutes, she earned 0.2 x 50 = $10.\nstep2 = step1 * 50\nprint(step2)',
    ),
    Example(
        'Betty is saving money for a new wallet which costs $100. Betty has only half of the money she needs. Her parents decided to give her $15 for that purpose, and her grandparents twice as much as her parents. How much more money does Betty need to buy the wallet?',
        "# In the beginning, Betty has only 100 / 2 = $50.\nstep1 = 100 / 2\n# Betty's grandparents gave her 15 * 2 = $30.\nstep2 = 15 * 2\n# This means, Betty needs 100 - 50 - 30 - 15 = $5 more.\nstep3 = 100 - step1 - step2 - 15\nprint(step3)",
    ),
    Example(
        'Julie is reading a 120-page book. Yesterday, she was able to read 12 pages and today, she read twice as many pages as yesterday. If she wants to read half of the remaining pages tomorrow, how many pages should she read?',
        '# Maila read 12 x 2 = 24 pages today.\nstep1 = 12 * 2\n# So she was able to read a total of 12 + 24 = 36 pages since yesterday.\nstep2 = 12 + step1\n# There are 120 - 36 = 84 pages left to be read.\nstep3 = 120 - step2\n# Since she wants to read half of the remaining pages tomorrow, then she should read 84/2 = 42 pages.\nstep4 = step3 / 2\nprint(step4)',
    ),
)
"""The first four problems of the GSM8K training split (MIT licence), turned into programs by `gsm8k_program`:
the default examples of the code planner. The training split is disjoint from GSM8K's test problems."""


__all__ = [
    "Example",
    "ExampleSource",
    "TRAINING_EXAMPLES",
    "fixed_examples",
    "gsm8k_examples",
    "gsm8k_program",
    "nearest_examples",
    "no_examples",
]
