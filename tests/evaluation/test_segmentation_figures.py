"""Semantic segmentation figures: mmseg's definitions, proved equal to scikit-learn's on the same
predictions (confusion matrix, per-class IoU and F1 = Dice, accuracy), with 255 ignored."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, jaccard_score

from aistudio.evaluation.segmentation_figures import (
    decode_mask_png,
    metrics_of,
    segmentation_figures,
)
from aistudio.tasks.base import EvaluationContext, TargetInfo
from aistudio.tasks.segmentation import TASK
from events.schemas.annotation import IGNORE_INDEX
from projections.dataset import ImageEntry

CLASSES = ["background", "a", "b", "c"]


def _random_pass(seed: int, n: int = 6, size: int = 16) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, 3, (n, size, size)).astype(np.uint8)  # class "c" never true
    truth[rng.random(truth.shape) < 0.1] = IGNORE_INDEX
    predicted = np.where(rng.random(truth.shape) < 0.7, truth, rng.integers(0, 4, truth.shape))
    predicted = np.where(predicted == IGNORE_INDEX, 0, predicted).astype(np.uint8)
    return predicted, truth


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_figures_equal_scikit_learns_on_the_valid_pixels(seed: int) -> None:
    predicted, truth = _random_pass(seed)
    metrics, rows, report = segmentation_figures(predicted, truth, CLASSES)
    valid = truth != IGNORE_INDEX
    y_true, y_pred = truth[valid], predicted[valid]
    labels = list(range(len(CLASSES)))
    assert report["confusion_matrix"] == confusion_matrix(y_true, y_pred, labels=labels).tolist()
    iou = jaccard_score(y_true, y_pred, labels=labels, average=None, zero_division=0)
    dice = f1_score(y_true, y_pred, labels=labels, average=None, zero_division=0)
    # class "c" is predicted but never true: its IoU is 0 (a union, no intersection)
    assert all(c["iou"] is not None for c in report["per_class"]) and iou[3] == 0
    assert [c["iou"] for c in report["per_class"]] == pytest.approx(list(iou))
    assert [c["dice"] for c in report["per_class"]] == pytest.approx(list(dice))
    assert metrics["miou"] == pytest.approx(float(np.nanmean(iou)))
    assert metrics["dice_macro"] == pytest.approx(float(np.nanmean(dice)))
    assert metrics["pixel_accuracy"] == pytest.approx(accuracy_score(y_true, y_pred))
    for index, row in enumerate(rows):
        keep = truth[index] != IGNORE_INDEX
        t, p = truth[index][keep], predicted[index][keep]
        present = sorted(set(t.tolist()) | set(p.tolist()))
        assert row["miou"] == pytest.approx(jaccard_score(t, p, labels=present, average="macro"))
        assert row["pixel_accuracy"] == pytest.approx(accuracy_score(t, p))
        assert np.array_equal(decode_mask_png(row["prediction"]["png"]), predicted[index])
        assert row["classes_present"] == [CLASSES[c] for c in sorted(set(t.tolist()))]
        assert row["classes_predicted"] == [
            CLASSES[c] for c in sorted(set(predicted[index].ravel().tolist()))
        ]


def test_a_class_neither_true_nor_predicted_has_no_iou_and_does_not_count() -> None:
    truth = np.array([[[0, 1], [1, 1]]], dtype=np.uint8)
    metrics, _, report = segmentation_figures(truth.copy(), truth, CLASSES)
    assert metrics == {"miou": 1.0, "pixel_accuracy": 1.0, "dice_macro": 1.0}
    assert [c["iou"] for c in report["per_class"]] == [1.0, 1.0, None, None]
    assert report["ignore_index"] == IGNORE_INDEX and report["image_size"] == 2


def test_an_image_of_ignore_only_has_no_figures() -> None:
    truth = np.full((1, 2, 2), IGNORE_INDEX, dtype=np.uint8)
    metrics, rows, _ = segmentation_figures(np.zeros_like(truth), truth, CLASSES)
    assert metrics == {}
    assert rows[0]["miou"] is None and rows[0]["pixel_accuracy"] is None
    assert metrics_of(np.zeros((2, 2))) == {
        "miou": None,
        "pixel_accuracy": None,
        "dice_macro": None,
    }


def test_shapes_that_do_not_match_are_refused() -> None:
    with pytest.raises(ValueError, match="N x S x S"):
        segmentation_figures(np.zeros((1, 2, 2)), np.zeros((1, 3, 3)), CLASSES)
    with pytest.raises(ValueError, match="N x S x S"):
        segmentation_figures(np.zeros((0, 2, 2)), np.zeros((0, 2, 2)), CLASSES)


def test_the_validation_evaluator_and_the_evaluation_pass_agree() -> None:
    predicted, truth = _random_pass(5)
    info = TargetInfo(classes=CLASSES)
    evaluator = TASK.evaluator(info, TASK.options_model())
    for start in (0, 2, 4):
        evaluator.update(
            torch.from_numpy(predicted[start : start + 2]),
            torch.from_numpy(truth[start : start + 2]),
        )
    during_training = evaluator.compute()
    assert during_training is not None
    entries = [
        ImageEntry(f"img-{i}", "0" * 64, "png", f"{i}.png", 16, 16, 1, None, None, 1, None)
        for i in range(len(truth))
    ]
    output = TASK.evaluate_pass(
        torch.from_numpy(predicted), torch.from_numpy(truth), info, entries, EvaluationContext()
    )
    assert list(output.metrics) == ["miou", "pixel_accuracy", "dice_macro"]
    assert output.metrics == pytest.approx(during_training.values)
    assert len(output.rows) == len(entries) and output.report["task"] == "segmentation"
