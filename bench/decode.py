"""Prefill and decode speed of the default model in each weight mode, and llama.cpp on the same GGUF.

Modes, each in a fresh subprocess, one after another in this one run: `gguf-packed` (Transformers keeps the
GGUF blocks and unpacks them every forward), `dense-fp32`, `dense-bf16`, `int8pack` (bf16 with int8 decode
weights on torch's `_weight_int8pack_mm`), `int8` (the same weights on our VNNI kernel, `models/native.c`),
all through Transformers' `generate`; `graphwright` (the default `LocalModel`: graphwright's own decoder of
`models/_qwen2.py`, int8 weights, the fast path of `models/_fastpath.py`, through the batching scheduler, as
agents call it, its weights mapped from the load cache); `graphwright-transformers` (the same cache mapped into
Transformers' Qwen2 model instead, as cached loads ran before `models/_qwen2.py`); `graphwright-built` (the
first load into an empty cache folder: Transformers' model built from the folder, the cache written from it,
then mapped into graphwright's decoder); and `llama.cpp` when
`llama-cpp-python` is installed (the optional `bench` extra: `pip install -e '.[bench]'`, which builds it from
source in ~15 minutes). Prints a table with each mode's ratio to llama.cpp (or to dense-bf16 without it).

    .venv/bin/python bench/decode.py --tokens 32 --interleaved 6   # graphwright's decoder vs Transformers', one process
    .venv/bin/python bench/decode.py [--tokens 64] [--modes gguf-packed,dense-fp32,dense-bf16,int8pack,int8,graphwright,graphwright-transformers,graphwright-built,llama.cpp]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile

_PROBE = r"""
import json, sys, time
mode, tokens = sys.argv[1], int(sys.argv[2])
from graphwright.models import default_gguf_path, resolve
gguf = default_gguf_path()
text = "Write a long story about a lighthouse keeper and the sea. " * 12
if mode == "llama.cpp":
    from llama_cpp import Llama
    t = time.perf_counter(); llm = Llama(model_path=str(gguf), n_ctx=2048, n_threads=2, verbose=False); load = time.perf_counter() - t
    ids = llm.tokenize(text.encode())
    t = time.perf_counter(); llm.eval(ids); prefill = time.perf_counter() - t
    t = time.perf_counter()
    for _ in range(tokens):
        token = llm.sample(temp=0.0); llm.eval([token])
    decode = time.perf_counter() - t
    print("RESULT " + json.dumps({"load": load, "prompt": len(ids), "prefill_tps": len(ids) / prefill, "decode_tps": tokens / decode}))
    raise SystemExit
if mode in ("graphwright", "graphwright-transformers", "graphwright-built"):
    from graphwright.models import LocalModel
    if mode == "graphwright-transformers":  # no config the own decoder takes: the cache goes into Transformers' model
        from graphwright.models import _qwen2
        _qwen2.read_config = lambda folder: None
    from graphwright.models._prefix import PrefixCache
    t = time.perf_counter(); local = LocalModel.load(None); load = time.perf_counter() - t
    prompt = local.render([{"role": "user", "content": text}])
    local.prefix_cache = PrefixCache(0)  # measure a full prefill, as the other modes do
    local.generate(prompt, max_new_tokens=2)
    first = local.generate(prompt, max_new_tokens=1)
    t = time.perf_counter()
    run = local.generate(prompt + " Once upon", max_new_tokens=tokens + 1, stop=None)
    total = time.perf_counter() - t
    # Prefill here is the first call's (prompt + first token); decode is the rest of the second call.
    decode = (total - first.seconds) / max(run.completion_tokens - 1, 1)
    print("RESULT " + json.dumps({"load": load, "prompt": first.prompt_tokens, "prefill_tps": first.prompt_tokens / first.seconds, "decode_tps": 1 / decode, "tokens": run.completion_tokens}))
    raise SystemExit
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer
t = time.perf_counter()
if mode == "gguf-packed":
    tok = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name, local_files_only=True)
    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, local_files_only=True)
else:
    folder = resolve(None).folder
    tok = AutoTokenizer.from_pretrained(folder, local_files_only=True)
    dtype = torch.float32 if mode == "dense-fp32" else torch.bfloat16
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=dtype, local_files_only=True)
    if mode in ("int8", "int8pack"):
        from graphwright.models._quant import quantize_int8
        quantize_int8(model)
load = time.perf_counter() - t
ids = tok(text, return_tensors="pt")
with torch.inference_mode():
    model.generate(**ids, max_new_tokens=2, do_sample=False)
    t = time.perf_counter(); model(**ids); prefill = time.perf_counter() - t
    t = time.perf_counter()
    model.generate(**ids, max_new_tokens=tokens + 1, min_new_tokens=tokens + 1, do_sample=False)
    total = time.perf_counter() - t
