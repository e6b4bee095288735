"""Instance-segmentation exports: ``boxes``, ``scores``, ``labels``, ``masks`` through ONNX.

A tiny real network stands in for the model (the export-module interface: one 1 x 3 x S x S
image in; boxes K x 4, scores K, labels K int64 and masks K x S x S probabilities, 0 outside
their boxes, sorted by score, out): a fixed 3 x 3 blur of the normalised image, whose bright
pixels are the objects, one per half of the image. Its outputs depend on the image (the number
of objects too), so PyTorch and ONNX Runtime agreeing means something; a variant whose masks
lose half of each object shows that different masks fail validation, with the figures.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch import Tensor, nn

from aistudio.export.adapters import (
    MASK_IOU,
    DetectionsAdapter,
    InstancesAdapter,
    InstancesValidation,
    Opened,
    mask_iou,
    matched_detections,
)
from aistudio.export.metadata import ExportSource, build_metadata, decode_metadata
from aistudio.export.onnx_export import (
    export_onnx,
    onnx_named_runner,
    onnx_runner,
    read_onnx_metadata,
)
from aistudio.export.validate import Validation, ValidationError, model_inputs
from aistudio.training.data import IMAGENET_MEAN, IMAGENET_STD

SIZE = 32
CLASSES = ["left", "right"]
FLOOR = 0.05
DARK, BRIGHT = 20, 230


class TinyInstances(nn.Module):
    """Two candidate objects, the bright pixels of each half of the image (class = half).

    A pixel's mask probability is ``sigmoid(4 * blur(mean of channels))`` inside its half; an
    object's box is the bounds of its pixels at or above 0.5, its mask is 0 outside that box, and
    its score grows with its area. Objects scoring under ``floor`` are dropped; the rest are
    sorted by score. ``broken``: each mask loses the left half of its box (the boxes stay).
    """

    def __init__(self, floor: float = FLOOR, broken: bool = False) -> None:
        super().__init__()
        self.blur = nn.Conv2d(3, 1, 3, padding=1, padding_mode="replicate", bias=False)
        with torch.no_grad():
            self.blur.weight.fill_(1.0 / 27.0)
        self.floor = floor
        self.broken = broken

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        size = x.shape[-1]
        probability = torch.sigmoid(4.0 * self.blur(x))[0, 0]  # S x S
        xs = torch.arange(size, dtype=torch.float32).view(1, size).expand(size, size)
        ys = torch.arange(size, dtype=torch.float32).view(size, 1).expand(size, size)
        halves = torch.stack([xs < size / 2, xs >= size / 2])  # 2 x S x S
        inside = (probability >= 0.5).unsqueeze(0) & halves
        big = (xs * 0 + size).expand(2, size, size)
        zero = torch.zeros_like(xs).expand(2, size, size)
        x1 = torch.where(inside, xs, big).flatten(1).amin(1)
        y1 = torch.where(inside, ys, big).flatten(1).amin(1)
        x2 = torch.where(inside, xs + 1, zero).flatten(1).amax(1)
        y2 = torch.where(inside, ys + 1, zero).flatten(1).amax(1)
        boxes = torch.stack([x1, y1, x2, y2], dim=1)
        in_box = (
            (xs >= x1.view(2, 1, 1))
            & (xs < x2.view(2, 1, 1))
            & (ys >= y1.view(2, 1, 1))
            & (ys < y2.view(2, 1, 1))
        )
        if self.broken:
            in_box = in_box & (xs >= ((x1 + x2) / 2).view(2, 1, 1))
        masks = probability.unsqueeze(0) * halves * in_box
        scores = 1.0 - torch.exp(-8.0 * (probability.unsqueeze(0) * halves).flatten(1).mean(1))
        labels = torch.arange(2, dtype=torch.int64)
        order = torch.argsort(scores, descending=True)
        boxes, scores, labels, masks = boxes[order], scores[order], labels[order], masks[order]
        keep = scores >= self.floor
        return boxes[keep], scores[keep], labels[keep], masks[keep].float()


class BoxesOnly(nn.Module):
    """The same detector without its masks (a plain detection export)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        boxes, scores, labels, _masks = self.model(x)
        return boxes, scores, labels


def build_tiny(_model: nn.Module) -> nn.Module:
    """The adapter's module builder: the network passed in is the tiny one itself."""
    return _model


