"""Learning in the weights on the real default model: a LoRA step lowers its example's loss, the output layer on
completion positions only gives the same loss, and the merged folder loads on the int8 kernels and calls a tool.

Kept tiny (one ~40-token example, two steps, one short generation): the machine's cores are shared.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from graphwright.learning import LoraOptions, LoraTrainer, TrainingExample

pytestmark = pytest.mark.model

EXAMPLE = TrainingExample(
    ({"role": "user", "content": "What is 12 times 7?"},),
    "step1 = 12 * 7\nprint(step1)  # 84",
)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[LoraTrainer, float, float, Path]:
    trainer = LoraTrainer(options=LoraOptions(epochs=2, batch_size=1, learning_rate=1e-3, max_tokens=128))
    before = trainer.evaluate([EXAMPLE])
    result = trainer.train([EXAMPLE])
    assert result.steps == 2 and result.completion_tokens > 0 and result.tokens <= 128
    after = trainer.evaluate([EXAMPLE])
    folder = trainer.save(tmp_path_factory.mktemp("learned") / "model")
    return trainer, before, after, folder


def test_a_lora_step_lowers_the_loss_of_its_example(trained: tuple[LoraTrainer, float, float, Path]) -> None:
    _, before, after, _ = trained
    assert after < before * 0.8, (before, after)


def test_only_completion_tokens_are_targets() -> None:
    trainer = LoraTrainer(options=LoraOptions(max_tokens=128))
    ids, prompt = trainer.encode(EXAMPLE)
    assert trainer.tokenizer.decode(ids[prompt:]) == EXAMPLE.completion + "<|im_end|>"
    assert trainer.tokenizer.decode(ids[:prompt]).endswith("<|im_start|>assistant\n")
    import torch

    with torch.no_grad():
        sliced, count = trainer.loss([(ids, prompt)], [1.0], completion_logits_only=True)
        full, _ = trainer.loss([(ids, prompt)], [1.0], completion_logits_only=False)
        half, _ = trainer.loss([(ids, prompt)], [0.5])  # J weighs each example's log-likelihood by its reward
    assert count == len(ids) - prompt
    assert abs(float(sliced) - float(full)) < 1e-3
    assert abs(float(half) - 0.5 * float(sliced)) < 1e-3


def test_the_merged_model_loads_on_int8_kernels_and_calls_a_tool(trained: tuple[LoraTrainer, float, float, Path]) -> None:
    from langchain_core.tools import tool

    from graphwright.models import ChatLocal
    from graphwright.models._native import kernel

    folder = trained[3]
    assert {"model.safetensors", "config.json", "tokenizer.json", "chat_template.jinja", "learning.json"} <= {
        p.name for p in folder.iterdir()
    }

    @tool
    def calculator(expression: str) -> str:
        """Evaluate an arithmetic expression.

        Args:
            expression: the expression, e.g. 2*(3+4).
        """
        return str(eval(expression))  # noqa: S307 - test tool

    chat = ChatLocal(model=str(folder), max_new_tokens=40)
    local = chat.load()
    assert local.quantize == "int8"
    if kernel() is not None:
        assert local.fast_layers == 24  # every layer on graphwright's int8 kernels
    reply = chat.bind_tools([calculator]).invoke("What is 17 * 23 + 4? Use the calculator.")
    assert reply.tool_calls and reply.tool_calls[0]["name"] == "calculator"
    assert set(reply.tool_calls[0]["args"]) == {"expression"}


def test_free_heap_pages_go_back_only_when_memory_runs_low() -> None:
    """A long CPU training run kept its freed activations on the C heap until the machine ran out of memory;
    the trainer hands them back when less than `HEAP_TRIM_BELOW` of the memory is left."""
    import sys

    from graphwright.learning._lora import release_free_heap

    freed = [bytearray(100_000) for _ in range(2000)]  # heap chunks (under glibc's mmap threshold), then freed
    del freed
    assert release_free_heap(below=0.0) is False  # plenty left: the heap is not touched
    if sys.platform.startswith("linux"):
        assert release_free_heap(below=1.0) is True  # "low": ~200 MB of free heap pages go back


def test_a_demonstration_in_the_agent_prompt_is_the_call_the_code_planner_makes() -> None:
    from langchain_core.messages import AIMessage, HumanMessage

    from graphwright.learning import Trajectory, in_agent_prompt, training_examples
    from graphwright.nodes import TRAINING_EXAMPLES, CodeOptions, fixed_examples, make_code_planner

    sent = []

    class Recorder:  # the part of a chat model the planner uses: invoke(messages, **settings)
        def invoke(self, messages, **settings):
            sent.append([{"role": {"system": "system", "human": "user", "ai": "assistant"}[m.type], "content": m.text}
                         for m in messages])
            return AIMessage("```python\nprint(42)\n```")

    question = "A box holds 6 rows of 7 eggs. How many eggs?"
    planner = make_code_planner(Recorder(), examples=fixed_examples(TRAINING_EXAMPLES), options=CodeOptions(samples=1))
    planner({"messages": [HumanMessage(question)]})
    demo = Trajectory("d", "demonstration", "t", question, 1.0, meta={"style": "program"},
                      calls=({"prompt": [{"role": "user", "content": question}], "completion": "print(6 * 7)"},))
    other = Trajectory("e", "eval", "t", question, 1.0, calls=({"prompt": sent[0], "completion": "42"},))

    rendered, untouched = training_examples(in_agent_prompt([demo, other]))
    assert list(rendered.prompt) == sent[0]  # the very prompt the planner sends, its examples included
    assert rendered.completion == "```python\nprint(6 * 7)\n```"  # the reply the planner parses a program from
    assert untouched.completion == "42"  # only program demonstrations change
