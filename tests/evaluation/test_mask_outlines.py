"""Mask outlines: pixel-edge coordinates, faithful when re-rasterised, small; RLE round trips."""

from __future__ import annotations

import numpy as np
import pytest
import shapely
from shapely.geometry import Polygon

from aistudio.evaluation.mask_outlines import decode_rle, outline_polygons, rle_of


def rasterise(rings: list[list[float]], height: int, width: int) -> np.ndarray:
    """Pixels whose centre lies inside any ring (pixel (x, y) is the square x..x+1, y..y+1)."""
    ys, xs = np.mgrid[:height, :width]
    out = np.zeros((height, width), dtype=bool)
    for ring in rings:
        polygon = Polygon(np.asarray(ring, dtype=np.float64).reshape(-1, 2))
        out |= shapely.contains_xy(polygon, xs + 0.5, ys + 0.5)
    return out


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.count_nonzero(a & b) / np.count_nonzero(a | b))


def star(seed: int, size: int = 64) -> np.ndarray:
    """A star-shaped mask around the centre (connected, without holes), jagged radius."""
    rng = np.random.default_rng(seed)
    ys, xs = np.mgrid[:size, :size]
    cx, cy = size / 2 + rng.uniform(-3, 3), size / 2 + rng.uniform(-3, 3)
    angle = np.arctan2(ys + 0.5 - cy, xs + 0.5 - cx)
    harmonics = rng.normal(0, 1, size=(6, 2))
    radius = 14 + sum(
        a * np.cos((k + 1) * angle) + b * np.sin((k + 1) * angle)
        for k, (a, b) in enumerate(harmonics)
    )
    return np.hypot(xs + 0.5 - cx, ys + 0.5 - cy) < np.clip(radius, 3, size / 2 - 2)


def test_a_single_pixel_is_its_square() -> None:
    mask = np.zeros((4, 5), dtype=bool)
    mask[0, 0] = True
    (ring,) = outline_polygons(mask)
    assert {tuple(p) for p in np.asarray(ring).reshape(-1, 2)} == {(0, 0), (1, 0), (1, 1), (0, 1)}
    mask = np.zeros((4, 5), dtype=bool)
    mask[2, 3] = True
    (ring,) = outline_polygons(mask)
    assert {tuple(p) for p in np.asarray(ring).reshape(-1, 2)} == {(3, 2), (4, 2), (4, 3), (3, 3)}


def test_a_rectangle_is_four_corners() -> None:
    mask = np.zeros((30, 40), dtype=bool)
    mask[5:12, 8:30] = True
    (ring,) = outline_polygons(mask)
    assert {tuple(p) for p in np.asarray(ring).reshape(-1, 2)} == {
        (8, 5),
        (30, 5),
        (30, 12),
        (8, 12),
    }


def test_empty_mask_has_no_outline() -> None:
    assert outline_polygons(np.zeros((10, 10), dtype=bool)) == []


@pytest.mark.parametrize("seed", range(6))
def test_exact_outline_rasterises_back_to_the_mask(seed: int) -> None:
    mask = star(seed)
    rings = outline_polygons(mask, tolerance=0, max_points=100_000, min_area=0, max_rings=100)
    assert np.array_equal(rasterise(rings, *mask.shape), mask)


def test_circle_and_polygon_outlines_are_faithful_and_small() -> None:
    ys, xs = np.mgrid[:128, :128]
    circle = np.hypot(xs + 0.5 - 60.3, ys + 0.5 - 70.1) < 41
    triangle = Polygon([(10, 12), (118, 30), (40, 115)])
    polygon = shapely.contains_xy(triangle, xs + 0.5, ys + 0.5)
    for mask in (circle, polygon, star(11, 128)):
        rings = outline_polygons(mask)
        assert len(rings) == 1
        assert 3 <= len(rings[0]) // 2 <= 48
        assert iou(rasterise(rings, *mask.shape), mask) >= 0.95


def test_specks_are_dropped_but_a_lone_speck_is_kept() -> None:
    mask = np.zeros((40, 40), dtype=bool)
    mask[10:30, 10:30] = True
    mask[2, 2] = True
    rings = outline_polygons(mask)
    assert len(rings) == 1
    assert iou(rasterise(rings, 40, 40), mask) > 0.99
    lone = np.zeros((40, 40), dtype=bool)
    lone[5, 6] = True
    assert len(outline_polygons(lone)) == 1


def test_several_pieces_largest_first_and_capped() -> None:
    mask = np.zeros((64, 64), dtype=bool)
    sizes = [3, 9, 5, 7, 2, 4, 6, 8, 10, 2]
    for i, s in enumerate(sizes):
        x, y = 6 * i % 60, 12 * (i // 10) + 20 * (i % 3)
        mask[y : y + s, x : x + 2] = True
    rings = outline_polygons(mask, max_rings=3)
    areas = [Polygon(np.asarray(r).reshape(-1, 2)).area for r in rings]
    assert areas == sorted(sorted(2 * s for s in sizes)[-3:], reverse=True)


def test_jagged_outline_is_capped_in_points() -> None:
    mask = np.zeros((64, 64), dtype=bool)
    mask[10:50, 10:50] = True
    mask[10:50:2, 50:56] = True  # a comb: 20 teeth
    for cap in (8, 16, 30):
        (ring,) = outline_polygons(mask, max_points=cap)
        assert 3 <= len(ring) // 2 <= cap
    (exact,) = outline_polygons(mask, tolerance=0, max_points=10_000)
    assert len(exact) // 2 > 80


def test_rle_round_trip() -> None:
    mask = star(3, 48)[:40]
    rle = rle_of(mask)
    assert rle["size"] == [40, 48] and isinstance(rle["counts"], str)
    assert np.array_equal(decode_rle(rle), mask)
    assert np.array_equal(decode_rle({"size": rle["size"], "counts": rle["counts"].encode()}), mask)


def test_bad_input_is_refused() -> None:
    with pytest.raises(ValueError, match="2-d"):
        outline_polygons(np.zeros((2, 3, 3), dtype=bool))
    with pytest.raises(ValueError, match="tolerance"):
        outline_polygons(np.ones((3, 3), dtype=bool), tolerance=-1)
