"""COCO figures equal pycocotools' own, called directly on a hand-built COCO json."""

from __future__ import annotations

import contextlib
import io
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from aistudio.evaluation.detection_figures import ImageDetections, detection_figures
from aistudio.evaluation.detection_matching import STATUS_IGNORED, match_image

CLASSES = ["cat", "dog", "bird"]
EXACT = 1e-12

Spec = dict[str, Any]
"""One image as plain lists: gt (box xyxy, label, ignore) and detections (box, score, label)."""


def _box(rng: np.random.Generator, size: float = 300.0) -> list[float]:
    w, h = rng.uniform(4, 160, size=2)
    x, y = rng.uniform(0, size - w), rng.uniform(0, size - h)
    return [float(x), float(y), float(x + w), float(y + h)]


def _jitter(rng: np.random.Generator, box: list[float]) -> list[float]:
    w, h = box[2] - box[0], box[3] - box[1]
    dx, dy = rng.normal(0, 0.06 * w), rng.normal(0, 0.06 * h)
    sx, sy = rng.uniform(0.85, 1.15, size=2)
    x1, y1 = box[0] + dx, box[1] + dy
    return [float(x1), float(y1), float(x1 + w * sx), float(y1 + h * sy)]


def random_specs(
    seed: int,
    n_images: int = 8,
    classes: tuple[int, ...] = (0, 1, 2),
    gt_classes: tuple[int, ...] = (0, 1, 2),
    crowd_rate: float = 0.0,
    negatives: int = 0,
) -> list[Spec]:
    """Images with objects, detections near them (right or wrong class) and spurious ones."""
    rng = np.random.default_rng(seed)
    specs: list[Spec] = []
    for i in range(n_images + negatives):
        gt: list[tuple[list[float], int, bool]] = []
        if i < n_images:
            for _ in range(int(rng.integers(0, 6))):
                gt.append((_box(rng), int(rng.choice(gt_classes)), bool(rng.random() < crowd_rate)))
        dets: list[tuple[list[float], float, int]] = []
        for box, label, _ignore in gt:
            for _ in range(int(rng.integers(0, 3))):
                wrong = rng.random() < 0.2
                dets.append(
                    (
                        _jitter(rng, box),
                        float(rng.random()),
                        int(rng.choice(classes)) if wrong else label,
                    )
                )
        for _ in range(int(rng.integers(0, 4))):
            dets.append((_box(rng), float(rng.random()), int(rng.choice(classes))))
        specs.append({"id": f"img{i}", "gt": gt, "dets": dets})
    return specs


def to_images(specs: list[Spec]) -> list[ImageDetections]:
    return [
        ImageDetections.from_lists(
            s["id"],
            300,
            300,
            gt_boxes=[g[0] for g in s["gt"]],
            gt_labels=[g[1] for g in s["gt"]],
            gt_ignore=[g[2] for g in s["gt"]],
            boxes=[d[0] for d in s["dets"]],
            scores=[d[1] for d in s["dets"]],
            labels=[d[2] for d in s["dets"]],
        )
        for s in specs
    ]


def ours(specs: list[Spec], threshold: float | None = None) -> Any:
    return detection_figures(to_images(specs), CLASSES, threshold=threshold)


def reference(specs: list[Spec]) -> COCOeval:
    """COCOeval run directly on a COCO json built by hand from the specs."""
    images, annotations, results = [], [], []
    for image_id, spec in enumerate(specs, start=1):
        images.append({"id": image_id, "width": 300, "height": 300, "file_name": spec["id"]})
        for (x1, y1, x2, y2), label, ignore in spec["gt"]:
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": image_id,
                    "category_id": label + 1,
                    "bbox": [x1, y1, x2 - x1, y2 - y1],
                    "area": (x2 - x1) * (y2 - y1),
                    "iscrowd": int(ignore),
                }
            )
        for (x1, y1, x2, y2), score, label in spec["dets"]:
            results.append(
                {
                    "image_id": image_id,
                    "category_id": label + 1,
                    "bbox": [x1, y1, x2 - x1, y2 - y1],
                    "score": score,
                }
            )
    dataset = {
        "images": images,
        "annotations": annotations,
        "categories": [{"id": k + 1, "name": n} for k, n in enumerate(CLASSES)],
    }
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO()
        gt.dataset = dataset
        gt.createIndex()
        if results:
            dt = gt.loadRes(results)
        else:  # loadRes cannot load an empty list
            dt = COCO()
            dt.dataset = {"images": images, "categories": dataset["categories"], "annotations": []}
            dt.createIndex()
        evaluation = COCOeval(gt, dt, "bbox")
        evaluation.evaluate()
        evaluation.accumulate()
        evaluation.summarize()
    return evaluation


