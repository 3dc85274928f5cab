"""An agent that acts: the `env_agent` graph and the `random` floor on one TextWorldExpress coin episode.

    python examples/env_coin.py [--seed N] [--max-steps N] [--random-only]

Each episode is a checkpointed thread; its steps print as they happen. Pictures: env_agent.png, random.png.
"""

from __future__ import annotations

import argparse

from graphwright.graphs import EnvAgentOptions, build_env_agent, build_random_agent, compile_graph, thread_config
from graphwright.memory import open_checkpointer


def play(graph, seed: int, max_steps: int, thread: str) -> dict:
    """Play episode `seed` on a checkpointed thread, printing each action; return the final state."""
    with open_checkpointer(":memory:") as saver:
        compiled = compile_graph(graph, checkpointer=saver)
        config = thread_config(thread, recursion_limit=max_steps + 5)
        for update in compiled.stream({"seed": seed}, config, stream_mode="updates"):
            for node, values in update.items():
                if node == "act":
                    print(f"  {values['steps'][-1]['action']:<28} score={values['score']:.2f}")
        return compiled.get_state(config).values


def main(model=None, seed: int = 0, max_steps: int = 15, random_only: bool = False) -> dict[str, dict]:
    """Play the coin episode `seed` with `random` (and `env_agent` on `model`, the default when None)."""
    options = EnvAgentOptions(max_steps=max_steps)
    spec = f"twx:coin?fold=test&max_steps={max_steps}"
    graphs = {"random": build_random_agent(spec, seed=0, options=options)}
    if not random_only:
        graphs["env_agent"] = build_env_agent(model, spec, options=options)
    finals = {}
    for name, graph in graphs.items():
        print(f"{name}:")
        finals[name] = final = play(graph, seed, max_steps, f"{name}-{seed}")
        print(f"  -> success={final['success']} score={final['score']:.2f} steps={len(final['steps'])}")
    return finals


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-steps", type=int, default=15)
    parser.add_argument("--random-only", action="store_true")
    args = parser.parse_args()
    main(seed=args.seed, max_steps=args.max_steps, random_only=args.random_only)
