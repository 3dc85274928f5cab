"""Learning from experience: trajectories with rewards kept in one store, learned in context and in the weights.

- `ExperienceStore` keeps trajectories (`Trajectory`) from eval runs, environment episodes and expert
  demonstrations in one SQLite file, in one documented record format (see `graphwright.learning._experience`).
- `ExampleMemory` embeds the successful ones in Chroma and returns the nearest as worked examples (the code
  agent's `graphwright.nodes.Example`): `memory.examples` plugs into its example slot.
- `LoraTrainer` / `train_lora` fine-tune the local model with LoRA on rewarded completions
  (J = sum_i r_i log p(b_i), completion tokens only) and save a merged model folder `ChatLocal` loads.
- `learn` runs the loop: collect, filter, learn, check on a held-back dev split, keep only what is better.

Names load lazily: importing this package does not import torch, PEFT or chromadb.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "ExampleMemory": "._in_context",
    "ExperienceStore": "._experience",
    "FORMAT": "._experience",
    "LearnOptions": "._learn",
    "Learned": "._learn",
    "LoraOptions": "._lora",
    "LoraResult": "._lora",
    "LoraTrainer": "._lora",
    "SOURCES": "._experience",
    "TrainingExample": "._lora",
    "Trajectory": "._experience",
    "calls_of": "._experience",
    "examples_of": "._in_context",
    "from_episodes": "._experience",
    "from_eval_results": "._experience",
    "gsm8k_demonstrations": "._experience",
    "gsm8k_solution_text": "._experience",
    "in_agent_prompt": "._lora",
    "learn": "._learn",
    "load_learned": "._learn",
    "open_examples": "._in_context",
    "pick_device": "._lora",
    "pick_dtype": "._lora",
    "render_learn_html": "._page",
    "split_tasks": "._learn",
    "save_learn_html": "._page",
    "train_lora": "._lora",
    "training_examples": "._lora",
    "twx_demonstrations": "._experience",
}

__all__ = sorted(_EXPORTS)

if TYPE_CHECKING:
    from ._experience import (
        FORMAT,
        SOURCES,
        ExperienceStore,
        Trajectory,
        calls_of,
        from_episodes,
        from_eval_results,
        gsm8k_demonstrations,
        gsm8k_solution_text,
        twx_demonstrations,
    )
    from ._in_context import ExampleMemory, examples_of, open_examples
    from ._learn import Learned, LearnOptions, learn, load_learned, split_tasks
    from ._lora import (
        LoraOptions,
        LoraResult,
        LoraTrainer,
        TrainingExample,
        in_agent_prompt,
        pick_device,
        pick_dtype,
        train_lora,
        training_examples,
    )
    from ._page import render_learn_html, save_learn_html


def __getattr__(name: str) -> Any:
    """Import the module that defines public name `name` on first use and return the name."""
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
