"""Continuous batching of concurrent generate calls through one in-process model.

Concurrent agent runs (threads, asyncio tasks, `Send` branches) each call `LocalModel.generate`; with batching
on, those calls become requests to one scheduler thread, which decodes all active sequences in a single
forward pass per step, reading the weights once for the whole batch, so a step of several sequences costs
far less than that many steps of one.

Requests that arrive together are prefilled together: the prompt start they share is computed once into the
`PrefixCache`, each then starts from the longest prefix the cache holds, and rows of similar length share one
forward (padded; a mask per row hides the padding). A request that ends leaves its prompt and the tokens it
generated in the prefix cache, so the next call of the same conversation prefills only what it adds. Rows join
the running batch with their caches left-padded to a common length. A request that arrives while others decode
joins them in a mixed step: the rest of its prompt is fed in the batch's next step, beside the running rows'
tokens (the fast layers compute only real positions), so the running rows do not stall for its prefill. A
finished, cancelled or failed sequence leaves the batch at once; a new one joins at the next step (continuous
batching). Every request keeps its own sampling settings, stop strings, grammar, deadline and token stream.

The scheduler thread is the model's one compute thread: with batching off, calls run there too, one at a
time (`max_batch=1`): libgomp throttles its worker threads' spinning when more OpenMP threads exist than
cores, so torch compute spread over several Python threads (LangGraph runs nodes in a thread pool) is slower
than the same compute on one thread.

Under a grammar, the tokens it forces after a sampled one (the `{"name": "...", "arguments": {` of a tool
call) are fed in one forward with the next step instead of one step each (jump-forward).
"""

from __future__ import annotations

import atexit
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from ..errors import RequestCancelled
from ._prefix import PrefixCache, cache_from


@dataclass(frozen=True)
class BatchingOptions:
    """How a model call may be batched with concurrent ones (each call carries its own; see `BatchRequest`)."""

    max_batch: int = 8
    """Sequences decoded together, at most (1: the call runs alone); more requests queue until one finishes."""
    max_tokens_in_flight: int = 16_384
    """Upper bound on the batch's padded KV length times its size (memory); requests beyond it queue."""
    window: float = 0.02
    """Seconds an idle scheduler waits after this call, when it comes first, for others to join it."""
    jump_forward: bool = True
    """Feed the tokens a request's grammar forces (a tool call's `{"name": ...` skeleton) in one forward."""


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
    batching: BatchingOptions = BatchingOptions()
    """How this request may be batched: a batch holds at most the smallest `max_batch` (and
    `max_tokens_in_flight`) of the requests in it, so a request with `max_batch=1` runs alone."""
    on_text: Callable[[str], None] | None = None
    """Receives decoded text pieces as they are generated."""
    future: Future = field(default_factory=Future)
    generated: list[int] = field(default_factory=list)
    emitted: int = 0  # characters of decoded text already sent to on_text
    started: float = 0.0
    first_token_at: float = 0.0
    """`time.perf_counter()` when the first new token was recorded (0: none yet); traces report it."""
    batch_peak: int = 0
    """The most sequences this request shared a forward pass with, itself included; traces report it."""
    keep_first_logprobs: bool = False
    """Keep the log-probabilities of the first sampled step in `first_logprobs` (callers that decide on the whole
    distribution of a reply's first token, not on its argmax)."""
    first_logprobs: Any = None
    """With `keep_first_logprobs`: float32 log-probabilities over the vocabulary at the first sampled step, those
    of tokens the grammar does not allow there -inf (renormalized over the allowed ones)."""
    cancelled: threading.Event = field(default_factory=threading.Event)
    processor: Any = None
    generator: Any = None

    def cancel(self) -> None:
        """Ask the scheduler to drop this request; its future then raises `RequestCancelled`."""
        self.cancelled.set()


SHARED_PREFIX_MIN = 32
"""Tokens that requests arriving together must share, beyond what the prefix cache holds, to be prefilled once."""

MIXED_MAX = 128
"""New prompt tokens up to which a request joining a running batch is fed in the batch's next step (a mixed
step) instead of a prefill of its own that stalls the running rows. Longer prompts get their own prefill: a
step is a rectangle, so every other row's cache would carry the prompt's length in padding."""


