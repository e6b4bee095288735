"""Detections matched to ground truth at IoU 0.5, the way COCO matches them; per-image rows.

The matching replicates ``COCOeval.evaluateImg`` (pycocotools) at IoU 0.5 for the area range
``all``, with the IoUs of ``pycocotools.mask.iou`` itself (of the boxes, or of the masks for an
image whose :meth:`ImageDetections.overlaps` gives mask IoUs, as instance segmentation's does):

* per image and per class, detections are taken in descending score order (a stable sort: equal
  scores in input order), each one matched to the unmatched ground-truth box of its class with
  the highest IoU, if that IoU is at least 0.5 (on equal IoUs, the later box in COCO's order);
* an ignored box (VOC ``difficult``, COCO ``iscrowd``) is a crowd region for pycocotools: its IoU
  is the intersection over the detection's area, it may be matched by any number of detections,
  and a detection is matched to it only if no regular box is left for it. A detection matched to
  an ignored box is ``"ignored"`` (neither TP nor FP); an ignored box is never a FN;
* unlike COCOeval, every detection is matched (COCO keeps the 100 highest of each class and image).

**Threshold independence.** A detection competes only with the detections of higher score, so
its status (``"tp"``, ``"fp"``, ``"ignored"``) is the same at every confidence threshold that
keeps it. The figures at a threshold ``t`` are therefore those of the detections whose score is
at least ``t``, each with the status computed once, and a ground-truth box is found at ``t`` iff
the detection that matched it has a score of at least ``t``. :func:`counts_at` rebuilds an
image's TP, FP and FN at any threshold from its row this way, so a page can redraw at any
threshold of at least the row's ``display_floor`` without the matching.

Scores are compared with thresholds **rounded to 4 decimals**, as the rows show them, so that the
rows, :func:`counts_at` and every figure at a threshold agree exactly (COCO's figures use the
scores as given).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from pycocotools import mask as mask_utils

IOU_THRESHOLD = 0.5
"""IoU at which a detection matches a ground-truth box (at least this value, as in COCO)."""
DISPLAY_FLOOR = 0.05
"""Lowest score of the detections listed in a row (lower when the evaluation threshold is)."""
MAX_SHOWN = 100
"""Most detections listed in a row (the highest-scoring ones)."""
SCORE_DECIMALS = 4
"""Decimals of the scores shown in the rows and compared with thresholds."""
BOX_DECIMALS = 1
"""Decimals of the box coordinates shown in the rows (pixels)."""

STATUS_FP = 0
STATUS_TP = 1
STATUS_IGNORED = 2
STATUS_NAMES = {STATUS_FP: "fp", STATUS_TP: "tp", STATUS_IGNORED: "ignored"}
"""The ``match`` of a listed detection, by status code."""


def _boxes(value: Any, what: str) -> np.ndarray:
    array = np.asarray(value, dtype=np.float64)
    if array.size == 0:
        return np.zeros((0, 4), dtype=np.float64)
    if array.ndim != 2 or array.shape[1] != 4:
        raise ValueError(f"{what} must have shape (N, 4) (x1, y1, x2, y2), got {array.shape}")
    if not np.isfinite(array).all():
        raise ValueError(f"{what} must be finite numbers")
    if (array[:, 2] < array[:, 0]).any() or (array[:, 3] < array[:, 1]).any():
        raise ValueError(f"{what} must have x2 >= x1 and y2 >= y1")
    return array


def _vector(value: Any, dtype: type, what: str) -> np.ndarray:
    array = np.asarray(value).reshape(-1)
    if dtype is np.int64 and array.size and not np.issubdtype(array.dtype, np.integer):
        as_float = array.astype(np.float64)
        if not (np.isfinite(as_float).all() and (as_float == np.round(as_float)).all()):
            raise ValueError(f"{what} must be integer class indices")
    return array.astype(dtype)


@dataclass
class ImageDetections:
    """The ground truth and the detections of one image, in pixels of the original image.

    Arrays are coerced on creation (lists are accepted; empty ones become ``(0, 4)`` and ``(0,)``).

    Attributes:
        image_id: the image's id, copied into its row.
        width: the image's width in pixels.
        height: the image's height in pixels.
        gt_boxes: ``(M, 4)`` ground-truth boxes, ``x1, y1, x2, y2``.
        gt_labels: ``(M,)`` class index of each box.
        gt_ignore: ``(M,)`` True for a box that is neither TP nor FN (VOC ``difficult``, COCO
            ``iscrowd``: a crowd region for pycocotools).
        boxes: ``(K, 4)`` detected boxes, ``x1, y1, x2, y2``.
        scores: ``(K,)`` confidence of each detection.
        labels: ``(K,)`` class index of each detection.

    Raises:
        ValueError: shapes that do not match, values that are not finite, boxes with
            ``x2 < x1`` or ``y2 < y1``, labels that are not integers.
    """

    image_id: str
    width: int
    height: int
    gt_boxes: np.ndarray
    gt_labels: np.ndarray
    gt_ignore: np.ndarray
    boxes: np.ndarray
    scores: np.ndarray
    labels: np.ndarray

    def __post_init__(self) -> None:
        self.image_id = str(self.image_id)
        self.width = int(self.width)
        self.height = int(self.height)
        self.gt_boxes = _boxes(self.gt_boxes, "gt_boxes")
        self.gt_labels = _vector(self.gt_labels, np.int64, "gt_labels")
        self.gt_ignore = _vector(self.gt_ignore, bool, "gt_ignore")
        self.boxes = _boxes(self.boxes, "boxes")
        self.scores = _vector(self.scores, np.float64, "scores")
        self.labels = _vector(self.labels, np.int64, "labels")
        m, k = len(self.gt_boxes), len(self.boxes)
        if len(self.gt_labels) != m or len(self.gt_ignore) != m:
            raise ValueError(
                f"{self.image_id}: {m} gt_boxes, {len(self.gt_labels)} gt_labels and "
                f"{len(self.gt_ignore)} gt_ignore"
            )
        if len(self.scores) != k or len(self.labels) != k:
            raise ValueError(
                f"{self.image_id}: {k} boxes, {len(self.scores)} scores and "
                f"{len(self.labels)} labels"
            )
        if not np.isfinite(self.scores).all():
            raise ValueError(f"{self.image_id}: scores must be finite numbers")

    @classmethod
    def from_lists(
        cls,
        image_id: str,
        width: int,
        height: int,
        gt_boxes: Sequence[Sequence[float]] = (),
        gt_labels: Sequence[int] = (),
        boxes: Sequence[Sequence[float]] = (),
        scores: Sequence[float] = (),
        labels: Sequence[int] = (),
        gt_ignore: Sequence[bool] | None = None,
    ) -> ImageDetections:
        """An image from plain lists; ``gt_ignore`` defaults to no ignored box.

        Args:
            image_id: the image's id.
            width: the image's width in pixels.
            height: the image's height in pixels.
            gt_boxes: ground-truth boxes ``[x1, y1, x2, y2]``.
            gt_labels: class index of each ground-truth box.
            boxes: detected boxes ``[x1, y1, x2, y2]``.
            scores: confidence of each detection.
            labels: class index of each detection.
            gt_ignore: whether each ground-truth box is ignored.

        Returns:
            The image's detections.
        """
        ignore = [False] * len(gt_labels) if gt_ignore is None else list(gt_ignore)
        return cls(
            image_id=image_id,
            width=width,
            height=height,
            gt_boxes=np.asarray(gt_boxes, dtype=np.float64),
            gt_labels=np.asarray(gt_labels, dtype=np.int64),
            gt_ignore=np.asarray(ignore, dtype=bool),
            boxes=np.asarray(boxes, dtype=np.float64),
            scores=np.asarray(scores, dtype=np.float64),
            labels=np.asarray(labels, dtype=np.int64),
        )

    def overlaps(self, dets: np.ndarray, gts: np.ndarray, crowd: np.ndarray) -> np.ndarray:
        """The IoU ``(D, G)`` of detections ``dets`` with ground-truth objects ``gts`` (indices).

        Box IoU of pycocotools here (:func:`pair_ious`; ``crowd[g]`` True: intersection over the
        detection's area); a subclass with masks gives their mask IoU instead, and the matching,
        the rows and the confusion matrix follow it.
        """
        return pair_ious(xywh(self.boxes[dets]), xywh(self.gt_boxes[gts]), crowd)

    def check_classes(self, n_classes: int) -> None:
        """Raise ValueError when a label is not a class index in ``[0, n_classes)``."""
        for what, labels in (("gt_labels", self.gt_labels), ("labels", self.labels)):
            if len(labels) and (labels.min() < 0 or labels.max() >= n_classes):
                raise ValueError(
                    f"{self.image_id}: {what} must be class indices in [0, {n_classes})"
                )


def xywh(boxes: np.ndarray) -> np.ndarray:
    """``x1, y1, x2, y2`` boxes as COCO's ``x, y, width, height`` (float64)."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    return np.column_stack(
        [boxes[:, 0], boxes[:, 1], boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]]
    )


