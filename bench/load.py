"""How long the default model takes to load, and where the time goes: today's long way, the first load that
writes the load cache, cached loads (graphwright's own decoder, no Transformers import), the same cache mapped
into Transformers' model (what a cached load cost before models/_qwen2.py, Transformers' import included), and
llama.cpp's load of the same GGUF when llama-cpp-python is installed (the table says when it is not).

Each measurement runs in a fresh interpreter (nothing imported but what the row says, the files in the page
cache after the first round), `--repeat` times, interleaved; the table shows the median and the minimum of wall
and CPU seconds, timed after `import torch` and `import graphwright.models` (which every row pays alike), and
whether the row imported Transformers. A stage breakdown of one cached load follows: imports, tokenizer,
building the modules on the meta device, mapping the cache, the fast path.

    .venv/bin/python bench/load.py [--repeat 5]

The first-write row loads into a temporary cache folder (the model's dense folder is shared, so only the
packed cache is written), so it does not disturb the real cache.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile

_PROBE = r"""
import json, sys, time
mode = sys.argv[1]
wall, cpu = time.perf_counter(), time.process_time()
stages = {}
def lap(name):
    global wall, cpu
    w, c = time.perf_counter(), time.process_time()
    stages[name] = (w - wall, c - cpu)
    wall, cpu = w, c
if mode == "llama.cpp":
    from llama_cpp import Llama
    from graphwright.models import default_gguf_path
    gguf = str(default_gguf_path())
    lap("import")
    Llama(model_path=gguf, n_ctx=2048, n_threads=2, verbose=False)
    lap("load")
elif mode == "long-way":  # what LocalModel.load did before the load cache, in this process
    import torch
    lap("import torch")
    from graphwright.models import resolve
    from graphwright.models._packed import read_model
    folder = resolve(None).folder
    lap("import graphwright.models")
    from transformers import AutoTokenizer
    AutoTokenizer.from_pretrained(folder, local_files_only=True)
    lap("tokenizer")
    read_model(folder, "bfloat16", "int8")
    lap("weights")
else:
    import torch
    lap("import torch")
    from graphwright.models import LocalModel, resolve
    from graphwright.models import _local, _packed, _qwen2
    from graphwright.models._weights import cache_dir
    folder = resolve(None).folder
    lap("import graphwright.models")
    key = _packed.cache_key(folder, dtype="bfloat16", quantize="int8")
    path = _packed.cache_path(cache_dir(), key)
    if mode == "stages":
        _local.load_tokenizer(folder)
        lap("tokenizer")
        model = _packed._skeleton(folder, "bfloat16", "int8", _qwen2.read_config(folder))
        lap("modules on meta")
        _packed.load(path, key, model)
        lap("map the cache")
        _packed._finish(model)
        lap("fast path")
    elif mode == "cached-transformers":  # the same cache into Transformers' model, as cached loads did before
        from transformers import PreTrainedTokenizerFast
        from transformers.models.qwen2 import modeling_qwen2  # noqa: F401 - its import is part of this path's load
        PreTrainedTokenizerFast(tokenizer_file=str(folder / "tokenizer.json"))
        _packed._mapped(folder, "bfloat16", "int8", None, path, key)
        lap("load")
    else:
        model = LocalModel.load(None)
        lap("load")
        stages["weights_from"] = model.weights_from
    stages["transformers"] = "transformers" in sys.modules
print("RESULT " + json.dumps(stages))
"""


def probe(mode: str, env: dict[str, str] | None = None) -> dict | None:
    """Run one measurement in a fresh interpreter; None when it failed (the reason goes to stderr)."""
    done = subprocess.run([sys.executable, "-c", _PROBE, mode], env={**os.environ, "HF_HUB_OFFLINE": "1", **(env or {})},
                          capture_output=True, text=True)
    for line in done.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT "):])
    print(f"{mode}: failed\n{done.stderr[-2000:]}", file=sys.stderr)
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    from graphwright.models import LocalModel, cache_dir, resolve

    folder = resolve(None).folder  # the dense folder exists before anything is timed
    LocalModel  # noqa: B018 - imported so the real cache's first write, if any, happens below, untimed
    probe("cached")
    scratch = tempfile.mkdtemp(prefix="gw-load-")
    os.symlink(cache_dir() / "models", os.path.join(scratch, "models"))
    rows: dict[str, list[tuple[float, float]]] = {}
    llama = importlib.util.find_spec("llama_cpp") is not None
    modes = ["long-way", "first-write", "cached", "cached-transformers"] + (["llama.cpp"] if llama else [])
    try:
        for _ in range(args.repeat):
            for mode in modes:
                env = {}
                if mode == "first-write":
                    shutil.rmtree(os.path.join(scratch, "packed"), ignore_errors=True)
                    env = {"GRAPHWRIGHT_CACHE": scratch}
                result = probe("cached" if mode == "first-write" else mode, env)
                if result is None:
                    continue
                if mode == "first-write" and result.get("weights_from") != "built":
                    raise SystemExit("the first-write load did not build the cache")
                timed = [v for k, v in result.items() if k == "load" or (mode == "long-way" and k in ("tokenizer", "weights"))]
                rows.setdefault(mode, []).append((sum(w for w, _ in timed), sum(c for _, c in timed), result.get("transformers", True)))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    print(f"model files: {folder}")
    print(f"{'load':20} {'wall med':>8} {'wall min':>8} {'cpu med':>8} {'cpu min':>8}  transformers imported  (seconds, after torch and graphwright.models)")
    for mode, values in rows.items():
        walls, cpus = [w for w, _, _ in values], [c for _, c, _ in values]
        imported = "yes" if any(t for _, _, t in values) else "no"
        print(f"{mode:20} {statistics.median(walls):8.2f} {min(walls):8.2f} {statistics.median(cpus):8.2f} {min(cpus):8.2f}  {imported}")
    if not llama:
        print("llama.cpp: not measured (llama-cpp-python is not installed: pip install -e '.[bench]')")
    stages = probe("stages")
    if stages:
        print("one cached load, stage by stage (wall s / cpu s):")
        for name, value in stages.items():
            if not isinstance(value, list):
                continue
            wall, cpu = value
            print(f"  {name:34} {wall:6.2f} {cpu:6.2f}")


if __name__ == "__main__":
    main()
