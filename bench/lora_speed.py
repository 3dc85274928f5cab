"""LoRA training speed on the default model: trained tokens/s with the output layer on completion positions only
against every position (the same loss), on GSM8K training solutions (short prompt, long completion) or
TextWorldExpress gold-path steps as `env_agent` prompts (long prompt, a short action).

    .venv/bin/python bench/lora_speed.py [--source gsm8k|coin] [--examples 4] [--steps 3] [--device cpu]

Each mode gets one warm-up step (not counted), then `--steps` timed steps of `--examples` examples each,
alternating modes step by step so load on the machine falls on both alike. Prints one table.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

TRAIN = Path(__file__).resolve().parents[2] / "shared" / "data" / "gsm8k" / "train.jsonl"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=4, help="examples per step (one batch)")
    parser.add_argument("--steps", type=int, default=3, help="timed steps per mode")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--source", default="gsm8k", choices=["gsm8k", "coin"])
    args = parser.parse_args()

    import torch

    from graphwright.learning import (
        LoraOptions,
        LoraTrainer,
        gsm8k_demonstrations,
        training_examples,
        twx_demonstrations,
    )

    if args.source == "gsm8k":
        demos = list(gsm8k_demonstrations(TRAIN, limit=args.examples, style="program"))
    else:
        demos = list(twx_demonstrations("coin", [0, 1], fold="train"))
    examples = training_examples(demos)[: args.examples]
    trainer = LoraTrainer(options=LoraOptions(batch_size=args.examples), device=args.device)
    encoded = [trainer.encode(e) for e in examples]
    tokens = sum(len(ids) for ids, _ in encoded)
    completion = sum(len(ids) - n for ids, n in encoded)
    modes = {"completion positions": True, "every position": False}
    times: dict[str, list[float]] = {m: [] for m in modes}
    losses: dict[str, float] = {}
    for step in range(args.steps + 1):
        for mode, sliced in modes.items():
            started = time.perf_counter()
            loss, _ = trainer.loss(encoded, [1.0] * len(encoded), completion_logits_only=sliced)
            trainer.optimizer.zero_grad(set_to_none=True)
            loss.backward()  # no optimizer step: both modes time the same weights
            if args.device.startswith("cuda"):
                torch.cuda.synchronize()
            if step > 0:
                times[mode].append(time.perf_counter() - started)
            losses[mode] = float(loss.detach())
    print(f"{args.source}: {len(encoded)} examples/step, {tokens} tokens/step ({completion} completion), {args.steps} timed steps, "
          f"torch threads {torch.get_num_threads()}, device {args.device}")
    print("| output layer on | s/step (median) | trained tokens/s | loss |")
    print("|---|---:|---:|---:|")
    for mode in modes:
        median = sorted(times[mode])[len(times[mode]) // 2]
        print(f"| {mode} | {median:.2f} | {tokens / median:.1f} | {losses[mode]:.4f} |")


if __name__ == "__main__":
    main()
