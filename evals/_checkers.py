"""Checkers: whether one run of a graph solved its task, judged from the answer and the tool calls it made.

A task file names its checker as a JSON object with one kind key (see `parse_checker`):

    {"exact": "Paris"}                         the answer, stripped, equals the text (`"ignore_case": true`)
    {"numeric": 18, "tolerance": 0.01}         the answer's last number is within the tolerance (default 1e-6)
    {"regex": "\\bParis\\b"}                    the pattern matches somewhere in the answer (`"ignore_case"`)
    {"tool_call": {"name": "calculator", "args": {"expression": "6*7"}}}
                                               some call has that name and at least those arguments
    {"tool_call": [{"calculator": {"expression": ["6*7", "6 * 7"]}}]}
                                               BFCL possible answer: the calls match one to one (`[]`: no call)
    {"predicate": "my_checks:is_polite"}       `is_polite(answer, state)` returns true
"""

from __future__ import annotations

import importlib
import inspect
import math
import os
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from ._bfcl import GroundTruth, call_matches, calls_match

_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")
_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}(?!\d))")


@dataclass(frozen=True)
class Outcome:
    """What one run produced, as a checker sees it."""

    answer: str
    """The final answer: the state's `answer`, else the last AI message's text ("" when there is none)."""
    tool_calls: tuple[Mapping[str, Any], ...] = ()
    """Every tool call the run's AI messages made, in order, each `{"name", "args"}`."""
    state: Mapping[str, Any] = field(default_factory=dict)
    """The run's final state values."""


def numbers_in(text: str) -> list[float]:
    """Return the numbers written in `text`, in order; thousands separators are ignored.

    Example:
        >>> numbers_in("She pays $1,248.50 for 3 items, 2,5 kg")
        [1248.5, 3.0, 2.0, 5.0]
    """
    return [float(n) for n in _NUMBER.findall(_THOUSANDS.sub("", text))]


class Checker:
    """A rule that says whether an `Outcome` solved its task; `spec()` is its JSON form in a task file."""

    kind: ClassVar[str] = ""

    def __call__(self, outcome: Outcome) -> bool:
        """Return True when `outcome` solves the task."""
        raise NotImplementedError

    def spec(self) -> dict[str, Any]:
        """Return the checker as the JSON object a task file writes it as."""
        raise NotImplementedError


@dataclass(frozen=True)
class Exact(Checker):
    """The answer, without surrounding whitespace, equals `expected`.

    Example:
        >>> Exact("Paris")(Outcome(" Paris\\n")), Exact("paris", ignore_case=True)(Outcome("Paris"))
        (True, True)
    """

    kind: ClassVar[str] = "exact"
    expected: str
    """The answer wanted."""
    ignore_case: bool = False
    """Compare without regard to case."""

    def __call__(self, outcome: Outcome) -> bool:
        got, want = outcome.answer.strip(), self.expected.strip()
        return got.casefold() == want.casefold() if self.ignore_case else got == want

    def spec(self) -> dict[str, Any]:
        return {"exact": self.expected, **({"ignore_case": True} if self.ignore_case else {})}


@dataclass(frozen=True)
class Numeric(Checker):
    """The last number in the answer is within `tolerance` of `expected` (the GSM8K convention).

    Example:
        >>> Numeric(18)(Outcome("9 eggs at $2 make $18.")), Numeric(18)(Outcome("18 or maybe 20"))
        (True, False)
    """

    kind: ClassVar[str] = "numeric"
    expected: float
    """The number wanted."""
    tolerance: float = 1e-6
    """The largest absolute difference accepted."""

    def __call__(self, outcome: Outcome) -> bool:
        found = numbers_in(outcome.answer)
        return bool(found) and abs(found[-1] - self.expected) <= self.tolerance

    def spec(self) -> dict[str, Any]:
        value: float | int = int(self.expected) if float(self.expected).is_integer() else self.expected
        return {"numeric": value, **({"tolerance": self.tolerance} if self.tolerance != 1e-6 else {})}


