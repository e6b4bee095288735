"""Field types shared by the event schemas."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, StringConstraints

TASKS: tuple[str, ...] = (
    "classification",
    "detection",
    "segmentation",
    "instance_segmentation",
    "anomaly_detection",
    "regression",
    "obb",
)
Task = Literal[
    "classification",
    "detection",
    "segmentation",
    "instance_segmentation",
    "anomaly_detection",
    "regression",
    "obb",
]

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _no_control_chars(value: str) -> str:
    if _CONTROL.search(value):
        raise ValueError("must not contain control characters")
    return value


Name = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=80),
    AfterValidator(_no_control_chars),
]
"""A user-facing name (project, split, experiment): 1 to 80 printable characters."""

Label = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=100),
    AfterValidator(_no_control_chars),
]
"""A class label."""

Description = Annotated[str, StringConstraints(max_length=2000)]

EventId = Annotated[str, StringConstraints(pattern=r"^evt-[0-9a-f]{16}$")]
ProjectId = Annotated[str, StringConstraints(pattern=r"^proj-[0-9a-f]{8}$")]
ImageId = Annotated[str, StringConstraints(pattern=r"^img-[0-9a-f]{8}$")]
ExperimentId = Annotated[str, StringConstraints(pattern=r"^exp-[0-9a-f]{8}$")]
Sha256 = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
ImageExt = Literal["jpg", "png", "bmp", "tif", "webp"]
NonNegativeInt = Annotated[int, Field(ge=0)]
