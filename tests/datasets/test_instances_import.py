"""Instance segmentation imports end to end: COCO polygons and RLE masks, crowds, YOLO-seg, skips,
mask files in the content store, the upright frame, and the command line."""

from __future__ import annotations

import io
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from aistudio import commands
from aistudio.cli import cli
from aistudio.datasets.importer import run_import
from aistudio.datasets.orphans import collect_garbage
from aistudio.worker.context import JobInputError
from aistudio.workspace import Workspace
from projections.dataset import rebuild
from tests.datasets.scenes import (
    expected_annotation,
    expected_instances,
    expected_yolo_instances,
    rewrite_json,
    rle_of,
    write_instances_coco,
    write_scenes,
    write_yolo_seg,
)
from tests.datasets.support import events_of, make_project, request_import

CLASSES = ("0", "1", "2")
W, H = 64, 48


def _import(workspace: Workspace, source: Path, task: str = "instance_segmentation") -> Any:
    project_id = make_project(workspace, task)
    return project_id, _import_into(workspace, project_id, source)


def _import_into(workspace: Workspace, project_id: str, source: Path) -> Any:
    ctx = request_import(workspace, project_id, source)
    result = run_import(ctx)
    ctx.log.append_many(result.events)
    result.release()
    return result


def _by_name(workspace: Workspace, project_id: str) -> dict[str, Any]:
    return {e.filename: e for e in rebuild(events_of(workspace, project_id)).images.values()}


def _stored_mask(workspace: Workspace, project_id: str, ref: dict[str, str]) -> np.ndarray:
    path = workspace.image_path(project_id, ref["sha256"], ref["ext"])
    with Image.open(path) as png:
        assert (png.format, png.mode) == ("PNG", "1")
        return np.asarray(png)


def _skips(workspace: Workspace, project_id: str) -> dict[str, str]:
    return {
        item["path"]: item["reason"]
        for e in events_of(workspace, project_id)
        if e.type == "ImportSkipped"
        for item in e.data["items"]
    }


def test_coco_polygons_are_imported_as_outlines(workspace: Workspace, tmp_path: Path) -> None:
    path, scenes = write_instances_coco(tmp_path / "coco", 8, seed=5)
    project_id, result = _import(workspace, path)
    assert [e.type for e in result.events] == [
        "ImagesAdded",
        "ClassesDefined",
        "AnnotationsSet",
        "ImportCompleted",
    ]
    by_name = _by_name(workspace, project_id)
    for scene in scenes:
        assert by_name[f"images/{scene.file_name}"].annotation == expected_instances(scene)
    objects = sum(len(s.objects) for s in scenes)
    assert (result.summary["objects"], result.summary["masks"]) == (objects, 0)
    view = rebuild(events_of(workspace, project_id))
    assert sum(view.object_counts.values()) == objects and view.unlabeled == 0


@pytest.mark.parametrize("segmentation", ["rle", "compressed"])
def test_coco_rle_masks_become_png_files_of_the_store(
    workspace: Workspace, tmp_path: Path, segmentation: str
) -> None:
    path, scenes = write_instances_coco(tmp_path / "coco", 6, segmentation, seed=7)
    project_id, result = _import(workspace, path)
    by_name = _by_name(workspace, project_id)
    refs = set()
    for scene in scenes:
        objects = by_name[f"images/{scene.file_name}"].annotation["objects"]
        assert [o["box"] for o in objects] == [list(o.mask_box()) for o in scene.objects]
        for obj, truth in zip(objects, scene.objects, strict=True):
            assert (_stored_mask(workspace, project_id, obj["mask"]) == truth.mask(W, H)).all()
            refs.add(obj["mask"]["sha256"])
    assert result.summary["masks"] == len(refs) > 0
    assert not list(workspace.tmp_dir(project_id).glob("*.part")), "no temporary file is left"


def test_crowds_are_kept_as_flagged_regions(workspace: Workspace, tmp_path: Path) -> None:
    path, scenes = write_instances_coco(tmp_path / "coco", 2, per_image=(2, 2), seed=1)
    doc = json.loads(path.read_text())
    crowd = doc["annotations"][1]
    crowd.update(iscrowd=1, segmentation=rle_of(scenes[0].objects[1].mask(W, H), False))
    project_id, result = _import(workspace, rewrite_json(path, doc))
    first, second = _by_name(workspace, project_id)["images/scene_000.png"].annotation["objects"]
    assert "crowd" not in first and "polygons" in first
    assert second["crowd"] is True and "mask" in second
    assert result.summary["masks"] == 1


