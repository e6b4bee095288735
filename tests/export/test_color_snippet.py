"""Exports describe and repeat the app's conversion to RGB (``aistudio.input.color``).

The Export page's snippet carries a small ``to_rgb``; it must give the app's pixels for every
pixel mode, and the app's prediction on a 16-bit PNG and on a transparent PNG. An export is
validated on the dataset's real images, a 16-bit and a transparent one among them.
"""

from __future__ import annotations

import ast
import shutil
from pathlib import Path
from types import FunctionType
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

from aistudio import commands
from aistudio.datasets import images
from aistudio.export.metadata import COLOR, input_spec
from aistudio.training.data import to_model_input
from aistudio.worker.service import Worker
from tests.color_images import gray16, old_decode, png_bytes, ramp16, transparent_rgba, twelve_bit
from tests.export.support import (
    ExportRun,
    assert_same_prediction,
    dataset_images,
    export_in_process,
    pytorch_model,
    pytorch_outputs,
    run_snippet,
)
from tests.trained import Trained
from ui.components.export_snippet import onnx_snippet

EXISTING_KEYS = {
    "name",
    "shape",
    "dtype",
    "layout",
    "channel_order",
    "image_size",
    "resize",
    "exif_orientation",
    "scale",
    "mean",
    "std",
    "formula",
}


def test_input_spec_describes_the_conversion_and_keeps_its_keys() -> None:
    spec = input_spec(64, (0.5, 0.5, 0.5), (0.25, 0.25, 0.25))
    assert set(spec) == EXISTING_KEYS | {"color"}
    assert spec["color"] == COLOR and spec["color"] is not COLOR
    assert set(COLOR) == {"result", "rgb", "grayscale", "high_bit_depth", "alpha", "other"}
    assert "min" in COLOR["high_bit_depth"] and "max" in COLOR["high_bit_depth"]
    assert "white" in COLOR["alpha"]
    pillow = spec["resize"]["pillow"]
    draft = pillow.index("image.draft('RGB', (64, 64))")
    turn = pillow.index("image = ImageOps.exif_transpose(image)")
    convert = pillow.index("to_rgb(image).resize((64, 64), Image.Resampling.BILINEAR")
    assert draft < turn < convert
    assert "convert('RGB')" not in pillow  # that is not what the app does for 16-bit images


def _snippet_to_rgb() -> FunctionType:
    """The ``to_rgb`` function of the snippet, compiled on its own (numpy and Pillow only)."""
    tree = ast.parse(onnx_snippet())
    (node,) = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "to_rgb"]
    namespace: dict[str, Any] = {"np": np, "Image": Image}
    exec(compile(ast.Module(body=[node], type_ignores=[]), "snippet", "exec"), namespace)
    function: FunctionType = namespace["to_rgb"]
    return function


def _modes() -> dict[str, Image.Image]:
    rgba = transparent_rgba(24, 16)
    palette = Image.new("P", (6, 4), 0)
    palette.putpalette([10, 20, 30, 200, 0, 0] + [0] * 762)
    palette.putpixel((1, 1), 1)
    clear_palette = palette.copy()
    clear_palette.info["transparency"] = 0
    floats = ramp16(24, 16).astype(np.float32) / 7.0 - 100.0
    floats[0, :3] = (np.nan, np.inf, -np.inf)
    big = twelve_bit(24, 16)
    return {
        "RGB": rgba.convert("RGB"),
        "L": rgba.convert("L"),
        "1": rgba.convert("1"),
        "P": palette,
        "P+transparency": clear_palette,
        "RGBA": rgba,
        "LA": rgba.convert("LA"),
        "PA": rgba.convert("PA"),
        "RGBa": rgba.convert("RGBa"),
        "CMYK": rgba.convert("CMYK"),
        "YCbCr": rgba.convert("YCbCr"),
        "I;16": Image.fromarray(ramp16(24, 16)),
        "I;16B": Image.frombytes("I;16B", (24, 16), big.astype(">u2").tobytes()),
        "I": Image.fromarray(big.astype(np.int32) - 2000),
        "F": Image.fromarray(floats),
        "I;16 constant": Image.fromarray(np.full((4, 4), 7, dtype=np.uint16)),
    }


