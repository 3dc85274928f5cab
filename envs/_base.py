"""`TextEnv`: a Gymnasium environment whose observations and actions are text.

Every environment an agent acts in goes through this class, so nodes see one shape: `reset(seed=...)` gives
`(observation, info)`, `step(action)` gives `(observation, reward, terminated, truncated, info)`, both as
Gymnasium defines them. `info` always holds:

- `valid_actions`: the actions the environment accepts now, sorted, or None when it does not list them;
- `task`: what the agent is asked to do ("" when the environment says nothing);
- `score`: the episode's score so far (the environment's own score, else the sum of rewards);
- `success`: whether the episode has been won;
- `seed`: the seed the episode was reset with (chosen from the environment's generator when none was given);
- `step`: the number of actions taken in the episode.

An action outside `valid_actions` (when they are listed) raises `InvalidActionError` before it reaches the
environment, so a policy's mistake is a clear error rather than a silently wasted step.
"""

from __future__ import annotations

import string
from typing import Any

import gymnasium
from gymnasium import spaces

from ..errors import EnvSetupError, EpisodeStateError, InvalidActionError

MAX_OBSERVATION = 16384  # characters; observations are descriptions, not documents
MAX_ACTION = 256  # characters of one action
_CHARSET = frozenset(string.printable)


class TextEnv(gymnasium.Env[str, str]):
    """A Gymnasium environment with text observations and text actions, and the info keys agents read.

    Subclasses implement `_reset(seed)` and `_step(action)`; this class checks actions against the valid
    ones, counts steps, truncates at `max_steps`, and fills `info`.

    Attributes:
        name: how the environment is named in results (e.g. `twx:coin`).
        max_steps: actions allowed per episode; the step that reaches it returns `truncated=True`.
    """

    metadata = {"render_modes": []}
    observation_space = spaces.Text(max_length=MAX_OBSERVATION, min_length=0, charset=_CHARSET)
    action_space = spaces.Text(max_length=MAX_ACTION, min_length=1, charset=_CHARSET)

    def __init__(self, name: str, *, max_steps: int = 50) -> None:
        if max_steps < 1:
            raise EnvSetupError(f"max_steps must be at least 1, got {max_steps}")
        self.name = name
        self.max_steps = max_steps
        self._valid: list[str] | None = None
        self._steps = 0
        self._seed: int | None = None
        self._score = 0.0
        self._task = ""
        self._ended = True
        self._started = False

    # -- what subclasses implement -------------------------------------------------------------------------

    def _reset(self, seed: int) -> tuple[str, dict[str, Any]]:
        """Start the episode `seed`; return its first observation and its info (keys as in the module doc)."""
        raise NotImplementedError

    def _step(self, action: str) -> tuple[str, float, bool, bool, dict[str, Any]]:
        """Apply a checked `action`; return the observation, reward, `terminated`, `truncated` and info."""
        raise NotImplementedError

    def _choose_seed(self) -> int:
        """The seed of an episode reset without one (from the environment's seeded generator)."""
        return int(self.np_random.integers(0, 2**31 - 1))

    # -- the Gymnasium API ---------------------------------------------------------------------------------

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[str, dict[str, Any]]:
        """Start a new episode and return `(observation, info)`.

        Args:
            seed: which episode (the same seed gives the same episode); None picks one from the
                environment's generator, and `info["seed"]` says which.
            options: unused; accepted for Gymnasium's signature.

        Raises:
            EnvSetupError: the seed is not one this environment has.
        """
        if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool) or seed < 0):
            raise EnvSetupError(f"a seed is a non-negative integer, got {seed!r}")
        super().reset(seed=None if seed is None else seed)
        chosen = self._choose_seed() if seed is None else seed
        observation, info = self._reset(chosen)
        self._seed, self._steps, self._ended, self._started = chosen, 0, False, True
        self._score = float(info.get("score", 0.0))
        self._task = str(info.get("task", ""))
        return observation, self._info(info)

    def step(self, action: str) -> tuple[str, float, bool, bool, dict[str, Any]]:
        """Take `action`; return `(observation, reward, terminated, truncated, info)`.

        Raises:
            InvalidActionError: the environment lists its valid actions and `action` is not one of them.
            EpisodeStateError: `reset()` was not called, or the episode already ended.
        """
        if not self._started:
            raise EpisodeStateError(f"{self.name}: call reset() before step()")
        if self._ended:
            raise EpisodeStateError(f"{self.name}: the episode ended after {self._steps} steps; call reset()")
        self.check_action(action)
        observation, reward, terminated, truncated, info = self._step(action)
        self._steps += 1
        self._score = float(info["score"]) if "score" in info else self._score + float(reward)
        truncated = not terminated and (truncated or self._steps >= self.max_steps)
        self._ended = terminated or truncated
        return observation, float(reward), bool(terminated), truncated, self._info(info)

    def check_action(self, action: str) -> None:
        """Raise `InvalidActionError` unless `action` is acceptable now (one of the valid actions when listed).

        Raises:
            InvalidActionError: it is not a non-empty string, or not among the listed valid actions.
        """
        if not isinstance(action, str) or not action:
            raise InvalidActionError(repr(action) if not isinstance(action, str) else action, self._valid,
                                     "an action is a non-empty string")
        if self._valid is not None and action not in self._valid:
            raise InvalidActionError(action, self._valid)

    @property
    def valid_actions(self) -> list[str] | None:
        """The actions accepted now (sorted), or None when the environment does not list them."""
        return None if self._valid is None else list(self._valid)

    def gold_actions(self) -> list[str] | None:
        """An expert's action sequence that solves the current episode, or None when the environment has none."""
        return None

    def _info(self, raw: dict[str, Any]) -> dict[str, Any]:
        valid = raw.get("valid_actions")
        self._valid = None if valid is None else sorted(dict.fromkeys(str(a) for a in valid))
        info = dict(raw)
        info.update(
            valid_actions=self.valid_actions,
            task=self._task,
            score=self._score,
            success=bool(raw.get("success", False)),
            seed=self._seed,
            step=self._steps,
        )
        return info
