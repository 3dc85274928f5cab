"""The in-process Transformers model: loaded once per process, rendered with its chat template, run greedily.

`LocalModel.load(ref)` returns the one shared instance for a model reference, so every chat model, node and
test in a process uses the same weights. Generation is serialized by a lock: two concurrent `generate` calls
would only fight over the same two cores (batching them is the scheduler's job).
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .._errors import ContextLengthError, ModelLoadError
from ._grammar import Grammar, GrammarProcessor, llg_tokenizer
from ._weights import resolve

_LOADED: dict[tuple[str, str], LocalModel] = {}
_LOAD_LOCK = threading.Lock()


@dataclass(frozen=True)
class Generation:
    """What one `generate` call produced."""

    text: str
    """The decoded new text, special tokens removed."""
    prompt_tokens: int
    """Tokens in the rendered prompt."""
    completion_tokens: int
    """Tokens generated (including the end-of-turn token when one was produced)."""
    finish_reason: str
    """`stop` (end of turn or a stop string), `length` (max new tokens) or `timeout`."""
    seconds: float
    """Wall time of the call, prefill and decode."""


class LocalModel:
    """A causal LM and its tokenizer in this process, with a lock around generation."""

    def __init__(self, folder: Path, *, dtype: str = "bfloat16", name: str | None = None) -> None:
        """Load the model in `folder` (a Transformers folder) with weights in `dtype`.

        Prefer `LocalModel.load`, which resolves references and shares one instance per process.

        Raises:
            ModelLoadError: the folder could not be loaded as a causal LM.
        """
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        started = time.perf_counter()
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
            self.model = AutoModelForCausalLM.from_pretrained(
                folder, dtype=getattr(torch, dtype), local_files_only=True
            )
        except Exception as exc:  # transformers raises many types for a bad folder
            raise ModelLoadError(f"could not load model from {str(folder)!r}: {exc}") from exc
        self.model.eval()
        self.load_seconds = time.perf_counter() - started
        self.folder = folder
        self.name = name or folder.name
        self.context_length = int(getattr(self.model.config, "max_position_embeddings", 0) or 32768)
        self._lock = threading.Lock()
        if self.tokenizer.chat_template is None:
            raise ModelLoadError(f"model {str(folder)!r} has no chat template; graphwright needs a chat model")

    @classmethod
    def load(cls, ref: str | Path | None = None, *, dtype: str = "bfloat16") -> LocalModel:
        """Return the process-wide instance for model reference `ref`, loading it on first use.

        Args:
            ref: None for the packaged default model, a `.gguf` file, or a Transformers model folder.
            dtype: weight dtype; bf16 decodes ~1.4x faster than fp32 on this CPU with the same greedy tokens.

        Raises:
            ModelNotFoundError: `ref` does not point at a model.
            ModelLoadError: the model could not be converted or loaded.
        """
        resolved = resolve(ref)
        key = (str(resolved.folder), dtype)
        with _LOAD_LOCK:
            if key not in _LOADED:
                name = str(ref) if ref is not None else None
                _LOADED[key] = cls(resolved.folder, dtype=dtype, name=_display_name(name, resolved.folder))
            return _LOADED[key]

    def render(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None = None) -> str:
        """Render chat `messages` (OpenAI-style dicts) and `tools` with the model's chat template."""
        return self.tokenizer.apply_chat_template(
            messages, tools=tools or None, add_generation_prompt=True, tokenize=False
        )

    @property
    def tag_tokens(self) -> bool:
        """True when `<tool_call>` and `</tool_call>` are single special tokens of this tokenizer."""
        vocab = self.tokenizer.get_added_vocab()
        return "<tool_call>" in vocab and "</tool_call>" in vocab

    def count_tokens(self, text: str) -> int:
        """Return how many tokens `text` encodes to."""
        return len(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def generate(
        self,
        prompt: str,
        *,
        max_new_tokens: int = 512,
        temperature: float = 0.0,
        seed: int | None = None,
        stop: list[str] | None = None,
        timeout: float | None = None,
        grammar: Grammar | None = None,
        streamer: Any = None,
    ) -> Generation:
        """Continue `prompt` and return the new text; greedy unless `temperature` > 0.

        Args:
            prompt: rendered prompt text (see `render`).
            max_new_tokens: upper bound on generated tokens; lowered to what the context has room for.
            temperature: 0 for greedy decoding; above 0 samples, reproducibly when `seed` is set.
            seed: seed for sampling.
            stop: strings that end generation when produced (they stay in the text).
            timeout: seconds after which generation stops with `finish_reason="timeout"`.
            grammar: decode under this grammar (see `graphwright.models.tool_call_grammar`).
            streamer: a Transformers streamer that receives tokens as they are generated.

        Raises:
            ContextLengthError: the prompt leaves no room for a single new token.
        """
        import torch

        inputs = self.tokenizer(prompt, return_tensors="pt", add_special_tokens=False)
        n_prompt = int(inputs["input_ids"].shape[1])
        room = self.context_length - n_prompt
        if room < 1:
            raise ContextLengthError(
                f"prompt is {n_prompt} tokens; model {self.name!r} has a context of {self.context_length}"
            )
        options: dict[str, Any] = {"max_new_tokens": min(max_new_tokens, room), "do_sample": temperature > 0}
        if temperature > 0:
            options.update(temperature=temperature, top_k=0, top_p=1.0)
        else:
            options.update(temperature=None, top_k=None, top_p=None)
        if stop:
            options.update(stop_strings=list(stop), tokenizer=self.tokenizer)
        if timeout is not None:
            options["max_time"] = float(timeout)
        if grammar is not None:
            tokenizer = llg_tokenizer(self.tokenizer, int(self.model.config.vocab_size))
            options["logits_processor"] = [GrammarProcessor(grammar, tokenizer)]
        if streamer is not None:
            options["streamer"] = streamer
        eos = self.model.generation_config.eos_token_id
        eos_ids = set(eos if isinstance(eos, list) else [eos])
        with self._lock, torch.inference_mode():
            if seed is not None:
                torch.manual_seed(seed)
            started = time.perf_counter()
            output = self.model.generate(**inputs, pad_token_id=self.tokenizer.pad_token_id, **options)
            seconds = time.perf_counter() - started
        new = output[0, n_prompt:].tolist()
        text = self.tokenizer.decode(new, skip_special_tokens=True)
        if new and new[-1] in eos_ids:
            reason = "stop"
        elif stop and any(s in text for s in stop):
            reason = "stop"
        elif len(new) >= options["max_new_tokens"]:
            reason = "length"
        else:
            reason = "timeout" if timeout is not None and seconds >= timeout else "stop"
        return Generation(text, n_prompt, len(new), reason, seconds)

    def stream(self, prompt: str, **options: Any) -> Iterator[str | Generation]:
        """Generate like `generate`, yielding text pieces as they are decoded and the `Generation` last.

        Raises:
            Whatever `generate` raises, in the caller's thread.
        """
        from transformers import TextIteratorStreamer

        streamer = TextIteratorStreamer(self.tokenizer, skip_prompt=True, skip_special_tokens=True)
        outcome: queue.Queue[Generation | BaseException] = queue.Queue(maxsize=1)

        def work() -> None:
            try:
                outcome.put(self.generate(prompt, streamer=streamer, **options))
            except BaseException as exc:  # handed to the caller's thread below
                streamer.end()
                outcome.put(exc)

        worker = threading.Thread(target=work, name="graphwright-generate", daemon=True)
        worker.start()
        for piece in streamer:
            if piece:
                yield piece
        worker.join()
        result = outcome.get()
        if isinstance(result, BaseException):
            raise result
        yield result


def _display_name(ref: str | None, folder: Path) -> str:
    from ._weights import DEFAULT_MODEL

    if ref is None or ref == DEFAULT_MODEL:
        return DEFAULT_MODEL
    return Path(ref).name or str(folder)
