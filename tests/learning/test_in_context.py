"""Learning in context: successful trajectories in a real Chroma (MiniLM embeddings); the nearest come back,
and the code agent's prompt shows them."""

from __future__ import annotations

from pathlib import Path

from graphwright.learning import ExampleMemory, Trajectory, gsm8k_demonstrations
from graphwright.nodes import Example, code_prompt

TRAIN = Path(__file__).resolve().parents[1] / "data" / "evalsets" / "gsm8k" / "train_head.jsonl"


def test_the_nearest_solved_problems_come_back(tmp_path: Path) -> None:
    demos = list(gsm8k_demonstrations(TRAIN, limit=40, style="program"))
    failed = Trajectory("f1", "eval", "x", "How many clips did Natalia sell to her friends?", 0.0,
                        calls=({"prompt": [{"role": "user", "content": "q"}], "completion": "WRONG"},))
    memory = ExampleMemory(tmp_path / "memory", k=2)
    assert memory.add_trajectories([*demos, failed]) == 40  # the failed attempt is not an example
    again = ExampleMemory(tmp_path / "memory", k=2)  # kept on disk
    assert len(again) == 40
    question = "Natalia sold 30 clips in April and a third as many in May. How many clips in total?"
    scored = again.nearest(question)
    assert len(scored) == 2 and scored[0][1] >= scored[1][1] > 0
    best = scored[0][0]
    assert best.question.startswith("Natalia sold clips") and "step1 = 48 / 2" in best.program
    assert again.examples(question) == [scored[1][0], best]  # the nearest last, next to the question
    assert all("WRONG" not in e.program for e, _ in scored)


def test_episode_steps_are_examples_and_the_callable_fits_a_prompt(tmp_path: Path) -> None:
    steps = ({"observation": "You are in the kitchen. You see a coin.", "valid_actions": ["take coin", "move east"],
              "action": "take coin", "reward": 1.0},)
    won = Trajectory("gold:1", "demonstration", "twx:coin#1", "Find the coin.", 1.0, steps=steps)
    memory = ExampleMemory(":memory:", namespace=("test", "episodes"), k=1)
    memory.add_trajectories([won])
    examples = memory("Task: Find the coin.\nYou see: The kitchen. There is a coin on the floor.")  # callable slot
    assert examples == [Example("Task: Find the coin.\nYou see: You are in the kitchen. You see a coin.", "take coin")]
    assert memory.examples("   ") == []


def test_the_code_agents_prompt_shows_the_learned_examples(tmp_path: Path) -> None:
    from langchain_core.messages import HumanMessage

    memory = ExampleMemory(tmp_path / "memory", k=1)
    memory.add_trajectories(gsm8k_demonstrations(TRAIN, limit=5, style="program"))
    question = "Natalia sold 30 clips in April and a third as many in May. How many clips in total?"
    prompt = code_prompt([HumanMessage(question)], memory.examples)
    text = "\n".join(str(m.content) for m in prompt)
    assert "Natalia sold clips to 48 of her friends" in text and "step1 = 48 / 2" in text
