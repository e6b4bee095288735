"""Semantic segmentation exports: ``logits`` ``[B, K, S, S]`` through ONNX, checked pixel by pixel.

A tiny real network stands in for the model: a fixed 3 x 3 stride-2 blur of each channel, a 1 x 1
head that scores background, "red thing" and "green thing" from the colours, and a bilinear
upsampling back to S x S (as segmentation networks end). Its classes follow the coloured shapes
of each image, so PyTorch and ONNX Runtime agreeing means something; variants with the red and
green heads swapped, a nearest upsampling (different on the shapes' edges only) or logits moved
by a constant (the same argmax) show each way an export can fail validation, with the figures.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from aistudio.export.adapters import Opened, SemanticAdapter
from aistudio.export.metadata import ExportSource, build_metadata, decode_metadata
from aistudio.export.onnx_export import export_onnx, onnx_named_runner, read_onnx_metadata
from aistudio.export.semantic import (
    PIXEL_AGREEMENT,
    SemanticReference,
    SemanticValidation,
    batch_runs,
    compare_logits,
    mask_to_image,
    nearest_indices,
    reference_logits,
)
from aistudio.export.validate import ValidationError, model_inputs
from aistudio.tasks.base import ExportSettings, TargetInfo
from aistudio.training.data import IMAGENET_MEAN, IMAGENET_STD
from events.schemas.export import ExportValidation

SIZE = 32
CLASSES = ["background", "red thing", "green thing"]
DARK, BRIGHT = 20, 230
RED, GREEN = (BRIGHT, DARK, DARK), (DARK, BRIGHT, DARK)
TASK_METADATA: dict[str, Any] = {  # what the segmentation task's export_metadata gives
    "classes": CLASSES,
    "background": CLASSES[0],
    "ignore_index": 255,
    "output": (
        "logits [B, K, H, W] at the model's input size: argmax over K gives each pixel's class "
        "index into classes; resize that mask to the image's size with nearest-neighbour"
    ),
}
STAND_IN_TASK = SimpleNamespace(name="segmentation")
"""What the adapter is given as its task (it keeps it; the figures need only the classes)."""


class TinySegmenter(nn.Module):
    """Logits of background, red thing and green thing for every pixel (fixed weights).

    ``how``: ``"same"``; ``"swapped"`` (red and green heads exchanged); ``"nearest"`` (nearest
    instead of bilinear upsampling); ``"offset"`` (every logit + 0.01: the same classes).
    """

    def __init__(self, how: str = "same") -> None:
        super().__init__()
        self.blur = nn.Conv2d(3, 3, 3, stride=2, padding=1, bias=False)
        self.head = nn.Conv2d(3, 3, 1)
        head = [[-0.5, -0.5, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]  # background, red, green
        bias = [0.1, -0.3, -0.2]
        if how == "swapped":
            head, bias = [head[0], head[2], head[1]], [bias[0], bias[2], bias[1]]
        with torch.no_grad():
            self.blur.weight.zero_()
            for channel in range(3):
                self.blur.weight[channel, channel].fill_(1.0 / 9.0)
            self.head.weight.copy_(torch.tensor(head).view(3, 3, 1, 1))
            self.head.bias.copy_(torch.tensor(bias) + (0.01 if how == "offset" else 0.0))
        self.mode = "nearest" if how == "nearest" else "bilinear"

    def forward(self, x: Tensor) -> Tensor:
        logits = self.head(self.blur(x))
        if self.mode == "nearest":
            return F.interpolate(logits, size=x.shape[-2:], mode="nearest")
        return F.interpolate(logits, size=x.shape[-2:], mode="bilinear", align_corners=False)


class Torchvisionlike(nn.Module):
    """The tiny network answering as torchvision's segmentation models do (a mapping)."""

    def __init__(self) -> None:
        super().__init__()
        self.model = TinySegmenter()

    def forward(self, x: Tensor) -> dict[str, Tensor]:
        out = self.model(x)
        return {"out": out, "aux": out * 0.5}