def _none_or(value: float) -> float | None:
    return None if value == -1 else float(value)


def _class_ap(evaluation: COCOeval, k: int, iou: int | None = None) -> float | None:
    s = evaluation.eval["precision"][:, :, k, 0, 2]
    if iou is not None:
        s = s[iou]
    s = s[s > -1]
    return float(np.mean(s)) if s.size else None


def _close(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is b
    return abs(a - b) <= EXACT


def assert_parity(specs: list[Spec]) -> Any:
    figures = ours(specs)
    evaluation = reference(specs)
    names = ["map", "map50", "map75", "map_small", "map_medium", "map_large"]
    names += ["mar1", "mar10", "mar100"]
    for index, name in enumerate(names):
        assert _close(figures.metrics[name], _none_or(evaluation.stats[index])), name
    for k, row in enumerate(figures.report["per_class"]):
        assert _close(row["ap"], _class_ap(evaluation, k)), row["class"]
        assert _close(row["ap50"], _class_ap(evaluation, k, 0)), row["class"]
        assert _close(row["ap75"], _class_ap(evaluation, k, 5)), row["class"]
    curves = {c["class"]: c for c in figures.report["pr_curves"]}
    for k, name in enumerate(CLASSES):
        curve = evaluation.eval["precision"][0, :, k, 0, 2]
        if (curve > -1).any():
            assert curves[name]["precision"] == [float(p) for p in curve]
            assert curves[name]["recall"] == [float(r) for r in evaluation.params.recThrs]
        else:
            assert name not in curves
    assert_detection_matches(specs, evaluation)
    return figures, evaluation


def assert_detection_matches(specs: list[Spec], evaluation: COCOeval) -> None:
    """Every detection is matched to the same box as COCOeval's at IoU 0.5 (area all)."""
    expected_gt: dict[int, int] = {}  # COCO detection id -> COCO gt id (0: none)
    expected_ignored: dict[int, bool] = {}
    for e in evaluation.evalImgs:
        if e is None or e["aRng"] != [0, 1e10] or e["maxDet"] != 100:
            continue
        for j, dt_id in enumerate(e["dtIds"]):
            expected_gt[dt_id] = int(e["dtMatches"][0, j])
            expected_ignored[dt_id] = bool(e["dtIgnore"][0, j])
    gt_offset = dt_offset = 0
    for im in to_images(specs):
        match = match_image(im)
        for d in range(len(im.boxes)):
            gt = int(match.det_gt[d])
            dt_id = dt_offset + d + 1
            assert expected_gt[dt_id] == (gt_offset + gt + 1 if gt >= 0 else 0), dt_id
            assert expected_ignored[dt_id] == (int(match.status[d]) == STATUS_IGNORED), dt_id
        gt_offset += len(im.gt_boxes)
        dt_offset += len(im.boxes)


def assert_matching_parity(figures: Any, evaluation: COCOeval) -> None:
    """Each image's TP and FP (threshold 0) are COCOeval's at IoU 0.5, area all, 100 dets."""
    tp = [0] * len(figures.rows)
    fp = [0] * len(figures.rows)
    for e in evaluation.evalImgs:
        if e is None or e["aRng"] != [0, 1e10] or e["maxDet"] != 100:
            continue
        matched, ignored = e["dtMatches"][0] > 0, e["dtIgnore"][0] > 0
        tp[e["image_id"] - 1] += int(np.count_nonzero(matched & ~ignored))
        fp[e["image_id"] - 1] += int(np.count_nonzero(~matched & ~ignored))
    assert [r["tp"] for r in figures.rows] == tp
    assert [r["fp"] for r in figures.rows] == fp


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_random_predictions_match_pycocotools(seed: int) -> None:
    specs = random_specs(seed)
    figures, _evaluation = assert_parity(specs)
    assert figures.metrics["map"] is not None
    at_zero = ours(specs, threshold=0.0)
    assert_matching_parity(at_zero, reference(specs))
    assert sum(r["tp"] for r in at_zero.rows) > 0


def test_negative_images_with_false_positives() -> None:
    specs = random_specs(10, n_images=4, negatives=5)
    assert any(not s["gt"] and s["dets"] for s in specs)
    _figures, evaluation = assert_parity(specs)
    at_zero = ours(specs, threshold=0.0)
    assert_matching_parity(at_zero, evaluation)
    negatives = [r for r in at_zero.rows if r["objects"] == 0]
    assert negatives and all(r["tp"] == 0 and r["fn"] == 0 for r in negatives)
    assert sum(r["fp"] for r in negatives) > 0


def test_a_model_that_predicts_nothing() -> None:
    specs = [dict(s, dets=[]) for s in random_specs(4)]
    figures, _evaluation = assert_parity(specs)
    for name in ("map", "map50", "map75", "mar1", "mar10", "mar100"):
        assert figures.metrics[name] == 0.0
    for row in figures.report["per_class"]:
        assert row["ap"] == (0.0 if row["objects"] else None)
    assert figures.metrics["recall"] == 0.0
    assert figures.metrics["precision"] is None
    assert any("detected nothing" in note for note in figures.report["notes"])


def test_a_class_without_ground_truth() -> None:
    specs = random_specs(5, gt_classes=(0, 1))
    assert any(d[2] == 2 for s in specs for d in s["dets"])
    figures, evaluation = assert_parity(specs)
    bird = figures.report["per_class"][2]
    assert bird["objects"] == 0 and bird["ap"] is None and bird["recall"] is None
    assert_matching_parity(ours(specs, threshold=0.0), evaluation)


@pytest.mark.parametrize("seed", [6, 7])
def test_ignored_crowd_boxes(seed: int) -> None:
    specs = random_specs(seed, n_images=10, crowd_rate=0.4)
    assert any(g[2] for s in specs for g in s["gt"])
    figures, evaluation = assert_parity(specs)
    assert_matching_parity(ours(specs, threshold=0.0), evaluation)
    assert figures.report["totals"]["ignored_objects"] > 0


def test_regular_boxes_before_crowd_regions() -> None:
    """A detection on a regular box inside a crowd region of its class stays a TP, and the
    detections beyond the regular boxes all land in the crowd region (neither TP nor FP)."""
    crowd = ([0.0, 0.0, 40.0, 40.0], 0, True)
    regular = ([0.0, 0.0, 20.0, 20.0], 0, False)
    dets = [([0.0, 0.0, 20.0, 20.0], 0.9, 0), ([1.0, 1.0, 21.0, 21.0], 0.8, 0)]
    dets.append(([10.0, 10.0, 30.0, 30.0], 0.7, 0))
    specs = [{"id": "c", "gt": [crowd, regular], "dets": dets}]
    figures, _evaluation = assert_parity(specs)
    row = ours(specs, threshold=0.0).rows[0]
    assert [p["match"] for p in row["predictions"]] == ["tp", "ignored", "ignored"]
    assert (row["tp"], row["fp"], row["fn"]) == (1, 0, 0)
    assert figures.metrics["map50"] == pytest.approx(1.0)


def test_no_object_in_any_image() -> None:
    specs = [dict(s, gt=[]) for s in random_specs(8)]
    figures, evaluation = assert_parity(specs)
    assert all(v == -1 for v in evaluation.stats)
    assert all(figures.metrics[k] is None for k in ("map", "map50", "mar100", "recall"))
    assert figures.report["pr_curves"] == []
    assert any("No image" in note for note in figures.report["notes"])


grid_box = st.tuples(
    st.integers(0, 5), st.integers(0, 5), st.integers(1, 5), st.integers(1, 5)
).map(lambda b: [float(b[0]), float(b[1]), float(b[0] + b[2]), float(b[1] + b[3])])
spec_st = st.fixed_dictionaries(
    {
        "id": st.just("x"),
        "gt": st.lists(st.tuples(grid_box, st.integers(0, 1), st.booleans()), max_size=5),
        "dets": st.lists(
            st.tuples(grid_box, st.sampled_from([0.2, 0.5, 0.5, 0.9]), st.integers(0, 1)),
            max_size=8,
        ),
    }
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(specs=st.lists(spec_st, min_size=1, max_size=3))
def test_parity_on_small_grids_with_ties(specs: list[Spec]) -> None:
    """Boxes on a small grid (equal IoUs, crowds, equal scores): still COCOeval's figures."""
    _figures, evaluation = assert_parity(specs)
    assert_matching_parity(ours(specs, threshold=0.0), evaluation)
