"""The figures of a classification evaluation, every one computed by scikit-learn.

Scores are the softmax of the logits; the prediction is the class of the highest logit (as in
training and export). Conventions, for whoever reads the numbers:

* ``precision_macro``, ``recall_macro`` and ``f1_macro`` average over the classes present in the
  targets or the predictions (scikit-learn's default, and the training metrics' definition);
  the ``*_weighted`` figures weigh each class by its number of target images. A ratio 0/0 is 0
  (``zero_division=0``).
* ``average_precision_macro`` is the mean one-vs-rest average precision over the classes that
  have at least one target image (the average precision of a class without one is undefined:
  ``null`` in the report's per-class rows and no PR curve).
* ``top3_accuracy`` and ``top5_accuracy`` are given only when there are more than 5 classes.
* The threshold sweep keeps the images whose confidence (highest probability) is at least the
  threshold: ``coverage`` is their share of all images, ``accuracy`` their accuracy (``null``
  when none is kept).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    confusion_matrix,
    precision_recall_curve,
    precision_recall_fscore_support,
    top_k_accuracy_score,
)

from aistudio.evaluation.plain import decimate_indices, finite_metrics, finite_or_none, float_list
from aistudio.tasks.base import EvaluationOutput

TOP_K: tuple[int, ...] = (3, 5)
TOP_K_MIN_CLASSES = 6
"""Top-k accuracies are reported only with more than 5 classes."""
PR_CURVE_POINTS = 200
"""Most points kept of each precision-recall curve (evenly spread, both ends kept)."""
THRESHOLDS: tuple[float, ...] = tuple(round(i * 0.05, 2) for i in range(21))
"""Confidence thresholds of the sweep: 0.0, 0.05, …, 1.0."""


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax in float64, shifted by the row maximum (no overflow)."""
    shifted = np.asarray(logits, dtype=np.float64)
    shifted = shifted - shifted.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=1, keepdims=True)


def classification_figures(
    logits: np.ndarray, targets: np.ndarray, classes: Sequence[str]
) -> EvaluationOutput:
    """Metrics, per-image rows and report of logits ``(N, C)`` against class indices ``(N,)``.

    Args:
        logits: the model's outputs, one row per image, one column per class.
        targets: the index in ``classes`` of each image's true class.
        classes: the class names, in output order.

    Returns:
        The figures (see the module's docstring). Rows hold ``target`` and ``prediction``
        (class names), ``confidence`` (highest probability), ``correct`` and ``scores`` (the
        probability of each class, in class order). The report holds ``classes``, ``per_class``,
        ``confusion_matrix`` (rows: true class, columns: predicted class), ``pr_curves`` and
        ``threshold_sweep``.

    Raises:
        ValueError: no image, shapes that do not match, or targets outside the classes.
    """
    logits = np.asarray(logits, dtype=np.float64)
    truth = np.asarray(targets, dtype=np.int64).reshape(-1)
    n_classes = len(classes)
    if logits.ndim != 2 or logits.shape != (len(truth), n_classes):
        raise ValueError(
            f"expected logits ({len(truth)}, {n_classes}) for {len(truth)} targets and "
            f"{n_classes} classes, got {logits.shape}"
        )
    if len(truth) == 0:
        raise ValueError("no images to evaluate")
    if truth.min() < 0 or truth.max() >= n_classes:
        raise ValueError(f"targets must be class indices in [0, {n_classes})")
    scores = softmax(logits)
    predicted = logits.argmax(axis=1)
    labels = list(range(n_classes))
    per_class_ap = _average_precisions(truth, scores, n_classes)
    metrics = _metrics(truth, predicted, scores, labels, per_class_ap)
    rows = _rows(truth, predicted, scores, classes)
    correct = predicted == truth
    report: dict[str, Any] = {
        "classes": list(classes),
        "metrics": metrics,
        "per_class": _per_class(truth, predicted, labels, classes, per_class_ap),
        "confusion_matrix": confusion_matrix(truth, predicted, labels=labels).tolist(),
        "pr_curves": _pr_curves(truth, scores, classes, per_class_ap),
        "threshold_sweep": threshold_sweep(scores.max(axis=1), correct),
    }
    return EvaluationOutput(metrics=metrics, rows=rows, report=report)


