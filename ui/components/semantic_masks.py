"""Semantic masks turned into pictures: colour overlays and error views, torch-free (numpy, PIL).

A semantic mask is an 8-bit index PNG (value ``i`` is class ``legend[i]``, 255 ignore; DESIGN
§3b). The pages draw it as an RGBA PNG stretched over the image, semi-transparent (the CSS
variable ``--mask-opacity``):

* value 0, the background, is transparent (``classes[0]`` of a legend is the background);
* every other class in the colour the project gives it everywhere
  (:func:`ui.components.annotation_overlay.class_color`: its place in the project's class list);
* 255 (ignore) a faint grey (:data:`IGNORE_RGBA`: half as opaque as a class);
* a value that the legend does not name is transparent.

Which colour each value gets is a short **colour code**, one character per value of the legend
(:func:`color_code`: ``-`` transparent, else the palette index in base 36). The code is computed
where the page knows the legend and the project's classes (as of the page shown, time travel
included) and travels in the mask's address, so the media route needs nothing but the file and
the code, and the picture an address names never changes (cached by the browser and here).

The Evaluation page draws a prediction (a base64 L PNG of S x S in the row, values indices of the
report's classes) the same way, as a ``data:`` URI, and the **error view**: the truth resized to
S x S (NEAREST), mapped to the report's classes through the names of its legend, compared with the
prediction: a wrong pixel red, a right one transparent, an ignored one (255, or a value the legend
does not name) transparent. A truth class the model does not know (absent from the report's
classes) is ignored, as the evaluation's figures ignore it.
"""

from __future__ import annotations

import base64
import binascii
import io
import logging
import re
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image

from events.schemas.annotation import IGNORE_INDEX
from ui.components.annotation_overlay import (
    CODE_DIGITS,
    PALETTE,
    TRANSPARENT,
)

logger = logging.getLogger(__name__)

CODE_PATTERN = re.compile(rf"[{re.escape(TRANSPARENT)}{CODE_DIGITS}]{{1,{IGNORE_INDEX}}}")
"""A colour code as an address may carry it: a character per value 0..254."""
IGNORE_RGBA = (173, 181, 189, 128)
"""Ignored pixels (255): Bootstrap's grey 500, half as opaque as a class."""
ERROR_RGBA = (220, 53, 69, 255)
"""A wrong pixel of the error view: Bootstrap's danger red."""
MAX_MASK_PIXELS = 40_000_000
"""Masks larger than this are not drawn (a mask is the size of its image)."""


class MaskError(ValueError):
    """A mask file or a prediction that cannot be read as an index mask (the reason says why)."""


# ---------------------------------------------------------------------- colour codes
def _rgb(color: str) -> tuple[int, int, int]:
    value = color.lstrip("#")
    return int(value[0:2], 16), int(value[2:4], 16), int(value[4:6], 16)


@lru_cache(maxsize=1024)
def color_table(code: str) -> np.ndarray:
    """The 256 x 4 RGBA lookup table of a colour code (values past the code transparent,
    255 the ignore grey).

    Raises:
        MaskError: the code is malformed or names a colour the palette lacks.
    """
    if not CODE_PATTERN.fullmatch(code):
        raise MaskError(f"not a colour code: {code[:40]!r}")
    table = np.zeros((256, 4), dtype=np.uint8)
    for value, char in enumerate(code):
        if char == TRANSPARENT:
            continue
        index = CODE_DIGITS.index(char)
        if index >= len(PALETTE):
            raise MaskError(f"colour {char!r} is not in the palette of {len(PALETTE)}")
        table[value] = (*_rgb(PALETTE[index]), 255)
    table[IGNORE_INDEX] = IGNORE_RGBA
    table.setflags(write=False)
    return table


# ---------------------------------------------------------------------- reading
def _index_array(image: Image.Image, where: str) -> np.ndarray:
    if image.mode not in ("L", "P"):
        raise MaskError(f"{where} is a {image.mode} image, not an 8-bit index mask (L or P)")
    if image.width * image.height > MAX_MASK_PIXELS:
        raise MaskError(f"{where} has {image.width}x{image.height} pixels: too many to draw")
    array = np.asarray(image, dtype=np.uint8)
    array.setflags(write=False)
    return array


def load_mask(path: Path) -> np.ndarray:
    """The index values of the mask PNG at ``path`` (H x W, uint8, read-only).

    Raises:
        MaskError: the file is missing, is no PNG or no index mask.
    """
    try:
        with Image.open(path) as image:
            if image.format != "PNG":
                raise MaskError(f"{path.name} is not a PNG")
            image.load()
            return _index_array(image, path.name)
    except (OSError, SyntaxError) as exc:
        raise MaskError(f"{path.name} cannot be read as a PNG: {exc}") from exc


@lru_cache(maxsize=32)
def read_mask(path: Path) -> np.ndarray:
    """:func:`load_mask`, the last few kept (a file of the content store never changes; a mask
    is as large as its image, so only a few)."""
    return load_mask(path)


