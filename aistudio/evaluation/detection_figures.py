"""The figures of a detection evaluation: COCO's, computed by pycocotools, and those at a threshold.

Coordinates are pixels of the original image, boxes ``x1, y1, x2, y2``. Conventions, for whoever
reads the numbers:

* ``map`` (mAP@[.50:.95], the primary figure), ``map50``, ``map75``, ``map_small``,
  ``map_medium``, ``map_large``, ``mar1``, ``mar10`` and ``mar100`` are ``COCOeval.stats``
  (``bbox``) of pycocotools itself, on a COCO dataset built from the images: boxes as
  ``x, y, w, h``, ``area = w * h``, ``iscrowd`` (and ``ignore``) from ``gt_ignore``, categories
  ``1..C`` in class order, every image listed even without objects. A figure pycocotools gives
  as -1 (no ground truth of that kind) is None; with no object in any image, all of them are
  None and the report's ``notes`` say so. Without any detection (pycocotools' ``loadRes`` cannot
  load an empty list) the results are an empty COCO set, and the figures are 0 where there are
  objects.
* ``precision``, ``recall`` and ``f1`` are micro figures over all classes at IoU 0.5 and the
  confidence threshold, with the matching of :mod:`~aistudio.evaluation.detection_matching`
  (COCO's, same class, greedy in descending score order; ignored boxes neither TP nor FN, the
  detections on them not FP): ``precision = TP / (TP + FP)`` (None without detection kept),
  ``recall = TP / objects`` (None without object), ``f1 = 2 TP / (2 TP + FP + FN)`` (None
  without either). A detection is kept when its score, at 4 decimals, is at least the threshold.
* The threshold, when not given, is the F1-optimal one **of these images**
  (:func:`f1_optimal_threshold`): among 0.01, 0.02, …, 0.99 and, when there are at most
  :data:`MAX_SCORE_CANDIDATES` of them, the distinct scores, the middle one of those reaching
  the best F1 (0.5 when no threshold gives any TP). To evaluate a test subset, pass the threshold
  found on the validation subset: a threshold chosen on the images it is measured on flatters
  them.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from aistudio.evaluation.detection_matching import (
    DISPLAY_FLOOR,
    IOU_THRESHOLD,
    MAX_SHOWN,
    STATUS_FP,
    STATUS_TP,
    ImageDetections,
    ImageMatch,
    confusion_counts,
    counts_at,
    image_row,
    match_image,
    xywh,
)
from aistudio.evaluation.plain import finite_or_none

__all__ = [
    "COCO_METRICS",
    "DetectionAccumulator",
    "DetectionFigures",
    "ImageDetections",
    "ThresholdCounts",
    "counts_at",
    "detection_figures",
    "f1_optimal_threshold",
]

COCO_METRICS: tuple[str, ...] = (
    "map",
    "map50",
    "map75",
    "map_small",
    "map_medium",
    "map_large",
    "mar1",
    "mar10",
    "mar100",
)
"""The first nine ``COCOeval.stats``, in their order."""
METRIC_NAMES: tuple[str, ...] = (*COCO_METRICS, "precision", "recall", "f1", "confidence_threshold")
"""Every metric, in display order (``map`` first: the primary one)."""
THRESHOLD_GRID: tuple[float, ...] = tuple(round(i * 0.01, 2) for i in range(1, 100))
"""Confidence thresholds always on the F1 curve: 0.01, 0.02, …, 0.99."""
MAX_SCORE_CANDIDATES = 1000
"""The distinct (4-decimal) scores join the F1 curve when there are at most this many."""
DEFAULT_THRESHOLD = 0.5
"""The threshold chosen when no threshold gives a single TP."""
BACKGROUND = "background"
"""The extra label of the confusion matrix's last row and column."""


@dataclass
class DetectionFigures:
    """The figures of a detection evaluation (same meaning as ``EvaluationOutput``).

    Attributes:
        metrics: :data:`METRIC_NAMES`, in that order (None where undefined).
        rows: one dict per image, in input order (see :func:`detection_figures`).
        report: everything else the Evaluation page plots (see :func:`detection_figures`).
    """

    metrics: dict[str, float | None]
    rows: list[dict[str, Any]]
    report: dict[str, Any]


