"""The load cache: a second load maps what the first wrote and computes the same; a cache from another version
or a damaged one is rebuilt, never loaded wrong; a folder saved again gets its new weights; the tokenizer read
straight from tokenizer.json is the one AutoTokenizer builds.

A tiny Qwen2 model (random weights, the default model's tokenizer) stands in for the default model: the
feature is the cache, and writing the real model's 770 MB cache for every case would cost minutes.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest
import torch

from graphwright.models import LocalModel, resolve
from graphwright.models import _packed
from graphwright.models._local import load_tokenizer

TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja")


def _tiny_model(folder: Path, seed: int = 0) -> Path:
    from transformers import AutoModelForCausalLM, Qwen2Config

    source = resolve(None).folder
    config = Qwen2Config.from_pretrained(source)
    config.update(dict(hidden_size=128, intermediate_size=256, num_hidden_layers=2, num_attention_heads=4,
                       num_key_value_heads=2, head_dim=32, max_window_layers=2, layer_types=["full_attention"] * 2))
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16)
    model.save_pretrained(folder)
    for name in TOKENIZER_FILES:
        shutil.copy2(source / name, folder / name)
    return folder


@pytest.fixture
def tiny(tmp_path: Path) -> Path:
    return _tiny_model(tmp_path / "tiny")


def _open(folder: Path, root: Path) -> tuple[torch.nn.Module, str]:
    return _packed.open_model(folder, dtype="bfloat16", quantize="int8", root=root)


def _logits(model: torch.nn.Module) -> torch.Tensor:
    with torch.inference_mode():
        return model(torch.tensor([[9707, 11, 1879, 0, 151645, 42]])).logits


def _cache_file(root: Path) -> Path:
    (path,) = (root / "packed").glob("*.gwpack")
    return path


def _mapped_files() -> dict[str, list[tuple[int, int]]]:
    spans: dict[str, list[tuple[int, int]]] = {}
    for line in Path("/proc/self/maps").read_text().splitlines():
        fields = line.split()
        if len(fields) >= 6:
            lo, hi = (int(x, 16) for x in fields[0].split("-"))
            spans.setdefault(fields[5], []).append((lo, hi))
    return spans


def test_the_second_load_maps_the_cache_and_computes_what_the_first_built(tiny: Path, tmp_path: Path) -> None:
    root = tmp_path / "cache"
    built, first = _open(tiny, root)
    mapped, second = _open(tiny, root)
    assert (first, second) == ("built", "mapped")
    assert torch.equal(_logits(built), _logits(mapped))
    spans = _mapped_files()[str(_cache_file(root))]
    weight = mapped.model.layers[0].mlp.down_proj.weight
    assert any(lo <= weight.data_ptr() < hi for lo, hi in spans)  # file pages, not a private copy
    q, k = mapped.model.layers[1].self_attn.q_proj.weight, mapped.model.layers[1].self_attn.k_proj.weight
    assert k.data_ptr() == q.data_ptr() + q.numel()  # the joined q/k/v weight is one mapped tensor


def test_local_model_loads_the_cache_and_generates_as_it_did_when_it_built_it(tiny: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("GRAPHWRIGHT_CACHE", str(tmp_path / "cache"))
    first, second = LocalModel(tiny), LocalModel(tiny)
    prompt = first.render([{"role": "user", "content": "Say something."}])
    assert (first.weights_from, second.weights_from) == ("built", "mapped")
    assert first.generate(prompt, max_new_tokens=8).text == second.generate(prompt, max_new_tokens=8).text


def _rewrite_manifest(path: Path, change) -> None:
    raw = path.read_bytes()
    magic, length, data_bytes, _ = _packed._HEADER.unpack_from(raw)
    data = raw[_packed._aligned(_packed._HEADER.size + length):]
    manifest = json.loads(raw[_packed._HEADER.size : _packed._HEADER.size + length])
    change(manifest)
    text = json.dumps(manifest, sort_keys=True).encode()
    head = _packed._HEADER.pack(magic, len(text), data_bytes, hashlib.sha256(text).digest()) + text
    path.write_bytes(head + b"\0" * (_packed._aligned(len(head)) - len(head)) + data)


def _truncate(path: Path) -> None:
    with path.open("r+b") as fh:
        fh.truncate(path.stat().st_size - 4096)


def _flip_header_byte(path: Path) -> None:
    raw = bytearray(path.read_bytes())
    raw[_packed._HEADER.size + 10] ^= 0x20  # inside the manifest, whose digest the header holds
    path.write_bytes(bytes(raw))


def _other_version(path: Path) -> None:
    _rewrite_manifest(path, lambda m: m["key"].update(format="gw-packed-0"))


def _other_kernel_build(path: Path) -> None:
    """As written where the other build of the kernels runs (another machine kind sharing the cache folder)."""
    def change(manifest: dict) -> None:
        other = "avx2" if "avx512" in (manifest["key"]["kernels"] or "") else "avx512"
        manifest["key"].update(kernels=f"native-{other}-0123456789abcdef.so", layout="strips16x4-u8+128")

    _rewrite_manifest(path, change)


def _wrong_shape(path: Path) -> None:
    def change(manifest: dict) -> None:
        row = next(r for r in manifest["tensors"] if r["name"].endswith("input_layernorm.weight"))
        row["shape"], row["stride"] = [64], [1]

    _rewrite_manifest(path, change)


def _flip_weight_byte(path: Path) -> None:
    raw = path.read_bytes()
    length = _packed._HEADER.unpack_from(raw)[1]
    start = _packed._aligned(_packed._HEADER.size + length)
    damaged = bytearray(raw)
    damaged[start + 5] ^= 0x01  # the first stored tensor's first bytes, which the sample checksum covers
    path.write_bytes(bytes(damaged))


@pytest.mark.parametrize("damage", [_truncate, _flip_header_byte, _other_version, _other_kernel_build, _wrong_shape, _flip_weight_byte])
def test_a_damaged_or_foreign_cache_is_rebuilt_never_loaded(tiny: Path, tmp_path: Path, damage) -> None:
    root = tmp_path / "cache"
    _open(tiny, root)  # writes the cache; its model is dropped: damage in place would pull its mapped pages away
    reference = _packed.read_model(tiny, "bfloat16", "int8")
    damage(_cache_file(root))
    with pytest.raises(_packed.StaleCache):
        _packed.load(_cache_file(root), _packed.cache_key(tiny, dtype="bfloat16", quantize="int8"),
                     _packed._skeleton(tiny, "bfloat16", "int8"))
    rebuilt, source = _open(tiny, root)
    assert source == "built"
    assert torch.equal(_logits(rebuilt), _logits(reference))
    again, source = _open(tiny, root)
    assert source == "mapped" and torch.equal(_logits(again), _logits(reference))


def test_the_cache_key_names_the_kernels_build_and_their_packed_layout(tiny: Path) -> None:
    from graphwright.models import _native

    key = _packed.cache_key(tiny, dtype="bfloat16", quantize="int8")
    native = _native.kernel()
    if native is None:
        assert (key["kernels"], key["layout"]) == (None, None)
    else:
        assert key["kernels"].startswith(f"native-{native.build}-") and key["layout"] == _native.LAYOUT


def test_a_folder_saved_again_loads_its_new_weights_and_drops_the_old_cache(tiny: Path, tmp_path: Path) -> None:
    root = tmp_path / "cache"
    before, _ = _open(tiny, root)
    old_file = _cache_file(root)
    shutil.rmtree(tiny)
    _tiny_model(tiny, seed=1)  # as learning/ saves a LoRA-merged model over an older one
    after, source = _open(tiny, root)
    fresh = _packed.read_model(tiny, "bfloat16", "int8")  # the reference: the folder's weights the long way
    assert source == "built"
    assert not torch.equal(_logits(after), _logits(before))
    assert torch.equal(_logits(after), _logits(fresh))
    assert not old_file.exists() and _cache_file(root) != old_file


def test_the_tokenizer_read_from_tokenizer_json_is_the_one_auto_tokenizer_builds() -> None:
    from transformers import AutoTokenizer

    folder = resolve(None).folder
    fast, auto = load_tokenizer(folder), AutoTokenizer.from_pretrained(folder, local_files_only=True)
    texts = ["What is 17 * 23 + 4?", "  def f(x):\n\treturn x**2  # 日本語 ü", "<tool_call>{\"a\": 1}</tool_call><|im_end|>"]
    for text in texts:
        assert fast(text, add_special_tokens=False)["input_ids"] == auto(text, add_special_tokens=False)["input_ids"]
    ids = auto(texts[2])["input_ids"] + [151643]
    assert fast.decode(ids, skip_special_tokens=True) == auto.decode(ids, skip_special_tokens=True)
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": texts[0]}]
    tools = [{"type": "function", "function": {"name": "add", "parameters": {"type": "object", "properties": {}}}}]
    assert fast.apply_chat_template(messages, tools=tools, add_generation_prompt=True, tokenize=False) == \
        auto.apply_chat_template(messages, tools=tools, add_generation_prompt=True, tokenize=False)
    assert fast.get_added_vocab() == auto.get_added_vocab()
    assert (fast.eos_token, fast.pad_token, fast.all_special_ids) == (auto.eos_token, auto.pad_token, auto.all_special_ids)
