"""Reading Dash layout trees in page tests: walk them, find ids, read their text.

Two walkers: :func:`walk` yields every component and string of ``children``; the
``components``/``find``/``has``/``rendered_text`` family also goes through ``label`` and
``title`` props, yields components only, and checks on the way that Dash can render the tree
(no list nested inside a list of children).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from dash.development.base_component import Component

_RENDERED_PROPS = ("children", "label", "title")


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


def _flat(component: Component, value: Any) -> None:
    """Dash renders a list of children, not a list inside one (React error #31 otherwise)."""
    if isinstance(value, (list, tuple)):
        nested = [child for child in value if isinstance(child, (list, tuple))]
        where = getattr(component, "id", None)
        assert not nested, f"{type(component).__name__} {where!r}: a list inside its children"


def components(tree: Any) -> Iterator[Component]:
    """Every component of a layout tree (depth first), checking that Dash can render it."""
    if isinstance(tree, (list, tuple)):
        for child in tree:
            yield from components(child)
        return
    if not isinstance(tree, Component):
        return
    yield tree
    for name in _RENDERED_PROPS:
        value = getattr(tree, name, None)
        if isinstance(value, (Component, list, tuple)):
            _flat(tree, value)
            yield from components(value)


def find(tree: Any, id: Any) -> Any:
    """The component with ``id`` in ``tree`` (the test fails when there is none)."""
    for component in components(tree):
        if getattr(component, "id", None) == id:
            return component
    raise AssertionError(f"no component {id!r} in the layout")


def has(tree: Any, id: Any) -> bool:
    """Whether ``tree`` holds a component with ``id``."""
    return any(getattr(c, "id", None) == id for c in components(tree))


def rendered_text(tree: Any) -> str:
    """All the text of a component tree (children, labels and titles), space-separated."""
    parts: list[str] = []

    def visit(node: Any) -> None:
        if isinstance(node, str):
            parts.append(node)
        elif isinstance(node, (int, float)) and not isinstance(node, bool):
            parts.append(str(node))
        elif isinstance(node, (list, tuple)):
            for child in node:
                visit(child)
        elif isinstance(node, Component):
            for name in _RENDERED_PROPS:
                value = getattr(node, name, None)
                if value is not None:
                    _flat(node, value)
                    visit(value)

    visit(tree)
    return " ".join(parts)