@dataclass(frozen=True)
class Regex(Checker):
    """The regular expression `pattern` matches somewhere in the answer.

    Example:
        >>> Regex(r"HTTP/2", ignore_case=True)(Outcome("It supports http/2."))
        True
    """

    kind: ClassVar[str] = "regex"
    pattern: str
    """A Python regular expression, searched for (not anchored)."""
    ignore_case: bool = False
    """Match without regard to case."""

    def __post_init__(self) -> None:
        re.compile(self.pattern)  # a bad pattern fails when the task is loaded

    def __call__(self, outcome: Outcome) -> bool:
        return re.search(self.pattern, outcome.answer, re.IGNORECASE if self.ignore_case else 0) is not None

    def spec(self) -> dict[str, Any]:
        return {"regex": self.pattern, **({"ignore_case": True} if self.ignore_case else {})}


@dataclass(frozen=True)
class ToolCall(Checker):
    """The run's tool calls: one call with `name` and at least `args`, or a BFCL possible answer (`calls`).

    Argument values compare as BFCL does: numbers by value, strings without case or surrounding spaces.

    Example:
        >>> made = Outcome("", tool_calls=({"name": "calculator", "args": {"expression": "6*7"}},))
        >>> ToolCall(name="calculator", args={"expression": "6*7"})(made)
        True
        >>> ToolCall(calls=[{"calculator": {"expression": ["6 * 7", "6*7"]}}])(made), ToolCall(calls=[])(made)
        (True, False)
    """

    kind: ClassVar[str] = "tool_call"
    name: str | None = None
    """The tool a call must name (the subset form)."""
    args: Mapping[str, Any] = field(default_factory=dict)
    """Arguments that call must have with these values; it may have others (the subset form)."""
    calls: Sequence[GroundTruth] | None = None
    """The BFCL form: accepted calls `{name: {argument: [allowed values]}}`, matched one to one; [] means none."""
    functions: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    """Function declarations by name, for the BFCL form's required arguments."""

    def __post_init__(self) -> None:
        if (self.name is None) == (self.calls is None):
            raise ValueError("a tool_call checker needs either a name (and args) or a list of accepted calls")

    def __call__(self, outcome: Outcome) -> bool:
        if self.calls is not None:
            return calls_match(outcome.tool_calls, self.calls, self.functions)
        truth = {str(self.name): {key: [value] for key, value in self.args.items()}}
        return any(call_matches(call, truth, allow_extra=True) for call in outcome.tool_calls)

    def spec(self) -> dict[str, Any]:
        if self.calls is not None:
            return {"tool_call": [dict(c) for c in self.calls]}
        return {"tool_call": {"name": self.name, "args": dict(self.args)}}


@dataclass(frozen=True)
class Predicate(Checker):
    """A Python function named `module:function`, called as `function(answer, state)`; truthy means solved.

    The module is imported when the task is loaded (the current folder is importable), so a wrong name fails
    then, not in the middle of an evaluation.

    Example:
        >>> Predicate("operator:is_not")(Outcome("yes"))  # any function of (answer, state)
        True
        >>> Predicate("operator:no_such_function")
        Traceback (most recent call last):
        ...
        AttributeError: predicate 'operator:no_such_function': 'operator' has no attribute 'no_such_function'
    """

    kind: ClassVar[str] = "predicate"
    ref: str
    """`module:function`."""
    function: Callable[[str, Mapping[str, Any]], Any] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "function", _import_function(self.ref))

    def __call__(self, outcome: Outcome) -> bool:
        return bool(self.function(outcome.answer, dict(outcome.state)))

    def spec(self) -> dict[str, Any]:
        return {"predicate": self.ref}


KINDS: dict[str, type[Checker]] = {c.kind: c for c in (Exact, Numeric, Regex, ToolCall, Predicate)}
"""The checker kinds by the key a task file names them with."""

_OPTIONS = {
    "exact": {"ignore_case"},
    "numeric": {"tolerance"},
    "regex": {"ignore_case"},
    "tool_call": set(),
    "predicate": set(),
}


