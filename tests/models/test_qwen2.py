"""graphwright's own Qwen2 decoder (models/_qwen2.py) computes what Transformers' Qwen2 model computes.

The first load of a folder builds Transformers' model and writes the load cache; the second maps the cache into
graphwright's decoder. Both are held to the same logits: on a prompt, on decode steps after it, and on the
padded, masked batches the scheduler feeds (with the native fast path and without it), on tiny random models
(tied and untied output layers, another rope theta) and on the default model (greedy tokens and logits). A load
from a warm cache imports neither Transformers, torch's compiler nor LangChain (`LocalModel` alone); configs
this decoder does not compute exactly fall back to Transformers.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from graphwright.models import LocalModel, resolve
from graphwright.models import _packed
from graphwright.models._prefix import cache_from
from graphwright.models._qwen2 import Qwen2ForCausalLM, read_config

TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja")
PROMPT = [9707, 11, 1879, 0, 151645, 42, 7, 8, 99, 1000]


def _tiny_model(folder: Path, *, tie: bool = False, theta: float = 1e6, seed: int = 0) -> Path:
    from transformers import AutoModelForCausalLM, Qwen2Config

    source = resolve(None).folder
    config = Qwen2Config.from_pretrained(source)
    config.update(dict(hidden_size=128, intermediate_size=256, num_hidden_layers=2, num_attention_heads=4,
                       num_key_value_heads=2, head_dim=32, max_window_layers=2, layer_types=["full_attention"] * 2,
                       tie_word_embeddings=tie))
    config.rope_parameters = {"rope_type": "default", "rope_theta": theta}
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16)
    with torch.no_grad():  # weights larger than the init's, so that rounding differences would show
        for parameter in model.parameters():
            parameter.mul_(4)
    model.save_pretrained(folder)
    for name in TOKENIZER_FILES:
        shutil.copy2(source / name, folder / name)
    return folder


def _both(folder: Path, root: Path) -> tuple[torch.nn.Module, torch.nn.Module]:
    """(Transformers' model, built from the folder; graphwright's decoder, mapped from the cache the first load
    wrote). The first load, which writes the cache, already runs graphwright's decoder."""
    theirs = _packed.read_model(folder, "bfloat16", "int8")
    first, built = _packed.open_model(folder, dtype="bfloat16", quantize="int8", root=root)
    ours, mapped = _packed.open_model(folder, dtype="bfloat16", quantize="int8", root=root)
    assert (built, mapped) == ("built", "mapped")
    assert isinstance(first, Qwen2ForCausalLM) and isinstance(ours, Qwen2ForCausalLM)
    assert not isinstance(theirs, Qwen2ForCausalLM)
    return theirs, ours


def _run(model: torch.nn.Module) -> list[torch.Tensor]:
    """Logits of the calls the batching scheduler makes: a prompt, decode steps on its cache, then a padded batch
    (one row's past left-padded, one row's new tokens right-padded) and a step after it, logits at kept indices."""
    out = []
    with torch.inference_mode():
        first = model(torch.tensor([PROMPT]), use_cache=True, past_key_values=cache_from(None, model.config))
        out.append(first.logits)
        cache, token = first.past_key_values, int(first.logits[0, -1].argmax())
        for _ in range(3):
            step = model(torch.tensor([[token]]), past_key_values=cache, use_cache=True)
            out.append(step.logits)
            cache, token = step.past_key_values, int(step.logits[0, -1].argmax())
        past = [PROMPT[:6], PROMPT[:3]]  # computed first, one row at a time, then stacked left-padded
        layers = []
        for row in past:
            layers.append(model(torch.tensor([row]), past_key_values=cache_from(None, model.config), use_cache=True).past_key_values)
        keys = [(torch.cat([torch.nn.functional.pad(c.layers[i].keys, (0, 0, 6 - len(r), 0)) for c, r in zip(layers, past)]),
                 torch.cat([torch.nn.functional.pad(c.layers[i].values, (0, 0, 6 - len(r), 0)) for c, r in zip(layers, past)]))
                for i in range(len(layers[0].layers))]
        cache = cache_from(keys, model.config)
        ids = torch.tensor([[5, 6, 7, 0], [8, 9, 10, 11]])
        mask = torch.tensor([[1] * 6 + [1, 1, 1, 0], [0, 0, 0, 1, 1, 1] + [1, 1, 1, 1]])
        positions = torch.tensor([[6, 7, 8, 9], [3, 4, 5, 6]])
        batch = model(input_ids=ids, attention_mask=mask, position_ids=positions, past_key_values=cache, use_cache=True,
                      logits_to_keep=torch.tensor([2, 3]))
        out.append(batch.logits)
        mask = torch.cat([mask, torch.ones(2, 1, dtype=torch.long)], dim=1)
        step = model(input_ids=torch.tensor([[1], [2]]), attention_mask=mask, position_ids=torch.tensor([[9], [7]]),
                     past_key_values=batch.past_key_values, use_cache=True)
        out.append(step.logits)
    return [t.float() for t in out]


