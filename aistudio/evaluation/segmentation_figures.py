"""Semantic segmentation figures from a dataset-level confusion matrix (mmseg's definitions).

Pixels whose truth is :data:`IGNORE_INDEX` (255, VOC's void) count nowhere. With ``C`` the
confusion matrix over all evaluated pixels (rows: truth, columns: prediction):

- IoU of class c = C[c, c] / (row_c + col_c - C[c, c]); ``miou`` = their mean over the classes
  with a nonzero union (a class neither present nor predicted anywhere has no IoU);
- ``pixel_accuracy`` = trace(C) / sum(C) (mmseg's aAcc);
- Dice of class c = 2 C[c, c] / (row_c + col_c); ``dice_macro`` = their mean, as for IoU;
- accuracy of class c = C[c, c] / row_c (mmseg's Acc).

These are mmseg's ``IoUMetric`` and torchmetrics' ``MulticlassJaccardIndex(ignore_index=255)``,
not torchmetrics' ``segmentation.MeanIoU``, which averages per image (DESIGN §10). Per-image rows
carry the same figures of the image alone, its classes, and the predicted mask as a PNG.

Numpy only: the validation evaluator of training (torch) hands its confusion matrix here too.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence
from typing import Any

import numpy as np
from PIL import Image

from events.schemas.annotation import IGNORE_INDEX

METRIC_NAMES: tuple[str, ...] = ("miou", "pixel_accuracy", "dice_macro")


def confusion_matrix(predicted: np.ndarray, truth: np.ndarray, k: int) -> np.ndarray:
    """The ``k x k`` int64 confusion matrix of index masks of one shape (rows: truth).

    Truth pixels at :data:`IGNORE_INDEX` (or any value ``>= k``) are left out.
    """
    truth = truth.reshape(-1).astype(np.int64)
    predicted = predicted.reshape(-1).astype(np.int64)
    valid = truth < k
    return np.bincount(truth[valid] * k + predicted[valid], minlength=k * k).reshape(k, k)


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    out = np.full(num.shape, np.nan, dtype=np.float64)
    np.divide(num, den, out=out, where=den > 0)
    return out


def class_figures(matrix: np.ndarray) -> dict[str, np.ndarray]:
    """Per-class ``iou``, ``dice``, ``accuracy`` (NaN where undefined), ``pixels`` (truth) and
    ``predicted`` pixel counts of a confusion matrix."""
    matrix = np.asarray(matrix, dtype=np.float64)
    hits = np.diag(matrix)
    truth = matrix.sum(axis=1)
    predicted = matrix.sum(axis=0)
    return {
        "iou": _ratio(hits, truth + predicted - hits),
        "dice": _ratio(2 * hits, truth + predicted),
        "accuracy": _ratio(hits, truth),
        "pixels": truth,
        "predicted": predicted,
    }


def _nanmean(values: np.ndarray) -> float | None:
    finite = values[~np.isnan(values)]
    return float(finite.mean()) if finite.size else None


def metrics_of(matrix: np.ndarray) -> dict[str, float | None]:
    """``miou``, ``pixel_accuracy`` and ``dice_macro`` of a confusion matrix (None when no
    pixel was scored)."""
    figures = class_figures(matrix)
    total = float(np.asarray(matrix).sum())
    return {
        "miou": _nanmean(figures["iou"]),
        "pixel_accuracy": float(np.trace(matrix)) / total if total > 0 else None,
        "dice_macro": _nanmean(figures["dice"]),
    }


def mask_png(mask: np.ndarray) -> str:
    """An index mask (uint8 H x W) as the base64 text of an 8-bit grey PNG."""
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(mask, dtype=np.uint8), mode="L").save(buffer, "PNG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def decode_mask_png(text: str) -> np.ndarray:
    """The index mask of :func:`mask_png`'s text."""
    with Image.open(io.BytesIO(base64.b64decode(text))) as image:
        return np.asarray(image, dtype=np.uint8).copy()


def _none(value: float) -> float | None:
    return None if np.isnan(value) else float(value)


def segmentation_figures(
    predicted: np.ndarray,
    truth: np.ndarray,
    classes: Sequence[str],
    annotations: Sequence[Any] | None = None,
) -> tuple[dict[str, float], list[dict[str, Any]], dict[str, Any]]:
    """Metrics, per-image rows and the report of a pass.

    Args:
        predicted: ``N x S x S`` uint8 predicted class indices.
        truth: ``N x S x S`` uint8 true class indices (:data:`IGNORE_INDEX` ignored).
        classes: the model's classes, in index order (0: the background).
        annotations: each image's annotation as rows show it (``target``), in order.

    Returns:
        ``(metrics, rows, report)`` (plain JSON; metrics whose value is undefined are left
        out of ``metrics`` and are None in the report).

    Raises:
        ValueError: no image, or predictions and truth of other shapes.
    """
    predicted = np.asarray(predicted, dtype=np.uint8)
    truth = np.asarray(truth, dtype=np.uint8)
    if predicted.ndim != 3 or predicted.shape != truth.shape or len(predicted) == 0:
        raise ValueError(
            f"predictions {predicted.shape} and truth {truth.shape} must be N x S x S alike"
        )
    k = len(classes)
    total = np.zeros((k, k), dtype=np.int64)
    rows: list[dict[str, Any]] = []
    for index in range(len(predicted)):
        matrix = confusion_matrix(predicted[index], truth[index], k)
        total += matrix
        image = metrics_of(matrix)
        present = np.flatnonzero(matrix.sum(axis=1))
        found = np.flatnonzero(np.bincount(predicted[index].reshape(-1), minlength=k)[:k])
        rows.append(
            {
                "target": None if annotations is None else annotations[index],
                "prediction": {"png": mask_png(predicted[index]), "size": int(truth.shape[-1])},
                "miou": image["miou"],
                "pixel_accuracy": image["pixel_accuracy"],
                "classes_present": [classes[c] for c in present],
                "classes_predicted": [classes[c] for c in found],
            }
        )
    metrics = metrics_of(total)
    figures = class_figures(total)
    per_class = [
        {
            "class": name,
            "iou": _none(figures["iou"][c]),
            "dice": _none(figures["dice"][c]),
            "accuracy": _none(figures["accuracy"][c]),
            "pixels": int(figures["pixels"][c]),
            "predicted": int(figures["predicted"][c]),
        }
        for c, name in enumerate(classes)
    ]
    report = {
        "task": "segmentation",
        "metrics": metrics,
        "classes": list(classes),
        "confusion_matrix": total.tolist(),
        "per_class": per_class,
        "image_size": int(truth.shape[-1]),
        "ignore_index": IGNORE_INDEX,
    }
    kept = {name: value for name, value in metrics.items() if value is not None}
    return kept, rows, report
