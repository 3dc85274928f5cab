"""Plays one random-policy TextWorldExpress episode on a checkpointed thread, for the SIGKILL-resume test.

    python env_episode.py DB THREAD [MARKER]

With MARKER, the policy writes that file once 5 actions are taken and then hangs in its next decision, so the
test can kill the process mid-episode at a known point.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from graphwright.graphs import EnvAgentOptions, build_env_agent, compile_graph, random_policy, thread_config
from graphwright.memory import open_checkpointer

SPEC = "twx:coin?fold=test&max_steps=25"
OPTIONS = EnvAgentOptions(max_steps=25)
EPISODE = {"seed": 7}
"""The episode: the test fold's 8th coin game."""


def graph(marker: Path | None = None):
    """The random agent's graph, hanging after 5 actions when `marker` is given."""
    pick = random_policy(seed=11)

    def policy(state):
        if marker is not None and len(state.get("steps") or []) >= 5:
            marker.write_text("5 actions taken")
            time.sleep(600)
        return pick(state)

    return build_env_agent(env=SPEC, options=OPTIONS, policy=policy)


def config(thread: str):
    """The run config of an episode's thread (each action is one super-step)."""
    return thread_config(thread, recursion_limit=OPTIONS.max_steps + 5)


if __name__ == "__main__":
    db, thread = sys.argv[1], sys.argv[2]
    marker = Path(sys.argv[3]) if len(sys.argv) > 3 else None
    with open_checkpointer(db) as saver:
        # durability "sync": each step is on disk before the next starts, so the kill point is known exactly
        compile_graph(graph(marker), checkpointer=saver).invoke(EPISODE, config(thread), durability="sync")
