"""Any Gymnasium environment as a `TextEnv`, given how to render its observations and parse actions.

`wrap_gym(env, render=..., parse=...)` adapts an environment whose observations are arrays or numbers: the
agent reads `render(observation)` and writes text that `parse(text)` turns into the environment's action. With
`valid_actions` (the action words), the agent picks among them under a grammar. CartPole-v1 is the numeric
example (`cartpole_env`), and `GYM_TEXT` maps environment ids to their text adapters for `make_env("gym:ID")`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import gymnasium

from ..errors import EnvSetupError, InvalidActionError
from ._base import TextEnv


@dataclass(frozen=True)
class GymText:
    """How one Gymnasium environment reads as text."""

    render: Callable[[Any], str]
    """Observation -> the text the agent reads."""
    parse: Callable[[str], Any]
    """The agent's text -> the environment's action; raises `ValueError` for text it cannot read."""
    valid_actions: Sequence[str] | None = None
    """The action words when the set is fixed (the agent then picks one under a grammar), else None."""
    task: str = ""
    """What the agent is asked to do."""
    success: Callable[[bool, bool, float], bool] | None = None
    """`(terminated, truncated, total_reward) -> won`; None: an episode is never counted as won."""


class GymTextEnv(TextEnv):
    """A Gymnasium environment seen through a `GymText`: text observations, text actions, the usual info keys.

    The score is the sum of rewards. The wrapped environment's own step limit applies too; whichever comes
    first truncates the episode.

    Example:
        >>> env = cartpole_env(max_steps=10)
        >>> observation, info = env.reset(seed=3)
        >>> info["valid_actions"], observation.startswith("Cart position")
        (['push left', 'push right'], True)
        >>> _ = env.step("push left")
        >>> env.step("jump")
        Traceback (most recent call last):
        ...
        graphwright.errors.InvalidActionError: action 'jump' is not valid here; the valid actions are: 'push left', 'push right'
    """

    def __init__(self, env: gymnasium.Env, text: GymText, *, name: str | None = None, max_steps: int = 50) -> None:
        """Wrap `env` (closed with this one); `name` defaults to `gym:<its id>`."""
        spec_id = getattr(getattr(env, "spec", None), "id", None) or type(env).__name__
        super().__init__(name or f"gym:{spec_id}", max_steps=max_steps)
        self.env, self.text = env, text
        self._total = 0.0

    def _reset(self, seed: int) -> tuple[str, dict[str, Any]]:
        observation, info = self.env.reset(seed=seed)
        self._total = 0.0
        return self.text.render(observation), self._raw(info, won=False)

    def _step(self, action: str) -> tuple[str, float, bool, bool, dict[str, Any]]:
        try:
            parsed = self.text.parse(action)
        except (ValueError, KeyError) as exc:
            raise InvalidActionError(action, self.valid_actions, f"cannot be read as an action: {exc}") from exc
        observation, reward, terminated, truncated, info = self.env.step(parsed)
        self._total += float(reward)
        terminated = bool(terminated)
        truncated = not terminated and (bool(truncated) or self._steps + 1 >= self.max_steps)
        won = (terminated or truncated) and self.text.success is not None and self.text.success(
            terminated, truncated, self._total
        )
        return self.text.render(observation), float(reward), terminated, truncated, self._raw(info, won=won)

    def _raw(self, info: dict[str, Any], *, won: bool) -> dict[str, Any]:
        return {
            **{k: v for k, v in info.items() if isinstance(k, str)},
            "valid_actions": None if self.text.valid_actions is None else list(self.text.valid_actions),
            "task": self.text.task,
            "score": self._total,
            "success": bool(won),
        }

    def close(self) -> None:
        """Close the wrapped environment."""
        self.env.close()
        super().close()


def wrap_gym(
    env: gymnasium.Env | str,
    *,
    render: Callable[[Any], str],
    parse: Callable[[str], Any],
    valid_actions: Sequence[str] | None = None,
    task: str = "",
    success: Callable[[bool, bool, float], bool] | None = None,
    max_steps: int = 50,
) -> GymTextEnv:
    """Return Gymnasium environment `env` (an instance, or an id for `gymnasium.make`) as a `TextEnv`.

    Args:
        env: the environment or its registered id.
        render: observation -> text.
        parse: text -> action; raise `ValueError` for text it cannot read (that becomes `InvalidActionError`).
        valid_actions: the fixed set of action words, when there is one.
        task: the instruction the agent reads.
        success: `(terminated, truncated, total_reward) -> won`, judged when the episode ends.
        max_steps: actions per episode before it is truncated.

    Raises:
        EnvSetupError: `env` is an id Gymnasium does not know.

    Example:
        >>> import numpy as np
        >>> env = wrap_gym("MountainCar-v0", render=lambda o: f"position {o[0]:.2f} velocity {o[1]:.3f}",
        ...                parse={"left": 0, "stay": 1, "right": 2}.__getitem__,
        ...                valid_actions=["left", "stay", "right"], max_steps=5)
        >>> observation, info = env.reset(seed=1)
        >>> observation.startswith("position "), info["valid_actions"]
        (True, ['left', 'right', 'stay'])
    """
    text = GymText(render=render, parse=parse, valid_actions=valid_actions, task=task, success=success)
    return GymTextEnv(_make(env), text, max_steps=max_steps)


def _make(env: gymnasium.Env | str, **kwargs: Any) -> gymnasium.Env:
    if not isinstance(env, str):
        return env
    try:
        return gymnasium.make(env, **kwargs)
    except gymnasium.error.Error as exc:
        raise EnvSetupError(f"Gymnasium cannot make {env!r}: {exc}") from exc


def cartpole_render(observation: Sequence[float]) -> str:
    """Render a CartPole observation (cart position and velocity, pole angle and angular velocity) as text.

    Example:
        >>> print(cartpole_render([0.01, -0.2, 0.05, 0.31]))
        Cart position 0.010 (edges at -2.4 and 2.4), velocity -0.200. Pole angle 0.050 rad (2.9 degrees; it falls past 12), leaning right, angular velocity 0.310.
    """
    x, velocity, angle, spin = (float(v) for v in observation)
    lean = "right" if angle > 0 else "left" if angle < 0 else "upright"
    return (
        f"Cart position {x:.3f} (edges at -2.4 and 2.4), velocity {velocity:.3f}. "
        f"Pole angle {angle:.3f} rad ({abs(angle) * 57.29578:.1f} degrees; it falls past 12), "
        f"leaning {lean}, angular velocity {spin:.3f}."
    )


CARTPOLE_ACTIONS = {"push left": 0, "push right": 1}
"""CartPole's action words and the actions they parse to."""


