"""Continuous batching of concurrent generate calls through one in-process model.

Concurrent agent runs (threads, asyncio tasks, `Send` branches) each call `LocalModel.generate`; with batching
on, those calls become requests to one scheduler thread, which decodes all active sequences in a single
forward pass per token. On a CPU the weights are read once per step whatever the batch size, so eight
sequences cost little more than one.

Each new request is prefilled alone into its own KV cache (starting from the longest prefix of a recent prompt
that the model's `PrefixCache` holds, so only the new tokens are computed) and then joins the running batch: caches are
left-padded to a common length and concatenated on the batch axis, and the attention mask hides the padding.
A finished, cancelled or failed sequence leaves the batch at once; a new one joins at the next step
(continuous batching). Every request keeps its own sampling settings, stop strings, grammar, deadline and
token stream.

The scheduler thread is the model's one compute thread: with batching off, calls run there too, as jobs
between batch steps (`run_solo`). On this CPU that is worth ~1.4x in decode speed: libgomp throttles its
worker threads' spinning when more OpenMP threads exist than cores, so torch compute spread over several
Python threads (LangGraph runs nodes in a thread pool) is slower than the same compute on one thread.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from .._errors import GraphwrightError
from ._prefix import PrefixCache, cache_from, prompt_layers


@dataclass(frozen=True)
class BatchingConfig:
    """How the scheduler batches concurrent requests."""

    max_batch: int = 8
    """Sequences decoded together; more requests queue until one finishes."""
    max_tokens_in_flight: int = 16_384
    """Upper bound on the batch's padded KV length times its size (memory); requests beyond it queue."""
    window: float = 0.02
    """Seconds an idle scheduler waits after a first request for others to join it."""


class RequestCancelled(GraphwrightError):
    """The request was cancelled before it finished."""


@dataclass(eq=False)
class BatchRequest:
    """One generate call as the scheduler sees it."""

    prompt_ids: list[int]
    max_new_tokens: int
    temperature: float = 0.0
    seed: int | None = None
    stop: list[str] | None = None
    deadline: float | None = None
    make_processor: Callable[[], Any] | None = None
    """Builds the grammar processor (inside the scheduler, so a bad grammar fails only this request)."""
    on_text: Callable[[str], None] | None = None
    """Receives decoded text pieces as they are generated."""
    future: Future = field(default_factory=Future)
    generated: list[int] = field(default_factory=list)
    emitted: int = 0  # characters of decoded text already sent to on_text
    started: float = 0.0
    cancelled: threading.Event = field(default_factory=threading.Event)
    processor: Any = None
    generator: Any = None

    def cancel(self) -> None:
        """Ask the scheduler to drop this request; its future then raises `RequestCancelled`."""
        self.cancelled.set()


@dataclass(eq=False)
class _Job:
    work: Callable[[], Any]
    future: Future = field(default_factory=Future)


@dataclass
class _Row:
    request: BatchRequest
    pad: int  # left padding in the batch cache
    next_token: int  # sampled, not yet fed to the model


