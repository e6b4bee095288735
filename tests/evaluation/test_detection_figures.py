"""Detection figures at a threshold, worked by hand; the rows' threshold independence; JSON."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aistudio.evaluation.detection_figures import (
    METRIC_NAMES,
    DetectionAccumulator,
    ImageDetections,
    counts_at,
    detection_figures,
    f1_optimal_threshold,
)
from aistudio.evaluation.detection_matching import (
    ImageMatch,
    image_counts,
    image_row,
    match_image,
    shown_scores,
)
from tests.evaluation.support import assert_plain_json

CLASSES = ["cat", "dog"]


def image(
    gt: list[tuple[list[float], int]] | None = None,
    dets: list[tuple[list[float], float, int]] | None = None,
    ignore: list[bool] | None = None,
    image_id: str = "a",
) -> ImageDetections:
    gt, dets = gt or [], dets or []
    return ImageDetections.from_lists(
        image_id,
        100,
        80,
        gt_boxes=[g[0] for g in gt],
        gt_labels=[g[1] for g in gt],
        boxes=[d[0] for d in dets],
        scores=[d[1] for d in dets],
        labels=[d[2] for d in dets],
        gt_ignore=ignore,
    )


def recount(im: ImageDetections, threshold: float) -> tuple[int, int, int]:
    """TP, FP, FN at ``threshold`` by matching from scratch only the detections it keeps."""
    keep = shown_scores(im.scores) >= threshold
    kept = ImageDetections(
        im.image_id,
        im.width,
        im.height,
        im.gt_boxes,
        im.gt_labels,
        im.gt_ignore,
        im.boxes[keep],
        im.scores[keep],
        im.labels[keep],
    )
    match = match_image(kept)
    return image_counts(kept, match, -np.inf)


# ---------------------------------------------------------------------- hand-worked counts
SWAP = image(
    gt=[([0, 0, 10, 10], 0), ([20, 0, 30, 10], 0)],
    dets=[
        ([0, 0, 10, 10], 0.9, 0),  # TP
        ([0, 0, 10, 10], 0.8, 0),  # FP: its box is taken
        ([20, 0, 30, 10], 0.7, 1),  # FP: wrong class
    ],
)


@pytest.mark.parametrize(
    ("threshold", "expected"), [(0.5, (1, 2, 1)), (0.85, (1, 0, 1)), (0.95, (0, 0, 2))]
)
def test_tp_fp_fn_by_hand(threshold: float, expected: tuple[int, int, int]) -> None:
    figures = detection_figures([SWAP], CLASSES, threshold=threshold)
    row = figures.rows[0]
    assert (row["tp"], row["fp"], row["fn"]) == expected
    assert row["errors"] == expected[1] + expected[2]
    assert row["objects"] == 2


def test_precision_recall_f1_at_a_threshold() -> None:
    figures = detection_figures([SWAP, image(image_id="empty")], CLASSES, threshold=0.5)
    m = figures.metrics
    assert m["precision"] == pytest.approx(1 / 3)
    assert m["recall"] == pytest.approx(1 / 2)
    assert m["f1"] == pytest.approx(2 / (2 + 2 + 1))
    assert m["confidence_threshold"] == 0.5
    cat, dog = figures.report["per_class"]
    assert (cat["tp"], cat["fp"], cat["fn"], cat["objects"], cat["detections"]) == (1, 1, 1, 2, 2)
    assert cat["precision"] == 0.5 and cat["recall"] == 0.5
    assert (dog["tp"], dog["fp"], dog["objects"], dog["detections"]) == (0, 1, 0, 1)
    assert dog["precision"] == 0.0 and dog["recall"] is None and dog["f1"] == 0.0
    assert figures.report["threshold"] == {"value": 0.5, "source": "given"}


def test_iou_of_exactly_one_half_matches() -> None:
    gt = [([0, 0, 10, 10], 0), ([50, 0, 60, 10], 0)]
    dets = [([0, 0, 10, 20], 0.9, 0), ([50, 0, 60, 21], 0.9, 0)]  # IoU 0.5 and 100/210
    row = detection_figures([image(gt, dets)], CLASSES, threshold=0.5).rows[0]
    assert [p["match"] for p in row["predictions"]] == ["tp", "fp"]
    assert row["predictions"][0]["iou"] == 0.5


def test_ignored_boxes_are_neither_tp_nor_fn_and_their_detections_not_fp() -> None:
    gt = [([0, 0, 10, 10], 0), ([0, 0, 10, 10], 0), ([40, 40, 60, 60], 1)]
    dets = [
        ([0, 0, 10, 10], 0.9, 0),  # TP: the regular box first
        ([0, 0, 10, 10], 0.8, 0),  # on the ignored box
        ([2, 2, 8, 8], 0.7, 0),  # inside the crowd region: IoU = 1 for pycocotools
        ([45, 45, 55, 55], 0.6, 1),  # on the ignored dog box (crowd IoU 1)
    ]
    figures = detection_figures([image(gt, dets, ignore=[False, True, True])], CLASSES, 0.5)
    row = figures.rows[0]
    assert (row["tp"], row["fp"], row["fn"], row["objects"]) == (1, 0, 0, 1)
    assert [p["match"] for p in row["predictions"]] == ["tp", "ignored", "ignored", "ignored"]
    assert [p["matched_truth"] for p in row["predictions"]] == [0, 1, 1, 2]
    assert [t.get("ignore", False) for t in row["truth"]] == [False, True, True]
    assert [t["matched_score"] for t in row["truth"]] == [0.9, 0.8, 0.6]
    assert figures.metrics["precision"] == 1.0 and figures.metrics["recall"] == 1.0
    dog = figures.report["per_class"][1]
    assert dog["objects"] == 0 and dog["fp"] == 0 and dog["precision"] is None
    assert figures.report["confusion"]["matrix"] == [[1, 0, 0], [0, 0, 0], [0, 0, 0]]


def test_rows_fields() -> None:
    gt = [([1.04, 2.06, 10.0, 10.0], 0)]
    dets = [([1.0, 2.0, 10.0, 10.0], 0.876543, 0), ([50, 50, 60, 60], 0.04, 1)]
    row = detection_figures([image(gt, dets)], CLASSES, threshold=0.5).rows[0]
    assert row["image_id"] == "a" and row["width"] == 100 and row["height"] == 80
    assert row["truth"] == [
        {"box": [1.0, 2.1, 10.0, 10.0], "class": "cat", "matched_score": 0.8765}
    ]
    (prediction,) = row["predictions"]  # the 0.04 one is under the display floor
    assert prediction["box"] == [1.0, 2.0, 10.0, 10.0]
    assert prediction["score"] == 0.8765 and prediction["match"] == "tp"
    assert prediction["iou"] == round(8.96 * 7.94 / 72, 4)
    assert row["max_score"] == 0.8765 and row["display_floor"] == 0.05
    assert detection_figures([image()], CLASSES, 0.5).rows[0]["max_score"] is None


# ---------------------------------------------------------------------- confusion matrix
def test_confusion_matrix_with_background() -> None:
    gt = [([0, 0, 10, 10], 0), ([20, 20, 30, 30], 0), ([50, 50, 60, 60], 1)]
    dets = [
        ([0, 0, 10, 10], 0.9, 1),  # a cat called dog: off the diagonal
        ([20, 20, 30, 30], 0.9, 0),  # right
        ([80, 60, 90, 70], 0.8, 0),  # spurious: background row
        ([50, 50, 60, 60], 0.2, 1),  # under the threshold: the dog is missed
    ]
    confusion = detection_figures([image(gt, dets)], CLASSES, threshold=0.5).report["confusion"]
    assert confusion["labels"] == ["cat", "dog", "background"]
    assert confusion["matrix"] == [[1, 1, 0], [0, 0, 1], [1, 0, 0]]
    assert confusion["iou"] == 0.5 and confusion["threshold"] == 0.5


def test_confusion_pairs_greedily_by_iou_one_to_one() -> None:
    gt = [([0, 0, 10, 10], 0)]
    dets = [([0, 0, 10, 12], 0.9, 1), ([0, 0, 10, 10], 0.5, 0)]  # the later one overlaps more
    matrix = detection_figures([image(gt, dets)], CLASSES, 0.5).report["confusion"]["matrix"]
    assert matrix == [[1, 0, 0], [0, 0, 0], [0, 1, 0]]


# ---------------------------------------------------------------------- threshold choice
def _f1(images: list[ImageDetections], threshold: float) -> float:
    tp = fp = fn = 0
    for im in images:
        a, b, c = image_counts(im, match_image(im), threshold)
        tp, fp, fn = tp + a, fp + b, fn + c
    return 2 * tp / (2 * tp + fp + fn)


def test_f1_optimal_threshold_maximises_f1() -> None:
    gt = [([20 * i, 0, 20 * i + 10, 10], 0) for i in range(5)]
    dets = [
        ([0, 0, 10, 10], 0.9, 0),
        ([20, 0, 30, 10], 0.8, 0),
        ([0, 50, 10, 60], 0.7, 0),
        ([20, 50, 30, 60], 0.6, 0),
        ([40, 0, 50, 10], 0.4, 0),
    ]
    images = [image(gt, dets)]
    threshold = f1_optimal_threshold(images, CLASSES)
    # F1: 1/3 above 0.8, 4/9 above 0.7, 0.4 above 0.6, 4/9 · … , best 6/10 at 0.4 and below
    assert 0 < threshold <= 0.4
    assert _f1(images, threshold) == pytest.approx(0.6)
    assert all(_f1(images, t) <= 0.6 + 1e-12 for t in np.linspace(0.001, 1.0, 1000))
    figures = detection_figures(images, CLASSES)
    assert figures.metrics["confidence_threshold"] == threshold
    assert figures.report["threshold"] == {"value": threshold, "source": "f1_optimal_this_subset"}
    assert figures.metrics["f1"] == pytest.approx(0.6)
    curve = figures.report["f1_curve"]
    assert max(f for f in curve["f1"] if f is not None) == pytest.approx(0.6)
    assert len(curve["thresholds"]) == len(curve["precision"]) == len(curve["recall"])


def test_f1_optimal_threshold_sits_inside_its_plateau() -> None:
    gt = [([0, 0, 10, 10], 0), ([50, 50, 90, 70], 1)]
    dets = [([0, 0, 10, 10], 0.9, 0), ([50, 50, 90, 70], 0.6, 0), ([20, 20, 30, 30], 0.3, 1)]
    threshold = f1_optimal_threshold([image(gt, dets)], CLASSES)
    assert 0.6 < threshold <= 0.9
    assert threshold == pytest.approx(0.75)


def test_no_true_positive_gives_the_default_threshold() -> None:
    dets = [([0, 0, 10, 10], 0.9, 0)]
    assert f1_optimal_threshold([image([], dets)], CLASSES) == 0.5


# ---------------------------------------------------------------------- counts_at
box_st = st.tuples(
    st.integers(0, 10), st.integers(0, 10), st.integers(1, 6), st.integers(1, 6)
).map(lambda b: [b[0], b[1], b[0] + b[2], b[1] + b[3]])
score_st = st.one_of(
    st.sampled_from([0.03, 0.05, 0.1, 0.3, 0.5, 0.7, 0.9, 1.0]),
    st.floats(0.0, 1.0, allow_nan=False),
)


@st.composite
def images_st(draw: st.DrawFn) -> ImageDetections:
    gt = draw(st.lists(st.tuples(box_st, st.integers(0, 1), st.booleans()), max_size=6))
    dets = draw(st.lists(st.tuples(box_st, score_st, st.integers(0, 1)), max_size=12))
    return image(
        [(g[0], g[1]) for g in gt], dets, ignore=[g[2] and draw(st.booleans()) for g in gt]
    )


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(im=images_st(), threshold=st.sampled_from([0.0, 0.05, 0.3, 0.5, 0.77]))
def test_counts_at_equals_matching_again_at_every_threshold(
    im: ImageDetections, threshold: float
) -> None:
    match: ImageMatch = match_image(im)
    row = image_row(im, match, CLASSES, threshold)
    assert (row["tp"], row["fp"], row["fn"]) == recount(im, threshold)
    assert counts_at(row, threshold) == (row["tp"], row["fp"], row["fn"])
    scores = shown_scores(im.scores).tolist()
    grid = [i / 100 for i in range(101)] + scores + [s + 1e-5 for s in scores] + [2.0]
    for t in grid:
        if t >= row["display_floor"]:
            assert counts_at(row, t) == recount(im, t), t


def test_counts_at_stays_exact_when_predictions_are_cut_to_100() -> None:
    rng = np.random.default_rng(3)
    corners = rng.integers(0, 80, size=(150, 2))
    dets = [
        ([float(x), float(y), float(x) + 15, float(y) + 15], float(s), int(c))
        for (x, y), s, c in zip(
            corners, rng.uniform(0.1, 1, 150), rng.integers(0, 2, 150), strict=True
        )
    ]
    gt = [
        ([float(x), float(y), float(x) + 15, float(y) + 15], k % 2)
        for k, (x, y) in enumerate(corners[:40])
    ]
    im = image(gt, dets)
    row = detection_figures([im], CLASSES, threshold=0.5).rows[0]
    assert len(row["predictions"]) <= 100 and row["display_floor"] > 0.05
    assert counts_at(row, 0.5) == (row["tp"], row["fp"], row["fn"])
    for t in np.linspace(row["display_floor"], 1.0, 60).tolist():
        assert counts_at(row, t) == recount(im, t)


# ---------------------------------------------------------------------- output shape
def _random_images(seed: int, n: int = 9) -> list[ImageDetections]:
    """Boxes of 20 x 25 px, each found with a little noise, plus one spurious box per image."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        gt: list[tuple[list[float], int]] = []
        for _ in range(int(rng.integers(0, 4))):
            x, y = rng.uniform(0, 40, 2).tolist()
            gt.append(([x, y, x + 20, y + 25], int(rng.integers(0, 2))))
        dets = [
            ([b[0] + rng.normal(0, 2), b[1], b[2], b[3] + rng.normal(0, 2)], float(rng.random()), c)
            for b, c in gt
        ]
        dets.append(([5.0, 5.0, 30.0, 30.0], float(rng.random()), int(rng.integers(0, 2))))
        out.append(image(gt, dets, ignore=[bool(rng.random() < 0.2) for _ in gt], image_id=f"i{i}"))
    return out


