"""A model's tokenizer read straight from its `tokenizer.json`, with its chat template, without Transformers.

Inference needs five things from a tokenizer: encode, decode, the chat template, the special tokens and the
Rust tokenizer itself (for llguidance). Transformers' tokenizer classes do these by calling the `tokenizers`
library and Jinja, but importing them costs about as much as the rest of a start (Transformers' package, its
configuration and hub machinery). `Tokenizer` calls the same `tokenizers` object and renders the chat
template in the same sandboxed Jinja environment Transformers builds (same options, filters and globals), so a
prompt renders and encodes to the same ids (tests/models/test_packed.py checks both against `AutoTokenizer`).

`read_tokenizer` takes only folders whose tokenizer adds nothing to what `tokenizer.json` says (the classes in
`PLAIN_TOKENIZERS`, no custom code, no extra vocabulary files); for anything else it returns None and the caller
uses Transformers' `AutoTokenizer`.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

PLAIN_TOKENIZERS = ("Qwen2Tokenizer", "Qwen2TokenizerFast", "PreTrainedTokenizerFast", "TokenizersBackend")
"""Tokenizer classes that add nothing to what their `tokenizer.json` says (checked by tests/models/test_packed.py)."""

_SPECIAL = ("bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token")
_EXTRA_FILES = ("special_tokens_map.json", "added_tokens.json", "tokenizer.model", "vocab.json")


def read_tokenizer(folder: Path) -> Tokenizer | None:
    """Return the tokenizer of Transformers folder `folder` read from its `tokenizer.json`, or None when the folder's
    tokenizer may do more than that file says (then use `AutoTokenizer`)."""
    options_file, tokenizer_file = folder / "tokenizer_config.json", folder / "tokenizer.json"
    if not (tokenizer_file.is_file() and options_file.is_file()) or any((folder / n).exists() for n in _EXTRA_FILES):
        return None
    options = json.loads(options_file.read_text())
    if options.pop("tokenizer_class", None) not in PLAIN_TOKENIZERS or {"auto_map", "added_tokens_decoder"} & set(options):
        return None
    import tokenizers

    backend = tokenizers.Tokenizer.from_file(str(tokenizer_file))
    if options.get("clean_up_tokenization_spaces") and type(backend.model).__name__ != "BPE":
        return None  # Transformers post-processes decoded text for these; not repeated here
    template = folder / "chat_template.jinja"
    if template.is_file():
        options["chat_template"] = template.read_text()
    if re.search(r"\{%-?\s*generation\s*-?%\}", options.get("chat_template") or ""):
        return None  # Transformers' `{% generation %}` tag (assistant masks for training): not rendered here
    return Tokenizer(backend, options, name_or_path=str(folder), file=tokenizer_file)


class Tokenizer:
    """Encode, decode and chat-template rendering over a `tokenizers.Tokenizer`, called as Transformers' fast
    tokenizers are (`tokenizer(text, add_special_tokens=False)["input_ids"]`, `decode`, `apply_chat_template`)."""

    def __init__(self, backend: Any, options: dict[str, Any], *, name_or_path: str = "", file: Path | None = None) -> None:
        """Wrap `backend` (a `tokenizers.Tokenizer`, read from `file` if given) with `options` (the folder's
        `tokenizer_config.json`: special tokens, `chat_template`)."""
        self._file = file
        self.backend_tokenizer = backend
        """The Rust tokenizer (llguidance reads its JSON)."""
        self.name_or_path = name_or_path
        self.chat_template: str | None = options.get("chat_template")
        """The Jinja chat template, or None."""
        self._special = {name: _content(options.get(name)) for name in _SPECIAL if options.get(name) is not None}
        extra = options.get("extra_special_tokens") or options.get("additional_special_tokens") or []
        self._extra = [_content(token) for token in (extra.values() if isinstance(extra, dict) else extra)]

    def __getattr__(self, name: str) -> Any:
        # bos_token, eos_token, pad_token, ... and their *_id (None when the folder names none)
        if name in _SPECIAL:
            return self._special.get(name)
        if name.endswith("_id") and name[:-3] in _SPECIAL:
            token = self._special.get(name[:-3])
            return None if token is None else self.backend_tokenizer.token_to_id(token)
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    @property
    def all_special_tokens(self) -> list[str]:
        """The named special tokens, then the extra ones, each once."""
        return list(dict.fromkeys([*self._special.values(), *self._extra]))

    @property
    def all_special_ids(self) -> list[int]:
        """The ids of `all_special_tokens`."""
        return [self.backend_tokenizer.token_to_id(token) for token in self.all_special_tokens]

    def __len__(self) -> int:
        return self.backend_tokenizer.get_vocab_size(with_added_tokens=True)

    def __call__(self, text: str, *, add_special_tokens: bool = True, return_tensors: str | None = None) -> dict[str, Any]:
        """Return `{"input_ids": ..., "attention_mask": ...}` for `text`: lists, or [1, n] tensors with
        `return_tensors="pt"`."""
        ids = self.encode(text, add_special_tokens=add_special_tokens)
        if return_tensors is None:
            return {"input_ids": ids, "attention_mask": [1] * len(ids)}
        if return_tensors != "pt":
            raise ValueError(f"return_tensors must be None or 'pt', got {return_tensors!r}")
        import torch

        return {"input_ids": torch.tensor([ids]), "attention_mask": torch.ones(1, len(ids), dtype=torch.long)}

    def encode(self, text: str, add_special_tokens: bool = True) -> list[int]:
        """Return the token ids of `text`."""
        return self.backend_tokenizer.encode(text, add_special_tokens=add_special_tokens).ids

    def decode(self, ids: Any, skip_special_tokens: bool = False) -> str:
        """Return the text of token `ids` (a list, or a tensor), special tokens dropped with `skip_special_tokens`."""
        if hasattr(ids, "tolist"):
            ids = ids.tolist()
        if isinstance(ids, int):
            ids = [ids]
        return self.backend_tokenizer.decode(ids, skip_special_tokens=skip_special_tokens)

    def to_json(self) -> str:
        """The tokenizer as JSON with padding and truncation off (what llguidance reads): the text of the file it
        was read from when that file sets neither (serializing the Rust tokenizer again costs about as much as
        reading it), else the Rust tokenizer's serialization."""
        backend = self.backend_tokenizer
        if self._file is not None and backend.padding is None and backend.truncation is None:
            return self._file.read_text(encoding="utf-8")
        import copy

        backend = copy.copy(backend)
        backend.no_padding()
        backend.no_truncation()
        return backend.to_str()

    def get_added_vocab(self) -> dict[str, int]:
        """The tokens added to the base vocabulary (special tokens among them), by id."""
        added = self.backend_tokenizer.get_added_tokens_decoder()
        return {token.content: index for index, token in sorted(added.items())}

    def apply_chat_template(
        self,
        conversation: list[dict[str, Any]],
        tools: list[dict[str, Any]] | None = None,
        *,
        add_generation_prompt: bool = False,
        tokenize: bool = True,
        **kwargs: Any,
    ) -> str | list[int]:
        """Render `conversation` (OpenAI-style message dicts) and `tools` (JSON schemas) with the chat template, as
        Transformers renders them; the token ids with `tokenize` (the default), else the text.

        Raises:
            ValueError: the tokenizer has no chat template, or a tool is not a dict.
        """
        if self.chat_template is None:
            raise ValueError(f"tokenizer {self.name_or_path!r} has no chat template")
        if tools is not None and not all(isinstance(tool, dict) for tool in tools):
            raise ValueError("tools must be JSON schemas (dicts)")
        template = _compiled(self.chat_template)
        special = {name: token for name, token in self._special.items()}
        text = template.render(
            messages=_plain(conversation),
            tools=_plain(tools),
            documents=None,
            add_generation_prompt=add_generation_prompt,
            **_plain({**special, **kwargs}),
        )
        return self.encode(text, add_special_tokens=False) if tokenize else text


