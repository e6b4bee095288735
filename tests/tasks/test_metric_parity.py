"""Every figure of the tasks' evaluation and training metrics equals scikit-learn's.

Random tables of logits or values (several seeds, class counts from 2 to 10, a class absent from
the targets) go through ``Task.evaluate`` and ``Task.metrics``; each figure is recomputed here
with scikit-learn (and scipy's softmax), independently of how the tasks compute it.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.special import softmax
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    confusion_matrix,
    f1_score,
    max_error,
    mean_absolute_error,
    mean_squared_error,
    median_absolute_error,
    precision_recall_curve,
    precision_recall_fscore_support,
    precision_score,
    r2_score,
    recall_score,
    top_k_accuracy_score,
)

from aistudio.tasks import TargetInfo, get_task
from tests.evaluation.support import assert_plain_json

CLASSIFICATION = get_task("classification")
REGRESSION = get_task("regression")
CASES = [(seed, n_classes) for seed in (0, 1, 2) for n_classes in (2, 3, 7, 10)]


def _table(seed: int, n_classes: int, n: int = 300) -> tuple[np.ndarray, np.ndarray]:
    """Logits that lean towards the target (so the figures are not all near chance); the last
    class never is a target, and with an odd seed it is never predicted either."""
    rng = np.random.default_rng(seed)
    targets = rng.integers(0, n_classes - 1, size=n)
    logits = rng.normal(size=(n, n_classes))
    logits[np.arange(n), targets] += rng.uniform(0, 2.5, size=n)
    if seed % 2:
        logits[:, -1] -= 20.0
    return logits.astype(np.float32), targets


def _names(n_classes: int) -> list[str]:
    return [f"class-{k}" for k in range(n_classes)]


@pytest.mark.parametrize(("seed", "n_classes"), CASES)
def test_classification_metrics_equal_sklearn(seed: int, n_classes: int) -> None:
    logits, y = _table(seed, n_classes)
    info = TargetInfo(classes=_names(n_classes))
    out = CLASSIFICATION.evaluate(torch.from_numpy(logits), torch.from_numpy(y), info)
    scores = softmax(logits.astype(np.float64), axis=1)
    pred = logits.argmax(axis=1)
    present = sorted(set(y.tolist()))
    onehot = np.eye(n_classes)[y][:, present]
    expected = {
        "accuracy": accuracy_score(y, pred),
        "precision_macro": precision_score(y, pred, average="macro", zero_division=0),
        "recall_macro": recall_score(y, pred, average="macro", zero_division=0),
        "f1_macro": f1_score(y, pred, average="macro", zero_division=0),
        "precision_weighted": precision_score(y, pred, average="weighted", zero_division=0),
        "recall_weighted": recall_score(y, pred, average="weighted", zero_division=0),
        "f1_weighted": f1_score(y, pred, average="weighted", zero_division=0),
        "average_precision_macro": average_precision_score(
            onehot, scores[:, present], average="macro"
        ),
    }
    if n_classes > 5:
        for k in (3, 5):
            expected[f"top{k}_accuracy"] = top_k_accuracy_score(
                y, scores, k=k, labels=list(range(n_classes))
            )
    assert list(out.metrics) == list(expected)  # the primary one first, fixed order
    for name, value in expected.items():
        assert out.metrics[name] == pytest.approx(value, abs=1e-12), name
    assert out.report["task"] == "classification"
    assert out.report["metrics"] == out.metrics
    assert_plain_json(out.metrics, "metrics")
    assert_plain_json(out.rows, "rows")
    assert_plain_json(out.report, "report")


@pytest.mark.parametrize(("seed", "n_classes"), CASES)
def test_classification_rows_equal_softmax_and_argmax(seed: int, n_classes: int) -> None:
    logits, y = _table(seed, n_classes, n=50)
    names = _names(n_classes)
    out = CLASSIFICATION.evaluate(torch.from_numpy(logits), torch.from_numpy(y), TargetInfo(names))
    scores = softmax(logits.astype(np.float64), axis=1)
    assert len(out.rows) == len(y)
    for row, target, logit_row, score_row in zip(out.rows, y, logits, scores, strict=True):
        assert set(row) == {"target", "prediction", "confidence", "correct", "scores"}
        assert row["target"] == names[target]
        assert row["prediction"] == names[int(logit_row.argmax())]
        assert row["correct"] is (row["target"] == row["prediction"])
        assert row["confidence"] == pytest.approx(score_row.max(), abs=1e-12)
        np.testing.assert_allclose(row["scores"], score_row, atol=1e-12)


@pytest.mark.parametrize(("seed", "n_classes"), CASES)
def test_classification_report_equals_sklearn(seed: int, n_classes: int) -> None:
    logits, y = _table(seed, n_classes, n=600)
    names = _names(n_classes)
    report = CLASSIFICATION.evaluate(
        torch.from_numpy(logits), torch.from_numpy(y), TargetInfo(names)
    ).report
    scores = softmax(logits.astype(np.float64), axis=1)
    pred = logits.argmax(axis=1)
    labels = list(range(n_classes))
    assert report["classes"] == names
    precision, recall, f1, support = precision_recall_fscore_support(
        y, pred, labels=labels, average=None, zero_division=0
    )
    for k, row in enumerate(report["per_class"]):
        assert row["class"] == names[k]
        assert row["precision"] == pytest.approx(precision[k], abs=1e-12)
        assert row["recall"] == pytest.approx(recall[k], abs=1e-12)
        assert row["f1"] == pytest.approx(f1[k], abs=1e-12)
        assert row["support"] == support[k]
        if support[k] == 0:
            assert row["average_precision"] is None
        else:
            ap = average_precision_score(y == k, scores[:, k])
            assert row["average_precision"] == pytest.approx(ap, abs=1e-12)
    assert report["per_class"][-1]["support"] == 0  # the absent class is listed all the same
    assert report["confusion_matrix"] == confusion_matrix(y, pred, labels=labels).tolist()
    curves = report["pr_curves"]
    assert [c["class"] for c in curves] == [names[k] for k in labels if support[k] > 0]
    for curve in curves:
        k = names.index(curve["class"])
        full_p, full_r, _ = precision_recall_curve(y == k, scores[:, k])
        assert 2 <= len(curve["precision"]) == len(curve["recall"]) <= 200
        assert (curve["precision"][0], curve["recall"][0]) == (full_p[0], full_r[0])
        assert (curve["precision"][-1], curve["recall"][-1]) == (full_p[-1], full_r[-1])
        pairs = set(zip(full_p.tolist(), full_r.tolist(), strict=True))
        assert all(p in pairs for p in zip(curve["precision"], curve["recall"], strict=True))
        assert curve["average_precision"] == report["per_class"][k]["average_precision"]
    confidence = scores.max(axis=1)
    correct = pred == y
    sweep = report["threshold_sweep"]
    assert [s["threshold"] for s in sweep] == [round(0.05 * i, 2) for i in range(21)]
    for step in sweep:
        kept = confidence >= step["threshold"]
        assert step["images"] == int(kept.sum())
        assert step["coverage"] == pytest.approx(kept.mean(), abs=1e-12)
        if kept.any():
            assert step["accuracy"] == pytest.approx(correct[kept].mean(), abs=1e-12)
        else:
            assert step["accuracy"] is None
    assert sweep[0]["images"] == len(y)


def test_classification_evaluate_refuses_mismatches() -> None:
    info = TargetInfo(classes=["a", "b", "c"])
    with pytest.raises(ValueError, match="expected logits"):
        CLASSIFICATION.evaluate(torch.zeros(4, 2), torch.zeros(4, dtype=torch.long), info)
    with pytest.raises(ValueError, match="no images"):
        CLASSIFICATION.evaluate(torch.zeros(0, 3), torch.zeros(0, dtype=torch.long), info)
    with pytest.raises(ValueError, match="class indices"):
        CLASSIFICATION.evaluate(torch.zeros(2, 3), torch.tensor([0, 3]), info)


@pytest.mark.parametrize(("seed", "n_classes"), CASES)
def test_training_classification_metrics_equal_sklearn(seed: int, n_classes: int) -> None:
    logits, y = _table(seed, n_classes, n=120)
    info = TargetInfo(classes=_names(n_classes))
    values = CLASSIFICATION.metrics(torch.from_numpy(logits), torch.from_numpy(y), info).values
    pred = logits.argmax(axis=1)
    assert values["accuracy"] == pytest.approx(accuracy_score(y, pred), abs=1e-12)
    for name, func in (
        ("precision_macro", precision_score),
        ("recall_macro", recall_score),
        ("f1_macro", f1_score),
    ):
        expected = func(y, pred, average="macro", zero_division=0)
        assert values[name] == pytest.approx(expected, abs=1e-12), name


# ---------------------------------------------------------------------- regression
def _values(seed: int, n: int) -> tuple[np.ndarray, np.ndarray, TargetInfo]:
    """Normalised outputs and targets ``(n, 1)`` and the scaling back to the data's unit."""
    rng = np.random.default_rng(seed)
    info = TargetInfo(mean=float(rng.uniform(-50, 50)), std=float(rng.uniform(0.5, 20)))
    targets = rng.normal(size=(n, 1))
    outputs = targets + rng.normal(scale=0.4, size=(n, 1))
    return outputs.astype(np.float32), targets.astype(np.float32), info


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
@pytest.mark.parametrize("n", [2, 7, 250])
def test_regression_figures_equal_sklearn(seed: int, n: int) -> None:
    outputs, targets, info = _values(seed, n)
    out = REGRESSION.evaluate(torch.from_numpy(outputs), torch.from_numpy(targets), info)
    pred = outputs.astype(np.float64).reshape(-1) * info.std + info.mean
    truth = targets.astype(np.float64).reshape(-1) * info.std + info.mean
    expected = {
        "mae": mean_absolute_error(truth, pred),
        "rmse": math.sqrt(mean_squared_error(truth, pred)),
        "r2": r2_score(truth, pred),
        "median_absolute_error": median_absolute_error(truth, pred),
        "max_error": max_error(truth, pred),
    }
    assert list(out.metrics) == list(expected)
    for name, value in expected.items():
        assert out.metrics[name] == pytest.approx(value, rel=1e-9, abs=1e-9), name
    assert len(out.rows) == n
    for row, t, p in zip(out.rows, truth, pred, strict=True):
        assert set(row) == {"target", "prediction", "error", "abs_error"}
        assert row["target"] == pytest.approx(t, rel=1e-12)
        assert row["prediction"] == pytest.approx(p, rel=1e-12)
        assert row["error"] == pytest.approx(p - t, rel=1e-9, abs=1e-9)
        assert row["abs_error"] == pytest.approx(abs(p - t), rel=1e-9, abs=1e-9)
    report = out.report
    counts, edges = np.histogram(pred - truth, bins=30)
    assert report["residual_histogram"]["counts"] == counts.tolist()
    np.testing.assert_allclose(report["residual_histogram"]["edges"], edges, rtol=1e-12)
    assert report["target_range"] == pytest.approx([truth.min(), truth.max()])
    assert report["task"] == "regression"
    assert report["metrics"] == out.metrics
    assert_plain_json(out.rows, "rows")
    assert_plain_json(out.report, "report")


