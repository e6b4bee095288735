"""torchvision's detectors behind the detector interface: build, losses, predict, ONNX export."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn
from torchvision.models import get_model
from torchvision.ops.misc import FrozenBatchNorm2d

from aistudio.tasks.detection_models import (
    DEFAULT_DETECTION_MODEL,
    DETECTION_MODELS,
    Detector,
    build_detector,
    detector_entry,
)
from aistudio.tasks.detection_models.torchvision_detectors import (
    TorchvisionDetector,
    build_torchvision_detector,
)
from aistudio.tasks.models import BATCHNORM_MOMENTUM, IMAGENET_WEIGHTS, NOT_REQUESTED

TORCHVISION = [spec.name for spec in DETECTION_MODELS if spec.name.split("_")[0] != "centernet"]
SIZE = 64


def _targets() -> list[dict[str, torch.Tensor]]:
    return [
        {
            "boxes": torch.tensor([[4.0, 6.0, 30.0, 40.0], [20.0, 18.0, 62.0, 60.0]]),
            "labels": torch.tensor([0, 2]),
        },
        {"boxes": torch.zeros(0, 4), "labels": torch.zeros(0, dtype=torch.int64)},
    ]


def test_the_catalogue_is_torch_free() -> None:
    code = (
        "import sys\n"
        "import aistudio.tasks.detection_models as d\n"
        "from aistudio.tasks.detection_models.catalogue import DETECTION_MODELS\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
        "print(len(d.DETECTION_MODELS))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert int(done.stdout) == len(DETECTION_MODELS)


def test_the_catalogue_names_sizes_and_notes() -> None:
    names = [spec.name for spec in DETECTION_MODELS]
    assert names[0] == DEFAULT_DETECTION_MODEL == "centernet_resnet18"
    assert set(TORCHVISION) == {
        "fcos_resnet18_fpn",
        "fcos_resnet50_fpn",
        "retinanet_resnet50_fpn_v2",
        "fasterrcnn_mobilenet_v3_large_fpn",
    }
    for spec in DETECTION_MODELS:
        assert spec.title and spec.note and len(spec.note) <= 120
        assert spec.min_image_size == SIZE
    with pytest.raises(ValueError, match="unknown detection model 'yolo'"):
        detector_entry("yolo")


@pytest.mark.parametrize("name", TORCHVISION)
def test_catalogue_sizes_match_the_built_networks_with_cocos_91_classes(name: str) -> None:
    # torchvision documents its detectors' sizes with COCO's 91-class heads; Faster R-CNN's
    # 91 include the background it adds itself
    classes = 90 if name.startswith("fasterrcnn") else 91
    model, _ = build_torchvision_detector(name, classes, SIZE, pretrained_weights=False)
    count = sum(p.numel() for p in model.parameters()) / 1e6
    assert detector_entry(name).spec.parameters_m == pytest.approx(count, abs=0.06)
    if name != "fcos_resnet18_fpn":  # the others are torchvision's architectures exactly
        reference = get_model(name, weights=None, weights_backbone=None, num_classes=91)
        assert count == pytest.approx(sum(p.numel() for p in reference.parameters()) / 1e6)


@pytest.mark.parametrize("name", TORCHVISION)
def test_each_detector_builds_trains_and_predicts_at_64_px(name: str) -> None:
    torch.manual_seed(0)
    detector, sentence = build_torchvision_detector(name, 3, SIZE, pretrained_weights=False)
    assert sentence == NOT_REQUESTED
    assert isinstance(detector, Detector)
    transform = detector.model.transform
    assert (transform.min_size, transform.max_size) == ((SIZE,), SIZE)
    assert transform.image_mean == [0.0, 0.0, 0.0] and transform.image_std == [1.0, 1.0, 1.0]
    norms = [m for m in detector.modules() if isinstance(m, nn.BatchNorm2d)]
    assert norms and all(m.momentum == BATCHNORM_MOMENTUM for m in norms)
    images = torch.randn(2, 3, SIZE, SIZE)

    detector.train()
    losses = detector.losses(images, _targets())
    assert losses and all(v.dim() == 0 and torch.isfinite(v) for v in losses.values())
    sum(losses.values()).backward()  # type: ignore[union-attr]

    detector.eval()  # a validation loss: BatchNorm statistics are left alone
    before = [m.running_mean.clone() for m in norms]
    losses = detector.losses(images, _targets())
    assert all(torch.isfinite(v) for v in losses.values())
    assert not detector.training and not detector.model.training
    assert all(torch.equal(m.running_mean, b) for m, b in zip(norms, before, strict=True))

    features = detector(images)  # the backbone, for recalibrate_batchnorm
    assert all(f.shape[0] == 2 for f in features.values())

    detector.train()
    predictions = detector.predict(images, score_threshold=0.0, nms_iou=0.5, max_detections=7)
    assert detector.training  # the mode is restored
    assert len(predictions) == 2
    for p in predictions:
        assert set(p) == {"boxes", "scores", "labels"}
        assert p["boxes"].dtype == torch.float32 and p["boxes"].shape[1:] == (4,)
        assert p["scores"].dtype == torch.float32 and p["labels"].dtype == torch.int64
        assert len(p["boxes"]) == len(p["scores"]) == len(p["labels"]) <= 7
        assert torch.equal(p["scores"], p["scores"].sort(descending=True).values)
        assert ((p["labels"] >= 0) & (p["labels"] < 3)).all()
        assert (p["boxes"] >= 0).all() and (p["boxes"] <= SIZE).all()


def test_faster_rcnn_labels_are_shifted_past_its_background() -> None:
    detector, _ = build_torchvision_detector(
        "fasterrcnn_mobilenet_v3_large_fpn", 2, SIZE, pretrained_weights=False
    )
    assert detector.label_offset == 1
    assert detector.model.roi_heads.box_predictor.cls_score.out_features == 3
    targets = detector._model_targets(_targets()[:1], (SIZE, SIZE))
    assert targets[0]["labels"].tolist() == [1, 3]


def test_boxes_without_area_are_dropped_before_torchvision_sees_them() -> None:
    detector, _ = build_torchvision_detector("fcos_resnet18_fpn", 2, SIZE, False)
    boxes = torch.tensor([[5.0, 5.0, 5.0, 20.0], [-4.0, 2.0, 80.0, 30.0]])
    targets = [{"boxes": boxes, "labels": torch.tensor([0, 1])}]
    cleaned = detector._model_targets(targets, (SIZE, SIZE))[0]
    assert cleaned["boxes"].tolist() == [[0.0, 2.0, 64.0, 30.0]]
    assert cleaned["labels"].tolist() == [1]


@pytest.mark.filterwarnings("ignore")  # the tracer's warnings about constant shapes
def test_fcos_exports_to_onnx_with_the_detections_of_predict() -> None:
    import onnxruntime as ort

    torch.manual_seed(0)
    detector, _ = build_torchvision_detector("fcos_resnet18_fpn", 3, SIZE, False)
    detector.eval()
    trace_input, other = torch.randn(1, 3, SIZE, SIZE), torch.randn(1, 3, SIZE, SIZE)
    ranked = detector.predict(trace_input, 0.0, 0.5, 50)[0]["scores"]
    threshold = float(ranked[5] + ranked[6]) / 2  # untrained: low scores, half-way between two
    module = detector.export_module(threshold, 0.5, 15)
    buffer = io.BytesIO()
    torch.onnx.export(module, (trace_input,), buffer, dynamo=False, opset_version=17)
    session = ort.InferenceSession(buffer.getvalue(), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    for x in (trace_input, other):
        boxes, scores, labels = session.run(None, {name: x.numpy()})
        expected = detector.predict(x, threshold, 0.5, 15)[0]
        assert len(boxes) == len(expected["boxes"]) > 0
        np.testing.assert_allclose(boxes, expected["boxes"].numpy(), rtol=1e-3, atol=1e-3)
        np.testing.assert_allclose(scores, expected["scores"].numpy(), rtol=1e-3, atol=1e-4)
        assert np.array_equal(labels, expected["labels"].numpy())


def test_a_detector_that_cannot_export_says_so() -> None:
    detector, _ = build_torchvision_detector("fcos_resnet18_fpn", 1, SIZE, False)
    blocked = TorchvisionDetector(detector.model, "some_model", exportable=False)
    with pytest.raises(NotImplementedError, match="some_model cannot be exported to ONNX"):
        blocked.export_module(0.1, 0.5, 10)


def test_cached_imagenet_backbones_are_loaded_and_frozen_like_torchvision(
    torch_cache: Path,
) -> None:
    _, sentence = build_torchvision_detector("fcos_resnet18_fpn", 2, SIZE, True)
    assert sentence.startswith("from scratch: no ImageNet weights for ResNet-18")
    torch.manual_seed(3)
    reference = get_model("resnet18", weights=None)
    torch.save(reference.state_dict(), torch_cache / "resnet18-f37072fd.pth")
    detector, sentence = build_detector("fcos_resnet18_fpn", 2, SIZE, pretrained_weights=True)
    assert sentence == IMAGENET_WEIGHTS
    body = detector.model.backbone.body
    assert torch.equal(body.conv1.weight, reference.conv1.weight)
    assert torch.equal(body.layer3[0].bn1.running_var, reference.layer3[0].bn1.running_var)
    assert isinstance(body.bn1, FrozenBatchNorm2d)
    assert not body.conv1.weight.requires_grad and not body.layer1[0].conv1.weight.requires_grad
    assert body.layer2[0].conv1.weight.requires_grad  # 3 trainable stages, as torchvision


def test_builders_reject_bad_requests() -> None:
    with pytest.raises(ValueError, match="at least 64 px"):
        build_detector("fcos_resnet18_fpn", 2, 32, pretrained_weights=False)
    with pytest.raises(ValueError, match="not a torchvision detector"):
        build_torchvision_detector("centernet_resnet18", 2, SIZE, False)
    with pytest.raises(ValueError, match="at least one class"):
        build_torchvision_detector("fcos_resnet18_fpn", 0, SIZE, False)
