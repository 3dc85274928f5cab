"""Continuous batching on the real default model: same greedy output as unbatched, isolation of failures."""

from __future__ import annotations

import threading
import time

import pytest

from graphwright import calculator
from graphwright.models import ChatLocal, Grammar, LocalModel
from graphwright.models._batching import BatchingOptions, BatchRequest, RequestCancelled
from graphwright.models._local import ONE_AT_A_TIME

pytestmark = pytest.mark.model

PROMPTS = ["Say hello.", "Name three colors.", "What is 2+2? Answer briefly."]


@pytest.fixture
def local(local_chat_model: ChatLocal) -> LocalModel:
    return local_chat_model.load()


def _concurrently(local: LocalModel, prompts: list[str], **options) -> list:
    results: list = [None] * len(prompts)

    def go(i: int) -> None:
        results[i] = local.generate(prompts[i], **options)

    threads = [threading.Thread(target=go, args=(i,)) for i in range(len(prompts))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def test_batched_greedy_output_matches_unbatched(local: LocalModel) -> None:
    prompts = [local.render([{"role": "user", "content": q}]) for q in PROMPTS]
    alone = _concurrently(local, prompts, max_new_tokens=12, batching=None)
    steps_before = local._scheduler.steps if local._scheduler else 0
    batched = _concurrently(local, prompts, max_new_tokens=12)
    assert [r.text for r in batched] == [r.text for r in alone]
    assert local._scheduler.steps > steps_before
    assert local._scheduler.max_batch_seen >= 2, "concurrent calls should have shared a batch"


def test_batched_tool_calls_match_unbatched(local_chat_model: ChatLocal, local: LocalModel) -> None:
    bound = local_chat_model.bind_tools([calculator], tool_choice="required")
    one_at_a_time = local_chat_model.model_copy(update={"batching": None}).bind_tools([calculator], tool_choice="required")
    questions = [[("human", f"What is {a} * {b}?")] for a, b in ((12, 13), (7, 8))]
    alone = [m.tool_calls for m in one_at_a_time.batch(questions)]
    batched = bound.batch(questions)
    assert [m.tool_calls for m in batched] == alone


def _request(local: LocalModel, text: str, tokens: int, **extra) -> BatchRequest:
    ids = local.tokenizer(local.render([{"role": "user", "content": text}]), add_special_tokens=False)["input_ids"]
    return BatchRequest(prompt_ids=ids, max_new_tokens=tokens, **extra)


def test_a_cancelled_request_leaves_the_batch_and_its_neighbour_finishes(local: LocalModel) -> None:
    local.generate(local.render([{"role": "user", "content": "hi"}]), max_new_tokens=1)  # start the scheduler
    scheduler = local._scheduler
    doomed = scheduler.submit(_request(local, "Count from 1 to 300, one number per line.", 300))
    neighbour = scheduler.submit(_request(local, "Say hello.", 10))
    while len(doomed.generated) < 3:
        assert not doomed.future.done()
        time.sleep(0.05)
    doomed.cancel()
    with pytest.raises(RequestCancelled):
        doomed.future.result(timeout=120)
    assert len(doomed.generated) < 300
    tokens, reason = neighbour.future.result(timeout=300)
    assert reason == "stop" and tokens


def test_a_bad_grammar_fails_alone_while_its_neighbours_finish(local: LocalModel) -> None:
    from graphwright.models._grammar import GrammarProcessor, llg_tokenizer

    local.generate(local.render([{"role": "user", "content": "hi"}]), max_new_tokens=1)
    scheduler = local._scheduler
    tokenizer = llg_tokenizer(local.tokenizer, int(local.model.config.vocab_size))
    broken = Grammar(lark="(not a grammar)", compiled="{ definitely not a grammar")
    bad = scheduler.submit(_request(local, "Say hello.", 10, make_processor=lambda: GrammarProcessor(broken, tokenizer)))
    good = [scheduler.submit(_request(local, q, 8)) for q in PROMPTS[:2]]
    with pytest.raises(Exception, match="grammar"):
        bad.future.result(timeout=300)
    assert all(r.future.result(timeout=300)[0] for r in good)


def test_requests_arriving_together_share_one_prefill_and_decode_as_they_would_alone(local: LocalModel) -> None:
    """Four prompts (two sharing a long system prompt with a held one, two new) submitted at once: prefilled in
    padded groups, with reused prefixes of different lengths, yet each decodes as it does on its own."""
    from graphwright.models._prefix import PrefixCache

    system = {"role": "system", "content": "You answer in one short sentence. " * 6}
    prompts = [
        local.render([system, {"role": "user", "content": "Name a color."}]),
        local.render([system, {"role": "user", "content": "Name a large animal that lives in the sea."}]),
        local.render([{"role": "user", "content": "Say hi."}]),
        local.render([{"role": "user", "content": "What is the capital of France?"}]),
    ]
    local.prefix_cache = PrefixCache(0)
    try:
        alone = [local.generate(p, max_new_tokens=10).text for p in prompts]
    finally:
        local.prefix_cache = PrefixCache()
    local.generate(local.render([system, {"role": "user", "content": "Name a fruit."}]), max_new_tokens=1)  # holds the system prompt
    scheduler = local._scheduler
    ids = [local.tokenizer(p, add_special_tokens=False)["input_ids"] for p in prompts]
    prefills = scheduler.prefills
    requests = [BatchRequest(prompt_ids=i, max_new_tokens=10) for i in ids]
    for request in requests:  # all in the inbox before the scheduler looks: admitted in one round
        scheduler._inbox.put(request)
    texts = [local.tokenizer.decode(r.future.result(timeout=300)[0], skip_special_tokens=True) for r in requests]
    assert texts == alone
    assert scheduler.prefills - prefills < len(prompts)  # some of them shared a forward


def test_a_process_that_used_the_model_exits_cleanly() -> None:
    """The scheduler thread is stopped at exit; left inside torch, it made about half of such runs abort (134)."""
    import os
    import subprocess
    import sys

    script = (
        "from graphwright.models import ChatLocal\n"
        "from graphwright import calculator\n"
        "model = ChatLocal(max_new_tokens=8)\n"
        "for q in ('What is 2+3?', 'What is 4*5?'):\n"
        "    model.bind_tools([calculator]).invoke(q)\n"
        "print('done')\n"
    )
    for _ in range(2):
        done = subprocess.run([sys.executable, "-c", script], env=dict(os.environ, HF_HUB_OFFLINE="1"),
                              capture_output=True, text=True, timeout=300)
        assert (done.returncode, done.stdout.strip()) == (0, "done"), done.stderr[-2000:]


def test_chat_models_with_other_batching_share_the_weights_and_keep_their_own_options(local_chat_model: ChatLocal, local: LocalModel) -> None:
    """Batching options travel with each call: one shared scheduler batches the calls that allow it, and a call
    with batching off runs alone (it waits for the running batch, and nothing joins it), without changing how
    the other chat model's calls run."""
    alone_model = local_chat_model.model_copy(update={"batching": None})
    assert alone_model.load() is local and local_chat_model.batching == BatchingOptions()
    scheduler = local._scheduler
    finished: list[str] = []

    def submit(name: str, text: str, tokens: int, **extra) -> BatchRequest:
        request = _request(local, text, tokens, **extra)
        request.future.add_done_callback(lambda _: finished.append(name))
        return scheduler.submit(request)

    running = submit("running", "Count from 1 to 300, one number per line.", 40)
    while len(running.generated) < 3:
        time.sleep(0.01)
    alone = submit("alone", "Name three colors.", 12, batching=ONE_AT_A_TIME)
    submit("joins", "Name three fruits.", 12)
    while not alone.generated:  # it starts once the running batch is done
        time.sleep(0.01)
    late = submit("late", "Say hi.", 2)  # short: had it joined the lone call, it would end first
    for request in (running, alone, late):
        request.future.result(timeout=300)
    assert finished == ["joins", "running", "alone", "late"]


def test_a_closed_scheduler_refuses_new_work_instead_of_hanging(local: LocalModel) -> None:
    from graphwright.models._batching import BatchScheduler

    scheduler = BatchScheduler(local.model, local.tokenizer, local.eos_ids)
    scheduler.close()
    with pytest.raises(RequestCancelled, match="closed"):
        scheduler.submit(_request(local, "Say hello.", 4))


def test_the_scheduler_decodes_as_transformers_generate_does(local: LocalModel, transformers_model) -> None:
    """The reference: with batching off the scheduler runs one call at a time; greedy, it writes what
    Transformers' own `generate` writes for the same prompt (on Transformers' model of the same weights: the
    scheduler runs graphwright's decoder, models/_qwen2.py)."""
    import torch

    prompt = local.render([{"role": "user", "content": "Name three colors."}])
    ours = local.generate(prompt, max_new_tokens=12, batching=None)
    ids = local.tokenizer(prompt, add_special_tokens=False, return_tensors="pt")
    with torch.inference_mode():
        out = transformers_model.generate(**ids, max_new_tokens=12, do_sample=False, pad_token_id=local.tokenizer.pad_token_id)
    assert ours.text == local.tokenizer.decode(out[0, ids["input_ids"].shape[1] :], skip_special_tokens=True)


def test_tokens_the_grammar_forces_are_fed_in_one_step_and_change_no_call(local_chat_model: ChatLocal, local: LocalModel) -> None:
    question = [("human", "What is 12 * 13?")]
    scheduler = local._scheduler
    counts = {}
    for jump in (False, True):
        chat = local_chat_model.model_copy(update={"batching": BatchingOptions(jump_forward=jump)})
        bound = chat.bind_tools([calculator], tool_choice="required")
        before = scheduler.steps
        reply = bound.invoke(question)
        counts[jump] = (scheduler.steps - before, reply.tool_calls)
    assert counts[True][1] == counts[False][1]
    assert counts[True][0] <= counts[False][0] - 8, counts  # `{"name": "calculator", "arguments": {"expression":` forced


def test_a_prompt_start_shared_by_requests_arriving_together_is_computed_once(local: LocalModel) -> None:
    from graphwright.models._prefix import PrefixCache

    system = {"role": "system", "content": "You are a careful assistant for a shipping company. " * 5}
    prompts = [local.render([system, {"role": "user", "content": q}]) for q in ("Hi.", "Where is my parcel?", "Thanks!")]
    ids = [local.tokenizer(p, add_special_tokens=False)["input_ids"] for p in prompts]
    local.prefix_cache = PrefixCache()  # cold: nothing of these prompts is held
    scheduler = local._scheduler
    before = scheduler.prefilled
    requests = [BatchRequest(prompt_ids=i, max_new_tokens=4) for i in ids]
    for request in requests:
        scheduler._inbox.put(request)
    for request in requests:
        request.future.result(timeout=300)
    shared = local.count_tokens(local.render([system]))
    assert scheduler.prefilled - before <= sum(map(len, ids)) - 2 * (shared - 8)  # the system prompt once, not thrice


def test_a_conversation_continued_reuses_the_reply_it_generated(local: LocalModel) -> None:
    """A finished request leaves its prompt and reply in the prefix cache: the next call of that conversation
    prefills only what it adds."""
    from graphwright.models._prefix import PrefixCache

    local.prefix_cache = PrefixCache()
    first = [{"role": "user", "content": "Write a long story about a dragon."}]
    reply = local.generate(local.render(first), max_new_tokens=12)
    assert reply.finish_reason == "length"  # its last token was sampled, never fed: the cache lacks that one
    follow = first + [{"role": "assistant", "content": reply.text}, {"role": "user", "content": "And three fruits?"}]
    before = local.prefix_cache.hits
    local.generate(local.render(follow), max_new_tokens=2)
    assert local.prefix_cache.hits - before == reply.prompt_tokens + reply.completion_tokens - 1


@pytest.mark.parametrize("held", [8192, 0])
def test_a_request_joining_a_running_batch_is_fed_beside_it_and_decodes_as_it_would_alone(local: LocalModel, held: int) -> None:
    """A request arriving while another decodes joins it in a mixed step (its prompt fed beside the running
    row's token, no prefill of its own that would stall that row); both write what they write alone, and a bad
    grammar joining the same way fails alone. With the prefix cache on, the joining row starts from the chat
    template's start that the running one left there; off, from nothing."""
    from graphwright.models._grammar import GrammarProcessor, llg_tokenizer
    from graphwright.models._prefix import PrefixCache

    long_text, short_text = "Count from 1 to 300, one number per line.", "Name three colors."
    alone = [local.generate(local.render([{"role": "user", "content": t}]), max_new_tokens=n, batching=None).text for t, n in ((long_text, 40), (short_text, 12))]
    local.prefix_cache = PrefixCache(held)
    scheduler = local._scheduler
    assert scheduler.mixed, "the default model runs on the fast layers"
    tokenizer = llg_tokenizer(local.tokenizer, int(local.model.config.vocab_size))
    broken = Grammar(lark="(not a grammar)", compiled="{ definitely not a grammar")
    running = scheduler.submit(_request(local, long_text, 40))
    while len(running.generated) < 3:
        assert not running.future.done()
        time.sleep(0.01)
    prefills, mixed = scheduler.prefills, scheduler.seconds["mixed"]
    bad = scheduler.submit(_request(local, short_text, 10, make_processor=lambda: GrammarProcessor(broken, tokenizer)))
    joining = scheduler.submit(_request(local, short_text, 12))
    texts = [local.tokenizer.decode(r.future.result(timeout=300)[0], skip_special_tokens=True) for r in (running, joining)]
    with pytest.raises(Exception, match="grammar"):
        bad.future.result(timeout=300)
    assert texts == alone
    assert scheduler.seconds["mixed"] > mixed and scheduler.prefills == prefills  # fed in a step, not a prefill


def test_what_a_grammar_forces_before_the_first_choice_is_fed_with_the_prompt(local: LocalModel) -> None:
    """A structured reply's `{"answer":` is forced from the start: it is prefilled with the prompt, not sampled
    and fed in a step of its own, and the reply is the one decoded without jump-forward."""
    from graphwright.models._grammar import GrammarProcessor, json_grammar, llg_tokenizer
    from graphwright.models._prefix import PrefixCache

    tokenizer = llg_tokenizer(local.tokenizer, int(local.model.config.vocab_size))
    grammar = json_grammar({"type": "object", "properties": {"answer": {"type": "string"}}, "required": ["answer"]})
    lead = GrammarProcessor(grammar, tokenizer).forced()
    assert local.tokenizer.decode(lead) == '{"answer":'
    scheduler = local._scheduler
    local.prefix_cache = PrefixCache(0)  # every prompt token computed: the count below is exact
    texts = {}
    for jump in (False, True):
        request = _request(
            local,
            "What is the capital of France? Reply in JSON.",
            16,
            make_processor=lambda: GrammarProcessor(grammar, tokenizer),
            batching=BatchingOptions(jump_forward=jump),
        )
        before = scheduler.prefilled
        tokens, _ = scheduler.submit(request).future.result(timeout=300)
        texts[jump] = local.tokenizer.decode(tokens)
        prefilled = scheduler.prefilled - before
    assert texts[True] == texts[False] and texts[True].startswith('{"answer":')
    assert prefilled == len(request.prompt_ids) + len(lead)


def test_a_stop_string_ends_its_request_and_the_stream_sees_the_text_as_it_grows(local: LocalModel) -> None:
    """Text is decoded per step only for a request with stop strings or a stream reader; both still work."""
    prompt = local.render([{"role": "user", "content": "Name three colors."}])
    free = local.generate(prompt, max_new_tokens=12)
    words = free.text.split()
    assert len(words) >= 3, free.text
    pieces: list[str] = []
    stopped = local.generate(prompt, max_new_tokens=12, stop=[words[1]], on_text=pieces.append)
    assert stopped.finish_reason == "stop" and words[1] in stopped.text
    assert len(stopped.text) < len(free.text) and free.text.startswith(stopped.text)
    assert "".join(pieces) == stopped.text and len(pieces) >= 2
