"""Semantic segmentation readers: the one finishing rule, the ``masks`` format, VOC's
``SegmentationClass/`` and COCO painted by class, on good masks of every kind and on bad ones."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pycocotools import mask as coco_mask

from aistudio.datasets.formats import SourceError, detect_format, read_source
from aistudio.datasets.formats.base import ObjectsError, ReadResult
from aistudio.datasets.formats.coco_semantic import read_coco_semantic
from aistudio.datasets.formats.registry import FORMATS
from aistudio.datasets.formats.semantic import (
    VOC_CLASSES,
    FinishedSemantic,
    RawSemantic,
    finish_semantic,
    mask_png,
    voc_colour,
)
from aistudio.datasets.formats.semantic_masks import read_masks
from aistudio.datasets.formats.voc_semantic import read_voc_semantic
from tests.datasets.scenes import rle_of
from tests.datasets.semantic_support import (
    H,
    W,
    decoded,
    png_bytes,
    values,
    write_image,
    write_mask,
)
from tests.datasets.support import write

LEGEND = ("background", "road", "car")


def _finish(path: Path, legend: tuple[str, ...] | None = LEGEND, **kwargs: Any) -> Any:
    return finish_semantic(RawSemantic(legend, path, path.name, **kwargs), W, H)


def _values(done: FinishedSemantic) -> np.ndarray:
    assert done.refused is None and done.annotation is not None
    [(sha, data)] = done.masks.items()
    assert done.annotation["mask"] == {"sha256": sha, "ext": "png"}
    return decoded(data)


def _refused(path: Path, **kwargs: Any) -> str:
    done = _finish(path, **kwargs)
    assert done.annotation is None and done.masks == {} and done.refused is not None
    assert done.refused.startswith(path.name + ": ")
    return done.refused


# ---------------------------------------------------------------------- the rule, good masks
def test_a_grey_mask_keeps_its_values_and_255(tmp_path: Path) -> None:
    truth = values(1, 2)
    truth[0, 0] = 255
    done = _finish(write_mask(tmp_path / "a.png", truth))
    assert (_values(done) == truth).all()
    assert done.annotation == {
        "kind": "semantic",
        "mask": done.annotation["mask"] if done.annotation else None,
        "classes": list(LEGEND),
    }


def test_the_same_values_give_the_same_bytes(tmp_path: Path) -> None:
    truth = values(2, 2)
    grey = _finish(write_mask(tmp_path / "a.png", truth))
    palette = _finish(write_mask(tmp_path / "b.png", truth, mode="P"))
    assert grey.masks == palette.masks == dict([mask_png(truth)])


def test_a_palette_mask_gives_its_indices_never_its_colours(tmp_path: Path) -> None:
    truth = values(3, 2)
    truth[1, :] = 255  # VOC's void border
    colours = [v for i in range(256) for v in voc_colour(i)]
    done = _finish(write_mask(tmp_path / "a.png", truth, mode="P", palette=colours))
    assert (_values(done) == truth).all()


@pytest.mark.parametrize("bits", [1, 2, 4])
def test_low_bit_depth_pngs_give_their_values(tmp_path: Path, bits: int) -> None:
    truth = values(4, min(2, (1 << bits) - 1))
    grey = _finish(write_mask(tmp_path / "g.png", truth, bits=bits))
    assert (_values(grey) == truth).all()
    paletted = _finish(write_mask(tmp_path / "p.png", truth, mode="P", bits=bits))
    assert (_values(paletted) == truth).all()


@pytest.mark.parametrize("alpha", [False, True])
def test_an_rgb_mask_maps_its_colours_through_the_palette(tmp_path: Path, alpha: bool) -> None:
    truth = values(5, 2)
    colours = [(0, 0, 0), (128, 64, 128), (0, 0, 142)]
    rgb = np.asarray(colours, dtype=np.uint8)[truth]
    if alpha:
        rgb = np.dstack([rgb, np.full((H, W), 200, np.uint8)])  # the alpha is not read
    palette = {(r << 16) | (g << 8) | b: i for i, (r, g, b) in enumerate(colours)}
    done = _finish(write_mask(tmp_path / "a.png", rgb), palette=palette)
    assert (_values(done) == truth).all()


def test_a_grey_mask_saved_as_rgb_gives_its_values(tmp_path: Path) -> None:
    truth = values(6, 2)
    done = _finish(write_mask(tmp_path / "a.png", np.dstack([truth] * 3)))
    assert (_values(done) == truth).all()


def test_without_a_legend_the_values_name_the_classes(tmp_path: Path) -> None:
    truth = values(7, 3)
    truth[2, 2] = 255
    done = _finish(write_mask(tmp_path / "a.png", truth), legend=None)
    assert done.annotation is not None
    assert done.annotation["classes"] == ["background", "1", "2", "3"]
    empty = _finish(write_mask(tmp_path / "b.png", np.zeros((H, W), np.uint8)), legend=None)
    assert empty.annotation is not None and empty.annotation["classes"] == ["background"]


def test_a_painted_array_is_finished_the_same_way() -> None:
    truth = values(8, 2)
    done = finish_semantic(RawSemantic(LEGEND, indices=truth, name="painted"), W, H)
    assert (_values(done) == truth).all()
    wrong = finish_semantic(RawSemantic(LEGEND, indices=truth, name="painted"), W + 1, H)
    assert wrong.refused == "painted: 8x6, the image is 9x6 (upright)"


# ---------------------------------------------------------------------- the rule, bad masks
def test_a_mask_of_another_size_is_refused(tmp_path: Path) -> None:
    path = write_mask(tmp_path / "a.png", np.zeros((H, W + 1), np.uint8))
    assert _refused(path) == (
        "a.png: 9x6, the image is 8x6 (upright): a mask must have its image's size"
    )


def test_a_jpeg_or_other_non_png_mask_is_refused(tmp_path: Path) -> None:
    grey = np.zeros((H, W), np.uint8)
    jpeg = write(tmp_path / "a.png", png_bytes(grey, fmt="JPEG"))  # a JPEG, named .png
    assert "is a JPEG file: masks must be PNG" in _refused(jpeg)
    bmp = write(tmp_path / "b.bmp", png_bytes(grey, fmt="BMP"))
    assert "is not a PNG file" in _refused(bmp)


def test_values_past_the_legend_are_refused_naming_them(tmp_path: Path) -> None:
    truth = np.zeros((H, W), np.uint8)
    truth[0, :4] = [3, 7, 255, 3]
    path = write_mask(tmp_path / "a.png", truth)
    assert _refused(path, legend_from="classes.txt") == (
        "a.png: values 3, 7 name no class: classes.txt names 3 (values 0 to 2; 255 = ignore)"
    )


def test_a_missing_mask_is_refused(tmp_path: Path) -> None:
    assert "the mask file is missing" in _refused(tmp_path / "gone.png")


def test_colours_outside_the_palette_are_refused_naming_a_few(tmp_path: Path) -> None:
    rgb = np.zeros((H, W, 3), np.uint8)
    rgb[0, :7] = [[i * 10, 1, 2] for i in range(1, 8)]
    path = write_mask(tmp_path / "a.png", rgb)
    reason = _refused(path, palette={0: 0})
    assert "7 colour(s) are no class's colour: (10, 1, 2), (20, 1, 2)" in reason
    assert "and 2 more" in reason
    assert "no class colours" in _refused(path)  # an RGB mask with no palette at all


@pytest.mark.parametrize(
    ("array", "reason"),
    [
        (np.zeros((H, W), np.uint16), "a 16-bit PNG"),
        (np.zeros((H, W, 2), np.uint8), "a PNG of grey with alpha"),
    ],
)
def test_unusable_modes_are_refused(tmp_path: Path, array: np.ndarray, reason: str) -> None:
    assert reason in _refused(write_mask(tmp_path / "a.png", array))


def test_a_truncated_png_is_refused(tmp_path: Path) -> None:
    data = png_bytes(values(9, 2, (64, 48)))
    path = write(tmp_path / "a.png", data[: len(data) // 2])
    assert (
        "cannot decode the PNG"
        in finish_semantic(RawSemantic(LEGEND, path, "a.png"), 64, 48).refused
    )  # type: ignore[operator]


# ---------------------------------------------------------------------- the masks format
def _masks_source(tmp_path: Path, stems: list[str], classes: str | None = None) -> Path:
    root = tmp_path / "src"
    for n, stem in enumerate(stems):
        write_image(root / "images" / f"{stem}.png", n + 1)
        write_mask(root / "masks" / f"{stem}.png", values(n, 2))
    if classes is not None:
        write(root / "classes.txt", classes.encode())
    return root


def _skips(result: ReadResult) -> dict[str, str]:
    return {s.path: s.reason for s in result.skipped}


def test_the_masks_format_pairs_images_and_masks_by_name(tmp_path: Path) -> None:
    root = _masks_source(tmp_path, ["a", "sub/b"], "background\nroad\ncar\n\n")
    write_image(root / "images" / "lonely.jpg", 9)
    write_mask(root / "masks" / "orphan.png", values(0, 1))
    write(root / "masks" / "notes.txt", b"not a mask")
    assert detect_format(root) == "masks"
    result = read_source(root, "auto", kind="semantic")
    assert (result.format, result.target, result.classes) == ("masks", "semantic", list(LEGEND))
    assert [c.name for c in result.candidates] == ["images/a.png", "images/sub/b.png"]
    assert _skips(result) == {
        "images/lonely.jpg": "no mask (expected masks/lonely.png)",
        "masks/orphan.png": "no image for this mask (images/orphan.*)",
        "masks/notes.txt": "not an image file (extension .txt)",
    }
    candidate = result.candidates[1]
    assert candidate.objects is not None
    raw = candidate.objects(W, H)
    assert (raw.legend, raw.name) == (LEGEND, "masks/sub/b.png")
    assert (_values(finish_semantic(raw, W, H)) == values(1, 2)).all()


def test_without_classes_txt_the_legend_is_left_to_each_mask(tmp_path: Path) -> None:
    result = read_masks(_masks_source(tmp_path, ["a"]))
    assert result.classes is None
    objects = result.candidates[0].objects
    assert objects is not None and objects(W, H).legend is None


def test_classes_txt_colours_make_a_palette_for_rgb_masks(tmp_path: Path) -> None:
    root = _masks_source(tmp_path, [], "background 0,0,0\ntraffic light 250,170,30\n")
    truth = values(3, 1)
    colours = np.asarray([(0, 0, 0), (250, 170, 30)], np.uint8)
    write_image(root / "images" / "a.png", 1)
    write_mask(root / "masks" / "a.png", colours[truth])
    result = read_masks(root)
    assert result.classes == ["background", "traffic light"]
    objects = result.candidates[0].objects
    assert objects is not None
    assert (_values(finish_semantic(objects(W, H), W, H)) == truth).all()


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("background\n\ncar\n", "line 2 is empty"),
        ("background\ncar\ncar\n", "line 3: class 'car' is named twice"),
        ("background 0,0,0\ncar\n", "colours for some classes only"),
        ("background 0,0,0\ncar 0,0,0\n", "the same colour"),
        ("background 0,0,300\n", "colour components are 0 to 255"),
        ("".join(f"c{i}\n" for i in range(256)), "256 classes: at most 255"),
        ("", "names no class"),
    ],
)
def test_a_bad_classes_txt_refuses_the_source(tmp_path: Path, text: str, match: str) -> None:
    root = _masks_source(tmp_path, ["a"], text)
    with pytest.raises(SourceError, match=match):
        read_masks(root)


def test_a_second_mask_or_image_of_one_name_is_skipped(tmp_path: Path) -> None:
    root = _masks_source(tmp_path, ["a"])
    write(root / "masks" / "a.jpg", png_bytes(values(0, 1), fmt="JPEG"))
    write_image(root / "images" / "a.jpg", 7)
    result = read_masks(root)
    assert [c.name for c in result.candidates] == ["images/a.jpg"]  # the first in name order
    assert _skips(result) == {
        "masks/a.jpg": "another mask of the same name: masks/a.png is used",
        "images/a.png": (
            "another image of the same name: masks/a.png is already another image's mask"
        ),
    }


def test_a_jpeg_mask_of_its_own_is_a_listed_refusal(tmp_path: Path) -> None:
    root = _masks_source(tmp_path, [])
    write_image(root / "images" / "a.png", 1)
    write(root / "masks" / "a.jpg", png_bytes(values(0, 1), fmt="JPEG"))
    result = read_masks(root)
    objects = result.candidates[0].objects
    assert objects is not None
    assert "masks/a.jpg: is a JPEG file" in str(finish_semantic(objects(W, H), W, H).refused)


def test_links_out_of_the_source_are_skipped(tmp_path: Path) -> None:
    root = _masks_source(tmp_path, ["a", "b"])
    outside = write_mask(tmp_path / "outside.png", values(0, 1))
    (root / "masks" / "b.png").unlink()
    (root / "masks" / "b.png").symlink_to(outside)
    (root / "images" / "c.png").symlink_to(outside)
    write_mask(root / "masks" / "c.png", values(0, 1))
    result = read_masks(root)
    assert [c.name for c in result.candidates] == ["images/a.png"]
    assert _skips(result) == {
        "images/b.png": "its mask masks/b.png: symbolic link pointing outside the source folder",
        "images/c.png": "symbolic link pointing outside the source folder",
        "masks/c.png": "no image for this mask (images/c.*)",
    }


def test_a_layout_folder_linking_out_refuses_the_source(tmp_path: Path) -> None:
    root = _masks_source(tmp_path, ["a"])
    elsewhere = tmp_path / "elsewhere"
    (root / "masks").rename(elsewhere)
    (root / "masks").symlink_to(elsewhere)
    with pytest.raises(SourceError, match=r"masks/ in .* is a symbolic link pointing outside"):
        read_masks(root)


def test_an_unlabelled_read_lists_the_images_only(tmp_path: Path) -> None:
    result = read_masks(_masks_source(tmp_path, ["a", "b"]), labelled=False)
    assert result.target is None and [c.objects for c in result.candidates] == [None, None]


def test_the_registry_gives_semantic_for_masks_voc_and_coco() -> None:
    assert {n for n, s in FORMATS.items() if "semantic" in s.produces} == {"masks", "voc", "coco"}


# ---------------------------------------------------------------------- VOC SegmentationClass
def _voc(tmp_path: Path, count: int = 2) -> tuple[Path, list[np.ndarray]]:
    root = tmp_path / "voc"
    truths = []
    colours = [v for i in range(256) for v in voc_colour(i)]
    for n in range(count):
        truth = values(n, 20)
        truth[0, :] = 255  # the void border
        truths.append(truth)
        write_image(root / "JPEGImages" / f"2007_{n:06d}.jpg", n + 1)
        write_mask(
            root / "SegmentationClass" / f"2007_{n:06d}.png", truth, mode="P", palette=colours
        )
    return root, truths


def test_voc_segmentation_reads_palette_indices_with_void_kept(tmp_path: Path) -> None:
    root, truths = _voc(tmp_path)
    write_image(root / "JPEGImages" / "2008_000001.jpg", 9)  # boxes only in VOC: no mask
    assert detect_format(root) == "voc"  # no Annotations/ needed
    result = read_source(root, "auto", kind="semantic")
    assert (result.format, result.target) == ("voc", "semantic")
    assert result.classes == list(VOC_CLASSES) and len(VOC_CLASSES) == 21
    assert VOC_CLASSES[:3] == ("background", "aeroplane", "bicycle")
    assert VOC_CLASSES[-1] == "tvmonitor"
    assert _skips(result) == {
        "JPEGImages/2008_000001.jpg": "no mask (expected SegmentationClass/2008_000001.png)"
    }
    for candidate, truth in zip(result.candidates, truths, strict=True):
        assert candidate.objects is not None
        assert (_values(finish_semantic(candidate.objects(W, H), W, H)) == truth).all()


def test_voc_rgb_masks_map_through_the_standard_colour_map(tmp_path: Path) -> None:
    root, truths = _voc(tmp_path, 1)
    rgb = np.asarray([voc_colour(i) for i in range(256)], np.uint8)[truths[0]]
    write_mask(root / "SegmentationClass" / "2007_000000.png", rgb)
    [candidate] = read_voc_semantic(root).candidates
    assert candidate.objects is not None
    assert (_values(finish_semantic(candidate.objects(W, H), W, H)) == truths[0]).all()


def test_a_cvat_labelmap_names_the_classes_and_their_colours(tmp_path: Path) -> None:
    root, _ = _voc(tmp_path, 0)
    write(
        root / "labelmap.txt",
        b"# label:color_rgb:parts:actions\nbackground:0,0,0::\nroad:128,64,128::\ncar:0,0,142::\n",
    )
    truth = values(1, 2)
    truth[0, 0] = 255
    colours = {0: (0, 0, 0), 1: (128, 64, 128), 2: (0, 0, 142), 255: (224, 224, 192)}
    rgb = np.zeros((H, W, 3), np.uint8)
    for value, colour in colours.items():
        rgb[truth == value] = colour
    write_image(root / "JPEGImages" / "a.png", 1)
    write_mask(root / "SegmentationClass" / "a.png", rgb)
    write_image(root / "JPEGImages" / "b.png", 2)
    bad = rgb.copy()
    bad[1, 1] = (1, 2, 3)
    write_mask(root / "SegmentationClass" / "b.png", bad)
    result = read_voc_semantic(root)
    assert result.classes == list(LEGEND)
    a, b = (c.objects for c in result.candidates)
    assert a is not None and b is not None
    assert (_values(finish_semantic(a(W, H), W, H)) == truth).all()
    assert "1 colour(s) are no class's colour: (1, 2, 3)" in str(
        finish_semantic(b(W, H), W, H).refused
    )


def test_voc_classes_txt_and_values_past_it(tmp_path: Path) -> None:
    root, _ = _voc(tmp_path, 1)  # values up to 20
    write(root / "classes.txt", b"background\nroad\ncar\n")
    [candidate] = read_voc_semantic(root).candidates
    assert candidate.objects is not None
    reason = finish_semantic(candidate.objects(W, H), W, H).refused
    assert reason is not None and reason.startswith("SegmentationClass/2007_000000.png: values 3, ")
    assert reason.endswith(", … name no class: classes.txt names 3 (values 0 to 2; 255 = ignore)")


def test_a_voc_folder_without_masks_is_refused_for_segmentation(tmp_path: Path) -> None:
    root = tmp_path / "voc"
    write_image(root / "JPEGImages" / "a.jpg", 1)
    (root / "Annotations").mkdir()
    with pytest.raises(SourceError, match="no SegmentationClass/ folder"):
        read_voc_semantic(root)


# ---------------------------------------------------------------------- COCO painted
def _coco(tmp_path: Path, annotations: list[dict[str, Any]], **extra: Any) -> Path:
    root = tmp_path / "coco"
    for n in (1, 2):
        write_image(root / "images" / f"{n}.png", n, (64, 48))
    doc = {
        "images": [{"id": n, "file_name": f"{n}.png", "width": 64, "height": 48} for n in (1, 2)],
        "annotations": annotations,
        "categories": extra.get(
            "categories",
            [{"id": 5, "name": "car"}, {"id": 1, "name": "road"}, {"id": 3, "name": "tree"}],
        ),
    }
    path = root / "instances.json"
    path.write_text(json.dumps(doc))
    return path


def _square(x: int, y: int, size: int) -> np.ndarray:
    mask = np.zeros((48, 64), dtype=bool)
    mask[y : y + size, x : x + size] = True
    return mask


def _annotation(n: int, category: int, segmentation: Any, crowd: int = 0) -> dict[str, Any]:
    return {
        "id": n,
        "image_id": 1,
        "category_id": category,
        "segmentation": segmentation,
        "iscrowd": crowd,
    }


def _painted(path: Path) -> tuple[list[str] | None, list[np.ndarray]]:
    result = read_coco_semantic(path)
    out = []
    for candidate in result.candidates:
        assert candidate.objects is not None
        out.append(_values(finish_semantic(candidate.objects(64, 48), 64, 48)))
    return result.classes, out


@pytest.mark.parametrize("compressed", [False, True])
def test_coco_rles_are_painted_larger_first_with_crowds_ignored(
    tmp_path: Path, compressed: bool
) -> None:
    small, large, crowd = _square(10, 10, 6), _square(5, 5, 20), _square(20, 20, 20)
    path = _coco(
        tmp_path,
        [
            _annotation(1, 3, rle_of(small, compressed)),  # tree, first in the file
            _annotation(2, 1, rle_of(large, compressed)),  # road, larger: painted under it
            _annotation(3, 5, rle_of(crowd, compressed), crowd=1),
        ],
    )
    classes, (first, second) = _painted(path)
    assert classes == ["background", "road", "tree", "car"]  # category ids 1, 3, 5
    truth = np.zeros((48, 64), np.uint8)
    truth[crowd] = 255
    truth[large] = 1
    truth[small] = 2
    assert (first == truth).all()
    assert (second == 0).all()  # an image without annotations: all background


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # pycocotools' decode under numpy 2
def test_coco_polygons_are_painted_as_pycocotools_rasterises_them(tmp_path: Path) -> None:
    triangle = [4.0, 4.0, 40.0, 6.0, 20.0, 40.0]
    box = [30.0, 20.0, 60.0, 20.0, 60.0, 44.0, 30.0, 44.0]
    path = _coco(tmp_path, [_annotation(1, 1, [triangle]), _annotation(2, 5, [box])])
    _, (first, _) = _painted(path)
    masks = [
        coco_mask.decode(coco_mask.merge(coco_mask.frPyObjects([p], 48, 64))).astype(bool)
        for p in (triangle, box)
    ]
    truth = np.zeros((48, 64), np.uint8)
    order = sorted(range(2), key=lambda i: -int(masks[i].sum()))
    for i in order:
        truth[masks[i]] = (1, 3)[i]
    assert (first == truth).all() and set(np.unique(first)) == {0, 1, 3}


def test_a_background_category_takes_value_0(tmp_path: Path) -> None:
    categories = [{"id": 1, "name": "road"}, {"id": 2, "name": "_background_"}]
    path = _coco(
        tmp_path,
        [
            _annotation(1, 1, rle_of(_square(0, 0, 30))),
            _annotation(2, 2, rle_of(_square(0, 0, 10))),
        ],
        categories=categories,
    )
    classes, (first, _) = _painted(path)
    assert classes == ["_background_", "road"]
    assert (first[:10, :10] == 0).all() and first[20, 20] == 1


@pytest.mark.parametrize(
    ("segmentation", "reason"),
    [
        ({"size": [10, 10], "counts": [100]}, "its RLE is 10x10"),
        ([[0.0, 0.0, 500.0, 0.0, 500.0, 10.0]], "polygon reaches outside the 64x48 image"),
        ([[0.0, 0.0, 5.0]], "polygon needs x y pairs of at least 3 points"),
        ([], "it has no segmentation"),
    ],
)
def test_a_bad_object_refuses_its_image_naming_it(
    tmp_path: Path, segmentation: Any, reason: str
) -> None:
    good = _annotation(1, 1, rle_of(_square(0, 0, 5)))
    path = _coco(tmp_path, [good, _annotation(2, 1, segmentation)])
    objects = read_coco_semantic(path).candidates[0].objects
    assert objects is not None
    with pytest.raises(ObjectsError, match=f"1 object\\(s\\) refused: annotation id 2: .*{reason}"):
        objects(64, 48)


def test_an_unknown_category_refuses_its_image(tmp_path: Path) -> None:
    path = _coco(tmp_path, [_annotation(1, 99, rle_of(_square(0, 0, 5)))])
    objects = read_coco_semantic(path).candidates[0].objects
    assert objects is not None
    with pytest.raises(ObjectsError, match="annotation id 1: category_id 99 is not a category"):
        objects(64, 48)


def test_a_coco_file_of_boxes_only_is_refused(tmp_path: Path) -> None:
    path = _coco(tmp_path, [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [0, 0, 4, 4]}])
    with pytest.raises(SourceError, match="has no segmentation"):
        read_coco_semantic(path)


def test_coco_painted_objects_are_picklable(tmp_path: Path) -> None:
    import pickle

    path = _coco(tmp_path, [_annotation(1, 1, rle_of(_square(0, 0, 5)))])
    objects = read_coco_semantic(path).candidates[0].objects
    copy = pickle.loads(pickle.dumps(objects))
    assert (copy(64, 48).indices == objects(64, 48).indices).all()  # type: ignore[misc]


def test_symlinked_mask_folders_inside_the_source_are_followed(tmp_path: Path) -> None:
    root = _masks_source(tmp_path, ["a"])
    os.rename(root / "masks", root / "real_masks")
    (root / "masks").symlink_to(root / "real_masks")
    assert [c.name for c in read_masks(root).candidates] == ["images/a.png"]
