"""Regression: options, normalised targets, losses and metrics (checked against scikit-learn)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from pydantic import ValidationError
from sklearn.metrics import mean_absolute_error, r2_score, root_mean_squared_error
from torch import nn

from aistudio.tasks import TargetInfo, TaskInputError, TaskOptions, get_task
from aistudio.tasks.regression import RegressionOptions

TASK = get_task("regression")


def test_metadata_and_conservative_augmentations() -> None:
    assert TASK.primary_metric == "mae"
    assert TASK.metric_mode == "min"
    assert TASK.metric_names == ("mae", "rmse", "r2")
    assert TASK.default_augmentations == {
        "random_resized_crop": False,
        "horizontal_flip": True,
        "vertical_flip": False,
        "rotation_degrees": 0.0,
        "color_jitter": 0.0,
    }


def test_options_defaults_and_validation() -> None:
    options = TASK.validate_options({})
    assert isinstance(options, RegressionOptions)
    assert (options.loss, options.huber_delta) == ("mse", 1.0)
    assert TASK.validate_options({"loss": "huber", "huber_delta": 0.5}).huber_delta == 0.5
    for bad in (
        {"loss": "mape"},
        {"huber_delta": 0},
        {"huber_delta": -1.0},
        {"label_smoothing": 0.1},  # a classification option
    ):
        with pytest.raises(ValidationError):
            TASK.validate_options(bad)


def test_target_info_is_the_mean_and_std_of_train_values() -> None:
    values = [3.0, None, 7.5, -1.0, 12.25]
    info = TASK.target_info([None] * 5, values)
    known = np.array([v for v in values if v is not None])
    assert info.mean == pytest.approx(known.mean())
    assert info.std == pytest.approx(known.std(ddof=0))
    assert info.classes == []


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ([4.0, None], "at least two images with a value.*found 1"),
        ([2.5, 2.5, 2.5], "all 3 values of the train subset are equal \\(2.5\\)"),
        ([1.0, math.nan, 2.0], "not finite"),
        ([1.0, math.inf], "not finite"),
    ],
)
def test_target_info_refuses_values_with_nothing_to_learn(
    values: list[float | None], message: str
) -> None:
    with pytest.raises(TaskInputError, match=message):
        TASK.target_info([None] * len(values), values)


def test_targets_are_normalised() -> None:
    info = TargetInfo(mean=10.0, std=4.0)
    target = TASK.target(None, 16.0, info)
    assert target.dtype == torch.float32
    assert target.shape == (1,)
    assert float(target) == pytest.approx(1.5)
    with pytest.raises(TaskInputError, match="without a finite value"):
        TASK.target("cat", None, info)
    with pytest.raises(TaskInputError, match="without a finite value"):
        TASK.target(None, math.nan, info)


def test_a_model_output_matches_a_target_shape() -> None:
    model, _ = TASK.build_model("resnet18", TargetInfo(mean=1.0, std=2.0), False)
    model.eval()
    with torch.no_grad():
        outputs = model(torch.randn(2, 3, 32, 32))
    targets = torch.stack([TASK.target(None, v, TargetInfo(mean=1.0, std=2.0)) for v in (0, 5)])
    assert outputs.shape == targets.shape == (2, 1)


@pytest.mark.parametrize(
    ("options", "kind", "reference"),
    [
        ({}, nn.MSELoss, F.mse_loss),
        ({"loss": "l1"}, nn.L1Loss, F.l1_loss),
        ({"loss": "huber"}, nn.HuberLoss, lambda a, b: F.huber_loss(a, b, delta=1.0)),
        (
            {"loss": "huber", "huber_delta": 0.3},
            nn.HuberLoss,
            lambda a, b: F.huber_loss(a, b, delta=0.3),
        ),
    ],
)
def test_losses(options: dict[str, object], kind: type[nn.Module], reference: object) -> None:
    generator = torch.Generator().manual_seed(0)
    outputs, targets = (
        torch.randn(8, 1, generator=generator),
        torch.randn(8, 1, generator=generator),
    )
    loss = TASK.loss_fn(TASK.validate_options(options), TargetInfo(mean=0.0, std=1.0), [])
    assert type(loss) is kind
    assert torch.allclose(loss(outputs, targets), reference(outputs, targets))


def test_base_options_mean_the_default_loss() -> None:
    assert type(TASK.loss_fn(TaskOptions(), TargetInfo(), [])) is nn.MSELoss


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("flat", [False, True])
def test_metrics_are_computed_on_denormalised_values_like_scikit_learn(
    seed: int, flat: bool
) -> None:
    rng = np.random.default_rng(seed)
    info = TargetInfo(mean=float(rng.normal(50, 10)), std=float(rng.uniform(0.5, 20)))
    truth = rng.normal(info.mean, info.std, size=40)
    predicted = truth + rng.normal(0, info.std * 0.7, size=40)
    outputs = torch.tensor((predicted - info.mean) / info.std, dtype=torch.float32)
    targets = torch.tensor((truth - info.mean) / info.std, dtype=torch.float32)
    if not flat:
        outputs, targets = outputs[:, None], targets[:, None]
    result = TASK.metrics(outputs, targets, info)
    assert result.primary == "mae"
    # the tensors are float32: compare with what they hold, de-normalised
    y_pred = outputs.double().numpy().reshape(-1) * info.std + info.mean
    y_true = targets.double().numpy().reshape(-1) * info.std + info.mean
    assert result.values["mae"] == pytest.approx(mean_absolute_error(y_true, y_pred), rel=1e-9)
    assert result.values["rmse"] == pytest.approx(root_mean_squared_error(y_true, y_pred), rel=1e-9)
    assert result.values["r2"] == pytest.approx(r2_score(y_true, y_pred), rel=1e-9)
    assert result.values["mae"] == pytest.approx(np.abs(predicted - truth).mean(), rel=1e-5)


@pytest.mark.parametrize("predicted", [[3.0, 3.0, 3.0], [3.0, 2.0, 4.0]])
def test_r2_of_constant_targets_follows_scikit_learn(predicted: list[float]) -> None:
    info = TargetInfo(mean=0.0, std=1.0)
    result = TASK.metrics(torch.tensor(predicted), torch.tensor([3.0, 3.0, 3.0]), info)
    assert result.values["r2"] == r2_score([3.0, 3.0, 3.0], predicted)


def test_metrics_refuse_empty_or_mismatched_inputs() -> None:
    info = TargetInfo()
    with pytest.raises(ValueError, match="no images"):
        TASK.metrics(torch.zeros(0, 1), torch.zeros(0, 1), info)
    with pytest.raises(ValueError, match="one output and one target per image"):
        TASK.metrics(torch.zeros(4, 2), torch.zeros(4, 1), info)
    with pytest.raises(ValueError, match="one output and one target per image"):
        TASK.metrics(torch.zeros(4, 1), torch.zeros(3, 1), info)
