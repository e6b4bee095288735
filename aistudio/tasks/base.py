"""What a task is: one module in the registry declaring everything the pipeline and the UI need.

A task module defines one :class:`Task` subclass instance. Its metadata (label kind, models with
their sizes, options schema, primary metric, default augmentations) is torch-free, so the web
process can show forms and validate commands; the methods that build models, targets, losses and
metrics import torch lazily and run only in job processes. The pipeline never asks which task it
runs: it calls these methods.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict

if TYPE_CHECKING:  # torch only for type checkers: importing this module stays torch-free
    import torch
    from torch import nn

    from projections.dataset import DatasetView, ImageEntry

LabelKind = Literal["label", "value", "boxes", "instances", "semantic"]
FileResolver = Callable[[str, str], Path]
"""``(sha256, ext) -> path`` of a file of the project's content store (masks of annotations)."""
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


@dataclass(frozen=True)
class ModelCost:
    """What training one model costs on the machine its figures were measured on (torch-free).

    Measured by ``python -m bench resources`` (see :mod:`aistudio.tasks.costs`, which holds the
    table and says when and where): a training step at ``batch`` images of ``S`` px holds
    ``fixed_mb + per_image_mb * batch * (S / S0)**2`` MB more than the process before its model
    (weights, gradients, optimizer state; the activations kept for backward), and takes
    ``step_ms + train_ms * batch * (S / S0)**2`` ms; a validation image takes ``eval_ms * (S /
    S0)**2`` ms. S0 is :data:`aistudio.tasks.costs.REFERENCE_SIZE`.

    Attributes:
        fixed_mb: memory of a run whatever its batch (MB, 10**6 bytes).
        per_image_mb: memory per image of a batch at S0 px (MB).
        step_ms: time of a step whatever its batch (the optimizer; ms).
        train_ms: training time per image at S0 px (ms).
        eval_ms: validation time per image at S0 px (ms).
        params_base: parameters of the network with a head of no output (exact).
        params_per_output: parameters each head output adds (exact).
    """

    fixed_mb: float
    per_image_mb: float
    step_ms: float
    train_ms: float
    eval_ms: float
    params_base: int
    params_per_output: int

    @staticmethod
    def _scale(size: int) -> float:
        from aistudio.tasks.costs import REFERENCE_SIZE

        return (size / REFERENCE_SIZE) ** 2

    def step_memory_mb(self, size: int, batch: int) -> float:
        """MB a training step of ``batch`` images of ``size`` px holds over the bare process."""
        return self.fixed_mb + self.per_image_mb * batch * self._scale(size)

    def step_seconds(self, size: int, batch: int) -> float:
        """Seconds of one training step of ``batch`` images of ``size`` px."""
        return (self.step_ms + self.train_ms * batch * self._scale(size)) / 1000.0

    def eval_seconds(self, size: int, images: int) -> float:
        """Seconds to validate ``images`` images of ``size`` px."""
        return self.eval_ms * images * self._scale(size) / 1000.0

    def parameters(self, outputs: int) -> int:
        """The network's parameters with a head of ``outputs`` outputs."""
        return self.params_base + self.params_per_output * outputs


@dataclass(frozen=True)
class TrainingCost:
    """What training a configuration costs, from the measured table (see :class:`ModelCost`).

    Attributes:
        memory_bytes: memory a training step holds over the bare job process (model, optimizer
            state, the batch's activations).
        batch_bytes: the part of ``memory_bytes`` that grows with the batch (activations).
        epoch_s: seconds of one epoch (its steps and its validation) on the threads the table
            was measured with (:data:`aistudio.tasks.costs.REFERENCE_THREADS`).
        parameters: the network's parameters with this run's head.
    """

    memory_bytes: int
    batch_bytes: int
    epoch_s: float
    parameters: int


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


class BatchEvaluator(Protocol):
    """Accumulates a pass batch by batch and computes its metrics at the end.

    ``update`` receives what :meth:`Task.validation_batch` (or :meth:`Task.infer`) returned for a
    batch and that batch's targets; ``compute`` gives the figures of everything seen.
    ``gather`` merges the evaluators of every process of a DDP run (``module`` is the
    LightningModule) before ``compute`` on each of them.
    """

    def update(self, outputs: Any, targets: Any) -> None: ...

    def gather(self, module: Any) -> None: ...

    def compute(self) -> MetricResult | None: ...


@dataclass(frozen=True)
class ExportSettings:
    """What an export of this task is built with, besides the network (DESIGN §7b).

    Attributes:
        score_threshold: the lowest score a detection keeps in the graph (tasks with scores).
        chosen_threshold: the threshold a person chose (``ThresholdSet``), written to the
            metadata only, never baked into the graph.
    """

    score_threshold: float = 0.05
    chosen_threshold: float | None = None


Transform = Callable[["torch.Tensor", Any], tuple["torch.Tensor", Any]]
"""A training-time transform of an image (``uint8`` 3 x S x S) and its target, together."""