def scene(width: int, height: int, rects: list[tuple[int, int, int, int, int]]) -> np.ndarray:
    """A dark ``height x width x 3`` uint8 image with bright ``(x1, y1, x2, y2, value)`` rects."""
    image = np.full((height, width, 3), DARK, dtype=np.uint8)
    for x1, y1, x2, y2, value in rects:
        image[y1:y2, x1:x2] = value
    return image


def validation_images() -> torch.Tensor:
    """Six S x S scenes: objects in both halves, in one half only, of several sizes."""
    layouts = [
        [(2, 4, 12, 14, BRIGHT), (20, 18, 30, 28, BRIGHT)],
        [(4, 2, 14, 26, BRIGHT)],
        [(18, 6, 28, 30, 250), (1, 20, 9, 31, 200)],
        [(3, 3, 15, 15, BRIGHT), (17, 17, 31, 31, BRIGHT)],
        [(20, 2, 31, 10, BRIGHT)],
        [(5, 8, 11, 24, 240), (22, 4, 28, 28, 210)],
    ]
    stacked = np.stack([scene(SIZE, SIZE, rects) for rects in layouts])
    return torch.from_numpy(stacked).permute(0, 3, 1, 2).contiguous()


def source() -> ExportSource:
    return ExportSource(
        project_id="proj-0000abcd",
        project_name="instances",
        experiment_id="exp-0000abcd",
        experiment_name="tiny",
        model="tiny",
        checkpoint="best",
        checkpoint_epoch=1,
        checkpoint_sha256="0" * 64,
        export_id="xpt-0000abcd",
        seq=1,
    )


TASK_METADATA: dict[str, Any] = {
    "classes": CLASSES,
    "output": "final objects of one image: boxes, scores, labels and masks; NMS in the graph",
    "coordinates": {
        "boxes": "pixels of the image_size x image_size input",
        "to_image": "x * width / image_size, y * height / image_size",
    },
}


def export_file(
    adapter: DetectionsAdapter, graph: nn.Module, reference: Any, path: Path, task: str
) -> dict[str, str]:
    """What the export job does: the metadata from the adapter, then the ONNX file."""
    metadata = build_metadata(
        task=task,
        image_size=SIZE,
        mean=IMAGENET_MEAN,
        std=IMAGENET_STD,
        output=adapter.output(reference, str(TASK_METADATA["output"])),
        task_metadata={**TASK_METADATA, **adapter.extra_metadata()},
        source=source(),
    )
    export_onnx(
        graph,
        SIZE,
        path,
        metadata,
        17,
        adapter.output_names,
        adapter.dynamic_axes(),
        adapter.batch,
    )
    return metadata


def opened(path: Path) -> Opened:
    return Opened(
        single=lambda: onnx_runner(path), named=lambda names: onnx_named_runner(path, names)
    )


@pytest.fixture(scope="module")
def images() -> torch.Tensor:
    return validation_images()


@pytest.fixture(scope="module")
def exported(
    images: torch.Tensor, tmp_path_factory: pytest.TempPathFactory
) -> tuple[InstancesAdapter, Any, Path, dict[str, str]]:
    adapter = InstancesAdapter(build_tiny, CLASSES, FLOOR, chosen_threshold=0.4)
    graph = adapter.graph(TinyInstances())
    reference = adapter.reference(graph, images)
    path = tmp_path_factory.mktemp("instances") / "model.onnx"
    metadata = export_file(adapter, graph, reference, path, "instance_segmentation")
    return adapter, reference, path, metadata


def test_the_tiny_network_gives_masks_as_the_interface_says(images: torch.Tensor) -> None:
    """What the tests below rest on: the outputs vary with the image and have the shapes."""
    adapter = InstancesAdapter(build_tiny, CLASSES, FLOOR)
    counts = []
    for reference in adapter.reference(TinyInstances(), images):
        boxes, scores, _labels = reference.detections
        counts.append(len(scores))
        assert list(scores) == sorted(scores, reverse=True) and np.all(scores >= FLOOR)
        for index, box in enumerate(boxes):
            mask = reference.mask(index)
            x1, y1, x2, y2 = box.astype(int)
            assert mask[y1:y2, x1:x2].any()
            outside = mask.copy()
            outside[y1:y2, x1:x2] = False
            assert not outside.any(), "a mask is 0 outside its box"
    assert sorted(set(counts)) == [1, 2], "some images have one object, others two"
    with torch.inference_mode():
        probabilities = torch.cat(
            [
                TinyInstances()(torch.from_numpy(model_inputs(images[i : i + 1])))[3]
                for i in range(6)
            ]
        )
    near = torch.abs(probabilities - 0.5) < 1e-3
    assert not near.any(), "no pixel rounds across the threshold between runtimes"


