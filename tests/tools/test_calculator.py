"""The calculator evaluates arithmetic exactly and refuses everything else."""

from __future__ import annotations

import pytest

from graphwright.tools import calculator, evaluate


@pytest.mark.parametrize(
    ("expression", "value"),
    [
        ("17 * 23 + 4", 395),
        ("(1 + 2) / 4", 0.75),
        ("0.1 + 0.2", 0.3),
        ("7 / 7", 1),
        ("2 ** 10", 1024),
        ("-3 // 2", -2),
        ("10 % 4", 2),
        ("sqrt(16) + abs(-2)", 6),
        ("2^3", 8),
        ("1,000 + 1", 1001),
        ("2 ** 0.5", 2**0.5),
    ],
)
def test_arithmetic(expression: str, value: float) -> None:
    assert evaluate(expression) == pytest.approx(value)


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("__import__('os').system('true')", "unsupported element"),
        ("().__class__", "unsupported element"),
        ("x + 1", "unsupported element"),
        ("9 ** 9 ** 9", "exponent"),
        ("1 / 0", "division by zero"),
        ("(-8) ** 0.5", "not a real number"),
        ("", "empty expression"),
        ("1 +", "not an arithmetic expression"),
        ("1" * 501, "longer than 500"),
        ("True + 1", "unsupported element"),
    ],
)
def test_refusals(expression: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        evaluate(expression)


def test_tool_schema_comes_from_hints_and_docstring() -> None:
    schema = calculator.args_schema.model_json_schema()
    assert schema["required"] == ["expression"]
    assert schema["properties"]["expression"]["type"] == "string"
    assert calculator.invoke({"expression": "6*7"}) == "42"
