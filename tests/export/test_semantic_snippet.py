"""The Export page's program on a semantic segmentation export: it writes the class mask.

The program is written next to an ONNX file of the tiny network of
:mod:`tests.export.test_semantic_adapter` (with the metadata the export job writes) and run as a
user would (``python predict.py IMAGE MODEL``) on a non-square photo, and on a JPEG stored turned
with an EXIF orientation. What it writes is checked exactly against ONNX Runtime's argmax on the
image as the app decodes it, mapped onto the upright photo by the nearest pixel centre (the rule
of ``aistudio.class_mask``, computed here on its own): a palette PNG of the photo's size whose
values are those class indices and whose colours are the app's palette (background black); the
lines it prints are the classes found with their share of the pixels.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch
from PIL import Image

from aistudio.export.validate import model_inputs
from aistudio.training.data import decode_image
from tests.exif_images import ORIENTATION_TAG, stored_pixels
from tests.export.test_semantic_adapter import (
    CLASSES,
    GREEN,
    RED,
    SIZE,
    TinySegmenter,
    adapter,
    export_file,
    scene,
    validation_images,
)
from ui.components.annotation_overlay import PALETTE
from ui.components.export_snippet import PREDICTION_PREFIX, onnx_snippet

WIDTH, HEIGHT = 90, 60


@pytest.fixture(scope="module")
def semantic_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A semantic ``model.onnx`` of the tiny network, with the metadata the job writes."""
    made = adapter()
    graph = made.graph(TinySegmenter())
    reference = made.reference(graph, validation_images())
    path = tmp_path_factory.mktemp("semantic-model") / "model.onnx"
    export_file(made, graph, reference, path)
    return path


def _photo() -> Image.Image:
    """A 90 x 60 photo: a red thing on the left, a green one on the right, one small red."""
    rects = [(8, 10, 40, 50, RED), (52, 6, 84, 40, GREEN), (60, 46, 72, 56, RED)]
    return Image.fromarray(scene(WIDTH, HEIGHT, rects))


