"""Image regression: one value per image (imported from a CSV), a backbone with one output.

Targets are normalised with the mean and standard deviation of the train subset's values, so the
network learns values of order 1 whatever their unit; the loss (MSE, L1 or Huber) works on
normalised values, and the metrics (MAE, the primary one, lower is better; RMSE; R²) on values in
the data's own unit.

Default augmentations are conservative: only a horizontal flip, which keeps the value of most
image-level targets (a count, an age, a brightness, a size). Rotation and random resized crops
add borders or cut content, colour jitter changes brightness and colour, and a vertical flip
changes an orientation that can matter: each of these can change the value to predict, so they
are off unless the user turns them on for data where they are safe.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

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

RegressionLoss = Literal["mse", "l1", "huber"]


class RegressionOptions(TaskOptions):
    """Settings of the regression loss."""

    loss: RegressionLoss = "mse"
    """``mse`` (squared error), ``l1`` (absolute error) or ``huber`` (squared, then linear)."""
    huber_delta: float = Field(default=1.0, gt=0.0, le=100.0)
    """Where the Huber loss turns linear, in standard deviations of the train values."""


class RegressionTask(BackboneTask):
    """One value per image."""

    name = "regression"
    title = "Regression"
    target_noun = "a value"
    label_kind = "value"
    primary_metric = "mae"
    metric_mode = "min"
    metric_names = ("mae", "rmse", "r2")
    options_model = RegressionOptions
    default_augmentations: dict[str, Any] = {
        "random_resized_crop": False,
        "horizontal_flip": True,
        "vertical_flip": False,
        "rotation_degrees": 0.0,
        "color_jitter": 0.0,
    }

    # ------------------------------------------------------------------ torch-free
    def target_info(
        self, labels: Sequence[str | None], values: Sequence[float | None]
    ) -> TargetInfo:
        """Mean and (population) standard deviation of the train subset's values.

        Raises:
            TaskInputError: fewer than two values, a value that is not finite, or all equal.
        """
        known = [float(v) for v in values if v is not None]
        if len(known) < 2:
            raise TaskInputError(
                "regression needs at least two images with a value in the train subset; "
                f"found {len(known)}"
            )
        if not all(math.isfinite(v) for v in known):
            raise TaskInputError("the train subset has values that are not finite numbers")
        mean = math.fsum(known) / len(known)
        std = math.sqrt(math.fsum((v - mean) ** 2 for v in known) / len(known))
        if std == 0.0 or std < 1e-12 * max(1.0, abs(mean)):
            raise TaskInputError(
                f"all {len(known)} values of the train subset are equal ({known[0]:g}): "
                "there is nothing to learn"
            )
        return TargetInfo(mean=mean, std=std)

    def head_outputs(self, info: TargetInfo) -> int:
        """A single output: the normalised value."""
        return 1

    # ------------------------------------------------------------------ torch side
    def target(self, label: str | None, value: float | None, info: TargetInfo) -> torch.Tensor:
        """``(value - mean) / std`` as a float32 tensor of shape ``(1,)`` (like one output).

        Raises:
            TaskInputError: the image has no value, or one that is not finite.
        """
        import torch

        if value is None or not math.isfinite(value):
            raise TaskInputError(f"an image without a finite value cannot be a target ({value})")
        return torch.tensor([(value - info.mean) / info.std], dtype=torch.float32)

    def loss_fn(
        self, options: TaskOptions, info: TargetInfo, class_counts: Sequence[int]
    ) -> nn.Module:
        """The options' loss on normalised values (``class_counts`` is not used)."""
        from torch import nn

        opts = self._options(options)
        if opts.loss == "l1":
            return nn.L1Loss()
        if opts.loss == "huber":
            return nn.HuberLoss(delta=opts.huber_delta)
        return nn.MSELoss()

    def metrics(
        self, outputs: torch.Tensor, targets: torch.Tensor, info: TargetInfo
    ) -> MetricResult:
        """MAE, RMSE and R² of de-normalised outputs vs targets (both ``(N, 1)`` or ``(N,)``).

        R² follows scikit-learn: 1 - SS_res / SS_tot; with constant targets, 1.0 for a perfect
        prediction and 0.0 otherwise.

        Raises:
            ValueError: no samples, or shapes that do not match.
        """
        import torch

        predicted = outputs.detach().cpu().double().reshape(-1)
        truth = targets.detach().cpu().double().reshape(-1)
        if predicted.numel() != outputs.shape[0] or truth.numel() != predicted.numel():
            raise ValueError(
                f"expected one output and one target per image, got {tuple(outputs.shape)} and "
                f"{tuple(targets.shape)}"
            )
        if truth.numel() == 0:
            raise ValueError("no images to compute metrics on")
        predicted = predicted * info.std + info.mean
        truth = truth * info.std + info.mean
        error = predicted - truth
        ss_res = float((error**2).sum())
        ss_tot = float(((truth - truth.mean()) ** 2).sum())
        r2 = 1.0 - ss_res / ss_tot if ss_tot > 0 else float(ss_res == 0)
        values = {
            "mae": float(error.abs().mean()),
            "rmse": float(torch.sqrt((error**2).mean())),
            "r2": r2,
        }
        return MetricResult(values=values, primary=self.primary_metric)

    def evaluate(
        self,
        outputs: torch.Tensor,
        targets: torch.Tensor,
        info: TargetInfo,
        annotations: Sequence[str | float | None] | None = None,
    ) -> EvaluationOutput:
        """Figures of outputs against targets (both normalised, ``(N, 1)`` or ``(N,)``).

        Both are de-normalised first (``x * std + mean``, as :meth:`metrics` does), so every
        figure and row is in the data's unit; with ``annotations`` (the images' own values),
        those are the true values, exactly. Metrics: ``mae`` (first), ``rmse``, ``r2``,
        ``median_absolute_error``, ``max_error``; see
        :mod:`aistudio.evaluation.regression_figures` for the rows and the report.

        Raises:
            ValueError: no image, not one output and one target per image, or values that are
                not finite.
        """
        import numpy as np

        from aistudio.evaluation.regression_figures import regression_figures

        predicted = outputs.detach().cpu().double().reshape(-1)
        truth = targets.detach().cpu().double().reshape(-1)
        if predicted.numel() != outputs.shape[0] or truth.numel() != predicted.numel():
            raise ValueError(
                f"expected one output and one target per image, got {tuple(outputs.shape)} and "
                f"{tuple(targets.shape)}"
            )
        if annotations is not None:
            if len(annotations) != truth.numel() or any(v is None for v in annotations):
                raise ValueError(f"expected {truth.numel()} values, got {list(annotations)[:5]}…")
            true_values = np.asarray(annotations, dtype=np.float64)
        else:
            true_values = (truth * info.std + info.mean).numpy()
        figures = regression_figures((predicted * info.std + info.mean).numpy(), true_values)
        figures.report = {"task": self.name, **figures.report}
        return figures

    # ------------------------------------------------------------------ export (numpy)
    def decode_outputs(self, outputs: np.ndarray, info: TargetInfo) -> np.ndarray:
        """The value of each output, in the data's unit (``output * std + mean``)."""
        import numpy as np

        return np.asarray(outputs, dtype=np.float64).reshape(len(outputs)) * info.std + info.mean

    def agreement(self, a: np.ndarray, b: np.ndarray, info: TargetInfo, tolerance: float) -> float:
        """Share of images whose values differ by at most ``tolerance`` standard deviations."""
        import numpy as np

        if len(a) == 0:
            return 1.0
        diff = np.abs(np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64))
        return float(np.mean(diff <= tolerance * info.std))

    def export_metadata(self, info: TargetInfo) -> dict[str, Any]:
        """The scaling that turns the single output into a value in the data's unit."""
        return {
            "target_scaling": {"mean": info.mean, "std": info.std},
            "output": "one normalised value per image: value = output * std + mean",
        }

    def _options(self, options: TaskOptions) -> RegressionOptions:
        if isinstance(options, RegressionOptions):
            return options
        return RegressionOptions.model_validate(options.model_dump())


TASK = RegressionTask()
