"""The environment adapters against the real engines: TextWorldExpress's JVM and Gymnasium's CartPole."""

from __future__ import annotations

import pytest

from graphwright.envs import (
    TWX_GAMES,
    TextEnv,
    cartpole_env,
    cartpole_parse,
    make_env,
    parse_env_spec,
    twx_env,
    wrap_gym,
)
from graphwright.errors import EnvSetupError, EpisodeStateError, GraphwrightError, InvalidActionError


@pytest.fixture(scope="module")
def coin():
    env = twx_env("coin", fold="test", max_steps=30)
    yield env
    env.close()


def test_reset_gives_text_and_the_info_agents_read(coin) -> None:
    observation, info = coin.reset(seed=3)
    assert isinstance(coin, TextEnv) and isinstance(observation, str) and "kitchen" in observation
    assert info["task"].startswith("Your task is to search the environment and find the coin")
    assert info["valid_actions"] == sorted(info["valid_actions"]) and "look around" in info["valid_actions"]
    assert (info["seed"], info["step"], info["score"], info["success"]) == (3, 0, 0.0, False)
    assert coin.observation_space.contains(observation) and coin.action_space.contains("look around")
    again, _ = coin.reset(seed=3)
    assert again == observation  # a seed names one episode


def test_the_gold_path_solves_the_episode() -> None:
    # The engine's gold path is one expert route and its length varies between calls: room for all of it.
    with twx_env("coin", fold="test", max_steps=100) as coin:
        coin.reset(seed=0)
        gold = coin.gold_actions()
        assert gold and gold[-1] == "take coin"
        rewards = []
        for action in gold:
            _, reward, terminated, truncated, info = coin.step(action)
            rewards.append(reward)
        assert (terminated, truncated, info["success"], info["score"], info["step"]) == (True, False, True, 1.0, len(gold))
        assert sum(rewards) == pytest.approx(1.0)
        with pytest.raises(EpisodeStateError, match="ended after"):
            coin.step("look around")


def test_a_bad_action_is_a_typed_error_naming_it_and_the_valid_ones(coin) -> None:
    _, info = coin.reset(seed=1)
    with pytest.raises(InvalidActionError) as caught:
        coin.step("fly to the moon")
    error = caught.value
    assert isinstance(error, GraphwrightError) and isinstance(error, ValueError)
    assert error.action == "fly to the moon" and error.valid_actions == info["valid_actions"]
    assert "'fly to the moon' is not valid here" in str(error) and "'look around'" in str(error)
    assert coin.step("look around")[4]["step"] == 1  # the bad action did not count as a step


def test_steps_are_bounded_and_seeds_stay_in_their_fold(coin) -> None:
    coin.reset(seed=2)
    for _ in range(29):
        assert coin.step("look around")[3] is False
    assert coin.step("look around")[2:4] == (False, True)
    with pytest.raises(EnvSetupError, match="seeds 0..999"):
        coin.reset(seed=1000)
    assert coin.seeds[0] == 20000  # the test fold's first game


@pytest.mark.parametrize("game", TWX_GAMES)
def test_every_game_resets_and_its_gold_path_wins(game: str) -> None:
    with twx_env(game, fold="dev", max_steps=100) as env:
        _, info = env.reset(seed=0)
        assert info["valid_actions"] and info["task"]
        for action in env.gold_actions():
            *_, terminated, truncated, info = env.step(action)
            if terminated:
                break
        assert info["success"] and info["score"] >= 1.0 - 1e-9


def test_step_before_reset_and_unknown_games_are_clear_errors() -> None:
    with pytest.raises(EnvSetupError, match="unknown TextWorldExpress game 'chess'"):
        twx_env("chess")
    with pytest.raises(EnvSetupError, match="unknown fold 'val'"):
        twx_env("coin", fold="val")
    env = cartpole_env()
    with pytest.raises(EpisodeStateError, match="reset"):
        env.step("push left")


def test_cartpole_as_text() -> None:
    env = cartpole_env(max_steps=8)
    observation, info = env.reset(seed=0)
    assert observation.startswith("Cart position") and info["valid_actions"] == ["push left", "push right"]
    assert cartpole_parse("push right") == 1
    for step in range(8):
        _, reward, terminated, truncated, info = env.step("push left" if step % 2 else "push right")
    assert (terminated, truncated, info["success"], info["score"]) == (False, True, True, 8.0)
    with pytest.raises(InvalidActionError, match="'jump' is not valid"):
        env.reset(seed=0), env.step("jump")


def test_wrap_gym_without_a_list_parses_free_text() -> None:
    env = wrap_gym("CartPole-v1", render=str, parse=cartpole_parse, max_steps=3)
    _, info = env.reset(seed=1)
    assert info["valid_actions"] is None
    env.step("LEFT")
    with pytest.raises(InvalidActionError, match="cannot be read as an action"):
        env.step("sideways")


def test_specs_name_environments_completely() -> None:
    assert parse_env_spec("gym:CartPole-v1?max_steps=9") == ("gym", "CartPole-v1", {"max_steps": 9})
    env = make_env("twx:mapreader?fold=train&max_steps=7")
    assert (env.name, env.fold, env.max_steps, env.seeds[0]) == ("twx:mapreader", "train", 7, 0)
    env.close()
    for bad in ("coin", "atari:pong", "twx:coin?colour=red", "gym:NoSuchEnv-v0"):
        with pytest.raises(EnvSetupError):
            make_env(bad)
