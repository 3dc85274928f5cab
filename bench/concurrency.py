"""Many runs, one model: the assistant agent at 1, 2, 4, 8 and 16 concurrent runs, batching on and off.

Every level runs as many agent runs as its concurrency (one wave, all started together) on arithmetic
questions, in this one process, with continuous batching on and off (calls one at a time) alternating per level, and
prints completed runs per minute, generated tokens per second, and p50/p95 latency per run, with the ratio of
batched to unbatched throughput. Each level's waves are repeated (`--repeat`, modes alternating) and every figure
is the median over the repeats: one wave's time moves by 10-20% on these shared machines.

Memory: resident memory (RSS, and PSS, the share of shared pages) after the model is loaded, how much of it is
the mapped load cache, and per level the peak RSS above the loaded model divided by the runs (what one more
concurrent run costs). `--processes N` (default 2) then starts N processes that each load the model and wait,
and prints each one's RSS, PSS and shared pages from /proc/PID/smaps_rollup while all are alive: the weights
mapped from the load cache are counted once between them (`--processes 0` skips it).

    .venv/bin/python bench/concurrency.py [--levels 1,2,4,8,16] [--repeat 3] [--max-new-tokens 48] [--quantize int8|none] [--processes 2]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from graphwright.graphs import build_assistant, compile_graph  # noqa: E402
from graphwright.models import BatchingOptions, ChatLocal  # noqa: E402
from graphwright.models._prefix import PrefixCache  # noqa: E402

QUESTIONS = [f"What is {a} * {b} + {c}?" for a, b, c in [(17, 23, 4), (12, 12, 5), (31, 7, 9), (45, 3, 11), (19, 21, 2), (8, 64, 3), (27, 14, 6), (56, 9, 1)]]


def one_run(app, question: str) -> tuple[float, int, bool]:
    """Run the agent once; return (seconds, generated tokens, whether the tool result is in the answer)."""
    started = time.perf_counter()
    result = app.invoke({"messages": [("human", question)]})
    seconds = time.perf_counter() - started
    tokens = sum((m.usage_metadata or {}).get("output_tokens", 0) for m in result["messages"] if m.type == "ai")
    results = [m.text for m in result["messages"] if m.type == "tool"]
    return seconds, tokens, bool(results) and results[-1] in (result.get("answer") or "")


def rollup(pid: int | str = "self") -> dict[str, int]:
    """Memory of process `pid` in MiB from /proc/PID/smaps_rollup: Rss, Pss, Shared_Clean, Private_Dirty, ..."""
    fields = {}
    for line in open(f"/proc/{pid}/smaps_rollup"):
        parts = line.split()
        if len(parts) == 3 and parts[2] == "kB":
            fields[parts[0].rstrip(":")] = int(parts[1]) / 1024
    return fields


def mapped_cache_mib(pid: int | str = "self") -> float:
    """Resident MiB of process `pid` that are pages of a load-cache file (`*.gwpack`)."""
    total, current = 0.0, None
    for line in open(f"/proc/{pid}/smaps"):
        parts = line.split()
        if "-" in parts[0] and len(parts) >= 5 and ":" not in parts[0]:
            current = parts[5] if len(parts) >= 6 else ""
        elif parts[0] == "Rss:" and current and current.endswith(".gwpack"):
            total += int(parts[1]) / 1024
    return total


class PeakRss:
    """Samples this process's RSS every 50 ms while in the block; `peak` is the largest, in MiB."""

    def __enter__(self) -> PeakRss:
        self.peak, self._stop = rollup()["Rss"], threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(0.05):
            self.peak = max(self.peak, rollup()["Rss"])

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


_WAITER = """
import sys, time
from graphwright.models import LocalModel
model = LocalModel.load(None, quantize=None if sys.argv[1] == "none" else sys.argv[1])
model.generate(model.render([{"role": "user", "content": "Hi"}]), max_new_tokens=4)  # every weight read once
print("loaded", model.weights_from, f"in {model.load_seconds:.2f} s", flush=True)
sys.stdin.readline()
"""


