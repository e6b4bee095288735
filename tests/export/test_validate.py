"""Comparing an export's outputs with PyTorch's: the figures, batch sizes and refusals."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from aistudio.export.validate import (
    NormalisedImages,
    Validation,
    ValidationError,
    compare,
    model_inputs,
)
from aistudio.tasks.base import TargetInfo
from aistudio.tasks.registry import get_task

CLASSES = TargetInfo(classes=["a", "b", "c"])
VALUES = TargetInfo(mean=10.0, std=2.0)


def _inputs(n: int) -> np.ndarray:
    return np.random.default_rng(0).normal(size=(n, 3, 4, 4)).astype(np.float32)


def _reference(inputs: np.ndarray, outputs: int = 3) -> np.ndarray:
    """A stand-in for PyTorch: a fixed linear map of the mean of each channel."""
    weights = np.arange(3 * outputs, dtype=np.float32).reshape(3, outputs) - 4.0
    return inputs.mean(axis=(2, 3)) @ weights


class Recorder:
    """A runner computing the reference plus ``offset``, recording the batch sizes it ran."""

    def __init__(self, outputs: int = 3, offset: float = 0.0) -> None:
        self.outputs = outputs
        self.offset = offset
        self.sizes: list[int] = []

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        self.sizes.append(len(batch))
        return _reference(batch, self.outputs) + self.offset


def test_identical_outputs_pass_with_batch_one_and_n() -> None:
    inputs = _inputs(12)
    runner = Recorder()
    result = compare(
        _reference(inputs), runner, inputs, get_task("classification"), CLASSES, 1e-3, chunk=5
    )
    assert runner.sizes == [1, 5, 5, 2]
    assert result == Validation(12, 0.0, 1.0, 1e-3, (1, 2, 5))
    assert result.passed
    assert result.event_data() == {
        "images": 12,
        "max_abs_diff": 0.0,
        "agreement": 1.0,
        "tolerance": 1e-3,
        "passed": True,
    }


def test_one_image_also_runs_a_batch_of_two() -> None:
    inputs = _inputs(1)
    runner = Recorder()
    result = compare(_reference(inputs), runner, inputs, get_task("classification"), CLASSES, 1e-3)
    assert runner.sizes == [1, 2]
    assert result.passed and result.batch_sizes == (1, 2)


def test_outputs_beyond_tolerance_fail_with_the_figures() -> None:
    inputs = _inputs(6)
    result = compare(
        _reference(inputs),
        Recorder(offset=0.01),
        inputs,
        get_task("classification"),
        CLASSES,
        1e-3,
    )
    assert result.max_abs_diff == pytest.approx(0.01, rel=1e-3)
    assert result.agreement == 1.0  # the same shift of every logit keeps every class
    assert not result.passed
    line = result.describe()
    assert line.startswith("validation failed: max_abs_diff 0.01 > tolerance 0.001")
    assert "agreement 1 on 6 images" in line and "\n" not in line


def test_regression_agreement_counts_values_within_tolerance_standard_deviations() -> None:
    inputs = _inputs(4)
    reference = _reference(inputs, outputs=1)
    task = get_task("regression")
    close = compare(reference, Recorder(1, offset=0.0005), inputs, task, VALUES, 1e-3)
    assert close.agreement == 1.0 and close.passed
    far = compare(reference, Recorder(1, offset=0.01), inputs, task, VALUES, 1e-3)
    assert far.agreement == 0.0 and not far.passed


def test_different_predictions_lower_the_agreement() -> None:
    inputs = _inputs(4)
    reference = np.eye(3, dtype=np.float32)[[0, 1, 2, 0]]

    def swapped(batch: np.ndarray) -> np.ndarray:
        rows = {1: reference[:1], 4: reference}[len(batch)].copy()
        if len(batch) == 4:
            rows[3] = [0.0, 1.0, 0.0]
        return rows

    result = compare(reference, swapped, inputs, get_task("classification"), CLASSES, 10.0)
    assert result.agreement == 0.75
    assert result.max_abs_diff <= result.tolerance and not result.passed


def test_wrong_shapes_no_images_and_non_finite_outputs_are_refused() -> None:
    task = get_task("classification")
    inputs = _inputs(3)
    reference = _reference(inputs)
    with pytest.raises(ValidationError, match="shape"):
        compare(reference, Recorder(outputs=2), inputs, task, CLASSES, 1e-3)
    with pytest.raises(ValidationError, match="no images"):
        compare(reference[:0], Recorder(), inputs[:0], task, CLASSES, 1e-3)
    with pytest.raises(ValidationError, match="not finite"):
        compare(reference, Recorder(offset=float("nan")), inputs, task, CLASSES, 1e-3)


def test_normalised_images_convert_only_the_rows_asked_for() -> None:
    images = torch.randint(0, 256, (6, 3, 4, 4), dtype=torch.uint8)
    lazy = NormalisedImages(images)
    assert len(lazy) == 6
    rows = np.array([4, 1])
    np.testing.assert_array_equal(lazy[rows], model_inputs(images)[rows])
    inputs = model_inputs(images)
    reference = _reference(inputs)
    result = compare(reference, Recorder(), lazy, get_task("classification"), CLASSES, 1e-3)
    assert result.passed and result.images == 6
