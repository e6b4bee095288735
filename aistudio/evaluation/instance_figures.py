"""The figures of an instance segmentation evaluation: COCO mask and box AP, figures at a threshold.

Coordinates are pixels of the original (upright) image; masks are pycocotools' compressed RLEs of
the image's size. Conventions, for whoever reads the numbers:

* ``mask_map`` (mAP@[.50:.95] of the masks, the primary figure), ``mask_map50``, ``mask_map75``
  and ``mask_mar100`` are ``COCOeval.stats`` (``segm``) of pycocotools itself, on a COCO dataset
  built from the images: ground-truth masks as the RLEs given, ``area`` their pixel count,
  ``iscrowd`` (and ``ignore``) from ``gt_ignore``; detections as their RLEs and scores.
  ``box_map``, ``box_map50`` and ``box_map75`` are ``COCOeval.stats`` (``bbox``) on the same
  images with the boxes given (as :mod:`~aistudio.evaluation.detection_figures` computes them).
  A figure pycocotools gives as -1 is None; with no object in any image, all are None and the
  report's ``notes`` say so; without any detection the figures are 0 where there are objects.
* ``precision``, ``recall``, ``f1``, the per-image rows and the confusion matrix are those of
  :mod:`~aistudio.evaluation.detection_figures`, with one difference: detections are matched to
  ground truth by **mask** IoU (``pycocotools.mask.iou``, crowd objects by intersection over the
  detection's area), COCO's greedy matching at IoU 0.5. Two masks whose boxes overlap but whose
  pixels do not are not a match.
* The threshold, when not given, is the F1-optimal one of these images (as detection's).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import numpy as np
from pycocotools import mask as mask_utils

from aistudio.evaluation.detection_figures import (
    DetectionAccumulator,
    DetectionFigures,
    coco_evaluation,
    coco_ground_truth,
    coco_results,
)
from aistudio.evaluation.detection_matching import (
    ImageDetections,
    ImageMatch,
    counts_at,
    image_row,
    match_image,
)
from aistudio.evaluation.mask_outlines import decode_rle, outline_polygons, rle_of

__all__ = [
    "METRIC_NAMES",
    "ImageInstances",
    "InstanceAccumulator",
    "InstanceFigures",
    "counts_at",
    "f1_optimal_threshold",
    "instance_figures",
]

METRIC_NAMES: tuple[str, ...] = (
    "mask_map",
    "mask_map50",
    "mask_map75",
    "box_map",
    "box_map50",
    "box_map75",
    "mask_mar100",
    "precision",
    "recall",
    "f1",
    "confidence_threshold",
)
"""Every metric, in display order (``mask_map`` first: the primary one)."""
_STATS = {"map": 0, "map50": 1, "map75": 2, "mar100": 8}
"""Index in ``COCOeval.stats`` of the COCO figures reported."""
SHAPE_KEYS = ("polygons", "mask")
"""The keys of a ground-truth object's shape (what the page draws)."""

InstanceFigures = DetectionFigures
"""The figures of an instance segmentation evaluation: ``metrics``, ``rows``, ``report``."""


def _compressed(rle: Any, height: int, width: int, what: str) -> dict[str, Any]:
    """A compressed RLE ``{"size": [h, w], "counts": str}`` of the image's size."""
    if not isinstance(rle, Mapping) or "size" not in rle or "counts" not in rle:
        raise ValueError(f"{what} must be a COCO RLE with 'size' and 'counts'")
    size = [int(v) for v in rle["size"]]
    if size != [height, width]:
        raise ValueError(
            f"{what} has size {size} (height, width) but the image is [{height}, {width}]"
        )
    counts = rle["counts"]
    if isinstance(counts, list):  # uncompressed RLE
        counts = mask_utils.frPyObjects({"size": size, "counts": counts}, height, width)["counts"]
    if isinstance(counts, bytes):
        counts = counts.decode("ascii")
    if not isinstance(counts, str):
        raise ValueError(f"{what}: counts must be a string (compressed) or a list of runs")
    return {"size": size, "counts": counts}


def _shape(shape: Any, what: str) -> dict[str, Any]:
    if not isinstance(shape, Mapping) or not any(k in shape for k in SHAPE_KEYS):
        raise ValueError(f"{what} must be a dict with 'polygons' or 'mask'")
    out: dict[str, Any] = {}
    if "polygons" in shape:
        out["polygons"] = [[float(v) for v in ring] for ring in shape["polygons"]]
    if "mask" in shape:
        out["mask"] = dict(shape["mask"])
    return out


