"""The `env_agent` and `random` graphs: an agent that acts in an environment, one checkpointed step at a time.

Flow: `observe` (reset: the first observation) → `act` (the policy picks an action and the environment takes
it) → `act` → ... → end, when the episode terminates, is truncated, or `max_steps` actions were taken. Each
action is one super-step, so one checkpoint: the episode's history is in the state (`steps`), so an episode is
a thread like any run: streamed, checkpointed, resumable, drawn.

`steps` grows by one record per action and never changes otherwise, so it is a LangGraph `DeltaChannel`: a
checkpoint stores only that step's new record (a full copy every `STEPS_SNAPSHOT_EVERY` actions bounds how
far a reader replays), and the cost of saving a step does not grow with the episode.

The environment itself is not serializable. Each node that needs it compares the live environment with the
state (its seed and the actions taken so far) and, where they differ (a fresh process after a crash, a fork
of the thread, another thread on a shared environment), resets a fresh one to the seed and replays the
recorded actions. Environments are deterministic given seed and actions, so this restores the world exactly.

`env_agent` decides with a chat model. Where the environment lists its valid actions, the model's answer is
decoded under a JSON schema whose `action` is an `enum` of them (with `ChatLocal`, a grammar), so every
action is valid by construction. `random` picks uniformly among the valid actions: the floor to compare with.
"""

from __future__ import annotations

import random as _random
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, Literal, NotRequired, TypedDict

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import HumanMessage, SystemMessage
from langchain_core.runnables import RunnableConfig
from langgraph.channels import DeltaChannel
from langgraph.graph import END, START, StateGraph
from langgraph.types import Command

from ..errors import EnvSetupError, GraphSetupError
from ._parts import check_bounds, default_model

if TYPE_CHECKING:  # environments load (Gymnasium, numpy) when an episode first needs one
    from ..envs import TextEnv


class EnvStep(TypedDict):
    """One step of an episode: what the agent saw, what it did, what it got."""

    observation: str
    """The observation the action was chosen on."""
    valid_actions: list[str] | None
    """The actions that were valid then (None when the environment does not list them)."""
    action: str
    """The action taken."""
    reward: float
    """The reward the environment gave for it."""
    place: NotRequired[str | None]
    """Where the agent was when it acted, as the environment describes the place (None when it does not)."""


STEPS_SNAPSHOT_EVERY = 100
"""Actions between full copies of `steps` in a checkpoint; the ones between store only their own record."""


def append_steps(steps: list[EnvStep], batches: Sequence[list[EnvStep]]) -> list[EnvStep]:
    """The reducer of `steps`: the episode so far with each batch of new records appended, in order.

    It is batching-invariant (appending two batches one after the other equals appending them joined), as a
    `DeltaChannel` requires: a reader rebuilds `steps` by replaying the stored records in batches of any size.

    Example:
        >>> append_steps([{"action": "a"}], [[{"action": "b"}], [{"action": "c"}]])
        [{'action': 'a'}, {'action': 'b'}, {'action': 'c'}]
    """
    return [*steps, *(step for batch in batches for step in batch)]


class EnvAgentState(TypedDict):
    """State of an episode. Start one with `{"seed": 3}` (and `"env": "twx:coin"` when the graph has no env)."""

    env: NotRequired[str]
    """The environment's spec (`twx:coin?fold=test`), used when the graph was built without an environment."""
    seed: NotRequired[int | None]
    """Which episode: the environment's seed (None: the environment picks one, recorded here at reset)."""
    task: NotRequired[str]
    """What the agent is asked to do."""
    observation: NotRequired[str]
    """The current observation."""
    valid_actions: NotRequired[list[str] | None]
    """The actions valid now, or None when the environment does not list them."""
    place: NotRequired[str | None]
    """Where the agent is, as the environment describes it (TextWorldExpress's `look`), or None when it does not
    tell: an observation is often only the last action's feedback ("You open the door.")."""
    steps: Annotated[list[EnvStep], DeltaChannel(append_steps, snapshot_frequency=STEPS_SNAPSHOT_EVERY)]
    """The episode so far, one entry per action taken (append-only: a node returns its new records)."""
    score: NotRequired[float]
    """The episode's score so far."""
    success: NotRequired[bool]
    """Whether the episode has been won."""
    terminated: NotRequired[bool]
    """The environment ended the episode (won or lost)."""
    truncated: NotRequired[bool]
    """The episode was cut off by its step bound."""