def test_bad_objects_are_listed_skips_naming_the_file_and_the_object(
    workspace: Workspace, tmp_path: Path
) -> None:
    path, _ = write_instances_coco(tmp_path / "coco", 6, per_image=(1, 1), seed=2)
    doc = json.loads(path.read_text())
    bad = {
        2: {"segmentation": [[10, 10, 30, 30, 30, 10, 10, 30]]},
        3: {"segmentation": [[10, 10, 30, 10]]},
        4: {"segmentation": {"size": [48, 60], "counts": [2880]}},
        5: {"segmentation": [[80, 60, 120, 60, 120, 90]]},
        6: {"category_id": 77},
    }
    for annotation in doc["annotations"]:
        annotation.update(bad.get(annotation["id"], {}))
    project_id, result = _import(workspace, rewrite_json(path, doc))
    assert (result.summary["added"], result.summary["skipped"]) == (1, 5)
    skips = _skips(workspace, project_id)
    refused = "1 object(s) refused: annotation id"
    assert skips == {
        "images/scene_001.png": f"{refused} 2: polygon crosses itself near (20, 20)",
        "images/scene_002.png": f"{refused} 3: polygon has 2 point(s): an outline needs at least 3",
        "images/scene_003.png": (
            f"{refused} 4: its RLE is 60x48 (size [48, 60]), the image is 64x48"
        ),
        "images/scene_004.png": (
            f"{refused} 5: polygon reaches outside the 64x48 image (x 80 to 120, y 60 to 90)"
        ),
        "images/scene_005.png": "annotation id 6: category_id 77 is not a category",
    }
    assert list(_by_name(workspace, project_id)) == ["images/scene_000.png"]


def test_yolo_seg_outlines_and_the_sources_split(workspace: Workspace, tmp_path: Path) -> None:
    scenes = write_yolo_seg(tmp_path / "yolo", {"train": 4, "val": 2, "test": 1})
    project_id, result = _import(workspace, tmp_path / "yolo")
    assert result.summary["split"] == "source"
    by_name = _by_name(workspace, project_id)
    for subset, group in scenes.items():
        for scene in group:
            entry = by_name[f"images/{subset}/{scene.file_name}"]
            assert entry.annotation == expected_yolo_instances(scene)
    assert rebuild(events_of(workspace, project_id)).classes == list(CLASSES)


def test_a_yolo_file_mixing_boxes_and_outlines_is_skipped(
    workspace: Workspace, tmp_path: Path
) -> None:
    write_yolo_seg(tmp_path / "yolo", {"train": 2})
    label = tmp_path / "yolo" / "labels" / "train" / "scene_000.txt"
    label.write_text(label.read_text() + "\n1 0.5 0.5 0.2 0.2\n")
    project_id, result = _import(workspace, tmp_path / "yolo")
    assert result.summary["added"] == 1
    (reason,) = _skips(workspace, project_id).values()
    assert "labels/train/scene_000.txt line " in reason
    assert "a box line (cls cx cy w h), not an outline" in reason


def test_copies_with_the_same_mask_are_duplicates_with_another_a_conflict(
    workspace: Workspace, tmp_path: Path
) -> None:
    path, scenes = write_instances_coco(tmp_path / "coco", 1, "compressed", per_image=(1, 1))
    images = path.parent / "images"
    for name in ("copy_same.png", "copy_other.png"):
        shutil.copy(images / "scene_000.png", images / name)
    doc = json.loads(path.read_text())
    first = doc["annotations"][0]
    other = np.zeros((H, W), dtype=bool)
    other[2:6, 3:9] = True
    doc["images"] += [
        {"id": 2, "file_name": "copy_same.png"},
        {"id": 3, "file_name": "copy_other.png"},
    ]
    doc["annotations"] += [
        {**first, "id": 2, "image_id": 2},
        {**first, "id": 3, "image_id": 3, "segmentation": rle_of(other)},
    ]
    project_id, result = _import(workspace, rewrite_json(path, doc))
    summary = result.summary
    assert (summary["added"], summary["duplicates"], summary["conflicts"]) == (1, 1, 1)
    assert summary["masks"] == 1, "no mask is written for a copy that is not taken"
    reason = _skips(workspace, project_id)["images/copy_other.png"]
    assert reason.startswith("same image as images/scene_000.png, which has 1 object")
    stored = {
        p.name for p in workspace.image_path(project_id, "0" * 64, "png").parents[1].rglob("*")
    }
    (obj,) = _by_name(workspace, project_id)["images/scene_000.png"].annotation["objects"]
    assert f"{obj['mask']['sha256']}.png" in stored
    assert (
        _stored_mask(workspace, project_id, obj["mask"]) == scenes[0].objects[0].mask(W, H)
    ).all()


