"""Training, evaluation and export samples decode images upright (EXIF orientation applied).

:func:`decode_image` must give the very pixels of the recipe the export metadata and the Export
page's snippet describe: draft, ``ImageOps.exif_transpose``, RGB, bilinear resize.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageOps

from aistudio.training.data import decode_image
from tests.exif_images import (
    CORRUPTIONS,
    corrupt_orientation,
    mean_abs_diff,
    oriented_bytes,
    stored_pixels,
    upright_image,
)


def _recipe(path: Path, size: int, *, transpose: bool = True) -> np.ndarray:
    """The documented preprocessing (``aistudio.input.resize.pillow``), as HWC ``uint8``."""
    with Image.open(path) as image:
        image.draft("RGB", (size, size))
        turned = ImageOps.exif_transpose(image) if transpose else image
        rgb = turned.convert("RGB")
    if rgb.size != (size, size):
        rgb = rgb.resize((size, size), Image.Resampling.BILINEAR, reducing_gap=3.0)
    return np.asarray(rgb)


def _hwc(tensor: torch.Tensor) -> np.ndarray:
    assert tensor.dtype == torch.uint8 and tensor.shape[0] == 3
    return tensor.permute(1, 2, 0).numpy()


@pytest.mark.parametrize(("width", "height", "size"), [(48, 32, 32), (480, 320, 40)])
@pytest.mark.parametrize("orientation", range(1, 9))
def test_decode_gives_the_upright_pixels(
    tmp_path: Path, orientation: int, width: int, height: int, size: int
) -> None:
    upright = upright_image(width, height)
    path = tmp_path / "photo.jpg"
    path.write_bytes(oriented_bytes(upright, orientation))
    decoded = _hwc(decode_image(path, size))
    assert np.array_equal(decoded, _recipe(path, size))  # bit for bit, drafted or not
    expected = upright.resize((size, size), Image.Resampling.BILINEAR)
    assert mean_abs_diff(decoded, expected) < 8
    for other in range(2, 9):  # and clearly not any other turn of the picture
        wrong = stored_pixels(upright, other).resize((size, size), Image.Resampling.BILINEAR)
        if stored_pixels(upright, other).tobytes() != upright.tobytes():
            assert mean_abs_diff(decoded, wrong) > 30, other


def test_an_image_without_exif_decodes_as_before(tmp_path: Path) -> None:
    path = tmp_path / "plain.jpg"
    path.write_bytes(oriented_bytes(upright_image(480, 320), None))
    assert np.array_equal(_hwc(decode_image(path, 40)), _recipe(path, 40, transpose=False))


@pytest.mark.parametrize("how", CORRUPTIONS)
def test_a_corrupt_exif_block_counts_as_no_orientation(tmp_path: Path, how: str) -> None:
    path = tmp_path / "corrupt.jpg"
    path.write_bytes(corrupt_orientation(oriented_bytes(upright_image(), 6), how))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Pillow warns about some of these
        decoded = _hwc(decode_image(path, 32))
        assert np.array_equal(decoded, _recipe(path, 32, transpose=False))


@pytest.mark.parametrize("fmt", ["PNG", "WEBP", "TIFF"])
def test_other_formats_are_upright_and_turned_once(tmp_path: Path, fmt: str) -> None:
    """PNG and WebP carry EXIF too; Pillow turns a TIFF itself, which must not happen twice."""
    upright = upright_image()
    path = tmp_path / f"photo.{fmt.lower()}"
    path.write_bytes(oriented_bytes(upright, 6, fmt))
    decoded = _hwc(decode_image(path, 32))
    assert np.array_equal(decoded, _recipe(path, 32))
    expected = upright.resize((32, 32), Image.Resampling.BILINEAR, reducing_gap=3.0)
    assert np.array_equal(decoded, np.asarray(expected))