def scene(width: int, height: int, rects: list[tuple[int, int, int, int, tuple[int, ...]]]) -> Any:
    """A dark ``height x width x 3`` uint8 image with coloured ``(x1, y1, x2, y2, rgb)`` rects."""
    image = np.full((height, width, 3), DARK, dtype=np.uint8)
    for x1, y1, x2, y2, colour in rects:
        image[y1:y2, x1:x2] = colour
    return image


LAYOUTS = [
    [(2, 4, 12, 14, RED), (20, 18, 30, 28, GREEN)],
    [(4, 2, 14, 26, GREEN)],
    [(18, 6, 28, 30, RED), (1, 20, 9, 31, GREEN)],
    [(3, 3, 15, 15, RED), (17, 17, 31, 31, RED)],
    [],
    [(5, 8, 11, 24, GREEN), (22, 4, 28, 28, RED)],
]


def validation_images() -> torch.Tensor:
    """Six S x S scenes: both classes, one only, none (all background)."""
    stacked = np.stack([scene(SIZE, SIZE, rects) for rects in LAYOUTS])
    return torch.from_numpy(stacked).permute(0, 3, 1, 2).contiguous()


def info() -> TargetInfo:
    return TargetInfo(classes=list(CLASSES))


def source() -> ExportSource:
    return ExportSource(
        project_id="proj-0000abcd",
        project_name="semantic",
        experiment_id="exp-0000abcd",
        experiment_name="tiny",
        model="tiny",
        checkpoint="best",
        checkpoint_epoch=1,
        checkpoint_sha256="0" * 64,
        export_id="xpt-0000abcd",
        seq=1,
    )


def export_file(
    adapter: SemanticAdapter, graph: nn.Module, reference: Any, path: Path
) -> dict[str, str]:
    """What the export job does: the metadata from the task and adapter, then the ONNX file."""
    metadata = build_metadata(
        task="segmentation",
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
        single=lambda: pytest.fail("a semantic export is run by its output's name"),
        named=lambda names: onnx_named_runner(path, names),
    )


def adapter() -> SemanticAdapter:
    return SemanticAdapter(STAND_IN_TASK, info())  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def images() -> torch.Tensor:
    return validation_images()


@pytest.fixture(scope="module")
def exported(
    images: torch.Tensor, tmp_path_factory: pytest.TempPathFactory
) -> tuple[SemanticAdapter, SemanticReference, Path, dict[str, str]]:
    made = adapter()
    graph = made.graph(TinySegmenter())
    reference = made.reference(graph, images)
    path = tmp_path_factory.mktemp("semantic") / "model.onnx"
    metadata = export_file(made, graph, reference, path)
    return made, reference, path, metadata


def expected_classes(images: torch.Tensor) -> np.ndarray:
    """The class each pixel's colour says (blur and upsampling aside): N x S x S."""
    pixels = images.permute(0, 2, 3, 1).numpy()
    red = (pixels == RED).all(axis=-1)
    green = (pixels == GREEN).all(axis=-1)
    return np.where(red, 1, np.where(green, 2, 0))


def test_the_tiny_network_segments_the_shapes_without_near_ties(images: torch.Tensor) -> None:
    """What the tests below rest on: the classes follow the shapes, and no pixel's two best
    logits are so close that rounding could decide between them."""
    reference = reference_logits(adapter().graph(TinySegmenter()), images, len(CLASSES))
    assert reference.logits.shape == (6, 3, SIZE, SIZE) and reference.logits.dtype == np.float32
    predicted = reference.logits.argmax(axis=1)
    truth = expected_classes(images)
    assert (predicted == truth).mean() > 0.9
    assert {int(c) for c in np.unique(predicted)} == {0, 1, 2}
    assert (predicted[4] == 0).all(), "the empty scene is all background"
    ordered = np.sort(reference.logits, axis=1)
    assert float((ordered[:, -1] - ordered[:, -2]).min()) > 1e-3