def parse_checker(spec: Any, *, functions: Mapping[str, Mapping[str, Any]] | None = None) -> Checker:
    """Return the checker a task file's `check` object describes (see the module docstring for the kinds).

    Args:
        spec: e.g. `{"numeric": 18}` or `{"regex": "Paris", "ignore_case": true}`.
        functions: function declarations by name, for a BFCL-form `tool_call`'s required arguments.

    Raises:
        ValueError: not one known kind, an unknown option, or a value of the wrong type (says which).

    Example:
        >>> parse_checker({"numeric": "1,248"})
        Numeric(expected=1248.0, tolerance=1e-06)
        >>> parse_checker({"fuzzy": "x"})
        Traceback (most recent call last):
        ...
        ValueError: unknown checker 'fuzzy': use one of exact, numeric, regex, tool_call, predicate
    """
    if not isinstance(spec, Mapping):
        raise ValueError(f"a checker is a JSON object such as {{\"exact\": \"...\"}}, not {type(spec).__name__}")
    kinds = [key for key in spec if key in KINDS]
    if len(kinds) != 1:
        unknown = [key for key in spec if not any(key in o for o in _OPTIONS.values())]
        if unknown and not kinds:
            raise ValueError(f"unknown checker {unknown[0]!r}: use one of {', '.join(KINDS)}")
        raise ValueError(f"a checker names exactly one kind of {', '.join(KINDS)}; got {sorted(spec) or 'none'}")
    kind = kinds[0]
    extra = set(spec) - {kind} - _OPTIONS[kind]
    if extra:
        raise ValueError(f"{kind} checker has unknown option(s) {', '.join(sorted(extra))}")
    value = spec[kind]
    if kind == "exact":
        return Exact(_string(value, kind), ignore_case=_flag(spec, "ignore_case"))
    if kind == "numeric":
        tolerance = spec.get("tolerance", 1e-6)
        if isinstance(tolerance, bool) or not isinstance(tolerance, int | float) or not tolerance >= 0:
            raise ValueError(f"numeric tolerance must be a number >= 0, got {tolerance!r}")
        return Numeric(_number(value), tolerance=float(tolerance))
    if kind == "regex":
        try:
            return Regex(_string(value, kind), ignore_case=_flag(spec, "ignore_case"))
        except re.error as exc:
            raise ValueError(f"regex {value!r} does not compile: {exc}") from exc
    if kind == "tool_call":
        return _tool_call(value, functions or {})
    try:
        return Predicate(_string(value, kind))
    except (ImportError, AttributeError) as exc:
        raise ValueError(str(exc)) from exc


def _tool_call(value: Any, functions: Mapping[str, Mapping[str, Any]]) -> ToolCall:
    if isinstance(value, list):
        for accepted in value:
            if not (isinstance(accepted, dict) and len(accepted) == 1):
                raise ValueError("each accepted call is {name: {argument: [allowed values]}}")
            ((_, allowed),) = accepted.items()
            if not isinstance(allowed, dict) or not all(isinstance(v, list) for v in allowed.values()):
                raise ValueError("each accepted call's arguments map to lists of allowed values")
        return ToolCall(calls=value, functions=functions)
    if not isinstance(value, dict) or not isinstance(value.get("name"), str) or set(value) - {"name", "args"}:
        raise ValueError('tool_call is {"name": "...", "args": {...}} or a list of BFCL accepted calls')
    args = value.get("args", {})
    if not isinstance(args, dict):
        raise ValueError("tool_call args must be a JSON object")
    return ToolCall(name=value["name"], args=args)


def _string(value: Any, kind: str) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{kind} checker needs a string, got {type(value).__name__}")
    return value


def _number(value: Any) -> float:
    if isinstance(value, bool):
        raise ValueError("numeric checker needs a number, got a boolean")
    if isinstance(value, str):
        found = numbers_in(value)
        if len(found) != 1 or not _NUMBER.fullmatch(_THOUSANDS.sub("", value.strip())):
            raise ValueError(f"numeric checker needs a number, got {value!r}")
        return found[0]
    if not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"numeric checker needs a finite number, got {value!r}")
    return float(value)


def _flag(spec: Mapping[str, Any], key: str) -> bool:
    value = spec.get(key, False)
    if not isinstance(value, bool):
        raise ValueError(f"{key} must be true or false, got {value!r}")
    return value


def _import_function(ref: str) -> Callable[..., Any]:
    module_name, sep, attr = ref.partition(":")
    if not sep or not module_name or not attr:
        raise ValueError(f"predicate {ref!r} must be written module:function")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        target: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise ImportError(f"predicate {ref!r}: cannot import {module_name!r}: {exc}") from exc
    for part in attr.split("."):
        if not hasattr(target, part):
            raise AttributeError(f"predicate {ref!r}: {module_name!r} has no attribute {attr!r}")
        target = getattr(target, part)
    if not callable(target) or inspect.isclass(target):
        raise ValueError(f"predicate {ref!r} is not a function")
    return target
