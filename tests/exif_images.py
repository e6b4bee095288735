"""Images with an EXIF orientation, for the tests that check every decode turns them upright."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

ORIENTATION_TAG = 0x0112

STORE_AS: dict[int, Image.Transpose | None] = {
    1: None,
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_90,  # stored turned a quarter left; EXIF 6 turns it right again
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_270,
}
"""Orientation -> how upright pixels are stored in a file with that orientation (the inverse of
what a viewer does to show them)."""


def upright_image(width: int = 48, height: int = 32) -> Image.Image:
    """A clearly non-symmetric RGB image (no flip or turn of it equals it), in 8 px blocks.

    Left third red, top right green, bottom right blue, a white block in the top-left corner.
    """
    pixels = np.zeros((height, width, 3), dtype=np.uint8)
    third = (width // 3) // 8 * 8 or 8
    half = (height // 2) // 8 * 8 or 8
    pixels[:, :third] = (220, 30, 30)
    pixels[:half, third:] = (30, 200, 40)
    pixels[half:, third:] = (30, 40, 210)
    pixels[:8, :8] = (255, 255, 255)
    return Image.fromarray(pixels)


def stored_pixels(upright: Image.Image, orientation: int) -> Image.Image:
    """The pixels a file of ``orientation`` holds so that it shows as ``upright``."""
    method = STORE_AS[orientation]
    return upright.copy() if method is None else upright.transpose(method)


def oriented_bytes(
    upright: Image.Image, orientation: int | None, fmt: str = "JPEG", **save: object
) -> bytes:
    """``upright`` stored turned, with an EXIF orientation that shows it upright.

    ``orientation=None`` writes the pixels as they are, with no EXIF block at all.
    """
    buffer = io.BytesIO()
    options: dict[str, object] = {"quality": 95} if fmt == "JPEG" else {}
    if fmt == "WEBP":
        options["lossless"] = True
    options.update(save)
    if orientation is None:
        upright.save(buffer, format=fmt, **options)
    else:
        exif = Image.Exif()
        exif[ORIENTATION_TAG] = orientation
        stored_pixels(upright, orientation).save(buffer, format=fmt, exif=exif, **options)
    return buffer.getvalue()


def corrupt_orientation(data: bytes, how: str) -> bytes:
    """A JPEG of :func:`oriented_bytes` whose EXIF block is damaged in one way.

    ``how``: ``header`` (not a TIFF header), ``offset`` (first IFD past the end), ``type`` (the
    orientation's type is unknown), ``value`` (orientation 99), ``count`` (the value claims more
    bytes than the file has), ``zeros`` (the TIFF header and IFD zeroed).
    """
    start = data.find(b"Exif\x00\x00")
    assert start > 0, "no EXIF block"
    tiff = start + 6
    tag = data.find(b"\x01\x12", tiff)  # big-endian (Pillow writes MM) orientation entry
    assert tag > 0
    out = bytearray(data)
    if how == "header":
        out[tiff : tiff + 8] = b"XXXXXXXX"
    elif how == "offset":
        out[tiff + 4 : tiff + 8] = b"\xff\xff\xff\x00"
    elif how == "type":
        out[tag + 2 : tag + 4] = b"\x00\x63"
    elif how == "value":
        out[tag + 8 : tag + 10] = b"\x00\x63"
    elif how == "count":
        out[tag + 4 : tag + 8] = b"\x7f\xff\xff\xff"
    elif how == "zeros":
        out[tiff : tiff + 14] = bytes(14)
    else:
        raise ValueError(how)
    return bytes(out)


CORRUPTIONS = ("header", "offset", "type", "value", "count", "zeros")


def mean_abs_diff(a: Image.Image | np.ndarray, b: Image.Image | np.ndarray) -> float:
    """Mean absolute difference of two RGB images of the same size (0…255)."""
    left = np.asarray(a, dtype=np.float64)
    right = np.asarray(b, dtype=np.float64)
    assert left.shape == right.shape, (left.shape, right.shape)
    return float(np.abs(left - right).mean())
