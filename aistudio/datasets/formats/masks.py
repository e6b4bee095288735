"""From a source's instances to an ``instances`` annotation: outlines checked, RLE decoded.

Every instance segmentation reader hands its objects over as
:class:`~aistudio.datasets.formats.base.RawInstance` (pixels of the upright image);
:func:`finish_instances` applies one rule to all of them (DESIGN §3b):

- **Polygons stay polygons** in the event: compact (COCO's own outlines are a few dozen points)
  and readable in the log. Each needs three points or more, an area, and must not cross itself
  (shapely's validity: an invalid polygon is refused, never "made valid" behind the user's
  back). Coordinates are rounded to 1/1000 px (a YOLO coordinate times the width would
  otherwise take 18 digits) and checked as rounded. A polygon that strays outside the image by
  at most :data:`~aistudio.datasets.formats.boxes.CLIP_TOLERANCE` of its size is cut to the
  image (shapely's intersection with the image's rectangle, which may leave it in parts) and
  counted as clipped; one further out is refused.
- **An RLE becomes a mask file**: COCO's uncompressed (``counts`` a list) or compressed
  (``counts`` a string, read as pycocotools' ``rleFrString`` does) run-length encoding must
  have the image's size (``size: [height, width]`` of the upright image) and runs that cover it
  exactly. The runs are read and checked here, then decoded with one ``numpy.repeat``:
  pycocotools' decoder trusts its input (a short run list leaves pixels uninitialised, read as
  garbage) and warns under numpy 2; the tests hold both to pycocotools' own encoder and
  decoder. An empty mask is refused. The mask is stored as a 1-bit PNG of the image's size
  (white = the object) in the content store and named by ``{"sha256", "ext": "png"}``:
  :class:`FinishedInstances` carries the PNG bytes for the caller to store before any event
  names them.
- **The box** is the source's (checked and clipped as a detection box is) or, when the source
  gives none, derived: the polygons' bounds, or the mask's pixels' (pycocotools' ``toBbox``).
- An object of a class the source's list does not name is refused. COCO's ``iscrowd`` is kept
  as the object's ``crowd`` flag: an area evaluation ignores, never trained as one object.

As with boxes, one refused object refuses its whole image (an annotation missing one of its
objects would teach the model that the object is background); the reason names the first
refused object, its problem, and how many more there were.
"""

from __future__ import annotations

import hashlib
import io
import math
import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import shapely
from PIL import Image

from aistudio.datasets.formats.base import RawInstance
from aistudio.datasets.formats.boxes import CLIP_TOLERANCE, clip_box
from events.schemas.annotation import MAX_POLYGON_POINTS

DIGITS = 3
"""Polygon coordinates are kept to 1/1000 px."""
MIN_AREA = 0.01
"""An outline smaller than this (square pixels) has no area: a hundredth of a pixel is far
below any mask's resolution, far above the rounding of its coordinates."""
_FLAT = 1e-6
"""Square pixels below which an outline's convex hull is a line (float error)."""
MAX_POLYGONS = 1000
"""Parts one object may have (the schema's limit)."""
_MAX_RUN_DIGITS = 7
"""Characters of one compressed-RLE number at most (5 bits each: runs up to 2**35)."""
_WHERE = re.compile(r"\[([-+0-9.eE]+) ([-+0-9.eE]+)\]")


@dataclass(frozen=True, slots=True)
class FinishedInstances:
    """The outcome for one image's instances.

    Attributes:
        annotation: the ``instances`` annotation (normalised JSON), or None when refused.
        masks: the PNG bytes of every mask the annotation names, by sha256: to be stored in
            the content store before any event names them.
        refused: why, naming the first refused object (None when accepted).
        refused_count: how many objects were refused.
        clipped: how many objects were cut or clipped to the image (box or outline).
    """

    annotation: dict[str, Any] | None
    masks: dict[str, bytes] = field(default_factory=dict)
    refused: str | None = None
    refused_count: int = 0
    clipped: int = 0


