"""CenterNet: it learns a toy set, decodes hand-made maps, and exports to matching ONNX."""

from __future__ import annotations

import io
import logging
import math
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn
from torchvision.models import resnet18
from torchvision.ops import box_iou

from aistudio.tasks import TaskInputError
from aistudio.tasks.detection_models import Detector, build_detector
from aistudio.tasks.detection_models.centernet import (
    HEATMAP_PRIOR_BIAS,
    STRIDE,
    CenterNet,
    build_centernet,
    gaussian_radius,
)
from aistudio.tasks.models import (
    BATCHNORM_MOMENTUM,
    IMAGENET_WEIGHTS,
    NOT_REQUESTED,
    recalibrate_batchnorm,
)

logger = logging.getLogger(__name__)

MEAN, STD = 0.45, 0.25  # a rough normalisation of the toy images (the pipeline uses ImageNet's)


def _toy_set(count: int = 16, size: int = 64) -> tuple[torch.Tensor, list[dict[str, torch.Tensor]]]:
    """Noise with 1-2 bright squares: class 0 red, class 1 blue."""
    gen = torch.Generator().manual_seed(1)
    images, targets = [], []
    for _ in range(count):
        image = torch.rand(3, size, size, generator=gen) * 0.3
        boxes, labels = [], []
        for _ in range(1 + int(torch.randint(0, 2, (1,), generator=gen))):
            side = int(torch.randint(10, 24, (1,), generator=gen))
            x = int(torch.randint(0, size - side, (1,), generator=gen))
            y = int(torch.randint(0, size - side, (1,), generator=gen))
            label = int(torch.randint(0, 2, (1,), generator=gen))
            image[0 if label == 0 else 2, y : y + side, x : x + side] = 1.0
            boxes.append([x, y, x + side, y + side])
            labels.append(label)
        images.append(image)
        targets.append(
            {"boxes": torch.tensor(boxes, dtype=torch.float32), "labels": torch.tensor(labels)}
        )
    return (torch.stack(images) - MEAN) / STD, targets


def _found(prediction: dict[str, torch.Tensor], target: dict[str, torch.Tensor]) -> list[float]:
    """Per target box, the best IoU of a prediction of the same class (0 if none)."""
    best = []
    for box, label in zip(target["boxes"], target["labels"], strict=True):
        same = prediction["labels"] == label
        if not same.any():
            best.append(0.0)
            continue
        best.append(float(box_iou(box[None], prediction["boxes"][same]).max()))
    return best


def test_it_learns_a_toy_set_in_fifty_steps() -> None:
    torch.manual_seed(0)
    images, targets = _toy_set()
    model = CenterNet(num_classes=2)
    optimiser = torch.optim.AdamW(model.parameters(), lr=1e-3)
    model.train()
    start = time.perf_counter()
    first = last = 0.0
    for step in range(50):
        losses = model.losses(images, targets)
        loss = sum(losses.values())
        assert isinstance(loss, torch.Tensor)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        if step == 0:
            first = loss.item()
        last = loss.item()
    logger.info("50 CenterNet steps on 16 images of 64 px: %.1f s", time.perf_counter() - start)
    assert last < first / 10, (first, last)
    predictions = model.predict(images, score_threshold=0.3, nms_iou=0.5, max_detections=10)
    assert model.training  # the mode is restored
    ious = [iou for p, t in zip(predictions, targets, strict=True) for iou in _found(p, t)]
    hits = sum(iou > 0.5 for iou in ious)
    assert hits >= 0.8 * len(ious), ious


def _maps(classes: int, grid: int) -> dict[str, torch.Tensor]:
    return {
        "heatmap": torch.full((1, classes, grid, grid), -10.0),
        "size": torch.zeros(1, 2, grid, grid),
        "offset": torch.zeros(1, 2, grid, grid),
    }


