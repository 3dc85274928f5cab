"""`ChatLocal`: a langchain-core chat model over the in-process Transformers model.

It renders LangChain messages with the model's own chat template (system, human, AI turns with their tool
calls, tool results), passes bound tools to the template, and parses the reply into `AIMessage.tool_calls`.
Because it is a `BaseChatModel`, it works in any LangChain or LangGraph code, and our nodes work with any
other chat model.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import jsonschema

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.exceptions import OutputParserException
from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    BaseMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)
from langchain_core.messages.ai import UsageMetadata
from langchain_core.messages.tool import ToolCall, ToolCallChunk, tool_call_chunk
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.runnables import Runnable, RunnableLambda
from langchain_core.tools import BaseTool
from langchain_core.utils.function_calling import convert_to_json_schema, convert_to_openai_tool
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr
from pydantic.v1 import BaseModel as BaseModelV1
from pydantic.v1 import ValidationError as ValidationErrorV1

from ._batching import BatchingOptions
from ._grammar import Grammar, compile_grammar, json_grammar, tool_call_grammar
from ._local import Generation, LocalModel
from ._relevance import tool_relevance
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
    """Weight dtype; bf16 reads half of fp32's bytes per decoded token, and int8 quantization needs it."""
    quantize: str | None = "int8"
    """`"int8"`: decode reads int8 weights (prefill keeps bf16); `"int8-lean"`: int8 only; None: off."""
    max_new_tokens: int = Field(default=512, gt=0)
    """Upper bound on generated tokens per call (safe default: bounded output)."""
    temperature: float = Field(default=0.0, ge=0.0)
    """0 is greedy decoding (the default, and what tool calls want)."""
    seed: int | None = None
    """Seed for sampling when `temperature` > 0."""
    timeout: float | None = Field(default=120.0, gt=0)
    """Seconds one call may generate for before it stops with `finish_reason="timeout"`."""
    constrained: bool = True
    """Decode tool calls and structured output under a grammar, so they are valid by construction."""
    tool_relevance: float | None = Field(default=None, ge=-1.0, le=1.0)
    """With `tool_choice="auto"` and a user's message last: the least cosine similarity (all-MiniLM-L6-v2
    embeddings) between that message and some bound tool's name and description for the reply to call a tool;
    below it the reply is plain text, at or above it the reply calls whenever the model puts at least
    `RELEVANT_CALL_SHARE` of its first token's probability on starting a call. None (the default): no check, the
    reply calls when the model's likeliest first token starts a call. 0.42 was best on BFCL's dev cases, whose
    functions have specific descriptions; a generic tool scores lower (a calculator described as "Evaluate an
    arithmetic expression" against "What is 17 * 23 + 4?": 0.35), so set it for tools described as specifically."""
    batching: BatchingOptions | None = BatchingOptions()
    """How this model's calls may share a batch with concurrent calls to the same weights (on by default);
    None runs each call alone. The weights and their one compute thread are shared per process, but the
    options travel with each call, so chat models with different settings do not change each other's."""

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
        return {"model": self.model_name, "dtype": self.dtype, "quantize": self.quantize, "temperature": self.temperature}

    def load(self) -> LocalModel:
        """Load the weights now (otherwise the first call does) and return the shared `LocalModel`."""
        if self._local is None:
            self._local = LocalModel.load(self.model, dtype=self.dtype, quantize=self.quantize)
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

    def _prepare(self, messages: list[BaseMessage], stop: list[str] | None, kwargs: dict[str, Any]) -> _Request:
        """Render the prompt and pick the grammar and options for one call."""
        local = self.load()
        tools: list[dict[str, Any]] = kwargs.get("tools") or []
        choice = kwargs.get("tool_choice")
        if choice == "none":
            tools = []
        grammar = None
        grammar_kind = None  # what the reply was decoded under, as traces name it
        schema = kwargs.get("response_format")
        if schema is not None:
            grammar, grammar_kind = json_grammar(schema), "json_schema"
        elif tools and self.constrained:
            grammar = tool_call_grammar(tools, choice, tag_tokens=local.tag_tokens)
            grammar_kind = "tool_calls" if choice in (None, "auto") else f"tool_calls:{choice}"

        options = {
            "max_new_tokens": kwargs.get("max_new_tokens", self.max_new_tokens),
            "temperature": kwargs.get("temperature", self.temperature),
            "seed": kwargs.get("seed", self.seed),
            "stop": stop,
            "timeout": kwargs.get("timeout", self.timeout),
            "grammar": grammar,
            "batching": self.batching,
        }
        rendered = _to_template_messages(messages)
        if schema is not None:
            rendered = _with_schema_instruction(rendered, schema)
        prompt = local.render(rendered, tools)
        if grammar is not None and schema is None and choice in (None, "auto"):
            floor = kwargs.get("tool_relevance", self.tool_relevance)
            request = messages[-1].text if floor is not None and isinstance(messages[-1], HumanMessage) else None
            if request is not None and tool_relevance(request, tools) < floor:
                options["grammar"] = compile_grammar(_TEXT_LARK)
            else:
                share = None if request is None else RELEVANT_CALL_SHARE
                options["grammar"] = _call_or_answer(local, prompt, tools, grammar, options, kwargs.get("cancel"), share)
        return _Request(local, prompt, {t["function"]["name"] for t in tools}, options, grammar_kind)

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        request = self._prepare(messages, stop, kwargs)
        result = request.local.generate(request.prompt, cancel=kwargs.get("cancel"), **request.options)
        return ChatResult(generations=[ChatGeneration(message=request.message(result))])

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        cancel = threading.Event()  # a cancelled task takes its sequence out of the batch at once
        try:
            return await asyncio.to_thread(self._generate, messages, stop, None, cancel=cancel, **kwargs)
        except asyncio.CancelledError:
            cancel.set()
            raise

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        """Yield text as it is decoded; a reply that is a tool call streams as tool-call chunks per call."""
        request = self._prepare(messages, stop, kwargs)
        calls_mode: bool | None = None if request.tool_names else False
        buffer = ""
        emitted_calls = 0
        for piece in request.local.stream(request.prompt, **request.options):
            if isinstance(piece, Generation):
                final = request.message(piece)
                chunks = _call_chunks(final.tool_calls[emitted_calls:], emitted_calls)
                tail = AIMessageChunk(
                    content=final.content if calls_mode and not emitted_calls else "",
                    tool_call_chunks=chunks,
                    usage_metadata=final.usage_metadata,
                    response_metadata=final.response_metadata,
                    chunk_position="last",
                )
                if calls_mode is False:
                    tail.content = ""
                yield ChatGenerationChunk(message=tail)
                return
            buffer += piece
            if calls_mode is None and buffer.strip():
                calls_mode = buffer.lstrip()[0] in "<{[`"
            if calls_mode is False:
                chunk = ChatGenerationChunk(message=AIMessageChunk(content=piece))
                if run_manager:
                    run_manager.on_llm_new_token(piece, chunk=chunk)
                yield chunk
            elif calls_mode:
                done = parse_tool_calls(_complete_calls(buffer), request.tool_names, id_seed=request.prompt)
                if len(done.tool_calls) > emitted_calls:
                    new = _call_chunks(done.tool_calls[emitted_calls:], emitted_calls)
                    emitted_calls = len(done.tool_calls)
                    yield ChatGenerationChunk(message=AIMessageChunk(content="", tool_call_chunks=new))

    def with_structured_output(
        self,
        schema: dict[str, Any] | type,
        *,
        include_raw: bool = False,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, dict[str, Any] | BaseModel]:
        """Return a runnable that answers with an object matching `schema`, decoded under its grammar.

        Args:
            schema: a Pydantic model class (returns an instance), a TypedDict class or a JSON schema dict
                (returns a dict).
            include_raw: return `{"raw": AIMessage, "parsed": ..., "parsing_error": ...}` instead.

        Raises:
            GrammarError: the schema cannot be compiled into a grammar.
        """
        json_schema = _json_schema_of(schema)
        json_grammar(json_schema)  # fail now, not on the first call
        bound = self.bind(
            response_format=json_schema,
            ls_structured_output_format={"kwargs": {"method": "json_schema"}, "schema": convert_to_json_schema(schema)},
        )
        parser = _StructuredParser(schema=schema, json_schema=json_schema)
        if not include_raw:
            return bound | RunnableLambda(parser.parse_message)
        return bound | RunnableLambda(parser.parse_raw)


