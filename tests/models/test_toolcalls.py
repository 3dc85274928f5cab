"""Reading tool calls out of model text: tagged, bare, fenced, several, and malformed."""

from __future__ import annotations

from graphwright.models import parse_tool_calls

TOOLS = {"calculator", "search"}


def test_tagged_call_is_parsed_and_the_prose_kept() -> None:
    out = parse_tool_calls(
        'Let me compute.\n<tool_call>\n{"name": "calculator", "arguments": {"expression": "2+2"}}\n</tool_call>',
        TOOLS,
    )
    assert out.content == "Let me compute."
    assert [(c["name"], c["args"]) for c in out.tool_calls] == [("calculator", {"expression": "2+2"})]
    assert out.invalid_tool_calls == []


def test_bare_json_calls_without_tags_are_accepted() -> None:
    text = '{"name": "calculator", "arguments": {"expression": "1"}}\n{"name": "search", "arguments": {"q": "x"}}'
    out = parse_tool_calls(text, TOOLS)
    assert [c["name"] for c in out.tool_calls] == ["calculator", "search"]
    assert out.content == ""


def test_fenced_call_and_string_arguments_are_accepted() -> None:
    out = parse_tool_calls('```json\n{"name": "search", "arguments": "{\\"q\\": \\"cats\\"}"}\n```', TOOLS)
    assert out.tool_calls[0]["args"] == {"q": "cats"}


def test_plain_answers_and_json_that_is_not_a_call_stay_content() -> None:
    assert parse_tool_calls("The answer is 4.", TOOLS).tool_calls == []
    out = parse_tool_calls('{"answer": 4}', TOOLS)
    assert out.tool_calls == [] and out.content == '{"answer": 4}'


def test_unknown_tool_and_broken_json_become_invalid_calls_with_reasons() -> None:
    out = parse_tool_calls(
        '<tool_call>{"name": "shell", "arguments": {}}</tool_call><tool_call>{"name": "calculator", </tool_call>',
        TOOLS,
    )
    assert out.tool_calls == []
    errors = [c["error"] for c in out.invalid_tool_calls]
    assert "unknown tool 'shell'" in errors[0]
    assert "not valid JSON" in errors[1]


def test_no_bound_tools_means_no_calls() -> None:
    out = parse_tool_calls('{"name": "calculator", "arguments": {}}', set())
    assert out.tool_calls == [] and out.content.startswith("{")


def test_call_ids_are_stable_for_the_same_prompt_and_output() -> None:
    text = '{"name": "calculator", "arguments": {"expression": "1"}}'
    first = parse_tool_calls(text, TOOLS, id_seed="prompt A").tool_calls[0]["id"]
    assert first == parse_tool_calls(text, TOOLS, id_seed="prompt A").tool_calls[0]["id"]
    assert first != parse_tool_calls(text, TOOLS, id_seed="prompt B").tool_calls[0]["id"]


def test_several_calls_in_one_reply_get_distinct_ids_even_when_repeated() -> None:
    same = '{"name": "calculator", "arguments": {"expression": "1"}}'
    for text in (
        f"<tool_call>\n{same}\n</tool_call>\n<tool_call>\n{same}\n</tool_call>",
        f"{same}\n{same}",
        f"```json\n{same}\n{same}\n```",
    ):
        calls = parse_tool_calls(text, TOOLS, id_seed="p").tool_calls
        assert [(c["name"], c["args"]) for c in calls] == [("calculator", {"expression": "1"})] * 2
        assert len({c["id"] for c in calls}) == 2
