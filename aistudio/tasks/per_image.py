"""Tasks with one target per image (a label, a value): the generic contract on stacked tensors.

Classification and regression predict one thing per image from the whole image, so their
targets and outputs stack into one tensor per batch, a pass's outputs into one tensor, and an
export has one output. :class:`PerImageTask` implements :class:`~aistudio.tasks.base.Task` in
those terms; a subclass gives only the per-image pieces: the target of a label or value, the
loss module, the metrics of stacked outputs and the figures of an evaluation pass.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from aistudio.tasks.base import (
    EvaluationContext,
    EvaluationOutput,
    ExportSettings,
    FileResolver,
    MetricResult,
    TargetInfo,
    Task,
    TaskOptions,
    Transform,
)

if TYPE_CHECKING:  # importing this module stays torch-free
    import numpy as np
    import torch
    from torch import nn

    from projections.dataset import ImageEntry


class PerImageTask(Task):
    """A task whose target and prediction are one tensor per image (class index, value)."""

    # ------------------------------------------------------------------ torch-free
    def accepts(self, entry: ImageEntry) -> bool:
        """Whether the image has a label (``label_kind`` ``label``) or a value."""
        return self.annotation_of(entry) is not None

    def annotation_of(self, entry: ImageEntry) -> str | float | None:
        """The image's label or value."""
        return entry.label if self.label_kind == "label" else entry.value

    def fit_state(self, entries: Sequence[ImageEntry]) -> TargetInfo:
        """:meth:`target_info` of the entries' labels and values."""
        return self.target_info([e.label for e in entries], [e.value for e in entries])

    @abstractmethod
    def target_info(
        self, labels: Sequence[str | None], values: Sequence[float | None]
    ) -> TargetInfo:
        """What the targets of the train subset look like (classes; mean and std of values)."""

    # ------------------------------------------------------------------ torch side
    def sample_target(
        self,
        entry: ImageEntry,
        info: TargetInfo,
        image_size: int,
        files: FileResolver | None = None,
    ) -> torch.Tensor:
        """:meth:`target` of the image's label or value (the image size does not matter)."""
        return self.target(entry.label, entry.value, info)

    @abstractmethod
    def target(self, label: str | None, value: float | None, info: TargetInfo) -> torch.Tensor:
        """The training target of one image."""

    def stack_targets(self, targets: list[Any]) -> torch.Tensor:
        """One tensor (``(0,)`` for none)."""
        import torch

        return torch.stack(targets) if targets else torch.empty(0)

    def train_transform(self, augment: Any, image_size: int) -> Transform | None:
        """The image-only augmentation of ``augment`` (the target does not move)."""
        from aistudio.training.data import ImageOnly, build_augmentation

        transform = build_augmentation(augment, image_size)
        return None if transform is None else ImageOnly(transform)

    def training_losses(
        self, model: nn.Module, criterion: nn.Module | None, inputs: torch.Tensor, targets: Any
    ) -> dict[str, torch.Tensor]:
        """``{"loss": criterion(model(inputs), targets)}``."""
        if criterion is None:
            raise ValueError(f"{self.name} needs a loss module")
        return {"loss": criterion(model(inputs), targets)}

    def validation_batch(
        self,
        model: nn.Module,
        criterion: nn.Module | None,
        inputs: torch.Tensor,
        targets: Any,
        options: TaskOptions,
    ) -> tuple[dict[str, torch.Tensor] | None, torch.Tensor]:
        """The loss and the float32 outputs."""
        outputs = model(inputs)
        losses = None if criterion is None else {"loss": criterion(outputs, targets)}
        return losses, outputs.detach().float()

    def evaluator(self, info: TargetInfo, options: TaskOptions) -> StackingEvaluator:
        """An evaluator stacking the pass's outputs and targets for :meth:`metrics`."""
        return StackingEvaluator(self, info)

    @abstractmethod
    def metrics(
        self, outputs: torch.Tensor, targets: torch.Tensor, info: TargetInfo
    ) -> MetricResult:
        """Metrics of a whole pass, from the stacked outputs and targets."""

    def infer(self, model: nn.Module, inputs: torch.Tensor, options: TaskOptions) -> torch.Tensor:
        """The float32 outputs, on the CPU."""
        return model(inputs).float().cpu()

    def join_outputs(self, outputs: list[Any]) -> torch.Tensor:
        """The batches' outputs concatenated (``(0,)`` for none)."""
        import torch

        return torch.cat(outputs) if outputs else torch.empty(0)

    def evaluate_pass(
        self,
        outputs: Any,
        targets: Any,
        info: TargetInfo,
        entries: Sequence[ImageEntry],
        context: EvaluationContext,
    ) -> EvaluationOutput:
        """:meth:`evaluate` with the entries' own labels or values as the annotations."""
        return self.evaluate(outputs, targets, info, [self.annotation_of(e) for e in entries])

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

    def export_adapter(
        self, info: TargetInfo, options: TaskOptions, settings: ExportSettings
    ) -> Any:
        """One output ``output`` (N x outputs) with a dynamic batch axis."""
        from aistudio.export.adapters import StackedAdapter

        return StackedAdapter(self, info)

    # ------------------------------------------------------------------ export (numpy)
    @abstractmethod
    def decode_outputs(self, outputs: np.ndarray, info: TargetInfo) -> np.ndarray:
        """The predictions of raw model outputs ``(N, …)``: one per image (a class index, a
        value in the data's unit, …). Used to compare an export with PyTorch."""

    @abstractmethod
    def agreement(self, a: np.ndarray, b: np.ndarray, info: TargetInfo, tolerance: float) -> float:
        """Share of images whose predictions ``a`` and ``b`` (from :meth:`decode_outputs`) are
        the same (equal classes; values within ``tolerance`` standard deviations)."""


class StackingEvaluator:
    """Keeps a pass's outputs and targets, batch by batch, for :meth:`PerImageTask.metrics`."""

    def __init__(self, task: PerImageTask, info: TargetInfo) -> None:
        self.task = task
        self.info = info
        self.outputs: list[torch.Tensor] = []
        self.targets: list[torch.Tensor] = []
        self._joined: tuple[torch.Tensor, torch.Tensor] | None = None

    def update(self, outputs: Any, targets: Any) -> None:
        """Keep one batch."""
        self.outputs.append(outputs.detach().float())
        self.targets.append(targets.detach())

    def gather(self, module: Any) -> None:
        """Stack the outputs and targets of every process (``module.all_gather``)."""
        import torch

        if not self.outputs:
            return
        outputs, targets = torch.cat(self.outputs), torch.cat(self.targets)
        self._joined = (
            module.all_gather(outputs).flatten(0, 1),
            module.all_gather(targets).flatten(0, 1),
        )

    def compute(self) -> MetricResult | None:
        """The task's metrics of the whole pass (None when it saw nothing)."""
        import torch

        if not self.outputs:
            return None
        if self._joined is not None:
            outputs, targets = self._joined
        else:
            outputs, targets = torch.cat(self.outputs), torch.cat(self.targets)
        return self.task.metrics(outputs.cpu(), targets.cpu(), self.info)
