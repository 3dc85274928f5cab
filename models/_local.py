"""The in-process Transformers model: loaded once per process, rendered with its chat template, run greedily.

`LocalModel.load(ref)` returns the one shared instance for a model reference, so every chat model, node and
test in a process uses the same weights. All its compute runs on one thread, the batching scheduler's:
concurrent calls share a batch (or, with batching off, take turns), and never fight over the cores. How a call
may be batched travels with the call (`generate(batching=...)`, set per `ChatLocal`), so chat models with
different settings share the weights and the scheduler without changing each other's behaviour.

With int8 weights (the default) the first load writes the quantized, packed model to the load cache and every
later load maps it (`models/_packed.py`): no conversion at start, and processes on one machine share the pages.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ContextLengthError, ModelLoadError
from ._batching import BatchingOptions, BatchRequest, BatchScheduler
from ._grammar import Grammar, GrammarProcessor, llg_tokenizer
from ._prefix import PrefixCache
from ._weights import cache_dir, resolve

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
    """Tokens generated (not counting the end-of-turn token)."""
    finish_reason: str
    """`stop` (end of turn or a stop string), `length` (max new tokens) or `timeout`."""
    seconds: float
    """Wall time of the call, prefill and decode."""
    first_token_seconds: float | None = None
    """Seconds from the call to its first new token (None: no token was generated)."""
    batch_size: int = 1
    """The most sequences the call shared a forward pass with, itself included."""
    first_logprobs: Any = None
    """With `first_logprobs=True`: float32 log-probabilities of the first new token over the vocabulary, under the
    grammar (tokens it does not allow: -inf); None otherwise or when nothing was sampled."""


class LocalModel:
    """A causal LM and its tokenizer in this process, computed on one scheduler thread."""

    def __init__(
        self, folder: Path, *, dtype: str = "bfloat16", quantize: str | None = "int8", name: str | None = None
    ) -> None:
        """Load the model in `folder` (a Transformers folder) with weights in `dtype`, quantized as `quantize` says.

        Prefer `LocalModel.load`, which resolves references and shares one instance per process.

        Raises:
            ModelLoadError: the folder could not be loaded as a causal LM, or `quantize` does not fit `dtype`.
        """
        started = time.perf_counter()
        self.quantize = _check_quantize(quantize, dtype)
        try:
            self.tokenizer = load_tokenizer(folder)
        except Exception as exc:  # transformers raises many types for a bad folder
            raise ModelLoadError(f"could not load model from {str(folder)!r}: {exc}") from exc
        from ._packed import open_model, read_model

        if quantize is None:
            self.model, self.weights_from = read_model(folder, dtype, None), "built"
        else:
            self.model, self.weights_from = open_model(folder, dtype=dtype, quantize=quantize, root=cache_dir())
        """Where the weights came from: "mapped" (the load cache, `models/_packed.py`) or "built" (the folder)."""
        from ._fastpath import fast_layer_count

        self.fast_layers = fast_layer_count(self.model)[0]
        """Decoder layers that run on the native kernels (`models/_fastpath.py`); 0 without them."""
        self.load_seconds = time.perf_counter() - started
        self.folder = folder
        self.name = name or folder.name
        self.context_length = int(getattr(self.model.config, "max_position_embeddings", 0) or 32768)
        if self.tokenizer.chat_template is None:
            raise ModelLoadError(f"model {str(folder)!r} has no chat template; graphwright needs a chat model")
        eos = self.model.generation_config.eos_token_id
        self.eos_ids = set(eos if isinstance(eos, list) else [eos])
        self._scheduler = BatchScheduler(self.model, self.tokenizer, self.eos_ids)
        release_openmp_threads()  # from now on the scheduler thread alone computes (see models/_batching.py)
        _freeze_heap()

    @property
    def prefix_cache(self) -> PrefixCache:
        """Keys and values of recent prompts, reused with batching on and off; `PrefixCache(0)` turns reuse off."""
        return self._scheduler.prefix

    @prefix_cache.setter
    def prefix_cache(self, cache: PrefixCache) -> None:
        self._scheduler.prefix = cache

    @classmethod
    def load(cls, ref: str | Path | None = None, *, dtype: str = "bfloat16", quantize: str | None = "int8") -> LocalModel:
        """Return the process-wide instance for model reference `ref`, loading it on first use.

        Args:
            ref: None for the packaged default model, a `.gguf` file, or a Transformers model folder.
            dtype: weight dtype; bf16 (the default) reads half of fp32's bytes per decoded token.
            quantize: `"int8"` (the default): the linear layers get int8 weights (per-channel scales). Where
                graphwright's C kernels run (x86 with AVX-512 VNNI, or AVX2 and FMA: `models/_native.py`) every
                call uses them and the bf16 weights are dropped (faster than bf16 for decode and prompts alike;
                figures from `bench/decode.py` in bench/README.md); elsewhere decode steps take torch's int8 kernel and
                prompts keep bf16 copies of the weights, which `"int8-lean"` drops (less memory, slower
                prompts). None: no quantization. Needs bf16.

        Raises:
            ModelNotFoundError: `ref` does not point at a model.
            ModelLoadError: the model could not be converted or loaded, or `quantize` is not one of the above.
        """
        _check_quantize(quantize, dtype)
        resolved = resolve(ref)
        key = (str(resolved.folder), dtype, quantize)
        with _LOAD_LOCK:
            if key not in _LOADED:
                name = _display_name(str(ref) if ref is not None else None, resolved.folder)
                _LOADED[key] = cls(resolved.folder, dtype=dtype, quantize=quantize, name=name)
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
        on_text: Callable[[str], None] | None = None,
        cancel: threading.Event | None = None,
        batching: BatchingOptions | None = BatchingOptions(),
        first_logprobs: bool = False,
    ) -> Generation:
        """Continue `prompt` and return the new text; greedy unless `temperature` > 0.

        With `batching` on (the default), the call joins the scheduler's running batch; with `batching` None
        it runs alone, and nothing joins it. Both give the same greedy tokens up to floating-point batch
        variance.

        Args:
            prompt: rendered prompt text (see `render`).
            max_new_tokens: upper bound on generated tokens; lowered to what the context has room for.
            temperature: 0 for greedy decoding; above 0 samples, reproducibly when `seed` is set.
            seed: seed for sampling.
            stop: strings that end generation when produced (they stay in the text).
            timeout: seconds after which generation stops with `finish_reason="timeout"`.
            grammar: decode under this grammar (see `graphwright.models.tool_call_grammar`).
            on_text: receives decoded text pieces as they are generated.
            cancel: set it to stop the call; it then raises `RequestCancelled`.
            batching: how this call may be batched with concurrent ones; None: one at a time.
            first_logprobs: return the first new token's log-probabilities (`Generation.first_logprobs`), to
                decide on the whole distribution rather than on the token picked.

        Raises:
            ContextLengthError: the prompt leaves no room for a single new token.
            GrammarError: the grammar cannot be used.
            RequestCancelled: `cancel` was set.
        """
        ids = self.tokenizer(prompt, add_special_tokens=False)["input_ids"]
        room = self.context_length - len(ids)
        if room < 1:
            raise ContextLengthError(
                f"prompt is {len(ids)} tokens; model {self.name!r} has a context of {self.context_length}"
            )
        max_new_tokens = min(max_new_tokens, room)
        make_processor = None
        if grammar is not None:
            tokenizer = llg_tokenizer(self.tokenizer, int(self.model.config.vocab_size))
            make_processor = lambda: GrammarProcessor(grammar, tokenizer)  # noqa: E731
        started = time.perf_counter()
        request = BatchRequest(
            prompt_ids=ids,
            max_new_tokens=max_new_tokens,
            temperature=temperature,
            seed=seed,
            stop=stop,
            deadline=None if timeout is None else started + timeout,
            make_processor=make_processor,
            batching=batching if batching is not None else ONE_AT_A_TIME,
            on_text=on_text,
            keep_first_logprobs=first_logprobs,
        )
        if cancel is not None:
            request.cancelled = cancel
        new, reason = self._scheduler.submit(request).future.result()
        text = self.tokenizer.decode(new, skip_special_tokens=True)
        first = request.first_token_at - started if request.first_token_at else None
        return Generation(
            text, len(ids), len(new), reason, time.perf_counter() - started, first, max(request.batch_peak, 1),
            request.first_logprobs,
        )

    def stream(self, prompt: str, **options: Any) -> Iterator[str | Generation]:
        """Generate like `generate`, yielding text pieces as they are decoded and the `Generation` last.

        Raises:
            Whatever `generate` raises, in the caller's thread.
        """
        pieces: queue.Queue[str | Generation | BaseException] = queue.Queue()

        def work() -> None:
            try:
                pieces.put(self.generate(prompt, on_text=pieces.put, **options))
            except BaseException as exc:  # handed to the caller's thread below
                pieces.put(exc)

        threading.Thread(target=work, name="graphwright-stream", daemon=True).start()
        while True:
            item = pieces.get()
            if isinstance(item, BaseException):
                raise item
            yield item
            if isinstance(item, Generation):
                return


ONE_AT_A_TIME = BatchingOptions(max_batch=1, window=0.0)
"""A call's batching options with batching off: the same decoding, one call at a time."""