def test_a_later_import_keeps_the_masks_of_earlier_ones(
    workspace: Workspace, tmp_path: Path
) -> None:
    """An import sweeps unreferenced files when it starts: masks are referenced files."""
    path, _ = write_instances_coco(tmp_path / "a", 2, "rle", per_image=(1, 1), seed=3)
    project_id, _ = _import(workspace, path)
    files = [
        workspace.image_path(project_id, o["mask"]["sha256"], "png")
        for e in _by_name(workspace, project_id).values()
        for o in e.annotation["objects"]
    ]
    assert len(files) == 2 and all(f.is_file() for f in files)
    more, _ = write_instances_coco(tmp_path / "b", 2, seed=9)
    assert _import_into(workspace, project_id, more).summary["added"] == 2
    assert all(f.is_file() for f in files), "the second import's sweep kept the first's masks"


def test_gc_keeps_mask_files(workspace: Workspace, tmp_path: Path) -> None:
    path, _ = write_instances_coco(tmp_path / "a", 1, "rle", per_image=(1, 1), seed=3)
    project_id, _ = _import(workspace, path)
    (entry,) = _by_name(workspace, project_id).values()
    ref = entry.annotation["objects"][0]["mask"]
    collect_garbage(workspace, project_id)
    assert workspace.image_path(project_id, ref["sha256"], "png").is_file()


def test_an_rle_is_in_the_upright_frame_of_a_turned_photo(
    workspace: Workspace, tmp_path: Path
) -> None:
    """A photo stored 32x48 with orientation 6 shows 48x32: its RLE's size is [32, 48]."""
    from tests.exif_images import oriented_bytes, upright_image

    root = tmp_path / "photo"
    (root / "images").mkdir(parents=True)
    (root / "images" / "turned.jpg").write_bytes(oriented_bytes(upright_image(48, 32), 6))
    mask = np.zeros((32, 48), dtype=bool)
    mask[20:32, 40:48] = True
    doc = {
        "images": [{"id": 1, "file_name": "turned.jpg", "width": 48, "height": 32}],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 1, "segmentation": rle_of(mask)},
            {"id": 2, "image_id": 1, "category_id": 1, "segmentation": [[1, 1, 9, 1, 9, 30]]},
        ],
        "categories": [{"id": 1, "name": "corner"}],
    }
    project_id, result = _import(workspace, rewrite_json(root / "coco.json", doc))
    assert result.summary["added"] == 1
    (entry,) = _by_name(workspace, project_id).values()
    assert (entry.width, entry.height, entry.upright_size) == (32, 48, (48, 32))
    masked, outlined = entry.annotation["objects"]
    assert masked["box"] == [40.0, 20.0, 48.0, 32.0]
    assert (_stored_mask(workspace, project_id, masked["mask"]) == mask).all()
    assert outlined["box"] == [1.0, 1.0, 9.0, 30.0]
    doc["annotations"][0]["segmentation"] = rle_of(mask.T.copy())  # the stored frame
    with pytest.raises(
        JobInputError, match=r"its RLE is 32x48 \(size \[48, 32\]\), the image is 48x32"
    ):
        _import(workspace, rewrite_json(root / "coco.json", doc))


def test_the_same_coco_file_into_a_detection_project_gives_its_boxes(
    workspace: Workspace, tmp_path: Path
) -> None:
    path, scenes = write_instances_coco(tmp_path / "coco", 3, "compressed", seed=4)
    project_id, result = _import(workspace, path, task="detection")
    assert result.summary["masks"] is None
    by_name = _by_name(workspace, project_id)
    for scene in scenes:
        boxes = expected_annotation(scene)
        boxes["objects"] = [{"class": o.label, "box": list(o.mask_box())} for o in scene.objects]
        assert by_name[f"images/{scene.file_name}"].annotation == boxes
    stored = workspace.image_path(project_id, "0" * 64, "png").parents[1].rglob("*.png")
    assert {p.stem for p in stored} == {e.sha256 for e in by_name.values()}, "originals only"


