"""Annotations drawn over an image: one component for every place an image is shown.

The boxes are plain absolutely positioned elements over the ``<img>``, placed in percentages of
the image's frame, so they need no canvas, no script and no knowledge of the rendered size:
they stay on their objects however the grid resizes, at thumbnail size (60 a page) as in the
detail view. The frame is a square (the thumbnails' ``aspect-ratio: 1 / 1; object-fit:
contain``) or the image's own aspect ratio (``fit="image"``); the image is centred in it.

Colours come from one palette by the class's place in the project's list, so a class has the
same colour on every page. What is drawn is only what the annotation says; whether to draw is
the caller's (the Dataset page's "Show boxes" switch).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

from dash import html
from dash.development.base_component import Component

PALETTE: tuple[str, ...] = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
)
"""Tableau's ten colours (Plotly's and Matplotlib's default cycle), readable on light and dark."""

Fit = Literal["square", "image"]
TAG_INSIDE_BELOW = 12.0
"""A box whose top is within this percentage of the frame's top gets its tag inside it."""


def class_color(name: str, classes: Sequence[str]) -> str:
    """The colour of class ``name``: by its place in ``classes`` (a stable hash when absent)."""
    try:
        index = list(classes).index(name)
    except ValueError:
        index = sum(map(ord, name))
    return PALETTE[index % len(PALETTE)]


def _percent(value: float) -> str:
    return f"{value * 100:.3f}%"


def box_style(box: Sequence[float], width: int, height: int, fit: Fit = "square") -> dict[str, str]:
    """The CSS position of ``box`` (``[x1, y1, x2, y2]`` pixels of a ``width x height``
    image) over the image's frame, in percentages."""
    x1, y1, x2, y2 = box
    if fit == "square":
        side = max(width, height)
        left0, top0 = (1 - width / side) / 2, (1 - height / side) / 2
        sx = sy = 1 / side
    else:
        left0 = top0 = 0.0
        sx, sy = 1 / width, 1 / height
    return {
        "left": _percent(left0 + x1 * sx),
        "top": _percent(top0 + y1 * sy),
        "width": _percent((x2 - x1) * sx),
        "height": _percent((y2 - y1) * sy),
    }


def overlay_boxes(
    annotation: Mapping[str, Any] | None,
    width: int,
    height: int,
    classes: Sequence[str],
    fit: Fit = "square",
    labels: bool = True,
) -> list[Component]:
    """The boxes of ``annotation`` as positioned elements (none for other kinds, or None).

    Each box is outlined in its class's colour and, with ``labels``, tagged with the class name
    (a crowd or difficult object's tag says so).
    """
    if not annotation or width <= 0 or height <= 0:
        return []
    out: list[Component] = []
    for obj in annotation.get("objects") or ():
        box = obj.get("box")
        if box is None:
            continue
        name = str(obj.get("class"))
        color = class_color(name, classes)
        flags = [f for f in ("difficult", "crowd") if obj.get(f)]
        tag = name + (f" ({', '.join(flags)})" if flags else "")
        style = box_style(box, width, height, fit)
        # The tag sits above its box, where it hides nothing of the object; inside it when the
        # box touches the frame's top.
        where = " inside" if float(style["top"].rstrip("%")) < TAG_INSIDE_BELOW else ""
        children = [html.Span(tag, className=f"overlay-tag{where}", style={"background": color})]
        out.append(
            html.Div(
                children if labels else [],
                className="overlay-box" + (" overlay-flagged" if flags else ""),
                style={**style, "borderColor": color},
                title=tag,
            )
        )
    return out


def annotated(
    image: Component,
    annotation: Mapping[str, Any] | None,
    width: int,
    height: int,
    classes: Sequence[str],
    fit: Fit = "square",
    labels: bool = True,
    show: bool = True,
) -> html.Div:
    """``image`` in a frame with ``annotation`` drawn over it (nothing drawn when not ``show``)."""
    boxes = overlay_boxes(annotation, width, height, classes, fit, labels) if show else []
    style = {} if fit == "square" else {"aspectRatio": f"{width} / {height}"}
    return html.Div(
        [image, *boxes],
        className=f"annotated annotated-{fit}",
        style=style,
    )


def object_summary(annotation: Mapping[str, Any] | None) -> str:
    """``3 objects`` / ``no object`` (a negative) / ``not annotated`` for a thumbnail's label."""
    if annotation is None:
        return "not annotated"
    objects = annotation.get("objects")
    if objects is None:
        return str(annotation.get("kind"))
    if not objects:
        return "no object"
    return f"{len(objects)} object{'s' if len(objects) != 1 else ''}"
