"""The Export page's program on an instance-segmentation export: it draws the masks.

The program is written next to an ONNX file of the tiny network of
:mod:`tests.export.test_instances_adapter` (with the metadata the export job writes) and run as
a user would (``python predict.py IMAGE MODEL``) on a non-square photo. What it draws is checked
against PyTorch: the network's masks on the image as the app decodes it, mapped back onto the
photo as ``aistudio.masks`` says (torch's bilinear ``interpolate``, then >= 0.5). Mask colour
(the class's colour of the app's palette, semi-transparent) must be exactly where those masks
are and nowhere else. A detection export of the same network still gets boxes only.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path
from types import FunctionType
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

from aistudio.export.adapters import DetectionsAdapter, InstancesAdapter
from aistudio.export.validate import model_inputs
from aistudio.training.data import decode_image
from tests.export.test_instances_adapter import (
    BRIGHT,
    CLASSES,
    FLOOR,
    SIZE,
    BoxesOnly,
    TinyInstances,
    build_tiny,
    export_file,
    scene,
)
from ui.components.annotation_overlay import PALETTE
from ui.components.export_snippet import PREDICTION_PREFIX, onnx_snippet

WIDTH, HEIGHT = 90, 60
CHOSEN = 0.4
OUTLINE = 3
"""Pixels this close to a drawn box's edges may be its outline."""


def _rgb(colour: str) -> np.ndarray:
    return np.array([int(colour[i : i + 2], 16) for i in (1, 3, 5)], dtype=np.float64)


def _photo(path: Path) -> np.ndarray:
    """A 90 x 60 photo: a striped object on the left (two tones), a plain one on the right."""
    pixels = scene(WIDTH, HEIGHT, [(8, 18, 36, 50, 200), (54, 24, 84, 54, BRIGHT)])
    pixels[18:50:4, 8:36] = 250  # stripes: a semi-transparent fill lets them show through
    Image.fromarray(pixels).save(path)
    return pixels


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