@pytest.mark.parametrize(
    ("layout", "match"),
    [
        ("folder", "needs each object's outline or mask: a COCO JSON with `segmentation`"),
        ("boxes", "has no segmentation: an instance segmentation project needs"),
    ],
)
def test_a_source_without_shapes_is_refused_with_what_fits(
    workspace: Workspace, tmp_path: Path, layout: str, match: str
) -> None:
    if layout == "folder":
        write_scenes(tmp_path / "src" / "cat", 2)
        source = tmp_path / "src"
    else:
        source, _ = write_instances_coco(tmp_path / "coco", 2, per_image=(1, 1))
        doc = json.loads(source.read_text())
        for annotation in doc["annotations"]:
            del annotation["segmentation"]
        rewrite_json(source, doc)
    project_id = make_project(workspace, "instance_segmentation")
    with pytest.raises(JobInputError, match=match):
        run_import(request_import(workspace, project_id, source))


# ---------------------------------------------------------------------- the command line
@pytest.fixture
def run(workspace: Workspace) -> Callable[..., str]:
    runner = CliRunner()

    def invoke(*args: str, code: int = 0) -> str:
        result = runner.invoke(cli, ["--workspace", str(workspace.root), *args])
        assert result.exit_code == code, (result.exit_code, result.output)
        return result.output

    return invoke


def test_cli_import_of_an_instance_project_shows_its_objects(
    run: Callable[..., str], tmp_path: Path, workspace: Workspace
) -> None:
    path, scenes = write_instances_coco(tmp_path / "coco", 4, "compressed", seed=6)
    doc = json.loads(path.read_text())
    doc["annotations"][0]["segmentation"] = {"size": [48, 64], "counts": [5]}
    rewrite_json(path, doc)
    run("project", "create", "Cells", "--task", "instance_segmentation")
    out = run("import", "Cells", str(path), "--wait")
    assert "added 3, duplicates 0, skipped 1" in out
    assert "its RLE runs cover 5 pixels, its 64x48 size has 3,072" in out
    n_objects = sum(len(s.objects) for s in scenes[1:])
    assert f"objects {n_objects}, masks {n_objects} (stored as PNG files)" in out
    shown = json.loads(run("show", "Cells", "dataset"))
    by_name = {i["filename"]: i for i in shown["images"].values()}
    project_id = commands.resolve_project(workspace, "Cells")
    for scene in scenes[1:]:
        objects = by_name[f"images/{scene.file_name}"]["structured"]["objects"]
        assert [o["class"] for o in objects] == [o.label for o in scene.objects]
        for obj, truth in zip(objects, scene.objects, strict=True):
            assert obj["box"] == list(truth.mask_box())
            png = workspace.image_path(project_id, obj["mask"]["sha256"], "png").read_bytes()
            with Image.open(io.BytesIO(png)) as mask:
                assert (np.asarray(mask) == truth.mask(W, H)).all()
    assert shown["object_counts"] == {
        c: sum(o.label == c for s in scenes[1:] for o in s.objects) for c in CLASSES
    }


def test_masks_are_written_before_the_import_returns_its_events(
    workspace: Workspace, tmp_path: Path
) -> None:
    path, _ = write_instances_coco(tmp_path / "coco", 4, "rle", seed=11)
    project_id = make_project(workspace, "instance_segmentation")
    result = run_import(request_import(workspace, project_id, path))
    named = {
        obj["mask"]["sha256"]
        for event in result.events
        if event.type == "AnnotationsSet"
        for annotation in event.data["annotations"].values()
        for obj in annotation["objects"]
    }
    result.release()
    assert named and all(
        workspace.image_path(project_id, sha, "png").stat().st_size > 0 for sha in named
    )


def test_a_mask_that_cannot_be_written_fails_the_import_whole(
    workspace: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from aistudio.datasets.store import ImageStore

    path, _ = write_instances_coco(tmp_path / "coco", 3, "compressed", per_image=(1, 1))
    real = ImageStore.put_original

    def put(self: ImageStore, sha256: str, ext: str, data: bytes) -> bool:
        if data.startswith(b"\x89PNG") and Image.open(io.BytesIO(data)).mode == "1":
            raise OSError(28, "No space left on device")
        return real(self, sha256, ext, data)

    monkeypatch.setattr(ImageStore, "put_original", put)
    project_id = make_project(workspace, "instance_segmentation")
    ctx = request_import(workspace, project_id, path)
    with pytest.raises(OSError, match="No space left"):
        run_import(ctx)
    types = {e.type for e in events_of(workspace, project_id)}
    assert types == {"ProjectCreated", "ImportRequested", "JobProgress"}, "nothing imported"
    assert not list(workspace.tmp_dir(project_id).glob("*.part"))
    images = workspace.image_path(project_id, "0" * 64, "png").parents[1]
    assert not [p for p in images.rglob("*") if p.is_file()], "what it stored is swept"