def shown_scores(scores: np.ndarray) -> np.ndarray:
    """Scores rounded to :data:`SCORE_DECIMALS`, as shown and compared with thresholds."""
    return np.round(np.asarray(scores, dtype=np.float64), SCORE_DECIMALS)


def pair_ious(dt_xywh: np.ndarray, gt_xywh: np.ndarray, crowd: np.ndarray) -> np.ndarray:
    """IoU ``(D, G)`` of pycocotools (for a crowd box: intersection over the detection's area)."""
    if len(dt_xywh) == 0 or len(gt_xywh) == 0:
        return np.zeros((len(dt_xywh), len(gt_xywh)), dtype=np.float64)
    ious = mask_utils.iou(dt_xywh, gt_xywh, [int(c) for c in crowd])
    return np.asarray(ious, dtype=np.float64).reshape(len(dt_xywh), len(gt_xywh))


@dataclass
class ImageMatch:
    """The threshold-free matching of one image's detections (see the module's docstring).

    Attributes:
        shown: ``(K,)`` scores rounded to 4 decimals.
        status: ``(K,)`` :data:`STATUS_TP`, :data:`STATUS_FP` or :data:`STATUS_IGNORED`.
        det_gt: ``(K,)`` index of the ground-truth box a detection matched, -1 for none.
        det_iou: ``(K,)`` IoU with that box (NaN for none).
        gt_det: ``(M,)`` index of the highest-scoring detection that matched a box, -1 for none.
    """

    shown: np.ndarray
    status: np.ndarray
    det_gt: np.ndarray
    det_iou: np.ndarray
    gt_det: np.ndarray


