"""Events of evaluations: the command, its outcome (figures, and files with the rest), reset.

An experiment has at most one evaluation at a time. ``EvaluationRequested`` starts one;
``EvaluationCompleted`` names the per-image results and the report files it wrote (complete and
fsynced before the event) with their sha256; ``EvaluationReset`` removes it (view and files), so
the experiment can be evaluated again.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from events.registry import EventData, registry
from events.schemas.common import ExperimentId, Name, NonNegativeInt, Sha256
from events.schemas.training import CheckpointKind

Subset = Literal["train", "val", "test"]
SUBSET_ORDER: tuple[str, ...] = ("train", "val", "test")


class FileRef(EventData):
    """A file a job wrote completely before appending the event that names it.

    ``name`` is relative to the experiment's folder (``evaluation/results.jsonl``,
    ``exports/xpt-…/model.onnx``); readers resolve it through the workspace and check it stays
    inside that folder.
    """

    name: str = Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*$")
    sha256: Sha256
    size_bytes: NonNegativeInt

    @field_validator("name")
    @classmethod
    def _no_parent(cls, value: str) -> str:
        if any(part in ("", ".", "..") for part in value.split("/")):
            raise ValueError("must be a plain relative path (no '.' or '..' parts)")
        return value


def _subsets(value: list[str]) -> list[str]:
    """The subsets without repeats, in train, val, test order."""
    if len(set(value)) != len(value):
        raise ValueError("subsets must not repeat")
    return sorted(value, key=SUBSET_ORDER.index)


@registry.register("EvaluationRequested")
class EvaluationRequested(EventData):
    """Command: evaluate experiment ``experiment_id``'s ``checkpoint`` on the pooled ``subsets``
    of its split."""

    experiment_id: ExperimentId
    checkpoint: CheckpointKind = "best"
    subsets: list[Subset] = Field(default_factory=lambda: ["test"], min_length=1, max_length=3)
    batch_size: int = Field(default=64, ge=1, le=4096)

    @field_validator("subsets")
    @classmethod
    def _subsets_in_order(cls, value: list[str]) -> list[str]:
        return _subsets(value)


@registry.register("EvaluationCompleted")
class EvaluationCompleted(EventData):
    """An evaluation ended: its headline figures and the files holding per-image results and plots.

    ``metrics`` are the scalar figures (scikit-learn's definitions); ``report`` is a JSON file
    with the rest (per-class figures, confusion matrix, curves, sweeps, residual histogram);
    ``results`` is JSON lines, one row per evaluated image.
    """

    experiment_id: ExperimentId
    checkpoint: CheckpointKind
    checkpoint_epoch: int = Field(ge=1)
    checkpoint_sha256: Sha256
    split: Name
    subsets: list[Subset] = Field(min_length=1, max_length=3)
    images: NonNegativeInt
    skipped: NonNegativeInt = 0
    """Images of the subsets the model cannot be scored on (no target, or a class it lacks)."""
    trained_seq: NonNegativeInt
    """The log seq whose labels the model was trained with (``TrainingStarted`` of its run)."""
    primary_metric: str = Field(min_length=1, max_length=64)
    metrics: dict[str, float]
    results: FileRef
    report: FileRef
    duration_s: float = Field(ge=0)
    images_per_s: float = Field(default=0.0, ge=0)

    @field_validator("subsets")
    @classmethod
    def _subsets_in_order(cls, value: list[str]) -> list[str]:
        return _subsets(value)


@registry.register("EvaluationReset")
class EvaluationReset(EventData):
    """The user removed the evaluation of ``experiment_id`` (its files are deleted after this)."""

    experiment_id: ExperimentId


@registry.register("ThresholdSet")
class ThresholdSet(EventData):
    """A person chose the confidence threshold of ``experiment_id`` (detection: a detection's
    score; anomaly detection: the anomaly score). Later evaluations count at it and later
    exports write it into their metadata; it is never baked into an exported graph."""

    experiment_id: ExperimentId
    threshold: float = Field(ge=0.0, le=1.0, allow_inf_nan=False)
