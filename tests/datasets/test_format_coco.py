"""The COCO reader and a detection import of it: exact boxes, every bad input a listed skip."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from aistudio.datasets.formats import coco as coco_format
from aistudio.datasets.formats.base import ObjectsError, SourceError
from aistudio.datasets.formats.boxes import finish_boxes
from aistudio.datasets.formats.coco import looks_like_coco, read_coco
from tests.datasets.scenes import coco_source, expected_annotation, rewrite_json

CLASSES = ("0", "1", "2")


def _annotations(result: Any) -> dict[str, Any]:
    return {
        c.name: finish_boxes(c.objects(64, 48), 64, 48, result.classes).annotation
        for c in result.candidates
    }


def test_a_coco_file_gives_exact_boxes_in_category_order(tmp_path: Path) -> None:
    path, _, scenes = coco_source(tmp_path, 6, seed=3)
    result = read_coco(path)
    assert result.format == "coco" and result.target == "boxes"
    assert result.classes == list(CLASSES) and result.skipped == []
    assert [c.name for c in result.candidates] == [f"images/{s.file_name}" for s in scenes]
    got = _annotations(result)
    assert got == {f"images/{s.file_name}": expected_annotation(s) for s in scenes}
    assert any(not a["objects"] for a in got.values()), "some scenes are negatives"
    again = read_coco(path.parent)  # the folder holding it
    assert [c.path for c in again.candidates] == [c.path for c in result.candidates]
    assert looks_like_coco(path) and looks_like_coco(path.parent)
    assert not looks_like_coco(path.parent / "images")


def test_unlabelled_reads_list_images_only(tmp_path: Path) -> None:
    path, _, scenes = coco_source(tmp_path)
    result = read_coco(path, labelled=False)
    assert result.target is None and result.classes is None
    assert len(result.candidates) == len(scenes)
    assert all(c.objects is None for c in result.candidates)


def test_crowd_and_non_contiguous_ids_and_string_ids(tmp_path: Path) -> None:
    path, doc, _scenes = coco_source(tmp_path, 1, per_image=(2, 2))
    doc["annotations"][0]["iscrowd"] = 1
    doc["images"][0]["id"] = "a"
    for annotation in doc["annotations"]:
        annotation["image_id"] = "a"
    result = read_coco(rewrite_json(path, doc))
    objects = _annotations(result)["images/scene_000.png"]["objects"]
    assert objects[0]["crowd"] is True and "crowd" not in objects[1]


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "top level is not an object"),
        ('{"annotations": []}', "no 'images' list"),
        ('{"images": {}}', "'images' is not a list"),
        ('{"images": [], "categories": [{"id": 1}]}', "category 1 needs an 'id' and a 'name'"),
        (
            '{"images": [], "categories": [{"id": 1, "name": "a"}, {"id": 2, "name": "a"}]}',
            "two categories are named 'a'",
        ),
        (
            '{"images": [], "categories": [{"id": 1, "name": "a"}, {"id": 1, "name": "b"}]}',
            "category id 1 is listed twice",
        ),
        ('{"images": [], "categories": [{"id": 1, "name": "  "}]}', "empty label"),
    ],
)
def test_an_unusable_file_is_one_clear_error(tmp_path: Path, text: str, match: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(text)
    with pytest.raises(SourceError, match=match):
        read_coco(path)


def test_a_huge_file_is_refused_before_reading(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path, _, _ = coco_source(tmp_path)
    monkeypatch.setattr(coco_format, "MAX_JSON_BYTES", 100)
    with pytest.raises(SourceError, match="at most"):
        read_coco(path)


def test_a_folder_must_hold_exactly_one_json(tmp_path: Path) -> None:
    path, _, _ = coco_source(tmp_path)
    shutil.copy(path, path.with_name("second.json"))
    with pytest.raises(SourceError, match=r"exactly one COCO \.json"):
        read_coco(path.parent)


def test_bad_images_are_listed_skips(tmp_path: Path) -> None:
    path, doc, _scenes = coco_source(tmp_path, 3)
    outside = tmp_path / "outside.png"
    shutil.copy(path.parent / "images" / "scene_000.png", outside)
    (path.parent / "images" / "link.png").symlink_to(outside)
    doc["images"] += [
        {"id": 90, "file_name": "../outside.png"},
        {"id": 91, "file_name": "/etc/passwd"},
        {"id": 92, "file_name": "missing.png"},
        {"id": 93, "file_name": "link.png"},
        {"id": 94},
        {"id": 1, "file_name": "images/scene_001.png"},
        {"id": 95, "file_name": "scene_000.png"},  # found in images/: the same file again
        "not an object",
    ]
    doc["annotations"].append({"id": 500, "image_id": 999, "category_id": 1, "bbox": [0, 0, 1, 1]})
    result = read_coco(rewrite_json(path, doc))
    skipped = {s.path: s.reason for s in result.skipped}
    assert skipped == {
        "../outside.png": "file_name escapes the COCO file's folder",
        "/etc/passwd": "file_name escapes the COCO file's folder",
        "missing.png": "no such file next to the COCO file or in its images/",
        "images/link.png": "links outside the COCO file's folder",
        "image id 94": "has no file_name",
        "images/scene_001.png": "image id 1 is listed twice",
        "images/scene_000.png": "the same file as images/scene_000.png, listed again",
        "instances.json": "1 annotation(s) name an image not in 'images' (ids 500)",
    } | {"instances.json": skipped["instances.json"]}
    assert len(result.candidates) == 3


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"category_id": 42}, "annotation id 1: category_id 42 is not a category"),
        ({"bbox": [1, 2, 3]}, r"bbox must be \[x, y, width, height\] numbers"),
        ({"bbox": [1, 2, "3", 4]}, "bbox must be"),
        ({"bbox": [1, 2, True, 4]}, "bbox must be"),
    ],
)
def test_an_unreadable_object_refuses_its_image(
    tmp_path: Path, change: dict[str, Any], match: str
) -> None:
    path, doc, _scenes = coco_source(tmp_path, 1, per_image=(1, 1))
    doc["annotations"][0].update(change)
    result = read_coco(rewrite_json(path, doc))
    with pytest.raises(ObjectsError, match=match):
        result.candidates[0].objects(64, 48)


def test_a_declared_size_that_is_not_the_images_refuses_its_boxes(tmp_path: Path) -> None:
    path, doc, _scenes = coco_source(tmp_path, 1)
    doc["images"][0].update(width=640, height=480)
    result = read_coco(rewrite_json(path, doc))
    with pytest.raises(ObjectsError, match="says 640x480, the image is 64x48"):
        result.candidates[0].objects(64, 48)
