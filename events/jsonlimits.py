"""Limits on JSON handed in by people and scripts: size and nesting depth.

Nothing a user or script gives (``aistudio submit --data/--file``, ``aistudio train --config``,
``EventLog.append`` data) needs more than a few levels of nesting; a hostile or broken input with
100,000 nested brackets must get one clear line, not a ``RecursionError`` traceback.
"""

from __future__ import annotations

from typing import Any

import orjson

MAX_JSON_DEPTH = 32
"""Deepest nesting of objects and arrays accepted (the deepest event data nests about 5)."""
MAX_JSON_BYTES = 1 << 20
"""Largest JSON text accepted from a person or a script (1 MiB)."""


class JsonLimitError(ValueError):
    """The JSON is not valid, too large or nested too deeply; the message is one line."""


def json_depth_over(value: Any, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether ``value`` (parsed JSON: dicts, lists, scalars) nests deeper than ``limit``.

    Iterative, so a value nested far deeper than Python's recursion limit is measured safely.
    """
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, (list, tuple)):
            children = item
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


def parse_json(
    raw: str | bytes,
    what: str = "data",
    max_bytes: int = MAX_JSON_BYTES,
    max_depth: int = MAX_JSON_DEPTH,
) -> Any:
    """Parse JSON from a person or script under the size and depth limits.

    Raises:
        JsonLimitError: larger than ``max_bytes``, not valid JSON, or nested deeper than
            ``max_depth`` (one line naming ``what``).
    """
    size = len(raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else raw)
    if size > max_bytes:
        raise JsonLimitError(f"{what} is {size:,} bytes: at most {max_bytes:,} are accepted")
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        if "depth" in str(exc) or "recursion" in str(exc):
            raise JsonLimitError(f"{what} nests deeper than {max_depth} levels") from None
        raise JsonLimitError(f"{what} is not valid JSON: {exc}") from None
    if json_depth_over(value, max_depth):
        raise JsonLimitError(f"{what} nests deeper than {max_depth} levels")
    return value
