"""Safe inspection of one image's bytes with Pillow.

The pixel count is checked against the decompression-bomb limit from the header, before any
pixel is decoded; then the image is decoded completely, so truncated and corrupt files are found
at import time and not in the middle of a training run. Truncated images are never loaded
(``ImageFile.LOAD_TRUNCATED_IMAGES`` is left off). Every refusal is an
:class:`ImageRefusedError` whose message is a short reason a person can act on.

EXIF orientation is honoured everywhere an image is decoded (thumbnails here, training,
evaluation and export validation in :func:`aistudio.training.data.decode_image`): the pixels are
turned upright exactly as Pillow's ``ImageOps.exif_transpose`` does (:func:`exif_orientation`,
:func:`orient`), which is what browsers (``image-orientation: from-image``), OpenCV's ``imread``
and the Export page's snippet do too. An orientation that cannot be read (a corrupt EXIF block)
counts as none: the pixels are fine, so the image is not refused for it.

:func:`to_rgb` is the one conversion to 8-bit RGB, for thumbnails and for what models see
(training, evaluation, export validation; the export's ``aistudio.input.color`` describes it and
the Export page's snippet repeats it): 8-bit RGB as is, one-channel 16-bit, 32-bit and float
images stretched per image from their minimum to their maximum, transparency on white.
"""

from __future__ import annotations

import io
import logging
import re
import struct
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
from PIL import ExifTags, Image, UnidentifiedImageError

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
_PILLOW_PIXELS = re.compile(r"\((\d+) pixels\)")
"""The pixel count in Pillow's decompression-bomb message (``Image size (N pixels) exceeds…``)."""

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
# What reading a damaged EXIF block can raise (Pillow mostly warns and skips the tag; the warning
# is raised when warnings are turned into errors); the orientation is then taken as none.
_EXIF_ERRORS: tuple[type[BaseException], ...] = (*_DECODE_ERRORS, KeyError, TypeError, Warning)

_TRANSPOSE: dict[int, Image.Transpose] = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
"""EXIF orientation -> the transpose that turns stored pixels upright (as ``exif_transpose``)."""

BACKGROUND: tuple[int, int, int] = (255, 255, 255)
"""What transparent pixels are composited on (white)."""
_ALPHA_MODES = frozenset({"RGBA", "LA", "PA", "RGBa", "La"})


class ImageRefusedError(ValueError):
    """The bytes are not an image AI Studio accepts; ``str(exc)`` is the short reason."""


@dataclass(frozen=True, slots=True)
class ImageInfo:
    """What the inspection found out about an accepted image.

    Attributes:
        format: Pillow's format name (``JPEG``, ``PNG``, …).
        ext: the extension the image is stored under (``jpg``, ``png``, ``bmp``, ``tif``, ``webp``).
        width: width in pixels, as stored in the file (before any EXIF orientation; a TIFF is
            the exception: Pillow itself turns TIFFs upright when it opens them).
        height: height in pixels, as stored in the file (same caveat).
        mode: Pillow's pixel mode of the file (``RGB``, ``L``, ``I;16``, …).
        orientation: the EXIF orientation (1…8) that :func:`decode_image` applies to the
            pixels; 1 when there is none, it cannot be read, or Pillow applied it already (TIFF).
    """

    format: str
    ext: str
    width: int
    height: int
    mode: str
    orientation: int = 1

    @property
    def upright_size(self) -> tuple[int, int]:
        """``(width, height)`` of the image as shown: swapped when the orientation turns it."""
        if self.orientation >= 5:
            return self.height, self.width
        return self.width, self.height


