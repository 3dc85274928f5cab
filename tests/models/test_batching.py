"""Continuous batching on the real default model: same greedy output as unbatched, isolation of failures."""

from __future__ import annotations

import threading
import time

import pytest

from graphwright import calculator
from graphwright.models import ChatLocal, Grammar, LocalModel
from graphwright.models._batching import BatchingConfig, BatchRequest, RequestCancelled

pytestmark = pytest.mark.model

PROMPTS = ["Say hello.", "Name three colors.", "What is 2+2? Answer briefly."]


@pytest.fixture
def local(local_chat_model: ChatLocal) -> LocalModel:
    model = local_chat_model.load()
    yield model
    model.batching = BatchingConfig()


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
    local.batching = None
    alone = _concurrently(local, prompts, max_new_tokens=12)
    local.batching = BatchingConfig()
    steps_before = local._scheduler.steps if local._scheduler else 0
    batched = _concurrently(local, prompts, max_new_tokens=12)
    assert [r.text for r in batched] == [r.text for r in alone]
    assert local._scheduler.steps > steps_before
    assert local._scheduler.max_batch_seen >= 2, "concurrent calls should have shared a batch"


def test_batched_tool_calls_match_unbatched(local_chat_model: ChatLocal, local: LocalModel) -> None:
    bound = local_chat_model.bind_tools([calculator], tool_choice="required")
    questions = [[("human", f"What is {a} * {b}?")] for a, b in ((12, 13), (7, 8))]
    local.batching = None
    alone = [bound.invoke(q).tool_calls for q in questions]
    local.batching = BatchingConfig()
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