Policy = Callable[[EnvAgentState], str]
"""Picks the next action from an episode's state (reads `observation`, `valid_actions`, `task`, `steps`)."""

ENV_PROMPT = (
    "You are playing a text game. Read the task and what you see, then choose the next action. "
    "Explore places you have not seen, pick up what the task needs, and do not repeat an action that changed nothing."
)


@dataclass(frozen=True)
class EnvAgentOptions:
    """Bounds and prompt of one episode."""

    max_steps: int = 50
    """Actions allowed per episode; the episode is truncated after that many (safe default: bounded)."""
    history: int = 6
    """Past steps shown to the model (the most recent); older ones are left out of the prompt."""
    max_observation_chars: int = 1500
    """Characters of each observation shown to the model (small models lose the thread in long prompts)."""
    max_action_chars: int = 100
    """Length bound of a free-text action, for environments that do not list their valid actions."""
    prompt: str = ENV_PROMPT
    """The system prompt of the deciding model."""
    max_live_envs: int = 32
    """Environments kept alive at once, one per running thread; the least recently used is closed beyond it."""
    explore: bool = True
    """Offer the model only the valid actions not yet taken in the same state of the world, while there are any:
    a small model repeats itself (walking into a closed door, looking around again), and an action that was
    taken in the very same state has already shown what it does. The same rule as "never try the same move
    twice from the same state" of systematic exploration. The state is the place as `look around` describes it
    (its doors, its objects) where the environment reports one, else the observation."""


def build_env_agent(
    model: BaseChatModel | None = None,
    env: TextEnv | str | Callable[[], TextEnv] | None = None,
    *,
    options: EnvAgentOptions = EnvAgentOptions(),
    policy: Policy | None = None,
) -> StateGraph:
    """Build the `env_agent` graph: `observe` → `act` → `act` ... until the episode ends.

    Nodes read and write (`EnvAgentState` keys):
    - `observe` reads `env`, `seed`; writes `seed`, `task`, `observation`, `valid_actions`, `place`, `score`,
      `success`, `terminated`, `truncated`.
    - `act` reads `seed`, `task`, `steps`, `observation`, `valid_actions`, `place` (the policy reads what it
      needs of them) and writes `steps` (one more record), `observation`, `valid_actions`, `place`, `score`,
      `success`, `terminated`, `truncated`.

    Each action is one super-step (the policy's choice and the environment's step in one node, so one
    checkpoint per action). Run an episode on its own thread with a checkpointer and a recursion limit above
    `max_steps + 1` (`thread_config(thread, recursion_limit=...)`).

    Args:
        model: the deciding chat model; None loads the packaged default (unused when `policy` is given).
        env: the environment: a spec such as `"twx:coin?fold=test"` or a function returning a new
            `TextEnv` (each running thread gets its own), a `TextEnv` instance (shared, resynced per
            step), or None (each episode's input names its spec in `env`).
        options: bounds and prompt.
        policy: picks actions instead of the model (a scripted or learned policy).

    Returns:
        An uncompiled `StateGraph` over `EnvAgentState`; compile it with `compile_graph`.

    Raises:
        GraphSetupError: a bound that is not positive, or an `env` of another type.

    Example:
        >>> from graphwright.graphs import compile_graph
        >>> looker = lambda state: "look around"
        >>> graph = compile_graph(build_env_agent(env="twx:coin", policy=looker, options=EnvAgentOptions(max_steps=3)))
        >>> final = graph.invoke({"seed": 0})
        >>> [step["action"] for step in final["steps"]], final["truncated"]
        (['look around', 'look around', 'look around'], True)
    """
    check_bounds(options)
    source = _EnvSource(env, options.max_live_envs)
    decide = policy if policy is not None else model_policy(default_model(model), options)
    if not callable(decide):
        raise GraphSetupError(f"policy must be callable, got {type(decide).__name__}")
    max_steps = options.max_steps

    def observe(state: EnvAgentState, config: RunnableConfig) -> dict[str, Any]:
        live = source.sync(state, config)
        info = live.last_info
        return {"seed": live.seed, "task": info.get("task", ""), **_view(info, live.last_observation),
                "terminated": False, "truncated": False}

    def act(state: EnvAgentState, config: RunnableConfig) -> Command[Literal["act", "__end__"]]:
        live, step, (observation, _, terminated, truncated, info) = source.step(state, config, decide(state))
        cut = not terminated and (truncated or len(state.get("steps") or ()) + 1 >= max_steps)
        if terminated or cut:
            source.release(config, live)
        update = {"steps": [step], **_view(info, observation), "terminated": terminated, "truncated": cut}
        return Command(update=update, goto=END if terminated or cut else "act")

    graph = StateGraph(EnvAgentState)
    graph.add_node("observe", observe)
    graph.add_node("act", act)
    graph.add_edge(START, "observe")
    graph.add_edge("observe", "act")
    return graph


