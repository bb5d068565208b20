"""Argument checks shared by the leading-order numerics (MODEL.md §5): each refusal is one
``ValueError`` naming the parameter, its value and what is allowed."""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "FloatArray",
    "check_cost_power",
    "finite_float",
    "positive_float",
    "positive_int",
    "same_value",
]

FloatArray = NDArray[np.float64]


def finite_float(name: str, value: object) -> float:
    """``value`` as a finite float."""
    try:
        out = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a real number, got {name} = {value!r}") from None
    if not math.isfinite(out):
        raise ValueError(f"{name} must be finite, got {name} = {out!r}")
    return out


def positive_float(name: str, value: object) -> float:
    """``value`` as a finite float ``> 0``."""
    out = finite_float(name, value)
    if out <= 0.0:
        raise ValueError(f"{name} must be > 0, got {name} = {out!r}")
    return out


def check_cost_power(q: object) -> float:
    """The cost power ``q`` as a float in ``(1, 2]`` (MODEL.md §1)."""
    out = finite_float("q", q)
    if not 1.0 < out <= 2.0:
        raise ValueError(f"q (the cost power) must lie in (1, 2], got q = {out!r}")
    return out


def positive_int(name: str, value: object) -> int:
    """``value`` as an int ``>= 1`` (bools refused)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name} must be a positive integer, got {name} = {value!r}")
    if value < 1:
        raise ValueError(f"{name} must be a positive integer (>= 1), got {name} = {value!r}")
    return int(value)


def same_value(name: str, value: object, expected: float) -> None:
    """Refuse ``value`` unless it equals ``expected`` (relative 1e-12): an argument that
    repeats what the coefficients were built with."""
    v = finite_float(name, value)
    if not math.isclose(v, expected, rel_tol=1e-12, abs_tol=0.0):
        raise ValueError(
            f"{name} must equal the value the coefficients were built with ({expected!r}), "
            f"got {name} = {v!r}"
        )
