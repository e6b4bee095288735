"""The semantic segmentation models offered, torch-free: the web process shows and validates them.

Parameter counts are of the networks with 21 classes (VOC's), counted with torchvision 0.29.
CPU notes: training steps measured side by side on a 2-core CPU at 128 px, batch 16, from
scratch (``python -m bench segmentation``; docs/performance.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from aistudio.tasks.base import ModelSpec

MIN_SEGMENTATION_IMAGE_SIZE = 32
"""Smallest input side: a stride-32 trunk leaves one cell."""
DEFAULT_SEGMENTATION_MODEL = "unet_resnet18"


@dataclass(frozen=True)
class SegmenterEntry:
    """How a catalogue entry is built (torch-free: names only).

    Attributes:
        spec: what the form shows.
        family: ``unet`` (:mod:`.unet`) or ``torchvision`` (:mod:`.torchvision_segmenters`).
        backbone: the model of :data:`aistudio.tasks.models.MODELS` whose cached ImageNet
            weights its trunk loads.
    """

    spec: ModelSpec
    family: Literal["unet", "torchvision"]
    backbone: str


SEGMENTERS: tuple[SegmenterEntry, ...] = (
    SegmenterEntry(
        ModelSpec(
            "unet_resnet18",
            "U-Net (ResNet-18)",
            14.3,
            MIN_SEGMENTATION_IMAGE_SIZE,
            "default: accurate from scratch on small data, fast on a CPU",
        ),
        "unet",
        "resnet18",
    ),
    SegmenterEntry(
        ModelSpec(
            "unet_resnet34",
            "U-Net (ResNet-34)",
            24.4,
            MIN_SEGMENTATION_IMAGE_SIZE,
            "deeper trunk: about 1.5x the time of ResNet-18 for larger data sets",
        ),
        "unet",
        "resnet34",
    ),
    SegmenterEntry(
        ModelSpec(
            "lraspp_mobilenet_v3_large",
            "LR-ASPP (MobileNetV3-Large)",
            3.2,
            MIN_SEGMENTATION_IMAGE_SIZE,
            "small and fast at inference; coarse edges, learns slowly from scratch: "
            "best with cached ImageNet weights",
        ),
        "torchvision",
        "mobilenet_v3_large",
    ),
    SegmenterEntry(
        ModelSpec(
            "deeplabv3_mobilenet_v3_large",
            "DeepLabV3 (MobileNetV3-Large)",
            11.0,
            MIN_SEGMENTATION_IMAGE_SIZE,
            "best with cached ImageNet weights",
        ),
        "torchvision",
        "mobilenet_v3_large",
    ),
    SegmenterEntry(
        ModelSpec(
            "deeplabv3_resnet50",
            "DeepLabV3 (ResNet-50)",
            39.6,
            MIN_SEGMENTATION_IMAGE_SIZE,
            "dilated ResNet-50: slow on a CPU (prefer a GPU) and best with cached ImageNet weights",
        ),
        "torchvision",
        "resnet50",
    ),
)

SEGMENTATION_MODELS: tuple[ModelSpec, ...] = tuple(e.spec for e in SEGMENTERS)


def segmenter_entry(name: str) -> SegmenterEntry:
    """The catalogue entry of ``name``; ValueError naming the choices otherwise."""
    for entry in SEGMENTERS:
        if entry.spec.name == name:
            return entry
    choices = ", ".join(e.spec.name for e in SEGMENTERS)
    raise ValueError(f"unknown segmentation model {name!r}: choose one of {choices}")
