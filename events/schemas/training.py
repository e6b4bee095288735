"""Events of experiments: the training command, its configuration and what a run reports."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from events.registry import EventData, registry
from events.schemas.common import ExperimentId, Name, NonNegativeInt

Optimizer = Literal["sgd", "adam", "adamw"]
Scheduler = Literal["none", "step", "cosine", "plateau"]
Precision = Literal["32", "16-mixed", "bf16-mixed"]
Accelerator = Literal["auto", "cpu", "gpu"]
CheckpointKind = Literal["best", "last"]


class Augmentations(EventData):
    """Training-time augmentations (validation and test images are only resized)."""

    random_resized_crop: bool = False
    horizontal_flip: bool = False
    vertical_flip: bool = False
    rotation_degrees: float = Field(default=0.0, ge=0, le=180)
    color_jitter: float = Field(default=0.0, ge=0, le=1)


class TrainingConfig(EventData):
    """Everything that decides a training run; validated again against the task at submission."""

    model: str = Field(min_length=1, max_length=64)
    pretrained: bool = True
    """Use ImageNet weights when they are in the local torch cache (never downloaded)."""
    image_size: int = Field(default=64, ge=16, le=1024)
    epochs: int = Field(default=10, ge=1, le=10000)
    batch_size: int = Field(default=32, ge=1, le=4096)
    optimizer: Optimizer = "adamw"
    lr: float = Field(default=1e-3, gt=0, le=10)
    weight_decay: float = Field(default=1e-4, ge=0, le=1)
    momentum: float = Field(default=0.9, ge=0, lt=1)
    scheduler: Scheduler = "cosine"
    warmup_epochs: NonNegativeInt = 0
    step_size: int = Field(default=10, ge=1)
    gamma: float = Field(default=0.1, gt=0, le=1)
    early_stopping_patience: int | None = Field(default=None, ge=1)
    augmentations: Augmentations | None = None
    """None: the task's defaults."""
    precision: Precision = "32"
    accelerator: Accelerator = "auto"
    devices: int | Literal["auto"] = "auto"
    seed: int = 0
    num_workers: int = Field(default=2, ge=0, le=64)
    task_options: dict[str, Any] = Field(default_factory=dict)
    """Task-specific settings (loss, label smoothing, class weights, …), checked by the task."""

    @model_validator(mode="after")
    def _warmup_fits(self) -> TrainingConfig:
        if self.warmup_epochs >= self.epochs and self.warmup_epochs > 0:
            raise ValueError("warmup_epochs must be smaller than epochs")
        if isinstance(self.devices, int) and self.devices < 1:
            raise ValueError("devices must be at least 1 (or 'auto')")
        return self


@registry.register("TrainingRequested")
class TrainingRequested(EventData):
    """Command: train experiment ``experiment_id`` on split ``split`` with ``config``.

    With ``resume``, the experiment's run continues from its ``last`` checkpoint up to
    ``config.epochs`` (the same or more epochs than before; everything else unchanged).
    """

    experiment_id: ExperimentId
    name: Name
    split: Name
    config: TrainingConfig
    resume: bool = False


@registry.register("TrainingStarted")
class TrainingStarted(EventData):
    """A run began: what it trains on, where, and from which weights."""

    experiment_id: ExperimentId
    start_epoch: NonNegativeInt
    epochs: int = Field(ge=1)
    train_images: NonNegativeInt
    val_images: NonNegativeInt
    parameters: NonNegativeInt
    device: str = Field(max_length=100)
    weights: str = Field(max_length=300)
    """``imagenet`` (from the local cache) or a sentence saying it trains from scratch and why."""


@registry.register("EpochCompleted")
class EpochCompleted(EventData):
    """One epoch's figures."""

    experiment_id: ExperimentId
    epoch: int = Field(ge=1)
    epochs: int = Field(ge=1)
    train_loss: float
    val_loss: float | None = None
    metrics: dict[str, float] = Field(default_factory=dict)
    lr: float = Field(ge=0)
    duration_s: float = Field(ge=0)
    images_per_s: float = Field(default=0.0, ge=0)


@registry.register("CheckpointSaved")
class CheckpointSaved(EventData):
    """A checkpoint file was written completely (``best`` by the primary metric, or ``last``)."""

    experiment_id: ExperimentId
    which: CheckpointKind
    epoch: int = Field(ge=1)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    size_bytes: int = Field(gt=0)
    metric: str | None = None
    value: float | None = None


@registry.register("TrainingCompleted")
class TrainingCompleted(EventData):
    """A run ended normally (all epochs, or stopped early)."""

    experiment_id: ExperimentId
    epochs_completed: int = Field(ge=0)
    best_epoch: int | None = None
    metric: str | None = None
    best_value: float | None = None
    stopped_early: bool = False
    duration_s: float = Field(ge=0)