class _Refused(ValueError):
    """One object cannot be taken (the message says why)."""


def _finite(values: Sequence[Any]) -> bool:
    return all(
        isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in values
    )


def _shown_point(reason: str) -> str:
    """Shapely's ``Self-intersection[12.5 3]`` as ``crosses itself near (12.5, 3)``."""
    found = _WHERE.search(reason)
    if reason.lower().startswith(("self-intersection", "ring self-intersection")) and found:
        return f"crosses itself near ({float(found[1]):g}, {float(found[2]):g})"
    return f"is not a valid outline ({reason})"


def _rounded(flat: np.ndarray) -> np.ndarray:
    """Coordinates rounded to :data:`DIGITS` decimals (the nearest float to ``k / 1000``),
    ``-0.0`` made ``0.0``."""
    return np.round(flat, DIGITS) + 0.0


def _checked_ring(flat: np.ndarray, name: str) -> shapely.Polygon:
    """The shapely polygon of a flat outline, or :class:`_Refused` when it is not one."""
    ring = shapely.Polygon(flat.reshape(-1, 2))
    if ring.convex_hull.area < _FLAT:  # exactly on a line, or within float error of one
        raise _Refused(f"{name} has no area (its points lie on one line)")
    if not ring.is_valid:
        raise _Refused(f"{name} {_shown_point(shapely.is_valid_reason(ring))}")
    if ring.area < MIN_AREA:
        raise _Refused(f"{name} has no area (under {MIN_AREA:g} square pixels)")
    return ring


def check_polygon(
    points: Sequence[Any], width: int, height: int, name: str = "polygon"
) -> tuple[list[list[float]], bool]:
    """One outline checked against a ``width x height`` image, as it is stored.

    Args:
        points: the flat ``[x1, y1, x2, y2, …]`` outline in pixels.
        width: the upright image's width.
        height: its height.
        name: how a reason names it (``polygon 2``).

    Returns:
        ``(parts, clipped)``: the outline rounded to :data:`DIGITS` decimals (one part), or,
        when it strayed a little outside the image, its parts inside it (``clipped`` True).

    Raises:
        ValueError: fewer than 3 points, an odd count, not finite numbers, no area, crossing
            itself, or further outside than the tolerance (the message says which).
    """
    count = len(points)
    if count % 2:
        raise _Refused(f"{name} has an odd number of coordinates ({count}): x y pairs expected")
    if count < 6:
        raise _Refused(f"{name} has {count // 2} point(s): an outline needs at least 3")
    if count > 2 * MAX_POLYGON_POINTS:
        raise _Refused(f"{name} has {count // 2:,} points: at most {MAX_POLYGON_POINTS:,}")
    if not _finite(points):
        raise _Refused(f"{name}: its coordinates are not finite numbers")
    rounded = _rounded(np.asarray(points, dtype=np.float64))
    xs, ys = rounded[0::2], rounded[1::2]
    low_x, low_y, high_x, high_y = (
        float(xs.min()),
        float(ys.min()),
        float(xs.max()),
        float(ys.max()),
    )
    slack_x, slack_y = CLIP_TOLERANCE * width, CLIP_TOLERANCE * height
    far_out = low_x < -slack_x or low_y < -slack_y
    if far_out or high_x > width + slack_x or high_y > height + slack_y:
        raise _Refused(
            f"{name} reaches outside the {width}x{height} image "
            f"(x {low_x:g} to {high_x:g}, y {low_y:g} to {high_y:g})"
        )
    ring = _checked_ring(rounded, name)
    if low_x >= 0 and low_y >= 0 and high_x <= width and high_y <= height:
        return [rounded.tolist()], False
    cut = ring.intersection(shapely.box(0, 0, width, height))
    parts: list[list[float]] = []
    for piece in getattr(cut, "geoms", (cut,)):
        if not isinstance(piece, shapely.Polygon) or piece.area < MIN_AREA:
            continue
        part = _rounded(np.asarray(piece.exterior.coords)[:-1].ravel())
        if len(part) >= 6:
            _checked_ring(part, f"{name} (cut to the image)")
            parts.append(part.tolist())
    if not parts:
        raise _Refused(f"{name} has no area inside the {width}x{height} image")
    return parts, True


