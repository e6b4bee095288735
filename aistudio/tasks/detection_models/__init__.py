"""Object-detection models and the augmentations that move boxes with the image.

Importing this package is torch-free: the catalogue (:data:`DETECTION_MODELS`) and the
:class:`Detector` protocol are defined without torch; :class:`CenterNet`, the torchvision
wrappers and the augmentations are imported on first use (``from
aistudio.tasks.detection_models import build_detector`` stays cheap until it is called).

Conventions every detector follows: the input is a float32 batch N x 3 x S x S already
ImageNet-normalised; a target per image is ``{"boxes": float32 M x 4 xyxy in input pixels,
"labels": int64 M}`` with 0-based class indices (M may be 0).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from aistudio.tasks.detection_models.catalogue import (
    DEFAULT_DETECTION_MODEL,
    DEFAULT_INSTANCE_MODEL,
    DETECTION_MODELS,
    DETECTORS,
    INSTANCE_DETECTORS,
    INSTANCE_MODELS,
    MIN_DETECTION_IMAGE_SIZE,
    DetectorEntry,
    detector_entry,
)

if TYPE_CHECKING:
    from torch import Tensor, nn

    from aistudio.tasks.detection_models.centernet import CenterNet, build_centernet
    from aistudio.tasks.detection_models.torchvision_detectors import (
        TorchvisionDetector,
        build_torchvision_detector,
    )
    from aistudio.tasks.detection_models.transforms import (
        DetectionAugmentation,
        boxes_to_image,
        build_detection_augmentation,
        resize_target,
    )


@runtime_checkable
class Detector(Protocol):
    """What the pipeline calls on a detector (each one is also an ``nn.Module``)."""

    def losses(self, images: Tensor, targets: list[dict[str, Tensor]]) -> dict[str, Tensor]:
        """Scalar losses of a batch by name (the pipeline sums them); called in train mode."""
        ...

    def predict(
        self, images: Tensor, score_threshold: float, nms_iou: float, max_detections: int
    ) -> list[dict[str, Tensor]]:
        """Per image ``boxes`` (K x 4 float32 xyxy pixels), ``scores`` (K), ``labels`` (K int64).

        Sorted by score descending, at most ``max_detections``; run in evaluation mode.
        """
        ...

    def export_module(
        self, score_threshold: float, nms_iou: float, max_detections: int
    ) -> nn.Module:
        """A module mapping one image (1 x 3 x S x S) to ``(boxes, scores, labels)``, NMS inside.

        Exportable with ``torch.onnx.export(..., dynamo=False, opset_version=17)``.
        """
        ...


def build_detector(
    name: str, num_classes: int, image_size: int, pretrained_weights: bool
) -> tuple[nn.Module, str]:
    """Build catalogue detector ``name`` for ``image_size`` px inputs.

    Args:
        name: a name of :data:`DETECTION_MODELS`.
        num_classes: number of object classes.
        image_size: the square input side S.
        pretrained_weights: whether cached ImageNet backbone weights are wanted (never
            downloaded).

    Returns:
        The detector (a :class:`Detector`) and the sentence on its weights.

    Raises:
        ValueError: unknown name, no class, or an image under the model's minimum size.
        TaskInputError: a cached weights file is there but cannot be loaded.
    """
    entry = detector_entry(name)
    if image_size < entry.spec.min_image_size:
        raise ValueError(
            f"{entry.spec.title} needs images of at least {entry.spec.min_image_size} px, "
            f"got {image_size}"
        )
    if entry.family == "centernet":
        from aistudio.tasks.detection_models.centernet import build_centernet

        return build_centernet(num_classes, pretrained_weights, trunk=entry.backbone)
    if entry.family == "centermask":
        from aistudio.tasks.detection_models.centermask import build_centermask

        return build_centermask(num_classes, pretrained_weights, trunk=entry.backbone)
    from aistudio.tasks.detection_models.torchvision_detectors import build_torchvision_detector

    return build_torchvision_detector(name, num_classes, image_size, pretrained_weights)


_LAZY = {
    "CenterNet": "centernet",
    "build_centernet": "centernet",
    "TorchvisionDetector": "torchvision_detectors",
    "build_torchvision_detector": "torchvision_detectors",
    "DetectionAugmentation": "transforms",
    "build_detection_augmentation": "transforms",
    "resize_target": "transforms",
    "boxes_to_image": "transforms",
}


def __getattr__(name: str) -> Any:
    """Import the torch-side names on first use (keeps importing the package torch-free)."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)


__all__ = [
    "DEFAULT_DETECTION_MODEL",
    "DEFAULT_INSTANCE_MODEL",
    "DETECTION_MODELS",
    "DETECTORS",
    "INSTANCE_DETECTORS",
    "INSTANCE_MODELS",
    "MIN_DETECTION_IMAGE_SIZE",
    "CenterNet",
    "DetectionAugmentation",
    "Detector",
    "DetectorEntry",
    "TorchvisionDetector",
    "boxes_to_image",
    "build_centernet",
    "build_detection_augmentation",
    "build_detector",
    "build_torchvision_detector",
    "detector_entry",
    "resize_target",
]
