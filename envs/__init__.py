"""Environments agents act in, through Gymnasium's API with text observations and actions.

`TextEnv` is the shape every environment takes (`reset(seed=...)`, `step(action)`, the valid actions in
`info["valid_actions"]`); `TextWorldEnv`/`twx_env` are TextWorldExpress's eight games with their folds and
gold paths; `wrap_gym` adapts any Gymnasium environment given a renderer and a parser (`cartpole_env` is the
numeric example); `make_env("twx:coin")` builds one by name.

Example:
    >>> from graphwright.envs import make_env
    >>> env = make_env("twx:coin?fold=test&max_steps=30")
    >>> observation, info = env.reset(seed=0)
    >>> "take coin" in env.gold_actions(), "look around" in info["valid_actions"]
    (True, True)
    >>> env.close()
"""

from ._base import MAX_ACTION, MAX_OBSERVATION, TextEnv
from ._gym import (
    CARTPOLE,
    CARTPOLE_ACTIONS,
    GYM_TEXT,
    GymText,
    GymTextEnv,
    cartpole_env,
    cartpole_parse,
    cartpole_render,
    gym_env,
    wrap_gym,
)
from ._make import KINDS, env_spec, make_env, parse_env_spec
from ._twx import FOLDS, TWX_GAMES, TextWorldEnv, twx_env

__all__ = [
    "CARTPOLE",
    "CARTPOLE_ACTIONS",
    "FOLDS",
    "GYM_TEXT",
    "GymText",
    "GymTextEnv",
    "KINDS",
    "MAX_ACTION",
    "MAX_OBSERVATION",
    "TWX_GAMES",
    "TextEnv",
    "TextWorldEnv",
    "cartpole_env",
    "cartpole_parse",
    "cartpole_render",
    "env_spec",
    "gym_env",
    "make_env",
    "parse_env_spec",
    "twx_env",
    "wrap_gym",
]
