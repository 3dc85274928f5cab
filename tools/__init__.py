"""Tools agents act through; the built-in calculator."""

from ._calculator import calculator, evaluate

__all__ = [
    "calculator",
    "evaluate",
]