def processes(count: int, quantize: str) -> None:
    """Start `count` processes that load the model, answer once and wait; print their memory while all are alive."""
    children = [
        subprocess.Popen([sys.executable, "-c", _WAITER, quantize], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        for _ in range(count)
    ]
    try:
        for child in children:
            print(f"  process {child.pid}: {child.stdout.readline().strip()}", flush=True)
        print(f"{'process':>8} {'RSS MiB':>8} {'PSS MiB':>8} {'shared MiB':>10} {'private MiB':>11} {'cache pages MiB':>15}")
        for child in children:
            m = rollup(child.pid)
            shared, private = m["Shared_Clean"] + m["Shared_Dirty"], m["Private_Clean"] + m["Private_Dirty"]
            print(f"{child.pid:8d} {m['Rss']:8.0f} {m['Pss']:8.0f} {shared:10.0f} {private:11.0f} {mapped_cache_mib(child.pid):15.0f}")
    finally:
        for child in children:
            child.stdin.close()
            child.wait(timeout=60)


def level(app, concurrency: int, scheduler) -> dict:
    """Run `concurrency` agent runs at once and measure them (and the scheduler's prefill and decode time)."""
    questions = [QUESTIONS[i % len(QUESTIONS)] for i in range(concurrency)]
    before = dict(scheduler.seconds), scheduler.prefilled, scheduler.steps
    started = time.perf_counter()
    with PeakRss() as memory, ThreadPoolExecutor(max_workers=concurrency) as pool:
        runs = list(pool.map(lambda q: one_run(app, q), questions))
    wall = time.perf_counter() - started
    latencies = sorted(r[0] for r in runs)
    return {
        "runs_per_min": 60 * len(runs) / wall,
        "tokens_per_s": sum(r[1] for r in runs) / wall,
        "p50": statistics.median(latencies),
        "p95": latencies[min(len(latencies) - 1, round(0.95 * (len(latencies) - 1)))],
        "ok": sum(r[2] for r in runs),
        "runs": len(runs),
        "prefill_s": scheduler.seconds["prefill"] - before[0]["prefill"],
        "decode_s": scheduler.seconds["decode"] - before[0]["decode"],
        "mixed_s": scheduler.seconds["mixed"] - before[0]["mixed"],
        "prefilled": scheduler.prefilled - before[1],
        "steps": scheduler.steps - before[2],
        "peak_mib": memory.peak,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--levels", default="1,2,4,8,16", help="comma-separated concurrency levels")
    parser.add_argument("--repeat", type=int, default=3, help="waves per level and mode; the table shows medians")
    parser.add_argument("--max-new-tokens", type=int, default=48)
    parser.add_argument("--quantize", default="int8", choices=("int8", "int8-lean", "none"), help="decode weights")
    parser.add_argument("--processes", type=int, default=2, help="processes that load the model side by side (0: none)")
    args = parser.parse_args()
    levels = [int(x) for x in args.levels.split(",")]
    quantize = None if args.quantize == "none" else args.quantize
    apps = {}  # one chat model per mode; both share the process's loaded weights and their scheduler
    for mode, batching in (("on", BatchingOptions()), ("off", None)):
        model = ChatLocal(max_new_tokens=args.max_new_tokens, quantize=quantize, batching=batching)
        apps[mode] = compile_graph(build_assistant(model=model))
    local = model.load()
    one_run(apps["on"], QUESTIONS[0])  # warm-up: grammar tokenizer, kernels
    loaded = rollup()
    print(f"loaded model ({local.weights_from}): RSS {loaded['Rss']:.0f} MiB, PSS {loaded['Pss']:.0f} MiB, "
          f"of which load-cache pages {mapped_cache_mib():.0f} MiB", flush=True)
    waves: dict[tuple[str, int], list[dict]] = {}
    for n in levels:
        for _ in range(args.repeat):  # modes alternate within each level, so drifting machine load hits both alike
            for mode, app in apps.items():
                local.prefix_cache = PrefixCache()  # each wave starts cold: no prompt of an earlier one is held
                row = level(app, n, local._scheduler)
                waves.setdefault((mode, n), []).append(row)
                print(f"  batching {mode:3} x{n:<2} {row['runs_per_min']:.1f} runs/min p95 {row['p95']:.2f}s", flush=True)
    table = {key: {field: statistics.median(w[field] for w in rows) for field in rows[0]} for key, rows in waves.items()}
    for key, rows in waves.items():  # answers counted over every wave
        table[key]["ok"], table[key]["runs"] = sum(w["ok"] for w in rows), sum(w["runs"] for w in rows)
    single = table.get(("off", 1), table.get(("on", 1)))
    print(
        f"{'batching':8} {'runs':>4} {'runs/min':>9} {'tok/s':>7} {'p50 s':>7} {'p95 s':>7} {'ok':>7} {'x off':>6} "
        f"{'p95/single':>10} {'prefill s':>9} {'prefilled':>9} {'batched steps':>13} {'decode s':>8} {'mixed s':>7} {'MiB/run':>7}"
    )
    for (mode, n), row in sorted(table.items(), key=lambda item: (item[0][0] == "off", item[0][1])):
        off = table.get(("off", n))
        speedup = row["runs_per_min"] / off["runs_per_min"] if off else float("nan")
        print(
            f"{mode:8} {n:4d} {row['runs_per_min']:9.1f} {row['tokens_per_s']:7.1f} {row['p50']:7.2f} {row['p95']:7.2f} "
            f"{row['ok']:3d}/{row['runs']:<3d} {speedup:6.2f} {row['p95'] / single['p50']:10.2f} "
            f"{row['prefill_s']:9.1f} {round(row['prefilled']):9d} {round(row['steps']):13d} {row['decode_s']:8.1f} {row['mixed_s']:7.1f} "
            f"{max(0.0, row['peak_mib'] - loaded['Rss']) / n:7.1f}"
        )
    if args.processes:
        processes(args.processes, args.quantize)


if __name__ == "__main__":
    main()
