"""Annotations drawn over an image: one component for every place an image is shown.

The boxes are plain absolutely positioned elements over the ``<img>``, placed in percentages of
the image's frame, so they need no canvas, no script and no knowledge of the rendered size:
they stay on their objects however the grid resizes, at thumbnail size (60 a page) as in the
detail view. The frame is a square (the thumbnails' ``aspect-ratio: 1 / 1; object-fit:
contain``) or the image's own aspect ratio (``fit="image"``); the image is centred in it.

Colours come from one palette by the class's place in the project's list, so a class has the
same colour on every page. What is drawn is only what the annotation says; whether to draw is
the caller's (the Dataset page's "Show boxes" switch).

An evaluation's boxes are drawn the same way, coloured by how they matched instead of by class
(:func:`match_boxes`): found (green), false detection (red), missed (orange, dashed), ignored
(grey); the ground truth of a found object is a thin dotted outline under its detection.

An instance's shape is filled in its class's colour, semi-transparent, under its box
(:func:`shape_element`): an element covering the image's rectangle in the frame, cut to each
outline by CSS ``clip-path: polygon(x% y%, …)``, or, for a mask file of the content store,
painted through it by CSS ``mask-image`` (``mask-mode: luminance``: white is the object), served
by the media route :func:`mask_url` names. Its opacity is the CSS variable ``--mask-opacity``
(:func:`opacity_style`), so a slider changes one style of a container, not every shape. A crowd
region (an ignore area) is hatched instead of filled.

A semantic mask (one index PNG per image) is one picture over the image's rectangle
(:func:`semantic_overlay`): the media route :func:`semantic_url` names serves it as an RGBA PNG
coloured by class (background transparent, ignore a faint grey; see
:mod:`ui.components.semantic_masks`), stretched and pixelated, at the same ``--mask-opacity``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

from dash import html
from dash.development.base_component import Component

from events.schemas.annotation import IGNORE_INDEX

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


def palette_index(name: str, classes: Sequence[str]) -> int:
    """Where class ``name``'s colour is in :data:`PALETTE`: by its place in ``classes`` (a
    stable hash when absent)."""
    try:
        index = list(classes).index(name)
    except ValueError:
        index = sum(map(ord, name))
    return index % len(PALETTE)


def class_color(name: str, classes: Sequence[str]) -> str:
    """The colour of class ``name``: by its place in ``classes`` (a stable hash when absent)."""
    return PALETTE[palette_index(name, classes)]


def _percent(value: float) -> str:
    return f"{value * 100:.3f}%"


# ---------------------------------------------------------------------- shapes (instances)
DEFAULT_MASK_OPACITY = 0.45
"""How opaque a filled shape is when no slider says otherwise (the CSS variable's fallback)."""
SHAPE_KEYS: tuple[str, ...] = ("polygons", "mask")
"""An object's shape: outlines in image pixels, or a mask file of the content store."""
THUMB_STEP = 1.0
"""Over a thumbnail, an outline keeps a point only this far (in percent of the image, along x plus
along y) from the last one kept, at 0.1 %: about a pixel of the grid's 100-170 px thumbnails."""


def mask_url(project_id: str, sha256: str) -> str:
    """The address of a mask file of the project's content store (served by the media route,
    only for files the project's log names)."""
    return f"/media/{project_id}/mask/{sha256}"


def opacity_style(value: float | None) -> dict[str, str]:
    """The style that sets how opaque the shapes inside an element are (0 to 1; the default
    when None)."""
    opacity = DEFAULT_MASK_OPACITY if value is None else min(1.0, max(0.0, float(value)))
    return {"--mask-opacity": f"{opacity:g}"}


def has_shape(obj: Mapping[str, Any]) -> bool:
    """Whether an object carries an outline or a mask to fill."""
    return bool(obj.get("polygons")) or bool(obj.get("mask"))


def polygon_clip(ring: Sequence[float], width: int, height: int, step: float = 0.0) -> str | None:
    """CSS ``polygon(x% y%, …)`` of one flat ``[x1, y1, x2, y2, …]`` outline of a ``width x
    height`` image, relative to the image's rectangle, at 0.01 % (half a pixel of a 5,000 px
    image), or with ``step`` at 0.1 %, leaving out a point closer than ``step`` percent (along x
    plus along y) to the last one kept. None for fewer than three points."""
    points: list[str] = []
    last: tuple[float, float] | None = None
    for x, y in zip(ring[0::2], ring[1::2], strict=False):
        px, py = x / width * 100, y / height * 100
        if last is not None and abs(px - last[0]) + abs(py - last[1]) < max(step, 0.005):
            continue
        points.append(f"{px:.1f}% {py:.1f}%" if step else f"{px:.2f}% {py:.2f}%")
        last = (px, py)
    if len(points) < 3:
        return None
    return f"polygon({', '.join(points)})"


def shape_element(
    obj: Mapping[str, Any],
    width: int,
    height: int,
    color: str,
    fit: Fit = "square",
    project_id: str | None = None,
    css: str = "",
    title: str | None = None,
) -> html.Div | None:
    """An object's shape filled in ``color`` over the image's frame (None when it has none to
    draw: no outline, or a mask file and no ``project_id`` to fetch it from).

    ``obj`` has ``polygons`` (outlines in image pixels: one clipped element each, inside one
    element whose opacity they share, so overlapping parts are not darker) or ``mask``
    (``{sha256, ext}``: painted through the file). ``css`` adds classes (``overlay-crowd``:
    hatched, ``overlay-prediction``).
    """
    if width <= 0 or height <= 0:
        return None
    rect = box_style((0, 0, width, height), width, height, fit)
    style: dict[str, str] = {**rect, "--shape-color": color}
    classes = "overlay-mask" + (f" {css}" if css else "")
    polygons = obj.get("polygons")
    mask = obj.get("mask")
    if polygons:
        step = THUMB_STEP if fit == "square" else 0.0
        clips = [polygon_clip(ring, width, height, step) for ring in polygons]
        rings = [
            html.Div(className="overlay-ring", style={"clipPath": clip})
            for clip in clips
            if clip is not None
        ]
        if not rings:
            return None
        return html.Div(rings, className=classes, style=style, title=title or "")
    if mask and project_id:
        url = f"url({mask_url(project_id, str(mask['sha256']))})"
        style |= {"maskImage": url, "WebkitMaskImage": url}
        return html.Div(className=f"{classes} overlay-mask-file", style=style, title=title or "")
    return None


def overlay_shapes(
    annotation: Mapping[str, Any] | None,
    width: int,
    height: int,
    classes: Sequence[str],
    fit: Fit = "square",
    project_id: str | None = None,
) -> list[Component]:
    """The filled shapes of ``annotation``'s objects (none for objects without one), each in
    its class's colour; a crowd region hatched. ``project_id``: where mask files come from."""
    if not annotation:
        return []
    out: list[Component] = []
    for obj in annotation.get("objects") or ():
        if not has_shape(obj):
            continue
        name = str(obj.get("class"))
        crowd = bool(obj.get("crowd"))
        element = shape_element(
            obj,
            width,
            height,
            class_color(name, classes),
            fit,
            project_id,
            css="overlay-crowd" if crowd else "",
            title=f"{name} (crowd: ignored)" if crowd else name,
        )
        if element is not None:
            out.append(element)
    return out


# ---------------------------------------------------------------------- semantic masks
SEMANTIC_KIND = "semantic"
TRANSPARENT = "-"
"""A semantic mask's value drawn transparent (the background), in a colour code."""
CODE_DIGITS = "0123456789abcdefghijklmnopqrstuvwxyz"
"""Palette indices in a colour code (base 36: the palette may grow to 36 colours)."""


def legend_of(legend: Sequence[str] | None, classes: Sequence[str]) -> tuple[str, ...]:
    """What a semantic mask's values name: its legend, or the project's classes when it has
    none (DESIGN §3b)."""
    return tuple(str(c) for c in (legend if legend else classes))


def color_code(legend: Sequence[str], classes: Sequence[str]) -> str:
    """The colour code of a mask whose value ``i`` is ``legend[i]``: a character per value, the
    background (value 0) ``-`` (transparent), every other class its colour's place in
    :data:`PALETTE` in the project's ``classes`` (base 36). See
    :mod:`ui.components.semantic_masks`."""
    chars = [TRANSPARENT]
    for name in list(legend)[1:IGNORE_INDEX]:
        chars.append(CODE_DIGITS[palette_index(str(name), classes)])
    return "".join(chars)


def semantic_url(project_id: str, sha256: str, code: str) -> str:
    """The address of a semantic mask of the project's content store as a coloured RGBA PNG
    (served by the media route, only for files the project's log names)."""
    return f"/media/{project_id}/semantic/{sha256}.png?c={code}"


def semantic_element(
    src: str, width: int, height: int, fit: Fit = "square", css: str = "", title: str = ""
) -> html.Img | None:
    """A coloured mask picture (``src``: an RGBA PNG, any resolution) stretched over the image's
    rectangle in its frame, pixelated (NEAREST), at ``var(--mask-opacity)``. ``css`` adds
    classes (``semantic-prediction``, ``semantic-errors``)."""
    if width <= 0 or height <= 0:
        return None
    return html.Img(
        src=src,
        alt="",
        className="overlay-mask overlay-semantic" + (f" {css}" if css else ""),
        style=box_style((0, 0, width, height), width, height, fit),
        title=title,
    )


def semantic_overlay(
    annotation: Mapping[str, Any] | None,
    width: int,
    height: int,
    classes: Sequence[str],
    fit: Fit = "square",
    project_id: str | None = None,
) -> list[Component]:
    """A semantic annotation's mask, coloured by class (none for other kinds, or without a
    ``project_id`` to fetch it from)."""
    if not annotation or annotation.get("kind") != SEMANTIC_KIND or not project_id:
        return []
    mask = annotation.get("mask") or {}
    sha = mask.get("sha256")
    if not sha:
        return []
    legend = legend_of(annotation.get("classes"), classes)
    url = semantic_url(project_id, str(sha), color_code(legend, classes))
    element = semantic_element(url, width, height, fit, css="semantic-truth")
    return [] if element is None else [element]


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


def _tag_where(style: Mapping[str, str]) -> str:
    # The tag sits above its box, where it hides nothing of the object; inside it when the box
    # touches the frame's top.
    return " inside" if float(style["top"].rstrip("%")) < TAG_INSIDE_BELOW else ""


def box_element(
    box: Sequence[float],
    width: int,
    height: int,
    color: str,
    tag: str | None,
    fit: Fit = "square",
    labels: bool = True,
    css: str = "",
    title: str | None = None,
) -> html.Div:
    """One box over the image's frame: outlined in ``color``, tagged with ``tag`` (when
    ``labels`` and a tag is given); ``css`` adds classes (``overlay-flagged``, a match status).
    """
    style = box_style(box, width, height, fit)
    children: list[Component] = []
    if labels and tag:
        children.append(
            html.Span(tag, className=f"overlay-tag{_tag_where(style)}", style={"background": color})
        )
    return html.Div(
        children,
        className="overlay-box" + (f" {css}" if css else ""),
        style={**style, "borderColor": color},
        title=title if title is not None else (tag or ""),
    )


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
        flags = [f for f in ("difficult", "crowd") if obj.get(f)]
        tag = name + (f" ({', '.join(flags)})" if flags else "")
        css = ["overlay-flagged"] if flags else []
        if has_shape(obj):
            css.append("overlay-outline")  # its shape is filled: the box is only a frame
        out.append(
            box_element(
                box,
                width,
                height,
                class_color(name, classes),
                tag,
                fit,
                labels,
                css=" ".join(css),
            )
        )
    return out


# ---------------------------------------------------------------------- match statuses
MATCH_STATUSES: tuple[str, ...] = ("tp", "fp", "fn", "ignored", "truth")
"""How a box of an evaluation is drawn: a detection that found an object (``tp``), a false
detection (``fp``), a missed object (``fn``), an ignored object or a detection on one
(``ignored``), an object that was found (``truth``: its detection carries the tag)."""
MATCH_COLORS: dict[str, str] = {
    "tp": "#198754",
    "fp": "#dc3545",
    "fn": "#fd7e14",
    "ignored": "#6c757d",
    "truth": "#198754",
}
"""Bootstrap's success, danger, orange and secondary: readable on light and dark images."""
MATCH_TITLES: dict[str, str] = {
    "tp": "found (true positive)",
    "fp": "false detection (false positive)",
    "fn": "missed (false negative)",
    "ignored": "ignored (difficult or crowd)",
    "truth": "ground truth, found",
}


def match_boxes(
    items: Sequence[Mapping[str, Any]],
    width: int,
    height: int,
    fit: Fit = "square",
    labels: bool = True,
) -> list[Component]:
    """Boxes drawn by match status (``items``: ``box``, ``status`` of :data:`MATCH_STATUSES`,
    optional ``tag``), in the order given (later ones on top).

    The status picks the colour and a class (``overlay-tp``, ``overlay-fn``: dashed, ``overlay-
    truth``: thin, untagged); the tooltip names the status.
    """
    if width <= 0 or height <= 0:
        return []
    out: list[Component] = []
    for item in items:
        box = item.get("box")
        if box is None:
            continue
        status = str(item.get("status"))
        tag = item.get("tag")
        meaning = MATCH_TITLES.get(status, status)
        out.append(
            box_element(
                box,
                width,
                height,
                MATCH_COLORS.get(status, MATCH_COLORS["ignored"]),
                None if status == "truth" else tag,
                fit,
                labels,
                css=f"overlay-{status}",
                title=f"{tag} · {meaning}" if tag else meaning,
            )
        )
    return out


def framed(
    image: Component, boxes: Sequence[Component], width: int, height: int, fit: Fit = "square"
) -> html.Div:
    """``image`` in a frame with ``boxes`` (positioned elements) drawn over it."""
    style = {} if fit == "square" else {"aspectRatio": f"{width} / {height}"}
    return html.Div([image, *boxes], className=f"annotated annotated-{fit}", style=style)


def annotated(
    image: Component,
    annotation: Mapping[str, Any] | None,
    width: int,
    height: int,
    classes: Sequence[str],
    fit: Fit = "square",
    labels: bool = True,
    show: bool = True,
    project_id: str | None = None,
) -> html.Div:
    """``image`` in a frame with ``annotation`` drawn over it (nothing drawn when not ``show``):
    the objects' shapes filled, their boxes on top. ``project_id``: where an object's mask file
    comes from (without it, such an object is drawn as its box only)."""
    if not show:
        return framed(image, [], width, height, fit)
    shapes = [
        *semantic_overlay(annotation, width, height, classes, fit, project_id),
        *overlay_shapes(annotation, width, height, classes, fit, project_id),
    ]
    boxes = overlay_boxes(annotation, width, height, classes, fit, labels)
    return framed(image, [*shapes, *boxes], width, height, fit)


def object_summary(annotation: Mapping[str, Any] | None) -> str:
    """``3 objects`` / ``no object`` (a negative) / ``not annotated`` / ``mask`` (semantic) for a
    thumbnail's label."""
    if annotation is None:
        return "not annotated"
    if annotation.get("kind") == SEMANTIC_KIND:
        return "mask"
    objects = annotation.get("objects")
    if objects is None:
        return str(annotation.get("kind"))
    if not objects:
        return "no object"
    return f"{len(objects)} object{'s' if len(objects) != 1 else ''}"