class _Stopped(BaseException):
    """Raised inside the scheduler thread to leave its loop."""


_STOP = object()


@dataclass
class _Row:
    request: BatchRequest
    position: int  # the position of feed[0]: real tokens seen so far (the cache also holds padding)
    feed: list[int]  # sampled (and grammar-forced) tokens, or the rest of the prompt, not yet fed to the model
    fresh: bool = False  # feed is the rest of the prompt: nothing sampled yet
    ended: str | None = None  # the finish reason, once it ended; its caller learns it when the row leaves


class BatchScheduler:
    """Runs `BatchRequest`s for one model in a background thread, batched."""

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        eos_ids: set[int],
        prefix: PrefixCache | None = None,
    ) -> None:
        """Start the scheduler thread for `model` (a Transformers causal LM) and its `tokenizer`; prompts reuse
        the keys and values held in `prefix` (None: a cache of its own)."""
        self.model = model
        self.prefix = prefix if prefix is not None else PrefixCache()
        self.tokenizer = tokenizer
        self.eos_ids = eos_ids
        self.vocab_size = int(model.config.vocab_size)
        from ._fastpath import fast_layer_count
        from ._native import kernel

        self.native = kernel()  # greedy picks under a grammar in one pass (see gw_argmax in native.c)
        fast, layers = fast_layer_count(model)
        self.mixed = 0 < fast == layers
        """Whether new requests join running rows in mixed steps (the fast layers skip a step's padding)."""
        self._inbox: queue.Queue[Any] = queue.Queue()  # requests, and _STOP
        self._waiting: list[BatchRequest] = []
        self._rows: list[_Row] = []
        self._cache: Any = None
        self._mask: Any = None  # [rows, cache length]: 1 where a row's cache holds a real token, 0 for padding
        self.steps = 0
        """Batched decode steps run so far (for tests and benchmarks)."""
        self.max_batch_seen = 0
        """The largest batch decoded so far."""
        self.seconds = {"prefill": 0.0, "decode": 0.0, "mixed": 0.0}
        """Time spent so far in prefill forwards, batched decode steps, and mixed steps (decode steps that also fed
        new prompts) (for benchmarks)."""
        self.prefilled = 0
        """Prompt tokens computed so far (not counting those reused from the prefix cache)."""
        self.prefills = 0
        """Prefill forwards run so far (requests that arrive together share one)."""
        self._thread = threading.Thread(target=self._loop, name="graphwright-batcher", daemon=True)
        self._thread.start()
        self.closed = False
        """True once `close` was called: new requests fail at once."""
        atexit.register(self.close)

    def close(self, timeout: float = 5.0) -> None:
        """Stop the scheduler thread once what it is doing now is done; queued and later requests fail.

        Called at interpreter exit: a thread left inside torch while the process tears down its C++ state
        aborts the process ("terminate called without an active exception", exit status 134).
        """
        self.closed = True
        if self._thread.is_alive():
            self._inbox.put(_STOP)
            self._thread.join(timeout)

    def submit(self, request: BatchRequest) -> BatchRequest:
        """Queue `request`; wait on `request.future` for the `(token ids, finish reason)` result.

        Raises:
            RequestCancelled: the scheduler is closed.
        """
        if self.closed:
            raise RequestCancelled("the model's scheduler is closed")
        request.started = time.perf_counter()
        self._inbox.put(request)
        return request

    # --- the scheduler thread -------------------------------------------------------------------------

    def _loop(self) -> None:
        try:
            self._serve()
        except _Stopped:
            closed = RequestCancelled("the model's scheduler was closed (the process is exiting)")
            for row in self._rows:
                _settle(row, closed)
            for request in self._waiting:
                _fail(request, closed)
            self._rows, self._waiting, self._cache, self._mask = [], [], None, None
            while True:  # anything still queued fails too, and the caller's thread does not hang
                try:
                    item = self._inbox.get_nowait()
                except queue.Empty:
                    return
                if item is not _STOP:
                    item.future.set_exception(closed)

    def _serve(self) -> None:
        import torch

        torch.set_grad_enabled(False)
        while True:
            if not self._rows and not self._waiting:
                self._take(self._inbox.get())
                deadline = time.perf_counter() + self._waiting[0].batching.window
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
                    _settle(row, exc)
                self._rows, self._cache, self._mask = [], None, None

    def _take(self, item: BatchRequest) -> None:
        """Queue a request; the stop signal leaves the loop."""
        if item is _STOP:
            raise _Stopped
        self._waiting.append(item)

    def _admit(self) -> None:
        """Admit waiting requests while there is room: while rows run, short prompts join their next step (mixed);
        the others are prefilled, those that arrived together in one forward."""
        still_waiting, admitted = [], []
        for request in self._waiting:
            if request.cancelled.is_set():
                _fail(request, RequestCancelled("cancelled before it started"))
                continue
            rows = len(self._rows) + len(admitted)
            longest = max([self._length(), len(request.prompt_ids)] + [len(r.prompt_ids) for r in admitted])
            batch = [row.request.batching for row in self._rows] + [r.batching for r in admitted] + [request.batching]
            if rows and (
                rows >= min(b.max_batch for b in batch)
                or (longest + request.max_new_tokens) * (rows + 1) > min(b.max_tokens_in_flight for b in batch)
            ):
                still_waiting.append(request)
                continue
            admitted.append(request)
        self._waiting = still_waiting
        try:
            self._prefill_shared_prefix(admitted)
        except Exception:  # broad on purpose:
            # Only a saving: each request still prefills what it needs below, where a real failure fails that
            # request alone. Broad because this runs the loaded model's forward (Transformers' code and our
            # kernels, with no closed set of errors), and anything raised here would strand the admitted
            # requests: they are off the queue and not yet rows, so nothing would ever settle their futures.
            pass
        entries = [(request, *self.prefix.longest(request.prompt_ids)) for request in admitted]
        if self._rows and self.mixed:
            self._enter([e for e in entries if len(e[0].prompt_ids) - e[1] <= MIXED_MAX])
            entries = [e for e in entries if len(e[0].prompt_ids) - e[1] > MIXED_MAX]
        for group in _groups(entries):
            try:
                self._prefill(group)
            except Exception as exc:  # e.g. a bad grammar: fail it alone, prefill the others again
                if len(group) == 1:
                    _fail(group[0][0], exc)
                    continue
                for member in group:
                    try:
                        self._prefill([member])
                    except Exception as alone:
                        _fail(member[0], alone)

    def _prefill_shared_prefix(self, requests: list[BatchRequest]) -> None:
        """Prefill the prompt start that requests arriving together share, once, into the prefix cache.

        Concurrent runs of one graph arrive with the same system prompt and tools; without this, each of them
        would compute that prefix itself, in the same forward, before any of them has stored it.
        """
        import torch

        if len(requests) < 2 or self.prefix.max_tokens <= 0:
            return
        first = requests[0].prompt_ids
        shared = min(len(r.prompt_ids) for r in requests) - 1
        for request in requests[1:]:
            ids = request.prompt_ids
            shared = next((i for i in range(shared) if ids[i] != first[i]), shared)
        held, layers = self.prefix.longest(first[: shared + 1])
        if shared - held < SHARED_PREFIX_MIN:
            return
        ids = torch.tensor([first[held:shared]])
        cache, _ = self._forward("prefill", ids, cache_from(layers, self.model.config), last=[])
        self.prefilled += shared - held
        self.prefills += 1
        self.prefix.add(first[:shared], [(layer.keys, layer.values) for layer in cache.layers])

    def _prefill(self, group: list[tuple[BatchRequest, int, list | None]]) -> None:
        """Prefill `(request, reused prefix length, prefix layers)` entries in one forward and join the batch.

        Rows share one past of length P (the longest reused prefix; shorter ones are left-padded with zeros)
        and one block of S new positions (the longest suffix; shorter ones are right-padded), so every row's
        tokens are contiguous and its last real token sits at a known index; the mask hides the padding. The
        tokens a grammar forces before the first choice are fed with the prompt.
        """
        import torch

        fed = []  # each row's prompt and forced lead
        for request, _, _ in group:
            _start(request)
            fed.append(request.prompt_ids + self._lead(request))
        past = max(reused for _, reused, _ in group)
        new = max(len(tokens) - reused for tokens, (_, reused, _) in zip(fed, group, strict=True))
        ids = torch.zeros(len(group), new, dtype=torch.long)
        mask = torch.zeros(len(group), past + new, dtype=torch.long)
        positions = torch.zeros(len(group), new, dtype=torch.long)
        for i, (request, reused, _) in enumerate(group):
            suffix = fed[i][reused:]
            ids[i, : len(suffix)] = torch.tensor(suffix)
            mask[i, past - reused : past + len(suffix)] = 1
            positions[i] = torch.arange(reused, reused + new)
        prefixes = _stack_layers([layers for _, _, layers in group], [reused for _, reused, _ in group], past)
        cache = cache_from(prefixes, self.model.config)
        last = [len(tokens) - reused - 1 for tokens, (_, reused, _) in zip(fed, group, strict=True)]
        cache, logits = self._forward("prefill", ids, cache, mask, positions, last)
        self.prefilled += int(mask[:, past:].sum())
        self.prefills += 1
        rows = []
        for i, (request, reused, _) in enumerate(group):
            self._keep(fed[i], cache, mask, i)  # for requests that start the same way
            rows.append(_Row(request, position=len(fed[i]), feed=[self._sample(request, logits[i])]))
        self._join(rows, cache, mask)
        for row in rows:
            self._after_token(row)
        self._drop_finished()

    def _enter(self, entries: list[tuple[BatchRequest, int, list | None]]) -> None:
        """Add `(request, reused prefix length, prefix layers)` entries to the running batch with their reused keys
        and values; the rest of each prompt is fed in the next step, beside the running rows' tokens (a mixed
        step), so the running rows do not stall for a prefill. A request whose grammar cannot be built fails alone."""
        import torch

        rows, prefixes, lengths = [], [], []
        for request, reused, layers in entries:
            try:
                _start(request)
                feed = request.prompt_ids[reused:] + self._lead(request)
            except Exception as exc:
                _fail(request, exc)
                continue
            rows.append(_Row(request, position=reused, feed=feed, fresh=True))
            prefixes.append(layers)
            lengths.append(reused)
        if not rows:
            return
        past = max(lengths)
        mask = torch.zeros(len(rows), past, dtype=torch.long)
        for i, reused in enumerate(lengths):
            mask[i, past - reused :] = 1
        stacked = _stack_layers(prefixes, lengths, past)
        if stacked is None:  # nothing reused: every layer's keys and values start empty
            stacked = []
            for layer in self._cache.layers:
                empty = layer.keys.new_zeros(len(rows), layer.keys.shape[1], 0, layer.keys.shape[3])
                stacked.append((empty, empty))
        self._extend(rows, stacked, mask)
        self.prefilled += sum(len(row.feed) for row in rows)

    def _lead(self, request: BatchRequest) -> list[int]:
        """Return the tokens the request's grammar forces before its first choice (the opening of a tool call
        that must be made), consumed and recorded as generated, to be fed with the prompt instead of sampled
        and then fed in a step of their own (jump-forward from the first token; none with it turned off)."""
        if request.processor is None or not request.batching.jump_forward:
            return []
        lead = request.processor.forced()[: request.max_new_tokens - 1]
        if lead:
            request.processor.consume_many(lead)
            request.generated.extend(lead)
        return lead

    def _join(self, rows: list[_Row], cache: Any, mask: Any) -> None:
        """Add `rows` (with their `cache` and `mask`) to the batch, left-padding whichever is shorter."""
        if self._cache is None:
            self._cache, self._mask, self._rows = cache, mask, rows
            self.max_batch_seen = max(self.max_batch_seen, len(self._rows))
        else:
            self._extend(rows, [(layer.keys, layer.values) for layer in cache.layers], mask)

    def _extend(self, rows: list[_Row], layers: list[tuple[Any, Any]], mask: Any) -> None:
        """Add `rows` with their per-layer keys and values and `mask` to the running batch, left-padding whichever
        is shorter."""
        import torch

        have, new = self._length(), mask.shape[1]
        total = max(have, new)
        for mine, (keys, values) in zip(self._cache.layers, layers, strict=True):
            mine.keys = torch.cat([_pad_left(mine.keys, total - have), _pad_left(keys, total - new)])
            mine.values = torch.cat([_pad_left(mine.values, total - have), _pad_left(values, total - new)])
        self._mask = torch.cat([_pad_left(self._mask, total - have), _pad_left(mask, total - new)])
        self._rows = self._rows + rows
        self.max_batch_seen = max(self.max_batch_seen, len(self._rows))

    def _length(self) -> int:
        return 0 if self._cache is None else self._cache.layers[0].keys.shape[-2]

    def _step(self) -> None:
        """Feed every row's pending tokens in one forward pass and sample the next ones.

        Usually one token a row. A row whose grammar forced the tokens after its last sampled one feeds them
        all in this step (jump-forward), and a row that just joined feeds the rest of its prompt; the rows are
        then right-padded to the longest feed, the mask hides the padding (the fast layers skip it), and each
        row's next token comes from the logits of its last real token. A joined row's prompt goes into the
        prefix cache once it is computed.
        """
        import torch

        width = max(len(row.feed) for row in self._rows)
        tokens = torch.zeros(len(self._rows), width, dtype=torch.long)
        added = torch.zeros(len(self._rows), width, dtype=torch.long)
        for i, row in enumerate(self._rows):
            tokens[i, : len(row.feed)] = torch.tensor(row.feed)
            added[i, : len(row.feed)] = 1
        self._mask = torch.cat([self._mask, added], dim=1)
        positions = torch.stack([torch.arange(row.position, row.position + width) for row in self._rows])
        last = [len(row.feed) - 1 for row in self._rows]
        phase = "mixed" if any(row.fresh for row in self._rows) else "decode"
        self._cache, logits = self._forward(phase, tokens, self._cache, self._mask, positions, last)
        self.steps += 1
        for i, row in enumerate(self._rows):
            row.position += len(row.feed)
            if row.fresh:
                row.fresh = False
                try:
                    self._remember(i, row)  # its prompt, for requests that start the same way
                except (RuntimeError, MemoryError):  # no memory for the copy: only a saving is lost
                    pass
            try:
                row.feed = [self._sample(row.request, logits[i])]
            except Exception as exc:
                _fail(row.request, exc)
                continue
            self._after_token(row)
        self._drop_finished()

    def _forward(
        self, phase: str, ids: Any, cache: Any, mask: Any = None, positions: Any = None, last: list[int] | None = None
    ) -> tuple[Any, Any]:
        """Run the model on `ids` [rows, width] after `cache`; return (the cache, logits [rows, vocabulary] at each
        row's index `last[i]`, default its last position; `last=[]`: none), and add the time to `seconds[phase]`.

        One row without padding takes Transformers' plain causal path (no mask, no positions). Where every layer
        is on the fast path, the products skip the padding (the mask's zeros in the new block) and the output
        layer runs on the rows' last tokens only; else the model computes logits at every index in `last`.
        """
        import torch

        from ._fastpath import real_positions

        rows, width = ids.shape
        last = [width - 1] * rows if last is None else last
        plain = mask is None or (mask.shape[0] == 1 and bool(mask.all()))
        inputs = {
            "input_ids": ids,
            "attention_mask": None if plain else mask,
            "position_ids": None if plain else positions,
            "past_key_values": cache,
            "use_cache": True,
        }
        started = time.perf_counter()
        if self.mixed:
            new = None if mask is None else mask[:, -width:].reshape(-1)
            real = None if new is None or bool(new.all()) else new.nonzero().squeeze(1)
            with real_positions(real):
                out = self.model.model(**inputs)
            hidden = out.last_hidden_state[torch.arange(rows), torch.tensor(last, dtype=torch.long)] if last else None
            logits = self.model.lm_head(hidden) if last else None
        else:
            keep = sorted(set(last)) or [width - 1]
            out = self.model(**inputs, logits_to_keep=1 if keep == [width - 1] else torch.tensor(keep))
            at = torch.tensor([keep.index(i) for i in last], dtype=torch.long)
            logits = out.logits[torch.arange(rows), at] if last else None
        self.seconds[phase] += time.perf_counter() - started
        return out.past_key_values, logits

    def _sample(self, request: BatchRequest, logits: Any) -> int:
        """Pick the next token from `logits`, among those the request's grammar allows (its parse holds every
        token generated so far)."""
        import numpy as np
        import torch

        allowed = request.processor.bitmask() if request.processor is not None else None
        keep = request.keep_first_logprobs and request.first_logprobs is None
        if request.temperature <= 0 and not keep and self.native is not None and logits.dtype == torch.bfloat16:
            token = self.native.argmax(logits, allowed)
            if token is not None:
                return token
        logits = logits.float()
        if allowed is not None:
            bits = np.unpackbits(np.ascontiguousarray(allowed, dtype=np.uint32).view(np.uint8), bitorder="little")
            logits = logits.masked_fill(~torch.from_numpy(bits[: logits.shape[-1]].astype(bool)), float("-inf"))
        if keep:
            request.first_logprobs = torch.log_softmax(logits, dim=-1)
        if request.temperature > 0:
            probs = torch.softmax(logits / request.temperature, dim=-1)
            return int(torch.multinomial(probs, 1, generator=request.generator))
        return int(torch.argmax(logits))

    def _after_token(self, row: _Row) -> None:
        """Record the sampled token (and any the grammar forces after it) and finish the request when it ends."""
        request = row.request
        if request.future.done() or row.ended:
            return
        token = row.feed[0]
        if request.cancelled.is_set():
            _fail(request, RequestCancelled("cancelled while generating"))
            return
        if token in self.eos_ids:
            self._end(row, "stop")
            return
        request.generated.append(token)
        request.batch_peak = max(request.batch_peak, len(self._rows))
        if len(request.generated) == 1:
            request.first_token_at = time.perf_counter()
        if request.processor is not None:
            request.processor.consume(token)
            room = request.max_new_tokens - len(request.generated)
            forced = request.processor.forced()[:room] if request.batching.jump_forward and room > 1 else []
            if len(forced) >= 2:  # one forward for them all; a single forced token is just the next step
                request.processor.consume_many(forced)
                request.generated.extend(forced)
                row.feed = [token, *forced]
        if self._stream(request):
            self._end(row, "stop")
        elif len(request.generated) >= request.max_new_tokens:
            self._end(row, "length")
        elif request.deadline is not None and time.perf_counter() > request.deadline:
            self._end(row, "timeout")

    def _end(self, row: _Row, reason: str) -> None:
        """End the row with `reason`, its keys and values put into the prefix cache (so a caller's next call,
        made once this one returns, finds them). Its caller gets the result when the row leaves the batch, at the
        end of the step: woken earlier, callers' threads would hold the GIL while the step's bookkeeping runs."""
        try:
            self._remember(self._rows.index(row), row)
        except (RuntimeError, MemoryError):  # no memory for the copy (torch raises RuntimeError): a saving lost
            pass
        row.ended = reason

    def _stream(self, request: BatchRequest) -> bool:
        """Hand the request's new text to its stream reader; return whether the text holds one of its stop strings.
        The text is decoded only for a request that has either (agent calls have neither)."""
        if not request.stop and request.on_text is None:
            return False
        text = self.tokenizer.decode(request.generated, skip_special_tokens=True)
        if request.on_text is not None and not text.endswith("\ufffd") and len(text) > request.emitted:
            piece, request.emitted = text[request.emitted :], len(text)
            try:
                request.on_text(piece)
            except Exception:  # the caller's code can raise anything, and it must not stop the scheduler
                pass
        return bool(request.stop) and any(s in text for s in request.stop)

    def _drop_finished(self) -> None:
        """Take ended, failed and cancelled rows out of the batch, then give the ended ones' callers their results."""
        import torch

        keep = [i for i, row in enumerate(self._rows) if not row.ended and not row.request.future.done()]
        if len(keep) == len(self._rows):
            return
        ended = [row for row in self._rows if row.ended]
        if not keep:
            self._rows, self._cache, self._mask = [], None, None
        else:
            self._rows = [self._rows[i] for i in keep]
            index = torch.tensor(keep)
            mask = self._mask[index]
            trim = int(mask.any(dim=0).int().argmax())  # leading columns that are padding in every remaining row
            self._mask = mask[:, trim:]
            for layer in self._cache.layers:
                layer.keys = layer.keys[index, :, trim:]
                layer.values = layer.values[index, :, trim:]
        for row in ended:
            _finish(row.request, row.ended)

    def _remember(self, index: int, row: _Row) -> None:
        """Put a batch row's keys and values (all it was fed: its prompt, and the tokens it generated and fed) into
        the prefix cache: an agent's next call repeats this conversation and adds a tool result, so it then
        prefills only what is new; a just-joined row's prompt serves requests that start the same way."""
        self._keep((row.request.prompt_ids + row.request.generated)[: row.position], self._cache, self._mask, index)

    def _keep(self, ids: list[int], cache: Any, mask: Any, index: int) -> None:
        """Put row `index` of `cache`, whose real positions (1 in `mask`) hold `ids`, into the prefix cache."""
        if self.prefix.max_tokens <= 0:
            return
        columns = mask[index].nonzero().squeeze(1)  # padding: left, and right within steps
        if len(columns) != len(ids):
            return
        start = int(columns[0])

        def take(tensor: Any) -> Any:  # a copy: the prefix cache holds just these positions, not the batch's buffers
            if int(columns[-1]) - start + 1 == len(columns):  # one span (a third of index_select's time)
                return tensor[index : index + 1, :, start : start + len(columns)].clone()
            return tensor[index : index + 1].index_select(2, columns)

        self.prefix.add(ids, [(take(layer.keys), take(layer.values)) for layer in cache.layers])