@dataclass
class _Request:
    """One prepared call: the model, the prompt, the bound tool names and the generate options."""

    local: LocalModel
    prompt: str
    tool_names: set[str]
    options: dict[str, Any]
    grammar_kind: str | None = None

    def message(self, result: Generation) -> AIMessage:
        parsed = parse_tool_calls(result.text, self.tool_names, id_seed=self.prompt)
        return AIMessage(
            content=parsed.content,
            tool_calls=parsed.tool_calls,
            invalid_tool_calls=parsed.invalid_tool_calls,
            usage_metadata=UsageMetadata(
                input_tokens=result.prompt_tokens,
                output_tokens=result.completion_tokens,
                total_tokens=result.prompt_tokens + result.completion_tokens,
            ),
            response_metadata={
                "model_name": self.local.name,
                "model_provider": "graphwright",
                "finish_reason": result.finish_reason,
                "generation_seconds": round(result.seconds, 3),
                "time_to_first_token_seconds": result.first_token_seconds,
                "batch_size": result.batch_size,
                "grammar": self.grammar_kind,
            },
        )


@dataclass
class _StructuredParser:
    schema: dict[str, Any] | type
    json_schema: dict[str, Any]

    def parse_text(self, text: str) -> Any:
        value = json.loads(text)
        if isinstance(self.schema, type) and issubclass(self.schema, BaseModel):
            return self.schema.model_validate(value)
        if isinstance(self.schema, type) and issubclass(self.schema, BaseModelV1):
            return self.schema.parse_obj(value)
        jsonschema.validate(value, self.json_schema)
        return value

    def parse_message(self, message: AIMessage) -> Any:
        try:
            return self.parse_text(message.text)
        except (ValueError, TypeError, jsonschema.ValidationError, ValidationErrorV1) as exc:
            raise OutputParserException(f"structured output does not match the schema: {exc}", llm_output=message.text) from exc

    def parse_raw(self, message: AIMessage) -> dict[str, Any]:
        try:
            return {"raw": message, "parsed": self.parse_text(message.text), "parsing_error": None}
        except (ValueError, TypeError, jsonschema.ValidationError, ValidationErrorV1) as exc:
            return {"raw": message, "parsed": None, "parsing_error": exc}


