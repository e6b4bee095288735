"""Training, evaluation and export validation see the thumbnail's colours (``images.to_rgb``):
16-bit images stretched rather than saturated, transparency on white, 8-bit images as before."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageOps

from aistudio.datasets import images
from aistudio.training.data import decode_image
from tests.color_images import (
    gray16,
    hwc,
    old_decode,
    png_bytes,
    ramp16,
    transparent_rgba,
    twelve_bit,
    write,
)
from tests.exif_images import ORIENTATION_TAG, stored_pixels

LIMIT = 10_000_000
SIXTEEN_BIT = [
    ("ramp.png", ramp16(), "PNG", "<"),
    ("twelve.png", twelve_bit(), "PNG", "<"),
    ("twelve.tif", twelve_bit(), "TIFF", "<"),
    ("twelve-big-endian.tif", twelve_bit(), "TIFF", ">"),
]


def _thumbnail_colours(data: bytes) -> np.ndarray:
    """The pixels the thumbnail is made from: the import's decode, then ``to_rgb``."""
    _, image = images.decode_image(data, LIMIT)
    return np.asarray(images.to_rgb(image))


@pytest.mark.parametrize(("name", "values", "fmt", "byte_order"), SIXTEEN_BIT)
def test_sixteen_bit_images_train_on_the_thumbnails_pixels(
    tmp_path: Path, name: str, values: np.ndarray, fmt: str, byte_order: str
) -> None:
    path = write(tmp_path / name, gray16(values, fmt, byte_order))
    decoded = hwc(decode_image(path, 64))  # 64 x 64 already: no resize
    assert np.array_equal(decoded, _thumbnail_colours(path.read_bytes()))
    assert (decoded.min(), decoded.max()) == (0, 255)
    assert 100 < decoded.mean() < 155
    assert hwc(old_decode(path, 64)).mean() > 250  # what the plain convert("RGB") gave
    resized = hwc(decode_image(path, 24))
    assert 100 < resized.mean() < 155


def test_a_sixteen_bit_png_with_an_orientation_is_turned_as_the_snippet_turns_it(
    tmp_path: Path,
) -> None:
    upright = twelve_bit(48, 32)
    exif = Image.Exif()
    exif[ORIENTATION_TAG] = 6
    buffer = io.BytesIO()
    stored_pixels(Image.fromarray(upright), 6).save(buffer, format="PNG", exif=exif)
    path = write(tmp_path / "turned.png", buffer.getvalue())
    decoded = hwc(decode_image(path, 40))
    with Image.open(path) as image:  # the snippet's order: turn, then convert
        recipe = images.to_rgb(ImageOps.exif_transpose(image))
    recipe = recipe.resize((40, 40), Image.Resampling.BILINEAR, reducing_gap=3.0)
    assert np.array_equal(decoded, np.asarray(recipe))
    plain = np.asarray(images.to_rgb(Image.fromarray(upright)).resize((40, 40), 2))
    assert np.abs(decoded.astype(int) - plain.astype(int)).mean() < 2  # upright


def test_transparent_areas_train_on_white(tmp_path: Path) -> None:
    rgba = transparent_rgba()
    path = write(tmp_path / "clear.png", png_bytes(rgba))
    decoded = hwc(decode_image(path, 64))
    assert np.array_equal(decoded, _thumbnail_colours(path.read_bytes()))
    assert decoded[10, 2].tolist() == [255, 255, 255]  # transparent: white
    assert decoded[32, 32].tolist() == [20, 90, 200]  # opaque: as stored
    assert hwc(old_decode(path, 64))[10, 2].tolist() == [120, 10, 10]  # the hidden colour


def test_a_palette_with_a_transparent_entry_trains_on_white(tmp_path: Path) -> None:
    image = Image.new("P", (8, 8), 0)
    image.putpalette([0, 0, 0, 200, 0, 0] + [0] * 762)
    image.putpixel((0, 0), 1)
    image.info["transparency"] = 0
    path = write(tmp_path / "palette.png", png_bytes(image))
    decoded = hwc(decode_image(path, 8))
    assert decoded[0, 0].tolist() == [200, 0, 0] and decoded[4, 4].tolist() == [255, 255, 255]


def _ordinary(mode: str, fmt: str, size: tuple[int, int]) -> bytes:
    rng = np.random.default_rng(7)
    base = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
    image = Image.fromarray(base).resize(size, Image.Resampling.BICUBIC).convert(mode)
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **({"quality": 90} if fmt == "JPEG" else {}))
    return buffer.getvalue()


ORDINARY = [
    (mode, fmt, stored, size)
    for fmt, modes in (("PNG", ("RGB", "L", "P")), ("JPEG", ("RGB", "L", "CMYK")))
    for mode in modes
    for stored, size in (((64, 64), 64), ((90, 60), 32), ((224, 224), 224), ((400, 300), 64))
]


@pytest.mark.parametrize(("mode", "fmt", "stored", "size"), ORDINARY)
def test_ordinary_images_decode_bit_for_bit_as_before(
    tmp_path: Path, mode: str, fmt: str, stored: tuple[int, int], size: int
) -> None:
    path = write(tmp_path / f"image.{fmt.lower()}", _ordinary(mode, fmt, stored))
    with Image.open(path) as image:
        assert image.mode == mode
    assert np.array_equal(decode_image(path, size).numpy(), old_decode(path, size).numpy())