@dataclass
class ImageInstances(ImageDetections):
    """The ground truth and the detections of one image, with their masks.

    Everything of :class:`~aistudio.evaluation.detection_matching.ImageDetections`, plus:

    Attributes:
        gt_masks: one compressed RLE per ground-truth object (same order as ``gt_boxes``), of
            the image's size; uncompressed RLEs and bytes counts are accepted and converted.
        gt_shapes: per ground-truth object what the page draws: ``{"polygons": [[x, y, ...]]}``
            or ``{"mask": {"sha256": ..., "ext": "png"}}``.
        masks: one compressed RLE per detection (same order as ``boxes``).

    Matching uses the masks (:meth:`overlaps`); the boxes serve box AP and the rows' ``box``.

    Raises:
        ValueError: what :class:`ImageDetections` refuses, counts of masks or shapes that do
            not match the boxes, an RLE of another size than the image's.
    """

    gt_masks: list[dict[str, Any]] = field(default_factory=list)
    gt_shapes: list[dict[str, Any]] = field(default_factory=list)
    masks: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        super().__post_init__()
        m, k = len(self.gt_boxes), len(self.boxes)
        if len(self.gt_masks) != m or len(self.gt_shapes) != m:
            raise ValueError(
                f"{self.image_id}: {m} gt_boxes, {len(self.gt_masks)} gt_masks and "
                f"{len(self.gt_shapes)} gt_shapes"
            )
        if len(self.masks) != k:
            raise ValueError(f"{self.image_id}: {k} boxes and {len(self.masks)} masks")
        h, w = self.height, self.width
        self.gt_masks = [
            _compressed(r, h, w, f"{self.image_id}: gt_masks[{i}]")
            for i, r in enumerate(self.gt_masks)
        ]
        self.masks = [
            _compressed(r, h, w, f"{self.image_id}: masks[{i}]") for i, r in enumerate(self.masks)
        ]
        self.gt_shapes = [
            _shape(s, f"{self.image_id}: gt_shapes[{i}]") for i, s in enumerate(self.gt_shapes)
        ]

    def overlaps(self, dets: np.ndarray, gts: np.ndarray, crowd: np.ndarray) -> np.ndarray:
        """Mask IoU ``(D, G)`` of pycocotools (a crowd object: intersection over the detection)."""
        if len(dets) == 0 or len(gts) == 0:
            return np.zeros((len(dets), len(gts)), dtype=np.float64)
        ious = mask_utils.iou(
            [self.masks[int(d)] for d in dets],
            [self.gt_masks[int(g)] for g in gts],
            [int(c) for c in crowd],
        )
        return np.asarray(ious, dtype=np.float64).reshape(len(dets), len(gts))

    @classmethod
    def from_masks(
        cls,
        image_id: str,
        width: int,
        height: int,
        gt_masks: Sequence[np.ndarray] = (),
        gt_labels: Sequence[int] = (),
        masks: Sequence[np.ndarray] = (),
        scores: Sequence[float] = (),
        labels: Sequence[int] = (),
        gt_ignore: Sequence[bool] | None = None,
        gt_boxes: Sequence[Sequence[float]] | None = None,
        boxes: Sequence[Sequence[float]] | None = None,
        gt_shapes: Sequence[Mapping[str, Any]] | None = None,
    ) -> ImageInstances:
        """An image from binary masks (``H x W``); boxes default to the masks' bounding boxes.

        Args:
            image_id: the image's id.
            width: the image's width in pixels.
            height: the image's height in pixels.
            gt_masks: one binary mask per ground-truth object.
            gt_labels: class index of each ground-truth object.
            masks: one binary mask per detection.
            scores: confidence of each detection.
            labels: class index of each detection.
            gt_ignore: whether each ground-truth object is a crowd region (default none).
            gt_boxes: the ground-truth boxes ``[x1, y1, x2, y2]`` (default: the masks').
            boxes: the detected boxes (default: the masks').
            gt_shapes: what the page draws per object (default: the masks' outline polygons).

        Returns:
            The image's instances.
        """
        gt_rles = [rle_of(m) for m in gt_masks]
        rles = [rle_of(m) for m in masks]
        ignore = [False] * len(gt_rles) if gt_ignore is None else list(gt_ignore)
        shapes = (
            [{"polygons": outline_polygons(m)} for m in gt_masks]
            if gt_shapes is None
            else [dict(s) for s in gt_shapes]
        )
        return cls(
            image_id=image_id,
            width=width,
            height=height,
            gt_boxes=np.asarray(gt_boxes if gt_boxes is not None else _mask_boxes(gt_rles)),
            gt_labels=np.asarray(gt_labels, dtype=np.int64),
            gt_ignore=np.asarray(ignore, dtype=bool),
            boxes=np.asarray(boxes if boxes is not None else _mask_boxes(rles)),
            scores=np.asarray(scores, dtype=np.float64),
            labels=np.asarray(labels, dtype=np.int64),
            gt_masks=gt_rles,
            gt_shapes=shapes,
            masks=rles,
        )


