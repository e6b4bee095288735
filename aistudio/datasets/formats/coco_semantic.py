"""The ``coco`` format read for semantic segmentation: each image's objects painted by class.

The COCO file is read as for instance segmentation (:mod:`aistudio.datasets.formats.coco`:
``images``, ``annotations`` with ``segmentation`` polygons, uncompressed or compressed RLE,
``categories``); once an image's upright size is known, its objects are painted into one index
mask of that size, which :func:`~aistudio.datasets.formats.semantic.finish_semantic` stores.

**Legend.** ``background`` (value 0), then the categories in the order of their ids (value 1
for the smallest id, …). A category named ``background`` or ``_background_`` (any case) is
itself value 0 and keeps its name; objects of it paint background.

**Overlap rule.** Crowd regions (``iscrowd: 1``) are painted 255 (ignore) first; then the other
objects, largest first (by their painted pixels; equal sizes in the file's order, the later on
top), each over what is there: a smaller object lying on a larger one stays visible, and any
object covers a crowd region where they overlap. Pixels no object covers are background.

**Shapes.** Polygons are rasterised by pycocotools (``frPyObjects``, the COCO API's own
``annToMask``); each needs an even number of coordinates, three points or more, finite
numbers, and must lie inside the image within
:data:`~aistudio.datasets.formats.boxes.CLIP_TOLERANCE` of its size (what lies outside is not
painted); a crossing outline is painted as pycocotools paints it. An RLE must have the image's
size and runs covering it exactly, and not be empty
(:func:`~aistudio.datasets.formats.masks.decode_rle`). An object without a segmentation, of an
unknown category, or with a bad shape refuses its image (a listed skip naming the annotation);
``bbox`` is not read. An image no annotation names is a valid image of background only. A file
in which no annotation has a segmentation is refused as a whole (a detection file).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from aistudio.datasets.formats.base import (
    ObjectsError,
    RawInstance,
    ReadResult,
    Skip,
    SourceError,
)
from aistudio.datasets.formats.boxes import CLIP_TOLERANCE
from aistudio.datasets.formats.coco import (
    FORMAT,
    _Box,
    _boxes_by_image,
    _candidate,
    _categories,
    _check_has_segmentation,
    _Instances,
    _key,
    _load,
    _unlabelled,
    find_json,
)
from aistudio.datasets.formats.semantic import BACKGROUND, RawSemantic
from events.schemas.annotation import IGNORE_INDEX, MAX_SEMANTIC_CLASSES

logger = logging.getLogger(__name__)

BACKGROUND_NAMES = frozenset({"background", "_background_"})
"""Category names that are the background (value 0), compared in lower case."""


def coco_legend(categories: dict[Any, str]) -> tuple[str, ...]:
    """``background`` then the category names in the order of their ids (a category named
    ``background``/``_background_`` is value 0 itself).

    Raises:
        SourceError: more categories than a mask can name.
    """
    ordered = [categories[k] for k in sorted(categories, key=_id_order)]
    background = next((n for n in ordered if n.lower() in BACKGROUND_NAMES), None)
    if background is None:
        legend = (BACKGROUND, *ordered)
    else:
        legend = (background, *(n for n in ordered if n != background))
    if len(legend) > MAX_SEMANTIC_CLASSES:
        raise SourceError(
            f"{len(legend) - 1} categories and the background: a mask names at most "
            f"{MAX_SEMANTIC_CLASSES} classes (values 0..254; 255 = ignore)"
        )
    return legend


def _id_order(key: Any) -> tuple[int, Any]:
    if isinstance(key, int):
        return (0, key)
    return (1, str(key))


class _Painted(_Instances):
    """The ``ObjectsAt`` of one COCO image in a semantic segmentation import: its objects
    painted into an index mask (see the module's overlap rule)."""

    shapes = "masks"

    def __init__(
        self,
        boxes: Sequence[_Box],
        categories: dict[Any, str],
        declared: tuple[Any, Any],
        legend: tuple[str, ...] = (),
    ) -> None:
        super().__init__(boxes, categories, declared)
        self.legend = legend

    def __call__(self, width: int, height: int) -> RawSemantic:  # type: ignore[override]
        self._check_frame(width, height)
        values = {name: index for index, name in enumerate(self.legend)}
        painted: list[tuple[int, int, np.ndarray, int]] = []  # (-area, order, mask, value)
        crowd = np.zeros((height, width), dtype=bool)
        refused: list[str] = []
        for order, box in enumerate(self.boxes):
            try:
                instance = self._instance(box)
            except ObjectsError as exc:  # an unknown category, a malformed segmentation
                refused.append(str(exc))
                continue
            try:
                mask = rasterise(instance, width, height)
            except ValueError as exc:
                refused.append(f"{instance.where}: {exc}")
                continue
            if instance.crowd:
                crowd |= mask
            else:
                painted.append((-int(mask.sum()), order, mask, values[instance.label]))
        if refused:
            more = f" (and {len(refused) - 1} more)" if len(refused) > 1 else ""
            raise ObjectsError(f"{len(refused)} object(s) refused: {refused[0]}{more}")
        canvas = np.zeros((height, width), dtype=np.uint8)
        canvas[crowd] = IGNORE_INDEX
        for _area, _order, mask, value in sorted(painted, key=lambda p: (p[0], p[1])):
            canvas[mask] = value
        return RawSemantic(self.legend, name="painted mask", indices=canvas)


def _finite(values: Sequence[Any]) -> bool:
    return all(
        isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in values
    )


def rasterise(instance: RawInstance, width: int, height: int) -> np.ndarray:
    """The ``height x width`` boolean mask of one COCO object (polygons or RLE).

    Raises:
        ValueError: no segmentation, or a shape that cannot be painted (the message says why).
    """
    from aistudio.datasets.formats.masks import decode_rle

    if instance.rle is not None:
        return decode_rle(instance.rle, width, height)
    if not instance.polygons:
        raise ValueError("it has no segmentation (an outline or a mask)")
    slack_x, slack_y = CLIP_TOLERANCE * width, CLIP_TOLERANCE * height
    for index, points in enumerate(instance.polygons, start=1):
        name = "polygon" if len(instance.polygons) == 1 else f"polygon {index}"
        if len(points) % 2 or len(points) < 6:
            raise ValueError(f"{name} needs x y pairs of at least 3 points ({len(points)} numbers)")
        if not _finite(points):
            raise ValueError(f"{name}: its coordinates are not finite numbers")
        xs, ys = points[0::2], points[1::2]
        if (
            min(xs) < -slack_x
            or min(ys) < -slack_y
            or max(xs) > width + slack_x
            or max(ys) > height + slack_y
        ):
            raise ValueError(f"{name} reaches outside the {width}x{height} image")
    from pycocotools import mask as coco_mask

    from aistudio.datasets.formats.masks import rle_counts

    rles = coco_mask.frPyObjects([[float(v) for v in p] for p in instance.polygons], height, width)
    merged = coco_mask.merge(rles)
    counts = rle_counts(merged["counts"].decode("ascii"))
    if counts is None or sum(counts) != width * height:  # pycocotools' own encoding: never
        raise ValueError("its polygons could not be rasterised")
    runs = np.zeros(len(counts), dtype=bool)
    runs[1::2] = True  # decoded with numpy, as masks.decode_rle (pycocotools' decode warns)
    return np.ascontiguousarray(np.repeat(runs, counts).reshape(width, height).T)


def read_coco_semantic(source: Path, labelled: bool = True) -> ReadResult:
    """List the images of a COCO file and, when ``labelled``, their objects to paint.

    Raises:
        SourceError: as :func:`~aistudio.datasets.formats.coco.read_coco`, a file none of
            whose annotations has a segmentation, or more than 254 categories.
    """
    path = find_json(source)
    root = path.parent.resolve()
    data = _load(path)
    result = ReadResult(format=FORMAT, target="semantic" if labelled else None)
    categories: dict[Any, str] = {}
    legend: tuple[str, ...] = ()
    if labelled:
        categories = _categories(data.get("categories", []), path.name)
        _check_has_segmentation(data.get("annotations", []), path.name)
        legend = coco_legend(categories)
        result.classes = list(legend)
    images = [i for i in data["images"] if isinstance(i, dict)]
    if len(images) < len(data["images"]):
        result.skipped.append(
            Skip(path.name, f"{len(data['images']) - len(images)} image entries are not objects")
        )
    by_image: dict[Any, list[_Box]] = {}
    if labelled:
        ids = {_key(i.get("id")) for i in images}
        by_image, skipped = _boxes_by_image(data.get("annotations", []), ids, path.name)
        result.skipped.extend(skipped)
    painted = partial(_Painted, legend=legend)
    seen_ids: set[Any] = set()
    seen_files: dict[Path, str] = {}
    for entry in images:
        candidate, skip = _candidate(
            entry, root, seen_ids, seen_files, by_image, categories, painted
        )
        if skip is not None:
            result.skipped.append(skip)
        elif candidate is not None:
            result.candidates.append(candidate if labelled else _unlabelled(candidate))
    logger.info(
        "coco semantic %s: %d images, %d classes, %d skipped",
        path,
        len(result.candidates),
        len(legend),
        len(result.skipped),
    )
    return result