def _pad_left(tensor: Any, amount: int) -> Any:
    """Prepend `amount` zeros along the sequence axis (-2 for keys and values, -1 for a mask)."""
    import torch

    if amount == 0:
        return tensor
    axis = -1 if tensor.dim() == 2 else -2
    shape = list(tensor.shape)
    shape[axis] = amount
    return torch.cat([torch.zeros(shape, dtype=tensor.dtype), tensor], dim=axis)


def _stack_layers(prefixes: list[list | None], lengths: list[int], past: int) -> list | None:
    """Per-layer keys and values for a batched prefill: each row's reused prefix left-padded to `past`."""
    import torch

    if past == 0:
        return None
    template = next(layers for layers in prefixes if layers)
    stacked = []
    for index, (keys, values) in enumerate(template):
        shape = (1, keys.shape[1], past, keys.shape[3])
        rows_k, rows_v = [], []
        for layers, length in zip(prefixes, lengths, strict=True):
            k, v = (layers[index] if layers else (keys[:, :, :0], values[:, :, :0]))
            rows_k.append(_pad_left(k, past - length) if length else torch.zeros(shape, dtype=keys.dtype))
            rows_v.append(_pad_left(v, past - length) if length else torch.zeros(shape, dtype=values.dtype))
        stacked.append((torch.cat(rows_k), torch.cat(rows_v)))
    return stacked


