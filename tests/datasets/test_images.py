"""Image inspection: formats, pixel limit before decoding, truncated and corrupt files."""

from __future__ import annotations

import io
import struct
import warnings
import zlib

import numpy as np
import pytest
from PIL import Image, ImageFile

from aistudio.datasets.images import ImageRefusedError, decode_image, inspect_image
from tests.datasets.support import image_bytes

LIMIT = 89_478_485


def _noise(fmt: str, size: int = 48) -> bytes:
    pixels = np.random.default_rng(0).integers(0, 256, (size, size, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format=fmt)
    return buffer.getvalue()


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header claims ``width`` x ``height`` but which holds no pixel."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + data))
        return struct.pack(">I", len(data)) + kind + data + crc

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IEND", b"")


def _refusal(data: bytes, max_pixels: int = LIMIT) -> str:
    with pytest.raises(ImageRefusedError) as caught:
        inspect_image(data, max_pixels)
    return str(caught.value)


@pytest.mark.parametrize(
    ("fmt", "ext"),
    [("PNG", "png"), ("JPEG", "jpg"), ("BMP", "bmp"), ("TIFF", "tif"), ("WEBP", "webp")],
)
def test_supported_formats_give_their_extension_and_size(fmt: str, ext: str) -> None:
    info = inspect_image(image_bytes(fmt, size=(40, 32)), LIMIT)
    assert (info.format, info.ext, info.width, info.height) == (fmt, ext, 40, 32)


@pytest.mark.parametrize("fmt", ["GIF", "PPM", "ICO"])
def test_other_formats_are_refused_by_name(fmt: str) -> None:
    assert _refusal(image_bytes(fmt)) == f"unsupported format {fmt}"


def test_format_comes_from_the_content_not_the_name() -> None:
    assert inspect_image(image_bytes("PNG"), LIMIT).ext == "png"
    assert inspect_image(image_bytes("JPEG"), LIMIT).ext == "jpg"


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "empty file"),
        (b"not an image at all" * 5, "not a recognised image file"),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 30, "not a recognised image file"),
    ],
)
def test_garbage_is_refused(data: bytes, reason: str) -> None:
    assert _refusal(data) == reason


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
@pytest.mark.parametrize("keep", [0.5, 0.9])
def test_truncated_files_are_refused(fmt: str, keep: float) -> None:
    data = _noise(fmt)
    reason = _refusal(data[: int(len(data) * keep)])
    assert reason.startswith("corrupt or truncated image:"), reason


def test_truncated_images_are_never_loaded() -> None:
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False


def test_png_with_a_damaged_chunk_is_refused() -> None:
    data = bytearray(_noise("PNG"))
    data[len(data) // 2] ^= 0xFF
    assert "corrupt" in _refusal(bytes(data))


def test_pixel_limit_is_checked_from_the_header() -> None:
    reason = _refusal(image_bytes("PNG", size=(40, 32)), max_pixels=1000)
    assert reason == (
        "too many pixels: 40x32 = 1,280 exceeds the limit of 1,000 (decompression-bomb guard)"
    )


def test_a_header_claiming_billions_of_pixels_is_refused_without_decoding() -> None:
    # 100000 x 100000 pixels would need 30 GB: Pillow's own guard stops it while opening.
    reason = _refusal(_png_header_only(100_000, 100_000))
    assert reason.startswith("too many pixels")


def test_pillow_bomb_warning_turned_into_an_error_is_a_refusal() -> None:
    data = _png_header_only(10_000, 10_000)  # 1e8 pixels: Pillow warns (limit 89 M)
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        assert _refusal(data).startswith("too many pixels")


def test_our_limit_refuses_what_pillow_only_warns_about() -> None:
    data = _png_header_only(10_000, 10_000)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        assert _refusal(data, max_pixels=LIMIT).startswith("too many pixels: 10000x10000")


def test_animated_and_multi_page_images_are_refused() -> None:
    frames = [Image.new("RGB", (16, 16), (i * 60, 0, 0)) for i in range(3)]
    for fmt in ("WEBP", "TIFF"):
        buffer = io.BytesIO()
        frames[0].save(buffer, format=fmt, save_all=True, append_images=frames[1:])
        assert "3 frames" in _refusal(buffer.getvalue())


@pytest.mark.parametrize(
    ("fmt", "mode"),
    [("PNG", "I;16"), ("PNG", "RGBA"), ("PNG", "LA"), ("PNG", "P"), ("PNG", "1"), ("TIFF", "F")],
)
def test_unusual_pixel_modes_are_accepted(fmt: str, mode: str) -> None:
    info = inspect_image(image_bytes(fmt, mode=mode), LIMIT)
    assert (info.width, info.height, info.mode) == (40, 32, mode)


def test_draft_decoding_keeps_the_stored_size() -> None:
    data = _noise("JPEG", size=256)
    info, image = decode_image(data, LIMIT, draft_size=(64, 64))
    assert (info.width, info.height) == (256, 256)
    assert 64 <= image.size[0] < 256  # decoded at a reduced scale
    image.close()