def cartpole_parse(text: str) -> int:
    """Parse `push left` / `push right` (or `left` / `right`, `0` / `1`) into CartPole's action.

    Raises:
        ValueError: any other text.

    Example:
        >>> cartpole_parse("push right"), cartpole_parse(" Left ")
        (1, 0)
    """
    word = text.strip().lower()
    for name, action in CARTPOLE_ACTIONS.items():
        if word in (name, name.split()[1], str(action)):
            return action
    raise ValueError(f"expected one of {', '.join(CARTPOLE_ACTIONS)}")


CARTPOLE = GymText(
    render=cartpole_render,
    parse=cartpole_parse,
    valid_actions=tuple(CARTPOLE_ACTIONS),
    task="Keep the pole upright: push the cart left or right each step. Push toward the side the pole leans.",
    success=lambda terminated, truncated, total: truncated and not terminated,
)
"""CartPole-v1 as text: won when the pole is still up at the step limit."""

GYM_TEXT: dict[str, GymText] = {"CartPole-v1": CARTPOLE}
"""Gymnasium ids `make_env("gym:ID")` knows how to render; add your own `GymText` here."""


def cartpole_env(max_steps: int = 50) -> GymTextEnv:
    """Return CartPole-v1 as a `TextEnv`: the numeric example of `wrap_gym`, won by surviving `max_steps`.

    Example:
        >>> env = cartpole_env(max_steps=3)
        >>> _ = env.reset(seed=0)
        >>> [env.step("push left")[3] for _ in range(3)]
        [False, False, True]
    """
    return gym_env("CartPole-v1", max_steps=max_steps)


def gym_env(env_id: str, max_steps: int = 50) -> GymTextEnv:
    """Return registered Gymnasium environment `env_id` through its adapter in `GYM_TEXT`.

    Raises:
        EnvSetupError: `env_id` has no text adapter in `GYM_TEXT`, or Gymnasium cannot make it.
    """
    if env_id not in GYM_TEXT:
        raise EnvSetupError(
            f"no text adapter for Gymnasium env {env_id!r}; known: {', '.join(sorted(GYM_TEXT))} "
            "(add a GymText to graphwright.envs.GYM_TEXT, or use wrap_gym)"
        )
    inner = _make(env_id, max_episode_steps=max_steps)
    return GymTextEnv(inner, GYM_TEXT[env_id], name=f"gym:{env_id}", max_steps=max_steps)
