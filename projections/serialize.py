"""Plain JSON-able data from any view, for ``aistudio show``."""

from __future__ import annotations

import dataclasses
from typing import Any

_SCALARS = (str, int, float, bool, type(None))
_SCALAR_TYPES = frozenset(_SCALARS)


def to_jsonable(obj: Any) -> Any:
    """``obj`` as JSON-able data: dicts with string keys, lists, strings, numbers, None.

    Dataclasses become dicts of their public fields (names starting with ``_`` are private and
    left out), named tuples dicts of their fields, tuples and lists lists, sets sorted lists.

    Raises:
        TypeError: ``obj`` holds something else (a bare object, bytes, …).
    """
    kind = type(obj)
    if kind in _SCALAR_TYPES:
        return obj
    if isinstance(obj, dict):
        return {k if type(k) is str else _key(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, tuple):
        fields = getattr(obj, "_fields", None)
        if fields is not None:
            if _SCALAR_TYPES.issuperset(map(type, obj)):  # the fast path of 100k images
                return dict(zip(fields, obj, strict=True))
            return {name: to_jsonable(v) for name, v in zip(fields, obj, strict=True)}
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, list):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, (set, frozenset)):
        return sorted(to_jsonable(v) for v in obj)
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {
            f.name: to_jsonable(getattr(obj, f.name))
            for f in dataclasses.fields(obj)
            if not f.name.startswith("_")
        }
    if isinstance(obj, _SCALARS):  # subclasses of str, int, … (enums, for instance)
        return obj
    raise TypeError(f"cannot turn a {kind.__name__} into JSON data")


def _key(key: Any) -> str:
    if isinstance(key, str):
        return key
    if key is None or isinstance(key, bool):
        return "null" if key is None else ("true" if key else "false")
    if isinstance(key, (int, float)):
        return str(key)
    raise TypeError(f"cannot use a {type(key).__name__} as a JSON key")
