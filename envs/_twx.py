"""TextWorldExpress's eight text games as `TextEnv`s, with their train/dev/test folds and gold paths.

The engine is Java (run through py4j, one small JVM per environment); a step costs well under a millisecond.
A game's seeds are split into folds by the engine; here `reset(seed=k)` plays the fold's k-th game, so seeds
0, 1, 2, ... name the same episodes in every fold-aware report and never leak a test game into training.
"""

from __future__ import annotations

import threading
from typing import Any, Literal

from ..errors import EnvSetupError
from ._base import TextEnv

TWX_GAMES = ("cookingworld", "twc", "coin", "mapreader", "arithmetic", "sorting", "simonsays", "peckingorder")
"""The games TextWorldExpress ships."""
FOLDS = ("train", "dev", "test")
"""The folds every game's seeds are split into."""

Fold = Literal["train", "dev", "test"]


class TextWorldEnv(TextEnv):
    """One TextWorldExpress game on one fold: `reset(seed=k)` plays the fold's k-th game.

    `info` adds `gold_actions` (see `gold_actions()`), `raw_score` and `failed` to the `TextEnv` keys.
    Close it (or use it as a context manager) to stop its JVM. The game is fixed by its seed; the engine's gold
    path is one expert route through it and may differ (and differ in length) from one call to the next.

    Example:
        >>> env = TextWorldEnv("coin", fold="test", max_steps=100)
        >>> observation, info = env.reset(seed=0)
        >>> info["task"].startswith("Your task is to search the environment and find the coin")
        True
        >>> for action in env.gold_actions():
        ...     observation, reward, terminated, truncated, info = env.step(action)
        >>> info["success"], info["score"], terminated
        (True, 1.0, True)
        >>> env.close()
    """

    def __init__(
        self,
        game: str,
        *,
        fold: Fold = "test",
        max_steps: int = 50,
        params: str = "",
        gold: bool = True,
    ) -> None:
        """Start the engine and load `game`.

        Args:
            game: one of `TWX_GAMES`.
            fold: `train`, `dev` or `test`: which of the game's seeds `reset(seed=k)` draws from.
            max_steps: actions per episode before it is truncated.
            params: the engine's game parameters (e.g. `"numLocations=5,includeDoors=1"`); "" for its defaults.
            gold: generate each episode's gold action sequence at reset (cheap; needed by `gold_actions()`).

        Raises:
            EnvSetupError: an unknown game or fold, or parameters the engine rejects.
        """
        if game not in TWX_GAMES:
            raise EnvSetupError(f"unknown TextWorldExpress game {game!r}; the games are {', '.join(TWX_GAMES)}")
        if fold not in FOLDS:
            raise EnvSetupError(f"unknown fold {fold!r}; use one of {', '.join(FOLDS)}")
        super().__init__(f"twx:{game}", max_steps=max_steps)
        from textworld_express import TextWorldExpressEnv

        self.game, self.fold, self.params, self.gold = game, fold, params, gold
        self._engine = TextWorldExpressEnv(envStepLimit=10**9)  # our own max_steps truncates
        self._closed = False
        self._lock = threading.Lock()
        try:
            self._engine.load(game, params)
        except ValueError as exc:
            self.close()
            raise EnvSetupError(f"TextWorldExpress rejected game {game!r} with params {params!r}: {exc}") from exc
        seeds = {"train": self._engine.getValidSeedsTrain, "dev": self._engine.getValidSeedsDev,
                 "test": self._engine.getValidSeedsTest}[fold]()
        self.seeds: list[int] = [int(s) for s in seeds]
        """The engine's seeds of this fold; `reset(seed=k)` plays `seeds[k]`."""
        self._gold: list[str] | None = None

    def _choose_seed(self) -> int:
        return int(self.np_random.integers(0, len(self.seeds)))

    def _reset(self, seed: int) -> tuple[str, dict[str, Any]]:
        if seed >= len(self.seeds):
            raise EnvSetupError(f"{self.name} fold {self.fold!r} has seeds 0..{len(self.seeds) - 1}, got {seed}")
        observation, infos = self._engine.reset(seed=self.seeds[seed], gameFold=self.fold, generateGoldPath=self.gold)
        self._gold = [str(a) for a in self._engine.getGoldActionSequence()] if self.gold else None
        return observation, self._clean(infos)

    def _step(self, action: str) -> tuple[str, float, bool, bool, dict[str, Any]]:
        observation, reward, _, infos = self._engine.step(action)
        ended = bool(infos["tasksuccess"] or infos["taskfailure"] or infos["score"] >= 1.0)
        return observation, float(reward), ended, False, self._clean(infos)

    def _clean(self, infos: dict[str, Any]) -> dict[str, Any]:
        return {
            "valid_actions": list(infos["validActions"]),
            "task": infos.get("taskDescription", ""),
            "score": float(infos["score"]),
            "raw_score": float(infos.get("scoreRaw", infos["score"])),
            "success": bool(infos["tasksuccess"]),
            "failed": bool(infos["taskfailure"]),
            "gold_actions": self._gold,
            "look": str(infos.get("look", "")),  # the room as `look around` describes it: where the agent is
            "inventory": str(infos.get("inventory", "")),
        }

    def gold_actions(self) -> list[str] | None:
        """The engine's expert action sequence for the current episode (None when built with `gold=False`)."""
        return None if self._gold is None else list(self._gold)

    def close(self) -> None:
        """Stop the engine's JVM (idempotent)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            engine = self._engine
            try:
                engine.close()
            except OSError:  # the JVM is already gone
                pass
            engine.close = lambda: None  # its __del__ closes again; a second close writes to a closed pipe
        super().close()


def twx_env(game: str, fold: Fold = "test", max_steps: int = 50, **kwargs: Any) -> TextWorldEnv:
    """Return TextWorldExpress game `game` on `fold` as a `TextEnv` (see `TextWorldEnv` for the options).

    Raises:
        EnvSetupError: an unknown game or fold.

    Example:
        >>> env = twx_env("mapreader", fold="dev", max_steps=30)
        >>> env.name, env.fold, len(env.seeds)
        ('twx:mapreader', 'dev', 1000)
        >>> env.close()
    """
    return TextWorldEnv(game, fold=fold, max_steps=max_steps, **kwargs)
