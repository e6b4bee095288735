"""Shared helpers of the benchmarks: timing and a side-by-side table."""

from __future__ import annotations

import platform
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class Row:
    """One measured figure next to its baseline (measured in the same run) and its goal."""

    name: str
    value: float
    unit: str
    baseline_name: str = ""
    baseline: float | None = None
    goal: str = ""

    @property
    def ratio(self) -> float | None:
        if self.baseline in (None, 0):
            return None
        return self.value / self.baseline


def timed(func: Callable[[], object], repeat: int = 1) -> float:
    """Best wall time in seconds of ``repeat`` calls of ``func``."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        func()
        best = min(best, time.perf_counter() - start)
    return best


def machine() -> str:
    """A one-line description of this machine."""
    import os

    return f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"


def print_table(title: str, rows: list[Row]) -> None:
    """Print rows as a fixed-width table, figures beside their baseline and ratio."""
    print(f"\n## {title}  ({machine()})")
    header = f"{'figure':<48} {'value':>12} {'unit':<8} {'baseline':<34} {'ratio':>7}  goal"
    print(header)
    print("-" * len(header))
    for row in rows:
        base = ""
        if row.baseline is not None:
            base = f"{row.baseline_name} {row.baseline:.4g}"
        ratio = f"{row.ratio:.2f}" if row.ratio is not None else ""
        print(f"{row.name:<48} {row.value:>12.4g} {row.unit:<8} {base:<34} {ratio:>7}  {row.goal}")