def _unwrap_fast_layers(model: torch.nn.Module) -> None:
    for layer in model.model.layers:
        if hasattr(layer.forward, "args"):
            layer.forward = layer.forward.args[0]  # the layer's own forward, which the fast path wraps


@pytest.mark.parametrize("tie, theta", [(False, 1e6), (True, 1e4)], ids=["untied", "tied-theta1e4"])
@pytest.mark.parametrize("fast", [True, False], ids=["fast-path", "layers"])
def test_the_decoder_gives_transformers_logits_on_prompts_decode_steps_and_padded_batches(
    tmp_path: Path, tie: bool, theta: float, fast: bool
) -> None:
    theirs, ours = _both(_tiny_model(tmp_path / "tiny", tie=tie, theta=theta), tmp_path / "cache")
    if not fast:
        _unwrap_fast_layers(theirs)
        _unwrap_fast_layers(ours)
    assert ours.config.tie_word_embeddings == tie and ours.config.rope_theta == theta
    for want, got in zip(_run(theirs), _run(ours), strict=True):
        assert got.shape == want.shape
        assert torch.equal(got, want)  # the same ops in the same order: bit for bit


def test_without_native_kernels_the_decoder_gives_transformers_logits(tmp_path: Path) -> None:
    """GRAPHWRIGHT_NATIVE=0 (CPUs without AVX2): torch's int8 kernel, the decoder's own layers, torch's SDPA."""
    folder = _tiny_model(tmp_path / "tiny")
    code = (
        "import sys, torch\n"
        f"sys.path.insert(0, {str(Path(__file__).parent)!r})\n"
        "from pathlib import Path\n"
        "from test_qwen2 import _both, _run\n"
        f"theirs, ours = _both(Path({str(folder)!r}), Path({str(tmp_path / 'cache')!r}))\n"
        "diffs = [float((a - b).abs().max() / a.abs().max()) for a, b in zip(_run(theirs), _run(ours))]\n"
        "print(max(diffs))\n"
    )
    env = {**os.environ, "GRAPHWRIGHT_NATIVE": "0", "HF_HUB_OFFLINE": "1"}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert float(done.stdout.split()[-1]) == 0.0


def test_a_load_from_a_warm_cache_imports_neither_transformers_torch_compiler_nor_langchain(tmp_path: Path) -> None:
    folder, cache = _tiny_model(tmp_path / "tiny"), tmp_path / "cache"
    env = {**os.environ, "GRAPHWRIGHT_CACHE": str(cache), "HF_HUB_OFFLINE": "1"}
    code = (
        "import json, sys\n"
        "from pathlib import Path\n"
        "from graphwright.models import LocalModel, json_grammar\n"
        f"local = LocalModel(Path({str(folder)!r}))\n"
        "prompt = local.render([{'role': 'user', 'content': 'Say something.'}], tools=[{'type': 'function', "
        "'function': {'name': 'f', 'parameters': {'type': 'object', 'properties': {}}}}])\n"
        "free = local.generate(prompt, max_new_tokens=4)\n"
        "shaped = local.generate(prompt, max_new_tokens=12, grammar=json_grammar({'type': 'object', 'properties': "
        "{'a': {'type': 'integer'}}, 'required': ['a']}))\n"
        "heavy = sorted(m for m in ('transformers', 'torch._dynamo', 'scipy', 'sympy', 'langchain_core') if m in sys.modules)\n"
        "print(json.dumps([local.weights_from, type(local.model).__name__, heavy, free.text, shaped.text]))\n"
    )
    runs = [subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=600) for _ in range(2)]
    for done in runs:
        assert done.returncode == 0, done.stderr[-3000:]
    (built, _, _, text, shaped), (mapped, kind, heavy, again, shaped_again) = (json.loads(r.stdout.splitlines()[-1]) for r in runs)
    assert (built, mapped, kind, heavy) == ("built", "mapped", "Qwen2ForCausalLM", [])
    assert (again, shaped_again) == (text, shaped)  # Transformers' model then graphwright's decoder: the same text
    assert shaped.startswith('{"a":')  # under the grammar (a random model: cut off by the token bound)


