"""Learning in the weights: LoRA fine-tuning of the local model on rewarded completions, merged into a model folder.

The objective is the reward-weighted likelihood J = sum_i r_i log p(b_i): each training example is a prompt
(chat messages), the completion b_i the model (or an expert) wrote for it, and the reward r_i it earned.
With rewards of 1 for what passed and examples of reward 0 left out, this is rejection-sampling fine-tuning;
with expert demonstrations it is imitation. The loss is the negative of J over the completion tokens only,
divided by their count: prompt tokens are context, never targets.

Only completion positions need the output layer (a 151,936-word projection for the default model), so the
hidden states are sliced to the positions that predict a completion token before `lm_head` runs
(`completion_logits_only`, on by default): the same loss, with the output layer's work and its float32
logits cut to the completion's size. Off computes every position's logits; bench/README.md has both speeds.

Training goes through PEFT (`LoraConfig` on every linear projection of the decoder). `LoraTrainer.save`
merges the adapter into the weights and writes a plain Transformers folder (safetensors, config, tokenizer,
chat template), written under a temporary name and renamed into place, that `ChatLocal(model=PATH)` loads
and quantizes to int8 like the default model.

On the CPU, each step's activations (several GB for a batch of long examples) are freed to the C heap, which
keeps them: the shapes change from step to step, the heap fragments, and a 45-minute run on a 24 GiB machine
grew to 24 GiB and was killed. When less than `HEAP_TRIM_BELOW` of the machine's memory is left, a step ends
by handing the heap's free pages back (`release_free_heap`); trimming after every step instead cost about a
sixth of the tokens per second.
"""

from __future__ import annotations

import copy
import json
import math
import os
import random
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import LearningError
from ._experience import Trajectory, calls_of

if TYPE_CHECKING:
    from ..nodes import ExampleSource

HEAP_TRIM_BELOW = 0.4
"""Share of the machine's memory still available under which a CPU training step returns the heap's free pages."""

__all__ = [
    "LoraOptions",
    "LoraResult",
    "LoraTrainer",
    "TARGET_MODULES",
    "TrainingExample",
    "in_agent_prompt",
    "pick_device",
    "pick_dtype",
    "train_lora",
    "training_examples",
]

TARGET_MODULES = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
"""The linear projections LoRA adapts: every one in a Qwen2/Llama-style decoder layer."""


@dataclass(frozen=True)
class LoraOptions:
    """How to fine-tune: the adapter's shape, the optimizer, the budget."""

    rank: int = 16
    """LoRA rank r of each adapted projection."""
    alpha: int = 32
    """LoRA scaling numerator (the update is scaled by alpha / r)."""
    dropout: float = 0.0
    """Dropout on the adapter's input (0: deterministic steps, for tiny runs)."""
    targets: tuple[str, ...] = TARGET_MODULES
    """Names of the linear layers that get adapters."""
    learning_rate: float = 2e-4
    """AdamW learning rate of the adapter weights."""
    batch_size: int = 4
    """Examples per optimizer step."""
    epochs: int = 1
    """Passes over the examples (ended early by `max_steps` or `minutes`)."""
    max_steps: int | None = None
    """Stop after this many optimizer steps; None: as many as `epochs` gives."""
    minutes: float | None = None
    """Stop after the step that crosses this wall-clock budget; None: no time bound."""
    max_tokens: int = 768
    """Longest example, prompt and completion, in tokens; longer examples are left out (counted in the result)."""
    dtype: str = "auto"
    """Dtype of the frozen base weights while training (the adapters are kept in float32): `bfloat16`,
    `float32`, or `auto`: bfloat16 on a GPU and on CPUs with bfloat16 instructions (AVX-512 BF16, AMX), float32
    on the others, where bfloat16 matrix products are emulated and several times slower. The merged model is
    saved in bfloat16 unless a dtype is named."""
    completion_logits_only: bool = True
    """Run the output layer on completion positions only (the same loss, far less compute)."""
    seed: int = 0
    """Seed for the adapter's initialization and the example order."""


@dataclass(frozen=True)
class TrainingExample:
    """One completion to learn: the prompt it answered, what was written, and its weight (the reward)."""

    prompt: tuple[dict[str, Any], ...]
    """Chat messages (`role`, `content`) the completion answered."""
    completion: str
    """The assistant's text to make more likely."""
    weight: float = 1.0
    """The reward r_i multiplying this example's log-likelihood (must be >= 0)."""


