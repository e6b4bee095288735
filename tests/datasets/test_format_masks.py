"""Outlines and RLE masks of instances (``formats/masks.py``): good and bad shapes."""

from __future__ import annotations

import io
import random

import numpy as np
import pytest
from PIL import Image
from pycocotools import mask as coco_mask

from aistudio.datasets.formats.base import RawInstance
from aistudio.datasets.formats.masks import (
    check_polygon,
    decode_rle,
    finish_instances,
    mask_box,
    mask_png,
    rle_counts,
)
from tests.datasets.scenes import rle_of

W, H = 64, 48
CLASSES = frozenset({"cell", "crowd"})
SQUARE = (10.0, 10.0, 30.0, 10.0, 30.0, 20.0, 10.0, 20.0)


def _blob() -> np.ndarray:
    mask = np.zeros((H, W), dtype=bool)
    mask[5:15, 20:31] = True
    mask[12:20, 40:44] = True
    return mask


def _finish(*objects: RawInstance):
    return finish_instances(list(objects), W, H, CLASSES)


# ---------------------------------------------------------------------- polygons
def test_an_outline_stays_a_polygon_and_gives_its_box() -> None:
    done = _finish(RawInstance("cell", "annotation id 1", polygons=(SQUARE,)))
    assert done.annotation == {
        "kind": "instances",
        "objects": [{"class": "cell", "box": [10.0, 10.0, 30.0, 20.0], "polygons": [list(SQUARE)]}],
    }
    assert done.masks == {} and done.clipped == 0


def test_a_crowd_outline_is_kept_flagged() -> None:
    done = _finish(RawInstance("crowd", "annotation id 3", polygons=(SQUARE,), crowd=True))
    assert done.annotation["objects"][0]["crowd"] is True


def test_an_object_in_parts_and_a_given_box() -> None:
    other = (40.0, 30.0, 50.0, 30.0, 45.0, 40.0)
    done = _finish(RawInstance("cell", "a", box=(9, 9, 51, 41), polygons=(SQUARE, other)))
    (obj,) = done.annotation["objects"]
    assert obj["box"] == [9.0, 9.0, 51.0, 41.0], "the source's box is kept"
    assert obj["polygons"] == [list(SQUARE), list(other)]


def test_coordinates_are_rounded_to_a_thousandth_of_a_pixel() -> None:
    parts, clipped = check_polygon([1 / 3, 0.1, 20.123456, 0.1, 10.0, 9.987654321], W, H)
    assert parts == [[0.333, 0.1, 20.123, 0.1, 10.0, 9.988]] and not clipped


def test_an_outline_slightly_out_is_cut_to_the_image() -> None:
    parts, clipped = check_polygon([-2, 10, 20, 10, 20, 50, -2, 50], W, H)
    assert clipped
    (part,) = parts
    xs, ys = part[0::2], part[1::2]
    assert (min(xs), min(ys), max(xs), max(ys)) == (0.0, 10.0, 20.0, 48.0)
    done = _finish(RawInstance("cell", "line 3", polygons=((-2, 10, 20, 10, 20, 50, -2, 50),)))
    assert done.clipped == 1 and done.annotation["objects"][0]["box"] == [0.0, 10.0, 20.0, 48.0]


@pytest.mark.parametrize(
    ("points", "reason"),
    [
        ((10, 10, 30, 10), "polygon has 2 point(s): an outline needs at least 3"),
        ((10, 10, 30, 10, 30), "polygon has an odd number of coordinates (5)"),
        ((0, 0, 10, 10, 10, 0, 0, 10), "polygon crosses itself near (5, 5)"),
        ((0, 0, 10, 10, 20, 20), "polygon has no area (its points lie on one line)"),
        ((6.4, 4.8, 12.8, 9.6, 19.2, 14.4), "polygon has no area (its points lie on one line)"),
        ((5, 5, 5.1, 5, 5, 5.1), "polygon has no area (under 0.01 square pixels)"),
        ((10, 10, 30, 10, float("nan"), 20), "polygon: its coordinates are not finite numbers"),
        ((10, 10, 30, 10, "x", 20), "polygon: its coordinates are not finite numbers"),
        ((10, 10, 300, 10, 30, 20), "polygon reaches outside the 64x48 image (x 10 to 300"),
        ((-20, 10, -5, 10, -5, 20), "polygon reaches outside the 64x48 image"),
        ((-3, 0, -1, 0, -1, 5), "polygon has no area inside the 64x48 image"),
    ],
)
def test_bad_outlines_refuse_their_image_naming_the_object(points: tuple, reason: str) -> None:
    good = RawInstance("cell", "annotation id 1", polygons=(SQUARE,))
    bad = RawInstance("cell", "annotation id 7", polygons=(points,))
    done = _finish(good, bad)
    assert done.annotation is None and done.refused_count == 1
    assert done.refused.startswith(f"annotation id 7: {reason}")


def test_parts_are_named_and_every_refused_object_counted() -> None:
    bad = RawInstance("cell", "annotation id 2", polygons=(SQUARE, (0, 0, 1, 1)))
    unknown = RawInstance("dog", "annotation id 3", polygons=(SQUARE,))
    shapeless = RawInstance("cell", "annotation id 4", box=(1, 1, 5, 5))
    done = _finish(bad, unknown, shapeless)
    assert done.refused_count == 3
    assert done.refused == (
        "annotation id 2: polygon 2 has 2 point(s): an outline needs at least 3 (and 2 more)"
    )
    assert _finish(unknown).refused == "annotation id 3: class 'dog' is not defined"
    assert _finish(shapeless).refused == (
        "annotation id 4: it has no segmentation (an outline or a mask)"
    )


