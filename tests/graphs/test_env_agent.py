"""The `env_agent` and `random` graphs on real TextWorldExpress games: episodes, errors, resume after SIGKILL."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from graphwright.envs import twx_env
from graphwright.errors import InvalidActionError
from graphwright.graphs import (
    EnvAgentOptions,
    build_env_agent,
    build_random_agent,
    compile_graph,
    load_graph,
    thread_config,
)
from graphwright.graphs._env_agent import STEPS_SNAPSHOT_EVERY, untried_actions
from graphwright.memory import open_checkpointer

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))
import env_episode  # noqa: E402


def _config(thread: str, max_steps: int = 50):
    return thread_config(thread, recursion_limit=max_steps + 5)


def test_random_graph_plays_a_checkpointed_episode_with_valid_actions(tmp_path: Path) -> None:
    with open_checkpointer(tmp_path / "c.sqlite") as saver:
        graph = compile_graph(load_graph("random"), checkpointer=saver)
        final = graph.invoke({"env": "twx:coin?fold=test&max_steps=20", "seed": 0}, _config("ep-1"))
        assert 1 <= len(final["steps"]) <= 20
        assert final["terminated"] or final["truncated"]
        assert all(step["action"] in step["valid_actions"] for step in final["steps"])
        assert final["task"].startswith("Your task is to search") and final["seed"] == 0
        assert not graph.get_state(_config("ep-1")).next  # finished, and every step on disk


def test_gold_policy_through_the_graph_wins_and_the_graphs_draw() -> None:
    with twx_env("cookingworld", fold="test") as env:
        env.reset(seed=2)
        gold = env.gold_actions()
    policy = lambda state: gold[len(state["steps"])]  # noqa: E731
    graph = build_env_agent(env="twx:cookingworld?max_steps=100", policy=policy, options=EnvAgentOptions(max_steps=100))
    final = compile_graph(graph).invoke({"seed": 2}, _config("gold", 100))
    assert final["success"] and final["score"] == 1.0 and final["terminated"]
    assert [s["action"] for s in final["steps"]] == gold[: len(final["steps"])]
    for name in ("env_agent", "random"):
        mermaid = compile_graph(load_graph(name)).get_graph().draw_mermaid()
        assert "observe --> act" in mermaid and "act -.-> act" in mermaid and "act -.-> __end__" in mermaid


def test_a_bad_action_from_a_users_policy_is_a_clear_typed_error() -> None:
    graph = compile_graph(build_env_agent(env="twx:coin", policy=lambda state: "teleport to the coin"))
    with pytest.raises(InvalidActionError, match="'teleport to the coin' is not valid here; the valid actions are: .*'look around'"):
        graph.invoke({"seed": 0}, _config("bad"))


def test_a_shared_environment_instance_serves_interleaved_threads(tmp_path: Path) -> None:
    options = EnvAgentOptions(max_steps=8)
    own = compile_graph(build_random_agent("twx:coin?max_steps=8", seed=3, options=options))
    expected = {seed: own.invoke({"seed": seed}, _config(f"own{seed}"))["steps"] for seed in (1, 4)}
    with twx_env("coin", max_steps=8) as env, open_checkpointer(tmp_path / "s.sqlite") as saver:
        # two episodes on one instance, alternating a few super-steps at a time: each resyncs by replay
        shared = compile_graph(build_random_agent(env, seed=3, options=options), checkpointer=saver)
        runs = {seed: shared.stream({"seed": seed}, _config(f"s{seed}"), stream_mode="updates") for seed in (1, 4)}
        pending = dict(runs)
        while pending:
            for seed, stream in list(pending.items()):
                if next(stream, None) is None:
                    del pending[seed]
        for seed in (1, 4):
            assert shared.get_state(_config(f"s{seed}")).values["steps"] == expected[seed]


def test_an_episode_killed_mid_way_resumes_to_the_same_final_state(tmp_path: Path) -> None:
    db, marker = str(tmp_path / "episodes.sqlite"), tmp_path / "marker"
    proc = subprocess.Popen([sys.executable, str(HERE / "env_episode.py"), db, "killed", str(marker)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while not marker.exists():
        assert proc.poll() is None, proc.stderr.read().decode()
        assert time.monotonic() < deadline, "the episode never reached its 5th action"
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL

    with open_checkpointer(db) as saver:
        graph = compile_graph(env_episode.graph(), checkpointer=saver)  # a fresh environment, in this process
        killed = graph.get_state(env_episode.config("killed"))
        assert killed.next == ("act",) and len(killed.values["steps"]) == 5
        resumed = graph.invoke(None, env_episode.config("killed"))
        clean = graph.invoke(env_episode.EPISODE, env_episode.config("clean"))
    assert len(resumed["steps"]) > 5
    assert resumed == clean


def test_checkpoints_stay_small_as_a_long_episode_grows_and_it_still_resumes(tmp_path: Path) -> None:
    def wander(state):  # valid actions, never the one that ends a coin game: the episode runs to its bound
        valid = [a for a in state["valid_actions"] if a != "take coin"]
        return valid[(7 * len(state["steps"]) + 3) % len(valid)]

    bound = 2 * STEPS_SNAPSHOT_EVERY + 50  # past two full copies of `steps`
    graph = build_env_agent(env=f"twx:coin?max_steps={bound}", policy=wander, options=EnvAgentOptions(max_steps=bound))
    with open_checkpointer(tmp_path / "long.sqlite") as saver:
        compiled = compile_graph(graph, checkpointer=saver)
        final = compiled.invoke({"seed": 2}, _config("long", bound), durability="sync")
        sizes = [size for (size,) in saver.conn.execute(  # after the input's two checkpoints and the reset's
            "SELECT length(checkpoint) FROM checkpoints WHERE thread_id = 'long' ORDER BY checkpoint_id")][3:]
        assert len(final["steps"]) == bound == len(sizes) and final["truncated"]
        early, late = sorted(sizes[10:60]), sorted(sizes[-50:])
        assert late[25] <= 1.5 * early[25]  # a checkpoint holds the step's record, not the episode so far
        assert sum(size > 3 * early[25] for size in sizes) <= bound // STEPS_SNAPSHOT_EVERY  # the full copies
        assert compiled.get_state(_config("long")).values == final
        # resume from the middle, past the first full copy: a fresh environment replays 150 actions
        middle = next(h for h in compiled.get_state_history(_config("long")) if len(h.values.get("steps", ())) == 150)
        assert compiled.invoke(None, middle.config) == final


def test_the_model_policy_builds_one_structured_output_per_distinct_action_set() -> None:
    from langchain_core.runnables import RunnableLambda

    from graphwright.graphs import model_policy

    built = []

    class Chooser:  # the part of a chat model the policy uses: with_structured_output(schema).invoke(messages)
        def with_structured_output(self, schema):
            valid = schema["properties"]["action"]["enum"]
            built.append(valid)
            return RunnableLambda(lambda messages: {"action": valid[-1]})

    decide = model_policy(Chooser(), EnvAgentOptions(explore=False))
    states = [{"task": "t", "observation": "o", "steps": [], "valid_actions": valid}
              for valid in (["east", "west"], ["north"], ["east", "west"], ["north"], ["east", "west"])]
    assert [decide(state) for state in states] == ["west", "north", "west", "north", "west"]
    assert built == [["east", "west"], ["north"]]


def test_exploring_offers_each_action_once_per_state_of_the_world_not_per_reply() -> None:
    kitchen, opened = "Kitchen. A closed door to the east.", "Kitchen. An open door to the east."
    valid = ["inventory", "look around", "move east", "open door to east"]

    def step(place, observation, action):
        return {"place": place, "observation": observation, "action": action, "valid_actions": valid, "reward": 0.0}

    steps = [step(kitchen, kitchen, "inventory"), step(kitchen, "Your inventory is empty.", "look around"),
             step(kitchen, kitchen, "move east")]
    # The no-ops changed the reply's text but not the room: they are not offered again there.
    assert untried_actions({"place": kitchen, "observation": "You can't, the door is closed.", "steps": steps,
                            "valid_actions": valid}) == ["open door to east"]
    # Opening the door changed the room: everything is new again.
    steps.append(step(kitchen, "You can't, the door is closed.", "open door to east"))
    assert untried_actions({"place": opened, "observation": "You open the door.", "steps": steps,
                            "valid_actions": valid}) == valid
    # Where no place is reported, the observation is the state; once all were tried, all are offered.
    bare = [{**s, "place": None} for s in steps]
    assert untried_actions({"observation": kitchen, "steps": bare, "valid_actions": valid}) == ["look around", "open door to east"]
    done = bare + [step(None, kitchen, "look around"), step(None, kitchen, "open door to east")]
    assert untried_actions({"observation": kitchen, "steps": done, "valid_actions": valid}) == valid


@pytest.mark.model
def test_the_real_model_picks_only_valid_actions_under_the_grammar(local_chat_model) -> None:
    options = EnvAgentOptions(max_steps=3)
    graph = compile_graph(build_env_agent(local_chat_model, "twx:cookingworld?max_steps=3", options=options))
    final = graph.invoke({"seed": 5}, _config("model", 3))
    assert len(final["steps"]) == 3
    for step in final["steps"]:
        assert step["action"] in step["valid_actions"], step
    situations = [(s["place"], s["action"]) for s in final["steps"]]
    assert all(place for place, _ in situations)
    assert len(set(situations)) == len(situations)  # never the same action twice in the same state of the world


def test_the_example_plays_the_random_floor(capsys, monkeypatch) -> None:
    monkeypatch.syspath_prepend(str(HERE.parents[1] / "examples"))
    import env_coin

    finals = env_coin.main(seed=1, max_steps=4, random_only=True)
    assert len(finals["random"]["steps"]) <= 4 and "random:" in capsys.readouterr().out