@lru_cache(maxsize=512)
def decode_prediction(png_base64: str) -> np.ndarray:
    """A row's prediction: the index values of its base64 PNG (S x S, uint8).

    Raises:
        MaskError: not base64, not a PNG, or not an index mask.
    """
    try:
        data = base64.b64decode(png_base64, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise MaskError(f"the prediction is not base64: {exc}") from exc
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()
            return _index_array(image, "the prediction")
    except (OSError, SyntaxError) as exc:
        raise MaskError(f"the prediction is not a PNG: {exc}") from exc


# ---------------------------------------------------------------------- pictures
def rgba_png(rgba: np.ndarray) -> bytes:
    """An H x W x 4 uint8 array as PNG bytes."""
    buffer = io.BytesIO()
    Image.fromarray(rgba, mode="RGBA").save(buffer, format="PNG", optimize=False, compress_level=6)
    return buffer.getvalue()


def colorize(mask: np.ndarray, code: str) -> bytes:
    """The RGBA PNG of an index mask, coloured by ``code`` (see :func:`color_table`)."""
    return rgba_png(color_table(code)[mask])


@lru_cache(maxsize=512)
def colored_mask_png(path: Path, code: str) -> bytes:
    """The RGBA PNG of the mask file at ``path``, coloured by ``code`` (cached: a file of the
    content store and a code always give the same picture).

    Raises:
        MaskError: the file or the code cannot be used.
    """
    return colorize(read_mask(path), code)


def data_uri(png: bytes) -> str:
    """PNG bytes as a ``data:`` address (for an ``<img>``)."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


@lru_cache(maxsize=512)
def prediction_uri(png_base64: str, code: str) -> str:
    """A row's prediction as a coloured RGBA PNG ``data:`` address.

    Raises:
        MaskError: the prediction or the code cannot be used.
    """
    return data_uri(colorize(decode_prediction(png_base64), code))


def truth_at(mask: np.ndarray, size: int) -> np.ndarray:
    """The truth mask resized to ``size`` x ``size`` with NEAREST (as the model saw its image)."""
    if mask.shape == (size, size):
        return mask
    image = Image.fromarray(mask, mode="L")
    return np.asarray(image.resize((size, size), Image.Resampling.NEAREST), dtype=np.uint8)


def truth_lookup(legend: Sequence[str], report_classes: Sequence[str]) -> np.ndarray:
    """value of the truth -> index of the report's classes (int16), as the evaluation maps it
    (``aistudio.tasks.segmentation.value_table``): value 0 is the background whatever its name;
    -2 for ignored (255, a value the legend does not name, a class the model does not know)."""
    position = {str(name): i for i, name in enumerate(report_classes)}
    lookup = np.full(256, -2, dtype=np.int16)
    for value, name in enumerate(list(legend)[:IGNORE_INDEX]):
        lookup[value] = 0 if value == 0 else position.get(str(name), -2)
    return lookup


def wrong_pixels(
    truth: np.ndarray,
    legend: Sequence[str],
    prediction: np.ndarray,
    report_classes: Sequence[str],
) -> np.ndarray:
    """Where the prediction (S x S, indices of ``report_classes``) is wrong about the truth
    (any size, values of ``legend``), at the prediction's size: a boolean S x S array (ignored
    pixels are never wrong)."""
    height, width = prediction.shape
    if height != width:
        raise MaskError(f"the prediction is {width}x{height}, not square")
    mapped = truth_lookup(legend, report_classes)[truth_at(truth, height)]
    return (mapped != -2) & (mapped != prediction.astype(np.int16))


@lru_cache(maxsize=512)
def error_uri(
    truth_path: Path,
    legend: tuple[str, ...],
    png_base64: str,
    report_classes: tuple[str, ...],
) -> tuple[str, int, int]:
    """The error view of a row as a ``data:`` address (a wrong pixel red, the rest transparent),
    with how many pixels are wrong and how many are scored, at the prediction's size.

    Raises:
        MaskError: the truth file or the prediction cannot be read.
    """
    prediction = decode_prediction(png_base64)
    height, width = prediction.shape
    if height != width:
        raise MaskError(f"the prediction is {width}x{height}, not square")
    mapped = truth_lookup(legend, report_classes)[truth_at(read_mask(truth_path), height)]
    scored = mapped != -2
    wrong = scored & (mapped != prediction.astype(np.int16))
    rgba = np.zeros((*wrong.shape, 4), dtype=np.uint8)
    rgba[wrong] = ERROR_RGBA
    return data_uri(rgba_png(rgba)), int(wrong.sum()), int(scored.sum())


def classes_in(mask: np.ndarray, legend: Sequence[str]) -> frozenset[str]:
    """The classes of ``legend`` whose value occurs in ``mask`` (the background included)."""
    values = np.flatnonzero(np.bincount(mask.ravel(), minlength=256)[: len(legend)])
    return frozenset(str(legend[v]) for v in values if v < IGNORE_INDEX)


@lru_cache(maxsize=100_000)
def mask_classes(path: Path, legend: tuple[str, ...]) -> frozenset[str]:
    """The classes present in the mask file at ``path`` (empty when it cannot be read: logged)."""
    try:
        return classes_in(load_mask(path), legend)
    except MaskError as exc:
        logger.warning("semantic mask %s not read: %s", path, exc)
        return frozenset()
