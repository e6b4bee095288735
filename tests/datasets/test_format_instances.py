"""The instance segmentation readers: COCO polygons, both RLEs and crowds; Ultralytics YOLO-seg.

Each reader on a good sample (the truth of the generated scenes) and on bad ones: every bad
object is a listed skip of its image whose reason names the file's object and what is wrong.
"""

from __future__ import annotations

import json
import pickle
from io import BytesIO
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from aistudio.datasets.formats.base import Candidate, ObjectsError, ReadResult, SourceError
from aistudio.datasets.formats.coco import read_coco, read_coco_instances
from aistudio.datasets.formats.detect import read_source
from aistudio.datasets.formats.masks import FinishedInstances, finish_instances
from aistudio.datasets.formats.registry import FORMATS
from aistudio.datasets.formats.yolo import read_yolo_instances
from tests.datasets.scenes import (
    Scene,
    expected_instances,
    expected_yolo_instances,
    instances_document,
    rewrite_json,
    rle_of,
    write_instances_coco,
    write_scenes,
    write_yolo_seg,
)
from tests.datasets.support import write

CLASSES = ("0", "1", "2")
W, H = 64, 48


def _finish(result: ReadResult, candidate: Candidate, size: tuple[int, int] = (W, H)) -> Any:
    assert candidate.objects is not None
    return finish_instances(candidate.objects(*size), *size, result.classes or [])


def _by_name(result: ReadResult) -> dict[str, Candidate]:
    return {c.name: c for c in result.candidates}


def _coco(tmp_path: Path, count: int = 4, segmentation: str = "polygons", **kwargs: Any):
    path, scenes = write_instances_coco(tmp_path / "coco", count, segmentation, **kwargs)
    return path, json.loads(path.read_text()), scenes


def _masks_of(done: FinishedInstances, annotation: dict) -> list[np.ndarray]:
    out = []
    for obj in annotation["objects"]:
        with Image.open(BytesIO(done.masks[obj["mask"]["sha256"]])) as png:
            out.append(np.asarray(png))
    return out


# ---------------------------------------------------------------------- COCO, good
def test_coco_polygons_are_the_scenes_outlines(tmp_path: Path) -> None:
    path, _, scenes = _coco(tmp_path, 6, seed=3)
    result = read_coco_instances(path)
    assert (result.format, result.target, result.classes) == ("coco", "instances", list(CLASSES))
    by_name = _by_name(result)
    parts = 0
    for scene in scenes:
        done = _finish(result, by_name[f"images/{scene.file_name}"])
        assert done.annotation == expected_instances(scene) and done.masks == {}
        parts += sum(len(o["polygons"]) for o in done.annotation["objects"])
    assert parts > sum(len(s.objects) for s in scenes), "some digits are in several parts"


@pytest.mark.parametrize("segmentation", ["rle", "compressed"])
def test_coco_rle_masks_are_the_scenes_masks(tmp_path: Path, segmentation: str) -> None:
    path, _, scenes = _coco(tmp_path, 5, segmentation, seed=8)
    result = read_coco_instances(path)
    by_name = _by_name(result)
    for scene in scenes:
        done = _finish(result, by_name[f"images/{scene.file_name}"])
        objects = done.annotation["objects"]
        assert [o["class"] for o in objects] == [o.label for o in scene.objects]
        assert [o["box"] for o in objects] == [list(o.mask_box()) for o in scene.objects]
        for got, obj in zip(_masks_of(done, done.annotation), scene.objects, strict=True):
            assert (got == obj.mask(W, H)).all()


