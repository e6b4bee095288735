"""Helpers of the semantic segmentation tests: tiny masks of every PNG kind, and sources."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image

from tests.datasets.support import image_bytes, write

W, H = 8, 6


def png_bytes(
    values: np.ndarray,
    mode: str | None = None,
    palette: list[int] | None = None,
    bits: int | None = None,
    fmt: str = "PNG",
) -> bytes:
    """``values`` as an image file: ``L`` (default for 2-D uint8), ``P`` (with ``palette``),
    ``RGB``/``RGBA`` (3-D arrays), ``I;16`` (uint16), at ``bits`` per sample when given."""
    if mode == "P":
        image = Image.frombytes("P", (values.shape[1], values.shape[0]), values.tobytes())
        image.putpalette(palette or [v for i in range(256) for v in (i, 255 - i, i // 2)])
    else:
        image = Image.fromarray(values)
    buffer = io.BytesIO()
    options = {"bits": bits} if bits else {}
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def write_mask(path: Path, values: np.ndarray, **kwargs: object) -> Path:
    """A mask file at ``path`` (see :func:`png_bytes`)."""
    return write(path, png_bytes(values, **kwargs))  # type: ignore[arg-type]


def write_image(path: Path, color: int, size: tuple[int, int] = (W, H)) -> Path:
    """A distinct small RGB image at ``path`` (PNG, or JPEG for a ``.jpg`` name)."""
    fmt = "JPEG" if path.suffix.lower() in (".jpg", ".jpeg") else "PNG"
    return write(path, image_bytes(fmt, size, color))


def values(seed: int, top: int, size: tuple[int, int] = (W, H)) -> np.ndarray:
    """A ``height x width`` uint8 array of values ``0..top`` (every value present)."""
    rng = np.random.default_rng(seed)
    width, height = size
    out = rng.integers(0, top + 1, (height, width)).astype(np.uint8)
    out.ravel()[: top + 1] = np.arange(top + 1)
    return out


def decoded(data: bytes) -> np.ndarray:
    """The values of a stored mask, checked to be an 8-bit grey PNG."""
    with Image.open(io.BytesIO(data)) as image:
        assert (image.format, image.mode) == ("PNG", "L")
        return np.asarray(image)


def stored(path: Path) -> np.ndarray:
    """The values of a stored mask file."""
    return decoded(path.read_bytes())