def _mask_boxes(rles: list[dict[str, Any]]) -> np.ndarray:
    """The bounding boxes ``x1, y1, x2, y2`` of RLEs (pixel edges; 0, 0, 0, 0 when empty)."""
    if not rles:
        return np.zeros((0, 4), dtype=np.float64)
    boxes = np.asarray(mask_utils.toBbox(rles), dtype=np.float64).reshape(-1, 4)
    return np.column_stack([boxes[:, :2], boxes[:, :2] + boxes[:, 2:]])


# ---------------------------------------------------------------------- COCO (pycocotools)
def coco_segm_ground_truth(
    images: Sequence[ImageInstances], classes: Sequence[str]
) -> dict[str, Any]:
    """The COCO ground truth of the images with their masks (``segmentation``, mask ``area``)."""
    dataset = coco_ground_truth(images, classes)
    annotations = iter(dataset["annotations"])
    for image in images:
        for rle in image.gt_masks:
            annotation = next(annotations)
            annotation["segmentation"] = rle
            annotation["area"] = float(mask_utils.area(rle))
    return dataset


def coco_segm_results(images: Sequence[ImageInstances]) -> list[dict[str, Any]]:
    """The COCO results of the images' masks (no ``bbox``: pycocotools derives it)."""
    results: list[dict[str, Any]] = []
    for image_id, image in enumerate(images, start=1):
        for rle, score, label in zip(
            image.masks, image.scores.tolist(), image.labels.tolist(), strict=True
        ):
            results.append(
                {
                    "image_id": image_id,
                    "category_id": label + 1,
                    "segmentation": rle,
                    "score": score,
                }
            )
    return results


class InstanceAccumulator(DetectionAccumulator):
    """Collects the images of an instance segmentation pass and computes their figures.

    Each image is matched by mask IoU when added; COCOeval (``segm`` and ``bbox``) runs once, in
    :meth:`compute`.

    Args:
        classes: the class names, in label order.

    Raises:
        ValueError: no class, or a name given twice.
    """

    def add(self, image: ImageDetections) -> None:
        """Add one image (its arrays are copied).

        Raises:
            ValueError: an image without masks (not an :class:`ImageInstances`), a label that
                is not a class index.
        """
        if not isinstance(image, ImageInstances):
            raise ValueError(
                f"{image.image_id}: an instance segmentation evaluation needs ImageInstances "
                "(with masks), not ImageDetections"
            )
        image.check_classes(len(self.classes))
        copy = dataclasses.replace(
            image,
            gt_boxes=image.gt_boxes.copy(),
            gt_labels=image.gt_labels.copy(),
            gt_ignore=image.gt_ignore.copy(),
            boxes=image.boxes.copy(),
            scores=image.scores.copy(),
            labels=image.labels.copy(),
        )
        self._images.append(copy)
        self._matches.append(match_image(copy))

    def row(self, image: ImageDetections, match: ImageMatch, value: float) -> dict[str, Any]:
        """Detection's row, matched by mask IoU, with the truth's shapes and the outlines."""
        instances = cast(ImageInstances, image)  # add() takes nothing else
        return image_row(
            instances,
            match,
            self.classes,
            value,
            truth_extra=lambda g: instances.gt_shapes[g],
            prediction_extra=lambda d: {
                "polygons": outline_polygons(decode_rle(instances.masks[d]))
            },
        )

    def compute(self, threshold: float | None = None, with_rows: bool = True) -> InstanceFigures:
        """Metrics, rows and report of the images added (see :func:`instance_figures`);
        without ``with_rows`` the rows are left empty (their outlines cost about 1 ms a
        detection: the training's validation needs only the metrics).

        Raises:
            ValueError: no image, or a threshold that is not a finite number.
        """
        if not self._images:
            raise ValueError("no images to evaluate")
        images = cast(list[ImageInstances], self._images)
        curve = self.f1_curve()
        value, source = self.resolve_threshold(threshold, curve)
        segm = coco_evaluation(
            coco_segm_ground_truth(images, self.classes),
            coco_segm_results(images),
            self.classes,
            "segm",
        )
        bbox = coco_evaluation(
            coco_ground_truth(images, self.classes), coco_results(images), self.classes, "bbox"
        )
        counts = self.counts_at_threshold(value)
        metrics: dict[str, float | None] = {
            "mask_map": segm["stats"][_STATS["map"]],
            "mask_map50": segm["stats"][_STATS["map50"]],
            "mask_map75": segm["stats"][_STATS["map75"]],
            "box_map": bbox["stats"][_STATS["map"]],
            "box_map50": bbox["stats"][_STATS["map50"]],
            "box_map75": bbox["stats"][_STATS["map75"]],
            "mask_mar100": segm["stats"][_STATS["mar100"]],
            **counts.micro,
            "confidence_threshold": value,
        }
        per_class = [
            {
                "class": name,
                "mask_ap": segm["ap"][k],
                "mask_ap50": segm["ap50"][k],
                "mask_ap75": segm["ap75"][k],
                "box_ap": bbox["ap"][k],
                "box_ap50": bbox["ap50"][k],
                "box_ap75": bbox["ap75"][k],
                **self.class_counts(counts, k),
            }
            for k, name in enumerate(self.classes)
        ]
        rows = (
            [
                self.row(image, match, value)
                for image, match in zip(self._images, self._matches, strict=True)
            ]
            if with_rows
            else []
        )
        report: dict[str, Any] = {
            "task": "instance_segmentation",
            "metrics": metrics,
            "per_class": per_class,
            "pr_curves": segm["pr_curves"],
            "pr_curve_mean": segm["pr_curve_mean"],
            "matching": "mask_iou",
            **self.shared_report(value, source, curve, counts),
        }
        return InstanceFigures(metrics=metrics, rows=rows, report=report)