def test_a_peak_decodes_to_its_box() -> None:
    model = CenterNet(num_classes=3)
    out = _maps(3, 16)  # a 64 px input
    out["heatmap"][0, 1, 5, 7] = 2.0
    out["heatmap"][0, 1, 5, 8] = 1.0  # a shoulder of the same peak: not a peak itself
    out["size"][0, :, 5, 7] = torch.tensor([math.log(3.0), math.log(2.0)])
    out["offset"][0, :, 5, 7] = torch.tensor([0.5, 0.25])
    out["heatmap"][0, 2, 0, 0] = 0.5  # a weaker object in the corner, partly outside
    out["size"][0, :, 0, 0] = math.log(4.0)
    boxes, scores, labels = model.decode(out, (64, 64), 0.3, 0.5, 10)[0]
    assert labels.tolist() == [1, 2]
    assert scores.tolist() == pytest.approx([torch.sigmoid(torch.tensor(2.0)).item(), 0.6225], 1e-3)
    # centre (7.5, 5.25) cells = (30, 21) px; size 3 x 2 cells = 12 x 8 px
    assert boxes[0].tolist() == pytest.approx([24.0, 17.0, 36.0, 25.0], abs=1e-4)
    assert boxes[1].tolist() == pytest.approx([0.0, 0.0, 8.0, 8.0], abs=1e-4)  # clamped at 0
    boxes, _, labels = model.decode(out, (64, 64), 0.7, 0.5, 10)[0]
    assert labels.tolist() == [1]  # the threshold drops the weaker one
    assert len(model.decode(out, (64, 64), 0.3, 0.5, 1)[0][0]) == 1  # max_detections


def test_overlapping_peaks_of_one_class_go_through_nms() -> None:
    model = CenterNet(num_classes=2)
    out = _maps(2, 16)
    for x, logit in ((4, 2.0), (6, 1.5)):  # two peaks 2 cells apart, boxes of 10 x 10 cells
        out["heatmap"][0, 0, 8, x] = logit
        out["size"][0, :, 8, x] = math.log(10.0)
    out["heatmap"][0, 1, 8, 6] = 1.0  # another class at the same place is kept
    out["size"][0, :, 8, 6] = math.log(10.0)
    _, scores, labels = model.decode(out, (64, 64), 0.1, 0.5, 10)[0]
    assert labels.tolist() == [0, 1]
    assert scores[0] > scores[1]
    _, _, labels = model.decode(out, (64, 64), 0.1, 1.0, 10)[0]  # no suppression at IoU 1
    assert sorted(labels.tolist()) == [0, 0, 1]


def test_targets_splat_gaussians_with_centernets_radius() -> None:
    model = CenterNet(num_classes=2)
    targets = [
        {"boxes": torch.tensor([[8.0, 12.0, 40.0, 36.0]]), "labels": torch.tensor([1])},
        {"boxes": torch.zeros(0, 4), "labels": torch.zeros(0, dtype=torch.int64)},
    ]
    heat, centres, sizes, offsets = model.encode_targets(targets, (16, 16), (64, 64))
    assert heat.shape == (2, 2, 16, 16)
    assert heat[1].sum() == 0 and heat[0, 0].sum() == 0
    # centre (24, 24) px = cell (6, 6); the peak is exactly 1 and the only 1
    assert heat[0, 1, 6, 6] == 1.0
    assert int((heat == 1.0).sum()) == 1
    assert centres[0].tolist() == [6 * 16 + 6] and centres[1].numel() == 0
    assert sizes[0].tolist() == pytest.approx([math.log(8.0), math.log(6.0)])
    assert offsets[0].tolist() == pytest.approx([0.0, 0.0])
    radius = int(gaussian_radius(torch.tensor(6.0), torch.tensor(8.0)))
    sigma = (2 * radius + 1) / 6
    assert heat[0, 1, 6, 7] == pytest.approx(math.exp(-1 / (2 * sigma**2)), rel=1e-5)
    assert heat[0, 1, 6, 6 + radius + 1] == 0.0  # truncated beyond the radius


