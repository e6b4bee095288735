"""Training augmentations that move the image and its boxes together, and box rescaling.

:func:`build_detection_augmentation` turns the training form's
:class:`~events.schemas.training.Augmentations` into a callable on ``(uint8 image 3 x S x S,
{"boxes", "labels"})``. All geometry is torchvision.transforms.v2's, on a
``tv_tensors.Image`` and ``tv_tensors.BoundingBoxes`` (XYXY, ``canvas_size`` S x S), so boxes
follow the pixels exactly; nothing here computes coordinates by hand.

- ``random_resized_crop``: for detection, a scale-and-shift jitter, ``v2.RandomAffine`` with
  scale 0.75-1.33 and translation up to 10 % of the side, not a crop of half the area as for
  classification. Zooming in by up to 1.33 crops about as much as classification's crop of 0.56
  of the area, zooming out by up to 0.75 shows objects smaller than in the data (the border is
  filled with the ImageNet mean colour, 0 once normalised), the output stays S x S in one
  resampling, and an axis-aligned affine maps boxes exactly. An object in the middle of the
  image stays whole; those near the border may be cut (see below).
- ``horizontal_flip`` / ``vertical_flip``: ``v2.RandomHorizontalFlip`` / ``RandomVerticalFlip``
  (p = 0.5): x1, x2 become S - x2, S - x1 (y likewise), exactly.
- ``rotation_degrees``: ``v2.RandomRotation`` within ± that angle. A rotated box becomes the
  axis-aligned box enclosing its rotated corners, which is looser than the object (by up to
  41 % per side at 45° for a square): keep the angle small (≤ 15°) for tight boxes.
- ``color_jitter``: ``v2.ColorJitter`` (brightness, contrast, saturation by that amount, hue by a
  quarter of it, as for classification); pixels only.

After the geometry, boxes are clamped to the image; a box that keeps less than
:data:`MIN_VISIBLE` of its area in view (a sliver of an object is not the object) and boxes
under 1 px (``v2.SanitizeBoundingBoxes``) are removed together with their labels.

:func:`resize_target` and :func:`boxes_to_image` convert boxes between an original image and
the S x S input the pipeline stretches it to (no letterbox); they work on numpy arrays, lists
or torch tensors and import nothing heavy.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import numpy as np

if TYPE_CHECKING:
    import torch
    from torch import Tensor

logger = logging.getLogger(__name__)

AFFINE_SCALE: tuple[float, float] = (0.75, 4 / 3)
"""Zoom range of the detection ``random_resized_crop`` (out to 0.75, in to 1.33)."""
AFFINE_TRANSLATE: tuple[float, float] = (0.1, 0.1)
"""Largest shift of the detection ``random_resized_crop``, as a fraction of the side."""
MIN_VISIBLE = 0.25
"""Smallest share of a transformed box's area that must stay in the image for it to be kept."""
MIN_BOX_SIZE = 1.0
"""Smallest box side in pixels kept after the transforms (``v2.SanitizeBoundingBoxes``)."""
FILL: tuple[int, int, int] = (124, 116, 104)
"""Colour of the pixels uncovered by zooming out or rotating: ImageNet's mean (0 normalised)."""


class AugmentationSettings(Protocol):
    """The attributes of :class:`events.schemas.training.Augmentations` read here."""

    random_resized_crop: bool
    horizontal_flip: bool
    vertical_flip: bool
    rotation_degrees: float
    color_jitter: float


