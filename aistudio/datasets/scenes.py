"""Detection scenes of real data: scikit-learn's handwritten digits pasted on textured canvases.

Every object's box is exact (the pasted digit's extent), so readers, metrics and models can be
checked against the truth: the tests' data sets and the detection benchmark
(``bench/bench_detection.py``) are drawn here. Digits are real scans (8 x 8 at 16 grey levels)
scaled up with nearest-neighbour resampling and pasted with ``max`` over a noisy grey canvas.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

DIGIT_PX = 16


@dataclass(frozen=True)
class SceneObject:
    """One pasted digit: its class name and its box ``[x1, y1, x2, y2]`` in pixels."""

    label: str
    box: tuple[int, int, int, int]


@dataclass(frozen=True)
class Scene:
    """One canvas: its file name (relative to the images folder), size and objects."""

    file_name: str
    width: int
    height: int
    objects: tuple[SceneObject, ...]


def _digits() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    digits = load_digits()
    return digits.images, digits.target


def write_scenes(
    folder: Path,
    count: int,
    size: tuple[int, int] = (64, 48),
    classes: tuple[str, ...] = ("0", "1", "2"),
    per_image: tuple[int, int] = (0, 3),
    seed: int = 0,
    digit_px: tuple[int, int] = (DIGIT_PX, DIGIT_PX),
    overlap: bool = True,
) -> list[Scene]:
    """Draw ``count`` PNG canvases into ``folder``, each with ``per_image`` digits (a range;
    none: a negative) of the ``classes`` digits, each ``digit_px`` pixels square (a range).

    With ``overlap`` False, a digit is placed where it overlaps no other (up to 50 tries;
    a digit that finds no room is left out).
    """
    images, targets = _digits()
    rng = random.Random(seed)
    wanted = [int(c) for c in classes]
    pool = [i for i, t in enumerate(targets) if int(t) in wanted]
    folder.mkdir(parents=True, exist_ok=True)
    scenes = []
    width, height = size
    for n in range(count):
        canvas = np.full((height, width), rng.randint(20, 90), dtype=np.uint8)
        canvas += np.asarray(
            [[rng.randint(0, 25) for _ in range(width)] for _ in range(height)], dtype=np.uint8
        )
        objects: list[SceneObject] = []
        for _ in range(rng.randint(*per_image)):
            index = rng.choice(pool)
            px = rng.randint(*digit_px) if digit_px[0] != digit_px[1] else digit_px[0]
            digit = Image.fromarray((images[index] * 16).clip(0, 255).astype(np.uint8))
            digit = digit.resize((px, px), Image.Resampling.NEAREST)
            place = _place(rng, width, height, px, [] if overlap else objects)
            if place is None:
                continue
            x, y = place
            patch = np.asarray(digit)
            region = canvas[y : y + px, x : x + px]
            canvas[y : y + px, x : x + px] = np.maximum(region, patch)
            objects.append(SceneObject(str(targets[index]), (x, y, x + px, y + px)))
        name = f"scene_{n:03d}.png"
        Image.fromarray(canvas).convert("RGB").save(folder / name)
        scenes.append(Scene(name, width, height, tuple(objects)))
    return scenes


def _place(
    rng: random.Random, width: int, height: int, px: int, taken: list[SceneObject]
) -> tuple[int, int] | None:
    """A top-left corner for a ``px`` square overlapping none of ``taken`` (None: no room)."""
    for _ in range(50):
        x, y = rng.randint(0, width - px), rng.randint(0, height - px)
        if all(
            x + px <= o.box[0] or o.box[2] <= x or y + px <= o.box[1] or o.box[3] <= y
            for o in taken
        ):
            return x, y
    return None
