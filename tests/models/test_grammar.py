"""Grammars accept exactly the valid replies: checked token by token with the default model's tokenizer."""

from __future__ import annotations

import json

import llguidance
import pytest
from transformers import AutoTokenizer

from graphwright.models import GrammarError, bound_strings, json_grammar, resolve, tool_call_grammar
from graphwright.models._grammar import llg_tokenizer

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather for a place.",
        "parameters": {
            "type": "object",
            "properties": {
                "place": {
                    "type": "object",
                    "properties": {"city": {"type": "string"}, "country": {"type": "string"}},
                    "required": ["city"],
                },
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
                "days": {"type": "array", "items": {"type": "integer"}, "maxItems": 3},
            },
            "required": ["place", "unit"],
        },
    },
}
ADD = {
    "type": "function",
    "function": {
        "name": "add",
        "description": "Add.",
        "parameters": {"type": "object", "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}}, "required": ["a", "b"]},
    },
}


@pytest.fixture(scope="module")
def tokenizers():
    hf = AutoTokenizer.from_pretrained(resolve(None).folder, local_files_only=True)
    return hf, llg_tokenizer(hf, 151936)


def accepts(tokenizers, grammar, text: str) -> bool:
    hf, tok = tokenizers
    matcher = llguidance.LLMatcher(tok, grammar.compiled, log_level=0)
    ids = hf(text, add_special_tokens=False)["input_ids"]
    return matcher.try_consume_tokens(ids) == len(ids) and matcher.is_accepting()


def call(name: str, **args) -> str:
    return json.dumps({"name": name, "arguments": args})


GOOD = call("get_weather", place={"city": "Oslo", "country": "Norway"}, unit="celsius", days=[1, 2])


def test_auto_accepts_text_and_valid_calls_tagged_or_bare(tokenizers) -> None:
    grammar = tool_call_grammar([WEATHER, ADD], "auto", tag_tokens=True)
    assert accepts(tokenizers, grammar, "It is sunny in Oslo.")
    assert accepts(tokenizers, grammar, GOOD)
    assert accepts(tokenizers, grammar, f"<tool_call>\n{GOOD}\n</tool_call>")
    assert accepts(tokenizers, grammar, f"<tool_call>\n{GOOD}\n</tool_call>\n<tool_call>\n{call('add', a=1, b=2)}\n</tool_call>")
    assert accepts(tokenizers, grammar, f"{GOOD}\n{call('add', a=1, b=2)}")


@pytest.mark.parametrize(
    "bad",
    [
        call("get_weather", place={"city": "Oslo"}, unit="kelvin"),  # enum
        call("get_weather", unit="celsius"),  # missing required
        call("get_weather", place={"country": "Norway"}, unit="celsius"),  # nested required
        call("get_weather", place={"city": "Oslo"}, unit="celsius", days=["monday"]),  # array item type
        call("get_weather", place={"city": "Oslo"}, unit="celsius", days=[1, 2, 3, 4]),  # maxItems
        call("get_weather", place={"city": "Oslo"}, unit="celsius", required=["place"]),  # extra key
        call("delete_everything"),  # unknown tool
        call("add", a="one", b=2),  # type
        '{"name": "add", "arguments": {"a": 1, "b": 2}',  # unterminated
        "```json\n" + call("delete_everything") + "\n```",  # a made-up tool in a code fence
        "```json\n" + call("add", a=1, b=2) + "\n```",  # fenced: only where a call is required
    ],
)
def test_auto_rejects_invalid_calls(tokenizers, bad: str) -> None:
    assert not accepts(tokenizers, tool_call_grammar([WEATHER, ADD], "auto", tag_tokens=True), bad)


def test_required_rejects_text_and_named_choice_rejects_other_tools(tokenizers) -> None:
    required = tool_call_grammar([WEATHER, ADD], "required", tag_tokens=True)
    assert not accepts(tokenizers, required, "No tool needed.")
    assert accepts(tokenizers, required, call("add", a=1, b=2))
    only_add = tool_call_grammar([WEATHER, ADD], "add", tag_tokens=True)
    assert accepts(tokenizers, only_add, call("add", a=1, b=2))
    assert not accepts(tokenizers, only_add, GOOD)


def test_a_reply_holds_several_calls_or_a_plain_answer(tokenizers) -> None:
    auto = tool_call_grammar([WEATHER, ADD], "auto", tag_tokens=True)
    two = [call("add", a=1, b=2), call("add", a=3, b=4)]
    assert accepts(tokenizers, auto, "".join(f"<tool_call>\n{c}\n</tool_call>\n" for c in two))
    assert accepts(tokenizers, auto, "\n".join(two))
    assert accepts(tokenizers, auto, "No tool fits; the answer is 3.")
    required = tool_call_grammar([WEATHER, ADD], "required", tag_tokens=True)
    assert accepts(tokenizers, required, "```json\n" + "\n".join([GOOD, *two]) + "\n```")
    assert not accepts(tokenizers, required, "```json\n" + call("delete_everything") + "\n```")


def test_named_choice_must_be_bound() -> None:
    with pytest.raises(GrammarError, match="names no bound tool"):
        tool_call_grammar([ADD], "multiply", tag_tokens=True)


def test_strings_are_bounded_and_whitespace_fixed(tokenizers) -> None:
    grammar = json_grammar({"type": "object", "properties": {"s": {"type": "string"}}, "required": ["s"]})
    assert accepts(tokenizers, grammar, json.dumps({"s": "x" * 10}))
    assert not accepts(tokenizers, grammar, json.dumps({"s": "x" * 600}))
    assert not accepts(tokenizers, grammar, '{"s":   "x"}')
    assert bound_strings({"type": "string", "enum": ["a"]}) == {"type": "string", "enum": ["a"]}


def test_an_invalid_schema_is_a_grammar_error() -> None:
    with pytest.raises(GrammarError):
        json_grammar({"type": "object", "properties": {"x": {"$ref": "#/$defs/missing"}}})