def _content(token: Any) -> str:
    """A special token's text, given as a string or as Transformers' serialized `AddedToken` dict."""
    return token["content"] if isinstance(token, dict) else str(token)


def _plain(value: Any) -> Any:
    """A copy of `value` made of JSON types only (what a chat template may see; other objects become a
    placeholder naming their type), as Transformers hands its template inputs over."""
    if value is None or type(value) in (str, int, float, bool):
        return value
    if isinstance(value, str):  # subclasses (enums, ...) carry methods a template must not reach
        return str.__str__(value)
    if isinstance(value, int):
        return int.__int__(value)
    if isinstance(value, float):
        return float.__float__(value)
    if isinstance(value, dict):
        return {_plain(key): _plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    if isinstance(value, tuple):
        return tuple(_plain(item) for item in value)
    if callable(getattr(value, "model_dump", None)):
        return _plain(value.model_dump())
    return f"<{type(value).__name__}>"


@lru_cache(maxsize=8)
def _compiled(chat_template: str) -> Any:
    """The template compiled in the sandboxed environment Transformers renders chat templates in: trim and lstrip
    blocks, loop controls, `tojson` without HTML escaping, `raise_exception`, `strftime_now`, `dict`, and a
    `namespace` that refuses underscore names."""
    from datetime import datetime

    import jinja2.exceptions
    import jinja2.ext
    import jinja2.utils
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    def raise_exception(message: str) -> None:
        raise jinja2.exceptions.TemplateError(message)

    def tojson(x: Any, ensure_ascii: bool = False, indent: Any = None, separators: Any = None, sort_keys: bool = False) -> str:
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)

    def strftime_now(format: str) -> str:
        return datetime.now().strftime(format)

    class TemplateDict:
        def __call__(self, *args: Any, **kwargs: Any) -> dict:
            return dict(*args, **kwargs)

        def fromkeys(self, *args: Any, **kwargs: Any) -> dict:
            return dict.fromkeys(*args, **kwargs)

    class TemplateNamespace(jinja2.utils.Namespace):
        def __init__(*args: Any, **kwargs: Any) -> None:
            self, args = args[0], args[1:]
            attrs = dict(*args, **kwargs)
            for name in attrs:
                TemplateNamespace._check_name(name)
            jinja2.utils.Namespace.__init__(self, attrs)

        def __setitem__(self, name: str, value: Any) -> None:
            TemplateNamespace._check_name(name)
            jinja2.utils.Namespace.__setitem__(self, name, value)

        @staticmethod
        def _check_name(name: Any) -> None:
            if isinstance(name, str) and name.startswith("_"):
                raise jinja2.exceptions.SecurityError(f"chat templates cannot store underscore-prefixed attributes, got {name!r}")

    environment = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[jinja2.ext.loopcontrols])
    environment.filters["tojson"] = tojson
    environment.globals.update(raise_exception=raise_exception, strftime_now=strftime_now, dict=TemplateDict(), namespace=TemplateNamespace)
    return environment.from_string(chat_template)
