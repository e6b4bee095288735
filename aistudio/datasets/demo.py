"""Small generated datasets for the demo, the tests and the benchmarks.

* :func:`write_digits_imagefolder`: scikit-learn's handwritten digits (8x8, upscaled to 32x32
  grayscale PNGs) in one folder per class;
* :func:`write_digits_csv`: the same images in one folder with a ``filename,label`` or
  ``filename,value`` CSV (value: the digit, or the image's mean intensity);
* :func:`write_random_jpegs`: N distinct smooth random JPEGs of a given size, in class folders.

Everything is deterministic: the same arguments write the same bytes.
"""

from __future__ import annotations

import csv
import logging
from functools import lru_cache
from pathlib import Path
from typing import Literal

import numpy as np
from PIL import Image

logger = logging.getLogger(__name__)

DIGIT_SIZE = 32


@lru_cache(maxsize=1)
def _digits() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits  # scikit-learn ships the data: no download

    bunch = load_digits()
    return bunch.images, bunch.target


def digit_images(n_per_class: int, size: int = DIGIT_SIZE) -> list[tuple[int, int, Image.Image]]:
    """The first ``n_per_class`` digits of each class as ``(index, digit, image)``.

    Args:
        n_per_class: images per digit (scikit-learn has about 180 of each).
        size: side of the grayscale square images (the originals are 8x8).

    Returns:
        ``(index in scikit-learn's data set, digit, L-mode image)``, by digit then index.
    """
    images, targets = _digits()
    out: list[tuple[int, int, Image.Image]] = []
    for digit in range(10):
        indices = np.flatnonzero(targets == digit)[:n_per_class]
        if len(indices) < n_per_class:
            raise ValueError(f"only {len(indices)} images of digit {digit}, asked {n_per_class}")
        for index in indices:
            pixels = (images[index] * (255.0 / 16.0)).round().astype(np.uint8)
            small = Image.fromarray(pixels, mode="L")
            out.append((int(index), digit, small.resize((size, size), Image.Resampling.BILINEAR)))
    return out


def write_digits_imagefolder(
    dest: Path, n_per_class: int = 30, size: int = DIGIT_SIZE
) -> list[Path]:
    """Write ``dest/<digit>/<index>.png`` for ``n_per_class`` digits of each class.

    Returns:
        The written files, by digit then index.
    """
    written: list[Path] = []
    for index, digit, image in digit_images(n_per_class, size):
        path = dest / str(digit) / f"{index:04d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        image.save(path, format="PNG", optimize=True)
        written.append(path)
    logger.info("wrote %d digit images to %s", len(written), dest)
    return written


def write_digits_csv(
    dest: Path,
    n_per_class: int = 30,
    column: Literal["label", "value"] = "value",
    value: Literal["digit", "intensity"] = "digit",
    size: int = DIGIT_SIZE,
    csv_name: str = "labels.csv",
) -> Path:
    """Write the digits as ``dest/images/<index>.png`` plus a CSV naming them.

    Args:
        dest: the folder to write (the CSV's paths are relative to it).
        n_per_class: images per digit.
        column: ``label`` (classification: the digit as text) or ``value`` (regression).
        value: for ``column="value"``, the digit or the image's mean intensity in [0, 1].
        size: side of the images.
        csv_name: name of the CSV file in ``dest``.

    Returns:
        The CSV file's path.
    """
    rows: list[tuple[str, str]] = []
    (dest / "images").mkdir(parents=True, exist_ok=True)
    for index, digit, image in digit_images(n_per_class, size):
        name = f"images/{index:04d}.png"
        image.save(dest / name, format="PNG", optimize=True)
        if column == "label" or value == "digit":
            cell = str(digit)
        else:
            cell = f"{float(np.asarray(image, dtype=np.float64).mean() / 255.0):.6f}"
        rows.append((name, cell))
    csv_path = dest / csv_name
    with csv_path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["filename", column])
        writer.writerows(rows)
    return csv_path


def random_image(rng: np.random.Generator, size: int) -> Image.Image:
    """A smooth random RGB image (upscaled noise plus grain), like a photo for codecs."""
    coarse = rng.integers(0, 256, size=(8, 8, 3), dtype=np.uint8)
    image = Image.fromarray(coarse, mode="RGB").resize((size, size), Image.Resampling.BICUBIC)
    grain = rng.normal(0.0, 6.0, size=(size, size, 3))
    pixels = np.clip(np.asarray(image, dtype=np.float64) + grain, 0, 255).astype(np.uint8)
    return Image.fromarray(pixels, mode="RGB")


def write_random_jpegs(
    dest: Path, n: int, size: int = 256, classes: int = 2, seed: int = 0, quality: int = 90
) -> list[Path]:
    """Write ``n`` distinct random JPEGs as ``dest/class_<k>/<i>.jpg`` (an imagefolder).

    Args:
        dest: the folder to write.
        n: number of images (each one different).
        size: side of the square images.
        classes: number of class folders, filled round-robin.
        seed: random seed.
        quality: JPEG quality.

    Returns:
        The written files.
    """
    rng = np.random.default_rng(seed)
    written: list[Path] = []
    for i in range(n):
        path = dest / f"class_{i % classes}" / f"{i:06d}.jpg"
        path.parent.mkdir(parents=True, exist_ok=True)
        random_image(rng, size).save(path, format="JPEG", quality=quality)
        written.append(path)
    return written
