"""Events of exports: the command and its outcome, with the validation figures."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, SerializerFunctionWrapHandler, StringConstraints, model_serializer

from events.registry import EventData, registry
from events.schemas.common import ExperimentId, NonNegativeInt, Sha256
from events.schemas.evaluation import FileRef
from events.schemas.training import CheckpointKind

ExportFormat = Literal["onnx", "torchscript"]
EXPORT_FORMATS: tuple[str, ...] = ("onnx", "torchscript")
ExportId = Annotated[str, StringConstraints(pattern=r"^xpt-[0-9a-f]{8}$")]


class ExportOptions(EventData):
    """How to export and how strictly to validate."""

    opset: int = Field(default=17, ge=13, le=21)
    """ONNX opset (ignored by TorchScript)."""
    validation_images: int = Field(default=32, ge=1, le=1024)
    """Real images of the dataset that both runtimes run to compare outputs."""
    tolerance: float = Field(default=1e-3, gt=0, le=1)
    """Largest absolute difference of raw outputs allowed between the export and PyTorch."""


@registry.register("ExportRequested")
class ExportRequested(EventData):
    """Command: export experiment ``experiment_id``'s ``checkpoint`` as ``format``."""

    experiment_id: ExperimentId
    export_id: ExportId
    checkpoint: CheckpointKind = "best"
    format: ExportFormat = "onnx"
    options: ExportOptions = Field(default_factory=ExportOptions)


class ExportValidation(EventData):
    """What running the export and PyTorch on the same real images showed."""

    images: NonNegativeInt
    max_abs_diff: float = Field(ge=0)
    agreement: float = Field(ge=0, le=1)
    """Share of images on which both give the same prediction (class, or value within tolerance;
    detections matched; semantic segmentation: at least 0.999 of the image's pixels)."""
    tolerance: float = Field(gt=0)
    passed: bool
    mask_iou_min: float | None = Field(default=None, ge=0, le=1)
    """Instance segmentation: the smallest mask IoU of the matched detections (None: none
    compared); other tasks leave it out."""
    pixel_agreement: float | None = Field(default=None, ge=0, le=1)
    """Semantic segmentation: the share of the validation images' pixels given the same class
    (argmax of the logits) by both; other tasks leave it out."""

    @model_serializer(mode="wrap")
    def _compact(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        out: dict[str, Any] = handler(self)
        for optional in ("mask_iou_min", "pixel_agreement"):
            if out.get(optional) is None:
                out.pop(optional, None)
        return out


@registry.register("ExportCompleted")
class ExportCompleted(EventData):
    """An export was written and validated (``validation.passed`` False: marked failed)."""

    export_id: ExportId
    experiment_id: ExperimentId
    checkpoint: CheckpointKind
    checkpoint_epoch: int = Field(ge=1)
    checkpoint_sha256: Sha256
    format: ExportFormat
    file: FileRef
    validation: ExportValidation
    metadata: dict[str, str] = Field(default_factory=dict)
    """The metadata stored in the file (ONNX ``metadata_props``; JSON values)."""
    duration_s: float = Field(ge=0)
