"""Image classification: one label per image, a backbone with a head of one output per class.

Loss: cross-entropy, with optional label smoothing and optional class weights (inverse class
frequency in the train subset, for imbalanced data). Metrics: accuracy (the primary one, higher is
better) and macro-averaged precision, recall and F1 over the classes that occur in the targets or
the predictions of the pass (scikit-learn's definition, with 0 where a ratio is 0/0).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from pydantic import Field

from aistudio.tasks.base import (
    EvaluationOutput,
    MetricResult,
    TargetInfo,
    TaskInputError,
    TaskOptions,
)
from aistudio.tasks.models import BackboneTask

if TYPE_CHECKING:  # importing this module stays torch-free
    import numpy as np
    import torch
    from torch import nn


class ClassificationOptions(TaskOptions):
    """Settings of the classification loss."""

    label_smoothing: float = Field(default=0.0, ge=0.0, le=0.5)
    """Share of the target probability spread over the other classes (0: none)."""
    class_weights: bool = False
    """Weigh each class by its inverse frequency in the train subset (for imbalanced data)."""


class ClassificationTask(BackboneTask):
    """One label per image, chosen among the labels of the train subset."""

    name = "classification"
    title = "Classification"
    target_noun = "a label"
    label_kind = "label"
    primary_metric = "accuracy"
    metric_mode = "max"
    metric_names = ("accuracy", "precision_macro", "recall_macro", "f1_macro")
    options_model = ClassificationOptions
    default_augmentations: dict[str, Any] = {
        "random_resized_crop": False,
        "horizontal_flip": True,
        "vertical_flip": False,
        "rotation_degrees": 10.0,
        "color_jitter": 0.0,
    }

    # ------------------------------------------------------------------ torch-free
    def target_info(
        self, labels: Sequence[str | None], values: Sequence[float | None]
    ) -> TargetInfo:
        """The classes: the sorted labels present in the train subset (at least two).

        Raises:
            TaskInputError: fewer than two distinct labels.
        """
        classes = sorted({label for label in labels if label is not None})
        if len(classes) < 2:
            found = ", ".join(repr(c) for c in classes) or "none"
            raise TaskInputError(
                "classification needs at least two classes among the labelled images of the "
                f"train subset; found {len(classes)} ({found})"
            )
        return TargetInfo(classes=classes)

    def head_outputs(self, info: TargetInfo) -> int:
        """One output (logit) per class."""
        return len(info.classes)

    # ------------------------------------------------------------------ torch side
    def target(self, label: str | None, value: float | None, info: TargetInfo) -> torch.Tensor:
        """The index of ``label`` in ``info.classes`` as a 0-d int64 tensor.

        Raises:
            TaskInputError: the image has no label, or one the train subset does not have.
        """
        import torch

        if label is None:
            raise TaskInputError("an image without a label cannot be a classification target")
        try:
            index = info.classes.index(label)
        except ValueError:
            raise TaskInputError(
                f"label {label!r} is not one of the {len(info.classes)} classes of the train subset"
            ) from None
        return torch.tensor(index, dtype=torch.long)

    def loss_fn(
        self, options: TaskOptions, info: TargetInfo, class_counts: Sequence[int]
    ) -> nn.Module:
        """Cross-entropy with the options' label smoothing and class weights.

        Args:
            options: :class:`ClassificationOptions` (other options are validated into them).
            info: the classes.
            class_counts: images of each class of ``info.classes`` in the train subset (used
                only with ``class_weights``).

        Returns:
            ``nn.CrossEntropyLoss``; with class weights, class ``c`` weighs
            ``total / (n_classes * count_c)`` (scikit-learn's "balanced" weights).
        """
        import torch
        from torch import nn

        opts = self._options(options)
        weight = None
        if opts.class_weights:
            weight = torch.tensor(
                inverse_frequency_weights(class_counts, len(info.classes)), dtype=torch.float32
            )
        return nn.CrossEntropyLoss(weight=weight, label_smoothing=opts.label_smoothing)

    def metrics(
        self, outputs: torch.Tensor, targets: torch.Tensor, info: TargetInfo
    ) -> MetricResult:
        """Accuracy and macro precision, recall and F1 of logits ``(N, C)`` vs indices ``(N,)``.

        Raises:
            ValueError: no samples, or shapes that do not match.
        """
        import torch

        if outputs.ndim != 2 or targets.ndim != 1 or outputs.shape[0] != targets.shape[0]:
            raise ValueError(
                f"expected logits (N, C) and targets (N,), got {tuple(outputs.shape)} and "
                f"{tuple(targets.shape)}"
            )
        if targets.numel() == 0:
            raise ValueError("no images to compute metrics on")
        n_classes = outputs.shape[1]
        predicted = outputs.detach().argmax(dim=1).cpu().long()
        truth = targets.detach().cpu().long()
        if int(truth.min()) < 0 or int(truth.max()) >= n_classes:
            raise ValueError(f"targets must be class indices in [0, {n_classes})")
        confusion = torch.bincount(truth * n_classes + predicted, minlength=n_classes**2)
        confusion = confusion.reshape(n_classes, n_classes).double()
        true_positive = confusion.diagonal()
        support = confusion.sum(dim=1)  # row: true class
        predicted_count = confusion.sum(dim=0)  # column: predicted class
        present = (support + predicted_count) > 0
        precision = _safe_ratio(true_positive, predicted_count)
        recall = _safe_ratio(true_positive, support)
        f1 = _safe_ratio(2 * precision * recall, precision + recall)
        values = {
            "accuracy": float(true_positive.sum() / truth.numel()),
            "precision_macro": float(precision[present].mean()),
            "recall_macro": float(recall[present].mean()),
            "f1_macro": float(f1[present].mean()),
        }
        return MetricResult(values=values, primary=self.primary_metric)

    def evaluate(
        self,
        outputs: torch.Tensor,
        targets: torch.Tensor,
        info: TargetInfo,
        annotations: Sequence[str | float | None] | None = None,
    ) -> EvaluationOutput:
        """Figures of logits ``(N, C)`` against class indices ``(N,)``, by scikit-learn.

        ``annotations`` are not needed: a class index names its label exactly.

        Metrics: ``accuracy`` (first), ``precision_macro``, ``recall_macro``, ``f1_macro``, the
        same three ``*_weighted``, ``average_precision_macro`` and, with more than 5 classes,
        ``top3_accuracy`` and ``top5_accuracy``. See
        :mod:`aistudio.evaluation.classification_figures` for the rows, the report and the
        conventions (which classes the averages run over, the threshold sweep).

        Raises:
            ValueError: no image, shapes that do not match the classes, or targets outside them.
        """
        from aistudio.evaluation.classification_figures import classification_figures

        logits = outputs.detach().cpu().double().numpy()
        truth = targets.detach().cpu().long().numpy()
        figures = classification_figures(logits, truth, info.classes)
        figures.report = {"task": self.name, **figures.report}
        return figures

    # ------------------------------------------------------------------ export (numpy)
    def decode_outputs(self, outputs: np.ndarray, info: TargetInfo) -> np.ndarray:
        """The predicted class index of each row of logits ``(N, C)``."""
        import numpy as np

        return np.asarray(outputs).reshape(len(outputs), -1).argmax(axis=1)

    def agreement(self, a: np.ndarray, b: np.ndarray, info: TargetInfo, tolerance: float) -> float:
        """Share of images given the same class by both."""
        import numpy as np

        if len(a) == 0:
            return 1.0
        return float(np.mean(np.asarray(a) == np.asarray(b)))

    def export_metadata(self, info: TargetInfo) -> dict[str, Any]:
        """The class names, in output order, and how to read the logits."""
        return {
            "classes": list(info.classes),
            "output": "logits, one per class in the order of classes; softmax gives probabilities",
        }

    def _options(self, options: TaskOptions) -> ClassificationOptions:
        if isinstance(options, ClassificationOptions):
            return options
        return ClassificationOptions.model_validate(options.model_dump())


def inverse_frequency_weights(class_counts: Sequence[int], n_classes: int) -> list[float]:
    """Per-class loss weights ``total / (n_classes * count)`` (mean weight per image: 1).

    Raises:
        TaskInputError: the counts do not match the classes, or a class has no image.
    """
    counts = list(class_counts)
    if len(counts) != n_classes:
        raise TaskInputError(f"class weights need {n_classes} class counts, got {len(counts)}")
    if any(count <= 0 for count in counts):
        raise TaskInputError("class weights need at least one train image of every class")
    total = sum(counts)
    return [total / (n_classes * count) for count in counts]


def _safe_ratio(numerator: torch.Tensor, denominator: torch.Tensor) -> torch.Tensor:
    """numerator / denominator, 0 where the denominator is 0 (scikit-learn's zero_division=0)."""
    import torch

    return torch.where(
        denominator > 0, numerator / denominator.clamp(min=1e-300), torch.zeros_like(numerator)
    )


TASK = ClassificationTask()
