"""Each checker kind judges outcomes as documented, and a malformed checker is refused with a reason."""

from __future__ import annotations

import pytest

from graphwright.evals import Exact, Numeric, Outcome, Predicate, Regex, ToolCall, parse_checker


def calls(*made: tuple[str, dict]) -> Outcome:
    return Outcome(answer="", tool_calls=tuple({"name": n, "args": a} for n, a in made))


def test_exact_strips_whitespace_and_can_ignore_case() -> None:
    check = parse_checker({"exact": "Paris"})
    assert check(Outcome("Paris")) and check(Outcome("  Paris\n"))
    assert not check(Outcome("paris")) and not check(Outcome("Paris, France"))
    assert parse_checker({"exact": "Paris", "ignore_case": True})(Outcome("PARIS"))


@pytest.mark.parametrize(
    ("answer", "ok"),
    [
        ("She makes $18 every day.", True),
        ("16 - 3 - 4 = 9 eggs, so 9 * 2 = 18", True),
        ("18.0", True),
        ("It is 1,018 dollars", False),  # 1018, not 18
        ("18 or maybe 19", False),  # the last number counts
        ("no number here", False),
        ("", False),
    ],
)
def test_numeric_reads_the_last_number(answer: str, ok: bool) -> None:
    assert parse_checker({"numeric": 18})(Outcome(answer)) is ok


def test_numeric_tolerance_and_thousands() -> None:
    assert parse_checker({"numeric": "1,018"})(Outcome("It is 1,018 dollars"))
    assert parse_checker({"numeric": 3.14, "tolerance": 0.01})(Outcome("pi is about 3.141"))
    assert not parse_checker({"numeric": 3.14})(Outcome("pi is about 3.141"))
    assert parse_checker({"numeric": -5})(Outcome("The change is -5."))


def test_regex_searches_the_answer() -> None:
    check = parse_checker({"regex": r"\bHTTP/2\b"})
    assert check(Outcome("HTTPX supports HTTP/1.1 and HTTP/2."))
    assert not check(Outcome("http/2"))
    assert parse_checker({"regex": "http/2", "ignore_case": True})(Outcome("It speaks HTTP/2"))


def test_tool_call_subset_form() -> None:
    check = parse_checker({"tool_call": {"name": "calculator", "args": {"expression": "6*7"}}})
    assert check(calls(("search", {"q": "x"}), ("calculator", {"expression": "6*7", "precision": 2})))
    assert check(calls(("calculator", {"expression": " 6*7 "})))  # BFCL string normalisation
    assert not check(calls(("calculator", {"expression": "6 * 8"})))
    assert not check(calls(("calc", {"expression": "6*7"})))
    assert not check(calls())
    assert parse_checker({"tool_call": {"name": "now"}})(calls(("now", {})))


def test_tool_call_bfcl_form() -> None:
    truth = [{"area": {"base": [10], "height": [5], "unit": ["units", ""]}}]
    functions = {"area": {"name": "area", "parameters": {"required": ["base", "height"]}}}
    check = parse_checker({"tool_call": truth}, functions=functions)
    assert check(calls(("area", {"base": 10, "height": 5.0})))
    assert check(calls(("area", {"base": 10, "height": 5, "unit": "Units"})))
    assert not check(calls(("area", {"base": 10})))  # a required argument is missing
    assert not check(calls(("area", {"base": 10, "height": 5, "colour": "red"})))  # an argument not in the answer
    assert not check(calls(("area", {"base": 10, "height": 5}), ("area", {"base": 10, "height": 5})))  # one too many
    assert parse_checker({"tool_call": []})(calls())  # irrelevance: no call wanted
    assert not parse_checker({"tool_call": []})(calls(("area", {"base": 1, "height": 1})))


def test_tool_call_bfcl_form_matches_parallel_calls_in_any_order() -> None:
    truth = [{"play": {"artist": ["Taylor Swift"]}}, {"play": {"artist": ["Maroon 5"]}}]
    check = parse_checker({"tool_call": truth})
    assert check(calls(("play", {"artist": "maroon 5"}), ("play", {"artist": "Taylor Swift"})))
    assert not check(calls(("play", {"artist": "Maroon 5"}), ("play", {"artist": "Maroon 5"})))


def test_predicate_is_called_with_answer_and_state(tmp_path, monkeypatch) -> None:
    (tmp_path / "my_checks.py").write_text(
        "def polite(answer, state):\n    return 'please' in answer and state.get('verdict') == 'approve'\n"
    )
    monkeypatch.chdir(tmp_path)  # the current folder is importable, as for graphs
    check = parse_checker({"predicate": "my_checks:polite"})
    assert isinstance(check, Predicate)
    assert check(Outcome("yes please", state={"verdict": "approve"}))
    assert not check(Outcome("yes please", state={"verdict": "revise"}))


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"fuzzy": "x"}, "unknown checker 'fuzzy'"),
        ({}, "exactly one kind"),
        ({"exact": "a", "regex": "b"}, "exactly one kind"),
        ({"exact": 3}, "needs a string"),
        ({"numeric": "eighteen"}, "needs a number"),
        ({"numeric": 1, "tolerance": -1}, "tolerance"),
        ({"regex": "("}, "does not compile"),
        ({"exact": "a", "tolerance": 1}, "unknown option"),
        ({"tool_call": {"args": {}}}, "tool_call is"),
        ({"tool_call": [{"f": {"x": 1}}]}, "lists of allowed values"),
        ({"predicate": "no_such_module_here:f"}, "cannot import"),
        ({"predicate": "os.path:no_such_function"}, "has no attribute"),
        ({"predicate": "nocolon"}, "module:function"),
        ("exact", "JSON object"),
    ],
)
def test_malformed_checkers_are_refused(spec, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_checker(spec)


def test_spec_round_trips() -> None:
    for checker in (Exact("a", ignore_case=True), Numeric(18.0), Numeric(0.5, tolerance=0.1), Regex("x"),
                    ToolCall(name="f", args={"x": 1}), ToolCall(calls=[{"f": {"x": [1]}}])):
        assert parse_checker(checker.spec()) == checker
