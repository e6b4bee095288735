"""Events of a project's dataset: import command, images, classes, labels."""

from __future__ import annotations

import math
from typing import Any, Literal

from pydantic import (
    Field,
    SerializerFunctionWrapHandler,
    field_validator,
    model_serializer,
    model_validator,
)

from events.registry import EventData, registry
from events.schemas.common import ImageExt, ImageId, Label, NonNegativeInt, Sha256

ImportFormat = Literal[
    "auto", "imagefolder", "csv", "coco", "voc", "yolo", "yolo-obb", "dota", "masks", "mvtec"
]
"""The formats of DESIGN §6; which of them this version reads is the format registry's
(``aistudio.datasets.formats.registry``): commands refuse the others, and so does the job."""


@registry.register("ImportRequested")
class ImportRequested(EventData):
    """Command: import images (and their labels) from ``source`` on this machine."""

    source: str = Field(min_length=1, max_length=4096)
    format: ImportFormat = "auto"
    options: dict[str, Any] = Field(default_factory=dict)


class ImageRecord(EventData):
    """One stored image, as added by an import."""

    image_id: ImageId
    sha256: Sha256
    ext: ImageExt
    filename: str = Field(min_length=1, max_length=1024)
    width: int = Field(gt=0)
    height: int = Field(gt=0)
    size_bytes: int = Field(gt=0)
    label: Label | None = None
    value: float | None = None
    orientation: int = Field(default=1, ge=1, le=8)
    """The file's EXIF orientation (1: none): the image is shown and trained upright, and its
    annotations are in the upright frame (``width``/``height`` stay the stored ones). Left out
    of the normal form when 1, so records written before it existed read the same."""

    @model_serializer(mode="wrap")
    def _compact(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        out: dict[str, Any] = handler(self)
        if out.get("orientation") == 1:
            del out["orientation"]
        return out

    @field_validator("value")
    @classmethod
    def _finite(cls, value: float | None) -> float | None:
        if value is not None and not math.isfinite(value):
            raise ValueError("must be a finite number")
        return value


@registry.register("ImagesAdded")
class ImagesAdded(EventData):
    """A batch of images added to the dataset by an import job."""

    images: list[ImageRecord] = Field(min_length=1)


@registry.register("ClassesDefined")
class ClassesDefined(EventData):
    """The dataset's ordered class list after an import (all classes, not only new ones)."""

    classes: list[Label]

    @field_validator("classes")
    @classmethod
    def _unique(cls, classes: list[str]) -> list[str]:
        if len(set(classes)) != len(classes):
            raise ValueError("class names must be unique")
        return classes


class SkippedItem(EventData):
    """One file an import did not take, and why."""

    path: str = Field(max_length=4096)
    reason: str = Field(min_length=1, max_length=500)


@registry.register("ImportSkipped")
class ImportSkipped(EventData):
    """Files an import skipped, each with its reason."""

    items: list[SkippedItem] = Field(min_length=1)


@registry.register("ImportCompleted")
class ImportCompleted(EventData):
    """An import job's summary."""

    source: str
    format: str
    added: NonNegativeInt
    duplicates: NonNegativeInt
    skipped: NonNegativeInt
    duration_s: float = Field(ge=0)


@registry.register("LabelChanged")
class LabelChanged(EventData):
    """A person changed one image's label (classification) or value (regression)."""

    image_id: ImageId
    label: Label | None = None
    value: float | None = None

    @model_validator(mode="after")
    def _one_of(self) -> LabelChanged:
        if self.value is not None and not math.isfinite(self.value):
            raise ValueError("value must be a finite number")
        if self.label is not None and self.value is not None:
            raise ValueError("give either a label or a value, not both")
        return self


@registry.register("ImageRemoved")
class ImageRemoved(EventData):
    """An image was removed from the dataset (its file stays in the content store)."""

    image_id: ImageId
