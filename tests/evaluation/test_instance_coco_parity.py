"""Mask and box COCO figures equal pycocotools' own, called directly on a hand-built COCO json."""

from __future__ import annotations

import contextlib
import io
from typing import Any

import numpy as np
import pytest
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from aistudio.evaluation.detection_matching import STATUS_IGNORED, match_image
from aistudio.evaluation.instance_figures import ImageInstances, instance_figures

CLASSES = ["cat", "dog", "bird"]
SIZE = 64
EXACT = 1e-12

Spec = dict[str, Any]
"""One image: gt (mask, label, crowd) and detections (mask, box xyxy, score, label)."""


def _ellipse(rng: np.random.Generator) -> np.ndarray:
    ys, xs = np.mgrid[:SIZE, :SIZE]
    cx, cy = rng.uniform(8, SIZE - 8, size=2)
    ax, ay = rng.uniform(3, 16, size=2)
    turn = rng.uniform(0, np.pi)
    u = (xs + 0.5 - cx) * np.cos(turn) + (ys + 0.5 - cy) * np.sin(turn)
    v = -(xs + 0.5 - cx) * np.sin(turn) + (ys + 0.5 - cy) * np.cos(turn)
    return (u / ax) ** 2 + (v / ay) ** 2 <= 1


def _near(rng: np.random.Generator, mask: np.ndarray) -> np.ndarray:
    """The mask shifted by a few pixels, with a random bite out of it."""
    dx, dy = (int(v) for v in rng.integers(-3, 4, size=2))
    moved = np.roll(np.roll(mask, dy, axis=0), dx, axis=1)
    x, y = (int(v) for v in rng.integers(0, SIZE - 8, size=2))
    moved[y : y + int(rng.integers(0, 8)), x : x + int(rng.integers(0, 8))] = False
    return moved


def _box_of(rng: np.random.Generator, mask: np.ndarray) -> list[float]:
    """The mask's bounding box (pixel edges), jittered by up to 2 px."""
    ys, xs = np.nonzero(mask)
    if len(xs) == 0:
        return [0.0, 0.0, 1.0, 1.0]
    x1, y1 = xs.min() + rng.uniform(-2, 2), ys.min() + rng.uniform(-2, 2)
    x2, y2 = xs.max() + 1 + rng.uniform(-2, 2), ys.max() + 1 + rng.uniform(-2, 2)
    return [float(x1), float(y1), float(max(x2, x1 + 1)), float(max(y2, y1 + 1))]


def random_specs(seed: int, n_images: int = 6, crowd_rate: float = 0.15) -> list[Spec]:
    """Images with objects, detections near them (right or wrong class) and spurious ones;
    the last two images: one without objects (but detections), one without detections."""
    rng = np.random.default_rng(seed)
    specs: list[Spec] = []
    for i in range(n_images + 2):
        gt: list[tuple[np.ndarray, int, bool]] = []
        if i != n_images:
            for _ in range(int(rng.integers(1, 5))):
                gt.append((_ellipse(rng), int(rng.integers(0, 3)), bool(rng.random() < crowd_rate)))
        dets: list[tuple[np.ndarray, list[float], float, int]] = []
        if i != n_images + 1:
            for mask, label, _crowd in gt:
                for _ in range(int(rng.integers(0, 3))):
                    wrong = rng.random() < 0.2
                    near = _near(rng, mask)
                    dets.append(
                        (
                            near,
                            _box_of(rng, near),
                            float(rng.random()),
                            int(rng.integers(0, 3)) if wrong else label,
                        )
                    )
            for _ in range(int(rng.integers(1, 4))):
                spurious = _ellipse(rng)
                dets.append(
                    (spurious, _box_of(rng, spurious), float(rng.random()), int(rng.integers(0, 3)))
                )
        specs.append({"id": f"img{i}", "gt": gt, "dets": dets})
    # Every kind of image is there: a crowd object, no objects, no detections.
    specs[0]["gt"].append((_ellipse(rng), 0, True))
    specs[0]["dets"].append((specs[0]["gt"][-1][0].copy(), [0.0, 0.0, 9.0, 9.0], 0.77, 0))
    return specs


def to_images(specs: list[Spec]) -> list[ImageInstances]:
    return [
        ImageInstances.from_masks(
            s["id"],
            SIZE,
            SIZE,
            gt_masks=[g[0] for g in s["gt"]],
            gt_labels=[g[1] for g in s["gt"]],
            gt_ignore=[g[2] for g in s["gt"]],
            masks=[d[0] for d in s["dets"]],
            boxes=[d[1] for d in s["dets"]],
            scores=[d[2] for d in s["dets"]],
            labels=[d[3] for d in s["dets"]],
        )
        for s in specs
    ]


def _encode(mask: np.ndarray) -> dict[str, Any]:
    return mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))