n = ids["input_ids"].shape[1]
print("RESULT " + json.dumps({"load": load, "prompt": n, "prefill_tps": n / prefill, "decode_tps": tokens / max(total - prefill, 1e-9)}))
"""


def probe(mode: str, tokens: int) -> dict | None:
    """Measure one mode in a fresh interpreter; None when it failed (the reason goes to stderr)."""
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    if mode == "int8pack":
        env["GRAPHWRIGHT_NATIVE"] = "0"  # torch's int8 kernel instead of ours
    scratch = None
    if mode == "graphwright-built":  # an empty load cache beside the shared dense model: the weights are built
        from graphwright.models import cache_dir, resolve

        resolve(None)
        scratch = tempfile.mkdtemp(prefix="gw-decode-")
        os.symlink(cache_dir() / "models", os.path.join(scratch, "models"))
        env["GRAPHWRIGHT_CACHE"] = scratch
    try:
        done = subprocess.run([sys.executable, "-c", _PROBE, mode, str(tokens)], env=env, capture_output=True, text=True)
    finally:
        if scratch:
            shutil.rmtree(scratch, ignore_errors=True)
    for line in done.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT ") :])
    print(f"{mode}: failed\n{done.stderr[-2000:]}", file=sys.stderr)
    return None


def interleaved(rounds: int, tokens: int) -> None:
    """graphwright's decoder against Transformers' Qwen2 model on the same mapped weights, in this process, each
    through its own batching scheduler, one generate call each per round (alternating which goes first): on a
    shared machine the two then see the same load, which separate processes do not."""
    import statistics
    import time

    from graphwright.models import LocalModel
    from graphwright.models import _packed
    from graphwright.models._batching import BatchRequest, BatchScheduler
    from graphwright.models._prefix import PrefixCache
    from graphwright.models._weights import cache_dir

    ours = LocalModel.load(None)
    key = _packed.cache_key(ours.folder, dtype="bfloat16", quantize="int8")
    theirs = _packed._mapped(ours.folder, "bfloat16", "int8", None, _packed.cache_path(cache_dir(), key), key)
    schedulers = {"graphwright": ours._scheduler, "transformers": BatchScheduler(theirs, ours.tokenizer, ours.eos_ids)}
    text = "Write a long story about a lighthouse keeper and the sea. " * 12
    ids = ours.tokenizer(ours.render([{"role": "user", "content": text}]), add_special_tokens=False)["input_ids"]
    times: dict[str, dict[str, list[float]]] = {name: {"prefill": [], "decode": []} for name in schedulers}
    for scheduler in schedulers.values():  # warm-up, and no prefix reuse: every call prefills the whole prompt
        scheduler.prefix = PrefixCache(0)
        scheduler.submit(BatchRequest(prompt_ids=ids, max_new_tokens=2)).future.result()
    for round_ in range(rounds):
        for name in sorted(schedulers, reverse=bool(round_ % 2)):
            scheduler = schedulers[name]
            before = dict(scheduler.seconds)
            started = time.perf_counter()
            new, _ = scheduler.submit(BatchRequest(prompt_ids=ids, max_new_tokens=tokens)).future.result()
            prefill = scheduler.seconds["prefill"] - before["prefill"]
            times[name]["prefill"].append(len(ids) / prefill)
            times[name]["decode"].append((len(new) - 1) / (time.perf_counter() - started - prefill))
    print(f"same process, {rounds} rounds of {tokens} tokens, prompt {len(ids)} (median tok/s)")
    print(f"{'decoder':14} {'prefill':>8} {'decode':>8}")
    for name, row in times.items():
        print(f"{name:14} {statistics.median(row['prefill']):8.1f} {statistics.median(row['decode']):8.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=64, help="tokens to decode per mode")
    parser.add_argument("--interleaved", type=int, default=0, metavar="ROUNDS",
                        help="instead: graphwright's decoder against Transformers' model in one process, ROUNDS rounds")
    parser.add_argument("--modes", default="gguf-packed,dense-fp32,dense-bf16,int8pack,int8,graphwright,graphwright-transformers,graphwright-built,llama.cpp")
    args = parser.parse_args()
    if args.interleaved:
        interleaved(args.interleaved, args.tokens)
        return
    modes = args.modes.split(",")
    if "llama.cpp" in modes and importlib.util.find_spec("llama_cpp") is None:
        print("llama.cpp: llama-cpp-python is not installed; skipped", file=sys.stderr)
        modes.remove("llama.cpp")
    results = {mode: probe(mode, args.tokens) for mode in modes}
    base_name = "llama.cpp" if results.get("llama.cpp") else "dense-bf16"
    base = results.get(base_name)
    print(f"{'mode':24} {'load s':>7} {'prompt':>6} {'prefill tok/s':>13} {'decode tok/s':>12} {'decode x ' + base_name:>18}")
    for mode, row in results.items():
        if row is None:
            print(f"{mode:24} failed")
            continue
        ratio = row["decode_tps"] / base["decode_tps"] if base else float("nan")
        print(f"{mode:24} {row['load']:7.1f} {row['prompt']:6d} {row['prefill_tps']:13.0f} {row['decode_tps']:12.1f} {ratio:18.2f}")


if __name__ == "__main__":
    main()