def test_regression_one_image_leaves_r2_out() -> None:
    info = TargetInfo(mean=10.0, std=2.0)
    out = REGRESSION.evaluate(torch.tensor([[0.5]]), torch.tensor([[0.0]]), info)
    assert "r2" not in out.metrics  # undefined for one image (sklearn gives NaN)
    assert out.metrics["mae"] == pytest.approx(1.0)
    assert out.rows == [{"target": 10.0, "prediction": 11.0, "error": 1.0, "abs_error": 1.0}]
    assert_plain_json(out.report, "report")


def test_regression_evaluate_refuses_mismatches() -> None:
    info = TargetInfo(mean=0.0, std=1.0)
    with pytest.raises(ValueError, match="one output and one target"):
        REGRESSION.evaluate(torch.zeros(3, 2), torch.zeros(3, 1), info)
    with pytest.raises(ValueError, match="no images"):
        REGRESSION.evaluate(torch.zeros(0, 1), torch.zeros(0, 1), info)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_training_regression_metrics_equal_sklearn(seed: int) -> None:
    outputs, targets, info = _values(seed, 90)
    values = REGRESSION.metrics(torch.from_numpy(outputs), torch.from_numpy(targets), info).values
    pred = outputs.astype(np.float64).reshape(-1) * info.std + info.mean
    truth = targets.astype(np.float64).reshape(-1) * info.std + info.mean
    assert values["mae"] == pytest.approx(mean_absolute_error(truth, pred), rel=1e-9)
    assert values["rmse"] == pytest.approx(math.sqrt(mean_squared_error(truth, pred)), rel=1e-9)
    assert values["r2"] == pytest.approx(r2_score(truth, pred), rel=1e-9)
