"""Learning curves: the assistant's score on a held-back dev split against what it learned and the minutes it took.

What `graphwright learn` does in one step, this does at several sizes, so a user sees what each example and each
minute buys. The source is a GSM8K-style training file; its dev split is held back exactly as `learn` holds
it back (`graphwright.learning.split_tasks`), and nothing learned comes from it.

- `in_context`: the first N expert demonstrations (worked solutions as programs) are embedded in an
  `ExampleMemory`; the assistant gets the `k` nearest as worked examples. One row per N (`--examples`); N = 0 is
  the agent as it is (its packaged examples), the baseline every other row is measured against in this run.
- `lora`: one LoRA adapter trains on the demonstrations' completions (`--lora-train` of them); at each mark
  of `--lora-minutes` a merged copy is saved and the assistant on that model is checked, while training goes
  on from where it was. `--lora-prompt` picks the prompt each demonstration is trained in (the question alone,
  or the code planner's own with `in_agent_prompt`), `--lora-check-examples` whether the checked agent still
  shows its packaged worked examples.

Prints one row per point: method, examples learned from, minutes spent learning (embedding or training),
dev success with its Wilson 95% interval, and the checks' median latency. `--json PATH` also writes the rows.

    .venv/bin/python bench/learning.py --dev-size 30 --examples 0,64,1024 --lora-minutes 5,15

`--keep DIR` copies the last merged LoRA model there (the scratch folder is deleted at exit), so it can be
checked elsewhere: `bench/toolcalls.py --model DIR`, `graphwright eval assistant ... --model DIR`.

`--step-samples 0` checks the assistant with programs only (no step-by-step answers when they split), about a
third of the default's time per task; every row then uses that same agent.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from graphwright.evals import load_tasks, run_eval, wilson_interval  # noqa: E402
from graphwright.graphs import BUILTIN_GRAPHS, AssistantOptions  # noqa: E402
from graphwright.learning import (  # noqa: E402
    ExampleMemory,
    LoraOptions,
    LoraTrainer,
    gsm8k_demonstrations,
    in_agent_prompt,
    split_tasks,
    training_examples,
)
from graphwright.nodes import CodeOptions, no_examples  # noqa: E402

HERE = Path(__file__).resolve().parent
TRAIN = HERE.parents[1] / "shared" / "data" / "gsm8k" / "train.jsonl"


def check(graph: Any, dev: list[Any], folder: Path, concurrency: int) -> tuple[int, float]:
    """Run the assistant on the dev split; return (tasks solved, median seconds per task)."""
    results = run_eval(dev, lambda tools: graph, folder, label="assistant", concurrency=concurrency)
    return sum(bool(r.get("ok")) for r in results), statistics.median(float(r.get("seconds", 0.0)) for r in results)


def row(method: str, examples: int, minutes: float, solved: int, total: int, p50: float) -> dict[str, Any]:
    """One printed row, also kept for `--json`."""
    low, high = wilson_interval(solved, total)
    line = {"method": method, "examples": examples, "learn_minutes": round(minutes, 2), "solved": solved,
            "tasks": total, "success": solved / total, "wilson95": [round(low, 4), round(high, 4)], "p50_s": round(p50, 1)}
    print(f"| {method} | {examples} | {minutes:.1f} | {100 * solved / total:.0f}% ({solved}/{total}) "
          f"| {100 * low:.0f}-{100 * high:.0f}% | {p50:.1f} |", flush=True)
    return line


def main(argv: list[str] | None = None) -> int:
    """Run the curves and print the table; return 0 (2 on bad arguments)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", default=str(TRAIN), help="GSM8K-style training file (default: the GSM8K train split)")
    parser.add_argument("--dev-size", type=int, default=30, help="tasks held back for the checks (default 30)")
    parser.add_argument("--examples", default="0,64,1024", help="in_context: demonstrations embedded, comma-separated")
    parser.add_argument("--k", type=int, default=3, help="in_context: worked examples per question (default 3)")
    parser.add_argument("--lora-minutes", default="", help="lora: minutes of training at each check, comma-separated")
    parser.add_argument("--lora-train", type=int, default=512, help="lora: demonstrations trained on (default 512)")
    parser.add_argument("--lora-prompt", choices=("question", "planner", "planner+examples"), default="planner",
                        help="lora: each demonstration's prompt: the code planner's system prompt and question with "
                             "the program fenced (planner, the default, as `graphwright learn` trains); the question "
                             "alone and the bare program (question); the planner's prompt with its packaged worked "
                             "examples (planner+examples)")
    parser.add_argument("--lora-check-examples", type=lambda s: s.split(","), default=["fixed"],
                        help="lora: the checked agent's worked examples, comma-separated: fixed (its packaged ones, "
                             "the default), none (what was learned is in the weights alone)")
    parser.add_argument("--device", default="cpu", help="where LoRA trains: cpu, cuda, auto (default cpu)")
    parser.add_argument("--step-samples", type=int, default=None,
                        help="the assistant's step-by-step answers when its programs split (default: its own default; "
                             "0: programs only, about a third of the time per task)")
    parser.add_argument("--concurrency", type=int, default=4, help="dev tasks run at once (default 4)")
    parser.add_argument("--json", default=None, metavar="PATH", help="also write the rows as JSON here")
    parser.add_argument("--keep", default=None, metavar="DIR", help="copy the last merged LoRA model here")
    args = parser.parse_args(argv)
    try:
        sizes = sorted({int(n) for n in args.examples.split(",") if n.strip()})
        marks = sorted({float(m) for m in args.lora_minutes.split(",") if m.strip()})
    except ValueError:
        parser.error("--examples takes integers and --lora-minutes numbers, comma-separated")
    if args.dev_size < 1 or args.k < 1 or any(n < 0 for n in sizes) or any(m <= 0 for m in marks):
        parser.error("--dev-size and --k must be at least 1, --examples at least 0, --lora-minutes above 0")
    if args.step_samples is not None and args.step_samples < 0:
        parser.error("--step-samples must be at least 0")
    if not set(args.lora_check_examples) <= {"fixed", "none"}:
        parser.error(f"--lora-check-examples takes fixed and none, got {','.join(args.lora_check_examples)}")
    if args.keep and Path(args.keep).exists():
        parser.error(f"--keep {args.keep}: already exists; give a new folder")

    from graphwright.models import ChatLocal

    train, dev = split_tasks(load_tasks(args.source), args.dev_size)
    held = [t.id for t in dev]
    demos = list(gsm8k_demonstrations(args.source, skip=held, style="program", limit=max([*sizes, args.lora_train, 1])))
    build = BUILTIN_GRAPHS["assistant"]
    if args.step_samples is not None:  # the same agent in every row: only what it learned differs
        options = AssistantOptions(code=CodeOptions(step_samples=args.step_samples))
        build = functools.partial(build, options=options)
    rows: list[dict[str, Any]] = []
    print(f"source {args.source}: {len(train)} training tasks, {len(dev)} held back; {len(demos)} demonstrations read",
          file=sys.stderr)
    print("| method | examples | learn min | dev success | Wilson 95% | p50 s |")
    print("| --- | ---: | ---: | ---: | --- | ---: |", flush=True)
    model = ChatLocal()
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        memory = ExampleMemory(folder / "memory", k=args.k)
        spent, added = 0.0, 0
        for n in sizes:
            began = time.perf_counter()
            memory.add(e for d in demos[added:n] for e in _examples_of(d))
            added = max(added, n)
            spent += (time.perf_counter() - began) / 60
            examples = memory.examples if n > 0 else None  # 0: the agent as it is, its packaged examples
            solved, p50 = check(build(model=model, examples=examples), dev, folder / f"ic-{n}", args.concurrency)
            rows.append(row("in_context" if n else "none (as it is)", n, spent if n else 0.0, solved, len(dev), p50))
        if marks:
            # The planner's packaged examples make a prompt of ~850 tokens; the default bound would leave most out.
            longest = 1280 if args.lora_prompt == "planner+examples" else LoraOptions.max_tokens
            trainer = LoraTrainer(options=LoraOptions(max_tokens=longest), device=args.device)
            chosen = demos[: args.lora_train]
            if args.lora_prompt != "question":  # the code planner's prompt: system, (examples,) question
                chosen = in_agent_prompt(chosen, None if args.lora_prompt == "planner+examples" else no_examples)
            pairs = training_examples(chosen)
            trained, seen = 0.0, 0
            for mark in marks:
                # The clock, not the data, ends each stretch; the adapter and optimizer go on from where they were.
                trainer.options = dataclasses.replace(trainer.options, minutes=mark - trained, epochs=1000)
                result = trainer.train(pairs)
                trained, seen = trained + result.seconds / 60, seen + result.examples
                trainer.save(folder / f"lora-{mark:g}", keep_training=True)
                tuned = ChatLocal(model=str(folder / f"lora-{mark:g}"))
                for shown in args.lora_check_examples:
                    examples = no_examples if shown == "none" else None
                    solved, p50 = check(build(model=tuned, examples=examples), dev,
                                        folder / f"lora-{mark:g}-{shown}-check", args.concurrency)
                    rows.append(row(f"lora ({args.lora_prompt}; examples {shown})", seen, trained, solved, len(dev), p50))
                del tuned  # one fine-tuned model loaded at a time
            if args.keep:
                shutil.copytree(folder / f"lora-{marks[-1]:g}", args.keep)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1) + "\n")
    return 0


def _examples_of(trajectory: Any) -> list[Any]:
    from graphwright.learning import examples_of

    return examples_of(trajectory)


if __name__ == "__main__":
    raise SystemExit(main())