def match_image(image: ImageDetections) -> ImageMatch:
    """Match an image's detections to its ground truth, class by class, as COCOeval does.

    Args:
        image: the image's ground truth and detections.

    Returns:
        The status of each detection and the detection found for each ground-truth box.
    """
    k, m = len(image.boxes), len(image.gt_boxes)
    status = np.full(k, STATUS_FP, dtype=np.int8)
    det_gt = np.full(k, -1, dtype=np.int64)
    det_iou = np.full(k, np.nan, dtype=np.float64)
    gt_det = np.full(m, -1, dtype=np.int64)
    threshold = min(IOU_THRESHOLD, 1 - 1e-10)
    for cls in np.unique(image.labels):
        dets = np.flatnonzero(image.labels == cls)
        dets = dets[np.argsort(-image.scores[dets], kind="mergesort")]
        gts = np.flatnonzero(image.gt_labels == cls)
        if len(gts) == 0:
            continue
        gts = gts[np.argsort(image.gt_ignore[gts].astype(np.int8), kind="mergesort")]
        ignore = image.gt_ignore[gts]
        ious = image.overlaps(dets, gts, ignore)
        taken = np.zeros(len(gts), dtype=bool)
        for d_pos, det in enumerate(dets):
            best, found = threshold, -1
            for g_pos in range(len(gts)):
                if taken[g_pos] and not ignore[g_pos]:
                    continue
                if found > -1 and not ignore[found] and ignore[g_pos]:
                    break
                if ious[d_pos, g_pos] < best:
                    continue
                best, found = ious[d_pos, g_pos], g_pos
            if found == -1:
                continue
            taken[found] = True
            gt = gts[found]
            status[det] = STATUS_IGNORED if ignore[found] else STATUS_TP
            det_gt[det] = gt
            det_iou[det] = ious[d_pos, found]
            if gt_det[gt] == -1:
                gt_det[gt] = det
    return ImageMatch(
        shown=shown_scores(image.scores),
        status=status,
        det_gt=det_gt,
        det_iou=det_iou,
        gt_det=gt_det,
    )


