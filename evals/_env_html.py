"""The HTML page of an environment eval: the summary line, the score distribution, and replays of episodes.

One self-contained file like the task eval's page (`render_html`): the plot is a matplotlib PNG embedded as a
data URI (and saved beside the page as `scores.png`), each replay is the episode's steps (what the agent saw, the valid actions, what it did, the reward)
in a `<details>` block, so a reader steps through an episode by scrolling.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ._envs import env_summary, env_summary_line
from ._html import _STYLE, _e
from ._jsonl import write_text_atomic
from ._plots import figure, img, png, save_pngs

_REPLAY_STYLE = """
details { border: 1px solid #ddd; border-radius: 4px; margin: .5em 0; padding: .3em .7em; }
summary { cursor: pointer; font-weight: 600; }
ol.steps li { margin: .4em 0; }
pre.obs { white-space: pre-wrap; background: #f8f8f8; padding: .3em .5em; margin: .2em 0; max-height: 12em; overflow: auto; }
.actions { color: #666; font-size: 90%; }
"""


def render_env_html(results: Sequence[Mapping[str, Any]], *, title: str, replays: int = 3) -> str:
    """Return the self-contained HTML page of an environment eval's `results` (as `run_env_eval` returns them,
    or as `read_trajectories` reads them back): summary, score distribution, one row per episode, and step-by-step
    replays of up to `replays` episodes (the best, the worst, then the next by seed).

    Example:
        >>> steps = [{"observation": "A hall.", "valid_actions": ["east", "take coin"], "action": "take coin", "reward": 1.0}]
        >>> results = [{"seed": 0, "score": 1.0, "success": True, "steps": 1, "valid_steps": 1, "seconds": 0.5,
        ...             "trajectory": steps}, {"seed": 1, "score": 0.0, "success": False, "steps": 0, "seconds": 0.2,
        ...             "trajectory": []}]
        >>> page = render_env_html(results, title="random on twx:coin")
        >>> page.count("data:image/png;base64,"), page.count("<details"), "take coin" in page
        (1, 2, True)
    """
    return _page(results, title, replays, _score_plot(results) if results else None)


def save_env_html(results: Sequence[Mapping[str, Any]], path: str | Path, *, title: str, replays: int = 3) -> Path:
    """Write `render_env_html(results, ...)` to `path` and its plot beside it (`scores.png` beside a
    `report.html`, else `STEM-scores.png`; none without episodes), each replaced atomically; return the path.

    Raises:
        OSError: the folder of `path` is missing or not writable.
    """
    target = Path(path)
    plot = _score_plot(results) if results else None
    if plot is not None:
        save_pngs(target, {"scores": plot})
    write_text_atomic(target, _page(results, title, replays, plot))
    return target


def _page(results: Sequence[Mapping[str, Any]], title: str, replays: int, plot: bytes | None) -> str:
    summary = env_summary(results)
    parts = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>{_e(title)}</title>",
        f"<style>{_STYLE}{_REPLAY_STYLE}</style></head><body><h1>{_e(title)}</h1>",
        f"<p><code>{_e(env_summary_line(summary))}</code></p>",
        "<h2>Scores</h2>",
        img(plot, "scores") if plot is not None else "<p>No episodes.</p>",
        _episode_table(results),
        "<h2>Replays</h2>",
        *(_replay(r) for r in _chosen(results, replays)),
        "</body></html>",
    ]
    return "\n".join(parts)


def _chosen(results: Sequence[Mapping[str, Any]], count: int) -> list[Mapping[str, Any]]:
    """The episodes to replay: the best and the worst by score first (what worked, what did not), then by seed."""
    if count <= 0 or not results:
        return []
    by_score = sorted(results, key=lambda r: (-float(r.get("score", 0.0)), r.get("seed", 0)))
    order = [by_score[0], by_score[-1], *sorted(results, key=lambda r: r.get("seed", 0))]
    chosen: list[Mapping[str, Any]] = []
    for result in order:
        if all(result is not c for c in chosen):
            chosen.append(result)
    return chosen[:count]


def _score_plot(results: Sequence[Mapping[str, Any]]) -> bytes:
    made, (scores, steps) = figure(2)
    values = [float(r.get("score", 0.0)) for r in results]
    scores.hist(values, bins=min(20, max(5, len(set(values)))), color="#1565c0")
    scores.set(title="Score per episode", xlabel="score", ylabel="episodes")
    won = [int(r.get("steps", 0)) for r in results if r.get("success")]
    lost = [int(r.get("steps", 0)) for r in results if not r.get("success")]
    steps.hist([won, lost], bins=10, stacked=True, color=["#2e7d32", "#c62828"], label=["won", "not won"])
    steps.set(title="Steps per episode", xlabel="steps", ylabel="episodes")
    steps.legend()
    return png(made)


def _episode_table(results: Sequence[Mapping[str, Any]]) -> str:
    rows = ["<table><tr><th>seed</th><th>score</th><th>won</th><th>steps</th><th>seconds</th><th>error</th></tr>"]
    for r in sorted(results, key=lambda r: r.get("seed", 0)):
        mark = "<span class='ok'>yes</span>" if r.get("success") else "<span class='bad'>no</span>"
        rows.append(
            f"<tr><td>{_e(r.get('seed'))}</td><td>{float(r.get('score', 0.0)):.2f}</td><td>{mark}</td>"
            f"<td>{_e(r.get('steps', len(r.get('trajectory') or [])))}</td><td>{float(r.get('seconds', 0.0)):.1f}</td>"
            f"<td class='text'>{_e(r.get('error') or '')}</td></tr>"
        )
    return "\n".join(rows) + "</table>"


def _replay(result: Mapping[str, Any]) -> str:
    steps = result.get("trajectory") or []
    head = (f"seed {_e(result.get('seed'))}: score {float(result.get('score', 0.0)):.2f}, "
            f"{'won' if result.get('success') else 'not won'}, {len(steps)} steps")
    items = []
    for number, step in enumerate(steps, start=1):
        valid = step.get("valid_actions")
        listed = f"<div class='actions'>valid: {_e(' | '.join(valid))}</div>" if valid else ""
        items.append(
            f"<li><pre class='obs'>{_e(step.get('observation', ''))}</pre>{listed}"
            f"<div>step {number}: <b>{_e(step.get('action', ''))}</b> &rarr; reward {float(step.get('reward', 0.0)):g}</div></li>"
        )
    task = f"<p>Task: {_e(result['task'])}</p>" if result.get("task") else ""
    return f"<details><summary>{head}</summary>{task}<ol class='steps'>{''.join(items)}</ol></details>"


__all__ = ["render_env_html", "save_env_html"]