def test_without_bbox_the_box_is_derived_and_crowds_are_kept(tmp_path: Path) -> None:
    path, doc, scenes = _coco(tmp_path, 3, per_image=(1, 1), seed=2)
    for annotation in doc["annotations"]:
        del annotation["bbox"]
    crowd = doc["annotations"][1]
    crowd["iscrowd"] = 1
    mask = scenes[1].objects[0].mask(W, H)
    crowd["segmentation"] = rle_of(mask, compressed=False)
    result = read_coco_instances(rewrite_json(path, doc))
    by_name = _by_name(result)
    first = _finish(result, by_name["images/scene_000.png"]).annotation
    assert first == expected_instances(scenes[0]), "box derived from the outline"
    done = _finish(result, by_name["images/scene_001.png"])
    (obj,) = done.annotation["objects"]
    assert obj["crowd"] is True and obj["box"] == list(scenes[1].objects[0].mask_box())
    assert (_masks_of(done, done.annotation)[0] == mask).all()


def test_a_detection_read_of_the_same_file_keeps_only_boxes(tmp_path: Path) -> None:
    path, _doc, _ = _coco(tmp_path, 2, per_image=(1, 1))
    result = read_coco(path)
    assert result.target == "boxes"
    objects = result.candidates[0].objects(W, H)
    assert [type(o).__name__ for o in objects] == ["RawBox"]
    assert read_source(path, "coco", kind="instances").target == "instances"
    assert read_source(path, "coco").target == "boxes"


def test_unlabelled_instance_reads_list_images_only(tmp_path: Path) -> None:
    path, _, _ = _coco(tmp_path, 2)
    result = read_coco_instances(path, labelled=False)
    assert result.target is None and all(c.objects is None for c in result.candidates)


def test_the_registry_gives_instances_for_coco_and_yolo_only() -> None:
    assert {n for n, s in FORMATS.items() if "instances" in s.produces} == {"coco", "yolo"}


# ---------------------------------------------------------------------- COCO, bad
def _bad_object(tmp_path: Path, change: Any, segmentation: str = "polygons") -> str:
    """The reason the first image of a COCO file of one-object images is refused once its
    object is ``change``d (the second image is left good)."""
    path, doc, _ = _coco(tmp_path, 2, segmentation, per_image=(1, 1), seed=1)
    annotation = doc["annotations"][0]
    change(annotation)
    result = read_coco_instances(rewrite_json(path, doc))
    candidate = result.candidates[0]
    assert _finish(result, result.candidates[1]).annotation is not None
    try:
        done = _finish(result, candidate)
    except ObjectsError as exc:
        return str(exc)
    assert done.annotation is None
    return done.refused


def _set(key: str, value: Any) -> Any:
    return lambda annotation: annotation.__setitem__(key, value)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (
            _set("segmentation", [[10, 10, 30, 30, 30, 10, 10, 30]]),
            "annotation id 1: polygon crosses itself near (20, 20)",
        ),
        (
            _set("segmentation", [[10, 10, 30, 10]]),
            "annotation id 1: polygon has 2 point(s): an outline needs at least 3",
        ),
        (
            _set("segmentation", [[10, 10, 30, 10, 20, 20], [1, 1, 2, 2, 3, 3]]),
            "annotation id 1: polygon 2 has no area (its points lie on one line)",
        ),
        (
            _set("segmentation", [[100, 100, 130, 100, 130, 120]]),
            "annotation id 1: polygon reaches outside the 64x48 image",
        ),
        (
            _set("segmentation", {"size": [48, 60], "counts": [2880]}),
            "annotation id 1: its RLE is 60x48 (size [48, 60]), the image is 64x48",
        ),
        (
            _set("segmentation", {"size": [48, 64], "counts": [100, 20]}),
            "annotation id 1: its RLE runs cover 120 pixels, its 64x48 size has 3,072",
        ),
        (_set("category_id", 42), "annotation id 1: category_id 42 is not a category"),
        (
            _set("segmentation", []),
            "annotation id 1: it has no segmentation (an outline or a mask)",
        ),
        (
            _set("segmentation", "0 0 10 10"),
            "annotation id 1: segmentation must be polygons [[x1, y1, x2, y2, …], …] or an RLE",
        ),
        (
            _set("segmentation", [10, 10, 30, 10, 30, 30]),
            "annotation id 1: segmentation must be polygons",
        ),
        (_set("bbox", [1, 2]), "annotation id 1: bbox must be [x, y, width, height] numbers"),
    ],
)
def test_a_bad_object_refuses_its_image_naming_it(tmp_path: Path, change: Any, reason: str) -> None:
    got = _bad_object(tmp_path, change)
    assert got.startswith(reason.removeprefix("1 object(s) refused: ")), got


