"""Checks shared by the evaluation tests."""

from __future__ import annotations

import math
from typing import Any


def assert_plain_json(value: Any, where: str = "") -> None:
    """Only dicts with str keys, lists, str, bool, int, finite float and None (no numpy)."""
    if isinstance(value, dict):
        for key, item in value.items():
            assert type(key) is str, f"{where}: key {key!r}"
            assert_plain_json(item, f"{where}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            assert_plain_json(item, f"{where}[{index}]")
    elif type(value) is float:
        assert math.isfinite(value), f"{where} is {value}"
    else:
        assert value is None or type(value) in (str, bool, int), f"{where}: {type(value)}"
