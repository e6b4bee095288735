"""Plain JSON values for the evaluation files: Python floats and ints, no NaN or infinity."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any


def finite_or_none(value: Any) -> float | None:
    """``value`` as a Python float, or None when it is not a finite number (NaN, ±inf)."""
    number = float(value)
    return number if math.isfinite(number) else None


def float_list(values: Iterable[Any]) -> list[float | None]:
    """Each value as a Python float (None where not finite)."""
    return [finite_or_none(v) for v in values]


def finite_metrics(values: dict[str, Any]) -> dict[str, float]:
    """The metrics whose value is a finite number, as Python floats (the others left out)."""
    out: dict[str, float] = {}
    for name, value in values.items():
        number = finite_or_none(value)
        if number is not None:
            out[name] = number
    return out


def decimate_indices(length: int, max_points: int) -> list[int]:
    """At most ``max_points`` indices of ``range(length)``, evenly spread, first and last kept.

    Raises:
        ValueError: ``max_points`` is below 2.
    """
    if max_points < 2:
        raise ValueError("max_points must be at least 2 (the ends are kept)")
    if length <= max_points:
        return list(range(length))
    step = (length - 1) / (max_points - 1)
    return sorted({round(i * step) for i in range(max_points)})