QUANTIZE_MODES = ("int8", "int8-lean")
"""The values `quantize` takes besides None."""


def load_tokenizer(folder: Path) -> Any:
    """Return the tokenizer of Transformers folder `folder`, with its chat template.

    A folder whose tokenizer is a plain `tokenizer.json` of a class that only wraps it is read straight from
    that file, without Transformers (`models/_tokenizer.py`): `AutoTokenizer` costs Transformers' import and
    parses the file in Python, copies it and rebuilds it, several times the cost for the same tokenizer.
    Anything else goes through `AutoTokenizer`.
    """
    from ._tokenizer import read_tokenizer

    tokenizer = read_tokenizer(folder)
    if tokenizer is not None:
        return tokenizer
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(folder, local_files_only=True)


def _check_quantize(quantize: str | None, dtype: str) -> str | None:
    if quantize is not None and quantize not in QUANTIZE_MODES:
        raise ModelLoadError(f"quantize must be one of {', '.join(QUANTIZE_MODES)} or None, got {quantize!r}")
    if quantize is not None and dtype != "bfloat16":
        raise ModelLoadError(f"quantize={quantize!r} needs dtype='bfloat16' (got {dtype!r}); pass quantize=None")
    return quantize


def _freeze_heap() -> None:
    """Move every object alive now (torch, Transformers, the model's modules: hundreds of thousands of objects)
    out of the cyclic garbage collector's reach (`gc.freeze`), garbage collected first.

    A full collection walks every tracked object while every thread waits: with the model loaded that is a
    stall long enough to show in the latency of whichever agent runs are in flight. Frozen objects are still
    freed when nothing refers to them; only a reference cycle among them, if they become garbage later, stays.
    """
    import gc

    gc.collect()
    gc.freeze()


def release_openmp_threads() -> bool:
    """Free the calling thread's OpenMP worker threads (torch's libgomp); return False when there is no libgomp.

    libgomp keeps a pool of spinning workers per thread that ever ran a parallel region, and spins them less
    when the pools hold more threads than there are cores. After loading, the scheduler thread does all the
    model's compute, so the loading thread's pool only slows it down.
    """
    import ctypes

    import torch

    library = Path(torch.__file__).parent / "lib" / "libgomp.so.1"
    if not library.exists():
        return False
    try:
        return ctypes.CDLL(str(library)).omp_pause_resource_all(1) == 0  # 1: omp_pause_soft
    except (OSError, AttributeError):
        return False


def _display_name(ref: str | None, folder: Path) -> str:
    from ._weights import DEFAULT_MODEL

    if ref is None or ref == DEFAULT_MODEL:
        return DEFAULT_MODEL
    return Path(ref).name or str(folder)