@dataclass
class LoraResult:
    """What a training run did."""

    steps: int = 0
    """Optimizer steps taken."""
    examples: int = 0
    """Examples trained on (each counted once per epoch it was seen)."""
    skipped: int = 0
    """Examples left out for being longer than `max_tokens`."""
    tokens: int = 0
    """Tokens through the model (prompt and completion, padding excluded)."""
    completion_tokens: int = 0
    """Completion tokens the loss was taken over."""
    seconds: float = 0.0
    """Wall time of the steps (loading excluded)."""
    losses: list[float] = field(default_factory=list)
    """The loss of each step."""

    @property
    def tokens_per_second(self) -> float:
        """Trained tokens (prompt and completion) per second of stepping."""
        return self.tokens / self.seconds if self.seconds else 0.0

    def summary(self) -> dict[str, Any]:
        """Return the result as a JSON-ready dict."""
        return {
            "steps": self.steps, "examples": self.examples, "skipped": self.skipped, "tokens": self.tokens,
            "completion_tokens": self.completion_tokens, "seconds": round(self.seconds, 3),
            "tokens_per_second": round(self.tokens_per_second, 2),
            "first_loss": self.losses[0] if self.losses else None, "last_loss": self.losses[-1] if self.losses else None,
        }


def training_examples(trajectories: Iterable[Trajectory], *, min_reward: float = 1e-9) -> list[TrainingExample]:
    """Turn trajectories into training examples, weighted by reward; those below `min_reward` are left out.

    A question task gives one example per model call; an environment episode one per step, its prompt the
    `env_agent`'s (task, recent steps, observation, valid actions) and its completion the action as the agent
    answers it, `{"action": "..."}`.

    Example:
        >>> t = Trajectory("d1", "demonstration", "t1", "6*7?", 1.0,
        ...                calls=({"prompt": [{"role": "user", "content": "6*7?"}], "completion": "42"},))
        >>> training_examples([t])
        [TrainingExample(prompt=({'role': 'user', 'content': '6*7?'},), completion='42', weight=1.0)]
    """
    made: list[TrainingExample] = []
    for trajectory in trajectories:
        if trajectory.reward < min_reward:
            continue
        if trajectory.steps is not None:
            made.extend(_step_examples(trajectory))
            continue
        for call in calls_of(trajectory):
            made.append(TrainingExample(tuple(call["prompt"]), call["completion"], float(trajectory.reward)))
    return made


def in_agent_prompt(trajectories: Iterable[Trajectory], examples: ExampleSource | None = None) -> list[Trajectory]:
    """Return the trajectories with each program demonstration's call as the assistant's code planner makes it;
    every other trajectory as it is.

    A program demonstration (`gsm8k_demonstrations(style="program")`) holds the question alone as its prompt and
    the bare program as its completion. The code planner sends its system prompt, worked examples as earlier
    turns and then the question, and reads the program from a ```python block. Trained on the bare form, the
    weights learn to answer a prompt the agent never sends; rewritten here, imitation trains on the very prompt
    the agent decides under (`graphwright.nodes.code_prompt`) and on the reply it parses.

    Args:
        trajectories: any trajectories; only demonstrations of style `program` change.
        examples: the planner's example slot (`graphwright.nodes.ExampleSource`); None: the assistant's
            packaged worked examples (`graphwright.nodes.TRAINING_EXAMPLES`), what `assistant` uses by default.

    Example:
        >>> from graphwright.nodes import Example, fixed_examples
        >>> t = Trajectory("d1", "demonstration", "t1", "6*7?", 1.0, meta={"style": "program"},
        ...                calls=({"prompt": [{"role": "user", "content": "6*7?"}], "completion": "print(6*7)"},))
        >>> call = in_agent_prompt([t], fixed_examples([Example("1+1?", "print(1+1)")]))[0].calls[0]
        >>> [m["role"] for m in call["prompt"]], call["completion"]
        (['system', 'user', 'assistant', 'user'], '```python\\nprint(6*7)\\n```')
    """
    from langchain_core.messages import HumanMessage

    from ..nodes import TRAINING_EXAMPLES, code_prompt, fenced_program, fixed_examples

    source = fixed_examples(TRAINING_EXAMPLES) if examples is None else examples
    made = []
    for trajectory in trajectories:
        if trajectory.source != "demonstration" or trajectory.meta.get("style") != "program" or not trajectory.calls:
            made.append(trajectory)
            continue
        prompt = code_prompt([HumanMessage(trajectory.task)], source)
        call = {
            "prompt": [{"role": _ROLE[m.type], "content": m.text} for m in prompt],
            "completion": fenced_program(trajectory.calls[-1]["completion"]),
        }
        made.append(replace(trajectory, calls=(call,)))
    return made


