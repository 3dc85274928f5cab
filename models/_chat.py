"""`ChatLocal`: a langchain-core chat model over the in-process Transformers model.

It renders LangChain messages with the model's own chat template (system, human, AI turns with their tool
calls, tool results), passes bound tools to the template, and parses the reply into `AIMessage.tool_calls`.
Because it is a `BaseChatModel`, it works in any LangChain or LangGraph code, and our nodes work with any
other chat model.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Sequence
from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.messages import (
    AIMessage,
    BaseMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)
from langchain_core.messages.ai import UsageMetadata
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.runnables import Runnable
from langchain_core.tools import BaseTool
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import ConfigDict, Field, PrivateAttr

from ._local import LocalModel
from ._toolcalls import parse_tool_calls

_TOOL_CHOICE_WORDS = {"auto", "none", "required", "any"}


class ChatLocal(BaseChatModel):
    """A chat model that runs a Transformers model in this process, with tool calling.

    The weights load on the first call (or on `load()`), once per process for each model reference. Decoding
    is greedy unless `temperature` > 0. Sync and async calls both work; an async call runs the model in a
    worker thread, so it never blocks the event loop.

    Example:
        >>> from graphwright.models import ChatLocal
        >>> llm = ChatLocal(max_new_tokens=32)  # the packaged default model
        >>> llm.model_name
        'qwen2.5-coder-0.5b-instruct'
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    model: str | None = None
    """Model reference: None for the packaged default, a `.gguf` file, or a Transformers model folder."""
    dtype: str = "bfloat16"
    """Weight dtype; bf16 is the fastest that keeps greedy output identical on this CPU."""
    max_new_tokens: int = Field(default=512, gt=0)
    """Upper bound on generated tokens per call (safe default: bounded output)."""
    temperature: float = Field(default=0.0, ge=0.0)
    """0 is greedy decoding (the default, and what tool calls want)."""
    seed: int | None = None
    """Seed for sampling when `temperature` > 0."""
    timeout: float | None = Field(default=120.0, gt=0)
    """Seconds one call may generate for before it stops with `finish_reason="timeout"`."""

    _local: LocalModel | None = PrivateAttr(default=None)

    @property
    def _llm_type(self) -> str:
        return "graphwright-local"

    @property
    def model_name(self) -> str:
        """The model's display name (the default model's name, or the file or folder name)."""
        from ._weights import DEFAULT_MODEL

        if self._local is not None:
            return self._local.name
        return DEFAULT_MODEL if self.model in (None, DEFAULT_MODEL) else str(self.model).rstrip("/").split("/")[-1]

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"model": self.model_name, "dtype": self.dtype, "temperature": self.temperature}

    def load(self) -> LocalModel:
        """Load the weights now (otherwise the first call does) and return the shared `LocalModel`."""
        if self._local is None:
            self._local = LocalModel.load(self.model, dtype=self.dtype)
        return self._local

    def bind_tools(
        self,
        tools: Sequence[dict[str, Any] | type | Callable[..., Any] | BaseTool],
        *,
        tool_choice: str | dict[str, Any] | bool | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, AIMessage]:
        """Return this model with `tools` bound: they are shown to the model and its calls are parsed.

        Args:
            tools: LangChain tools, functions, Pydantic models or OpenAI-style tool dicts.
            tool_choice: "auto" (default), "none", "required"/"any" (some tool), or one tool's name.

        Raises:
            ValueError: `tool_choice` names a tool that is not among `tools`.
        """
        formatted = [convert_to_openai_tool(tool) for tool in tools]
        names = {tool["function"]["name"] for tool in formatted}
        choice = _normalize_tool_choice(tool_choice, names)
        return super().bind(tools=formatted, tool_choice=choice, **kwargs)

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        local = self.load()
        tools: list[dict[str, Any]] = kwargs.get("tools") or []
        if kwargs.get("tool_choice") == "none":
            tools = []
        prompt = local.render(_to_template_messages(messages), tools)
        result = local.generate(
            prompt,
            max_new_tokens=kwargs.get("max_new_tokens", self.max_new_tokens),
            temperature=kwargs.get("temperature", self.temperature),
            seed=kwargs.get("seed", self.seed),
            stop=stop,
            timeout=kwargs.get("timeout", self.timeout),
        )
        parsed = parse_tool_calls(result.text, {t["function"]["name"] for t in tools}, id_seed=prompt)
        message = AIMessage(
            content=parsed.content,
            tool_calls=parsed.tool_calls,
            invalid_tool_calls=parsed.invalid_tool_calls,
            usage_metadata=UsageMetadata(
                input_tokens=result.prompt_tokens,
                output_tokens=result.completion_tokens,
                total_tokens=result.prompt_tokens + result.completion_tokens,
            ),
            response_metadata={
                "model_name": local.name,
                "finish_reason": result.finish_reason,
                "generation_seconds": round(result.seconds, 3),
            },
        )
        return ChatResult(generations=[ChatGeneration(message=message)])

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        return await asyncio.to_thread(self._generate, messages, stop, None, **kwargs)


def _normalize_tool_choice(choice: str | dict[str, Any] | bool | None, names: set[str]) -> str | None:
    """Map LangChain's spellings of `tool_choice` onto "auto", "none", "required" or a tool's name."""
    if choice is None or choice is False:
        return None
    if choice is True or choice == "any":
        return "required"
    if isinstance(choice, dict):
        choice = choice.get("function", {}).get("name") or choice.get("name")
    if isinstance(choice, str) and (choice in _TOOL_CHOICE_WORDS or choice in names):
        return choice
    raise ValueError(
        f"tool_choice {choice!r} is not 'auto', 'none', 'required', 'any' or a bound tool "
        f"({', '.join(sorted(names)) or 'none bound'})"
    )


def _to_template_messages(messages: Sequence[BaseMessage]) -> list[dict[str, Any]]:
    """Convert LangChain messages into the role/content dicts chat templates read."""
    out: list[dict[str, Any]] = []
    for message in messages:
        if isinstance(message, SystemMessage):
            out.append({"role": "system", "content": message.text})
        elif isinstance(message, HumanMessage):
            out.append({"role": "user", "content": message.text})
        elif isinstance(message, AIMessage):
            entry: dict[str, Any] = {"role": "assistant", "content": message.text}
            if message.tool_calls:
                entry["tool_calls"] = [
                    {"type": "function", "id": call["id"], "function": {"name": call["name"], "arguments": call["args"]}}
                    for call in message.tool_calls
                ]
            out.append(entry)
        elif isinstance(message, ToolMessage):
            content = message.content if isinstance(message.content, str) else json.dumps(message.content)
            out.append({"role": "tool", "content": content, "tool_call_id": message.tool_call_id})
        else:
            role = getattr(message, "role", None) or message.type
            out.append({"role": role, "content": message.text})
    return out