def build_random_agent(
    env: TextEnv | str | Callable[[], TextEnv] | None = None,
    seed: int = 0,
    *,
    options: EnvAgentOptions = EnvAgentOptions(),
) -> StateGraph:
    """Build the `random` graph: `env_agent` whose policy is uniform over the valid actions (`random_policy`).

    The floor every report compares against. The choice at each step depends only on `seed`, the episode's
    seed and the step number, so a resumed episode makes the same choices.

    Raises:
        GraphSetupError: a bound that is not positive.

    Example:
        >>> from graphwright.graphs import compile_graph
        >>> graph = compile_graph(build_random_agent("twx:coin", seed=1, options=EnvAgentOptions(max_steps=5)))
        >>> final = graph.invoke({"seed": 0})
        >>> 1 <= len(final["steps"]) <= 5
        True
    """
    return build_env_agent(env=env, options=options, policy=random_policy(seed))


def random_policy(seed: int = 0) -> Policy:
    """Return a policy choosing uniformly among the valid actions, reproducibly per (seed, episode, step).

    Raises (when called):
        EnvSetupError: the environment does not list its valid actions.

    Example:
        >>> pick = random_policy(7)
        >>> state = {"seed": 1, "steps": [], "valid_actions": ["east", "north", "west"]}
        >>> pick(state) == pick(state) and pick(state) in state["valid_actions"]
        True
    """

    def pick(state: EnvAgentState) -> str:
        valid = state.get("valid_actions")
        if not valid:
            raise EnvSetupError("the random policy needs an environment that lists its valid actions")
        rng = _random.Random(f"{seed}:{state.get('seed')}:{len(state.get('steps') or [])}")
        return rng.choice(sorted(valid))

    return pick


_ANSWERERS_KEPT = 256  # distinct action sets whose structured-output runnable a model policy keeps


def model_policy(model: BaseChatModel, options: EnvAgentOptions = EnvAgentOptions()) -> Policy:
    """Return a policy that asks `model` for the next action, under an `enum` of the valid actions when listed.

    The model answers `{"action": ...}` through `with_structured_output`; with `ChatLocal` that is decoded
    under a grammar, so the action is one of the valid ones by construction. An answer outside them (a model
    without constrained decoding) is returned as is, and the environment rejects it with `InvalidActionError`.
    The structured-output runnable is built once per distinct set of offered actions (the last 256 kept).
    """
    answerers: OrderedDict[tuple[str, ...] | None, Any] = OrderedDict()  # per action set, most recent last
    lock = threading.Lock()

    def answerer(valid: list[str] | None) -> Any:
        """The structured-output runnable for this set of actions, built once per distinct set (a game offers
        the same few sets again and again; building one converts and checks its schema)."""
        key = tuple(valid) if valid else None
        with lock:
            found = answerers.get(key)
            if found is not None:
                answerers.move_to_end(key)
                return found
        action: dict[str, Any] = (
            {"type": "string", "enum": list(valid)} if valid else {"type": "string", "maxLength": options.max_action_chars}
        )
        schema = {
            "title": "next_action",
            "description": "The next action to take.",
            "type": "object",
            "properties": {"action": action},
            "required": ["action"],
            "additionalProperties": False,
        }
        built = model.with_structured_output(schema)
        with lock:
            answerers[key] = built
            while len(answerers) > _ANSWERERS_KEPT:
                answerers.popitem(last=False)
        return built

    def decide(state: EnvAgentState) -> str:
        valid = untried_actions(state) if options.explore else state.get("valid_actions")
        reply = answerer(valid).invoke(prompt_messages({**state, "valid_actions": valid}, options))
        chosen = reply if isinstance(reply, dict) else reply.model_dump()
        return str(chosen.get("action", ""))

    return decide


