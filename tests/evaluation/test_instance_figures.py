"""Instance segmentation figures at a threshold: mask IoU matching, rows, F1-optimal threshold."""

from __future__ import annotations

import numpy as np
import pytest

from aistudio.evaluation.detection_figures import (
    ImageDetections,
    detection_figures,
)
from aistudio.evaluation.detection_figures import (
    f1_optimal_threshold as box_f1_optimal_threshold,
)
from aistudio.evaluation.instance_figures import (
    METRIC_NAMES,
    ImageInstances,
    counts_at,
    f1_optimal_threshold,
    instance_figures,
)
from aistudio.evaluation.mask_outlines import rle_of

from .support import assert_plain_json
from .test_mask_outlines import iou, rasterise

CLASSES = ["a", "b"]
SIZE = 64
SHA = "ab" * 32


def block(y1: int, y2: int, x1: int, x2: int) -> np.ndarray:
    mask = np.zeros((SIZE, SIZE), dtype=bool)
    mask[y1:y2, x1:x2] = True
    return mask


def ell(x: int, y: int, size: int = 20, width: int = 4) -> np.ndarray:
    """An L: the left and top strips of the box x..x+size, y..y+size."""
    return block(y, y + size, x, x + width) | block(y, y + width, x, x + size)


def as_boxes(image: ImageInstances) -> ImageDetections:
    return ImageDetections(
        image_id=image.image_id,
        width=image.width,
        height=image.height,
        gt_boxes=image.gt_boxes,
        gt_labels=image.gt_labels,
        gt_ignore=image.gt_ignore,
        boxes=image.boxes,
        scores=image.scores,
        labels=image.labels,
    )


def hand_case() -> ImageInstances:
    """A TP at mask IoU 0.8, a mask inside an L's box but off its pixels (box IoU 0.64, mask IoU
    0: FP, the L missed), a detection in a crowd region (ignored), a spurious one, and one under
    the display floor."""
    inside_l = block(34, 50, 34, 50)
    return ImageInstances.from_masks(
        "hand",
        SIZE,
        SIZE,
        gt_masks=[block(10, 20, 10, 20), ell(30, 30), block(0, 8, 40, 64)],
        gt_labels=[0, 0, 1],
        gt_ignore=[False, False, True],
        gt_shapes=[
            {"polygons": [[10.0, 10.0, 20.0, 10.0, 20.0, 20.0, 10.0, 20.0]]},
            {"mask": {"sha256": SHA, "ext": "png"}},
            {"polygons": [[40.0, 0.0, 64.0, 0.0, 64.0, 8.0, 40.0, 8.0]]},
        ],
        masks=[
            block(10, 18, 10, 20),
            inside_l,
            block(1, 6, 45, 55),
            block(55, 60, 0, 5),
            block(60, 62, 60, 62),
        ],
        scores=[0.9, 0.8, 0.7, 0.6, 0.03],
        labels=[0, 0, 1, 1, 0],
    )


def test_counts_by_mask_iou_on_a_hand_computed_case() -> None:
    figures = instance_figures([hand_case()], CLASSES, threshold=0.5)
    (row,) = figures.rows
    assert (row["objects"], row["tp"], row["fp"], row["fn"], row["errors"]) == (2, 1, 2, 1, 3)
    predictions = row["predictions"]
    assert [p["score"] for p in predictions] == [0.9, 0.8, 0.7, 0.6]  # 0.03: under the floor
    assert [p["match"] for p in predictions] == ["tp", "fp", "ignored", "fp"]
    assert [p["iou"] for p in predictions] == [0.8, None, 1.0, None]
    assert [p["matched_truth"] for p in predictions] == [0, None, 2, None]
    assert [t["matched_score"] for t in row["truth"]] == [0.9, None, 0.7]
    assert figures.metrics["precision"] == pytest.approx(1 / 3)
    assert figures.metrics["recall"] == pytest.approx(1 / 2)
    assert figures.metrics["f1"] == pytest.approx(2 / 5)
    assert figures.report["confusion"]["matrix"] == [[1, 0, 1], [0, 0, 0], [1, 1, 0]]
    a = figures.report["per_class"][0]
    assert (a["tp"], a["fp"], a["fn"], a["detections"]) == (1, 1, 1, 2)
    # By boxes the detection off the L's pixels would be a TP: box AP50 1, mask AP50 about 0.5.
    assert a["box_ap50"] == pytest.approx(1.0)
    assert a["mask_ap50"] == pytest.approx(51 / 101)
    boxes = detection_figures([as_boxes(hand_case())], CLASSES, threshold=0.5).rows[0]
    assert [p["match"] for p in boxes["predictions"]][:2] == ["tp", "tp"]
    assert figures.report["task"] == "instance_segmentation"
    assert list(figures.metrics) == list(METRIC_NAMES)