def test_the_onnx_file_has_logits_with_a_dynamic_batch_axis(
    exported: tuple[SemanticAdapter, SemanticReference, Path, dict[str, str]],
    images: torch.Tensor,
) -> None:
    import onnxruntime as ort

    _adapter, reference, path, _metadata = exported
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (inp,) = session.get_inputs()
    (out,) = session.get_outputs()
    assert inp.name == "input" and inp.shape == ["batch", 3, SIZE, SIZE]
    assert inp.type == "tensor(float)"
    assert out.name == "logits" and out.shape == ["batch", 3, SIZE, SIZE]
    assert out.type == "tensor(float)"
    for rows in ([0], [1, 3, 5]):
        batch = model_inputs(images[rows])
        (logits,) = session.run(["logits"], {"input": batch})
        assert logits.shape == (len(rows), 3, SIZE, SIZE) and logits.dtype == np.float32
        np.testing.assert_allclose(logits, reference.logits[rows], atol=1e-5)


def test_onnx_logits_match_pytorch_pixel_for_pixel_and_the_figures_say_so(
    exported: tuple[SemanticAdapter, SemanticReference, Path, dict[str, str]],
    images: torch.Tensor,
) -> None:
    made, reference, path, _metadata = exported
    done: list[tuple[int, int]] = []
    result = made.compare(
        reference, opened(path), images, 1e-3, on_batch=lambda i, n: done.append((i, n))
    )
    assert isinstance(result, SemanticValidation)
    assert done == [(1, 2), (2, 2)], "the first image alone, then the six in one batch"
    assert result.passed, result.describe()
    assert result.images == 6 and result.batch_sizes == (1, 6)
    assert result.agreement == 1.0 and result.pixel_agreement == 1.0
    assert result.worst_image == 1.0 and result.images_below == 0
    assert result.max_abs_diff <= 1e-5
    line = result.describe()
    assert line.startswith("validation passed:")
    assert "pixel_agreement 1 >= 0.999" in line and "batch sizes 1/6" in line
    data = result.event_data()
    assert set(data) == {
        "images",
        "max_abs_diff",
        "agreement",
        "tolerance",
        "passed",
        "pixel_agreement",
    }
    recorded = ExportValidation.model_validate(data).model_dump()
    assert recorded["pixel_agreement"] == 1.0 and "mask_iou_min" not in recorded


@pytest.mark.parametrize(
    ("how", "figures"),
    [
        ("swapped", r"pixel_agreement 0\.\d+ < 0\.999 \(5 of 6 images below, the worst 0\.\d+\)"),
        ("nearest", r"pixel_agreement 0\.9\d+ < 0\.999 \(5 of 6 images below, the worst 0\.9"),
    ],
)
def test_a_different_network_fails_validation_with_a_clear_message(
    how: str,
    figures: str,
    exported: tuple[SemanticAdapter, SemanticReference, Path, dict[str, str]],
    images: torch.Tensor,
    tmp_path: Path,
) -> None:
    made, reference, _path, _metadata = exported
    other = tmp_path / f"{how}.onnx"
    export_file(made, made.graph(TinySegmenter(how)), reference, other)
    result = made.compare(reference, opened(other), images, 1e-3)
    assert isinstance(result, SemanticValidation)
    assert not result.passed
    assert result.images_below == 5, "the empty scene is background either way"
    assert result.agreement == pytest.approx(1 / 6)
    assert result.pixel_agreement < PIXEL_AGREEMENT and result.max_abs_diff > 1e-3
    line = result.describe()
    assert line.startswith("validation failed:")
    assert re.search(figures, line), line
    if how == "nearest":  # only the shapes' edges differ: a few percent of the pixels
        assert 0.9 < result.pixel_agreement < 0.99
    else:
        assert result.pixel_agreement < 0.85
    assert ExportValidation.model_validate(result.event_data()).passed is False