def _step_examples(trajectory: Trajectory) -> list[TrainingExample]:
    from ..graphs import prompt_messages

    made = []
    steps = list(trajectory.steps or [])
    for index, step in enumerate(steps):
        state = {"task": trajectory.task, "observation": step["observation"], "valid_actions": step.get("valid_actions"),
                 "steps": steps[:index]}
        prompt = tuple({"role": _ROLE[m.type], "content": str(m.content)} for m in prompt_messages(state))  # type: ignore[arg-type]
        made.append(TrainingExample(prompt, json.dumps({"action": step["action"]}), float(trajectory.reward)))
    return made


_ROLE = {"system": "system", "human": "user", "ai": "assistant"}


def release_free_heap(below: float = HEAP_TRIM_BELOW) -> bool:
    """Return the C heap's free pages to the system when less than `below` of the machine's memory is available
    (Linux with glibc; elsewhere nothing happens); return whether it did.

    Example:
        >>> release_free_heap(below=0.0)  # more than nothing is always available: nothing to do
        False
    """
    try:
        fields = dict(line.split(":", 1) for line in Path("/proc/meminfo").read_text().splitlines())
        total, available = (int(fields[k].split()[0]) for k in ("MemTotal", "MemAvailable"))
    except (OSError, KeyError, ValueError):
        return False
    if available >= below * total:
        return False
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return bool(libc.malloc_trim(0))
    except (OSError, AttributeError):  # not glibc
        return False


def pick_device(device: str = "cpu") -> str:
    """Return the torch device to train on: `cpu`, `cuda` (`cuda:N`), or `auto` (cuda when available, else cpu).

    Raises:
        LearningError: cuda was asked for and is not available.
    """
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise LearningError(f"device {device!r} asked for, but torch sees no CUDA device; use --device cpu")
    if device != "cpu" and not device.startswith("cuda"):
        raise LearningError(f"device must be cpu, cuda, cuda:N or auto, got {device!r}")
    return device


def pick_dtype(dtype: str, device: str) -> str:
    """Return the dtype to train in on `device`: `dtype` itself, or for `auto` bfloat16 on CUDA and on CPUs
    with bfloat16 instructions (`avx512_bf16` or `amx_bf16` in /proc/cpuinfo), float32 elsewhere.

    Raises:
        LearningError: `dtype` is not `auto`, `bfloat16`, `float16` or `float32`.

    Example:
        >>> pick_dtype("float32", "cpu"), pick_dtype("auto", "cuda")
        ('float32', 'bfloat16')
    """
    if dtype not in ("auto", "bfloat16", "float16", "float32"):
        raise LearningError(f"dtype must be auto, bfloat16, float16 or float32, got {dtype!r}")
    if dtype != "auto":
        return dtype
    if device.startswith("cuda"):
        return "bfloat16"
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as handle:
            flags = next((line.split(":", 1)[1].split() for line in handle if line.startswith("flags")), [])
    except OSError:  # not Linux: float32 is never the slow choice on a CPU
        flags = []
    return "bfloat16" if {"avx512_bf16", "amx_bf16"} & set(flags) else "float32"


