"""The object detectors offered, torch-free: the web process shows and validates them.

Parameter counts: torchvision's documented ``num_params`` (COCO heads of 91 classes, frozen
BatchNorm not counted) for its detectors; the two it does not publish (CenterNet and FCOS on
ResNet-18) are counted here with 91 classes too. CPU notes: training steps measured side by
side on a 2-core CPU at 128 px, batch 16, from scratch (CenterNet 0.7 s a step, FCOS
ResNet-18 1.35 s, FCOS and RetinaNet on ResNet-50 2.2 s, Faster R-CNN 6 s).
"""

from __future__ import annotations

from dataclasses import dataclass

from aistudio.tasks.base import ModelSpec

MIN_DETECTION_IMAGE_SIZE = 64
"""Smallest input side of every detector here (stride-32 trunks with a usable top level)."""

DEFAULT_DETECTION_MODEL = "centernet_resnet18"


@dataclass(frozen=True)
class DetectorEntry:
    """How a catalogue entry is built (torch-free: names only)."""

    spec: ModelSpec
    family: str
    """``centernet`` (:mod:`.centernet`) or ``torchvision`` (:mod:`.torchvision_detectors`)."""
    backbone: str
    """The backbone of :data:`aistudio.tasks.models.MODELS` whose cached weights it loads."""
    exportable: bool = True
    """Whether ``export_module`` gives an ONNX-exportable graph."""


DETECTORS: tuple[DetectorEntry, ...] = (
    DetectorEntry(
        ModelSpec(
            "centernet_resnet18",
            "CenterNet (ResNet-18)",
            12.0,
            MIN_DETECTION_IMAGE_SIZE,
            (
                "default: the fastest here, accurate from scratch on a "
                "CPU (about 0.7 s per 16 images at 128 px)"
            ),
        ),
        "centernet",
        "resnet18",
    ),
    DetectorEntry(
        ModelSpec(
            "fcos_resnet18_fpn",
            "FCOS (ResNet-18 FPN)",
            19.3,
            MIN_DETECTION_IMAGE_SIZE,
            (
                "anchor-free; about twice as slow as CenterNet on a "
                "CPU: best with cached ImageNet weights"
            ),
        ),
        "torchvision",
        "resnet18",
    ),
    DetectorEntry(
        ModelSpec(
            "fcos_resnet50_fpn",
            "FCOS (ResNet-50 FPN)",
            32.3,
            MIN_DETECTION_IMAGE_SIZE,
            ("slow on CPU (about 3x CenterNet's time): use cached ImageNet weights or a GPU"),
        ),
        "torchvision",
        "resnet50",
    ),
    DetectorEntry(
        ModelSpec(
            "retinanet_resnet50_fpn_v2",
            "RetinaNet v2 (ResNet-50 FPN)",
            38.2,
            MIN_DETECTION_IMAGE_SIZE,
            (
                "slow on CPU (about 3x CenterNet): use cached ImageNet "
                "weights or a GPU; anchors from 32 px"
            ),
        ),
        "torchvision",
        "resnet50",
    ),
    DetectorEntry(
        ModelSpec(
            "fasterrcnn_mobilenet_v3_large_fpn",
            "Faster R-CNN (MobileNetV3-Large FPN)",
            19.4,
            MIN_DETECTION_IMAGE_SIZE,
            (
                "two-stage, the slowest on CPU (about 9x CenterNet); coarse "
                "features, 32 px anchors: for large objects"
            ),
        ),
        "torchvision",
        "mobilenet_v3_large",
    ),
)

DETECTION_MODELS: tuple[ModelSpec, ...] = tuple(entry.spec for entry in DETECTORS)
"""The detectors offered, the default first."""

DEFAULT_INSTANCE_MODEL = "centermask_resnet18"

INSTANCE_DETECTORS: tuple[DetectorEntry, ...] = (
    DetectorEntry(
        ModelSpec(
            "centermask_resnet18",
            "CenterNet + mask prototypes (ResNet-18)",
            12.4,
            MIN_DETECTION_IMAGE_SIZE,
            (
                "default: CenterNet with a YOLACT-style mask branch (32 prototypes at half "
                "the input's resolution); fast and accurate from scratch on a CPU"
            ),
        ),
        "centermask",
        "resnet18",
    ),
    DetectorEntry(
        ModelSpec(
            "maskrcnn_resnet50_fpn",
            "Mask R-CNN (ResNet-50 FPN)",
            44.4,
            MIN_DETECTION_IMAGE_SIZE,
            (
                "two-stage, the reference model; slow on a CPU (several seconds a step): "
                "use cached ImageNet weights or a GPU"
            ),
        ),
        "torchvision",
        "resnet50",
    ),
)
"""The instance segmentation models offered (detectors with masks), the default first."""

INSTANCE_MODELS: tuple[ModelSpec, ...] = tuple(entry.spec for entry in INSTANCE_DETECTORS)


def detector_entry(name: str) -> DetectorEntry:
    """The catalogue entry of detector ``name``.

    Raises:
        ValueError: unknown name (the message lists the choices).
    """
    for entry in (*DETECTORS, *INSTANCE_DETECTORS):
        if entry.spec.name == name:
            return entry
    choices = ", ".join(spec.name for spec in (*DETECTION_MODELS, *INSTANCE_MODELS))
    raise ValueError(f"unknown detection model {name!r}: choose one of {choices}")
