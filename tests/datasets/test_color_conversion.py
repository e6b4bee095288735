"""The one conversion to 8-bit RGB (``images.to_rgb``): 16-bit and float images are imported and
shown stretched, not saturated; transparency is on white; 8-bit RGB is not touched."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from aistudio.datasets import store
from aistudio.datasets.images import decode_image, inspect_image, orient, to_rgb
from aistudio.datasets.ingest import IngestConfig, Ingestor
from aistudio.datasets.store import encode_thumbnail, make_thumbnail
from aistudio.workspace import Workspace
from tests.color_images import (
    gray16,
    png16_color,
    png_bytes,
    ramp16,
    transparent_rgba,
    twelve_bit,
)
from tests.datasets.support import make_project

LIMIT = 10_000_000


def _stretched(values: np.ndarray) -> np.ndarray:
    """What a one-channel image of ``values`` must look like: min..max onto 0..255."""
    v = values.astype(np.float64)
    return np.round((v - v.min()) * (255.0 / (v.max() - v.min()))).astype(np.uint8)


def test_the_store_uses_the_same_conversion() -> None:
    assert store.to_rgb is to_rgb


@pytest.mark.parametrize(
    ("fmt", "byte_order", "mode"),
    [("PNG", "<", "I;16"), ("TIFF", "<", "I;16"), ("TIFF", ">", "I;16B")],
)
@pytest.mark.parametrize("values", [ramp16(), twelve_bit()], ids=["ramp", "12-bit"])
def test_sixteen_bit_png_and_tiff_are_accepted_and_stretched(
    fmt: str, byte_order: str, mode: str, values: np.ndarray
) -> None:
    data = gray16(values, fmt, byte_order)
    info = inspect_image(data, LIMIT)
    assert (info.format, info.mode, info.width, info.height) == (fmt, mode, 64, 64)
    _, image = decode_image(data, LIMIT)
    rgb = np.asarray(to_rgb(image))
    assert rgb.shape == (64, 64, 3)
    for channel in range(3):
        assert np.array_equal(rgb[..., channel], _stretched(values))
    assert (rgb.min(), rgb.max()) == (0, 255)
    assert 100 < rgb.mean() < 155  # not saturated: Pillow's convert("RGB") gives ~254
    thumb = make_thumbnail(image, 64)
    assert np.array_equal(np.asarray(thumb), rgb)  # the thumbnail shows exactly these pixels
    assert encode_thumbnail(image, 16)[:2] == b"\xff\xd8"


def test_big_and_little_endian_give_the_same_pixels() -> None:
    values = twelve_bit()
    little = Image.frombytes("I;16L", (64, 64), values.astype("<u2").tobytes())
    big = Image.frombytes("I;16B", (64, 64), values.astype(">u2").tobytes())
    native = Image.fromarray(values)
    expected = np.asarray(to_rgb(native))
    assert np.array_equal(np.asarray(to_rgb(little)), expected)
    assert np.array_equal(np.asarray(to_rgb(big)), expected)


def test_float_and_32_bit_images_are_stretched_non_finite_as_zero() -> None:
    values = np.array([[-1.0, np.nan], [np.inf, 3.0]], dtype=np.float32)
    assert np.asarray(to_rgb(Image.fromarray(values)))[..., 0].tolist() == [[0, 64], [64, 255]]
    ints = np.array([[-70000, 0], [70000, 140000]], dtype=np.int32)
    assert np.asarray(to_rgb(Image.fromarray(ints)))[..., 1].tolist() == [[0, 85], [170, 255]]


def test_a_constant_sixteen_bit_image_is_black() -> None:
    flat = Image.fromarray(np.full((4, 4), 4000, dtype=np.uint16))
    assert not np.asarray(to_rgb(flat)).any()


def test_sixteen_bit_colour_png_keeps_pillows_high_bytes() -> None:
    values = np.random.default_rng(1).integers(0, 65536, (8, 8, 3), dtype=np.uint16)
    _, image = decode_image(png16_color(values), LIMIT)
    assert image.mode == "RGB"
    assert to_rgb(image) is image
    assert np.array_equal(np.asarray(image), (values >> 8).astype(np.uint8))


def test_eight_bit_rgb_is_returned_itself_and_grey_is_repeated() -> None:
    rgb = Image.new("RGB", (4, 4), (1, 2, 3))
    assert to_rgb(rgb) is rgb
    grey = Image.fromarray(np.arange(16, dtype=np.uint8).reshape(4, 4))
    out = np.asarray(to_rgb(grey))
    assert all(np.array_equal(out[..., c], np.asarray(grey)) for c in range(3))


@pytest.mark.parametrize("mode", ["RGBA", "LA", "PA"])
def test_transparent_areas_are_white_opaque_ones_untouched(mode: str) -> None:
    image = transparent_rgba()
    if mode != "RGBA":
        image = image.convert(mode)
    if mode != "PA":  # as stored (Pillow cannot write PA)
        image = Image.open(io.BytesIO(png_bytes(image)))
        assert image.mode == mode
    out = np.asarray(to_rgb(image))
    opaque = np.asarray(image.convert("RGBA"))[32, 32, :3]
    assert out[32, 32].tolist() == opaque.tolist()
    assert out[10, 2].tolist() == [255, 255, 255]  # transparent: white, not the dark red kept
    assert out[0, 32].min() > 128  # half transparent: half way to white


def test_a_palette_with_a_transparent_entry_is_on_white() -> None:
    image = Image.new("P", (4, 4), 0)
    image.putpalette([10, 20, 30, 200, 0, 0] + [0] * 762)
    image.putpixel((0, 0), 1)
    image.info["transparency"] = 0
    out = np.asarray(to_rgb(Image.open(io.BytesIO(png_bytes(image)))))
    assert out[1, 1].tolist() == [255, 255, 255] and out[0, 0].tolist() == [200, 0, 0]


@pytest.mark.parametrize("orientation", range(1, 9))
@pytest.mark.parametrize("kind", ["16-bit", "float", "rgba"])
def test_the_conversion_commutes_with_the_turn(kind: str, orientation: int) -> None:
    """The app converts, then turns; the snippet turns (exif_transpose), then converts."""
    if kind == "16-bit":
        image = Image.fromarray(twelve_bit(48, 32))
    elif kind == "float":
        image = Image.fromarray(ramp16(48, 32).astype(np.float32) - 7.5)
    else:
        image = transparent_rgba(48, 32)
    converted_first = orient(to_rgb(image), orientation)
    turned_first = to_rgb(orient(image, orientation))
    assert np.array_equal(np.asarray(converted_first), np.asarray(turned_first))


@pytest.mark.parametrize(
    ("name", "fmt", "byte_order"), [("a.png", "PNG", "<"), ("b.tif", "TIFF", ">")]
)
def test_the_import_stores_sixteen_bit_images_with_a_visible_thumbnail(
    workspace: Workspace, tmp_path: Path, name: str, fmt: str, byte_order: str
) -> None:
    config = IngestConfig(
        workspace_root=str(workspace.root),
        project_id=make_project(workspace),
        max_pixels=LIMIT,
        thumbnail_px=32,
        max_bytes=1_000_000,
    )
    path = tmp_path / name
    path.write_bytes(gray16(twelve_bit(), fmt, byte_order))
    outcome = Ingestor(config).ingest(path)
    assert outcome.reason is None and outcome.ext == fmt.lower()[:3]
    with Image.open(workspace.thumb_path(config.project_id, outcome.sha256)) as thumb:
        pixels = np.asarray(thumb.convert("L"), dtype=np.float64)
    assert pixels.min() < 40 and pixels.max() > 215 and 80 < pixels.mean() < 175
