"""Reading Dash layout trees in page tests: walk them, find ids, read their text."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any


def walk(node: Any) -> Iterator[Any]:
    """Every component and string of a layout tree (or of a list of trees)."""
    if isinstance(node, (list, tuple)):
        for item in node:
            yield from walk(item)
        return
    yield node
    children = getattr(node, "children", None)
    if children is None or isinstance(node, str):
        return
    for child in children if isinstance(children, (list, tuple)) else [children]:
        yield from walk(child)


def text_of(node: Any, sep: str = " ") -> str:
    """The text of a layout tree, pieces joined by ``sep`` (``""``: as shown inline)."""
    return sep.join(str(n) for n in walk(node) if isinstance(n, (str, int, float)))


def by_id(node: Any, wanted: Any) -> list[Any]:
    """The components of a tree with this id."""
    return [n for n in walk(node) if getattr(n, "id", None) == wanted]