def image_counts(
    image: ImageDetections, match: ImageMatch, threshold: float
) -> tuple[int, int, int]:
    """TP, FP and FN of one image at a confidence threshold (scores at 4 decimals ≥ it)."""
    kept = match.shown >= threshold
    tp = int(np.count_nonzero(kept & (match.status == STATUS_TP)))
    fp = int(np.count_nonzero(kept & (match.status == STATUS_FP)))
    return tp, fp, int(np.count_nonzero(~image.gt_ignore)) - tp


def confusion_counts(
    image: ImageDetections, match: ImageMatch, threshold: float, n_classes: int
) -> np.ndarray:
    """The image's detection confusion matrix ``(C + 1, C + 1)``: rows true, columns predicted.

    Ultralytics' convention, class-agnostic: the detections kept at ``threshold`` and the
    ground-truth boxes are paired greedily, highest (plain) IoU first, one to one, among the pairs
    with IoU ≥ 0.5. A pair counts at (true class, predicted class), an unpaired box at (its class,
    background), an unpaired detection at (background, its class). Ignored boxes, and the
    detections the same-class matching gave to one (status ``ignored``), are left out.

    Args:
        image: the image's ground truth and detections.
        match: its matching (:func:`match_image`).
        threshold: the confidence threshold.
        n_classes: the number of classes (index ``n_classes`` is the background).

    Returns:
        Integer counts, the background last on both axes.
    """
    matrix = np.zeros((n_classes + 1, n_classes + 1), dtype=np.int64)
    dets = np.flatnonzero((match.shown >= threshold) & (match.status != STATUS_IGNORED))
    dets = dets[np.argsort(-image.scores[dets], kind="mergesort")]
    gts = np.flatnonzero(~image.gt_ignore)
    ious = image.overlaps(dets, gts, np.zeros(len(gts), dtype=bool))
    d_pos, g_pos = np.nonzero(ious >= IOU_THRESHOLD)
    order = np.argsort(-ious[d_pos, g_pos], kind="mergesort")
    det_used = np.zeros(len(dets), dtype=bool)
    gt_used = np.zeros(len(gts), dtype=bool)
    for d, g in zip(d_pos[order].tolist(), g_pos[order].tolist(), strict=True):
        if det_used[d] or gt_used[g]:
            continue
        det_used[d] = gt_used[g] = True
        matrix[image.gt_labels[gts[g]], image.labels[dets[d]]] += 1
    for g in np.flatnonzero(~gt_used):
        matrix[image.gt_labels[gts[g]], n_classes] += 1
    for d in np.flatnonzero(~det_used):
        matrix[n_classes, image.labels[dets[d]]] += 1
    return matrix


def _box(box: np.ndarray) -> list[float]:
    return [round(float(v), BOX_DECIMALS) for v in box]