class BatchScheduler:
    """Runs `BatchRequest`s for one model in a background thread, batched."""

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        eos_ids: set[int],
        config: BatchingConfig = BatchingConfig(),
        prefix: PrefixCache | None = None,
    ) -> None:
        """Start the scheduler thread for `model` (a Transformers causal LM) and its `tokenizer`; prompts reuse
        the keys and values held in `prefix` (None: a cache of its own)."""
        self.model = model
        self.prefix = prefix if prefix is not None else PrefixCache()
        self.tokenizer = tokenizer
        self.eos_ids = eos_ids
        self.config = config
        self.vocab_size = int(model.config.vocab_size)
        self._inbox: queue.Queue[BatchRequest | _Job] = queue.Queue()
        self._waiting: list[BatchRequest] = []
        self._rows: list[_Row] = []
        self._cache: Any = None
        self.steps = 0
        """Batched decode steps run so far (for tests and benchmarks)."""
        self.max_batch_seen = 0
        """The largest batch decoded so far."""
        self.seconds = {"prefill": 0.0, "decode": 0.0}
        """Time spent so far in prefill forwards and in batched decode steps (for benchmarks)."""
        self.prefilled = 0
        """Prompt tokens computed so far (not counting those reused from the prefix cache)."""
        self._thread = threading.Thread(target=self._loop, name="graphwright-batcher", daemon=True)
        self._thread.start()

    def submit(self, request: BatchRequest) -> BatchRequest:
        """Queue `request`; wait on `request.future` for the `(token ids, finish reason)` result."""
        request.started = time.perf_counter()
        self._inbox.put(request)
        return request

    def run_solo(self, work: Callable[[], Any]) -> Any:
        """Run `work()` on the scheduler thread between batch steps and return its result (or raise its error)."""
        job = _Job(work)
        self._inbox.put(job)
        return job.future.result()

    # --- the scheduler thread -------------------------------------------------------------------------

    def _loop(self) -> None:
        import torch

        torch.set_grad_enabled(False)
        while True:
            if not self._rows and not self._waiting:
                if self._take(self._inbox.get()):
                    deadline = time.perf_counter() + self.config.window
                    while (left := deadline - time.perf_counter()) > 0:
                        try:
                            self._take(self._inbox.get(timeout=left))
                        except queue.Empty:
                            break
            while True:
                try:
                    self._take(self._inbox.get_nowait())
                except queue.Empty:
                    break
            try:
                self._admit()
                if self._rows:
                    self._step()
            except Exception as exc:  # a failure of the batch as a whole: fail every active request
                for row in self._rows:
                    _fail(row.request, exc)
                self._rows, self._cache = [], None

    def _take(self, item: BatchRequest | _Job) -> bool:
        """Queue a request (True) or run a solo job at once (False)."""
        if isinstance(item, _Job):
            try:
                item.future.set_result(item.work())
            except BaseException as exc:  # handed to the caller's thread
                item.future.set_exception(exc)
            return False
        self._waiting.append(item)
        return True

    def _admit(self) -> None:
        """Prefill waiting requests one by one and join them to the batch while there is room."""
        still_waiting = []
        for request in self._waiting:
            if request.cancelled.is_set():
                _fail(request, RequestCancelled("cancelled before it started"))
                continue
            length = max(self._length(), len(request.prompt_ids)) + request.max_new_tokens
            if self._rows and (
                len(self._rows) >= self.config.max_batch
                or length * (len(self._rows) + 1) > self.config.max_tokens_in_flight
            ):
                still_waiting.append(request)
                continue
            try:
                self._prefill(request)
            except Exception as exc:
                _fail(request, exc)
        self._waiting = still_waiting

    def _prefill(self, request: BatchRequest) -> None:
        import torch

        if request.make_processor is not None:
            request.processor = request.make_processor()
        if request.temperature > 0:
            request.generator = torch.Generator().manual_seed(request.seed if request.seed is not None else 0)
        reused, layers = self.prefix.longest(request.prompt_ids)
        cache = cache_from(layers, self.model.config)
        ids = torch.tensor([request.prompt_ids[reused:]])
        started = time.perf_counter()
        out = self.model(input_ids=ids, past_key_values=cache, use_cache=True, logits_to_keep=1)
        self.seconds["prefill"] += time.perf_counter() - started
        self.prefilled += ids.shape[1]
        self.prefix.add(request.prompt_ids, prompt_layers(out.past_key_values, len(request.prompt_ids)))
        token = self._sample(request, out.logits[0, -1])
        row = _Row(request, pad=0, next_token=token)
        self._join(row, out.past_key_values)
        self._after_token(row)

    def _join(self, row: _Row, cache: Any) -> None:
        """Add a one-row cache to the batch cache, left-padding whichever is shorter."""
        import torch

        if self._cache is None:
            self._cache, self._rows = cache, [row]
            return
        have, new = self._length(), cache.layers[0].keys.shape[-2]
        total = max(have, new)
        for mine, theirs in zip(self._cache.layers, cache.layers, strict=True):
            mine.keys = torch.cat([_pad_left(mine.keys, total - have), _pad_left(theirs.keys, total - new)])
            mine.values = torch.cat([_pad_left(mine.values, total - have), _pad_left(theirs.values, total - new)])
        for existing in self._rows:
            existing.pad += total - have
        row.pad = total - new
        self._rows.append(row)
        self.max_batch_seen = max(self.max_batch_seen, len(self._rows))

    def _length(self) -> int:
        return 0 if self._cache is None else self._cache.layers[0].keys.shape[-2]

    def _step(self) -> None:
        """Feed every row's pending token in one forward pass and sample the next ones."""
        import torch

        length = self._length()
        tokens = torch.tensor([[row.next_token] for row in self._rows])
        mask = torch.ones(len(self._rows), length + 1, dtype=torch.long)
        for i, row in enumerate(self._rows):
            mask[i, : row.pad] = 0
        positions = torch.tensor([[length - row.pad] for row in self._rows])
        started = time.perf_counter()
        out = self.model(
            input_ids=tokens, attention_mask=mask, position_ids=positions, past_key_values=self._cache, use_cache=True
        )
        self.seconds["decode"] += time.perf_counter() - started
        self._cache = out.past_key_values
        self.steps += 1
        self.max_batch_seen = max(self.max_batch_seen, len(self._rows))
        for i, row in enumerate(self._rows):
            try:
                row.next_token = self._sample(row.request, out.logits[i, -1])
            except Exception as exc:
                _fail(row.request, exc)
                continue
            self._after_token(row)
        self._drop_finished()

    def _sample(self, request: BatchRequest, logits: Any) -> int:
        import torch

        logits = logits.float()
        if request.processor is not None:
            if request.generated:
                request.processor.consume(request.generated[-1])
            logits = logits.masked_fill(~request.processor.allowed(logits.shape[-1]), float("-inf"))
        if request.temperature > 0:
            probs = torch.softmax(logits / request.temperature, dim=-1)
            return int(torch.multinomial(probs, 1, generator=request.generator))
        return int(torch.argmax(logits))

    def _after_token(self, row: _Row) -> None:
        """Record the sampled token and finish the request when it ends the sequence."""
        request = row.request
        if request.future.done():
            return
        token = row.next_token
        if request.cancelled.is_set():
            _fail(request, RequestCancelled("cancelled while generating"))
            return
        if token in self.eos_ids:
            _finish(request, "stop")
            return
        request.generated.append(token)
        text = self._stream(request)
        if request.stop and any(s in text for s in request.stop):
            _finish(request, "stop")
        elif len(request.generated) >= request.max_new_tokens:
            _finish(request, "length")
        elif request.deadline is not None and time.perf_counter() > request.deadline:
            _finish(request, "timeout")

    def _stream(self, request: BatchRequest) -> str:
        text = self.tokenizer.decode(request.generated, skip_special_tokens=True)
        if request.on_text is not None and not text.endswith("\ufffd") and len(text) > request.emitted:
            piece, request.emitted = text[request.emitted :], len(text)
            try:
                request.on_text(piece)
            except Exception:  # a broken stream consumer must not take the scheduler down
                pass
        return text

    def _drop_finished(self) -> None:
        import torch

        keep = [i for i, row in enumerate(self._rows) if not row.request.future.done()]
        if len(keep) == len(self._rows):
            return
        if not keep:
            self._rows, self._cache = [], None
            return
        self._rows = [self._rows[i] for i in keep]
        index = torch.tensor(keep)
        trim = min(row.pad for row in self._rows)  # columns that are padding in every remaining row
        for layer in self._cache.layers:
            layer.keys = layer.keys[index, :, trim:]
            layer.values = layer.values[index, :, trim:]
        for row in self._rows:
            row.pad -= trim


def _pad_left(tensor: Any, amount: int) -> Any:
    import torch

    if amount == 0:
        return tensor
    shape = list(tensor.shape)
    shape[-2] = amount
    return torch.cat([torch.zeros(shape, dtype=tensor.dtype), tensor], dim=-2)


def _finish(request: BatchRequest, reason: str) -> None:
    if not request.future.done():
        request.future.set_result((list(request.generated), reason))


def _fail(request: BatchRequest, exc: BaseException) -> None:
    if not request.future.done():
        request.future.set_exception(exc)
