"""Grammar-constrained decoding: output that is valid by construction.

Grammars are Lark text for llguidance (a small Rust wheel; xgrammar also works here but pulls a large triton
wheel). Only this module knows the library: `compile_grammar` turns Lark text into a `Grammar`, and
`GrammarProcessor` holds one request's parse: which tokens the grammar allows next, and which it forces.

Three grammars cover what agents need:
- `tool_call_grammar`: plain text, or one or more calls whose names are bound tools and whose arguments
  validate against their schemas, honouring `tool_choice`;
- `json_grammar`: one JSON value matching a schema (structured output, routing);
- strings without a `maxLength` get one, and JSON whitespace is fixed, because small models otherwise run
  strings or padding to the token limit.
"""

from __future__ import annotations

import copy
import json
import threading
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

from ..errors import GrammarError

MAX_STRING = 512  # characters allowed in a JSON string whose schema sets no maxLength
_JSON_STYLE = {"whitespace_flexible": False, "item_separator": ", ", "key_separator": ": "}
_TOKENIZERS: dict[int, Any] = {}
_TOKENIZERS_LOCK = threading.Lock()


@dataclass(frozen=True)
class Grammar:
    """A compiled grammar: the Lark source and the llguidance form of it."""

    lark: str
    """The Lark text (kept for errors and tests)."""
    compiled: str
    """llguidance's serialized grammar."""