class DetectionAugmentation:
    """Random transforms of an image and its boxes (see the module docstring); picklable.

    Args:
        size: the image side S it expects and returns.
        geometry: v2 transforms that move pixels and boxes, applied in order.
        colour: a v2 transform on pixels only, applied last (or None).
        min_visible: see :data:`MIN_VISIBLE`.
    """

    def __init__(
        self,
        size: int,
        geometry: Sequence[torch.nn.Module],
        colour: torch.nn.Module | None = None,
        min_visible: float = MIN_VISIBLE,
    ) -> None:
        from torchvision.transforms import v2

        self.size = int(size)
        self.geometry = v2.Compose(list(geometry)) if geometry else None
        self.colour = colour
        self.min_visible = float(min_visible)
        self.sanitize = v2.SanitizeBoundingBoxes(min_size=MIN_BOX_SIZE, labels_getter="default")

    def __call__(self, image: Tensor, target: dict[str, Any]) -> tuple[Tensor, dict[str, Any]]:
        """Transform one sample.

        Args:
            image: uint8 3 x S x S.
            target: ``boxes`` (M x 4 xyxy pixels), ``labels`` (M) and optionally ``masks``
                (M x S x S, one per box: moved with the pixels, NEAREST, uncovered pixels 0,
                and kept or dropped with their boxes); other keys are copied unchanged (they
                are not filtered with the boxes).

        Returns:
            The uint8 3 x S x S image and a new target whose ``boxes`` (float32, inside
            [0, S]) and ``labels`` (int64) hold the boxes still in view, in their input order.

        Raises:
            ValueError: the image is not 3 x S x S or boxes and labels differ in number.
        """
        import torch
        from torchvision import tv_tensors
        from torchvision.transforms.v2 import functional as F

        if image.dim() != 3 or tuple(image.shape[1:]) != (self.size, self.size):
            raise ValueError(
                f"expected a 3 x {self.size} x {self.size} image, got {tuple(image.shape)}"
            )
        canvas = (self.size, self.size)
        labels = torch.as_tensor(target["labels"], dtype=torch.int64).reshape(-1)
        raw = torch.as_tensor(target["boxes"], dtype=torch.float32).reshape(-1, 4)
        if raw.shape[0] != labels.shape[0]:
            raise ValueError(f"{raw.shape[0]} boxes but {labels.shape[0]} labels")
        pixels: Tensor = tv_tensors.Image(image)
        boxes: Tensor = tv_tensors.BoundingBoxes(
            raw, format="XYXY", canvas_size=canvas, clamping_mode=None
        )
        masks: Tensor | None = None
        if "masks" in target:
            masks = tv_tensors.Mask(torch.as_tensor(target["masks"]))
            if masks.shape[0] != raw.shape[0] or tuple(masks.shape[1:]) != canvas:
                raise ValueError(
                    f"expected {raw.shape[0]} masks of {self.size} x {self.size}, "
                    f"got {tuple(masks.shape)}"
                )
        if self.geometry is not None:
            if masks is None:
                pixels, boxes = self.geometry(pixels, boxes)
            else:
                pixels, boxes, masks = self.geometry(pixels, boxes, masks)
        moved = boxes.as_subclass(torch.Tensor)
        area = (moved[:, 2] - moved[:, 0]).clamp(min=0) * (moved[:, 3] - moved[:, 1]).clamp(min=0)
        clamped = F.clamp_bounding_boxes(
            moved,
            format=tv_tensors.BoundingBoxFormat.XYXY,
            canvas_size=canvas,
            clamping_mode="hard",
        )
        shown = (clamped[:, 2] - clamped[:, 0]) * (clamped[:, 3] - clamped[:, 1])
        keep = (area > 0) & (shown >= self.min_visible * area)
        kept: dict[str, Tensor] = {
            "boxes": tv_tensors.BoundingBoxes(clamped[keep], format="XYXY", canvas_size=canvas),
            "labels": labels[keep],
        }
        if masks is not None:
            kept["masks"] = tv_tensors.Mask(masks.as_subclass(torch.Tensor)[keep])
        kept = self.sanitize(kept)
        if self.colour is not None:
            pixels = self.colour(pixels)
        out = dict(target)
        out["boxes"] = kept["boxes"].as_subclass(torch.Tensor).to(torch.float32)
        out["labels"] = kept["labels"].to(torch.int64)
        if masks is not None:
            out["masks"] = kept["masks"].as_subclass(torch.Tensor)
        return pixels.as_subclass(torch.Tensor), out

    def __repr__(self) -> str:
        return f"DetectionAugmentation(size={self.size}, {self.geometry!r}, {self.colour!r})"


