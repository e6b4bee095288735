"""From a source's boxes to a ``boxes`` annotation: clip the slightly-out, refuse the absurd.

Every detection reader hands its boxes over as :class:`RawBox` (pixels of the upright image);
:func:`finish_boxes` applies one rule to all of them:

- a box that strays outside the image by at most :data:`CLIP_TOLERANCE` of the image's size (a
  rounding or an annotation tool's off-by-one) is clipped to the image, and counted;
- a box with no area (``x2 <= x1`` or ``y2 <= y1``, before or after clipping), one that lies
  further out, or whose numbers are not finite is refused, and so is an object of a class the
  source's list does not name: the image is then skipped whole (an annotation missing one of
  its objects would teach the model that the object is background), its reason naming the
  first refused object and how many there were.

An image whose source lists no object is a negative: ``{"kind": "boxes", "objects": []}``.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

from aistudio.datasets.formats.base import RawBox

CLIP_TOLERANCE = 0.05
"""How far (a fraction of the image's width or height) a box may stray out and be clipped."""


@dataclass(frozen=True, slots=True)
class FinishedBoxes:
    """The outcome for one image's boxes.

    Attributes:
        annotation: the ``boxes`` annotation (normalised JSON), or None when refused.
        refused: why, naming the first refused object (None when accepted).
        refused_count: how many objects were refused.
        clipped: how many boxes were clipped to the image.
    """

    annotation: dict[str, Any] | None
    refused: str | None = None
    refused_count: int = 0
    clipped: int = 0


def _problem(box: RawBox, width: int, height: int) -> str | None:
    numbers = (box.x1, box.y1, box.x2, box.y2)
    if not all(isinstance(n, (int, float)) and math.isfinite(n) for n in numbers):
        return "its coordinates are not finite numbers"
    if box.x2 <= box.x1 or box.y2 <= box.y1:
        return f"box {_shown(numbers)} has no area"
    slack_x, slack_y = CLIP_TOLERANCE * width, CLIP_TOLERANCE * height
    if (
        box.x1 < -slack_x
        or box.y1 < -slack_y
        or box.x2 > width + slack_x
        or box.y2 > height + slack_y
    ):
        return f"box {_shown(numbers)} lies outside the {width}x{height} image"
    return None


def _shown(numbers: Sequence[float]) -> str:
    return "[" + ", ".join(f"{n:g}" for n in numbers) + "]"


def finish_boxes(
    boxes: Sequence[RawBox], width: int, height: int, classes: Collection[str]
) -> FinishedBoxes:
    """Check, clip and convert one image's boxes (``width x height``: the upright image).

    Args:
        boxes: the image's boxes from its source (empty: a negative).
        width: the upright image's width in pixels.
        height: its height.
        classes: the class names the source defines (an object of another class is refused).
    """
    objects: list[dict[str, Any]] = []
    refused: list[str] = []
    clipped = 0
    for box in boxes:
        problem = None if box.label in classes else f"class {box.label!r} is not defined"
        problem = problem or _problem(box, width, height)
        if problem is None:
            x1, y1 = max(0.0, float(box.x1)), max(0.0, float(box.y1))
            x2, y2 = min(float(width), float(box.x2)), min(float(height), float(box.y2))
            if x2 <= x1 or y2 <= y1:
                problem = f"box {_shown((box.x1, box.y1, box.x2, box.y2))} has no area in the image"
        if problem is not None:
            refused.append(f"{box.where}: {problem}")
            continue
        if (x1, y1, x2, y2) != (box.x1, box.y1, box.x2, box.y2):
            clipped += 1
        obj: dict[str, Any] = {"class": box.label, "box": [x1, y1, x2, y2]}
        if box.difficult:
            obj["difficult"] = True
        if box.crowd:
            obj["crowd"] = True
        objects.append(obj)
    if refused:
        more = f" (and {len(refused) - 1} more)" if len(refused) > 1 else ""
        return FinishedBoxes(None, f"{refused[0]}{more}", len(refused), clipped)
    return FinishedBoxes({"kind": "boxes", "objects": objects}, clipped=clipped)