def test_a_bad_given_box_refuses_the_object() -> None:
    done = _finish(RawInstance("cell", "annotation id 5", box=(10, 10, 10, 20), polygons=(SQUARE,)))
    assert done.refused == "annotation id 5: box [10, 10, 10, 20] has no area"


# ---------------------------------------------------------------------- RLE
@pytest.mark.parametrize("compressed", [True, False])
def test_an_rle_becomes_a_one_bit_png_of_the_image(compressed: bool) -> None:
    mask = _blob()
    done = _finish(
        RawInstance("crowd", "annotation id 9", rle=rle_of(mask, compressed), crowd=True)
    )
    (obj,) = done.annotation["objects"]
    assert obj["crowd"] is True and obj["box"] == [20.0, 5.0, 44.0, 20.0]
    (sha, data) = done.masks.popitem()
    assert obj["mask"] == {"sha256": sha, "ext": "png"}
    with Image.open(io.BytesIO(data)) as png:
        assert (png.format, png.mode, png.size) == ("PNG", "1", (W, H))
        assert (np.asarray(png) == mask).all()


def test_both_rle_forms_give_the_same_file() -> None:
    mask = _blob()
    shas = {
        next(iter(_finish(RawInstance("cell", "a", rle=rle_of(mask, c))).masks)) for c in (1, 0)
    }
    assert shas == {mask_png(mask)[0]}


def test_an_rle_starting_inside_the_object() -> None:
    mask = np.zeros((H, W), dtype=bool)
    mask[0:3, 0:2] = True
    runs = rle_of(mask, compressed=False)
    assert runs["counts"][0] == 0
    assert (decode_rle(runs, W, H) == mask).all()
    assert mask_box(mask) == [0.0, 0.0, 2.0, 3.0]


@pytest.mark.parametrize(
    ("rle", "reason"),
    [
        ({"size": [H, W + 1], "counts": [H * (W + 1)]}, "its RLE is 65x48 (size [48, 65])"),
        (
            {"size": [W, H], "counts": [W * H]},
            "its RLE is 48x64 (size [64, 48]), the image is 64x48",
        ),
        (
            {"size": [H, W], "counts": [3, 2]},
            "its RLE runs cover 5 pixels, its 64x48 size has 3,072",
        ),
        ({"size": [H, W], "counts": [3000, 200]}, "its RLE runs cover 3,200 pixels"),
        ({"size": [H, W], "counts": [3, -1, 3070]}, "its RLE counts must be whole numbers"),
        ({"size": [H, W], "counts": [3.5, 3068.5]}, "its RLE counts must be whole numbers"),
        ({"size": [H, W], "counts": "zzzz"}, "its RLE counts are not a compressed COCO RLE"),
        ({"size": [H, W], "counts": "04"}, "its RLE runs cover 4 pixels"),
        ({"size": [H, W], "counts": "é"}, "its RLE counts are not a compressed COCO RLE"),
        ({"size": [H, W], "counts": 12}, "its RLE counts must be a list of run lengths or a"),
        ({"size": [H], "counts": [W * H]}, "its RLE needs a size [height, width]"),
        ({"size": [H, 0], "counts": []}, "its RLE needs a size [height, width]"),
        ({"counts": [W * H]}, "its RLE needs a size [height, width]"),
        ({"size": [H, W]}, "its RLE must be {size: [height, width], counts"),
        ({"size": [H, W], "counts": [W * H], "x": 1}, "its RLE must be {size"),
        ({"size": [H, W], "counts": [W * H]}, "its mask is empty"),
    ],
)
def test_bad_rles_refuse_their_image_and_are_never_decoded(rle: dict, reason: str) -> None:
    done = _finish(RawInstance("cell", "annotation id 4", rle=rle))
    assert done.annotation is None and done.masks == {}
    assert done.refused.startswith(f"annotation id 4: {reason}"), done.refused


def test_rle_counts_read_pycocotools_strings() -> None:
    rng = random.Random(3)
    for _ in range(50):
        h, w = rng.randint(1, 40), rng.randint(1, 40)
        mask = np.asarray([[rng.random() < 0.3 for _ in range(w)] for _ in range(h)])
        text = rle_of(mask)["counts"]
        counts = rle_counts(text)
        assert counts is not None and sum(counts) == h * w
        again = coco_mask.frPyObjects({"size": [h, w], "counts": counts}, h, w)
        assert again["counts"].decode("ascii") == text
    assert rle_counts("0") == [0] and rle_counts("") == []
    assert rle_counts("3T") is None, "a number cut short"
    assert rle_counts("1" * 3 + "`" * 40) is None, "a number longer than any run"


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # pycocotools' decode under numpy 2
def test_decoding_agrees_with_pycocotools() -> None:
    """Masks and boxes are pycocotools' for both RLE forms (its decoder is the reference)."""
    rng = random.Random(5)
    for _ in range(30):
        h, w = rng.randint(1, 30), rng.randint(1, 30)
        mask = np.asarray([[rng.random() < 0.4 for _ in range(w)] for _ in range(h)])
        mask[rng.randrange(h), rng.randrange(w)] = True
        encoded = coco_mask.encode(np.asfortranarray(mask, dtype=np.uint8))
        reference = coco_mask.decode(encoded).astype(bool)
        for compressed in (True, False):
            assert (decode_rle(rle_of(mask, compressed), w, h) == reference).all()
        x, y, bw, bh = coco_mask.toBbox(encoded)
        assert mask_box(mask) == [x, y, x + bw, y + bh]