def test_a_bad_rle_string_is_refused_before_decoding(tmp_path: Path) -> None:
    def change(annotation: dict) -> None:
        annotation["segmentation"]["counts"] = annotation["segmentation"]["counts"][:-3]

    got = _bad_object(tmp_path, change, "compressed")
    assert got.startswith("annotation id 1: its RLE ")


def test_a_declared_size_that_is_not_the_images_refuses_its_masks(tmp_path: Path) -> None:
    path, doc, _ = _coco(tmp_path, 1, "rle", per_image=(1, 1))
    doc["images"][0]["width"] = 48
    doc["images"][0]["height"] = 64
    result = read_coco_instances(rewrite_json(path, doc))
    with pytest.raises(ObjectsError, match="says 48x64, the image is 64x48: its outlines and"):
        _finish(result, result.candidates[0])


def test_a_file_without_any_segmentation_is_refused_as_a_detection_file(tmp_path: Path) -> None:
    path, doc, _ = _coco(tmp_path, 2, per_image=(1, 1))
    for annotation in doc["annotations"]:
        annotation.pop("segmentation")
    with pytest.raises(SourceError, match=r"instances\.json has no segmentation: an instance"):
        read_coco_instances(rewrite_json(path, doc))
    assert read_coco(path).target == "boxes", "the same file is fine for detection"


def test_a_file_without_annotations_gives_negatives(tmp_path: Path) -> None:
    path, _doc, _ = _coco(tmp_path, 2, per_image=(0, 0))
    result = read_coco_instances(path)
    assert [_finish(result, c).annotation for c in result.candidates] == [
        {"kind": "instances", "objects": []}
    ] * 2


# ---------------------------------------------------------------------- YOLO-seg
def _yolo(tmp_path: Path, per_subset: dict[str, int] | None = None) -> tuple[Path, dict]:
    root = tmp_path / "yolo"
    return root, write_yolo_seg(root, per_subset or {"train": 4, "val": 2})


def test_yolo_outlines_become_pixels_and_their_boxes(tmp_path: Path) -> None:
    root, scenes = _yolo(tmp_path)
    result = read_yolo_instances(root)
    assert (result.format, result.target, result.classes) == ("yolo", "instances", list(CLASSES))
    by_name = _by_name(result)
    for subset, group in scenes.items():
        for scene in group:
            candidate = by_name[f"images/{subset}/{scene.file_name}"]
            assert candidate.subset == subset
            assert _finish(result, candidate).annotation == expected_yolo_instances(scene)
    objects = by_name["images/train/scene_000.png"].objects
    assert pickle.loads(pickle.dumps(objects)) == objects, "picklable for worker processes"


def test_yolo_through_the_registry_and_the_yaml_itself(tmp_path: Path) -> None:
    root, _ = _yolo(tmp_path)
    assert read_source(root, "auto", kind="instances").target == "instances"
    assert read_source(root / "data.yaml", "yolo", kind="instances").format == "yolo"