@dataclass
class ThresholdCounts:
    """The counts of an evaluation at one confidence threshold.

    Attributes:
        tp: ``(C,)`` true positives per class.
        fp: ``(C,)`` false positives per class.
        detections: ``(C,)`` detections kept per class.
        objects: ``(C,)`` ground-truth objects (not ignored) per class.
        micro: ``precision``, ``recall`` and ``f1`` over all classes.
        matrix: ``(C + 1, C + 1)`` confusion matrix, rows true, columns predicted.
        n_detections: detections in all.
        n_kept: detections kept.
    """

    tp: np.ndarray
    fp: np.ndarray
    detections: np.ndarray
    objects: np.ndarray
    micro: dict[str, float | None]
    matrix: np.ndarray
    n_detections: int
    n_kept: int


def _ratio(numerator: float, denominator: float) -> float | None:
    return float(numerator / denominator) if denominator else None


def _prf(tp: int, fp: int, fn: int) -> dict[str, float | None]:
    return {
        "precision": _ratio(tp, tp + fp),
        "recall": _ratio(tp, tp + fn),
        "f1": _ratio(2 * tp, 2 * tp + fp + fn),
    }


def _count_at_least(sorted_values: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """How many of ``sorted_values`` (ascending) are at least each threshold."""
    return len(sorted_values) - np.searchsorted(sorted_values, thresholds, side="left")


class DetectionAccumulator:
    """Collects the images of an evaluation pass, batch by batch, and computes their figures.

    Each image is matched when added (:func:`~aistudio.evaluation.detection_matching.match_image`);
    COCOeval runs once, in :meth:`compute`.

    Args:
        classes: the class names, in label order.

    Raises:
        ValueError: no class, or a name given twice.
    """

    def __init__(self, classes: Sequence[str]) -> None:
        self.classes = [str(c) for c in classes]
        if not self.classes:
            raise ValueError("a detection evaluation needs at least one class")
        if len(set(self.classes)) != len(self.classes):
            raise ValueError("class names must be distinct")
        self._images: list[ImageDetections] = []
        self._matches: list[ImageMatch] = []

    def __len__(self) -> int:
        return len(self._images)

    def add(self, image: ImageDetections) -> None:
        """Add one image (its arrays are copied).

        Raises:
            ValueError: a label that is not a class index.
        """
        image.check_classes(len(self.classes))
        copy = ImageDetections(
            image_id=image.image_id,
            width=image.width,
            height=image.height,
            gt_boxes=image.gt_boxes.copy(),
            gt_labels=image.gt_labels.copy(),
            gt_ignore=image.gt_ignore.copy(),
            boxes=image.boxes.copy(),
            scores=image.scores.copy(),
            labels=image.labels.copy(),
        )
        self._images.append(copy)
        self._matches.append(match_image(copy))

    def extend(self, images: Iterable[ImageDetections]) -> None:
        """Add several images, in order."""
        for image in images:
            self.add(image)

    # ------------------------------------------------------------------ threshold figures
    def _pooled(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Shown scores, statuses and labels of every detection; objects (not ignored) per class."""
        n = len(self.classes)
        if self._matches:
            shown = np.concatenate([m.shown for m in self._matches])
            status = np.concatenate([m.status for m in self._matches])
            labels = np.concatenate([i.labels for i in self._images])
            gt_labels = np.concatenate([i.gt_labels[~i.gt_ignore] for i in self._images])
        else:
            shown = np.zeros(0)
            status = np.zeros(0, dtype=np.int8)
            labels = gt_labels = np.zeros(0, dtype=np.int64)
        objects = np.bincount(gt_labels, minlength=n)[:n]
        return shown, status, labels, objects

    def _candidates(self, shown: np.ndarray) -> np.ndarray:
        distinct = np.unique(shown)
        grid = np.asarray(THRESHOLD_GRID)
        if len(distinct) <= MAX_SCORE_CANDIDATES:
            return np.union1d(grid, distinct)
        return grid

    def f1_curve(self) -> dict[str, list[Any]]:
        """Micro precision, recall and F1 at IoU 0.5 on the candidate thresholds.

        Returns:
            ``thresholds`` (ascending), ``precision``, ``recall`` and ``f1`` (None where
            undefined), ``tp``, ``fp`` and ``fn``.
        """
        shown, status, _labels, objects = self._pooled()
        thresholds = self._candidates(shown)
        tp = _count_at_least(np.sort(shown[status == STATUS_TP]), thresholds)
        fp = _count_at_least(np.sort(shown[status == STATUS_FP]), thresholds)
        fn = int(objects.sum()) - tp
        figures = [_prf(int(a), int(b), int(c)) for a, b, c in zip(tp, fp, fn, strict=True)]
        return {
            "thresholds": [float(t) for t in thresholds],
            "precision": [f["precision"] for f in figures],
            "recall": [f["recall"] for f in figures],
            "f1": [f["f1"] for f in figures],
            "tp": tp.tolist(),
            "fp": fp.tolist(),
            "fn": fn.tolist(),
        }

    def f1_optimal_threshold(self) -> float:
        """The F1-optimal threshold of the images added (see the module's docstring)."""
        return _optimal_threshold(self.f1_curve())

    # ------------------------------------------------------------------ everything
    def resolve_threshold(
        self, threshold: float | None, curve: dict[str, list[Any]]
    ) -> tuple[float, str]:
        """The threshold to use and its source (``"given"`` or ``"f1_optimal_this_subset"``).

        Raises:
            ValueError: a threshold that is not a finite number.
        """
        if threshold is None:
            return _optimal_threshold(curve), "f1_optimal_this_subset"
        value = finite_or_none(threshold)
        if value is None:
            raise ValueError(f"threshold must be a finite number, got {threshold!r}")
        return value, "given"

    def counts_at_threshold(self, value: float) -> ThresholdCounts:
        """The counts at a confidence threshold: per class, micro, and the confusion matrix."""
        n = len(self.classes)
        shown, status, labels, objects = self._pooled()
        kept = shown >= value
        tp = np.bincount(labels[kept & (status == STATUS_TP)], minlength=n)[:n]
        fp = np.bincount(labels[kept & (status == STATUS_FP)], minlength=n)[:n]
        detections = np.bincount(labels[kept], minlength=n)[:n]
        matrix = np.zeros((n + 1, n + 1), dtype=np.int64)
        for image, match in zip(self._images, self._matches, strict=True):
            matrix += confusion_counts(image, match, value, n)
        return ThresholdCounts(
            tp=tp,
            fp=fp,
            detections=detections,
            objects=objects,
            micro=_prf(int(tp.sum()), int(fp.sum()), int(objects.sum() - tp.sum())),
            matrix=matrix,
            n_detections=len(shown),
            n_kept=int(kept.sum()),
        )

    def class_counts(self, counts: ThresholdCounts, k: int) -> dict[str, Any]:
        """Precision, recall, F1 and counts of class ``k`` (the tail of its ``per_class`` row)."""
        tp, fp, objects = int(counts.tp[k]), int(counts.fp[k]), int(counts.objects[k])
        return {
            **_prf(tp, fp, objects - tp),
            "objects": objects,
            "detections": int(counts.detections[k]),
            "tp": tp,
            "fp": fp,
            "fn": objects - tp,
        }

    def row(self, image: ImageDetections, match: ImageMatch, value: float) -> dict[str, Any]:
        """The row of one image (a subclass adds its keys here)."""
        return image_row(image, match, self.classes, value)

    def shared_report(
        self, value: float, source: str, curve: dict[str, list[Any]], counts: ThresholdCounts
    ) -> dict[str, Any]:
        """The report's keys that do not depend on the kind of COCO evaluation."""
        notes: list[str] = []
        if not counts.objects.any():
            notes.append(
                "No image of this subset has an object: mAP, mAR and recall are undefined (null)."
            )
        if counts.n_detections == 0:
            notes.append("The model detected nothing in these images.")
        return {
            "classes": list(self.classes),
            "iou": IOU_THRESHOLD,
            "threshold": {"value": value, "source": source},
            "f1_curve": {k: curve[k] for k in ("thresholds", "precision", "recall", "f1")},
            "confusion": {
                "labels": [*self.classes, BACKGROUND],
                "matrix": counts.matrix.tolist(),
                "iou": IOU_THRESHOLD,
                "threshold": value,
            },
            "totals": {
                "images": len(self._images),
                "objects": int(counts.objects.sum()),
                "ignored_objects": int(sum(int(i.gt_ignore.sum()) for i in self._images)),
                "detections": counts.n_detections,
                "detections_kept": counts.n_kept,
            },
            "display": {"floor": DISPLAY_FLOOR, "max_per_image": MAX_SHOWN},
            "notes": notes,
        }

    def compute(self, threshold: float | None = None) -> DetectionFigures:
        """Metrics, rows and report of the images added.

        Args:
            threshold: the confidence threshold of the figures at a threshold; None for the
                F1-optimal one of these images.

        Returns:
            The figures (see :func:`detection_figures`).

        Raises:
            ValueError: no image, or a threshold that is not a finite number.
        """
        if not self._images:
            raise ValueError("no images to evaluate")
        curve = self.f1_curve()
        value, source = self.resolve_threshold(threshold, curve)
        coco = _coco_evaluation(self._images, self.classes)
        counts = self.counts_at_threshold(value)
        metrics: dict[str, float | None] = dict(zip(COCO_METRICS, coco["stats"], strict=True))
        metrics.update(counts.micro)
        metrics["confidence_threshold"] = value
        per_class = [
            {
                "class": name,
                "ap": coco["ap"][k],
                "ap50": coco["ap50"][k],
                "ap75": coco["ap75"][k],
                **self.class_counts(counts, k),
            }
            for k, name in enumerate(self.classes)
        ]
        rows = [
            self.row(image, match, value)
            for image, match in zip(self._images, self._matches, strict=True)
        ]
        report: dict[str, Any] = {
            "task": "detection",
            "metrics": metrics,
            "per_class": per_class,
            "pr_curves": coco["pr_curves"],
            "pr_curve_mean": coco["pr_curve_mean"],
            **self.shared_report(value, source, curve, counts),
        }
        return DetectionFigures(metrics=metrics, rows=rows, report=report)


def _optimal_threshold(curve: dict[str, list[Any]]) -> float:
    """The middle of the thresholds reaching the best F1 (:data:`DEFAULT_THRESHOLD` without TP)."""
    f1 = np.asarray([0.0 if v is None else v for v in curve["f1"]], dtype=np.float64)
    if len(f1) == 0 or f1.max() <= 0:
        return DEFAULT_THRESHOLD
    best = np.flatnonzero(f1 >= f1.max() - 1e-12)
    return float(curve["thresholds"][int(best[(len(best) - 1) // 2])])


# ---------------------------------------------------------------------- COCO (pycocotools)
def coco_ground_truth(images: Sequence[ImageDetections], classes: Sequence[str]) -> dict[str, Any]:
    """The COCO ground-truth dataset of the images (image ids ``1..N`` in order).

    Args:
        images: the images.
        classes: the class names (category ids ``1..C`` in this order).

    Returns:
        A dict with ``images``, ``annotations`` and ``categories``, as COCO's json.
    """
    annotations: list[dict[str, Any]] = []
    for image_id, image in enumerate(images, start=1):
        boxes = xywh(image.gt_boxes)
        for box, label, ignore in zip(
            boxes.tolist(), image.gt_labels.tolist(), image.gt_ignore.tolist(), strict=True
        ):
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": image_id,
                    "category_id": label + 1,
                    "bbox": box,
                    "area": box[2] * box[3],
                    "iscrowd": int(ignore),
                    "ignore": int(ignore),
                }
            )
    return {
        "images": [
            {"id": i, "width": im.width, "height": im.height, "file_name": im.image_id}
            for i, im in enumerate(images, start=1)
        ],
        "annotations": annotations,
        "categories": [{"id": k + 1, "name": name} for k, name in enumerate(classes)],
    }


def coco_results(images: Sequence[ImageDetections]) -> list[dict[str, Any]]:
    """The COCO results of the images' detections (image ids ``1..N`` in order)."""
    results: list[dict[str, Any]] = []
    for image_id, image in enumerate(images, start=1):
        for box, score, label in zip(
            xywh(image.boxes).tolist(), image.scores.tolist(), image.labels.tolist(), strict=True
        ):
            results.append(
                {"image_id": image_id, "category_id": label + 1, "bbox": box, "score": score}
            )
    return results


def _coco_stats(value: float) -> float | None:
    return None if value == -1 else finite_or_none(value)


def _mean_valid(values: np.ndarray) -> float | None:
    """Mean of the values that are not -1 (COCO's ``s[s > -1]``), None when there is none."""
    valid = values[values > -1]
    return float(np.mean(valid)) if valid.size else None


def _coco_evaluation(images: Sequence[ImageDetections], classes: Sequence[str]) -> dict[str, Any]:
    """COCOeval (bbox) on the images: stats, per-class APs and the PR curves at IoU 0.5."""
    return coco_evaluation(coco_ground_truth(images, classes), coco_results(images), classes)


def coco_evaluation(
    dataset: dict[str, Any],
    results: list[dict[str, Any]],
    classes: Sequence[str],
    iou_type: str = "bbox",
) -> dict[str, Any]:
    """COCOeval of pycocotools on a COCO dataset and results (an empty list: no detection).

    Args:
        dataset: the ground truth, as COCO's json (categories ``1..C`` in class order).
        results: the detections, as COCO's results json.
        classes: the class names.
        iou_type: ``"bbox"`` or ``"segm"`` (then both carry ``segmentation``).

    Returns:
        ``stats`` (the first nine ``COCOeval.stats``, None for -1), per-class ``ap``, ``ap50``
        and ``ap75`` (None for a class without objects), ``pr_curves`` and ``pr_curve_mean``
        (IoU 0.5, area all, 100 detections).
    """
    with contextlib.redirect_stdout(io.StringIO()):
        ground_truth = COCO()
        ground_truth.dataset = dataset
        ground_truth.createIndex()
        if results:
            detections = ground_truth.loadRes(results)
        else:
            detections = COCO()
            detections.dataset = {
                "images": list(ground_truth.dataset["images"]),
                "categories": list(ground_truth.dataset["categories"]),
                "annotations": [],
            }
            detections.createIndex()
        evaluation = COCOeval(ground_truth, detections, iou_type)
        evaluation.evaluate()
        evaluation.accumulate()
        evaluation.summarize()
    params = evaluation.params
    precision = evaluation.eval["precision"]  # (T, R, K, A, M)
    area_all = params.areaRngLbl.index("all")
    max_dets = len(params.maxDets) - 1  # 100
    at50 = int(np.where(params.iouThrs == 0.5)[0][0])
    at75 = int(np.where(params.iouThrs == 0.75)[0][0])
    per_class = precision[:, :, :, area_all, max_dets]  # (T, R, K)
    recall_points = [float(r) for r in params.recThrs]
    pr_curves = []
    for k, name in enumerate(classes):
        curve = per_class[at50, :, k]
        if (curve > -1).any():
            pr_curves.append(
                {
                    "class": name,
                    "ap50": _mean_valid(curve),
                    "recall": recall_points,
                    "precision": [None if p == -1 else float(p) for p in curve],
                }
            )
    return {
        "stats": [_coco_stats(v) for v in evaluation.stats[: len(COCO_METRICS)]],
        "ap": [_mean_valid(per_class[:, :, k]) for k in range(len(classes))],
        "ap50": [_mean_valid(per_class[at50, :, k]) for k in range(len(classes))],
        "ap75": [_mean_valid(per_class[at75, :, k]) for k in range(len(classes))],
        "pr_curves": pr_curves,
        "pr_curve_mean": {
            "recall": recall_points,
            "precision": [_mean_valid(per_class[at50, r, :]) for r in range(len(recall_points))],
            "map50": _mean_valid(per_class[at50]),
        },
    }


def f1_optimal_threshold(images: Iterable[ImageDetections], classes: Sequence[str]) -> float:
    """The confidence threshold maximising micro F1 at IoU 0.5 on these images.

    Candidates are 0.01, 0.02, …, 0.99 and, when there are at most :data:`MAX_SCORE_CANDIDATES`
    of them, the distinct scores (at 4 decimals); of those reaching the best F1, the middle one
    (ascending order, the lower middle of an even count). :data:`DEFAULT_THRESHOLD` when no
    threshold gives any TP.

    Args:
        images: the images (typically the validation subset).
        classes: the class names, in label order.

    Returns:
        The threshold.
    """
    accumulator = DetectionAccumulator(classes)
    accumulator.extend(images)
    return accumulator.f1_optimal_threshold()


def detection_figures(
    images: Iterable[ImageDetections], classes: Sequence[str], threshold: float | None = None
) -> DetectionFigures:
    """Metrics, per-image rows and report of a detection evaluation.

    Args:
        images: one per image, in the order of the evaluation.
        classes: the class names, in label order.
        threshold: the confidence threshold of the figures at a threshold (precision, recall,
            F1, per-image counts, confusion matrix); None for the F1-optimal one of these images
            (pass the validation subset's one when evaluating test).

    Returns:
        ``metrics``: :data:`METRIC_NAMES` in order (see the module's docstring).

        ``rows`` (one per image, in input order): ``image_id``, ``width``, ``height``,
        ``objects`` (boxes not ignored), ``tp``, ``fp``, ``fn`` and ``errors`` (fp + fn) at the
        threshold, ``max_score`` (None without detection), ``display_floor``, ``truth``
        (``box`` ``[x1, y1, x2, y2]`` at 0.1 px, ``class``, ``matched_score``, ``ignore: True``
        on an ignored box) and ``predictions`` (highest score first, at most 100, score at least
        ``display_floor``: ``box``, ``class``, ``score`` at 4 decimals, ``match`` ``"tp"`` /
        ``"fp"`` / ``"ignored"``, ``iou`` with the matched box or None, ``matched_truth``: its
        index in ``truth`` or None). :func:`counts_at` gives a row's counts at any threshold of
        at least its ``display_floor``.

        ``report``: ``task`` (``"detection"``), ``metrics``, ``classes``, ``iou`` (0.5),
        ``threshold`` (``value``, ``source`` ``"given"`` or ``"f1_optimal_this_subset"``),
        ``per_class`` (``class``, ``ap``, ``ap50``, ``ap75``, ``precision``, ``recall``, ``f1``,
        ``objects``, ``detections`` kept, ``tp``, ``fp``, ``fn``), ``pr_curves`` (classes with
        objects: ``class``, ``ap50``, ``recall`` (COCO's 101 points), ``precision`` at IoU 0.5,
        area all, 100 detections), ``pr_curve_mean`` (``recall``, ``precision``: the mean over
        the classes with objects, ``map50``), ``f1_curve`` (``thresholds``, ``precision``,
        ``recall``, ``f1``), ``confusion`` (``labels``: the classes then ``"background"``,
        ``matrix``: rows true, columns predicted, ``iou``, ``threshold``), ``totals``
        (``images``, ``objects``, ``ignored_objects``, ``detections``, ``detections_kept``),
        ``display`` (``floor``, ``max_per_image``) and ``notes`` (sentences on undefined
        figures).

    Raises:
        ValueError: no image, a label outside the classes, a threshold that is not finite.
    """
    accumulator = DetectionAccumulator(classes)
    accumulator.extend(images)
    return accumulator.compute(threshold)