def reference(specs: list[Spec], iou_type: str) -> COCOeval:
    """COCOeval run directly on a COCO json built by hand from the specs."""
    images, annotations, results = [], [], []
    for image_id, spec in enumerate(specs, start=1):
        images.append({"id": image_id, "width": SIZE, "height": SIZE, "file_name": spec["id"]})
        for mask, label, crowd in spec["gt"]:
            rle = _encode(mask)
            x, y, w, h = (float(v) for v in mask_utils.toBbox(rle))
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": image_id,
                    "category_id": label + 1,
                    "bbox": [x, y, w, h],
                    "segmentation": rle,
                    "area": float(mask_utils.area(rle)) if iou_type == "segm" else w * h,
                    "iscrowd": int(crowd),
                }
            )
        for mask, (x1, y1, x2, y2), score, label in spec["dets"]:
            result: dict[str, Any] = {"image_id": image_id, "category_id": label + 1}
            if iou_type == "segm":
                result["segmentation"] = _encode(mask)
            else:
                result["bbox"] = [x1, y1, x2 - x1, y2 - y1]
            results.append({**result, "score": score})
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
        evaluation = COCOeval(gt, dt, iou_type)
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


def assert_parity(specs: list[Spec]) -> tuple[Any, COCOeval]:
    figures = instance_figures(to_images(specs), CLASSES)
    segm, bbox = reference(specs, "segm"), reference(specs, "bbox")
    for prefix, evaluation in (("mask", segm), ("box", bbox)):
        for index, name in ((0, "map"), (1, "map50"), (2, "map75")):
            ours = figures.metrics[f"{prefix}_{name}"]
            assert _close(ours, _none_or(evaluation.stats[index])), f"{prefix}_{name}"
        for k, row in enumerate(figures.report["per_class"]):
            assert _close(row[f"{prefix}_ap"], _class_ap(evaluation, k)), row["class"]
            assert _close(row[f"{prefix}_ap50"], _class_ap(evaluation, k, 0)), row["class"]
            assert _close(row[f"{prefix}_ap75"], _class_ap(evaluation, k, 5)), row["class"]
    assert _close(figures.metrics["mask_mar100"], _none_or(segm.stats[8]))
    curves = {c["class"]: c for c in figures.report["pr_curves"]}
    for k, name in enumerate(CLASSES):
        curve = segm.eval["precision"][0, :, k, 0, 2]
        if (curve > -1).any():
            assert curves[name]["precision"] == [float(p) for p in curve]
        else:
            assert name not in curves
    return figures, segm


def assert_matching_parity(specs: list[Spec], segm: COCOeval) -> None:
    """Every detection is matched by mask IoU to the same object as COCOeval's (segm, IoU 0.5),
    and each image's TP and FP at threshold 0 are COCOeval's."""
    expected_gt: dict[int, int] = {}
    expected_ignored: dict[int, bool] = {}
    for e in segm.evalImgs:
        if e is None or e["aRng"] != [0, 1e10] or e["maxDet"] != 100:
            continue
        for j, dt_id in enumerate(e["dtIds"]):
            expected_gt[dt_id] = int(e["dtMatches"][0, j])
            expected_ignored[dt_id] = bool(e["dtIgnore"][0, j])
    rows = instance_figures(to_images(specs), CLASSES, threshold=0.0).rows
    gt_offset = dt_offset = 0
    for image, row in zip(to_images(specs), rows, strict=True):
        match = match_image(image)
        tp = fp = 0
        for d in range(len(image.boxes)):
            gt = int(match.det_gt[d])
            dt_id = dt_offset + d + 1
            assert expected_gt[dt_id] == (gt_offset + gt + 1 if gt >= 0 else 0), dt_id
            assert expected_ignored[dt_id] == (int(match.status[d]) == STATUS_IGNORED), dt_id
            if not expected_ignored[dt_id]:
                tp += expected_gt[dt_id] > 0
                fp += expected_gt[dt_id] == 0
        assert (row["tp"], row["fp"]) == (tp, fp), row["image_id"]
        gt_offset += len(image.gt_boxes)
        dt_offset += len(image.boxes)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_random_masks_match_pycocotools(seed: int) -> None:
    specs = random_specs(seed)
    assert any(g[2] for s in specs for g in s["gt"])
    assert any(not s["gt"] and s["dets"] for s in specs)
    assert any(s["gt"] and not s["dets"] for s in specs)
    figures, segm = assert_parity(specs)
    assert figures.metrics["mask_map"] is not None and figures.metrics["box_map"] is not None
    assert figures.metrics["mask_map"] != figures.metrics["box_map"]
    assert_matching_parity(specs, segm)
    assert figures.report["totals"]["ignored_objects"] > 0


def test_a_model_that_predicts_nothing() -> None:
    specs = [dict(s, dets=[]) for s in random_specs(4)]
    figures, _segm = assert_parity(specs)
    for name in ("mask_map", "mask_map50", "box_map", "box_map50", "mask_mar100"):
        assert figures.metrics[name] == 0.0
    assert figures.metrics["precision"] is None and figures.metrics["recall"] == 0.0
    assert any("detected nothing" in note for note in figures.report["notes"])


def test_no_object_in_any_image() -> None:
    specs = [dict(s, gt=[]) for s in random_specs(5)]
    figures, segm = assert_parity(specs)
    assert all(v == -1 for v in segm.stats)
    for name in ("mask_map", "mask_map50", "box_map", "box_map50", "mask_mar100", "recall"):
        assert figures.metrics[name] is None
    assert figures.report["pr_curves"] == []
    assert any("No image" in note for note in figures.report["notes"])