def test_onnx_masks_match_pytorch_and_the_figures_say_so(
    exported: tuple[InstancesAdapter, Any, Path, dict[str, str]], images: torch.Tensor
) -> None:
    adapter, reference, path, _metadata = exported
    done: list[tuple[int, int]] = []
    result = adapter.compare(
        reference, opened(path), images, 1e-3, on_batch=lambda i, n: done.append((i, n))
    )
    assert isinstance(result, InstancesValidation)
    assert done == [(i, 6) for i in range(1, 7)]
    assert result.passed, result.describe()
    assert result.images == 6 and result.agreement == 1.0 and result.batch_sizes == (1,)
    assert result.max_abs_diff <= 1e-5
    assert result.mask_iou_min is not None and result.mask_iou_min >= 0.999
    assert result.images_with_other_masks == 0
    line = result.describe()
    assert line.startswith("validation passed:") and "mask_iou_min 1 >= 0.9" in line
    assert set(result.event_data()) == {
        "images",
        "max_abs_diff",
        "agreement",
        "tolerance",
        "passed",
        "mask_iou_min",
    }
    assert result.event_data()["mask_iou_min"] == pytest.approx(result.mask_iou_min)


def test_different_masks_fail_validation_with_a_clear_message(
    exported: tuple[InstancesAdapter, Any, Path, dict[str, str]],
    images: torch.Tensor,
    tmp_path: Path,
) -> None:
    adapter, reference, _path, _metadata = exported
    broken = tmp_path / "broken.onnx"
    export_file(adapter, TinyInstances(broken=True), reference, broken, "instance_segmentation")
    result = adapter.compare(reference, opened(broken), images, 1e-3)
    assert isinstance(result, InstancesValidation)
    assert not result.passed
    assert result.max_abs_diff <= 1e-5, "the boxes and scores are the same: only masks differ"
    assert result.agreement == 0.0 and result.images_with_other_masks == 6
    assert result.mask_iou_min is not None and 0.3 < result.mask_iou_min < MASK_IOU
    line = result.describe()
    assert line.startswith("validation failed:")
    assert f"mask_iou_min {result.mask_iou_min:.3g} < 0.9" in line
    assert "the masks differ on 6 of 6 images" in line


def test_metadata_says_what_the_masks_are_and_how_to_map_them(
    exported: tuple[InstancesAdapter, Any, Path, dict[str, str]],
) -> None:
    _adapter, _reference, path, metadata = exported
    assert read_onnx_metadata(path) == metadata
    meta = decode_metadata(read_onnx_metadata(path))
    assert meta["aistudio.task"] == "instance_segmentation"
    output = meta["aistudio.output"]
    assert output["names"] == ["boxes", "scores", "labels", "masks"]
    assert output["batch"] == 1 and output["score_floor"] == FLOOR
    assert output["masks"]["shape"] == ["detections", SIZE, SIZE]
    assert output["masks"]["dtype"] == "float32" and output["masks"]["threshold"] == 0.5
    assert "probability" in output["masks"]["meaning"]
    masks = meta["aistudio.masks"]
    assert masks["threshold"] == 0.5 and masks["interpolation"] == "bilinear"
    assert masks["align_corners"] is False and masks["antialias"] is False
    assert "width x height" in masks["to_image"] and "no letterbox" in masks["to_image"]
    assert meta["aistudio.confidence_threshold"] == {
        "value": 0.4,
        "source": "ThresholdSet",
        "applied_in_graph": False,
    }
    assert meta["aistudio.classes"] == CLASSES

    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    shapes = {node.name: node.shape for node in session.get_outputs()}
    assert list(shapes) == ["boxes", "scores", "labels", "masks"]
    assert shapes["masks"][0] == "detections" and shapes["masks"][1:] == [SIZE, SIZE]