def rle_counts(text: str) -> list[int] | None:
    """The run lengths of a compressed COCO RLE string (pycocotools' ``rleFrString``), or
    None when the string is not one (a character out of range, a number cut short, a run
    below zero)."""
    try:
        data = text.encode("ascii")
    except UnicodeEncodeError:
        return None
    counts: list[int] = []
    position, end = 0, len(data)
    while position < end:
        value, shift, more = 0, 0, True
        while more:
            if position >= end or shift >= 5 * _MAX_RUN_DIGITS:
                return None
            char = data[position] - 48
            if not 0 <= char < 64:
                return None
            value |= (char & 0x1F) << shift
            more = bool(char & 0x20)
            position += 1
            shift += 5
            if not more and char & 0x10:
                value |= -1 << shift
        if len(counts) > 2:
            value += counts[-2]
        if value < 0:
            return None
        counts.append(value)
    return counts


def _rle_size(rle: Mapping[str, Any]) -> tuple[int, int]:
    size = rle.get("size")
    if (
        not isinstance(size, list)
        or len(size) != 2
        or not _finite(size)
        or not all(float(v).is_integer() and v > 0 for v in size)
    ):
        raise _Refused("its RLE needs a size [height, width] of two positive whole numbers")
    return int(size[0]), int(size[1])


def decode_rle(rle: Mapping[str, Any], width: int, height: int) -> np.ndarray:
    """The ``height x width`` boolean mask of a COCO RLE (C-ordered), once it is known to be
    sound.

    Raises:
        ValueError: not an RLE of the image's size, runs that do not cover it exactly, or an
            empty mask (the message says which).
    """
    if not isinstance(rle, Mapping) or set(rle) - {"size", "counts"} or "counts" not in rle:
        raise _Refused("its RLE must be {size: [height, width], counts: runs or a string}")
    rle_h, rle_w = _rle_size(rle)
    if (rle_w, rle_h) != (width, height):
        raise _Refused(
            f"its RLE is {rle_w}x{rle_h} (size [{rle_h}, {rle_w}]), the image is {width}x{height}"
        )
    raw = rle["counts"]
    if isinstance(raw, str):
        counts = rle_counts(raw)
        if counts is None:
            raise _Refused("its RLE counts are not a compressed COCO RLE string")
    elif isinstance(raw, list):
        if not _finite(raw) or not all(float(v).is_integer() and v >= 0 for v in raw):
            raise _Refused("its RLE counts must be whole numbers, none below zero")
        counts = [int(v) for v in raw]
    else:
        raise _Refused("its RLE counts must be a list of run lengths or a compressed string")
    total = sum(counts)
    if total != rle_w * rle_h:
        raise _Refused(
            f"its RLE runs cover {total:,} pixels, its {rle_w}x{rle_h} size has {rle_w * rle_h:,}"
        )
    values = np.zeros(len(counts), dtype=bool)
    values[1::2] = True  # runs alternate, background first
    mask = np.repeat(values, counts).reshape(rle_w, rle_h).T  # column by column, as COCO's
    if not mask.any():
        raise _Refused("its mask is empty")
    return np.ascontiguousarray(mask)


def mask_box(mask: np.ndarray) -> list[float]:
    """The corners ``[x1, y1, x2, y2]`` of a non-empty mask's pixels (pycocotools' ``toBbox``
    as corners)."""
    columns = np.flatnonzero(mask.any(axis=0))
    rows = np.flatnonzero(mask.any(axis=1))
    return [float(columns[0]), float(rows[0]), float(columns[-1] + 1), float(rows[-1] + 1)]