def bound_strings(schema: Any, limit: int = MAX_STRING) -> Any:
    """Return a copy of JSON schema `schema`, tightened for small models.

    Every string without `maxLength` gets `maxLength=limit`, and every object with `properties` but no
    `additionalProperties` gets `additionalProperties: false` (small models copy schema keywords such as
    `required` into their arguments when extra keys are allowed).
    """
    schema = copy.deepcopy(schema)

    def visit(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") == "string" and "maxLength" not in node and "enum" not in node and "const" not in node:
                node["maxLength"] = limit
            if isinstance(node.get("properties"), dict) and "additionalProperties" not in node:
                node["additionalProperties"] = False
            for value in node.values():
                visit(value)
        elif isinstance(node, list):
            for value in node:
                visit(value)

    visit(schema)
    return schema


def json_grammar(schema: dict[str, Any]) -> Grammar:
    """Return a grammar for one JSON value matching `schema` (strings bounded, whitespace fixed).

    Raises:
        GrammarError: the schema cannot be compiled.
    """
    doc = bound_strings(schema)
    doc["x-guidance"] = _JSON_STYLE
    return compile_grammar(f"start: %json {json.dumps(doc)}")


def tool_call_grammar(tools: list[dict[str, Any]], tool_choice: str | None, *, tag_tokens: bool) -> Grammar:
    """Return the grammar for a reply to a model with `tools` bound (OpenAI-style tool dicts).

    Args:
        tools: the bound tools; each call's `name` is one of theirs and `arguments` match its parameters.
        tool_choice: None/"auto" (text or calls), "required" (one or more calls) or a tool's name (calls to it).
        tag_tokens: True when `<tool_call>` and `</tool_call>` are single special tokens of the tokenizer.

    A reply may hold several calls. They may be written tagged (`<tool_call>\\n{...}\\n</tool_call>` blocks,
    what Qwen-style templates ask for) or as bare JSON objects one per line (what small models tend to write);
    where a call is required, also as JSON objects one per line in a ```json fence, the form a small coder model
    writes most readily and the one in which it goes on to a second call (where text is allowed too, that habit
    would crowd out plain answers, so the fence is left out). Plain text may not start with `{`, `[`, `<` or a
    backtick, so a reply is never a malformed call (the 0.5B model otherwise wraps calls to tools it made up in
    a ```json fence).

    Raises:
        GrammarError: a tool's schema cannot be compiled, or `tool_choice` names no bound tool.
    """
    if tool_choice not in (None, "auto", "required"):
        tools = [t for t in tools if t["function"]["name"] == tool_choice]
        if not tools:
            raise GrammarError(f"tool_choice {tool_choice!r} names no bound tool")
    call = _call_schema(tools)
    open_tag, close_tag = ("<tool_call>", "</tool_call>") if tag_tokens else ('"<tool_call>"', '"</tool_call>"')
    rules = [
        f'tagged: {open_tag} "\\n" call "\\n" {close_tag} "\\n"?',
        'bare: call ("\\n" call)*',
        f"call: %json {json.dumps(call)}",
    ]
    if tool_choice in (None, "auto"):
        rules.insert(0, "start: TEXT | tagged+ | bare")
        rules.append(r"TEXT: /[^<{\[\s`](?s:.)*/")  # not a call's start, nor a code fence (a fenced call)
    else:
        rules.insert(0, "start: tagged+ | bare | fenced")
        rules.append('fenced: "```json\\n" call ("\\n" call)* "\\n```"')
    return compile_grammar("\n".join(rules))


def _call_schema(tools: list[dict[str, Any]]) -> dict[str, Any]:
    """One schema for `{"name": ..., "arguments": {...}}` over all `tools`, with their `$defs` hoisted."""
    defs: dict[str, Any] = {}
    options = []
    for tool in tools:
        function = tool["function"]
        params = bound_strings(function.get("parameters") or {"type": "object", "properties": {}})
        params = {k: v for k, v in params.items() if k not in ("title", "description")}
        defs.update(params.pop("$defs", {}))
        params.setdefault("type", "object")
        options.append(
            {
                "type": "object",
                "properties": {"name": {"const": function["name"]}, "arguments": params},
                "required": ["name", "arguments"],
                "additionalProperties": False,
            }
        )
    schema: dict[str, Any] = options[0] if len(options) == 1 else {"anyOf": options}
    schema = dict(schema)
    if defs:
        schema["$defs"] = defs
    schema["x-guidance"] = _JSON_STYLE
    return schema


@lru_cache(maxsize=256)
def compile_grammar(lark: str) -> Grammar:
    """Compile Lark text (with llguidance's `%json` extension) into a `Grammar`; results are cached.

    Raises:
        GrammarError: the grammar is not valid.
    """
    import llguidance

    try:
        compiled = llguidance.LLMatcher.grammar_from_lark(lark)
    except Exception as exc:  # llguidance raises plain exceptions for bad grammars
        raise GrammarError(f"cannot compile grammar: {exc}") from exc
    error = llguidance.LLMatcher.validate_grammar(compiled)
    if error and not error.startswith("WARNING"):
        raise GrammarError(f"invalid grammar: {error}")
    return Grammar(lark, compiled)


def llg_tokenizer(tokenizer: Any, vocab_size: int) -> Any:
    """Return the llguidance tokenizer for `tokenizer` (a Transformers fast tokenizer or graphwright's
    `models/_tokenizer.Tokenizer`: anything with a Rust `backend_tokenizer`), built once per tokenizer (it walks
    the whole vocabulary).

    Built from the Rust tokenizer's JSON as `llguidance.hf.from_tokenizer` builds it, without that module's
    Transformers import.

    Raises:
        GrammarError: the tokenizer has no Rust tokenizer (a slow Transformers tokenizer).
    """
    import llguidance

    with _TOKENIZERS_LOCK:
        key = id(tokenizer)
        if key not in _TOKENIZERS:
            if hasattr(tokenizer, "to_json"):  # graphwright's tokenizer: the file it was read from, not re-serialized
                text = tokenizer.to_json()
            else:
                backend = getattr(tokenizer, "backend_tokenizer", None)
                if backend is None:
                    raise GrammarError("constrained decoding needs a fast (Rust) tokenizer")
                backend = copy.copy(backend)  # padding and truncation off, on a copy, before it is serialized
                backend.no_padding()
                backend.no_truncation()
                text = backend.to_str()
            _TOKENIZERS[key] = llguidance.LLTokenizer(text, n_vocab=vocab_size, eos_token=tokenizer.eos_token_id)
        return _TOKENIZERS[key]


class GrammarProcessor:
    """One request's parse under a grammar: the tokens allowed next, the tokens forced next, and advancing.

    Create a new one for every request (the batching scheduler does, per request).
    """

    def __init__(self, grammar: Grammar, tokenizer: Any) -> None:
        """Start a matcher for `grammar` over llguidance tokenizer `tokenizer`.

        Raises:
            GrammarError: the matcher rejects the grammar.
        """
        import llguidance

        self.matcher = llguidance.LLMatcher(tokenizer, grammar.compiled, log_level=0)
        if self.matcher.is_error():
            raise GrammarError(f"grammar rejected: {self.matcher.get_error()}")

    def bitmask(self) -> np.ndarray:
        """Return the tokens the grammar allows next as llguidance's bitmask: uint32 words, token t in bit
        t % 32 of word t // 32.

        Raises:
            GrammarError: the matcher is in an error state.
        """
        if self.matcher.is_error():
            raise GrammarError(f"constrained decoding failed: {self.matcher.get_error()}")
        return np.frombuffer(self.matcher.compute_bitmask(), dtype=np.uint32)

    def consume(self, token: int) -> None:
        """Advance the parse by `token` (one the mask allowed)."""
        self.matcher.consume_token(token)

    def forced(self) -> list[int]:
        """Return the tokens the grammar forces next (in the tokenizer's canonical tokenization), maybe none."""
        return list(self.matcher.compute_ff_tokens())

    def consume_many(self, tokens: list[int]) -> None:
        """Advance the parse by `tokens` (such as those `forced` returned)."""
        self.matcher.consume_tokens(tokens)