@dataclass(frozen=True)
class EvaluationContext:
    """What an evaluation pass knows besides outputs and targets.

    Attributes:
        subsets: each image's subset (``train``, ``val``, ``test``), in the order of the pass.
        threshold: the confidence threshold a person chose (``ThresholdSet``), if any.
        image_size: the side of the square input the model was fed (outputs in its pixels).
        calibration: the outputs and entries of the split's validation images when they are
            not among those evaluated (tasks with a threshold choose it there, never on the
            images they score); None otherwise.
        files: where the content store's files are (masks the annotations name).
    """

    subsets: Sequence[str] = ()
    threshold: float | None = None
    image_size: int = 0
    calibration: tuple[Any, Sequence[ImageEntry]] | None = None
    files: FileResolver | None = None


class Task(ABC):
    """The contract of a task module. Subclasses set the class attributes and the methods.

    The pipeline (training, evaluation, export) and the commands call only these; none of them
    asks which task it runs. Torch-free methods run in the web process too; the torch side runs
    in job processes (modules import torch inside the methods).
    """

    name: str
    title: str
    label_kind: LabelKind
    """The annotation kind the task learns from (DESIGN §3b): ``label``, ``value``, ``boxes``…"""
    target_noun: str = "label"
    """What an image needs to be used, in messages: "a label", "a value", "boxes"…"""
    models: Sequence[ModelSpec]
    default_model: str
    primary_metric: str
    metric_mode: MetricMode
    metric_names: Sequence[str] = ()
    """Every metric :meth:`metrics` reports, in display order (the primary one included)."""
    options_model: type[TaskOptions] = TaskOptions
    default_augmentations: dict[str, Any] = {}
    default_config: dict[str, Any] = {}
    """Training settings whose default differs for this task (``image_size``, ``epochs``…)."""
    uses_threshold: bool = False
    """Whether predictions carry a confidence a person chooses a threshold on (``ThresholdSet``)."""

    @property
    def annotation_kind(self) -> str:
        """The kind of annotation (DESIGN §3b) this task learns from."""
        return self.label_kind

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

    def model_cost(self, model: str) -> ModelCost | None:
        """The measured cost of training ``model`` (:mod:`aistudio.tasks.costs`); None for a
        model without figures."""
        from aistudio.tasks.costs import MODEL_COSTS

        self.model_spec(model)
        return MODEL_COSTS.get(model)

    def parameter_count(self, model: str, info: TargetInfo) -> int | None:
        """The parameters of ``model`` with this task's head for ``info`` (exactly what the
        built network counts); None for a model without figures."""
        cost = self.model_cost(model)
        return None if cost is None else cost.parameters(self.head_outputs(info))

    def training_cost(
        self,
        model: str,
        image_size: int,
        batch_size: int,
        train_images: int,
        val_images: int,
        info: TargetInfo,
    ) -> TrainingCost | None:
        """Memory of a training step and time of an epoch of ``model`` (torch-free), from the
        measured table: steps of ``batch_size`` images of ``image_size`` px over
        ``train_images``, then ``val_images`` validated. None for a model without figures.

        A task whose cost does not follow its model's table (say, targets that cost memory of
        their own) overrides this.
        """
        cost = self.model_cost(model)
        if cost is None:
            return None
        batch = max(1, min(batch_size, max(train_images, 1)))
        steps = max(1, -(-train_images // batch))
        total_mb = cost.step_memory_mb(image_size, batch)
        batch_mb = total_mb - cost.fixed_mb
        epoch_s = steps * cost.step_seconds(image_size, batch) + cost.eval_seconds(
            image_size, val_images
        )
        return TrainingCost(
            memory_bytes=int(total_mb * 1e6),
            batch_bytes=int(batch_mb * 1e6),
            epoch_s=epoch_s,
            parameters=cost.parameters(self.head_outputs(info)),
        )

    @abstractmethod
    def accepts(self, entry: ImageEntry) -> bool:
        """Whether the image carries what this task learns from (a label, a value, boxes…)."""

    @abstractmethod
    def annotation_of(self, entry: ImageEntry) -> Any:
        """The image's annotation as this task reads it (a label, a value, a mapping): what
        evaluation rows show as the truth and compares to tell a changed annotation."""

    @abstractmethod
    def fit_state(self, entries: Sequence[ImageEntry]) -> TargetInfo:
        """What the task learns from the train subset's annotations before training (classes;
        mean and std of values).

        Raises:
            TaskInputError: the annotations cannot be trained on (the message says why).
        """

    def head_outputs(self, info: TargetInfo) -> int:
        """How many outputs the network's head has for these targets (one per class here;
        a task that predicts something else says so)."""
        return len(info.classes)

    def class_counts(
        self, entries: Sequence[ImageEntry], info: TargetInfo, targets: Any = None
    ) -> list[int]:
        """How many times each class of ``info.classes`` occurs in ``entries`` (class weights).

        ``targets`` are the entries' targets as :meth:`stack_targets` built them, when the
        caller has them (a task counting the pixels of its masks counts them there, rather than
        reading every mask again); a task that counts annotations ignores them.
        """
        counts = dict.fromkeys(info.classes, 0)
        for entry in entries:
            if entry.label in counts:
                counts[entry.label] += 1
        return [counts[c] for c in info.classes]

    def strata(self, view: DatasetView, image_ids: list[str]) -> list[str] | None:
        """The group a split keeps in proportion for each image (None: the splitter's own,
        each image's label or its value's quantile bin)."""
        return None

    # ------------------------------------------------------------------ torch side
    @abstractmethod
    def build_model(
        self, model: str, info: TargetInfo, pretrained_weights: bool, image_size: int = 0
    ) -> tuple[nn.Module, str]:
        """The network for ``model`` with this task's head, and a sentence on the weights used.

        ``image_size`` is the side of the square input (models that need it set their sizes).
        """

    @abstractmethod
    def sample_target(
        self,
        entry: ImageEntry,
        info: TargetInfo,
        image_size: int,
        files: FileResolver | None = None,
    ) -> Any:
        """The training target of one image whose pixels are resized to ``image_size`` squares.

        ``files`` finds the content store's files an annotation names (instance masks); a
        task whose annotations name none ignores it.

        Raises:
            KeyError, ValueError: the target cannot be built (the image is left out).
        """

    def stack_targets(self, targets: list[Any]) -> Any:
        """The targets of a subset (or a batch), as the loss and the evaluator take them."""
        return targets

    @abstractmethod
    def train_transform(self, augment: Any, image_size: int) -> Transform | None:
        """The training-time augmentation of image and target together (None: none).

        ``augment`` is an :class:`events.schemas.training.Augmentations`.
        """

    def collate(self, batch: list[tuple[torch.Tensor, Any]]) -> tuple[torch.Tensor, Any]:
        """A batch of ``(image, target)`` samples: the images stacked, the targets by
        :meth:`stack_targets`."""
        import torch

        images = torch.stack([image for image, _ in batch])
        return images, self.stack_targets([target for _, target in batch])

    def move_targets(self, targets: Any, device: torch.device) -> Any:
        """The targets of a batch on ``device``."""
        import torch

        if isinstance(targets, torch.Tensor):
            return targets.to(device)
        if isinstance(targets, list):
            return [self.move_targets(t, device) for t in targets]
        if isinstance(targets, dict):
            return {k: self.move_targets(v, device) for k, v in targets.items()}
        return targets

    @abstractmethod
    def loss_fn(
        self, options: TaskOptions, info: TargetInfo, class_counts: Sequence[int]
    ) -> nn.Module | None:
        """The loss to minimise (None when the model computes its own losses)."""

    @abstractmethod
    def training_losses(
        self, model: nn.Module, criterion: nn.Module | None, inputs: torch.Tensor, targets: Any
    ) -> dict[str, torch.Tensor]:
        """The losses of one training batch, by name (the pipeline minimises their sum)."""

    @abstractmethod
    def validation_batch(
        self,
        model: nn.Module,
        criterion: nn.Module | None,
        inputs: torch.Tensor,
        targets: Any,
        options: TaskOptions,
    ) -> tuple[dict[str, torch.Tensor] | None, Any]:
        """The losses (None when the model cannot give them in eval mode) and the outputs of
        one validation batch, the model in eval mode; the outputs go to the evaluator."""

    @abstractmethod
    def evaluator(self, info: TargetInfo, options: TaskOptions) -> BatchEvaluator:
        """A fresh evaluator of the validation pass (see :class:`BatchEvaluator`)."""

    @abstractmethod
    def infer(self, model: nn.Module, inputs: torch.Tensor, options: TaskOptions) -> Any:
        """The outputs of one batch for evaluation (the model in eval mode), on the CPU."""

    @abstractmethod
    def join_outputs(self, outputs: list[Any]) -> Any:
        """The outputs of a whole pass from those of its batches, in order."""

    @abstractmethod
    def evaluate_pass(
        self,
        outputs: Any,
        targets: Any,
        info: TargetInfo,
        entries: Sequence[ImageEntry],
        context: EvaluationContext,
    ) -> EvaluationOutput:
        """Figures, per-image rows and plot data of an evaluation pass over ``entries``.

        ``outputs`` come from :meth:`join_outputs`, ``targets`` from :meth:`stack_targets`, in
        the order of ``entries``. Every value of the output is plain JSON.
        """

    @abstractmethod
    def export_adapter(
        self, info: TargetInfo, options: TaskOptions, settings: ExportSettings
    ) -> Any:
        """How to export this task's network: an :class:`aistudio.export.adapters.ExportAdapter`
        (named outputs, dynamic axes, validation by output, metadata)."""

    @abstractmethod
    def export_metadata(self, info: TargetInfo) -> dict[str, Any]:
        """The task's part of an exported model's metadata: how to read the outputs (class
        names, or the scaling that turns the output into a value). JSON-able values."""