def _pytorch(image: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The network's outputs on the photo as the app decodes it, masks mapped onto the photo
    (bilinear, half-pixel centres, no antialiasing) as probabilities."""
    x = torch.from_numpy(model_inputs(decode_image(image, SIZE).unsqueeze(0)))
    with torch.inference_mode():
        boxes, scores, labels, masks = TinyInstances()(x)
        stretched = torch.nn.functional.interpolate(
            masks.unsqueeze(1), size=(HEIGHT, WIDTH), mode="bilinear", align_corners=False
        )[:, 0]
    return boxes.numpy(), scores.numpy(), labels.numpy(), stretched.numpy()


def _box_zones(boxes: np.ndarray) -> np.ndarray:
    """Pixels of the photo where a box's outline or label may be drawn."""
    zone = np.zeros((HEIGHT, WIDTH), dtype=bool)
    for box in boxes:
        x1, x2 = box[0] * WIDTH / SIZE, box[2] * WIDTH / SIZE
        y1, y2 = box[1] * HEIGHT / SIZE, box[3] * HEIGHT / SIZE
        ys, xs = np.mgrid[0:HEIGHT, 0:WIDTH]
        near_x = (np.abs(xs - x1) <= OUTLINE) | (np.abs(xs - x2) <= OUTLINE)
        near_y = (np.abs(ys - y1) <= OUTLINE) | (np.abs(ys - y2) <= OUTLINE)
        within_x = (xs >= x1 - OUTLINE) & (xs <= x2 + OUTLINE)
        within_y = (ys >= y1 - OUTLINE) & (ys <= y2 + OUTLINE)
        zone |= (near_x & within_y) | (near_y & within_x)
        zone |= (xs >= x1) & (xs <= x1 + 90) & (ys >= y1) & (ys <= y1 + 14)  # its label
    return zone


@pytest.fixture(scope="module")
def instances_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An instance-segmentation ``model.onnx`` of the tiny network, metadata as the job writes."""
    adapter = InstancesAdapter(build_tiny, CLASSES, FLOOR, chosen_threshold=CHOSEN)
    graph = adapter.graph(TinyInstances())
    folder = tmp_path_factory.mktemp("instances-model")
    images = torch.from_numpy(scene(SIZE, SIZE, [(2, 4, 12, 14, BRIGHT)])).permute(2, 0, 1)
    reference = adapter.reference(graph, images.unsqueeze(0).contiguous())
    path = folder / "model.onnx"
    export_file(adapter, graph, reference, path, "instance_segmentation")
    return path


def test_the_program_draws_each_mask_in_its_class_colour_and_nowhere_else(
    instances_model: Path, tmp_path: Path
) -> None:
    model = tmp_path / "model.onnx"
    model.write_bytes(instances_model.read_bytes())
    image = tmp_path / "my photo.png"
    original = _photo(image).astype(np.float64)
    boxes, scores, labels, probabilities = _pytorch(image)
    assert sorted(labels.tolist()) == [0, 1] and np.all(scores >= CHOSEN)

    lines = _run(tmp_path, image, model)
    drawn_file = tmp_path / "my photo_masks.png"
    assert lines[-1] == (
        f"{PREDICTION_PREFIX}2 objects at confidence >= {CHOSEN:g}, drawn in {drawn_file}"
    )
    inside = probabilities >= 0.5  # K x H x W, the masks on the photo
    sure = np.all(np.abs(probabilities - 0.5) > 1e-4, axis=0)  # no rounding across 0.5
    printed = [line.split() for line in lines[:-1]]
    assert [p[0] for p in printed] == [CLASSES[int(label)] for label in labels]
    for got, score, box, mask in zip(printed, scores, boxes, inside, strict=True):
        assert float(got[1]) == pytest.approx(float(score), abs=1e-4)
        scale = np.array([WIDTH, HEIGHT, WIDTH, HEIGHT]) / SIZE
        assert [float(v) for v in got[2:6]] == pytest.approx(list(box * scale), abs=0.06)
        assert int(got[6]) == pytest.approx(int(mask.sum()), abs=int((~sure).sum()))

    with Image.open(drawn_file) as picture:
        assert picture.size == (WIDTH, HEIGHT)
        drawn = np.asarray(picture.convert("RGB"), dtype=np.float64)
    free = sure & ~_box_zones(boxes)  # pixels neither a box nor a rounding can claim
    changed = np.any(drawn != original, axis=2)
    anywhere = inside.any(axis=0)
    assert changed[free & anywhere].all(), "every pixel of a mask is coloured"
    assert not changed[free & ~anywhere].any(), "no pixel outside the masks is"
    stripes = {200.0, 250.0}
    for label, mask in zip(labels, inside, strict=True):
        colour = _rgb(PALETTE[int(label)])
        pixels = free & mask
        assert pixels.sum() > 100
        behind, shown = original[pixels], drawn[pixels]
        # shown = behind * (1 - opacity) + colour * opacity, on every channel that differs
        usable = np.abs(colour - behind) > 40
        opacity = (shown - behind)[usable] / (colour - behind)[usable]
        assert 0.25 < float(np.median(opacity)) < 0.75, "semi-transparent"
        assert np.abs(opacity - np.median(opacity)).max() < 0.05, "one colour, the class's"
        if set(np.unique(behind[:, 0])) == stripes:  # the striped object shows through
            assert len(np.unique(shown, axis=0)) == 2


def _snippet_function(name: str) -> FunctionType:
    """A function of the program, compiled on its own (numpy only)."""
    tree = ast.parse(onnx_snippet())
    (node,) = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == name]
    namespace: dict[str, Any] = {"np": np}
    exec(compile(ast.Module(body=[node], type_ignores=[]), "snippet", "exec"), namespace)
    function: FunctionType = namespace[name]
    return function


@pytest.mark.parametrize(("width", "height"), [(90, 60), (13, 20), (32, 32), (7, 100)])
def test_the_program_stretches_masks_as_the_metadata_says(width: int, height: int) -> None:
    """Bilinear, half-pixel centres, no antialiasing: torch's ``interpolate`` when enlarging and
    when shrinking."""
    stretch = _snippet_function("stretch")
    mask = np.random.default_rng(0).random((SIZE, SIZE)).astype(np.float32)
    expected = torch.nn.functional.interpolate(
        torch.from_numpy(mask)[None, None], size=(height, width), mode="bilinear"
    )[0, 0].numpy()
    got = stretch(mask, width, height)
    assert got.shape == (height, width)
    np.testing.assert_allclose(got, expected, atol=1e-5)


def test_the_program_colours_classes_like_the_app() -> None:
    tree = ast.parse(onnx_snippet())
    (node,) = [
        n
        for n in tree.body
        if isinstance(n, ast.Assign) and any(getattr(t, "id", "") == "PALETTE" for t in n.targets)
    ]
    palette = ast.literal_eval(node.value)
    assert [tuple(int(v) for v in _rgb(c)) for c in PALETTE] == [tuple(c) for c in palette]


def test_a_detection_export_still_gets_boxes_only(tmp_path: Path) -> None:
    adapter = DetectionsAdapter(build_tiny, CLASSES, FLOOR, chosen_threshold=CHOSEN)
    graph = adapter.graph(BoxesOnly(TinyInstances()))
    images = torch.from_numpy(scene(SIZE, SIZE, [(2, 4, 12, 14, BRIGHT)])).permute(2, 0, 1)
    reference = adapter.reference(graph, images.unsqueeze(0).contiguous())
    model = tmp_path / "model.onnx"
    export_file(adapter, graph, reference, model, "detection")
    image = tmp_path / "photo.png"
    original = _photo(image).astype(np.float64)
    boxes = _pytorch(image)[0]

    lines = _run(tmp_path, image, model)
    assert lines[-1].endswith(f"drawn in {tmp_path / 'photo_boxes.png'}")
    assert not (tmp_path / "photo_masks.png").exists()
    assert all(len(line.split()) == 6 for line in lines[:-1]) and len(lines) == 3
    with Image.open(tmp_path / "photo_boxes.png") as picture:
        drawn = np.asarray(picture.convert("RGB"), dtype=np.float64)
    zones = _box_zones(boxes)
    assert not np.any(drawn != original, axis=2)[~zones].any(), "no mask colour anywhere"
    x1, y1 = (boxes[0, :2] * np.array([WIDTH, HEIGHT]) / SIZE).round().astype(int)
    assert tuple(drawn[y1 + 5, x1]) == (255, 64, 64), "the detection's red outline"
