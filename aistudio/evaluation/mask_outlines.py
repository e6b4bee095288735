"""Binary masks as small outline polygons (for drawing) and as COCO run-length encodings.

Coordinates are pixel **edges** of the image: the pixel in column ``x``, row ``y`` is the square
``x, y`` to ``x + 1, y + 1``, so a mask re-rasterised by pixel centres from its exact outline is
the mask itself (without its holes). An outline is the union of the mask's row runs (as unit-high
boxes), simplified by Douglas-Peucker (shapely, topology preserved) and capped in points, so that
an evaluation row carries a few dozen numbers per object rather than the mask.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import shapely
from pycocotools import mask as mask_utils
from shapely.geometry import MultiPolygon, Polygon

TOLERANCE = 0.5
"""Default simplification tolerance, in pixels."""
MAX_POINTS = 48
"""Default cap on the points of one ring (the tolerance grows by half until the ring fits)."""
MAX_RINGS = 8
"""Default cap on the rings of one mask (the largest pieces are kept)."""
MIN_AREA = 1.5
"""Pieces smaller than this (px², so isolated single pixels) are dropped, except the largest."""
DECIMALS = 1
"""Decimals of the outline's coordinates."""


def _as_mask(mask: Any) -> np.ndarray:
    array = np.asarray(mask)
    if array.ndim != 2:
        raise ValueError(f"a mask must be a 2-d array (height x width), got shape {array.shape}")
    return array.astype(bool, copy=False)


def rle_of(mask: Any) -> dict[str, Any]:
    """A binary mask as pycocotools' compressed RLE, ``{"size": [h, w], "counts": str}``.

    Args:
        mask: ``H x W`` array, nonzero = object.

    Returns:
        The RLE, plain JSON (the counts as text).
    """
    array = _as_mask(mask)
    rle = mask_utils.encode(np.asfortranarray(array.astype(np.uint8)))
    counts = rle["counts"]
    return {
        "size": [int(v) for v in rle["size"]],
        "counts": counts.decode("ascii") if isinstance(counts, bytes) else str(counts),
    }


def decode_rle(rle: dict[str, Any]) -> np.ndarray:
    """A compressed RLE (``counts`` as text or bytes) as an ``H x W`` bool mask."""
    with warnings.catch_warnings():  # pycocotools' Cython array under numpy 2 (copy keyword)
        warnings.simplefilter("ignore", DeprecationWarning)
        return mask_utils.decode(rle).astype(bool)


def _run_boxes(mask: np.ndarray) -> np.ndarray:
    """The row runs of a mask as boxes ``(N, 4)``: ``x_start, y, x_end, y + 1`` (edges)."""
    padded = np.zeros((mask.shape[0], mask.shape[1] + 2), dtype=np.int8)
    padded[:, 1:-1] = mask
    step = np.diff(padded, axis=1)
    start_rows, start_cols = np.nonzero(step == 1)
    _end_rows, end_cols = np.nonzero(step == -1)
    return np.column_stack([start_cols, start_rows, end_cols, start_rows + 1]).astype(np.float64)


def _pieces(geometry: Any) -> list[Polygon]:
    if isinstance(geometry, Polygon):
        return [geometry] if not geometry.is_empty else []
    if isinstance(geometry, MultiPolygon):
        return [g for g in geometry.geoms if not g.is_empty]
    return [g for g in getattr(geometry, "geoms", []) if isinstance(g, Polygon) and not g.is_empty]


def _ring(polygon: Polygon, tolerance: float, max_points: int) -> list[float]:
    shell = Polygon(polygon.exterior)
    step = tolerance
    while True:
        simplified = shell.simplify(step, preserve_topology=True) if step > 0 else shell
        coords = np.asarray(simplified.exterior.coords)[:-1]
        if len(coords) <= max_points or len(coords) <= 4:
            break
        step = max(step * 1.5, 0.5)
    return [round(float(v), DECIMALS) for v in coords.reshape(-1)]


def outline_polygons(
    mask: Any,
    tolerance: float = TOLERANCE,
    max_points: int = MAX_POINTS,
    max_rings: int = MAX_RINGS,
    min_area: float = MIN_AREA,
) -> list[list[float]]:
    """The outer rings of a binary mask, as flat ``[x1, y1, x2, y2, ...]`` lists (pixel edges).

    Args:
        mask: ``H x W`` array, nonzero = object.
        tolerance: Douglas-Peucker tolerance in pixels (0 keeps every corner).
        max_points: the most points of one ring; a ring with more is simplified again, the
            tolerance 1.5 times larger each time, until it fits (a pixel staircase needs about
            0.75 px).
        max_rings: the most rings, the largest pieces first.
        min_area: pieces of a smaller area (px²) are dropped, except the largest one.

    Returns:
        One ring per piece of the mask, the largest first, each at least 3 points (unclosed);
        holes are filled. ``[]`` for an empty mask.

    Raises:
        ValueError: a mask that is not 2-d, a negative tolerance, fewer than 4 points allowed.
    """
    if tolerance < 0:
        raise ValueError(f"tolerance must be at least 0, got {tolerance}")
    if max_points < 4:
        raise ValueError(f"max_points must be at least 4, got {max_points}")
    array = _as_mask(mask)
    rows, cols = np.nonzero(array.any(axis=1))[0], np.nonzero(array.any(axis=0))[0]
    if len(rows) == 0:
        return []
    y0, x0 = int(rows[0]), int(cols[0])
    crop = array[y0 : int(rows[-1]) + 1, x0 : int(cols[-1]) + 1]
    boxes = _run_boxes(crop) + np.array([x0, y0, x0, y0], dtype=np.float64)
    cells = shapely.box(boxes[:, 0], boxes[:, 1], boxes[:, 2], boxes[:, 3])
    # buffer(0) of the boxes as one (invalid: shared edges) multipolygon is their union, several
    # times faster than union_all; the area check falls back to union_all should it ever not be.
    union = shapely.multipolygons(cells).buffer(0)
    if abs(union.area - float(np.count_nonzero(crop))) > 1e-6:
        union = shapely.union_all(cells)
    pieces = sorted(_pieces(union), key=lambda p: -p.area)
    kept = [p for i, p in enumerate(pieces) if i == 0 or p.area >= min_area][:max_rings]
    return [_ring(p, tolerance, max_points) for p in kept]
