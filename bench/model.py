"""Benchmark the default model: load time (first, from the PyPI parts; cached) and prefill/decode speed.

Each measurement runs in a fresh subprocess so nothing is shared between them. The "first" load uses an empty
cache folder (assemble the GGUF from its six parts, check its hash, convert to dense bf16, load); "cached"
loads the converted folder from the user cache. Prints a table.

    .venv/bin/python bench/model.py [--tokens 64] [--skip-first]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile

_PROBE = r"""
import json, os, sys, time
t0 = time.perf_counter()
from graphwright.models import LocalModel, ChatLocal
local = LocalModel.load(None)
load = time.perf_counter() - t0
out = {"load_s": load}
if int(sys.argv[1]):
    import torch
    tokens = int(sys.argv[1])
    prompt = local.render([{"role": "user", "content": "Write a long story about a lighthouse keeper. " * 20}])
    ids = local.tokenizer(prompt, return_tensors="pt", add_special_tokens=False)
    with torch.inference_mode():
        local.model.generate(**ids, max_new_tokens=2, do_sample=False)  # warm-up
        t = time.perf_counter(); local.model(**ids); prefill = time.perf_counter() - t
        t = time.perf_counter()
        gen = local.model.generate(**ids, max_new_tokens=tokens, min_new_tokens=tokens, do_sample=False)
        total = time.perf_counter() - t
    n = gen.shape[1] - ids["input_ids"].shape[1]
    out.update(prompt_tokens=ids["input_ids"].shape[1], prefill_tps=ids["input_ids"].shape[1] / prefill,
               decode_tps=(n - 1) / max(total - prefill, 1e-9), new_tokens=n)
print("RESULT " + json.dumps(out))
"""


def probe(tokens: int, cache: str | None) -> dict:
    """Run the probe in a fresh interpreter and return what it measured."""
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    if cache:
        env["GRAPHWRIGHT_CACHE"] = cache
    done = subprocess.run([sys.executable, "-c", _PROBE, str(tokens)], env=env, capture_output=True, text=True, check=True)
    line = next(line for line in done.stdout.splitlines() if line.startswith("RESULT "))
    return json.loads(line[len("RESULT ") :])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=64, help="tokens to decode")
    parser.add_argument("--skip-first", action="store_true", help="skip the first-load (empty cache) row")
    args = parser.parse_args()
    rows = []
    if not args.skip_first:
        with tempfile.TemporaryDirectory(prefix="gw-bench-cache-") as cache:
            first = probe(0, cache)
        rows.append(("load, first (assemble + convert + load)", f"{first['load_s']:.1f} s"))
    cached = probe(args.tokens, None)
    rows.append(("load, cached (bf16 + int8 copies)", f"{cached['load_s']:.1f} s"))
    rows.append((f"prefill ({cached['prompt_tokens']} prompt tokens)", f"{cached['prefill_tps']:.0f} tok/s"))
    rows.append((f"decode ({cached['new_tokens']} tokens, greedy, batch 1)", f"{cached['decode_tps']:.1f} tok/s"))
    width = max(len(r[0]) for r in rows)
    print(f"{'default model: qwen2.5-coder-0.5b-instruct (bf16, int8 decode weights)':<{width}}  value")
    print("-" * (width + 12))
    for name, value in rows:
        print(f"{name:<{width}}  {value}")


if __name__ == "__main__":
    main()