class LoraTrainer:
    """A LoRA adapter being trained on a copy of a local model, then merged and saved as a model folder.

    Example (slow: loads the model; see tests/learning/test_lora.py):
        trainer = LoraTrainer()                         # the packaged default model, on the CPU
        result = trainer.train(examples)                # examples: list[TrainingExample]
        trainer.save("learned-model")                   # ChatLocal(model="learned-model") loads it
    """

    def __init__(self, base: str | os.PathLike[str] | None = None, *, options: LoraOptions = LoraOptions(),
                 device: str = "cpu") -> None:
        """Load the base model's dense weights and tokenizer and wrap the model with LoRA adapters.

        Args:
            base: None for the packaged default model, a `.gguf` file, or a Transformers model folder (the
                same references `ChatLocal(model=...)` takes).
            options: adapter shape, optimizer and budget.
            device: `cpu` (the default), `cuda`, `cuda:N`, or `auto`.

        Raises:
            ModelNotFoundError: `base` names no model.
            LearningError: the model cannot be loaded or wrapped, or the device is unavailable.
        """
        import torch
        from peft import LoraConfig, get_peft_model
        from transformers import AutoModelForCausalLM, AutoTokenizer

        from ..models import resolve

        self.options = options
        self.device = pick_device(device)
        self.dtype = pick_dtype(options.dtype, self.device)
        self.base = resolve(base).folder
        torch.manual_seed(options.seed)
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(self.base, local_files_only=True)
            model = AutoModelForCausalLM.from_pretrained(self.base, dtype=getattr(torch, self.dtype), local_files_only=True)
        except Exception as exc:  # transformers raises many types for a bad folder
            raise LearningError(f"cannot load {str(self.base)!r} for training: {exc}") from exc
        if self.tokenizer.chat_template is None:
            raise LearningError(f"model {str(self.base)!r} has no chat template; completions are learned in its chat format")
        config = LoraConfig(r=options.rank, lora_alpha=options.alpha, lora_dropout=options.dropout,
                            target_modules=list(options.targets), task_type="CAUSAL_LM")
        try:
            self.model = get_peft_model(model, config).to(self.device)
        except ValueError as exc:
            raise LearningError(f"cannot add LoRA adapters to {list(options.targets)}: {exc}") from exc
        self.model.train()
        trainable = [p for p in self.model.parameters() if p.requires_grad]
        self.optimizer = torch.optim.AdamW(trainable, lr=options.learning_rate, weight_decay=0.0)
        pad = self.tokenizer.pad_token_id
        self.pad_id = int(pad if pad is not None else self.tokenizer.eos_token_id)

    def encode(self, example: TrainingExample) -> tuple[list[int], int]:
        """Return the example's token ids (prompt then completion) and how many of them are the prompt.

        The prompt is the chat template's rendering with the generation prompt, tokenized alone, as at
        inference; the completion is what the template writes after it for the assistant's turn, its
        end-of-turn token included (the model learns to stop).
        """
        messages = [dict(m) for m in example.prompt]
        prompt = self.tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        full = self.tokenizer.apply_chat_template(
            [*messages, {"role": "assistant", "content": example.completion}], tokenize=False
        )
        if not full.startswith(prompt):
            raise LearningError("the chat template renders the assistant's turn differently from its generation prompt")
        completion = full[len(prompt):].rstrip("\n")
        prompt_ids = self.tokenizer(prompt, add_special_tokens=False)["input_ids"]
        completion_ids = self.tokenizer(completion, add_special_tokens=False)["input_ids"]
        return prompt_ids + completion_ids, len(prompt_ids)

    def loss(self, encoded: Sequence[tuple[list[int], int]], weights: Sequence[float], *,
             completion_logits_only: bool | None = None) -> tuple[Any, int]:
        """Return the reward-weighted negative log-likelihood of a batch's completions, and their token count.

        Args:
            encoded: `(ids, prompt_length)` per example (see `encode`).
            weights: each example's reward.
            completion_logits_only: run the output layer on completion positions only; None: the options' say.
        """
        import torch
        import torch.nn.functional as F

        width = max(len(ids) for ids, _ in encoded)
        ids = torch.full((len(encoded), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(encoded), width), dtype=torch.long)
        targets = torch.zeros((len(encoded), width), dtype=torch.bool)  # positions whose token is a completion token
        weight = torch.zeros((len(encoded), width), dtype=torch.float32)
        for row, ((tokens, prompt), w) in enumerate(zip(encoded, weights)):
            ids[row, : len(tokens)] = torch.tensor(tokens)
            mask[row, : len(tokens)] = 1
            targets[row, prompt : len(tokens)] = True
            weight[row, :] = float(w)
        ids, mask, targets, weight = (t.to(self.device) for t in (ids, mask, targets, weight))
        inner = self.model.get_base_model()
        hidden = inner.model(input_ids=ids, attention_mask=mask).last_hidden_state
        predicts = targets[:, 1:]  # position t predicts token t + 1
        labels = ids[:, 1:][predicts]
        sliced = self.options.completion_logits_only if completion_logits_only is None else completion_logits_only
        if sliced:
            logits = inner.lm_head(hidden[:, :-1][predicts])
        else:
            logits = inner.lm_head(hidden)[:, :-1][predicts]
        nll = F.cross_entropy(logits.float(), labels, reduction="none")
        count = int(labels.numel())
        return (nll * weight[:, 1:][predicts]).sum() / max(count, 1), count

    def train(self, examples: Sequence[TrainingExample],
              on_step: Callable[[int, float], None] | None = None) -> LoraResult:
        """Train the adapter on `examples` within the options' budget and return what it did.

        Args:
            examples: what to learn; examples of weight 0 add nothing and are left out.
            on_step: called as `on_step(step, loss)` after each optimizer step (for progress).

        Raises:
            LearningError: no example fits `max_tokens`, or a weight is negative.
        """
        if any(e.weight < 0 for e in examples):
            raise LearningError("rewards must be >= 0 for J = sum r_i log p(b_i); shift them or drop the negative ones")
        result = LoraResult()
        encoded: list[tuple[tuple[list[int], int], float]] = []
        for example in examples:
            if example.weight == 0:
                continue
            tokens = self.encode(example)
            if len(tokens[0]) > self.options.max_tokens or len(tokens[0]) == tokens[1]:
                result.skipped += 1
                continue
            encoded.append((tokens, example.weight))
        if not encoded:
            raise LearningError(f"no training example fits {self.options.max_tokens} tokens ({result.skipped} left out)")
        rng = random.Random(self.options.seed)
        size = max(1, self.options.batch_size)
        per_epoch = math.ceil(len(encoded) / size)
        total = per_epoch * self.options.epochs
        if self.options.max_steps is not None:
            total = min(total, self.options.max_steps)
        deadline = None if self.options.minutes is None else time.perf_counter() + 60 * self.options.minutes
        order: list[int] = []
        started = time.perf_counter()
        for step in range(total):
            if not order:
                order = list(range(len(encoded)))
                rng.shuffle(order)
            chosen = [encoded[order.pop()] for _ in range(min(size, len(order)))]
            loss, count = self.loss([c[0] for c in chosen], [c[1] for c in chosen])
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
            result.steps += 1
            result.examples += len(chosen)
            result.tokens += sum(len(c[0][0]) for c in chosen)
            result.completion_tokens += count
            result.losses.append(round(float(loss.detach()), 6))
            if self.device == "cpu":
                release_free_heap()
            if on_step is not None:
                on_step(step + 1, result.losses[-1])
            if deadline is not None and time.perf_counter() >= deadline:
                break
        result.seconds = time.perf_counter() - started
        return result

    def evaluate(self, examples: Sequence[TrainingExample]) -> float:
        """Return the weighted completion loss of `examples` under the current weights (no training)."""
        import torch

        self.model.eval()
        try:
            with torch.no_grad():
                encoded = [self.encode(e) for e in examples]
                loss, _ = self.loss(encoded, [e.weight for e in examples])
            return float(loss)
        finally:
            self.model.train()

    def save(self, out: str | os.PathLike[str], *, keep_training: bool = False) -> Path:
        """Merge the adapter into the weights and write a model folder at `out` that `ChatLocal` loads.

        The folder holds `model.safetensors`, `config.json`, `generation_config.json`, the tokenizer files and
        `chat_template.jinja`, plus `learning.json` naming the base model and the adapter's options. It is
        written under a temporary name beside `out` and renamed into place; an existing `out` is replaced.
        The trainer's model is merged in place: train no further after saving, unless `keep_training`, where a
        copy is merged (twice the model's memory for a moment) and training can go on (a learning curve's
        snapshots).

        Raises:
            LearningError: the folder cannot be written.
        """
        import torch

        target = Path(out)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}-"))
        try:
            model = copy.deepcopy(self.model) if keep_training else self.model
            saved = "bfloat16" if self.options.dtype == "auto" else self.options.dtype
            merged = model.merge_and_unload().to("cpu", dtype=getattr(torch, saved))
            merged.eval()
            merged.save_pretrained(tmp)
            self.tokenizer.save_pretrained(tmp)
            if not (tmp / "chat_template.jinja").exists() and (self.base / "chat_template.jinja").exists():
                shutil.copy2(self.base / "chat_template.jinja", tmp / "chat_template.jinja")
            (tmp / "learning.json").write_text(json.dumps(
                {"base": str(self.base), "method": "lora", "rank": self.options.rank, "alpha": self.options.alpha,
                 "targets": list(self.options.targets)}, indent=1) + "\n")
            os.chmod(tmp, 0o755)
            if target.exists():
                shutil.rmtree(target)
            os.replace(tmp, target)
        except OSError as exc:
            raise LearningError(f"cannot save the merged model to {str(target)!r}: {exc}") from exc
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return target


def train_lora(examples: Sequence[TrainingExample], out: str | os.PathLike[str], *, base: str | os.PathLike[str] | None = None,
               options: LoraOptions = LoraOptions(), device: str = "cpu",
               on_step: Callable[[int, float], None] | None = None) -> LoraResult:
    """Fine-tune `base` on `examples` with LoRA, merge, and save the model folder `out`; return what was done.

    Raises:
        LearningError: nothing to train on, the device is unavailable, or the folder cannot be written.
        ModelNotFoundError: `base` names no model.
    """
    trainer = LoraTrainer(base, options=options, device=device)
    result = trainer.train(examples, on_step=on_step)
    trainer.save(out)
    return result
