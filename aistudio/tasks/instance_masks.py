"""The masks of instance annotations as arrays and COCO RLEs, at any size (torch-free).

An object of an ``instances`` annotation (DESIGN §3b) has polygons (pixels of the upright
image) or a mask file (a 1-bit PNG of the image's size in the content store). Both become
binary arrays here the way COCO does it: polygons are rasterised by pycocotools
(``frPyObjects``, the convention COCO's own ground truth uses), scaled first when the
target is another size; files are read with Pillow and resized with NEAREST only.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from pycocotools import mask as mask_utils

FileResolver = Callable[[str, str], Path]


class MaskFileError(ValueError):
    """A mask file an annotation names cannot be read."""


def polygons_rle(
    polygons: Sequence[Sequence[float]], width: int, height: int, sx: float = 1.0, sy: float = 1.0
) -> dict[str, Any]:
    """One COCO RLE (compressed, ``counts`` a str) of ``polygons`` scaled by ``sx``/``sy`` on a
    ``width`` x ``height`` grid."""
    scaled = []
    for ring in polygons:
        flat = np.asarray(ring, dtype=np.float64).reshape(-1, 2) * (sx, sy)
        scaled.append(flat.reshape(-1).tolist())
    rle = mask_utils.merge(mask_utils.frPyObjects(scaled, int(height), int(width)))
    return _text(rle)


def array_rle(mask: np.ndarray) -> dict[str, Any]:
    """The COCO RLE (compressed, ``counts`` a str) of a binary H x W array."""
    return _text(mask_utils.encode(np.asfortranarray(mask.astype(np.uint8))))


def _text(rle: dict[str, Any]) -> dict[str, Any]:
    counts = rle["counts"]
    return {
        "size": [int(v) for v in rle["size"]],
        "counts": counts.decode("ascii") if isinstance(counts, bytes) else counts,
    }


def rle_array(rle: Mapping[str, Any]) -> np.ndarray:
    """The binary H x W (bool) array of a compressed COCO RLE."""
    counts = rle["counts"]
    data = {
        "size": list(rle["size"]),
        "counts": counts.encode() if isinstance(counts, str) else counts,
    }
    return mask_utils.decode(data).astype(bool)


def read_mask_file(ref: Mapping[str, Any], files: FileResolver | None) -> np.ndarray:
    """The binary array (bool, H x W) of a mask file of the content store.

    Raises:
        MaskFileError: no store given, or the file is missing or unreadable.
    """
    if files is None:
        raise MaskFileError("a mask file is named but no content store was given")
    path = files(str(ref["sha256"]), str(ref.get("ext", "png")))
    try:
        with Image.open(path) as image:
            return np.asarray(image.convert("L")) >= 128
    except (OSError, ValueError) as exc:
        raise MaskFileError(f"mask file {path.name} cannot be read: {exc}") from None


def object_mask(
    obj: Mapping[str, Any],
    image_size: tuple[int, int],
    out_size: tuple[int, int],
    files: FileResolver | None,
) -> np.ndarray:
    """The object's mask as a bool array of ``out_size`` (width, height), from an image of
    ``image_size`` (width, height): polygons scaled and rasterised, a file resized (NEAREST).

    Raises:
        MaskFileError: the object's mask file cannot be read.
        ValueError: the object has neither polygons nor a mask.
    """
    width, height = image_size
    out_w, out_h = out_size
    polygons = obj.get("polygons")
    if polygons:
        rle = polygons_rle(polygons, out_w, out_h, out_w / width, out_h / height)
        return rle_array(rle)
    ref = obj.get("mask")
    if ref is None:
        raise ValueError("an instance has neither polygons nor a mask")
    mask = read_mask_file(ref, files)
    if (mask.shape[1], mask.shape[0]) != (out_w, out_h):
        resized = Image.fromarray(mask.astype(np.uint8) * 255).resize(
            (out_w, out_h), Image.Resampling.NEAREST
        )
        mask = np.asarray(resized) >= 128
    return mask


def object_rle(
    obj: Mapping[str, Any], image_size: tuple[int, int], files: FileResolver | None
) -> dict[str, Any]:
    """The object's mask as a COCO RLE in its image's own pixels."""
    width, height = image_size
    polygons = obj.get("polygons")
    if polygons:
        return polygons_rle(polygons, width, height)
    return array_rle(object_mask(obj, image_size, image_size, files))


def _taps(count: int, scale: float, offset: int, length: int) -> tuple[np.ndarray, ...]:
    """For ``count`` output pixels, the two crop indices (of a crop padded by one zero pixel
    on each side) and the weight of the second, of a bilinear resize by ``scale`` with
    half-pixel centres (``align_corners=False``) of a side of ``length`` input pixels whose
    crop starts at ``offset``."""
    u = (np.arange(count, dtype=np.float64) + 0.5) * scale - 0.5
    u = np.clip(u, 0.0, length - 1)
    low = np.floor(u)
    weight = u - low
    first = low.astype(np.int64) - offset + 1  # +1: the padding
    return first, first + 1, weight


def paste_window(
    crop: np.ndarray, window: Sequence[int], input_size: int, image_size: tuple[int, int]
) -> np.ndarray:
    """A binary mask in image pixels from a probability crop (uint8 0..255) of the S x S input.

    ``window`` is the crop's ``x0, y0, x1, y1`` in input pixels, outside which the mask is 0.
    The mask is what resizing the whole S x S probability map to the image's width x height
    bilinearly (half-pixel centres, no antialiasing: torch's ``interpolate(...,
    align_corners=False)``, what the export's metadata tells a user to do) and keeping the
    pixels of at least 0.5 gives, computed over the window's part of the image only.
    """
    width, height = image_size
    out = np.zeros((height, width), dtype=bool)
    x0, y0, x1, y1 = (int(v) for v in window)
    if x1 <= x0 or y1 <= y0 or crop.size == 0:
        return out
    sx, sy = input_size / width, input_size / height
    # image pixels whose samples can touch the window (one input pixel around it)
    ix0 = max(0, int(np.floor((x0 - 1 + 0.5) / sx - 0.5)))
    ix1 = min(width, int(np.ceil((x1 + 0.5) / sx + 0.5)))
    iy0 = max(0, int(np.floor((y0 - 1 + 0.5) / sy - 0.5)))
    iy1 = min(height, int(np.ceil((y1 + 0.5) / sy + 0.5)))
    if ix1 <= ix0 or iy1 <= iy0:
        return out
    padded = np.pad(crop.astype(np.float32) / 255.0, 1)
    cw, ch = padded.shape[1], padded.shape[0]
    xa, xb, wx = _taps(width, sx, x0, input_size)
    ya, yb, wy = _taps(height, sy, y0, input_size)
    xa, xb, wx = xa[ix0:ix1], xb[ix0:ix1], wx[ix0:ix1]
    ya, yb, wy = ya[iy0:iy1], yb[iy0:iy1], wy[iy0:iy1]

    # indices outside the padded crop read 0 (the mask is 0 outside the window)
    def column(index: np.ndarray) -> np.ndarray:
        inside = (index >= 0) & (index < cw)
        return np.where(inside[None, :], padded[:, np.clip(index, 0, cw - 1)], 0.0)

    rows = column(xa) * (1 - wx)[None, :] + column(xb) * wx[None, :]  # ch x n_x

    def row(index: np.ndarray) -> np.ndarray:
        inside = (index >= 0) & (index < ch)
        return np.where(inside[:, None], rows[np.clip(index, 0, ch - 1), :], 0.0)

    values = row(ya) * (1 - wy)[:, None] + row(yb) * wy[:, None]
    out[iy0:iy1, ix0:ix1] = values >= 0.5
    return out