def _write_config(folder: Path, **changes) -> Path:
    folder.mkdir()
    config = json.loads((resolve(None).folder / "config.json").read_text())
    config.update(changes)
    (folder / "config.json").write_text(json.dumps(config))
    return folder


@pytest.mark.parametrize(
    "changes",
    [
        {"model_type": "llama"},
        {"architectures": ["Qwen2ForSequenceClassification"]},
        {"hidden_act": "gelu"},
        {"use_sliding_window": True},
        {"layer_types": ["sliding_attention"] * 24},
        {"rope_parameters": {"rope_type": "yarn", "rope_theta": 1e6, "factor": 4.0}},
        {"quantization_config": {"quant_method": "awq"}},
    ],
    ids=["llama", "classifier", "gelu", "sliding", "sliding-layers", "yarn", "awq"],
)
def test_configs_the_decoder_does_not_compute_exactly_fall_back_to_transformers(tmp_path: Path, changes: dict) -> None:
    assert read_config(_write_config(tmp_path / "model", **changes)) is None


def test_the_default_models_config_is_read_with_its_rope_theta_and_heads(tmp_path: Path) -> None:
    config = read_config(resolve(None).folder)
    assert config is not None
    assert (config.rope_theta, config.num_attention_heads, config.num_key_value_heads, config.head_dim) == (1e6, 14, 2, 64)
    older = read_config(_write_config(tmp_path / "older", rope_parameters=None, rope_theta=5e5))
    assert older is not None and older.rope_theta == 5e5  # configs written before Transformers 5 name it at the top


@pytest.mark.model
def test_the_default_model_writes_transformers_greedy_tokens(transformers_model) -> None:
    local = LocalModel.load(None)
    assert isinstance(local.model, Qwen2ForCausalLM)
    from graphwright.models._batching import BatchRequest, BatchScheduler

    reference = BatchScheduler(transformers_model, local.tokenizer, local.eos_ids)
    try:
        for question in ["What is 17 * 23 + 4?", "Name three rivers in Europe.", "Write a Python function that reverses a string."]:
            prompt = local.render([{"role": "user", "content": question}])
            ids = local.tokenizer(prompt, add_special_tokens=False)["input_ids"]
            ours = local.generate(prompt, max_new_tokens=24, batching=None)
            theirs = reference.submit(BatchRequest(prompt_ids=ids, max_new_tokens=24)).future.result(timeout=600)[0]
            assert ours.text == local.tokenizer.decode(theirs, skip_special_tokens=True)
            with torch.inference_mode():
                want = transformers_model(torch.tensor([ids]), use_cache=True).logits.float()
                got = local.model(torch.tensor([ids]), use_cache=True).logits.float()
            assert (got - want).abs().max() <= 1e-3 * want.abs().max()
    finally:
        reference.close()


def test_llguidance_reads_the_tokenizer_file_as_it_reads_transformers_tokenizer() -> None:
    """graphwright's tokenizer hands llguidance its file's text (no re-serialization); the grammar then allows and
    forces the same tokens as with Transformers' tokenizer."""
    import numpy as np
    from transformers import PreTrainedTokenizerFast

    from graphwright.models import json_grammar
    from graphwright.models._grammar import GrammarProcessor, llg_tokenizer
    from graphwright.models._local import load_tokenizer

    folder = resolve(None).folder
    ours = load_tokenizer(folder)
    assert not isinstance(ours, PreTrainedTokenizerFast)
    theirs = PreTrainedTokenizerFast(tokenizer_file=str(folder / "tokenizer.json"), eos_token="<|im_end|>")
    grammar = json_grammar({"type": "object", "properties": {"city": {"type": "string", "maxLength": 12}}, "required": ["city"]})
    processors = [GrammarProcessor(grammar, llg_tokenizer(t, 151936)) for t in (ours, theirs)]
    for text in ["What is 17 * 23 + 4?", "日本語 ü <|im_end|>"]:
        assert llg_tokenizer(ours, 151936).tokenize_str(text) == llg_tokenizer(theirs, 151936).tokenize_str(text)
    for token in ours('{"city": "Par', add_special_tokens=False)["input_ids"]:
        masks = [p.bitmask() for p in processors]
        assert np.array_equal(*masks) and masks[0][token // 32] >> (token % 32) & 1
        assert processors[0].forced() == processors[1].forced()
        for p in processors:
            p.consume(token)