def f1_optimal_threshold(images: Iterable[ImageInstances], classes: Sequence[str]) -> float:
    """The confidence threshold maximising micro F1 (mask IoU 0.5) on these images.

    Candidates and ties as :func:`aistudio.evaluation.detection_figures.f1_optimal_threshold`.

    Args:
        images: the images (typically the validation subset).
        classes: the class names, in label order.

    Returns:
        The threshold.
    """
    accumulator = InstanceAccumulator(classes)
    accumulator.extend(images)
    return accumulator.f1_optimal_threshold()


def instance_figures(
    images: Iterable[ImageInstances], classes: Sequence[str], threshold: float | None = None
) -> InstanceFigures:
    """Metrics, per-image rows and report of an instance segmentation evaluation.

    Args:
        images: one per image, in the order of the evaluation.
        classes: the class names, in label order.
        threshold: the confidence threshold of the counts (precision, recall, F1, per-image
            counts, confusion matrix); None for the F1-optimal one of these images (pass the
            validation subset's one when evaluating test).

    Returns:
        ``metrics``: :data:`METRIC_NAMES` in order (see the module's docstring).

        ``rows``: detection's rows (see
        :func:`~aistudio.evaluation.detection_figures.detection_figures`), matched by mask IoU
        (``iou`` is the mask IoU), where each ``truth[i]`` also carries its shape (``polygons``
        or ``mask``, from ``gt_shapes``) and each prediction ``polygons``: its mask's outline in
        image pixels (:func:`~aistudio.evaluation.mask_outlines.outline_polygons`).

        ``report``: detection's report with ``task`` ``"instance_segmentation"``, ``matching``
        ``"mask_iou"``, ``per_class`` rows of ``class``, ``mask_ap``, ``mask_ap50``,
        ``mask_ap75``, ``box_ap``, ``box_ap50``, ``box_ap75``, ``precision``, ``recall``,
        ``f1``, ``objects``, ``detections``, ``tp``, ``fp``, ``fn``, and ``pr_curves`` /
        ``pr_curve_mean`` of the masks (``segm``; keys ``ap50`` / ``map50`` as detection's).

    Raises:
        ValueError: no image, an image without masks, a label outside the classes, a threshold
            that is not finite.
    """
    accumulator = InstanceAccumulator(classes)
    accumulator.extend(images)
    return accumulator.compute(threshold)
