"""A scripted chat model for testing graph logic: it answers by a rule over the messages it is given.

Its replies depend only on its input, never on how often it was called, so a run that is killed and resumed
in another process gets the same replies as one that was not.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.utils.function_calling import convert_to_openai_tool

Rule = Callable[[list[BaseMessage], list[str]], AIMessage]
"""Takes (messages, names of bound tools) and returns the reply."""


class ScriptedChatModel(BaseChatModel):
    """A chat model whose reply is `rule(messages, bound_tool_names)`; records every call in `calls`."""

    rule: Rule
    calls: list[list[BaseMessage]] = []

    @property
    def _llm_type(self) -> str:
        return "scripted"

    def bind_tools(self, tools: Sequence[Any], *, tool_choice: Any = None, **kwargs: Any):
        names = [convert_to_openai_tool(tool)["function"]["name"] for tool in tools]
        return self.bind(tool_names=names, tool_choice=tool_choice, **kwargs)

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        self.calls.append(list(messages))
        reply = self.rule(list(messages), list(kwargs.get("tool_names") or []))
        return ChatResult(generations=[ChatGeneration(message=reply)])


def call(name: str, call_id: str, **args: Any) -> AIMessage:
    """Return an AI message that calls tool `name` with `args`."""
    return AIMessage("", tool_calls=[{"name": name, "args": args, "id": call_id, "type": "tool_call"}])