def _run(folder: Path, image: Path, model: Path) -> list[str]:
    """``python predict.py IMAGE MODEL`` in ``folder``; its lines of output."""
    program = folder / "predict.py"
    program.write_text(onnx_snippet(model.name, image.name), encoding="utf-8")
    done = subprocess.run(
        [sys.executable, str(program), str(image), str(model)],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert lines and lines[-1].startswith(PREDICTION_PREFIX), done.stdout
    return lines


def _expected(model: Path, image: Path, width: int, height: int) -> np.ndarray:
    """ONNX Runtime's classes of the image as the app decodes it, on the upright photo's
    ``height x width`` pixels: pixel (x, y) takes the mask pixel nearest to its centre."""
    session = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    batch = model_inputs(decode_image(image, SIZE).unsqueeze(0))
    (logits,) = session.run(["logits"], {"input": batch})
    ordered = np.sort(logits[0], axis=0)
    assert float((ordered[-1] - ordered[-2]).min()) > 1e-4, "no class decided by rounding"
    mask = logits[0].argmax(axis=0)
    mapped = np.empty((height, width), dtype=np.uint8)
    for y in range(height):
        for x in range(width):
            # centre (x + 0.5) of the image is at (x + 0.5) * SIZE / width on the mask
            mapped[y, x] = mask[
                (2 * y + 1) * SIZE // (2 * height), (2 * x + 1) * SIZE // (2 * width)
            ]
    return mapped


def _colours() -> np.ndarray:
    """The colour of each class index: background black, then the app's palette."""
    table = [[int(c[i : i + 2], 16) for i in (1, 3, 5)] for c in PALETTE]
    return np.array([[0, 0, 0]] + [table[i % len(table)] for i in range(1, len(CLASSES))])


def _check(lines: list[str], written: Path, expected: np.ndarray) -> None:
    """The mask file is ``expected`` exactly, and the lines are its classes and shares."""
    height, width = expected.shape
    with Image.open(written) as picture:
        assert picture.format == "PNG" and picture.mode == "P"
        assert picture.size == (width, height)
        values = np.asarray(picture)
        rgb = np.asarray(picture.convert("RGB"))
    np.testing.assert_array_equal(values, expected)
    np.testing.assert_array_equal(rgb, _colours()[expected])
    counts = np.bincount(expected.ravel(), minlength=len(CLASSES))
    order = [i for i in np.argsort(-counts, kind="stable") if counts[i] > 0]
    assert lines[:-1] == [f"{CLASSES[i]} {counts[i] / expected.size:.2%}" for i in order]
    assert lines[-1] == f"{PREDICTION_PREFIX}{len(order)} classes, mask in {written}"


def test_the_program_writes_the_class_of_every_pixel_of_the_photo(
    semantic_model: Path, tmp_path: Path
) -> None:
    model = tmp_path / "model.onnx"
    model.write_bytes(semantic_model.read_bytes())
    image = tmp_path / "my photo.png"
    _photo().save(image)
    expected = _expected(model, image, WIDTH, HEIGHT)
    assert set(np.unique(expected).tolist()) == {0, 1, 2}, "every class is on the photo"
    midway = [7, 22, 37, 52]  # rows whose centre falls exactly between two mask rows
    assert all((2 * y + 1) * SIZE % (2 * HEIGHT) == 0 for y in midway)

    lines = _run(tmp_path, image, model)
    _check(lines, tmp_path / "my photo_mask.png", expected)
    assert len(lines) == 4 and lines[0].startswith("background ")


def test_the_program_maps_the_mask_onto_the_photo_as_it_is_shown(
    semantic_model: Path, tmp_path: Path
) -> None:
    """A JPEG stored turned a quarter left with EXIF orientation 6: the mask is of the upright
    photo (60 x 90), as the app decodes it."""
    model = tmp_path / "model.onnx"
    model.write_bytes(semantic_model.read_bytes())
    exif = Image.Exif()
    exif[ORIENTATION_TAG] = 6
    image = tmp_path / "turned.jpg"
    stored_pixels(_photo(), 6).save(image, quality=95, exif=exif)
    with Image.open(image) as stored:
        assert stored.size == (HEIGHT, WIDTH)
    expected = _expected(model, image, WIDTH, HEIGHT)
    assert set(np.unique(expected).tolist()) == {0, 1, 2}

    lines = _run(tmp_path, image, model)
    _check(lines, tmp_path / "turned_mask.png", expected)


def test_an_image_of_background_only_gives_one_class(semantic_model: Path, tmp_path: Path) -> None:
    model = tmp_path / "model.onnx"
    model.write_bytes(semantic_model.read_bytes())
    image = tmp_path / "empty.png"
    Image.fromarray(scene(41, 17, [])).save(image)
    lines = _run(tmp_path, image, model)
    assert lines == [
        "background 100.00%",
        f"{PREDICTION_PREFIX}1 classes, mask in {tmp_path / 'empty_mask.png'}",
    ]
    with Image.open(tmp_path / "empty_mask.png") as picture:
        assert picture.size == (41, 17)
        assert not np.asarray(picture.convert("RGB")).any(), "the background is black"


def test_a_classification_export_still_prints_its_class(tmp_path: Path) -> None:
    """The semantic branch is the segmentation task's only: a classifier's logits are not read
    as a mask."""
    from aistudio.export.metadata import build_metadata
    from aistudio.export.onnx_export import export_onnx
    from aistudio.training.data import IMAGENET_MEAN, IMAGENET_STD
    from tests.export.test_semantic_adapter import source

    class Pooled(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = TinySegmenter()

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.model(x).mean(dim=(2, 3))

    metadata = build_metadata(
        task="classification",
        image_size=SIZE,
        mean=IMAGENET_MEAN,
        std=IMAGENET_STD,
        output_shape=[3],
        task_metadata={"classes": CLASSES, "output": "logits"},
        source=source(),
    )
    model = tmp_path / "model.onnx"
    export_onnx(Pooled(), SIZE, model, metadata)
    image = tmp_path / "empty.png"
    Image.fromarray(scene(40, 40, [])).save(image)
    lines = _run(tmp_path, image, model)
    assert lines[-1].startswith(f"{PREDICTION_PREFIX}background (probability ")
    assert not (tmp_path / "empty_mask.png").exists()
