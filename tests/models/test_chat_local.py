"""The local chat model on the real default model: tool calls, usage, async, template rendering."""

from __future__ import annotations

import asyncio
import time

import pytest
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage, ToolMessage

from graphwright import ContextLengthError, calculator
from graphwright.models import ChatLocal
from graphwright.models._chat import _to_template_messages

pytestmark = pytest.mark.model

QUESTION = [SystemMessage("You are a helpful assistant. Use the calculator for arithmetic."), HumanMessage("What is 17 * 23 + 4?")]


def test_default_model_emits_a_valid_calculator_call(local_chat_model: ChatLocal) -> None:
    reply = local_chat_model.bind_tools([calculator]).invoke(QUESTION)
    assert reply.invalid_tool_calls == []
    assert len(reply.tool_calls) == 1
    tool_call = reply.tool_calls[0]
    assert tool_call["name"] == "calculator"
    assert calculator.invoke(tool_call["args"]["expression"]) == "395"
    usage = reply.usage_metadata
    assert usage["input_tokens"] > 100 and usage["output_tokens"] > 5
    assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"]
    assert reply.response_metadata["model_name"] == "qwen2.5-coder-0.5b-instruct"


def test_a_question_asking_for_two_things_gets_two_calls(local_chat_model: ChatLocal) -> None:
    weather = {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Current weather in a city.",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
        },
    }
    reply = local_chat_model.bind_tools([weather]).invoke([HumanMessage("What is the weather in Paris and in Tokyo?")])
    assert sorted(c["args"]["city"] for c in reply.tool_calls) == ["Paris", "Tokyo"]
    assert len({c["id"] for c in reply.tool_calls}) == 2


def test_async_call_does_not_block_the_event_loop(local_chat_model: ChatLocal) -> None:
    async def scenario() -> tuple[AIMessage, int]:
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.05)
                ticks += 1

        task = asyncio.create_task(ticker())
        started = time.perf_counter()
        # long enough (~1 s) that a few missed 50 ms ticks do not decide the outcome
        reply = await local_chat_model.ainvoke([HumanMessage("Count from 1 to 40, separated by commas.")], max_new_tokens=48)
        elapsed = time.perf_counter() - started
        task.cancel()
        return reply, int(ticks / max(elapsed / 0.05, 1) * 100)

    reply, percent_of_ticks = asyncio.run(scenario())
    assert reply.text.strip()
    assert percent_of_ticks > 50, "the loop should keep ticking while the model generates"


def test_prompt_over_the_context_window_is_a_clear_error(local_chat_model: ChatLocal) -> None:
    local = local_chat_model.load()
    words = " ".join(["token"] * (local.context_length + 10))
    with pytest.raises(ContextLengthError, match="context of 32768"):
        local_chat_model.invoke([HumanMessage(words)])


def test_messages_render_with_tool_calls_and_results_in_the_template(local_chat_model: ChatLocal) -> None:
    history = [
        *QUESTION,
        AIMessage("", tool_calls=[{"name": "calculator", "args": {"expression": "17*23+4"}, "id": "c1"}]),
        ToolMessage("395", tool_call_id="c1"),
    ]
    rendered = local_chat_model.load().render(_to_template_messages(history), [])
    assert '<tool_call>\n{"name": "calculator", "arguments": {"expression": "17*23+4"}}\n</tool_call>' in rendered
    assert "<tool_response>\n395\n</tool_response>" in rendered
    assert rendered.endswith("<|im_start|>assistant\n")


def test_tool_choice_must_name_a_bound_tool(local_chat_model: ChatLocal) -> None:
    with pytest.raises(ValueError, match="tool_choice 'search'"):
        local_chat_model.bind_tools([calculator], tool_choice="search")


def test_a_loaded_model_is_out_of_the_garbage_collectors_reach(local_chat_model: ChatLocal) -> None:
    """The model's ~470K Python objects are frozen at load: a full collection would otherwise walk them all
    (~250 ms with every thread stopped) in the middle of agent runs."""
    import gc

    local = local_chat_model.load()
    assert gc.get_freeze_count() > 100_000
    assert not any(o is local.model for o in gc.get_objects())  # the collector's generations skip frozen objects
