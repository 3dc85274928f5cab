"""tool_choice="auto" decided on more than the first token's argmax: the first step's log-probabilities from the
scheduler, and ChatLocal.tool_relevance (sentence-embedding similarity of the request and the bound tools)."""

from __future__ import annotations

import math

import pytest
from langchain_core.messages import HumanMessage

from graphwright.models import ChatLocal
from graphwright.models._chat import _call_share
from graphwright.models._grammar import tool_call_grammar
from graphwright.models._relevance import tool_relevance, tool_text

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the current weather forecast for a city.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}
BMI = {
    "type": "function",
    "function": {
        "name": "determine_body_mass_index",
        "description": "Calculate body mass index given weight and height.",
        "parameters": {
            "type": "object",
            "properties": {"weight": {"type": "number"}, "height": {"type": "number"}},
            "required": ["weight", "height"],
        },
    },
}
TRIANGLE = "Calculate the area of a triangle given the base is 10 meters and height is 5 meters."


def test_tool_text_names_the_tool_in_words_then_its_description() -> None:
    assert tool_text(WEATHER) == "get weather: Get the current weather forecast for a city."
    assert tool_text({"function": {"name": "ping"}}) == "ping"


def test_relevance_is_high_for_the_tool_a_request_is_about_and_low_otherwise() -> None:
    about = tool_relevance("What is the weather forecast in Paris today?", [WEATHER])
    unrelated = tool_relevance(TRIANGLE, [BMI])
    assert about > 0.42 > unrelated
    assert tool_relevance("What is the weather forecast in Paris today?", [BMI, WEATHER]) == pytest.approx(about)
    assert tool_relevance("anything", []) == -1.0


@pytest.mark.model
def test_first_logprobs_are_the_grammar_masked_distribution_of_the_first_token(local_chat_model: ChatLocal) -> None:
    local = local_chat_model.load()
    prompt = local.render([{"role": "user", "content": "What is the weather in Paris?"}], [WEATHER])
    grammar = tool_call_grammar([WEATHER], "auto", tag_tokens=local.tag_tokens)
    first = local.generate(prompt, max_new_tokens=1, grammar=grammar, first_logprobs=True)
    logprobs = first.first_logprobs
    assert logprobs is not None and logprobs.shape[-1] >= len(local.tokenizer)
    assert local.tokenizer.decode([int(logprobs.argmax())]) == first.text  # greedy took the likeliest token
    assert math.isclose(float(logprobs.exp().sum()), 1.0, rel_tol=1e-3)
    space = local.tokenizer(" ", add_special_tokens=False)["input_ids"][0]
    assert logprobs[space] == float("-inf")  # the grammar allows no reply that starts with a space
    assert 0.0 <= _call_share(local, logprobs) <= 1.0
    assert local.generate(prompt, max_new_tokens=1, grammar=grammar).first_logprobs is None


@pytest.mark.model
def test_tool_relevance_answers_in_text_where_no_bound_tool_fits(local_chat_model: ChatLocal) -> None:
    checked = local_chat_model.model_copy(update={"tool_relevance": 0.42})
    reply = checked.bind_tools([BMI]).invoke([HumanMessage(TRIANGLE)], max_new_tokens=24)
    assert reply.tool_calls == [] and reply.invalid_tool_calls == [] and reply.content
    call = checked.bind_tools([WEATHER]).invoke([HumanMessage("What is the weather forecast in Paris today?")])
    assert [c["name"] for c in call.tool_calls] == ["get_weather"]