def _reference_radius(height: float, width: float, min_overlap: float = 0.7) -> float:
    """``gaussian_radius`` of CenterNet's ``src/lib/utils/image.py``, verbatim in numpy."""
    b1 = height + width
    c1 = width * height * (1 - min_overlap) / (1 + min_overlap)
    r1 = (b1 + np.sqrt(b1**2 - 4 * c1)) / 2
    b2 = 2 * (height + width)
    c2 = (1 - min_overlap) * width * height
    r2 = (b2 + np.sqrt(b2**2 - 16 * c2)) / 2
    a3 = 4 * min_overlap
    b3 = -2 * min_overlap * (height + width)
    c3 = (min_overlap - 1) * width * height
    r3 = (b3 + np.sqrt(b3**2 - 4 * a3 * c3)) / 2
    return float(min(r1, r2, r3))


@pytest.mark.parametrize(("height", "width"), [(2.0, 2.0), (6.0, 8.0), (30.0, 5.0), (100.0, 90.0)])
def test_gaussian_radius_matches_centernet(height: float, width: float) -> None:
    radius = gaussian_radius(torch.tensor(height), torch.tensor(width))
    assert float(radius) == pytest.approx(_reference_radius(height, width), rel=1e-5)


def test_negative_images_and_degenerate_boxes_give_finite_losses() -> None:
    torch.manual_seed(0)
    model = CenterNet(num_classes=2).train()
    images = torch.randn(2, 3, 64, 64)
    empty = {"boxes": torch.zeros(0, 4), "labels": torch.zeros(0, dtype=torch.int64)}
    flat = {"boxes": torch.tensor([[10.0, 10.0, 10.0, 30.0]]), "labels": torch.tensor([0])}
    for targets in ([empty, empty], [empty, flat]):
        losses = model.losses(images, targets)
        assert set(losses) == {"heatmap", "size", "offset"}
        assert all(v.dim() == 0 and torch.isfinite(v) for v in losses.values())
        assert losses["size"] == 0 and losses["offset"] == 0
        sum(losses.values()).backward()  # type: ignore[union-attr]
    with pytest.raises(ValueError, match="labels must lie"):
        model.losses(images, [empty, {"boxes": flat["boxes"], "labels": torch.tensor([2])}])


@pytest.mark.parametrize("size", [64, 96, 80])
def test_any_size_runs_sizes_off_32_are_padded(size: int) -> None:
    model = CenterNet(num_classes=2).eval()
    out = model(torch.randn(1, 3, size, size))
    grid = math.ceil(size / 32) * 32 // STRIDE
    assert out["heatmap"].shape == (1, 2, grid, grid)
    prediction = model.predict(torch.randn(2, 3, size, size), 0.0, 0.5, 20)
    for p in prediction:
        assert p["boxes"].dtype == torch.float32 and p["scores"].dtype == torch.float32
        assert p["labels"].dtype == torch.int64
        assert len(p["boxes"]) <= 20
        assert (p["boxes"] >= 0).all() and (p["boxes"] <= size).all()
        assert torch.equal(p["scores"], p["scores"].sort(descending=True).values)


def test_small_or_malformed_inputs_are_clear_errors() -> None:
    model = CenterNet(num_classes=1)
    with pytest.raises(ValueError, match="at least 32 px"):
        model(torch.randn(1, 3, 16, 16))
    with pytest.raises(ValueError, match="N x 3 x H x W"):
        model(torch.randn(3, 64, 64))
    with pytest.raises(ValueError, match="at least one class"):
        CenterNet(num_classes=0)
    with pytest.raises(ValueError, match="unknown trunk"):
        CenterNet(num_classes=1, trunk="vgg16")


def test_the_heads_start_from_centernets_prior() -> None:
    model = CenterNet(num_classes=4, head_channels=32)
    assert torch.allclose(model.heatmap[-1].bias, torch.full((4,), HEATMAP_PRIOR_BIAS))
    assert isinstance(model, Detector)
    norms = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    assert norms and all(m.momentum == BATCHNORM_MOMENTUM for m in norms)
    assert any(isinstance(m, nn.GroupNorm) for m in model.heatmap.modules())