def mask_png(mask: np.ndarray) -> tuple[str, bytes]:
    """``(sha256, bytes)`` of a boolean mask as a 1-bit PNG (white = the object)."""
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(mask, dtype=bool)).save(buffer, format="PNG")
    data = buffer.getvalue()
    return hashlib.sha256(data).hexdigest(), data


def _shape(
    raw: RawInstance, width: int, height: int, masks: dict[str, bytes]
) -> tuple[dict[str, Any], list[float], bool]:
    """``(shape fields, derived box, clipped)`` of one object; masks gain its mask file."""
    if raw.polygons is not None and raw.rle is None:
        if not raw.polygons:
            raise _Refused("its segmentation has no polygon")
        if len(raw.polygons) > MAX_POLYGONS:
            raise _Refused(f"it has {len(raw.polygons):,} polygons: at most {MAX_POLYGONS:,}")
        parts: list[list[float]] = []
        clipped = False
        for index, points in enumerate(raw.polygons, start=1):
            name = "polygon" if len(raw.polygons) == 1 else f"polygon {index}"
            found, cut = check_polygon(points, width, height, name)
            parts.extend(found)
            clipped = clipped or cut
        if len(parts) > MAX_POLYGONS:
            raise _Refused(f"cut to the image it has {len(parts):,} parts: at most {MAX_POLYGONS}")
        xs = [v for part in parts for v in part[0::2]]
        ys = [v for part in parts for v in part[1::2]]
        return {"polygons": parts}, [min(xs), min(ys), max(xs), max(ys)], clipped
    if raw.rle is not None and raw.polygons is None:
        mask = decode_rle(raw.rle, width, height)
        sha, data = mask_png(mask)
        masks[sha] = data
        return {"mask": {"sha256": sha, "ext": "png"}}, mask_box(mask), False
    raise _Refused("it has no segmentation (an outline or a mask)")


def _instance(
    raw: RawInstance, width: int, height: int, classes: Collection[str], masks: dict[str, bytes]
) -> tuple[dict[str, Any], bool]:
    if raw.label not in classes:
        raise _Refused(f"class {raw.label!r} is not defined")
    shape, derived, clipped = _shape(raw, width, height, masks)
    box = derived  # a valid outline or a non-empty mask has a width and a height
    if raw.box is not None:
        given, problem = clip_box(raw.box, width, height)
        if given is None:
            raise _Refused(problem or "its box cannot be used")
        clipped = clipped or tuple(given) != tuple(raw.box)
        box = given
    obj: dict[str, Any] = {"class": raw.label, "box": box}
    if raw.crowd:
        obj["crowd"] = True
    obj.update(shape)
    return obj, clipped


def finish_instances(
    objects: Sequence[RawInstance], width: int, height: int, classes: Collection[str]
) -> FinishedInstances:
    """Check, clip and convert one image's instances (``width x height``: the upright image).

    Args:
        objects: the image's instances from its source (empty: a negative).
        width: the upright image's width in pixels.
        height: its height.
        classes: the class names the source defines (an object of another class is refused).
    """
    kept: list[dict[str, Any]] = []
    masks: dict[str, bytes] = {}
    refused: list[str] = []
    clipped = 0
    for raw in objects:
        try:
            obj, cut = _instance(raw, width, height, classes, masks)
        except _Refused as exc:
            refused.append(f"{raw.where}: {exc}")
            continue
        kept.append(obj)
        clipped += cut
    if refused:
        more = f" (and {len(refused) - 1} more)" if len(refused) > 1 else ""
        return FinishedInstances(None, {}, f"{refused[0]}{more}", len(refused), clipped)
    return FinishedInstances({"kind": "instances", "objects": kept}, masks, clipped=clipped)


__all__ = [
    "DIGITS",
    "FinishedInstances",
    "check_polygon",
    "decode_rle",
    "finish_instances",
    "mask_box",
    "mask_png",
    "rle_counts",
]
