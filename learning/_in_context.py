"""Learning in context: successful trajectories kept in vector memory, the nearest given back as worked examples.

`ExampleMemory` embeds the question of each successful trajectory (for an environment episode, each step's
task and observation) in a Chroma namespace of graphwright's vector memory, with the solution (the
completion the model or expert wrote, or the action taken) beside it. `ExampleMemory.examples(question)`
returns the `k` nearest as the code agent's own `graphwright.nodes.Example`s (`question`, `program`), the
nearest last as its `ExampleSource` contract asks: it plugs into the agent's example slot
(`build_assistant(examples=memory.examples)`), and a fresh question gets the solved problems most like it.

Nothing is trained: adding an example costs one embedding, retrieving one a vector search, so this learner
fits a CPU budget and a result is kept or dropped by deleting a folder.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from ..errors import LearningError
from ..nodes import Example
from ._experience import Trajectory, calls_of

__all__ = [
    "DEFAULT_NAMESPACE",
    "ExampleMemory",
    "examples_of",
    "open_examples",
]

DEFAULT_NAMESPACE = ("learning", "examples")
"""The vector-memory namespace examples go to unless another is given."""


def examples_of(trajectory: Trajectory) -> list[Example]:
    """Return the worked examples a trajectory gives: its task and last completion, or one per env step.

    A question task's example is its question with the final model completion (the answer-bearing one); an
    episode's are its steps, each `Task: ...` and `You see: ...` with the action taken.

    Example:
        >>> t = Trajectory("d1", "demonstration", "t1", "6*7?", 1.0,
        ...                calls=({"prompt": [{"role": "user", "content": "6*7?"}], "completion": "print(6*7)"},))
        >>> examples_of(t)
        [Example(question='6*7?', program='print(6*7)')]
    """
    if trajectory.steps is not None:
        return [
            Example(f"Task: {trajectory.task}\nYou see: {step['observation']}", str(step["action"]))
            for step in trajectory.steps
        ]
    calls = calls_of(trajectory)
    if not calls:
        return []
    question = trajectory.task or _first_user(calls[0]["prompt"])
    return [Example(question, calls[-1]["completion"])] if question.strip() else []


def _first_user(prompt: Sequence[dict[str, Any]]) -> str:
    return next((str(m.get("content", "")) for m in prompt if m.get("role") == "user"), "")


class ExampleMemory:
    """Worked examples in a Chroma namespace; `examples(question)` returns the nearest `k`.

    Example:
        >>> memory = ExampleMemory(":memory:", namespace=("doc", "examples"), k=1)
        >>> memory.add([Example("What is 6 times 7?", "print(6*7)"), Example("Name a red fruit.", "apple")])
        2
        >>> [e.program for e in memory.examples("What is 8 times 9?")]
        ['print(6*7)']
    """

    def __init__(
        self,
        target: str | os.PathLike[str],
        *,
        namespace: Sequence[str] = DEFAULT_NAMESPACE,
        k: int = 3,
        min_score: float | None = None,
        max_chars: int = 1500,
    ) -> None:
        """Open the examples kept at `target` (a folder, a Chroma server URL, or `":memory:"`).

        Args:
            target: where the vector memory is (see `graphwright.memory.open_vector_memory`).
            namespace: the namespace the examples live in.
            k: how many examples `examples` returns.
            min_score: leave out examples less similar than this (cosine, 0..1); None keeps the `k` nearest.
            max_chars: longest solution kept (longer ones are skipped: a prompt has room for a few examples).

        Raises:
            MemoryUnavailableError: the memory cannot be opened.
            LearningError: `k` below 1.
        """
        from ..memory import open_vector_memory

        if k < 1:
            raise LearningError(f"k must be at least 1, got {k}")
        self.k, self.min_score, self.max_chars = k, min_score, max_chars
        self.target = os.fspath(target)
        if self.target != ":memory:" and not self.target.startswith(("http://", "https://")):
            Path(self.target).parent.mkdir(parents=True, exist_ok=True)
        self.memory = open_vector_memory(target, namespace)

    def __len__(self) -> int:
        return self.memory.count()

    def add(self, examples: Iterable[Example]) -> int:
        """Embed and keep `examples` (one already kept, same question and solution, is not added twice).

        Returns:
            How many examples were given and fit (`max_chars`).
        """
        fitting = [e for e in examples if e.question.strip() and e.program.strip() and len(e.program) <= self.max_chars]
        if not fitting:
            return 0
        ids = [_example_id(e) for e in fitting]
        unique = dict(zip(ids, fitting))
        self.memory.add_texts(
            [e.question for e in unique.values()],
            metadatas=[{"program": e.program} for e in unique.values()],
            ids=list(unique),
        )
        return len(fitting)

    def add_trajectories(self, trajectories: Iterable[Trajectory], *, min_reward: float = 1e-9) -> int:
        """Keep the examples of every trajectory whose reward is at least `min_reward` (the successful ones).

        Returns:
            How many examples were added.
        """
        examples: list[Example] = []
        for trajectory in trajectories:
            if trajectory.reward >= min_reward:
                examples.extend(examples_of(trajectory))
        return self.add(examples)

    def nearest(self, question: str) -> list[tuple[Example, float]]:
        """Return up to `k` kept examples nearest `question` with their cosine similarity, best first."""
        if not question.strip() or self.memory.count() == 0:
            return []
        found = self.memory.recall(question, k=self.k, score_threshold=self.min_score)
        return [(Example(doc.page_content, str(doc.metadata.get("program", ""))), round(score, 6)) for doc, score in found]

    def examples(self, question: str) -> list[Example]:
        """Return the `k` kept examples nearest `question`, the nearest last (next to the question in a prompt)."""
        return [example for example, _ in reversed(self.nearest(question))]

    __call__ = examples


def _example_id(example: Example) -> str:
    return "ex-" + hashlib.sha256(f"{example.question}\x00{example.program}".encode()).hexdigest()[:24]


def open_examples(folder: str | Path, **options: Any) -> ExampleMemory:
    """Return the `ExampleMemory` kept in `folder` (as `learn` saves it), with `options` for `ExampleMemory`."""
    return ExampleMemory(Path(folder), **options)
