"""Detection and instance scenes of real data: scikit-learn's handwritten digits pasted on
textured canvases.

Every object's box is exact (the pasted digit's extent), and so is its shape (the digit's ink),
so readers, metrics and models can be checked against the truth: the tests' data sets and the
detection benchmark (``bench/bench_detection.py``) are drawn here. Digits are real scans (8 x 8
at 16 grey levels) scaled up with nearest-neighbour resampling and pasted with ``max`` over a
noisy grey canvas.

An object's instance shape is its ink (the pixels of the pasted digit at :data:`INK` or
brighter, above any canvas pixel) with its holes filled, as an outline can say it:
:meth:`SceneObject.outline` gives its polygons (the pixel edges around each connected part of
the ink, in image pixels), :meth:`SceneObject.mask` the same region as a boolean mask of the
image, :meth:`SceneObject.mask_box` its tight box. Computed on demand: drawing scenes for
detection costs what it did.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

DIGIT_PX = 16
INK = 128
"""The grey level from which a pasted digit's pixel is ink (canvas pixels are at most 115)."""


@dataclass(frozen=True)
class SceneObject:
    """One pasted digit: its class name, its box ``[x1, y1, x2, y2]`` in pixels and its ink.

    Attributes:
        label: the digit, as a class name.
        box: the pasted square's corners.
        ink: the square's ink pixels, row by row (``px * px`` bytes, 1 = ink); empty for
            objects made by hand (then it has no shape).
    """

    label: str
    box: tuple[int, int, int, int]
    ink: bytes = b""

    def _ink(self) -> np.ndarray:
        x1, y1, x2, y2 = self.box
        if not self.ink:
            raise ValueError("this object was made without its ink: it has no shape")
        return np.frombuffer(self.ink, dtype=np.uint8).reshape(y2 - y1, x2 - x1).astype(bool)

    def outline(self) -> list[list[float]]:
        """The ink's outline in image pixels: one flat ``[x1, y1, x2, y2, …]`` polygon per
        connected part (pixel edges, holes filled, no collinear points), largest first."""
        import shapely

        rows, cols = np.nonzero(self._ink())
        x0, y0 = self.box[0], self.box[1]
        squares = shapely.box(cols + x0, rows + y0, cols + x0 + 1, rows + y0 + 1)
        union = shapely.unary_union(squares)
        parts = sorted(getattr(union, "geoms", [union]), key=lambda g: -g.area)
        outlines = []
        for part in parts:
            ring = shapely.Polygon(part.exterior).simplify(0)
            coords = np.asarray(ring.exterior.coords)[:-1]
            outlines.append([float(v) for v in coords.ravel()])
        return outlines

    def mask(self, width: int, height: int) -> np.ndarray:
        """The region of :meth:`outline` as a ``height x width`` boolean mask (a pixel is in
        when its centre is)."""
        import shapely

        polygons = [shapely.Polygon(np.asarray(o).reshape(-1, 2)) for o in self.outline()]
        xs, ys = np.meshgrid(np.arange(width) + 0.5, np.arange(height) + 0.5)
        inside = np.zeros((height, width), dtype=bool)
        for polygon in polygons:
            inside |= shapely.contains_xy(polygon, xs, ys)
        return inside

    def mask_box(self) -> tuple[float, float, float, float]:
        """The tight box ``[x1, y1, x2, y2]`` of the ink (of :meth:`outline`)."""
        rows, cols = np.nonzero(self._ink())
        x0, y0 = self.box[0], self.box[1]
        return (
            float(cols.min() + x0),
            float(rows.min() + y0),
            float(cols.max() + x0 + 1),
            float(rows.max() + y0 + 1),
        )


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
            ink = (patch >= INK).astype(np.uint8).tobytes()
            objects.append(SceneObject(str(targets[index]), (x, y, x + px, y + px), ink))
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