@pytest.mark.parametrize("name", list(_modes()))
def test_the_snippets_conversion_is_the_apps(name: str) -> None:
    image = _modes()[name]
    mine = _snippet_to_rgb()(image.copy())
    assert mine.mode == "RGB"
    assert np.array_equal(np.asarray(mine), np.asarray(images.to_rgb(image)))


def test_the_snippet_turns_then_converts() -> None:
    source = onnx_snippet()
    draft = source.index('image.draft("RGB", (size, size))')
    turn = source.index("rgb = to_rgb(ImageOps.exif_transpose(image))")
    assert source.index("def to_rgb(image):") < draft < turn
    assert ".convert(" not in source[turn:]


def _hard_images(run: ExportRun, folder: Path) -> tuple[Path, Path]:
    """A dataset digit as a 12-bit-in-16 PNG and as a transparent PNG (45 x 70: resized)."""
    (original,) = dataset_images(run.trained, 1)
    with Image.open(original) as image:
        grey = np.asarray(image.convert("L").resize((45, 70), Image.Resampling.BICUBIC))
    sixteen = folder / "sixteen.png"
    sixteen.write_bytes(gray16(grey.astype(np.uint16) * 12 + 300))
    rgba = np.zeros((70, 45, 4), dtype=np.uint8)
    rgba[..., 0] = rgba[..., 1] = rgba[..., 2] = grey
    rgba[..., 3] = 255
    rgba[:, :12, :3] = (250, 0, 0)  # hidden under full transparency
    rgba[:, :12, 3] = 0
    rgba[:20, 12:, 3] = 90
    clear = folder / "clear.png"
    clear.write_bytes(png_bytes(Image.fromarray(rgba, mode="RGBA")))
    return sixteen, clear


@pytest.mark.parametrize("fixture", ["onnx_classification", "onnx_regression"])
def test_snippet_prediction_equals_the_apps_on_16_bit_and_transparent_pngs(
    fixture: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    run: ExportRun = request.getfixturevalue(fixture)
    shutil.copyfile(run.file(), tmp_path / "model.onnx")
    hard = list(_hard_images(run, tmp_path))
    outputs = pytorch_outputs(run.trained, hard)
    model, meta = pytorch_model(run.trained)
    size = int(meta["image_size"])
    with torch.inference_mode():  # what the plain convert("RGB") made of them
        plain = model(to_model_input(torch.stack([old_decode(p, size) for p in hard]))).numpy()
    for new, old in zip(outputs, plain, strict=True):
        assert not np.allclose(new, old, rtol=1e-3, atol=1e-3)  # the conversion matters here
    target = meta["target_info"]
    for image, output in zip(hard, outputs, strict=True):
        assert_same_prediction(run, target, run_snippet(tmp_path, image), output)


def test_an_export_validates_on_sixteen_bit_and_transparent_images(
    trained_classification: Trained, tmp_path: Path
) -> None:
    t = trained_classification
    folder = tmp_path / "more"
    (folder / "3").mkdir(parents=True)
    (folder / "3" / "sixteen.png").write_bytes(gray16(twelve_bit(40, 40)))
    (folder / "3" / "sixteen.tif").write_bytes(gray16(ramp16(40, 40), "TIFF", ">"))
    (folder / "3" / "clear.png").write_bytes(png_bytes(transparent_rgba(40, 40)))
    commands.request_import(t.workspace, t.project_id, folder, "imagefolder")
    Worker(t.workspace).run(once=True)
    view = commands.dataset_view(t.workspace, t.project_id)
    modes = set()
    for entry in view.images.values():
        with Image.open(t.workspace.image_path(t.project_id, entry.sha256, entry.ext)) as image:
            modes.add(image.mode)
    assert {"I;16", "I;16B", "RGBA"} <= modes
    labelled = sum(1 for entry in view.images.values() if entry.label is not None)
    commands.delete_split(t.workspace, t.project_id, "default")  # validate on every image
    run = export_in_process(
        t, format="onnx", checkpoint="best", options={"validation_images": 1024}
    )
    assert run.end.type == "JobSucceeded", run.end.data
    assert run.completed is not None
    validation = run.completed.data["validation"]
    assert validation["passed"] is True and validation["images"] == labelled
