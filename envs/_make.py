"""Environments by name: `make_env("twx:coin")`, `make_env("gym:CartPole-v1")`, with options in the name.

A spec names an environment completely (`twx:GAME[?fold=F&max_steps=N]`, `gym:ID[?max_steps=N]`), so a
thread's state, an eval's results and a trajectory file can record which world an episode was played in,
and a resumed episode can build a fresh one.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

from ..errors import EnvSetupError
from ._base import TextEnv

KINDS = ("twx", "gym")
"""The spec prefixes `make_env` knows."""


def parse_env_spec(spec: str) -> tuple[str, str, dict[str, Any]]:
    """Split `spec` into its kind, its name and its options (integers where they are digits).

    Raises:
        EnvSetupError: not `KIND:NAME[?k=v&...]` with a known kind, or an unknown option.

    Example:
        >>> parse_env_spec("twx:coin?fold=dev&max_steps=30")
        ('twx', 'coin', {'fold': 'dev', 'max_steps': 30})
    """
    kind, sep, rest = spec.partition(":") if isinstance(spec, str) else ("", "", "")
    name, _, query = rest.partition("?")
    if not sep or kind not in KINDS or not name:
        raise EnvSetupError(f"an environment spec is twx:GAME or gym:ENV_ID (options after '?'), got {spec!r}")
    options: dict[str, Any] = {}
    allowed = {"twx": {"fold", "max_steps", "params"}, "gym": {"max_steps"}}[kind]
    for key, value in parse_qsl(query, keep_blank_values=True, strict_parsing=bool(query)):
        if key not in allowed:
            raise EnvSetupError(f"unknown option {key!r} in {spec!r}; {kind} takes {', '.join(sorted(allowed))}")
        options[key] = int(value) if value.isdigit() else value
    return kind, name, options


def make_env(spec: str, **options: Any) -> TextEnv:
    """Return a new environment for `spec`; keyword `options` (`fold`, `max_steps`, ...) override the spec's.

    Raises:
        EnvSetupError: a malformed spec, an unknown game or Gymnasium id, a bad option.

    Example:
        >>> env = make_env("gym:CartPole-v1", max_steps=5)
        >>> env.name, env.max_steps
        ('gym:CartPole-v1', 5)
    """
    kind, name, parsed = parse_env_spec(spec)
    parsed.update({k: v for k, v in options.items() if v is not None})
    try:
        if kind == "twx":
            from ._twx import twx_env

            return twx_env(name, **parsed)
        from ._gym import gym_env

        return gym_env(name, **parsed)
    except TypeError as exc:
        raise EnvSetupError(f"bad options for {spec!r}: {exc}") from exc


def env_spec(name: str, **options: Any) -> str:
    """Return the spec string of environment `name` (e.g. `twx:coin`) with `options` (None values left out).

    Example:
        >>> env_spec("twx:coin", fold="test", max_steps=50)
        'twx:coin?fold=test&max_steps=50'
    """
    query = "&".join(f"{k}={v}" for k, v in options.items() if v is not None)
    return f"{name}?{query}" if query else name
