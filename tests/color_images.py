"""Images whose colours need :func:`aistudio.datasets.images.to_rgb`: 16-bit, float, transparent.

Shared by the datasets, training and export tests that check thumbnails, training and the
Export page's snippet all see the same 8-bit RGB.
"""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from aistudio.datasets.images import exif_orientation, orient

if TYPE_CHECKING:
    import torch


def ramp16(width: int = 64, height: int = 64, high: int = 65520) -> np.ndarray:
    """A horizontal-and-vertical ramp of ``uint16`` values from 0 to ``high``."""
    steps = np.linspace(0.0, 1.0, width * height).reshape(height, width)
    return np.round(steps * high).astype(np.uint16)


def twelve_bit(width: int = 64, height: int = 64) -> np.ndarray:
    """A 12-bit image stored in 16 bits (as microscopes write it): 200..3900 of 0..4095."""
    yy, xx = np.mgrid[0:height, 0:width]
    return (200 + (xx * 37 + yy * 23) % 3701).astype(np.uint16)


def gray16(values: np.ndarray, fmt: str = "PNG", byte_order: str = "<") -> bytes:
    """``values`` (``uint16``) saved as a one-channel 16-bit PNG or TIFF.

    ``byte_order=">"`` gives a big-endian TIFF (Pillow mode ``I;16B``).
    """
    height, width = values.shape
    if byte_order == ">":
        image = Image.frombytes("I;16B", (width, height), values.astype(">u2").tobytes())
    else:
        image = Image.fromarray(values.astype(np.uint16))
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return buffer.getvalue()


def png16_color(values: np.ndarray) -> bytes:
    """``values`` (H x W x 3 ``uint16``) as a 16-bit RGB PNG (Pillow cannot write one)."""
    height, width, _ = values.shape
    rows = b"".join(b"\x00" + values[y].astype(">u2").tobytes() for y in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 16, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def transparent_rgba(width: int = 64, height: int = 64) -> Image.Image:
    """An RGBA image: an opaque coloured square in the middle, fully transparent around it
    (holding dark red that must not show), and a half-transparent band at the top."""
    pixels = np.zeros((height, width, 4), dtype=np.uint8)
    pixels[..., :3] = (120, 10, 10)  # under the transparent area: must come out white
    pixels[height // 4 : 3 * height // 4, width // 4 : 3 * width // 4] = (20, 90, 200, 255)
    pixels[:4, :, 3] = 128
    return Image.fromarray(pixels, mode="RGBA")


def png_bytes(image: Image.Image) -> bytes:
    """``image`` as PNG bytes."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def write(path: Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` and return the path."""
    path.write_bytes(data)
    return path


def old_decode(path: Path, size: int) -> torch.Tensor:
    """Training's ``decode_image`` before :func:`to_rgb` was used: a plain ``convert("RGB")``."""
    import torch

    with Image.open(path) as image:
        image.draft("RGB", (size, size))
        image.load()
        rgb = orient(image.convert("RGB"), exif_orientation(image))
    if rgb.size != (size, size):
        rgb = rgb.resize((size, size), Image.Resampling.BILINEAR, reducing_gap=3.0)
    array = np.asarray(rgb, dtype=np.uint8)
    return torch.from_numpy(array.copy()).permute(2, 0, 1).contiguous()


def hwc(tensor: torch.Tensor) -> np.ndarray:
    """A ``uint8`` 3 x H x W tensor as an H x W x 3 array."""
    import torch

    assert tensor.dtype == torch.uint8 and tensor.shape[0] == 3
    return tensor.permute(1, 2, 0).numpy()