def test_yolo_outlines_slightly_out_are_clipped_and_names_its_line(tmp_path: Path) -> None:
    root, _ = _yolo(tmp_path, {"train": 1})
    label = root / "labels" / "train" / "scene_000.txt"
    label.write_text("1 -0.02 0.1 0.5 0.1 0.5 0.5\n2 0.1 0.1 0.3 0.3 0.3 0.1 0.1 0.3\n")
    result = read_yolo_instances(root)
    done = _finish(result, result.candidates[0])
    assert done.refused == (
        "labels/train/scene_000.txt line 2: polygon crosses itself near (12.8, 9.6)"
    )
    label.write_text("1 -0.02 0.1 0.5 0.1 0.5 0.5\n")
    result = read_yolo_instances(root)
    done = _finish(result, result.candidates[0])
    (obj,) = done.annotation["objects"]
    assert done.clipped == 1 and obj["box"][0] == 0.0


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("0 0.5 0.5 0.2 0.2\n", "line 1: a box line (cls cx cy w h), not an outline"),
        ("0 0.1 0.1 0.5 0.1 0.5 0.5\n1 0.5 0.5 0.2 0.2\n", "line 2: a box line (cls cx cy w h)"),
        ("0 0.1 0.1\n", "line 1: found 3 numbers: an outline line is a class and 3"),
        ("0 0.1 0.1 0.5 0.1 0.5\n", "line 1: found 6 numbers: an outline line is a class and 3"),
        ("7 0.1 0.1 0.5 0.1 0.5 0.5\n", "line 1: class 7 is out of range"),
        ("0 0.1 0.1 0.5 x 0.5 0.5\n", "line 1: 'x' is not a number"),
    ],
)
def test_bad_yolo_lines_skip_their_image(tmp_path: Path, text: str, reason: str) -> None:
    root, _ = _yolo(tmp_path, {"train": 2})
    (root / "labels" / "train" / "scene_000.txt").write_text(text)
    (root / "labels" / "train" / "scene_001.txt").write_text("2 0.1 0.1 0.4 0.1 0.4 0.4\n")
    result = read_yolo_instances(root)
    skips = {s.path: s.reason for s in result.skipped}
    assert [c.name for c in result.candidates] == ["images/train/scene_001.png"]
    assert skips["images/train/scene_000.png"].startswith(f"labels/train/scene_000.txt {reason}")


def test_yolo_geometry_problems_name_the_line(tmp_path: Path) -> None:
    root, _ = _yolo(tmp_path, {"train": 1})
    (root / "labels" / "train" / "scene_000.txt").write_text(
        "0 0.1 0.1 0.2 0.2 0.3 0.3\n1 0.1 0.1 3.0 0.1 3.0 0.5\n"
    )
    result = read_yolo_instances(root)
    done = _finish(result, result.candidates[0])
    assert done.refused_count == 2
    assert done.refused == (
        "labels/train/scene_000.txt line 1: polygon has no area (its points lie on one line) "
        "(and 1 more)"
    )


def test_a_yolo_dataset_of_boxes_only_is_refused_as_a_whole(tmp_path: Path) -> None:
    root, _ = _yolo(tmp_path, {"train": 2})
    for name in ("scene_000.txt", "scene_001.txt"):
        (root / "labels" / "train" / name).write_text("0 0.5 0.5 0.2 0.2\n")
    with pytest.raises(SourceError, match=r"hold boxes .* and no outline: an instance"):
        read_yolo_instances(root)


def test_a_yolo_pose_dataset_is_refused(tmp_path: Path) -> None:
    root, _ = _yolo(tmp_path, {"train": 1})
    yaml = root / "data.yaml"
    yaml.write_text(yaml.read_text() + "kpt_shape: [4, 2]\n")
    with pytest.raises(SourceError, match="describes a pose dataset"):
        read_yolo_instances(root)


def test_yolo_images_without_labels_are_negatives(tmp_path: Path) -> None:
    root, _ = _yolo(tmp_path, {"train": 2})
    (root / "labels" / "train" / "scene_001.txt").unlink()
    write(root / "labels" / "train" / "scene_000.txt", b"")
    result = read_yolo_instances(root)
    assert [_finish(result, c).annotation for c in result.candidates] == [
        {"kind": "instances", "objects": []}
    ] * 2


def test_instances_document_helper_matches_its_scenes(tmp_path: Path) -> None:
    scenes: list[Scene] = write_scenes(tmp_path / "s", 2, per_image=(2, 2), seed=1)
    doc = instances_document(scenes, CLASSES, "compressed")
    assert len(doc["annotations"]) == 4
    assert all(isinstance(a["segmentation"]["counts"], str) for a in doc["annotations"])
    assert doc["annotations"][0]["area"] == int(scenes[0].objects[0].mask(W, H).sum())
