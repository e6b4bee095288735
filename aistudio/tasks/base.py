"""What a task is: one module in the registry declaring everything the pipeline and the UI need.

A task module defines one :class:`Task` subclass instance. Its metadata (label kind, models with
their sizes, options schema, primary metric, default augmentations) is torch-free, so the web
process can show forms and validate commands; the methods that build models, targets, losses and
metrics import torch lazily and run only in job processes. The pipeline never asks which task it
runs: it calls these methods.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict

if TYPE_CHECKING:  # torch only for type checkers: importing this module stays torch-free
    import numpy as np
    import torch
    from torch import nn

LabelKind = Literal["label", "value"]
MetricMode = Literal["max", "min"]


class TaskInputError(ValueError):
    """The data or the settings cannot be trained on; the message is for the user.

    Raised by task methods (e.g. one class in the train subset, all values equal, an unusable
    cached weights file); the pipeline reports it as a job input error.
    """


@dataclass(frozen=True)
class ModelSpec:
    """One model a task offers: its name, family and size, and the smallest input it works at."""

    name: str
    title: str
    parameters_m: float
    """Millions of parameters of the backbone (ImageNet head), as torchvision documents."""
    min_image_size: int
    note: str = ""


class TaskOptions(BaseModel):
    """Base of a task's own settings (``TrainingConfig.task_options``)."""

    model_config = ConfigDict(extra="forbid")


@dataclass
class MetricResult:
    """Metrics of one evaluation pass: name → value, plus which one decides ``best``."""

    values: dict[str, float]
    primary: str


@dataclass
class TargetInfo:
    """What a task learned about the targets of the train subset (fed back at inference)."""

    classes: list[str] = field(default_factory=list)
    mean: float = 0.0
    std: float = 1.0


@dataclass
class EvaluationOutput:
    """What a task makes of a whole evaluation pass (see :meth:`Task.evaluate`).

    Attributes:
        metrics: the scalar figures, by name (scikit-learn's definitions), the primary one first.
        rows: one dict per image, in the order of the outputs, with the task's per-image fields
            (JSON-able: ``target``, ``prediction`` and, for classification, ``confidence``,
            ``correct``, ``scores``; for regression, ``error``). The evaluator adds
            ``image_id``, ``subset`` and ``label_changed``.
        report: everything else the Evaluation page plots (JSON-able): per-class figures,
            confusion matrix, curves, sweeps, histograms.
    """

    metrics: dict[str, float]
    rows: list[dict[str, Any]]
    report: dict[str, Any]


class Task(ABC):
    """The contract of a task module. Subclasses set the class attributes and the methods."""

    name: str
    title: str
    label_kind: LabelKind
    models: Sequence[ModelSpec]
    default_model: str
    primary_metric: str
    metric_mode: MetricMode
    metric_names: Sequence[str] = ()
    """Every metric :meth:`metrics` reports, in display order (the primary one included)."""
    options_model: type[TaskOptions] = TaskOptions
    default_augmentations: dict[str, Any] = {}

    # ------------------------------------------------------------------ torch-free
    def model_spec(self, name: str) -> ModelSpec:
        """The spec of model ``name``; ValueError naming the choices otherwise."""
        for spec in self.models:
            if spec.name == name:
                return spec
        choices = ", ".join(m.name for m in self.models)
        raise ValueError(f"unknown model {name!r} for {self.name}: choose one of {choices}")

    def validate_options(self, options: dict[str, Any]) -> TaskOptions:
        """The task's options parsed and checked (pydantic ValidationError otherwise)."""
        return self.options_model.model_validate(options)

    @abstractmethod
    def target_info(
        self, labels: Sequence[str | None], values: Sequence[float | None]
    ) -> TargetInfo:
        """What the targets of the train subset look like (classes; mean and std of values)."""

    # ------------------------------------------------------------------ torch side
    @abstractmethod
    def build_model(
        self, model: str, info: TargetInfo, pretrained_weights: bool
    ) -> tuple[nn.Module, str]:
        """The network for ``model`` with this task's head, and a sentence on the weights used."""

    @abstractmethod
    def target(self, label: str | None, value: float | None, info: TargetInfo) -> torch.Tensor:
        """The training target of one image."""

    @abstractmethod
    def loss_fn(
        self, options: TaskOptions, info: TargetInfo, class_counts: Sequence[int]
    ) -> nn.Module:
        """The loss to minimise."""

    @abstractmethod
    def metrics(
        self, outputs: torch.Tensor, targets: torch.Tensor, info: TargetInfo
    ) -> MetricResult:
        """Metrics of a whole pass, from the stacked outputs and targets."""

    @abstractmethod
    def evaluate(
        self,
        outputs: torch.Tensor,
        targets: torch.Tensor,
        info: TargetInfo,
        annotations: Sequence[str | float | None] | None = None,
    ) -> EvaluationOutput:
        """Figures, per-image rows and plot data of an evaluation pass (outputs of the model
        in eval mode and the targets :meth:`target` built, stacked, in the same order).

        ``annotations``, when given, are the images' own labels or values as the dataset holds
        them, in the same order: rows show them as ``target``, and a task whose targets are
        transformed (normalised values, …) computes its figures from them rather than from the
        targets turned back (exact, not within float32 rounding).

        Every figure follows scikit-learn's definition; every value of the output is plain JSON
        (Python floats and ints, None instead of NaN). The report carries ``task`` (the task's
        name) and ``metrics``.

        Raises:
            ValueError: no image, or outputs and targets that do not match.
        """

    # ------------------------------------------------------------------ export (numpy)
    @abstractmethod
    def decode_outputs(self, outputs: np.ndarray, info: TargetInfo) -> np.ndarray:
        """The predictions of raw model outputs ``(N, …)``: one per image (a class index, a
        value in the data's unit, …). Used to compare an export with PyTorch."""

    @abstractmethod
    def agreement(self, a: np.ndarray, b: np.ndarray, info: TargetInfo, tolerance: float) -> float:
        """Share of images whose predictions ``a`` and ``b`` (from :meth:`decode_outputs`) are
        the same (equal classes; values within ``tolerance`` standard deviations)."""

    @abstractmethod
    def export_metadata(self, info: TargetInfo) -> dict[str, Any]:
        """The task's part of an exported model's metadata: how to read the outputs (class
        names, or the scaling that turns the output into a value). JSON-able values."""