def _groups(entries: list[tuple[BatchRequest, int, list | None]]) -> list[list[tuple[BatchRequest, int, list | None]]]:
    """Split `(request, reused prefix length, prefix layers)` entries admitted together into prefill groups of
    similar new-token counts.

    A group's rows are padded to its longest suffix, so a long new prompt is not made to carry short ones'
    padding: a request joins a group while the padded tokens stay within a quarter (plus 32) of the real ones.
    """
    entries = list(entries)
    entries.sort(key=lambda entry: len(entry[0].prompt_ids) - entry[1])
    groups: list[list] = []
    for entry in entries:
        size = len(entry[0].prompt_ids) - entry[1]
        if groups:
            group = groups[-1]
            real = sum(len(r.prompt_ids) - n for r, n, _ in group) + size
            if size * (len(group) + 1) <= 1.25 * real + 32:
                group.append(entry)
                continue
        groups.append([entry])
    return groups


def _start(request: BatchRequest) -> None:
    """Build the request's grammar processor and sampling generator (raises what a bad grammar raises)."""
    import torch

    request.generated.clear()  # a prefill tried again starts over
    request.first_logprobs = None
    if request.make_processor is not None:
        request.processor = request.make_processor()
    if request.temperature > 0:
        request.generator = torch.Generator().manual_seed(request.seed if request.seed is not None else 0)


def _settle(row: _Row, exc: BaseException) -> None:
    """Give the caller of a row the batch lost its result if the row had ended, else `exc`."""
    if row.ended:
        _finish(row.request, row.ended)
    else:
        _fail(row.request, exc)


def _finish(request: BatchRequest, reason: str) -> None:
    if not request.future.done():
        request.future.set_result((list(request.generated), reason))


def _fail(request: BatchRequest, exc: BaseException) -> None:
    if not request.future.done():
        request.future.set_exception(exc)
