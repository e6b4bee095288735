"""The Export page's snippet: a torch-free program that predicts like the app does.

It is written to a file and run (the venv's Python) next to an exported model and a real image
of the dataset, and its printed prediction is compared with the app's (PyTorch eager on the
image decoded as the pipeline decodes it). A second image, the same digit enlarged to a
non-square JPEG, makes the program resize and decode a JPEG like the app; a third, that JPEG
stored turned with an EXIF orientation (as phones do), makes it turn the photo like the app.
"""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.exif_images import ORIENTATION_TAG, stored_pixels
from tests.export.support import (
    ExportRun,
    assert_same_prediction,
    dataset_images,
    pytorch_model,
    pytorch_outputs,
    run_snippet,
)
from ui.components.export_snippet import REQUIREMENTS, onnx_snippet


def _imports(source: str) -> set[str]:
    tree = ast.parse(source)
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_snippet_uses_only_onnxruntime_numpy_and_pillow() -> None:
    source = onnx_snippet("my model.onnx", 'photo "1".jpg')
    assert _imports(source) == {"json", "sys", "numpy", "onnxruntime", "PIL"}
    assert REQUIREMENTS == ("onnxruntime", "numpy", "Pillow")
    assert "'my model.onnx'" in source or '"my model.onnx"' in source
    assert repr('photo "1".jpg') in source


def test_snippet_module_is_torch_free() -> None:
    code = "import sys, ui.components.export_snippet; sys.exit('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def _images(run: ExportRun, folder: Path) -> list[Path]:
    """A dataset image as it is stored, the same digit as a 45 x 70 JPEG, and that JPEG stored
    turned a quarter left with EXIF orientation 6 (shown upright)."""
    (original,) = dataset_images(run.trained, 1)
    plain = folder / f"image{original.suffix}"
    shutil.copyfile(original, plain)
    big = folder / "big.jpg"
    with Image.open(original) as image:
        upright = image.convert("RGB").resize((45, 70), Image.Resampling.BICUBIC)
    upright.save(big, quality=90)
    exif = Image.Exif()
    exif[ORIENTATION_TAG] = 6
    oriented = folder / "oriented.jpg"
    stored_pixels(upright, 6).save(oriented, quality=90, exif=exif)
    return [plain, big, oriented]


def _without_orientation(path: Path, out: Path) -> Path:
    """A copy of the JPEG ``path`` whose EXIF orientation says 1: the same pixel data."""
    data = bytearray(path.read_bytes())
    tag = data.find(b"\x01\x12\x00\x03\x00\x00\x00\x01\x00\x06")  # big-endian, SHORT, 6
    assert tag > 0
    data[tag + 9] = 1
    out.write_bytes(bytes(data))
    with Image.open(out) as image:
        assert image.getexif()[ORIENTATION_TAG] == 1
    return out


@pytest.mark.parametrize("fixture", ["onnx_classification", "onnx_regression"])
def test_snippet_prediction_equals_the_apps(
    fixture: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    run: ExportRun = request.getfixturevalue(fixture)
    shutil.copyfile(run.file(), tmp_path / "model.onnx")
    images = _images(run, tmp_path)
    outputs = pytorch_outputs(run.trained, images)
    target = pytorch_model(run.trained)[1]["target_info"]
    for image, output in zip(images, outputs, strict=True):
        assert_same_prediction(run, target, run_snippet(tmp_path, image), output)


@pytest.mark.parametrize("fixture", ["onnx_classification", "onnx_regression"])
def test_snippet_turns_an_oriented_photo_as_the_app_does(
    fixture: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """The EXIF orientation changes the app's prediction here, and the snippet follows it."""
    run: ExportRun = request.getfixturevalue(fixture)
    shutil.copyfile(run.file(), tmp_path / "model.onnx")
    oriented = _images(run, tmp_path)[2]
    sideways = _without_orientation(oriented, tmp_path / "sideways.jpg")
    outputs = pytorch_outputs(run.trained, [oriented, sideways])
    assert not np.allclose(outputs[0], outputs[1], rtol=1e-3, atol=1e-3)  # the turn matters
    target = pytorch_model(run.trained)[1]["target_info"]
    printed = [run_snippet(tmp_path, path) for path in (oriented, sideways)]
    assert printed[0] != printed[1]
    for text, output in zip(printed, outputs, strict=True):
        assert_same_prediction(run, target, text, output)