def test_logits_beyond_the_tolerance_fail_even_with_the_same_classes(
    exported: tuple[SemanticAdapter, SemanticReference, Path, dict[str, str]],
    images: torch.Tensor,
    tmp_path: Path,
) -> None:
    made, reference, _path, _metadata = exported
    moved = tmp_path / "offset.onnx"
    export_file(made, made.graph(TinySegmenter("offset")), reference, moved)
    result = made.compare(reference, opened(moved), images, 1e-3)
    assert result.pixel_agreement == 1.0 and result.agreement == 1.0
    assert result.max_abs_diff == pytest.approx(0.01, abs=1e-4)
    assert not result.passed
    assert "max_abs_diff 0.01 > tolerance 0.001" in result.describe()


def _tied_reference(n: int, ties_per_image: int) -> tuple[SemanticReference, np.ndarray]:
    """Logits of ``n`` 32 x 32 images whose first ``ties_per_image`` pixels are near-ties (the
    two best classes 1e-5 apart), and the same logits with those near-ties turned round."""
    rng = np.random.default_rng(1)
    logits = rng.normal(size=(n, 3, SIZE, SIZE)).astype(np.float32)
    logits[:, 1] = logits[:, 0] + 2.0  # class 1 well ahead
    flat = logits.reshape(n, 3, -1)
    flat[:, 2, :ties_per_image] = flat[:, 1, :ties_per_image] + 1e-5  # class 2 just ahead
    turned = logits.copy()
    flat_turned = turned.reshape(n, 3, -1)
    flat_turned[:, 2, :ties_per_image] = flat_turned[:, 1, :ties_per_image] - 1e-5
    return SemanticReference(logits), turned


@pytest.mark.parametrize(("ties", "passed"), [(0, True), (1, True), (2, False), (20, False)])
def test_pixels_decided_by_rounding_may_differ_on_one_in_a_thousand(
    ties: int, passed: bool
) -> None:
    """Logits within the tolerance, near-ties turned round: 1 pixel of 1024 passes (0.99902),
    2 do not (0.99805 < 0.999)."""
    reference, turned = _tied_reference(3, ties)
    images = torch.zeros((3, 3, SIZE, SIZE), dtype=torch.uint8)

    def run(batch: np.ndarray) -> list[np.ndarray]:  # the runs: image 0, then images 0, 1, 2
        return [turned[: len(batch)]]

    result = compare_logits(reference, run, images, 1e-3)
    assert result.max_abs_diff < 3e-5
    assert result.pixel_agreement == pytest.approx(1 - ties / (SIZE * SIZE))
    assert result.passed is passed, result.describe()
    assert result.images_below == (0 if passed else 3)
    if not passed:
        assert f"pixel_agreement {1 - ties / 1024:.6g} < 0.999 (3 of 3 images below" in (
            result.describe()
        )


def test_the_reference_keeps_only_the_logits_that_fit_in_memory(images: torch.Tensor) -> None:
    graph = adapter().graph(TinySegmenter())
    per_image = 3 * SIZE * SIZE * 4
    reference = reference_logits(graph, images, 3, max_bytes=2 * per_image + 10, chunk=4)
    assert len(reference) == 2
    full = reference_logits(graph, images, 3, chunk=4)
    np.testing.assert_allclose(reference.logits, full.logits[:2], atol=1e-5)
    tiny = reference_logits(graph, images, 3, max_bytes=1)
    assert len(tiny) == 1, "one image at least"
    runs = batch_runs(6, 50 << 20)
    assert [len(r) for r in runs] == [1, 2, 2, 2], "big logits: batches of two"
    assert [len(r) for r in batch_runs(1, 10)] == [1, 2], "one image runs twice in a batch"
    assert [len(r) for r in batch_runs(40, 10)] == [1, 32, 8]


def test_compare_uses_the_images_the_reference_kept(
    exported: tuple[SemanticAdapter, SemanticReference, Path, dict[str, str]],
    images: torch.Tensor,
) -> None:
    made, _reference, path, _metadata = exported
    graph = made.graph(TinySegmenter())
    few = reference_logits(graph, images, 3, max_bytes=2 * 3 * SIZE * SIZE * 4)
    result = made.compare(few, opened(path), images, 1e-3)
    assert result.passed and result.images == 2 and result.batch_sizes == (1, 2)


