"""Decoding for training, evaluation and export: upright and converted, next to a plain decode.

Run with ``python -m bench decode``. ``aistudio.training.data.decode_image`` reads the EXIF
orientation, converts with ``aistudio.datasets.images.to_rgb`` (16-bit grey stretched,
transparency on white) and turns the pixels before resizing. The baseline, timed in the same run
on the same files, is the plain Pillow recipe without either (draft, ``convert("RGB")``, resize):
for ordinary 8-bit images the extra work must cost nothing measurable. Oriented JPEGs and 16-bit
PNGs show what the extra steps cost where they do work. Best of ``REPEAT`` timings each.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from aistudio.training.data import decode_image
from bench.common import Row, print_table, timed

N_IMAGES = 300
REPEAT = 7
_ORIENTATION_TAG = 0x0112


def _plain_decode(path: Path, size: int) -> torch.Tensor:
    """The recipe before orientation and conversion were added (the baseline), to the same
    ``uint8`` 3 x S x S tensor."""
    with Image.open(path) as image:
        image.draft("RGB", (size, size))
        rgb = image.convert("RGB")
    if rgb.size != (size, size):
        rgb = rgb.resize((size, size), Image.Resampling.BILINEAR, reducing_gap=3.0)
    array = np.asarray(rgb, dtype=np.uint8)
    return torch.from_numpy(array.copy()).permute(2, 0, 1).contiguous()


def _write(folder: Path, kind: str, side: int) -> list[Path]:
    """``N_IMAGES`` files of one kind: ``jpeg``, ``jpeg-oriented``, ``png`` or ``png16``."""
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True)
    paths = []
    for i in range(N_IMAGES):
        if kind == "png16":
            pixels = rng.integers(0, 4096, (side, side), dtype=np.uint16)  # 12 bits in 16
            image = Image.fromarray(pixels)
        else:
            pixels = rng.integers(0, 256, (side, side * 3 // 4, 3), dtype=np.uint8)
            image = Image.fromarray(pixels, "RGB")
        path = folder / f"{i}.{'jpg' if kind.startswith('jpeg') else 'png'}"
        if kind == "jpeg-oriented":
            exif = Image.Exif()
            exif[_ORIENTATION_TAG] = 6
            image.save(path, quality=90, exif=exif)
        else:
            image.save(path)
        paths.append(path)
    return paths


def _time_all(decode: object, paths: list[Path], size: int) -> float:
    def run() -> None:
        for path in paths:
            decode(path, size)  # type: ignore[operator]

    return timed(run, repeat=REPEAT) / len(paths) * 1e6


def main() -> None:
    rows: list[Row] = []
    cases = [
        ("JPEG 1024 px -> 224", "jpeg", 1024, 224),
        ("JPEG 1024 px, EXIF orientation 6 -> 224", "jpeg-oriented", 1024, 224),
        ("PNG 64 px -> 64", "png", 64, 64),
        ("PNG 16-bit grey 256 px -> 224", "png16", 256, 224),
    ]
    with tempfile.TemporaryDirectory(prefix="aistudio-bench-decode-") as tmp:
        for name, kind, side, size in cases:
            paths = _write(Path(tmp) / kind, kind, side)
            _time_all(decode_image, paths[:20], size)  # warm the file cache and imports
            plain = _time_all(_plain_decode, paths, size)
            ours = _time_all(decode_image, paths, size)
            goal = "<= 1.05x" if kind in ("jpeg", "png") else ""
            rows.append(Row(name, ours, "us/img", "plain decode", plain, goal))
    print_table(f"Decode: decode_image vs plain Pillow, {N_IMAGES} images each", rows)


if __name__ == "__main__":
    main()
