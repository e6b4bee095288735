"""The figures of a regression evaluation, every one computed by scikit-learn.

Values are in the data's own unit (the task de-normalises outputs and targets first). ``r2``
follows scikit-learn (1.0 for a perfect prediction of constant targets, 0.0 otherwise) and is
left out with fewer than two images, where it is undefined. The residual of an image is
``prediction - target``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.metrics import (
    max_error,
    mean_absolute_error,
    median_absolute_error,
    r2_score,
    root_mean_squared_error,
)

from aistudio.evaluation.plain import finite_metrics, float_list
from aistudio.tasks.base import EvaluationOutput

HISTOGRAM_BINS = 30
"""Bins of the residual histogram."""


def regression_figures(predicted: np.ndarray, truth: np.ndarray) -> EvaluationOutput:
    """Metrics, per-image rows and report of predicted values against true values.

    Args:
        predicted: one predicted value per image, in the data's unit.
        truth: one true value per image, in the same order and unit.

    Returns:
        Metrics ``mae`` (first: the primary one), ``rmse``, ``r2``, ``median_absolute_error``
        and ``max_error``; rows with ``target``, ``prediction``, ``error`` (prediction - target)
        and ``abs_error``; a report with ``metrics``, ``residual_histogram`` (``edges``, one
        more than ``counts``) and ``target_range`` (``[min, max]``).

    Raises:
        ValueError: no image, a value that is not finite, or lengths that do not match.
    """
    predicted = np.asarray(predicted, dtype=np.float64).reshape(-1)
    truth = np.asarray(truth, dtype=np.float64).reshape(-1)
    if len(predicted) != len(truth):
        raise ValueError(f"{len(predicted)} predictions for {len(truth)} targets")
    if len(truth) == 0:
        raise ValueError("no images to evaluate")
    if not (np.isfinite(predicted).all() and np.isfinite(truth).all()):
        raise ValueError("predictions and targets must be finite numbers")
    error = predicted - truth
    values: dict[str, Any] = {
        "mae": mean_absolute_error(truth, predicted),
        "rmse": root_mean_squared_error(truth, predicted),
        "median_absolute_error": median_absolute_error(truth, predicted),
        "max_error": max_error(truth, predicted),
    }
    if len(truth) >= 2:
        values["r2"] = r2_score(truth, predicted)
    order = ("mae", "rmse", "r2", "median_absolute_error", "max_error")
    metrics = finite_metrics({name: values[name] for name in order if name in values})
    rows = [
        {"target": t, "prediction": p, "error": e, "abs_error": abs(e)}
        for t, p, e in zip(truth.tolist(), predicted.tolist(), error.tolist(), strict=True)
    ]
    counts, edges = np.histogram(error, bins=HISTOGRAM_BINS)
    report: dict[str, Any] = {
        "metrics": metrics,
        "residual_histogram": {"edges": float_list(edges), "counts": counts.tolist()},
        "target_range": [float(truth.min()), float(truth.max())],
    }
    return EvaluationOutput(metrics=metrics, rows=rows, report=report)
