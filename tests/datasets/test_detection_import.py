"""Detection imports end to end (COCO, VOC, YOLO): exact boxes, clipping, conflicts, splits."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from aistudio.datasets.importer import run_import
from aistudio.worker.context import JobInputError
from aistudio.workspace import Workspace
from projections.dataset import rebuild
from tests.datasets.scenes import (
    coco_document,
    coco_source,
    expected_annotation,
    rewrite_json,
    write_scenes,
)
from tests.datasets.support import events_of, make_project, request_import

CLASSES = ("0", "1", "2")


def _detection_import(workspace: Workspace, source: Path, task: str = "detection") -> Any:
    project_id = make_project(workspace, task)
    ctx = request_import(workspace, project_id, source)
    result = run_import(ctx)
    ctx.log.append_many(result.events)
    result.release()
    return project_id, result


def test_a_detection_import_stores_images_classes_and_boxes(
    workspace: Workspace, tmp_path: Path
) -> None:
    path, _, scenes = coco_source(tmp_path, 8, seed=5)
    project_id, result = _detection_import(workspace, path)
    types = [e.type for e in result.events]
    assert types == ["ImagesAdded", "ClassesDefined", "AnnotationsSet", "ImportCompleted"]
    view = rebuild(events_of(workspace, project_id))
    assert view.classes == list(CLASSES)
    by_name = {e.filename: e for e in view.images.values()}
    for scene in scenes:
        entry = by_name[f"images/{scene.file_name}"]
        assert entry.annotation == expected_annotation(scene)
    assert view.unlabeled == 0, "negatives are annotated"
    assert result.summary["objects"] == sum(len(s.objects) for s in scenes)
    assert sum(view.object_counts.values()) == result.summary["objects"]


def test_boxes_slightly_out_are_clipped_and_absurd_ones_refuse_the_image(
    workspace: Workspace, tmp_path: Path
) -> None:
    path, doc, _scenes = coco_source(tmp_path, 2, per_image=(1, 1))
    doc["annotations"][0]["bbox"] = [-2, 40, 20, 10]  # 2 px out left, 2 px out below: clipped
    doc["annotations"][1]["bbox"] = [10, 10, 500, 5]  # far out: refused
    project_id, result = _detection_import(workspace, rewrite_json(path, doc))
    assert result.summary["clipped"] == 1 and result.summary["added"] == 1
    view = rebuild(events_of(workspace, project_id))
    (entry,) = view.images.values()
    assert entry.annotation["objects"][0]["box"] == [0.0, 40.0, 18.0, 48.0]
    skipped = [e for e in events_of(workspace, project_id) if e.type == "ImportSkipped"]
    (item,) = skipped[0].data["items"]
    assert item["path"] == "images/scene_001.png"
    assert (
        "1 object(s) refused: annotation id 2: box [10, 10, 510, 15] lies outside" in item["reason"]
    )


def test_the_same_image_twice_with_other_boxes_is_a_conflict(
    workspace: Workspace, tmp_path: Path
) -> None:
    path, doc, _scenes = coco_source(tmp_path, 1, per_image=(1, 1))
    images = path.parent / "images"
    shutil.copy(images / "scene_000.png", images / "copy_same.png")
    shutil.copy(images / "scene_000.png", images / "copy_other.png")
    first = doc["annotations"][0]
    doc["images"] += [
        {"id": 2, "file_name": "copy_same.png"},
        {"id": 3, "file_name": "copy_other.png"},
    ]
    doc["annotations"] += [
        {**first, "id": 2, "image_id": 2},
        {**first, "id": 3, "image_id": 3, "bbox": [0, 0, 5, 5]},
    ]
    _project_id, result = _detection_import(workspace, rewrite_json(path, doc))
    assert result.summary["added"] == 1 and result.summary["duplicates"] == 1
    assert result.summary["conflicts"] == 1
    skipped = next(e for e in result.events if e.type == "ImportSkipped").data["items"]
    assert skipped[0]["path"] == "images/copy_other.png"
    assert "same image as images/scene_000.png, which has 1 object" in skipped[0]["reason"]


@pytest.mark.parametrize(
    ("task", "source", "match"),
    [
        ("classification", "coco", "needs an image folder or a CSV .* coco format .* boxes"),
        ("detection", "folder", "needs boxes: a COCO JSON, .* detected imagefolder format"),
    ],
)
def test_a_format_that_cannot_give_the_tasks_annotations_is_refused(
    workspace: Workspace, tmp_path: Path, task: str, source: str, match: str
) -> None:
    path, _, _ = coco_source(tmp_path)
    if source == "folder":
        write_scenes(tmp_path / "folder" / "cat", 2)
        path = tmp_path / "folder"
    project_id = make_project(workspace, task)
    ctx = request_import(workspace, project_id, path, "coco" if source == "coco" else "auto")
    with pytest.raises(JobInputError, match=match):
        run_import(ctx)


def test_coco_document_helper_is_itself_valid() -> None:
    assert coco_document([], CLASSES)["categories"][1] == {"id": 3, "name": "1"}


# ---------------------------------------------------------------------- VOC and YOLO imports
def _write_yolo(root: Path, per_subset: dict[str, int]) -> dict[str, list]:
    scenes_by_subset = {}
    for seed, (subset, count) in enumerate(per_subset.items()):
        scenes = write_scenes(root / "images" / subset, count, seed=seed)
        labels = root / "labels" / subset
        labels.mkdir(parents=True, exist_ok=True)
        for scene in scenes:
            lines = []
            for obj in scene.objects:
                x1, y1, x2, y2 = obj.box
                cx, cy = (x1 + x2) / 2 / scene.width, (y1 + y2) / 2 / scene.height
                w, h = (x2 - x1) / scene.width, (y2 - y1) / scene.height
                lines.append(f"{CLASSES.index(obj.label)} {cx} {cy} {w} {h}")
            (labels / scene.file_name.replace(".png", ".txt")).write_text("\n".join(lines))
        scenes_by_subset[subset] = scenes
    entries = "".join(f"{s}: images/{s}\n" for s in per_subset)
    (root / "data.yaml").write_text(f"names: {list(CLASSES)}\n{entries}download: rm -rf /\n")
    return scenes_by_subset


def test_a_yolo_import_keeps_the_sources_subsets_as_a_split(
    workspace: Workspace, tmp_path: Path
) -> None:
    scenes = _write_yolo(tmp_path / "yolo", {"train": 6, "val": 2, "test": 2})
    project_id, result = _detection_import(workspace, tmp_path / "yolo")
    assert result.summary["split"] == "source"
    view = rebuild(events_of(workspace, project_id))
    by_name = {e.filename: e for e in view.images.values()}
    for subset, group in scenes.items():
        for scene in group:
            entry = by_name[f"images/{subset}/{scene.file_name}"]
            got = entry.annotation["objects"]
            want = expected_annotation(scene)["objects"]
            assert [o["class"] for o in got] == [o["class"] for o in want]
            for a, b in zip(got, want, strict=True):
                assert a["box"] == pytest.approx(b["box"], abs=1e-6)
            assert view.splits["source"][entry.image_id] == subset
    counts = {s: sum(1 for v in view.splits["source"].values() if v == s) for s in scenes}
    assert counts == {"train": 6, "val": 2, "test": 2}
    again = run_import(request_import(workspace, project_id, tmp_path / "yolo"))
    assert again.summary["added"] == 0 and again.summary["split"] is None
    again.release()


def test_a_voc_import_converts_one_based_corners(workspace: Workspace, tmp_path: Path) -> None:
    root = tmp_path / "voc"
    scenes = write_scenes(root / "JPEGImages", 3, per_image=(1, 2), seed=9)
    (root / "Annotations").mkdir()
    for scene in scenes:
        objects = "".join(
            f"<object><name>{o.label}</name><difficult>0</difficult><bndbox>"
            f"<xmin>{o.box[0] + 1}</xmin><ymin>{o.box[1] + 1}</ymin>"
            f"<xmax>{o.box[2]}</xmax><ymax>{o.box[3]}</ymax></bndbox></object>"
            for o in scene.objects
        )
        xml = (
            f"<annotation><filename>{scene.file_name}</filename><size><width>{scene.width}"
            f"</width><height>{scene.height}</height><depth>3</depth></size>{objects}</annotation>"
        )
        (root / "Annotations" / scene.file_name.replace(".png", ".xml")).write_text(xml)
    project_id, result = _detection_import(workspace, root)
    assert result.summary["added"] == 3
    view = rebuild(events_of(workspace, project_id))
    by_name = {e.filename: e for e in view.images.values()}
    for scene in scenes:
        assert by_name[f"JPEGImages/{scene.file_name}"].annotation == expected_annotation(scene)


def test_boxes_of_a_photo_turned_by_exif_are_in_its_upright_frame(
    workspace: Workspace, tmp_path: Path
) -> None:
    """A phone photo stored 32x48 with orientation 6 is shown 48x32 (upright): its boxes, its
    declared size and the overlay all use that frame; the record keeps the stored size."""
    from tests.exif_images import oriented_bytes, upright_image
    from ui.components.annotation_overlay import box_style

    root = tmp_path / "photo"
    (root / "images").mkdir(parents=True)
    (root / "images" / "turned.jpg").write_bytes(oriented_bytes(upright_image(48, 32), 6))
    doc = {
        "images": [{"id": 1, "file_name": "turned.jpg", "width": 48, "height": 32}],
        "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [40, 20, 8, 12]}],
        "categories": [{"id": 1, "name": "corner"}],
    }
    project_id, result = _detection_import(workspace, rewrite_json(root / "coco.json", doc))
    assert result.summary["added"] == 1 and result.summary["clipped"] == 0
    (record,) = [r for e in result.events if e.type == "ImagesAdded" for r in e.data["images"]]
    assert (record["width"], record["height"], record["orientation"]) == (32, 48, 6)
    (entry,) = rebuild(events_of(workspace, project_id)).images.values()
    assert entry.upright_size == (48, 32)
    assert entry.annotation["objects"][0]["box"] == [40.0, 20.0, 48.0, 32.0]
    assert box_style([40, 20, 48, 32], *entry.upright_size, fit="image")["left"] == "83.333%"