def build_detection_augmentation(
    augment: AugmentationSettings, size: int
) -> DetectionAugmentation | None:
    """The training-time transforms of ``augment`` for detection (None: nothing to do).

    Args:
        augment: the training form's augmentations (``Augmentations`` or any object with its
            attributes).
        size: the image side S (inputs and outputs are S x S).

    Returns:
        A callable ``(image, target) -> (image, target)`` (see :class:`DetectionAugmentation`),
        or None when no augmentation is on.
    """
    from torchvision import tv_tensors
    from torchvision.transforms import v2

    geometry: list[torch.nn.Module] = []
    bilinear = v2.InterpolationMode.BILINEAR
    # the mean colour for the pixels, 0 (no object) for masks
    fill: dict[type, Any] = {tv_tensors.Image: list(FILL), tv_tensors.Mask: 0}
    if augment.random_resized_crop:
        geometry.append(
            v2.RandomAffine(
                degrees=0.0,
                translate=AFFINE_TRANSLATE,
                scale=AFFINE_SCALE,
                interpolation=bilinear,
                fill=fill,
            )
        )
    if augment.horizontal_flip:
        geometry.append(v2.RandomHorizontalFlip())
    if augment.vertical_flip:
        geometry.append(v2.RandomVerticalFlip())
    if augment.rotation_degrees > 0:
        geometry.append(
            v2.RandomRotation(augment.rotation_degrees, interpolation=bilinear, fill=fill)
        )
    colour = None
    if augment.color_jitter > 0:
        c = float(augment.color_jitter)
        colour = v2.ColorJitter(brightness=c, contrast=c, saturation=c, hue=min(0.5, c / 4))
    if not geometry and colour is None:
        return None
    return DetectionAugmentation(size, geometry, colour)


_Boxes = TypeVar("_Boxes")


def _scale(boxes: _Boxes, sx: float, sy: float) -> _Boxes:
    factors = [sx, sy, sx, sy]
    if hasattr(boxes, "new_tensor"):  # a torch tensor: same dtype and device
        tensor: Any = boxes
        return tensor * tensor.new_tensor(factors, dtype=tensor.dtype)
    array = np.asarray(boxes, dtype=np.float64)
    if array.size == 0:
        return array.reshape(0, 4)  # type: ignore[return-value]
    return array * np.asarray(factors)  # type: ignore[return-value]


def resize_target(boxes: _Boxes, from_size: tuple[int, int], to_size: int) -> _Boxes:
    """Boxes of an original image in the S x S input it is stretched to.

    Args:
        boxes: M x 4 xyxy in the original image's pixels (numpy, list or torch).
        from_size: the original image's ``(width, height)``.
        to_size: the input side S.

    Returns:
        The boxes in input pixels: x times S / width, y times S / height (a torch tensor stays
        one, with its dtype; anything else becomes a float64 numpy array).
    """
    width, height = from_size
    if width <= 0 or height <= 0 or to_size <= 0:
        raise ValueError(f"sizes must be positive, got {from_size} and {to_size}")
    return _scale(boxes, to_size / width, to_size / height)


def boxes_to_image(boxes: _Boxes, size: int, image_size: tuple[int, int]) -> _Boxes:
    """Boxes of the S x S input (e.g. predictions) in the original image's pixels.

    The inverse of :func:`resize_target`.

    Args:
        boxes: M x 4 xyxy in input pixels (numpy, list or torch).
        size: the input side S.
        image_size: the original image's ``(width, height)``.

    Returns:
        The boxes in original pixels: x times width / S, y times height / S.
    """
    width, height = image_size
    if width <= 0 or height <= 0 or size <= 0:
        raise ValueError(f"sizes must be positive, got {image_size} and {size}")
    return _scale(boxes, width / size, height / size)
