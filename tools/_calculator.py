"""A calculator tool that evaluates arithmetic exactly and safely: a walk over Python's AST, never `eval`."""

from __future__ import annotations

import ast
import math
import operator
from fractions import Fraction

from langchain_core.tools import tool

_BINARY = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_UNARY = {ast.UAdd: operator.pos, ast.USub: operator.neg}
_FUNCTIONS = {"sqrt": math.sqrt, "abs": abs, "round": round, "floor": math.floor, "ceil": math.ceil}
_CONSTANTS = {"pi": math.pi, "e": math.e}
_MAX_EXPRESSION = 500  # characters; keeps parsing cheap
_MAX_EXPONENT = 1000  # 2**1000 is fine, 9**9**9 is a denial of service
_MAX_MAGNITUDE = 10**300


def evaluate(expression: str) -> int | float:
    """Evaluate the arithmetic `expression` and return its value.

    Supports numbers, `+ - * / // % **`, parentheses, `sqrt abs round floor ceil`, `pi` and `e`. Division is
    exact (fractions) until the end, so `0.1 + 0.2` is `0.3` and `7 / 7` is `1`.

    Raises:
        ValueError: the expression is empty, too long, not arithmetic, divides by zero, or is too large.

    Example:
        >>> evaluate("17 * 23 + 4")
        395
        >>> evaluate("(1 + 2) / 4")
        0.75
    """
    text = expression.strip().replace("^", "**").replace("×", "*").replace("÷", "/")
    text = text.replace(",", "") if "," in text and "(" not in text else text  # "1,000 + 1"
    if not text:
        raise ValueError("empty expression")
    if len(text) > _MAX_EXPRESSION:
        raise ValueError(f"expression longer than {_MAX_EXPRESSION} characters")
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError as exc:
        raise ValueError(f"not an arithmetic expression: {expression!r}") from exc
    value = _eval(tree.body)
    if isinstance(value, Fraction):
        return value.numerator if value.denominator == 1 else float(value)
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    return value


def _eval(node: ast.AST) -> Fraction | int | float:
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
        return Fraction(node.value) if isinstance(node.value, int) else Fraction(str(node.value))
    if isinstance(node, ast.Name) and node.id in _CONSTANTS:
        return _CONSTANTS[node.id]
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        return _UNARY[type(node.op)](_eval(node.operand))
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        left, right = _eval(node.left), _eval(node.right)
        if isinstance(node.op, ast.Pow) and abs(right) > _MAX_EXPONENT:
            raise ValueError(f"exponent {right} is larger than {_MAX_EXPONENT}")
        if isinstance(node.op, ast.Pow) and isinstance(right, Fraction) and right.denominator != 1:
            left, right = float(left), float(right)
        try:
            result = _BINARY[type(node.op)](left, right)
        except ZeroDivisionError as exc:
            raise ValueError("division by zero") from exc
        if isinstance(result, complex):
            raise ValueError("the result is not a real number")
        if abs(result) > _MAX_MAGNITUDE:
            raise ValueError("the result is too large")
        return result
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id in _FUNCTIONS
        and not node.keywords
    ):
        args = [float(a) if isinstance(a, Fraction) else a for a in map(_eval, node.args)]
        try:
            return _FUNCTIONS[node.func.id](*args)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{node.func.id}: {exc}") from exc
    raise ValueError(f"unsupported element in expression: {ast.unparse(node)!r}")


@tool(parse_docstring=True)
def calculator(expression: str) -> str:
    """Evaluate an arithmetic expression exactly and return the number.

    Args:
        expression: the arithmetic to evaluate, written with + - * / ** and parentheses.
    """
    return str(evaluate(expression))
