"""Safe inspection of one image's bytes with Pillow.

The pixel count is checked against the decompression-bomb limit from the header, before any
pixel is decoded; then the image is decoded completely, so truncated and corrupt files are found
at import time and not in the middle of a training run. Truncated images are never loaded
(``ImageFile.LOAD_TRUNCATED_IMAGES`` is left off). Every refusal is an
:class:`ImageRefusedError` whose message is a short reason a person can act on.
"""

from __future__ import annotations

import io
import logging
import struct
from collections.abc import Callable
from dataclasses import dataclass

from PIL import Image, UnidentifiedImageError

logger = logging.getLogger(__name__)

FORMAT_EXTENSIONS: dict[str, str] = {
    "JPEG": "jpg",
    "MPO": "jpg",  # a JPEG with extra pictures (cameras); its first picture is a plain JPEG
    "PNG": "png",
    "BMP": "bmp",
    "TIFF": "tif",
    "WEBP": "webp",
}
"""Pillow format name -> the extension the image is stored under. Other formats are refused."""

_JPEG_FORMATS = frozenset({"JPEG", "MPO"})
_MULTI_FRAME_OK = frozenset({"MPO"})
_MAX_REASON = 200

# What Pillow raises on damaged data, besides OSError (which includes UnidentifiedImageError).
_DECODE_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    SyntaxError,
    ValueError,
    EOFError,
    IndexError,
    struct.error,
)
_BOMB_ERRORS: tuple[type[BaseException], ...] = (
    Image.DecompressionBombError,
    Image.DecompressionBombWarning,  # raised when warnings are turned into errors
)


class ImageRefusedError(ValueError):
    """The bytes are not an image AI Studio accepts; ``str(exc)`` is the short reason."""


@dataclass(frozen=True, slots=True)
class ImageInfo:
    """What the inspection found out about an accepted image.

    Attributes:
        format: Pillow's format name (``JPEG``, ``PNG``, …).
        ext: the extension the image is stored under (``jpg``, ``png``, ``bmp``, ``tif``, ``webp``).
        width: width in pixels, as stored in the file.
        height: height in pixels, as stored in the file.
        mode: Pillow's pixel mode of the file (``RGB``, ``L``, ``I;16``, …).
    """

    format: str
    ext: str
    width: int
    height: int
    mode: str


def _short(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text if len(text) <= _MAX_REASON else text[: _MAX_REASON - 1] + "…"


def _bomb_reason(exc: BaseException) -> str:
    return f"too many pixels (decompression-bomb guard): {_short(exc)}"


def _open(data: bytes, max_pixels: int) -> tuple[Image.Image, ImageInfo]:
    """Open ``data`` lazily (header only) and check its format and pixel count."""
    try:
        image = Image.open(io.BytesIO(data))
    except UnidentifiedImageError:
        raise ImageRefusedError("not a recognised image file") from None
    except _BOMB_ERRORS as exc:
        raise ImageRefusedError(_bomb_reason(exc)) from None
    except _DECODE_ERRORS as exc:
        raise ImageRefusedError(f"corrupt or truncated image: {_short(exc)}") from None
    fmt = image.format or "unknown"
    ext = FORMAT_EXTENSIONS.get(fmt)
    if ext is None:
        image.close()
        raise ImageRefusedError(f"unsupported format {fmt}")
    width, height = image.size
    if width <= 0 or height <= 0:
        image.close()
        raise ImageRefusedError(f"invalid size {width}x{height}")
    if width * height > max_pixels:
        image.close()
        raise ImageRefusedError(
            f"too many pixels: {width}x{height} = {width * height:,} exceeds the limit of "
            f"{max_pixels:,} (decompression-bomb guard)"
        )
    if fmt not in _MULTI_FRAME_OK:
        try:
            frames = int(getattr(image, "n_frames", 1))
        except _DECODE_ERRORS as exc:
            image.close()
            raise ImageRefusedError(f"corrupt or truncated image: {_short(exc)}") from None
        if frames > 1:
            image.close()
            raise ImageRefusedError(
                f"{fmt} with {frames} frames (animated or multi-page) is not supported"
            )
    return image, ImageInfo(format=fmt, ext=ext, width=width, height=height, mode=image.mode)


def decode_image(
    data: bytes, max_pixels: int, draft_size: tuple[int, int] | None = None
) -> tuple[ImageInfo, Image.Image]:
    """Check and fully decode one image.

    Args:
        data: the file's bytes.
        max_pixels: the decompression-bomb limit (``Settings.max_image_pixels``); an image with
            more pixels is refused from its header, before decoding.
        draft_size: when given, a JPEG is decoded at the smallest of 1/1, 1/2, 1/4 or 1/8 scale
            that stays at least this size (Pillow's draft mode: the whole file is still read
            and decoded, only the inverse DCT is cheaper). Useful when only a thumbnail is
            needed. Other formats are decoded at full size.

    Returns:
        What the header says (its ``width`` and ``height`` are the stored size, even in
        draft mode) and the decoded image (maybe smaller in draft mode).

    Raises:
        ImageRefusedError: empty, unrecognised, unsupported, too large, truncated or corrupt.
    """
    if not data:
        raise ImageRefusedError("empty file")
    image, info = _open(data, max_pixels)
    if info.format == "PNG":
        # verify() checks every chunk's CRC, which decoding alone skips; it uses up the image.
        _guarded(image, image.verify)
        image.close()
        image, info = _open(data, max_pixels)
    if draft_size is not None and info.format in _JPEG_FORMATS:
        image.draft(None, draft_size)
    _guarded(image, image.load)
    return info, image


def _guarded(image: Image.Image, step: Callable[[], object]) -> None:
    """Run ``step`` (which reads ``image``'s data); a Pillow error becomes a refusal."""
    try:
        step()
    except _BOMB_ERRORS as exc:
        image.close()
        raise ImageRefusedError(_bomb_reason(exc)) from None
    except _DECODE_ERRORS as exc:
        image.close()
        raise ImageRefusedError(f"corrupt or truncated image: {_short(exc)}") from None


def inspect_image(data: bytes, max_pixels: int) -> ImageInfo:
    """Check and fully decode one image, keeping only what its header says.

    Raises:
        ImageRefusedError: see :func:`decode_image`.
    """
    info, image = decode_image(data, max_pixels)
    image.close()
    return info