def image_row(
    image: ImageDetections,
    match: ImageMatch,
    classes: Sequence[str],
    threshold: float,
    floor: float = DISPLAY_FLOOR,
    max_shown: int = MAX_SHOWN,
    truth_extra: Callable[[int], Mapping[str, Any]] | None = None,
    prediction_extra: Callable[[int], Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    """The row of one image: its counts at ``threshold`` and what to draw at any threshold.

    Args:
        image: the image's ground truth and detections.
        match: its matching (:func:`match_image`).
        classes: the class names.
        threshold: the confidence threshold of ``tp``, ``fp`` and ``fn``.
        floor: the lowest score listed (lowered to ``threshold`` when that is lower).
        max_shown: the most detections listed.
        truth_extra: more keys of ``truth[g]``, by ground-truth index (e.g. its mask's shape).
        prediction_extra: more keys of a listed detection, by detection index (called only for
            the detections listed).

    Returns:
        ``image_id``, ``width``, ``height``, ``objects`` (ground-truth boxes not ignored), ``tp``,
        ``fp``, ``fn``, ``errors`` (fp + fn), ``max_score`` (None without detection),
        ``display_floor`` (:func:`counts_at` is exact from this threshold up), ``truth`` (every
        ground-truth box: ``box``, ``class``, ``matched_score``, and ``ignore: True`` for an
        ignored one) and ``predictions`` (the detections scoring at least ``display_floor``,
        highest first: ``box``, ``class``, ``score``, ``match``, ``iou``, ``matched_truth``: the
        index in ``truth`` of the box it matched, or None).
    """
    tp, fp, fn = image_counts(image, match, threshold)
    display_floor = round(min(floor, threshold), SCORE_DECIMALS)
    order = np.argsort(-image.scores, kind="mergesort")
    listed = order[match.shown[order] >= display_floor]
    if len(listed) > max_shown:
        # Keep whole ties: every detection above the first one left out, none of its score.
        dropped = float(match.shown[listed[max_shown]])
        listed = listed[match.shown[listed] > dropped]
        display_floor = round(dropped + 10.0**-SCORE_DECIMALS, SCORE_DECIMALS)
    names = list(classes)
    truth: list[dict[str, Any]] = []
    for g in range(len(image.gt_boxes)):
        det = int(match.gt_det[g])
        entry: dict[str, Any] = {
            "box": _box(image.gt_boxes[g]),
            "class": names[int(image.gt_labels[g])],
            "matched_score": float(match.shown[det]) if det >= 0 else None,
        }
        if image.gt_ignore[g]:
            entry["ignore"] = True
        if truth_extra is not None:
            entry.update(truth_extra(g))
        truth.append(entry)
    predictions: list[dict[str, Any]] = []
    for d in listed.tolist():
        gt = int(match.det_gt[d])
        prediction: dict[str, Any] = {
            "box": _box(image.boxes[d]),
            "class": names[int(image.labels[d])],
            "score": float(match.shown[d]),
            "match": STATUS_NAMES[int(match.status[d])],
            "iou": round(float(match.det_iou[d]), 4) if gt >= 0 else None,
            "matched_truth": gt if gt >= 0 else None,
        }
        if prediction_extra is not None:
            prediction.update(prediction_extra(d))
        predictions.append(prediction)
    return {
        "image_id": image.image_id,
        "width": image.width,
        "height": image.height,
        "objects": int(np.count_nonzero(~image.gt_ignore)),
        "tp": tp,
        "fp": fp,
        "fn": fn,
        "errors": fp + fn,
        "max_score": float(match.shown.max()) if len(match.shown) else None,
        "display_floor": display_floor,
        "truth": truth,
        "predictions": predictions,
    }


def counts_at(row: dict[str, Any], threshold: float) -> tuple[int, int, int]:
    """TP, FP and FN of an image at ``threshold``, from its row alone.

    Exact for every ``threshold >= row["display_floor"]`` (see the module's docstring): the
    listed detections with ``score >= threshold`` are kept with their status, and a box not
    ignored is found iff its ``matched_score`` is at least ``threshold``.

    Args:
        row: a row of :func:`image_row`.
        threshold: the confidence threshold.

    Returns:
        ``(tp, fp, fn)``.
    """
    tp = fp = 0
    for prediction in row["predictions"]:
        if prediction["score"] >= threshold:
            if prediction["match"] == "tp":
                tp += 1
            elif prediction["match"] == "fp":
                fp += 1
    fn = sum(
        1
        for box in row["truth"]
        if not box.get("ignore")
        and (box["matched_score"] is None or box["matched_score"] < threshold)
    )
    return tp, fp, fn
