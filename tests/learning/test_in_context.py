"""Learning in context: successful trajectories in a real Chroma (MiniLM embeddings); the nearest come back."""

from __future__ import annotations

from pathlib import Path

from graphwright.learning import Example, ExampleMemory, Trajectory, format_examples, gsm8k_demonstrations

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
    found = again.examples(question)
    assert len(found) == 2 and found[0].source == "demo:program:train_head-1"
    assert found[0].question.startswith("Natalia sold clips") and "step1 = 48/2" in found[0].solution
    assert found[0].score >= found[1].score > 0
    assert all("WRONG" not in e.solution for e in found)


def test_episode_steps_are_examples_and_the_callable_fits_a_prompt(tmp_path: Path) -> None:
    steps = ({"observation": "You are in the kitchen. You see a coin.", "valid_actions": ["take coin", "move east"],
              "action": "take coin", "reward": 1.0},)
    won = Trajectory("gold:1", "demonstration", "twx:coin#1", "Find the coin.", 1.0, steps=steps)
    memory = ExampleMemory(":memory:", namespace=("test", "episodes"), k=1)
    memory.add_trajectories([won])
    examples = memory("Task: Find the coin.\nYou see: The kitchen. There is a coin on the floor.")  # callable slot
    assert [e.solution for e in examples] == ["take coin"]
    text = format_examples(examples)
    assert "Question: Task: Find the coin." in text and text.endswith("take coin")
    assert format_examples([]) == "" and memory.examples("   ") == []
    assert isinstance(examples[0], Example)