def _short(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text if len(text) <= _MAX_REASON else text[: _MAX_REASON - 1] + "…"


def _bomb_reason(exc: BaseException, max_pixels: int) -> str:
    """The refusal of an image Pillow's own guard stopped, quoting the limit in force (the
    workspace's ``max_pixels``; Pillow's message quotes its own, twice its setting)."""
    found = _PILLOW_PIXELS.search(str(exc))
    count = f"{int(found.group(1)):,}" if found else "more pixels than allowed"
    return (
        f"too many pixels: {count} exceeds the limit of {max_pixels:,} (decompression-bomb guard)"
    )


def _pillow_allows(max_pixels: int) -> None:
    """Make sure Pillow's own guard does not stop an image the workspace's limit allows.

    Pillow warns above ``Image.MAX_IMAGE_PIXELS`` and refuses above twice that, whatever the
    caller's limit; our own check (after the lazy open) is the one that decides. A workspace
    limit above Pillow's raises Pillow's (a process-wide setting, only ever raised, so that
    Pillow keeps guarding at the highest limit in use); it is never lowered here.
    """
    current = Image.MAX_IMAGE_PIXELS
    if current is not None and current < max_pixels:
        Image.MAX_IMAGE_PIXELS = max_pixels


def _open(data: bytes, max_pixels: int) -> tuple[Image.Image, ImageInfo]:
    """Open ``data`` lazily (header only) and check its format and pixel count."""
    _pillow_allows(max_pixels)
    try:
        image = Image.open(io.BytesIO(data))
    except UnidentifiedImageError:
        raise ImageRefusedError("not a recognised image file") from None
    except _BOMB_ERRORS as exc:
        raise ImageRefusedError(_bomb_reason(exc, max_pixels)) from None
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
        draft mode; its ``orientation`` is the one applied) and the decoded image, turned
        upright by its EXIF orientation (maybe smaller in draft mode).

    Raises:
        ImageRefusedError: empty, unrecognised, unsupported, too large, truncated or corrupt.
    """
    info, image = _decode(data, max_pixels, draft_size)
    if info.orientation != 1:
        upright = orient(image, info.orientation)
        image.close()
        image = upright
    return info, image


def _decode(
    data: bytes, max_pixels: int, draft_size: tuple[int, int] | None
) -> tuple[ImageInfo, Image.Image]:
    """:func:`decode_image` without the turn: the pixels as stored, and their orientation."""
    if not data:
        raise ImageRefusedError("empty file")
    image, info = _open(data, max_pixels)
    if info.format == "PNG":
        # verify() checks every chunk's CRC, which decoding alone skips; it uses up the image.
        _guarded(image, image.verify, max_pixels)
        image.close()
        image, info = _open(data, max_pixels)
    if draft_size is not None and info.format in _JPEG_FORMATS:
        image.draft(None, draft_size)
    _guarded(image, image.load, max_pixels)
    orientation = exif_orientation(image)
    if orientation != 1:
        info = replace(info, orientation=orientation)
    return info, image


def exif_orientation(image: Image.Image) -> int:
    """The EXIF orientation (2…8) to apply to ``image``'s pixels, else 1.

    Read as ``ImageOps.exif_transpose`` reads it (``getexif()``, which also looks at an XMP
    ``tiff:Orientation``). Call it after ``load()``: a TIFF's orientation is applied by Pillow
    when it loads, and removed then, so it is not applied twice. A missing, out-of-range or
    unreadable value (corrupt EXIF) gives 1.
    """
    try:
        value = image.getexif().get(ExifTags.Base.Orientation, 1)
    except _EXIF_ERRORS as exc:
        logger.debug("EXIF orientation unreadable, taken as none: %s", _short(exc))
        return 1
    return value if type(value) is int and value in _TRANSPOSE else 1


def orient(image: Image.Image, orientation: int) -> Image.Image:
    """``image`` turned upright for an EXIF ``orientation`` (itself when there is nothing to do).

    The same pixels as ``ImageOps.exif_transpose`` gives for an image of that orientation; the
    turn commutes with :func:`to_rgb` (per pixel, and a stretch by the whole image's minimum and
    maximum, which a turn keeps), not with a resize.
    """
    method = _TRANSPOSE.get(orientation)
    return image if method is None else image.transpose(method)


def is_high_bit_depth(mode: str) -> bool:
    """Whether a Pillow ``mode`` is one-channel 16-bit, 32-bit or float: ``I;16…``, ``I``, ``F``."""
    return mode in ("I", "F") or mode.startswith("I;")


def to_rgb(image: Image.Image) -> Image.Image:
    """``image`` as 8-bit RGB: what thumbnails show and what models see.

    * ``RGB``: ``image`` itself (no copy). Pillow reads a 16-bit colour PNG as RGB already,
      keeping the high byte of each sample.
    * One-channel 16-bit, 32-bit and float (``I;16``, ``I;16B``, ``I``, ``F``; 12-bit
      microscope images are stored as 16-bit): stretched from the image's own minimum to its
      maximum, ``round((v - min) * (255 / (max - min)))`` (half to even), so that they are not
      black or saturated; NaN and infinities count as 0, a constant image is 0; then grey.
    * Transparency (``RGBA``, ``LA``, ``PA``, a palette with a transparent entry): composited
      on opaque white (:data:`BACKGROUND`, ``Image.alpha_composite``).
    * Anything else (``L``, ``P``, ``CMYK``, ``YCbCr``, ``1``): ``image.convert("RGB")``;
      grey values are repeated on the three channels.

    Raises:
        ValueError, OSError: Pillow cannot convert this pixel mode.
    """
    mode = image.mode
    if mode == "RGB":
        return image
    if is_high_bit_depth(mode):
        pixels = np.nan_to_num(np.asarray(image, dtype=np.float64), nan=0.0, posinf=0.0, neginf=0.0)
        low, high = float(pixels.min()), float(pixels.max())
        scaled = (pixels - low) * (255.0 / (high - low)) if high > low else np.zeros_like(pixels)
        return Image.fromarray(scaled.round().astype(np.uint8)).convert("RGB")
    if mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
        mode = "RGBA"
    if mode in _ALPHA_MODES:
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (*BACKGROUND, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")


def _guarded(image: Image.Image, step: Callable[[], object], max_pixels: int) -> None:
    """Run ``step`` (which reads ``image``'s data); a Pillow error becomes a refusal."""
    try:
        step()
    except _BOMB_ERRORS as exc:
        image.close()
        raise ImageRefusedError(_bomb_reason(exc, max_pixels)) from None
    except _DECODE_ERRORS as exc:
        image.close()
        raise ImageRefusedError(f"corrupt or truncated image: {_short(exc)}") from None


def inspect_image(data: bytes, max_pixels: int) -> ImageInfo:
    """Check and fully decode one image, keeping only what its header says.

    Raises:
        ImageRefusedError: see :func:`decode_image`.
    """
    info, image = _decode(data, max_pixels, None)  # no need to turn pixels nobody looks at
    image.close()
    return info
