"""Training augmentations that move an image and its index mask together.

All geometry is torchvision.transforms.v2's on a ``tv_tensors.Image`` and a ``tv_tensors.Mask``:
v2 resamples a Mask with NEAREST whatever interpolation the image gets, so a mask keeps its
class values exactly. Pixels uncovered by a rotation get the ImageNet mean colour in the image
and :data:`~events.schemas.annotation.IGNORE_INDEX` in the mask (neither trained nor scored).

- ``random_resized_crop``: ``v2.RandomResizedCrop`` to S x S over 50-100 % of the area (as for
  classification); ``horizontal_flip`` / ``vertical_flip``: p = 0.5; ``rotation_degrees``:
  ``v2.RandomRotation`` within ± that angle; ``color_jitter``: brightness, contrast and
  saturation of the pixels, not their hue (a pixel's class is often its colour — vegetation,
  road markings —, and the hue shift costs five times the rest of the augmentation: 0.9 ms an
  image at 128 px).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aistudio.tasks.detection_models.transforms import FILL, AugmentationSettings
from events.schemas.annotation import IGNORE_INDEX

if TYPE_CHECKING:
    import torch
    from torch import Tensor

CROP_SCALE: tuple[float, float] = (0.5, 1.0)


class SegmentationAugmentation:
    """``(uint8 image 3 x S x S, uint8 mask S x S) -> (image, mask)``, moved together."""

    def __init__(self, geometry: list[torch.nn.Module], colour: torch.nn.Module | None) -> None:
        from torchvision.transforms import v2

        self.geometry = v2.Compose(geometry) if geometry else None
        self.colour = colour

    def __call__(self, image: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        import torch
        from torchvision import tv_tensors

        pixels: Any = tv_tensors.Image(image)
        labels: Any = tv_tensors.Mask(mask.unsqueeze(0))
        if self.geometry is not None:
            pixels, labels = self.geometry(pixels, labels)
        if self.colour is not None:
            pixels = self.colour(pixels)
        return pixels.as_subclass(torch.Tensor), labels.as_subclass(torch.Tensor)[0]

    def __repr__(self) -> str:
        return f"SegmentationAugmentation({self.geometry!r}, {self.colour!r})"


def build_segmentation_augmentation(
    augment: AugmentationSettings, size: int
) -> SegmentationAugmentation | None:
    """The training-time transforms of ``augment`` (None: nothing to do)."""
    from torchvision import tv_tensors
    from torchvision.transforms import v2

    geometry: list[torch.nn.Module] = []
    fill: dict[type, Any] = {tv_tensors.Image: list(FILL), tv_tensors.Mask: IGNORE_INDEX}
    if augment.random_resized_crop:
        geometry.append(v2.RandomResizedCrop(size, scale=CROP_SCALE, antialias=True))
    if augment.horizontal_flip:
        geometry.append(v2.RandomHorizontalFlip())
    if augment.vertical_flip:
        geometry.append(v2.RandomVerticalFlip())
    if augment.rotation_degrees > 0:
        geometry.append(
            v2.RandomRotation(
                augment.rotation_degrees, interpolation=v2.InterpolationMode.BILINEAR, fill=fill
            )
        )
    colour = None
    if augment.color_jitter > 0:
        c = float(augment.color_jitter)
        colour = v2.ColorJitter(brightness=c, contrast=c, saturation=c)
    if not geometry and colour is None:
        return None
    return SegmentationAugmentation(geometry, colour)