def _average_precisions(
    truth: np.ndarray, scores: np.ndarray, n_classes: int
) -> list[float | None]:
    """One-vs-rest average precision of each class (None for a class without target images)."""
    out: list[float | None] = []
    for k in range(n_classes):
        positives = truth == k
        if not positives.any():
            out.append(None)
            continue
        out.append(finite_or_none(average_precision_score(positives, scores[:, k])))
    return out


def _metrics(
    truth: np.ndarray,
    predicted: np.ndarray,
    scores: np.ndarray,
    labels: list[int],
    per_class_ap: list[float | None],
) -> dict[str, float]:
    p_macro, r_macro, f_macro, _ = precision_recall_fscore_support(
        truth, predicted, average="macro", zero_division=0
    )
    p_weighted, r_weighted, f_weighted, _ = precision_recall_fscore_support(
        truth, predicted, average="weighted", zero_division=0
    )
    known = [ap for ap in per_class_ap if ap is not None]
    values: dict[str, Any] = {
        "accuracy": accuracy_score(truth, predicted),
        "precision_macro": p_macro,
        "recall_macro": r_macro,
        "f1_macro": f_macro,
        "precision_weighted": p_weighted,
        "recall_weighted": r_weighted,
        "f1_weighted": f_weighted,
        "average_precision_macro": float(np.mean(known)) if known else None,
    }
    if len(labels) >= TOP_K_MIN_CLASSES:
        for k in TOP_K:
            values[f"top{k}_accuracy"] = top_k_accuracy_score(truth, scores, k=k, labels=labels)
    return finite_metrics({k: v for k, v in values.items() if v is not None})


def _rows(
    truth: np.ndarray, predicted: np.ndarray, scores: np.ndarray, classes: Sequence[str]
) -> list[dict[str, Any]]:
    names = list(classes)
    confidence = scores[np.arange(len(predicted)), predicted]
    return [
        {
            "target": names[t],
            "prediction": names[p],
            "confidence": float(c),
            "correct": t == p,
            "scores": row,
        }
        for t, p, c, row in zip(
            truth.tolist(), predicted.tolist(), confidence.tolist(), scores.tolist(), strict=True
        )
    ]


def _per_class(
    truth: np.ndarray,
    predicted: np.ndarray,
    labels: list[int],
    classes: Sequence[str],
    per_class_ap: list[float | None],
) -> list[dict[str, Any]]:
    precision, recall, f1, support = precision_recall_fscore_support(
        truth, predicted, labels=labels, average=None, zero_division=0
    )
    return [
        {
            "class": name,
            "precision": finite_or_none(precision[k]),
            "recall": finite_or_none(recall[k]),
            "f1": finite_or_none(f1[k]),
            "support": int(support[k]),
            "average_precision": per_class_ap[k],
        }
        for k, name in enumerate(classes)
    ]


def _pr_curves(
    truth: np.ndarray,
    scores: np.ndarray,
    classes: Sequence[str],
    per_class_ap: list[float | None],
) -> list[dict[str, Any]]:
    """One-vs-rest precision-recall curves of the classes with target images, decimated."""
    curves: list[dict[str, Any]] = []
    for k, name in enumerate(classes):
        if per_class_ap[k] is None:
            continue
        precision, recall, _thresholds = precision_recall_curve(truth == k, scores[:, k])
        keep = decimate_indices(len(precision), PR_CURVE_POINTS)
        curves.append(
            {
                "class": name,
                "precision": float_list(precision[keep]),
                "recall": float_list(recall[keep]),
                "average_precision": per_class_ap[k],
            }
        )
    return curves


def threshold_sweep(confidence: np.ndarray, correct: np.ndarray) -> list[dict[str, Any]]:
    """Images kept, coverage and accuracy at each of :data:`THRESHOLDS` (confidence ≥ it)."""
    total = len(confidence)
    out: list[dict[str, Any]] = []
    for threshold in THRESHOLDS:
        kept = confidence >= threshold
        images = int(kept.sum())
        out.append(
            {
                "threshold": threshold,
                "images": images,
                "coverage": images / total if total else 0.0,
                "accuracy": float(correct[kept].mean()) if images else None,
            }
        )
    return out