def test_the_metadata_says_how_to_read_the_logits_and_map_the_mask_back(
    exported: tuple[SemanticAdapter, SemanticReference, Path, dict[str, str]],
) -> None:
    _adapter, _reference, path, metadata = exported
    assert read_onnx_metadata(path) == metadata
    for key, value in metadata.items():
        assert key.startswith("aistudio.")
        json.loads(value)
    meta = decode_metadata(metadata)
    assert meta["aistudio.task"] == "segmentation"
    assert meta["aistudio.output"] == {
        "name": "logits",
        "shape": ["batch", 3, SIZE, SIZE],
        "dtype": "float32",
        "class_axis": 1,
        "meaning": TASK_METADATA["output"],
    }
    assert meta["aistudio.classes"] == CLASSES
    assert meta["aistudio.background"] == "background"
    assert meta["aistudio.ignore_index"] == 255
    spec = meta["aistudio.input"]  # how the input was made, for mapping the mask back
    assert spec["shape"] == ["batch", 3, SIZE, SIZE] and spec["exif_orientation"] == "applied"
    assert spec["resize"]["keep_aspect_ratio"] is False
    assert spec["resize"]["width"] == spec["resize"]["height"] == SIZE
    assert spec["mean"] == list(IMAGENET_MEAN) and spec["std"] == list(IMAGENET_STD)
    mask = meta["aistudio.class_mask"]
    assert mask["interpolation"] == "nearest"
    assert "argmax" in mask["from_output"] and "aistudio.classes" in mask["from_output"]
    assert "no letterbox" in mask["to_image"] and "width x height" in mask["to_image"]
    assert "(2*y + 1) * image_size // (2 * height)" in mask["to_image"]
    assert "aistudio.masks" not in meta and "aistudio.confidence_threshold" not in meta


def test_the_torchscript_export_is_validated_the_same_way(
    exported: tuple[SemanticAdapter, SemanticReference, Path, dict[str, str]],
    images: torch.Tensor,
    tmp_path: Path,
) -> None:
    from aistudio.export.torchscript_export import export_torchscript, torchscript_named_runner

    made, reference, _path, metadata = exported
    path = tmp_path / "model.pt"
    export_torchscript(made.graph(TinySegmenter()), SIZE, path, metadata, made.batch)
    traced = Opened(
        single=lambda: pytest.fail("named outputs only"),
        named=lambda names: torchscript_named_runner(path, names),
    )
    result = made.compare(reference, traced, images, 1e-3)
    assert result.passed, result.describe()


def test_a_network_answering_with_a_mapping_exports_its_out(
    images: torch.Tensor, tmp_path: Path
) -> None:
    made = adapter()
    graph = made.graph(Torchvisionlike())
    reference = made.reference(graph, images)
    plain = reference_logits(made.graph(TinySegmenter()), images, 3)
    np.testing.assert_array_equal(reference.logits, plain.logits)
    path = tmp_path / "model.onnx"
    export_file(made, graph, reference, path)
    assert made.compare(reference, opened(path), images, 1e-3).passed


class _Wrong(nn.Module):
    def __init__(self, how: str) -> None:
        super().__init__()
        self.model = TinySegmenter()
        self.how = how

    def forward(self, x: Tensor) -> Any:
        logits = self.model(x)
        if self.how == "two classes":
            return logits[:, :2]
        if self.how == "half size":
            return logits[:, :, ::2, ::2]
        if self.how == "two outputs":
            return logits, logits
        return logits * float("nan")