def untried_actions(state: EnvAgentState) -> list[str] | None:
    """Return the valid actions not yet taken in the same state of the world in this episode, or all valid actions
    when every one has been; None when the environment lists none.

    The state is the place (the room as `look around` describes it, with its doors open or closed and what lies
    there) where the environment reports one, else the observation. Not the observation alone: actions that change
    nothing ("inventory", "look around", closing a closed door) still change the text they return, and a small
    model keyed on that text walks the same few no-ops in a circle.

    Example:
        >>> steps = [{"observation": "You open the door.", "place": "A hall. The door is open.", "action": "look",
        ...           "valid_actions": None, "reward": 0.0}]
        >>> untried_actions({"observation": "A hall. The door is open.", "place": "A hall. The door is open.",
        ...                  "steps": steps, "valid_actions": ["look", "move east"]})
        ['move east']
    """
    valid = state.get("valid_actions")
    if not valid:
        return valid
    here = _situation(state)
    taken = {s["action"] for s in state.get("steps") or [] if _situation(s) == here}
    return [a for a in valid if a not in taken] or list(valid)


def _situation(step: Mapping[str, Any]) -> str:
    """The state of the world an action was taken in: the place where reported, else the observation."""
    return " ".join(str(step.get("place") or step.get("observation") or "").split())


def prompt_messages(state: EnvAgentState, options: EnvAgentOptions = EnvAgentOptions()) -> list[Any]:
    """Return the messages the model decides on: the task, the recent steps, the observation, the valid actions.

    Example:
        >>> messages = prompt_messages({"task": "Find the coin.", "observation": "A kitchen.", "steps": [],
        ...                             "valid_actions": ["move east", "take coin"]})
        >>> print(messages[1].content)
        Task: Find the coin.
        <BLANKLINE>
        You see: A kitchen.
        <BLANKLINE>
        Valid actions: move east | take coin
        Which action next?
    """
    cap = options.max_observation_chars
    parts = [f"Task: {state.get('task') or '(none given)'}"]
    steps = state.get("steps") or []
    if options.history and steps:
        shown = steps[-options.history :]
        results = [s["observation"] for s in shown[1:]] + [state.get("observation", "")]
        lines = [f"Your last {len(shown)} of {len(steps)} actions and what each did:"]
        lines += [f"- {s['action']} -> {_clip(result, 200)}" for s, result in zip(shown, results)]
        parts.append("\n".join(lines))
    place = state.get("place")
    if place and " ".join(place.split()) != " ".join(str(state.get("observation", "")).split()):
        parts.append(f"Where you are: {_clip(place, cap)}")
    parts.append(f"You see: {_clip(state.get('observation', ''), cap)}")
    valid = state.get("valid_actions")
    tail = f"Valid actions: {' | '.join(valid)}\nWhich action next?" if valid else "Which action next?"
    parts.append(tail)
    return [SystemMessage(options.prompt), HumanMessage("\n\n".join(parts))]


def _clip(text: str, limit: int) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _view(info: dict[str, Any], observation: str) -> dict[str, Any]:
    return {
        "observation": observation,
        "valid_actions": info.get("valid_actions"),
        "score": float(info.get("score", 0.0)),
        "success": bool(info.get("success", False)),
        "place": info.get("look") or None,
    }


class _Live:
    """One live environment and the episode it holds: its seed and the actions taken, and the last result."""

    def __init__(self, env: TextEnv, owned: bool) -> None:
        self.env, self.owned = env, owned
        self.lock = threading.Lock()
        self.spec: str | None = None
        self.source: Any = None
        self.seed: int | None = None
        self.actions: list[str] | None = None  # None: not reset since it was made
        self.last_record: EnvStep | None = None  # the record of the last action, as the state holds it
        self.last_observation = ""
        self.last_info: dict[str, Any] = {}

    def reset(self, seed: int | None, actions: list[str]) -> None:
        observation, info = self.env.reset(seed=seed)
        self.seed, self.actions, self.last_record = info["seed"], [], None
        self.last_observation, self.last_info = observation, info
        for action in actions:
            self.step(action)

    def step(self, action: Any) -> tuple[str, float, bool, bool, dict[str, Any]]:
        result = self.env.step(action)
        self.actions.append(action)
        self.last_observation, self.last_info = result[0], result[4]
        return result