def test_rows_carry_the_shapes_and_the_outlines() -> None:
    image = hand_case()
    (row,) = instance_figures([image], CLASSES, threshold=0.5).rows
    assert row["truth"][0]["polygons"] == [[10.0, 10.0, 20.0, 10.0, 20.0, 20.0, 10.0, 20.0]]
    assert row["truth"][1]["mask"] == {"sha256": SHA, "ext": "png"}
    assert "polygons" not in row["truth"][1]
    assert row["truth"][2]["ignore"] is True
    masks = [block(10, 18, 10, 20), block(34, 50, 34, 50), block(1, 6, 45, 55)]
    for prediction, mask in zip(row["predictions"], masks, strict=False):
        rings = prediction["polygons"]
        assert rings and all(len(r) % 2 == 0 and 6 <= len(r) <= 2 * 48 for r in rings)
        assert iou(rasterise(rings, SIZE, SIZE), mask) >= 0.95
    assert_plain_json(row, "row")


def test_counts_at_any_threshold_from_the_rows() -> None:
    image = hand_case()
    rows = instance_figures([image], CLASSES, threshold=0.05).rows
    for threshold in (0.05, 0.3, 0.65, 0.75, 0.85, 0.95):
        expected = instance_figures([image], CLASSES, threshold=threshold).rows[0]
        assert counts_at(rows[0], threshold) == (expected["tp"], expected["fp"], expected["fn"])


def test_f1_optimal_threshold_follows_the_mask_matching() -> None:
    """Three objects; F1 by mask IoU is best (0.8) for thresholds in (0.7, 0.8]; by box IoU the
    0.7 detection (inside the L's box, off its pixels) would be a TP and (0.6, 0.7] best."""
    image = ImageInstances.from_masks(
        "f1",
        SIZE,
        SIZE,
        gt_masks=[block(2, 12, 2, 12), block(2, 12, 40, 50), ell(30, 30)],
        gt_labels=[0, 0, 0],
        masks=[
            block(2, 12, 2, 12),
            block(2, 12, 40, 50),
            block(34, 50, 34, 50),
            block(55, 62, 2, 9),
            ell(30, 30),
        ],
        scores=[0.9, 0.8, 0.7, 0.6, 0.3],
        labels=[0, 0, 0, 0, 0],
    )
    threshold = f1_optimal_threshold([image], CLASSES)
    assert 0.7 < threshold <= 0.8
    figures = instance_figures([image], CLASSES, threshold=threshold)
    assert figures.metrics["f1"] == pytest.approx(0.8)
    best = max(v for v in figures.report["f1_curve"]["f1"] if v is not None)
    assert best == pytest.approx(0.8)
    assert figures.report["threshold"]["source"] == "given"
    assert instance_figures([image], CLASSES).metrics["confidence_threshold"] == threshold
    assert 0.6 < box_f1_optimal_threshold([as_boxes(image)], CLASSES) <= 0.7


def test_report_is_plain_json_with_mask_and_box_columns() -> None:
    empty = ImageInstances.from_masks("empty", SIZE, SIZE)
    figures = instance_figures([hand_case(), empty], CLASSES)
    assert_plain_json(figures.report, "report")
    assert_plain_json(figures.rows, "rows")
    keys = {"class", "mask_ap", "mask_ap50", "mask_ap75", "box_ap", "box_ap50", "box_ap75"}
    assert keys <= set(figures.report["per_class"][0])
    assert figures.rows[1]["predictions"] == [] and figures.rows[1]["max_score"] is None
    assert figures.report["totals"]["images"] == 2


def test_bad_input_is_refused() -> None:
    with pytest.raises(ValueError, match="ImageInstances"):
        instance_figures([as_boxes(hand_case())], CLASSES)
    with pytest.raises(ValueError, match="size"):
        ImageInstances.from_masks(
            "x", SIZE, SIZE, gt_masks=[np.ones((10, 10), dtype=bool)], gt_labels=[0]
        )
    with pytest.raises(ValueError, match="masks"):
        ImageInstances(
            image_id="x",
            width=SIZE,
            height=SIZE,
            gt_boxes=np.zeros((0, 4)),
            gt_labels=[],
            gt_ignore=[],
            boxes=[[0, 0, 1, 1]],
            scores=[0.5],
            labels=[0],
        )
    with pytest.raises(ValueError, match="polygons"):
        ImageInstances(
            image_id="x",
            width=SIZE,
            height=SIZE,
            gt_boxes=[[0, 0, 1, 1]],
            gt_labels=[0],
            gt_ignore=[False],
            boxes=np.zeros((0, 4)),
            scores=[],
            labels=[],
            gt_masks=[rle_of(block(0, 1, 0, 1))],
            gt_shapes=[{}],
        )
    with pytest.raises(ValueError, match="class"):
        instance_figures([hand_case()], ["a"])
    with pytest.raises(ValueError, match="no images"):
        instance_figures([], CLASSES)