def test_the_torchscript_export_is_validated_the_same_way(
    exported: tuple[InstancesAdapter, Any, Path, dict[str, str]],
    images: torch.Tensor,
    tmp_path: Path,
) -> None:
    from aistudio.export.torchscript_export import export_torchscript, torchscript_named_runner

    adapter, reference, _path, metadata = exported
    path = tmp_path / "model.pt"
    export_torchscript(adapter.graph(TinyInstances()), SIZE, path, metadata, adapter.batch)
    traced = Opened(
        single=lambda: pytest.fail("named outputs only"),
        named=lambda names: torchscript_named_runner(path, names),
    )
    result = adapter.compare(reference, traced, images, 1e-3)
    assert result.passed, result.describe()


def test_a_detection_export_of_the_same_network_is_unchanged(
    images: torch.Tensor, tmp_path: Path
) -> None:
    adapter = DetectionsAdapter(build_tiny, CLASSES, FLOOR)
    graph = adapter.graph(BoxesOnly(TinyInstances()))
    reference = adapter.reference(graph, images)
    assert all(isinstance(found, tuple) and len(found) == 3 for found in reference)
    path = tmp_path / "model.onnx"
    metadata = export_file(adapter, graph, reference, path, "detection")
    assert "aistudio.masks" not in metadata
    assert decode_metadata(metadata)["aistudio.output"]["names"] == ["boxes", "scores", "labels"]
    result = adapter.compare(reference, opened(path), images, 1e-3)
    assert type(result) is Validation and result.passed, result.describe()
    assert "mask" not in result.describe()


class _Wrong(nn.Module):
    """The tiny network with its masks changed by ``how``."""

    def __init__(self, how: str) -> None:
        super().__init__()
        self.model = TinyInstances()
        self.how = how

    def forward(self, x: Tensor) -> tuple[Tensor, ...]:
        boxes, scores, labels, masks = self.model(x)
        if self.how == "three outputs":
            return boxes, scores, labels
        if self.how == "half size":
            return boxes, scores, labels, masks[:, ::2, ::2]
        if self.how == "logits":
            return boxes, scores, labels, masks * 10.0 - 5.0
        return boxes, scores, labels, masks * float("nan")


@pytest.mark.parametrize(
    ("how", "message"),
    [
        ("three outputs", re.escape("gives 3 outputs, expected 4 (boxes, scores, labels, masks)")),
        ("half size", r"masks of shape \(\d, 16, 16\), expected \(\d, 32, 32\)"),
        ("logits", "not probabilities 0..1"),
        ("nan", "masks that are not finite numbers"),
    ],
)
def test_a_network_whose_masks_break_the_interface_is_refused(
    how: str, message: str, images: torch.Tensor
) -> None:
    adapter = InstancesAdapter(build_tiny, CLASSES, FLOOR)
    with pytest.raises(ValidationError, match=message):
        adapter.reference(_Wrong(how), images)


def test_mask_iou_ignores_pixels_rounding_across_the_threshold() -> None:
    reference = np.zeros((8, 8), dtype=bool)
    reference[2:6, 2:6] = True
    probabilities = reference.astype(np.float32) * 0.9
    assert mask_iou(reference, probabilities, 0.5, 1e-3) == 1.0
    rounded = probabilities.copy()
    rounded[2, 2:6] = 0.4999  # four of 16 pixels a hair under the threshold
    assert mask_iou(reference, rounded, 0.5, 1e-3) == 1.0
    assert mask_iou(reference, rounded, 0.5, 1e-6) == pytest.approx(12 / 16)
    assert mask_iou(np.zeros((8, 8), bool), np.zeros((8, 8)), 0.5, 1e-3) == 1.0
    assert mask_iou(reference, np.zeros((8, 8)), 0.5, 1e-3) == 0.0


def test_matching_gives_the_pairs_whose_masks_are_compared() -> None:
    reference = (
        np.array([[0, 0, 10, 10], [20, 20, 30, 30]], float),
        np.array([0.9, 0.0502]),
        np.array([1, 0]),
    )
    swapped = (reference[0][::-1] + 0.01, reference[1][::-1], reference[2][::-1])
    matching = matched_detections(reference, swapped, 1e-3, 0.05)
    assert matching.same and matching.pairs == ((0, 1), (1, 0))
    dropped = matched_detections(reference, tuple(a[:1] for a in reference), 1e-3, 0.05)
    assert dropped.same and dropped.pairs == ((0, 0),), "0.0502 is at the floor: not compared"
