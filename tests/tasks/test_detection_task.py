"""The detection task module: what it accepts, its classes, strata, targets, figures, export."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

from aistudio.export.adapters import match_detections
from aistudio.tasks.base import EvaluationContext, TargetInfo, TaskInputError
from aistudio.tasks.detection import NO_OBJECT, TASK
from aistudio.tasks.registry import get_task
from projections.dataset import DatasetView, ImageEntry

INFO = TargetInfo(classes=["cat", "dog"])


def entry(
    image_id: str, objects: list[dict[str, Any]] | None, size: tuple[int, int] = (200, 100)
) -> ImageEntry:
    structured = None if objects is None else {"kind": "boxes", "objects": objects}
    return ImageEntry(
        image_id, "0" * 64, "png", f"{image_id}.png", size[0], size[1], 10, None, None, 1,
        structured,
    )  # fmt: skip


def obj(cls: str, box: tuple[float, float, float, float], **flags: bool) -> dict[str, Any]:
    return {"class": cls, "box": list(box), **flags}


def test_the_registry_offers_detection_with_a_threshold() -> None:
    task = get_task("detection")
    assert task is TASK and task.uses_threshold and task.annotation_kind == "boxes"
    assert task.default_model == task.models[0].name


def test_negatives_are_accepted_unannotated_images_are_not() -> None:
    assert TASK.accepts(entry("a", []))
    assert TASK.accepts(entry("b", [obj("cat", (1, 1, 5, 5))]))
    assert not TASK.accepts(entry("c", None))
    labelled = ImageEntry("d", "0" * 64, "png", "d.png", 8, 8, 1, "cat", None, 1)
    assert not TASK.accepts(labelled)


def test_classes_come_from_the_train_objects_and_none_is_an_error() -> None:
    entries = [entry("a", [obj("dog", (0, 0, 4, 4)), obj("cat", (1, 1, 3, 3))]), entry("b", [])]
    assert TASK.fit_state(entries).classes == ["cat", "dog"]
    assert TASK.class_counts([*entries, entry("c", [obj("dog", (0, 0, 2, 2))])], INFO) == [1, 2]
    with pytest.raises(TaskInputError, match="no image of the train subset has boxes"):
        TASK.fit_state([entry("a", []), entry("b", [])])


def test_strata_are_each_images_rarest_class() -> None:
    images = {
        "a": entry("a", [obj("cat", (0, 0, 4, 4)), obj("dog", (1, 1, 3, 3))]),
        "b": entry("b", [obj("cat", (0, 0, 4, 4))]),
        "c": entry("c", [obj("cat", (0, 0, 4, 4))]),
        "d": entry("d", []),
    }
    view = DatasetView(images=images)
    assert TASK.strata(view, list(images)) == ["dog", "cat", "cat", NO_OBJECT]


def test_a_target_is_scaled_to_the_square_input_and_crowds_are_left_out() -> None:
    e = entry(
        "a",
        [obj("dog", (20, 10, 120, 60)), obj("cat", (0, 0, 200, 100), crowd=True)],
        size=(200, 100),
    )
    target = TASK.sample_target(e, INFO, 64)
    assert target["labels"].tolist() == [1]
    assert torch.allclose(target["boxes"], torch.tensor([[6.4, 6.4, 38.4, 38.4]]))
    with pytest.raises(KeyError, match="bird"):
        TASK.sample_target(entry("b", [obj("bird", (0, 0, 4, 4))]), INFO, 64)


def test_annotation_of_tells_a_changed_box() -> None:
    before = entry("a", [obj("cat", (0, 0, 4, 4))])
    after = entry("a", [obj("cat", (0, 0, 5, 4))])
    assert TASK.annotation_of(before) != TASK.annotation_of(after)
    assert TASK.annotation_of(before) == TASK.annotation_of(entry("a", [obj("cat", (0, 0, 4, 4))]))


def _found(boxes: list[list[float]], scores: list[float], labels: list[int]) -> dict[str, Any]:
    return {
        "boxes": torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4),
        "scores": torch.tensor(scores, dtype=torch.float32),
        "labels": torch.tensor(labels, dtype=torch.int64),
    }


def test_evaluation_maps_boxes_back_and_takes_the_threshold_from_val() -> None:
    # Images 200 x 100 seen at 64 px: a prediction at input pixels maps back by (200/64, 100/64).
    truth = (20.0, 10.0, 120.0, 60.0)
    entries = [entry(f"i{n}", [obj("dog", truth)]) for n in range(4)]
    exact = [6.4, 6.4, 38.4, 38.4]
    outputs = [
        _found([exact], [0.9], [1]),  # val: found
        _found([exact], [0.3], [1]),  # val: found only at a low threshold
        _found([exact], [0.8], [1]),  # test
        _found([], [], []),  # test: missed
    ]
    context = EvaluationContext(subsets=["val", "val", "test", "test"], image_size=64)
    out = TASK.evaluate_pass(outputs, None, INFO, entries, context)
    assert out.report["threshold"]["source"] == "f1_optimal_val"
    assert out.report["threshold"]["value"] <= 0.3, "both val detections are kept at F1's best"
    rows = {row["image_id"]: row for row in out.rows}
    assert rows["i0"]["predictions"][0]["box"] == pytest.approx(list(truth), abs=0.11)
    assert (rows["i3"]["tp"], rows["i3"]["fn"]) == (0, 1)
    assert out.metrics["map50"] == pytest.approx(0.75, abs=0.01)  # 3 of 4 found, all exact
    assert all(isinstance(v, float) for v in out.metrics.values())
    chosen = TASK.evaluate_pass(
        outputs, None, INFO, entries, EvaluationContext(context.subsets, 0.5, 64)
    )
    assert chosen.report["threshold"]["value"] == 0.5
    assert {r["image_id"]: r["fn"] for r in chosen.rows}["i1"] == 1, "0.3 < 0.5: missed"


def test_the_validation_evaluator_reports_coco_figures() -> None:
    evaluator = TASK.evaluator(INFO, TASK.validate_options({}))
    assert evaluator.compute() is None
    target = {"boxes": torch.tensor([[4.0, 4.0, 20.0, 20.0]]), "labels": torch.tensor([0])}
    evaluator.update([_found([[4, 4, 20, 20]], [0.9], [0])], [target])
    evaluator.update([_found([], [], [])], [target])
    result = evaluator.compute()
    assert result is not None and result.primary == "map"
    assert result.values["map50"] == pytest.approx(0.5, abs=0.01)
    assert set(result.values) == {"map", "map50", "map75", "mar100"}


def test_export_matching_allows_only_detections_at_the_floor_to_differ() -> None:
    ref = (
        np.array([[0, 0, 10, 10], [20, 20, 30, 30]], float),
        np.array([0.9, 0.0502]),
        np.array([1, 0]),
    )
    same = (ref[0] + 0.01, ref[1] + 1e-5, ref[2])
    assert match_detections(ref, same, 1e-3, 0.05) == (True, pytest.approx(1e-5, abs=1e-9))
    dropped = (ref[0][:1], ref[1][:1], ref[2][:1])
    assert match_detections(ref, dropped, 1e-3, 0.05)[0], "0.0502 is within tolerance of 0.05"
    other_class = (ref[0], ref[1], np.array([0, 0]))
    assert not match_detections(ref, other_class, 1e-3, 0.05)[0]
    moved = (ref[0] + np.array([3, 0, 3, 0]), ref[1], ref[2])
    assert not match_detections(ref, moved, 1e-3, 0.05)[0]


def test_a_test_subset_is_counted_at_the_threshold_its_val_images_choose() -> None:
    truth = (20.0, 10.0, 120.0, 60.0)
    exact = [6.4, 6.4, 38.4, 38.4]
    tests = [entry("t0", [obj("dog", truth)])]
    low = [_found([exact], [0.2], [1])]  # the test image's only detection scores 0.2
    vals = [entry("v0", [obj("dog", truth)]), entry("v1", [])]
    val_outputs = [_found([exact], [0.9], [1]), _found([exact], [0.5], [1])]  # a FP at 0.5
    context = EvaluationContext(["test"], image_size=64, calibration=(val_outputs, vals))
    out = TASK.evaluate_pass(low, None, INFO, tests, context)
    assert out.report["threshold"]["source"] == "f1_optimal_val"
    assert 0.5 < out.report["threshold"]["value"] <= 0.9, "val's F1 is best above its FP"
    assert (out.rows[0]["tp"], out.rows[0]["fn"]) == (0, 1), "0.2 is under val's threshold"
    alone = TASK.evaluate_pass(low, None, INFO, tests, EvaluationContext(["test"], image_size=64))
    assert alone.report["threshold"]["source"] == "f1_optimal_this_subset"


def test_the_split_preview_counts_each_image_under_its_stratum() -> None:
    from aistudio import commands

    images = {
        f"i{n}": entry(
            f"i{n}", [obj("cat", (0, 0, 4, 4))] + ([obj("dog", (1, 1, 3, 3))] * (n % 3 == 0))
        )
        for n in range(12)
    } | {f"n{n}": entry(f"n{n}", []) for n in range(4)}
    view = DatasetView(images=images, classes=["cat", "dog"])
    counts = commands.preview_split(view, 0.5, 0.25, 0.25, 0, True, "detection")
    totals = {
        group: sum(c.get(group, 0) for c in counts.values()) for group in ("cat", "dog", NO_OBJECT)
    }
    assert totals == {"cat": 8, "dog": 4, NO_OBJECT: 4}, "dog is the rarer class of 4 images"
    assert all(counts[s]["dog"] >= 1 for s in ("train", "val", "test")), "stratified by it"
