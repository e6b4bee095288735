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
:func:`clip_box` is the rule for one box; the instance segmentation readers' boxes
(:mod:`aistudio.datasets.formats.masks`) go through it too.
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


def _problem(numbers: Sequence[float], width: int, height: int) -> str | None:
    x1, y1, x2, y2 = numbers
    if not all(isinstance(n, (int, float)) and math.isfinite(n) for n in numbers):
        return "its coordinates are not finite numbers"
    if x2 <= x1 or y2 <= y1:
        return f"box {_shown(numbers)} has no area"
    slack_x, slack_y = CLIP_TOLERANCE * width, CLIP_TOLERANCE * height
    if x1 < -slack_x or y1 < -slack_y or x2 > width + slack_x or y2 > height + slack_y:
        return f"box {_shown(numbers)} lies outside the {width}x{height} image"
    return None


def _shown(numbers: Sequence[float]) -> str:
    return "[" + ", ".join(f"{n:g}" for n in numbers) + "]"


def clip_box(
    numbers: Sequence[float], width: int, height: int
) -> tuple[list[float] | None, str | None]:
    """One box ``[x1, y1, x2, y2]`` checked and clipped to a ``width x height`` image.

    Returns:
        ``(corners, None)``: the box clipped to the image (unchanged when inside), or
        ``(None, reason)``: no area, not finite, or further out than :data:`CLIP_TOLERANCE`.
    """
    problem = _problem(numbers, width, height)
    if problem is not None:
        return None, problem
    x1, y1 = max(0.0, float(numbers[0])), max(0.0, float(numbers[1]))
    x2, y2 = min(float(width), float(numbers[2])), min(float(height), float(numbers[3]))
    if x2 <= x1 or y2 <= y1:
        return None, f"box {_shown(numbers)} has no area in the image"
    return [x1, y1, x2, y2], None


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
        numbers = (box.x1, box.y1, box.x2, box.y2)
        corners: list[float] | None = None
        problem = None if box.label in classes else f"class {box.label!r} is not defined"
        if problem is None:
            corners, problem = clip_box(numbers, width, height)
        if corners is None:
            refused.append(f"{box.where}: {problem}")
            continue
        if tuple(corners) != numbers:
            clipped += 1
        obj: dict[str, Any] = {"class": box.label, "box": corners}
        if box.difficult:
            obj["difficult"] = True
        if box.crowd:
            obj["crowd"] = True
        objects.append(obj)
    if refused:
        more = f" (and {len(refused) - 1} more)" if len(refused) > 1 else ""
        return FinishedBoxes(None, f"{refused[0]}{more}", len(refused), clipped)
    return FinishedBoxes({"kind": "boxes", "objects": objects}, clipped=clipped)
