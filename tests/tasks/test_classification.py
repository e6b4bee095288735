"""Classification: options, targets, loss and metrics (checked against scikit-learn)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from pydantic import ValidationError
from sklearn.metrics import accuracy_score, f1_score, precision_score, recall_score

from aistudio.tasks import TargetInfo, TaskInputError, TaskOptions, get_task
from aistudio.tasks.classification import ClassificationOptions, inverse_frequency_weights

TASK = get_task("classification")
INFO = TargetInfo(classes=["cat", "dog", "fox"])


def test_metadata() -> None:
    assert TASK.primary_metric == "accuracy"
    assert TASK.metric_mode == "max"
    assert TASK.metric_names == ("accuracy", "precision_macro", "recall_macro", "f1_macro")
    assert TASK.default_model == "resnet18"
    assert TASK.default_augmentations["horizontal_flip"] is True
    assert 0 < TASK.default_augmentations["rotation_degrees"] <= 15


def test_options_defaults_and_validation() -> None:
    options = TASK.validate_options({})
    assert isinstance(options, ClassificationOptions)
    assert (options.label_smoothing, options.class_weights) == (0.0, False)
    assert TASK.validate_options({"label_smoothing": 0.5, "class_weights": True}).class_weights
    for bad in (
        {"label_smoothing": 0.51},
        {"label_smoothing": -0.1},
        {"class_weights": "sometimes"},
        {"loss": "mse"},  # another task's option: extra keys are refused
    ):
        with pytest.raises(ValidationError):
            TASK.validate_options(bad)


def test_target_info_sorts_the_labels_present_in_train() -> None:
    info = TASK.target_info(["dog", None, "cat", "dog", "10", "2"], [None] * 6)
    assert info.classes == ["10", "2", "cat", "dog"]
    with pytest.raises(TaskInputError, match=r"at least two classes.*found 1 \('dog'\)"):
        TASK.target_info(["dog", "dog", None], [None] * 3)
    with pytest.raises(TaskInputError, match=r"found 0 \(none\)"):
        TASK.target_info([None], [1.0])


def test_target_is_the_class_index() -> None:
    target = TASK.target("fox", None, INFO)
    assert target.dtype == torch.long
    assert target.shape == ()
    assert int(target) == 2
    with pytest.raises(TaskInputError, match="'wolf' is not one of the 3 classes"):
        TASK.target("wolf", None, INFO)
    with pytest.raises(TaskInputError, match="without a label"):
        TASK.target(None, 3.0, INFO)


def _batch() -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    return torch.randn(16, 3, generator=generator), torch.randint(0, 3, (16,), generator=generator)


def test_plain_cross_entropy() -> None:
    logits, targets = _batch()
    loss = TASK.loss_fn(TASK.validate_options({}), INFO, [5, 5, 6])
    assert loss.weight is None
    assert torch.allclose(loss(logits, targets), F.cross_entropy(logits, targets))
    base = TASK.loss_fn(TaskOptions(), INFO, [])  # the base options mean the defaults
    assert torch.allclose(base(logits, targets), F.cross_entropy(logits, targets))


def test_label_smoothing_and_class_weights() -> None:
    logits, targets = _batch()
    options = TASK.validate_options({"label_smoothing": 0.2, "class_weights": True})
    loss = TASK.loss_fn(options, INFO, [10, 30, 20])
    expected_weight = torch.tensor([60 / 30, 60 / 90, 60 / 60])
    assert torch.allclose(loss.weight, expected_weight)
    expected = F.cross_entropy(logits, targets, weight=expected_weight, label_smoothing=0.2)
    assert torch.allclose(loss(logits, targets), expected)


def test_inverse_frequency_weights_match_scikit_learn_balanced() -> None:
    from sklearn.utils.class_weight import compute_class_weight

    labels = np.array([0] * 7 + [1] * 2 + [2] * 11)
    ours = inverse_frequency_weights(np.bincount(labels).tolist(), 3)
    theirs = compute_class_weight("balanced", classes=np.arange(3), y=labels)
    assert np.allclose(ours, theirs)
    with pytest.raises(TaskInputError, match="need 3 class counts, got 2"):
        inverse_frequency_weights([4, 5], 3)
    with pytest.raises(TaskInputError, match="every class"):
        inverse_frequency_weights([4, 0, 5], 3)


@pytest.mark.parametrize(
    ("seed", "n", "n_classes", "true_classes"),
    [
        (0, 200, 5, 5),
        (1, 37, 3, 3),
        (2, 50, 6, 4),  # two classes never true: predicted now and then, or never
        (3, 9, 10, 10),  # few samples: many classes neither true nor predicted
    ],
)
def test_metrics_match_scikit_learn(seed: int, n: int, n_classes: int, true_classes: int) -> None:
    generator = torch.Generator().manual_seed(seed)
    logits = torch.randn(n, n_classes, generator=generator)
    targets = torch.randint(0, true_classes, (n,), generator=generator)
    logits[: n // 2, :] += 3 * F.one_hot(targets[: n // 2], n_classes)  # better than chance
    info = TargetInfo(classes=[f"c{i}" for i in range(n_classes)])
    result = TASK.metrics(logits, targets, info)
    assert result.primary == "accuracy"
    assert list(result.values) == list(TASK.metric_names)
    y_true, y_pred = targets.numpy(), logits.argmax(1).numpy()
    expected = {
        "accuracy": accuracy_score(y_true, y_pred),
        "precision_macro": precision_score(y_true, y_pred, average="macro", zero_division=0),
        "recall_macro": recall_score(y_true, y_pred, average="macro", zero_division=0),
        "f1_macro": f1_score(y_true, y_pred, average="macro", zero_division=0),
    }
    for name, value in expected.items():
        assert result.values[name] == pytest.approx(value, abs=1e-12), name
        assert isinstance(result.values[name], float)


def test_perfect_predictions_score_one() -> None:
    targets = torch.tensor([0, 1, 2, 2])
    result = TASK.metrics(F.one_hot(targets, 3).float(), targets, INFO)
    assert result.values == {
        "accuracy": 1.0,
        "precision_macro": 1.0,
        "recall_macro": 1.0,
        "f1_macro": 1.0,
    }


def test_metrics_refuse_empty_or_mismatched_inputs() -> None:
    with pytest.raises(ValueError, match="no images"):
        TASK.metrics(torch.zeros(0, 3), torch.zeros(0, dtype=torch.long), INFO)
    with pytest.raises(ValueError, match="expected logits"):
        TASK.metrics(torch.zeros(4, 3), torch.zeros(5, dtype=torch.long), INFO)
    with pytest.raises(ValueError, match="class indices"):
        TASK.metrics(torch.zeros(2, 3), torch.tensor([0, 3]), INFO)
