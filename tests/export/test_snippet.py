"""The Export page's snippet: a torch-free program that predicts like the app does.

It is written to a file and run (the venv's Python) next to an exported model and a real image
of the dataset, and its printed prediction is compared with the app's (PyTorch eager on the
image decoded as the pipeline decodes it). A second image, the same digit enlarged to a
non-square JPEG, makes the program resize and decode a JPEG like the app.
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

from tests.export.support import ExportRun, dataset_images, pytorch_model, pytorch_outputs
from ui.components.export_snippet import PREDICTION_PREFIX, REQUIREMENTS, onnx_snippet


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
    """A dataset image as it is stored, and the same digit as a 45 x 70 JPEG."""
    (original,) = dataset_images(run.trained, 1)
    plain = folder / f"image{original.suffix}"
    shutil.copyfile(original, plain)
    big = folder / "big.jpg"
    with Image.open(original) as image:
        image.convert("RGB").resize((45, 70), Image.Resampling.BICUBIC).save(big, quality=90)
    return [plain, big]


def _run_snippet(folder: Path, image: Path) -> str:
    script = folder / "predict.py"
    script.write_text(onnx_snippet("model.onnx", image.name), encoding="utf-8")
    done = subprocess.run(
        [sys.executable, str(script)],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert lines and lines[-1].startswith(PREDICTION_PREFIX), done.stdout
    return lines[-1].removeprefix(PREDICTION_PREFIX)


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
        printed = _run_snippet(tmp_path, image)
        if run.trained.task == "classification":
            probabilities = np.exp(output - output.max())
            probabilities /= probabilities.sum()
            best = int(probabilities.argmax())
            name, _, rest = printed.partition(" (probability ")
            assert name == target["classes"][best]
            assert float(rest.rstrip(")")) == pytest.approx(probabilities[best], abs=2e-4)
        else:
            value = float(output[0]) * target["std"] + target["mean"]
            assert float(printed) == pytest.approx(value, rel=1e-5, abs=1e-5)
