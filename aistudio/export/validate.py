"""Compare an exported model with PyTorch on the same real images.

PyTorch eager (the checkpoint's network in eval mode) gives the reference outputs. The export
runs the same inputs twice: the first image alone (batch 1), then every image in batches of up
to :data:`CHUNK` (batch N; with a single image, that image twice), which proves the batch axis
is really dynamic. The figures:

* ``max_abs_diff``: the largest absolute difference between a raw output of the export (any
  run) and PyTorch's;
* ``agreement``: the task's :meth:`~aistudio.tasks.base.Task.agreement` of the predictions
  decoded from both (batch-N run), i.e. the share of images given the same class, or values
  within ``tolerance`` standard deviations;
* ``passed``: ``max_abs_diff <= tolerance`` and ``agreement == 1``.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch
from torch import nn

from aistudio.tasks.base import TargetInfo, Task
from aistudio.training.data import to_model_input

logger = logging.getLogger(__name__)

CHUNK = 32
"""Most images per batch (the batch-N runs and the PyTorch reference)."""

Runner = Callable[[np.ndarray], np.ndarray]
"""Runs a float32 N x 3 x S x S batch through an export and returns its raw outputs (N, …)."""
NamedRunner = Callable[[np.ndarray], list[np.ndarray]]
"""Runs a float32 batch through an export with several outputs and returns them in order."""


class Inputs(Protocol):
    """The float32 N x 3 x S x S inputs, indexed by an array of rows (``np.ndarray`` fits)."""

    def __len__(self) -> int: ...

    def __getitem__(self, rows: np.ndarray, /) -> np.ndarray: ...


class ValidationError(ValueError):
    """The export cannot be compared: no images, outputs of another shape, or not finite."""


@dataclass(frozen=True)
class Validation:
    """What running the export and PyTorch on the same images showed.

    Attributes:
        images: how many images were compared.
        max_abs_diff: largest absolute difference of raw outputs.
        agreement: share of images with the same prediction.
        tolerance: the largest difference allowed.
        batch_sizes: the batch sizes the export ran (1 and N at least).
    """

    images: int
    max_abs_diff: float
    agreement: float
    tolerance: float
    batch_sizes: tuple[int, ...]

    @property
    def passed(self) -> bool:
        """Within tolerance and every prediction the same."""
        return self.max_abs_diff <= self.tolerance and self.agreement == 1.0

    def event_data(self) -> dict[str, object]:
        """The ``validation`` field of ``ExportCompleted``."""
        return {
            "images": self.images,
            "max_abs_diff": self.max_abs_diff,
            "agreement": self.agreement,
            "tolerance": self.tolerance,
            "passed": self.passed,
        }

    def describe(self) -> str:
        """One line with the figures, e.g. ``validation failed: max_abs_diff 0.0123 > tolerance
        0.001, agreement 1 on 32 images (batch sizes 1/32)``."""
        within = "<=" if self.max_abs_diff <= self.tolerance else ">"
        sizes = "/".join(str(b) for b in self.batch_sizes)
        return (
            f"validation {'passed' if self.passed else 'failed'}: max_abs_diff "
            f"{self.max_abs_diff:.3g} {within} tolerance {self.tolerance:g}, agreement "
            f"{self.agreement:.4g} on {self.images} images (batch sizes {sizes})"
        )


def reference_outputs(model: nn.Module, images: torch.Tensor, chunk: int = CHUNK) -> np.ndarray:
    """PyTorch eager outputs of ``model`` (eval mode) for ``uint8`` images, as float32 numpy."""
    model.eval()
    outputs: list[np.ndarray] = []
    with torch.inference_mode():
        for start in range(0, len(images), chunk):
            batch = to_model_input(images[start : start + chunk])
            outputs.append(model(batch).float().cpu().numpy())
    return np.concatenate(outputs) if outputs else np.empty((0,), dtype=np.float32)


def model_inputs(images: torch.Tensor) -> np.ndarray:
    """The float32 NCHW inputs of ``uint8`` images (what the export is fed)."""
    return to_model_input(images).cpu().numpy().astype(np.float32, copy=False)


class NormalisedImages:
    """:class:`Inputs` of ``uint8`` images, normalised batch by batch (a float32 copy of every
    image at once would take four times the memory of the images)."""

    def __init__(self, images: torch.Tensor) -> None:
        self.images = images

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, rows: np.ndarray, /) -> np.ndarray:
        return model_inputs(self.images[torch.from_numpy(np.asarray(rows, dtype=np.int64))])


def _batches(n: int, chunk: int) -> list[np.ndarray]:
    """Index arrays of the runs: the first image alone, then batches of up to ``chunk``."""
    runs = [np.array([0])]
    if n == 1:
        runs.append(np.array([0, 0]))
    else:
        runs += [np.arange(start, min(start + chunk, n)) for start in range(0, n, chunk)]
    return runs


def _checked(outputs: np.ndarray, expected: tuple[int, ...], what: str) -> np.ndarray:
    array = np.asarray(outputs)
    if array.shape != expected:
        raise ValidationError(f"{what} gave outputs of shape {array.shape}, expected {expected}")
    if not np.all(np.isfinite(array)):
        raise ValidationError(f"{what} gave outputs that are not finite numbers")
    return array.astype(np.float64)


def compare(
    reference: np.ndarray,
    run: Runner,
    inputs: Inputs,
    task: Task,
    info: TargetInfo,
    tolerance: float,
    chunk: int = CHUNK,
    on_batch: Callable[[int, int], None] | None = None,
) -> Validation:
    """Run ``inputs`` through an export and compare with PyTorch's ``reference`` outputs.

    Args:
        reference: PyTorch's outputs of ``inputs`` (N, …).
        run: the export's runner.
        inputs: the float32 N x 3 x S x S inputs (an array, or :class:`NormalisedImages`).
        task: the task (decodes outputs into predictions and compares them).
        info: the target information.
        tolerance: the largest absolute difference of raw outputs allowed.
        chunk: most images per batch-N run.
        on_batch: called with (runs done, runs) after each run (may raise to stop).

    Raises:
        ValidationError: no inputs, or outputs of another shape or not finite.
    """
    n = len(inputs)
    if n == 0:
        raise ValidationError("there are no images to validate the export on")
    ref = _checked(reference, reference.shape, "PyTorch")
    if ref.shape[0] != n:
        raise ValidationError(f"{ref.shape[0]} reference outputs for {n} images")
    runs = _batches(n, chunk)
    candidate = np.empty_like(ref)
    max_diff = 0.0
    for done, index in enumerate(runs, start=1):
        out = _checked(run(inputs[index]), (len(index), *ref.shape[1:]), "the export")
        max_diff = max(max_diff, float(np.max(np.abs(out - ref[index]))))
        if done > 1:  # the batch-N runs (the batch-1 run only adds to the difference)
            candidate[index] = out
        if on_batch is not None:
            on_batch(done, len(runs))
    agreement = task.agreement(
        task.decode_outputs(ref, info), task.decode_outputs(candidate, info), info, tolerance
    )
    if not math.isfinite(agreement):
        raise ValidationError(f"the task's agreement is not a number ({agreement})")
    sizes = tuple(sorted({len(index) for index in runs}))
    result = Validation(n, max_diff, float(agreement), float(tolerance), sizes)
    logger.info("%s", result.describe())
    return result