def test_metric_keys_in_order() -> None:
    figures = detection_figures(_random_images(0), CLASSES)
    assert list(figures.metrics) == list(METRIC_NAMES)
    assert list(METRIC_NAMES[:2]) == ["map", "map50"] and METRIC_NAMES[-1] == "confidence_threshold"
    assert figures.report["metrics"] == figures.metrics
    assert figures.report["task"] == "detection"
    assert [r["image_id"] for r in figures.rows] == [f"i{i}" for i in range(9)]


@pytest.mark.parametrize(
    "images",
    [
        _random_images(1),
        [image([([0, 0, 10, 10], 0)], [])],  # predicts nothing
        [image([], [([0, 0, 10, 10], 0.5, 1)])],  # no object anywhere
        [image()],
    ],
)
def test_everything_is_plain_json(images: list[ImageDetections]) -> None:
    for threshold in (None, 0.5):
        figures = detection_figures(images, CLASSES, threshold=threshold)
        for part in (figures.metrics, figures.rows, figures.report):
            assert_plain_json(part)
            json.dumps(part, allow_nan=False)


def test_adding_in_batches_equals_one_call() -> None:
    images = _random_images(2)
    accumulator = DetectionAccumulator(CLASSES)
    for start, stop in ((0, 3), (3, 4), (4, 9)):
        for im in images[start:stop]:
            accumulator.add(im)
    assert len(accumulator) == 9
    for threshold in (None, 0.4):
        assert accumulator.compute(threshold) == detection_figures(images, CLASSES, threshold)


def test_bad_inputs_are_refused() -> None:
    with pytest.raises(ValueError, match="no images"):
        detection_figures([], CLASSES)
    with pytest.raises(ValueError, match="class indices"):
        detection_figures([image([([0, 0, 1, 1], 2)])], CLASSES)
    with pytest.raises(ValueError, match="finite"):
        detection_figures([image()], CLASSES, threshold=float("nan"))
    with pytest.raises(ValueError, match="x2 >= x1"):
        image([([5, 0, 1, 1], 0)])
    with pytest.raises(ValueError, match="scores"):
        ImageDetections.from_lists("a", 1, 1, boxes=[[0, 0, 1, 1]], scores=[], labels=[0])
    with pytest.raises(ValueError, match="distinct"):
        DetectionAccumulator(["a", "a"])


def test_the_module_does_not_import_torch() -> None:
    code = "import sys, aistudio.evaluation.detection_figures; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