def _bring_in_line(entry: _Live, state: EnvAgentState) -> None:
    """Reset `entry` to the state's seed and replay its actions, unless it already holds exactly that episode.

    The check costs the same at every step: the record of the last action is the very object this entry's
    step produced (the state hands back what `act` returned) only when the state is the one this entry has
    been following; any other state (another thread, a fork, a fresh process) has its actions compared.
    """
    steps = state.get("steps") or []
    seed = state.get("seed")
    held = entry.actions
    if held is not None and (seed is None or entry.seed == seed) and len(held) == len(steps):
        if not steps or steps[-1] is entry.last_record:
            return
        if all(step["action"] == action for step, action in zip(steps, held)):
            entry.last_record = steps[-1]
            return
    entry.reset(seed, [step["action"] for step in steps])
    entry.last_record = steps[-1] if steps else None


class _EnvSource:
    """Where each thread's environment comes from, and how it is brought in line with the thread's state."""

    def __init__(self, env: Any, max_live: int) -> None:
        from ..envs import TextEnv

        if not (env is None or isinstance(env, (str, TextEnv)) or callable(env)):
            raise GraphSetupError(f"env must be a TextEnv, a spec string, a factory or None, got {type(env).__name__}")
        self.env, self.max_live = env, max_live
        self.shared = _Live(env, owned=False) if isinstance(env, TextEnv) else None
        self.live: OrderedDict[str, _Live] = OrderedDict()
        self.idle: dict[Any, list[TextEnv]] = {}  # finished episodes' environments, reused (a JVM start saved)
        self.lock = threading.Lock()

    def _entry(self, state: EnvAgentState, config: RunnableConfig) -> _Live:
        if self.shared is not None:
            return self.shared
        spec = self.env if self.env is not None else state.get("env")
        if self.env is None and not spec:
            raise EnvSetupError("this graph was built without an environment: start the episode with {'env': 'twx:coin', ...}")
        key = f"{(config.get('configurable') or {}).get('thread_id', '')}\0{spec if isinstance(spec, str) else id(spec)}"
        with self.lock:
            entry = self.live.get(key)
            if entry is not None:
                self.live.move_to_end(key)
                return entry
            from ..envs import make_env

            spare = self.idle.get(spec)
            made = spare.pop() if spare else make_env(spec) if isinstance(spec, str) else spec()
            entry = self.live[key] = _Live(made, owned=True)
            entry.spec, entry.source = key, spec
            while len(self.live) > self.max_live:
                _, old = self.live.popitem(last=False)
                old.env.close()
            return entry

    def sync(self, state: EnvAgentState, config: RunnableConfig) -> _Live:
        """Return the thread's live environment holding exactly the state's episode (reset and replayed if not)."""
        entry = self._entry(state, config)
        with entry.lock:
            _bring_in_line(entry, state)
        return entry

    def step(self, state: EnvAgentState, config: RunnableConfig, action: Any) -> tuple[_Live, EnvStep, tuple[Any, ...]]:
        """Bring the thread's environment in line with `state`, then take `action` in it (atomically); return the
        environment, the step's record (what the state's `steps` gets) and the environment's result."""
        entry = self._entry(state, config)
        with entry.lock:
            _bring_in_line(entry, state)
            result = entry.step(action)
            entry.last_record = record = {
                "observation": state.get("observation", ""),
                "valid_actions": state.get("valid_actions"),
                "action": action,
                "reward": result[1],
                "place": state.get("place"),
            }
            return entry, record, result

    def release(self, config: RunnableConfig, entry: _Live) -> None:
        """Put a finished episode's own environment aside for the next episode (a shared one stays as it is)."""
        if not entry.owned:
            return
        with self.lock:
            if self.live.get(entry.spec) is entry:
                del self.live[entry.spec]
            spare = self.idle.setdefault(entry.source, [])
            if len(spare) < self.max_live:
                spare.append(entry.env)
                return
        entry.env.close()