def _onnx_run(module: nn.Module, trace_input: torch.Tensor, inputs: list[torch.Tensor]) -> list:
    import onnxruntime as ort

    buffer = io.BytesIO()
    torch.onnx.export(
        module,
        (trace_input,),
        buffer,
        dynamo=False,
        opset_version=17,
        input_names=["image"],
        output_names=["boxes", "scores", "labels"],
    )
    session = ort.InferenceSession(buffer.getvalue(), providers=["CPUExecutionProvider"])
    return [session.run(None, {"image": x.numpy()}) for x in inputs]


@pytest.mark.filterwarnings("ignore")  # the tracer's warnings about constant shapes
def test_the_onnx_export_gives_the_detections_of_predict() -> None:
    torch.manual_seed(0)
    model = CenterNet(num_classes=3).eval()
    inputs = [torch.randn(1, 3, 64, 64) * scale for scale in (0.1, 1.0, 3.0)]
    scores = [float(model.predict(x, 0.0, 0.5, 1)[0]["scores"][0]) for x in inputs]
    low, middle, _ = sorted(scores)
    threshold = (low + middle) / 2  # one input gives no detection, the others some
    module = model.export_module(threshold, 0.5, 20)
    quiet = inputs[int(np.argmin(scores))]
    for trace_input in (inputs[1], quiet):  # tracing on an input without detections is fine
        results = _onnx_run(module, trace_input, inputs)
        counts = []
        for x, (boxes, found_scores, labels) in zip(inputs, results, strict=True):
            expected = model.predict(x, threshold, 0.5, 20)[0]
            assert len(boxes) == len(expected["boxes"])
            counts.append(len(boxes))
            np.testing.assert_allclose(boxes, expected["boxes"].numpy(), rtol=1e-3, atol=1e-3)
            np.testing.assert_allclose(found_scores, expected["scores"].numpy(), rtol=1e-3)
            assert labels.dtype == np.int64
            assert np.array_equal(labels, expected["labels"].numpy())
        assert min(counts) == 0 < max(counts)


def test_build_centernet_without_weights(torch_cache: Path) -> None:
    model, sentence = build_centernet(2, pretrained_weights=False)
    assert sentence == NOT_REQUESTED
    assert model.num_classes == 2
    model, sentence = build_centernet(2, pretrained_weights=True)
    expected = torch_cache / "resnet18-f37072fd.pth"
    assert sentence == (
        f"from scratch: no ImageNet weights for ResNet-18 in the local torch cache ({expected})"
    )
    detector, sentence = build_detector("centernet_resnet18", 2, 64, pretrained_weights=False)
    assert isinstance(detector, CenterNet) and sentence == NOT_REQUESTED


def test_build_centernet_loads_the_cached_trunk(torch_cache: Path) -> None:
    torch.manual_seed(1)
    reference = resnet18(weights=None)
    torch.save(reference.state_dict(), torch_cache / "resnet18-f37072fd.pth")
    model, sentence = build_centernet(2, pretrained_weights=True)
    assert sentence == IMAGENET_WEIGHTS
    assert torch.equal(model.stem[0].weight, reference.conv1.weight)
    assert torch.equal(model.layer4[1].bn2.running_var, reference.layer4[1].bn2.running_var)
    assert all(m.momentum == BATCHNORM_MOMENTUM for m in model.modules() if hasattr(m, "momentum"))
    (torch_cache / "resnet18-f37072fd.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(TaskInputError, match="cannot be loaded"):
        build_centernet(2, pretrained_weights=True)


def test_batchnorm_recalibration_runs_the_trunk() -> None:
    model = CenterNet(num_classes=2).eval()
    assert recalibrate_batchnorm(model, [torch.randn(2, 3, 64, 64)]) == 1
    assert not model.training
    assert model.stem[1].running_var.ne(1).any()