RELEVANT_CALL_SHARE = 0.02
"""With `ChatLocal.tool_relevance` set and a tool relevant to the request: the least probability the model's first
token must give to starting a call for the reply to call (on BFCL's dev cases 0.02 was best; the likeliest
token, the rule without the check, left most several-call questions to text: the model's share on a call's
start for them was 0.06-0.76)."""

_CALL_STARTS = ("{", "[", "<tool_call>")
_TEXT_LARK = r"start: TEXT" "\n" r"TEXT: /[^<{\[\s`](?s:.)*/"
"""A plain reply where tools are bound: text that does not start like a call (as in `tool_call_grammar`)."""


def _call_or_answer(
    local: LocalModel,
    prompt: str,
    tools: list[dict[str, Any]],
    grammar: Grammar,
    options: dict[str, Any],
    cancel: threading.Event | None,
    share: float | None = None,
) -> Grammar:
    """Decide between calling and answering first, then return the grammar for the whole reply.

    The decision is on the reply's first token under `grammar` (text, or a call's start), decoded alone: with
    `share` None, whether the likeliest token starts a call; else whether the tokens that start a call hold at
    least `share` of the probability. A call then goes on under the calls-only grammar, which admits the fenced
    form in which the model writes several calls; an answer goes on under text alone. Decided inside one grammar
    that admits both the fence and text, the model opens a fence for nearly every question, calls included
    where no tool fits. The second request starts from the first one's cached prompt, so the decision costs
    about one decoding step.
    """
    rest = {k: v for k, v in options.items() if k not in ("max_new_tokens", "stop", "grammar")}
    first = local.generate(prompt, max_new_tokens=1, grammar=grammar, cancel=cancel, first_logprobs=share is not None, **rest)
    if share is None:
        calls = first.text.lstrip().startswith(_CALL_STARTS)
    else:
        calls = first.first_logprobs is not None and _call_share(local, first.first_logprobs) >= share
    return tool_call_grammar(tools, "required", tag_tokens=local.tag_tokens) if calls else compile_grammar(_TEXT_LARK)


def _call_share(local: LocalModel, logprobs: Any, top: int = 64) -> float:
    """Return the probability that `logprobs` (a first token's, under a text-or-calls grammar) give to tokens that
    start a call, summed over the `top` likeliest tokens (the rest hold next to nothing)."""
    import torch

    values, indices = torch.topk(logprobs, min(top, logprobs.shape[-1]))
    return sum(
        float(torch.exp(value))
        for value, index in zip(values, indices.tolist(), strict=True)
        if value > float("-inf") and local.tokenizer.decode([index]).lstrip().startswith(_CALL_STARTS)
    )


def _with_schema_instruction(messages: list[dict[str, Any]], schema: dict[str, Any]) -> list[dict[str, Any]]:
    """Tell the model the schema its reply must match (the grammar enforces it; the model should know it)."""
    note = f"Reply with only a JSON value that matches this JSON schema:\n{json.dumps(schema)}"
    if messages and messages[0]["role"] == "system":
        return [{**messages[0], "content": f"{messages[0]['content']}\n\n{note}"}, *messages[1:]]
    return [{"role": "system", "content": note}, *messages]


def _json_schema_of(schema: dict[str, Any] | type) -> dict[str, Any]:
    if isinstance(schema, dict):
        if "parameters" in schema and "name" in schema:  # an OpenAI function dict
            return schema["parameters"]
        return schema
    if isinstance(schema, type) and issubclass(schema, BaseModel):
        return schema.model_json_schema()
    return convert_to_openai_tool(schema)["function"]["parameters"]


def _complete_calls(text: str) -> str:
    """Cut `text` after its last complete call (a closing tag, or a line that is a whole JSON object)."""
    end = text.rfind("</tool_call>")
    if end >= 0:
        return text[: end + len("</tool_call>")]
    lines = text.split("\n")
    return "\n".join(lines[:-1]) if len(lines) > 1 else ""


def _call_chunks(calls: list[ToolCall], start: int) -> list[ToolCallChunk]:
    return [
        tool_call_chunk(name=call["name"], args=json.dumps(call["args"]), id=call["id"], index=start + offset)
        for offset, call in enumerate(calls)
    ]


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