@pytest.mark.parametrize(
    ("how", "message"),
    [
        (
            "two classes",
            re.escape(
                "its network gives logits of shape (1, 2, 32, 32), expected (1, 3, 32, 32) "
                "([batch, classes, image_size, image_size])"
            ),
        ),
        ("half size", re.escape("logits of shape (1, 3, 16, 16), expected (1, 3, 32, 32)")),
        ("two outputs", "its network gives tuple, expected one tensor of logits"),
        ("nan", "its network gives logits that are not finite numbers"),
    ],
)
def test_a_network_that_breaks_the_interface_is_refused(
    how: str, message: str, images: torch.Tensor
) -> None:
    made = adapter()
    with pytest.raises(ValidationError, match=message):
        made.reference(made.graph(_Wrong(how)), images)


def test_an_export_giving_other_shapes_cannot_be_validated(
    exported: tuple[SemanticAdapter, SemanticReference, Path, dict[str, str]],
    images: torch.Tensor,
) -> None:
    _made, reference, _path, _metadata = exported

    def half(batch: np.ndarray) -> list[np.ndarray]:
        return [np.zeros((len(batch), 3, 16, 16), np.float32)]

    with pytest.raises(ValidationError, match=r"the export gives logits of shape \(1, 3, 16"):
        compare_logits(reference, half, images, 1e-3)
    with pytest.raises(ValidationError, match="expected 1 \\(logits\\)"):
        compare_logits(reference, lambda b: [b, b], images, 1e-3)
    with pytest.raises(ValidationError, match="no images"):
        reference_logits(TinySegmenter(), images[:0], 3)


@pytest.mark.parametrize(("width", "height"), [(90, 60), (13, 20), (7, 100), (32, 32), (64, 96)])
def test_the_mask_maps_back_by_the_nearest_pixel_centre(width: int, height: int) -> None:
    """The metadata's rule: torch's ``nearest-exact`` (and Pillow's NEAREST) except on rows or
    columns exactly midway between two mask pixels."""
    from PIL import Image

    mask = np.random.default_rng(0).integers(0, 5, (SIZE, SIZE)).astype(np.uint8)
    mapped = mask_to_image(mask, width, height)
    assert mapped.shape == (height, width)
    exact = F.interpolate(
        torch.from_numpy(mask)[None, None].float(), size=(height, width), mode="nearest-exact"
    )[0, 0].numpy()
    pillow = np.asarray(Image.fromarray(mask).resize((width, height), Image.Resampling.NEAREST))

    def clear(n: int) -> np.ndarray:  # centres not exactly midway
        return ((2 * np.arange(n) + 1) * SIZE) % (2 * n) != 0

    rows, cols = clear(height), clear(width)
    assert np.array_equal(mapped[rows][:, cols], exact[rows][:, cols])
    assert np.array_equal(mapped[rows][:, cols], pillow[rows][:, cols])
    assert nearest_indices(SIZE, SIZE).tolist() == list(range(SIZE))
    assert nearest_indices(SIZE, 64).tolist() == [i // 2 for i in range(64)]


def test_the_segmentation_task_exports_through_this_adapter() -> None:
    from aistudio.tasks.registry import get_task

    task = get_task("segmentation")
    made = task.export_adapter(info(), task.validate_options({}), ExportSettings())
    assert isinstance(made, SemanticAdapter) and made.info.classes == CLASSES
    metadata = task.export_metadata(info())
    assert set(metadata) == {"classes", "background", "ignore_index", "output"}
    clash = set(metadata) & set(made.extra_metadata())
    assert not clash


def test_the_default_model_validates(tmp_path: Path, images: torch.Tensor) -> None:
    """The task's default network (untrained U-Net on ResNet-18) through the same export."""
    from aistudio.tasks.registry import get_task

    task = get_task("segmentation")
    torch.manual_seed(0)
    network, _weights = task.build_model("unet_resnet18", info(), False, SIZE)
    made = task.export_adapter(info(), task.validate_options({}), ExportSettings())
    graph = made.graph(network)
    reference = made.reference(graph, images)
    path = tmp_path / "model.onnx"
    export_file(made, graph, reference, path)
    result = made.compare(reference, opened(path), images, 1e-3)
    assert result.passed, result.describe()
    assert result.max_abs_diff < 1e-4
