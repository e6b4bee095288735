"""Semantic segmentation imports end to end: masks folders, VOC and COCO through the import job,
the events they append, the mask files of the store, skips, duplicates and the command line."""

from __future__ import annotations

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
from aistudio.datasets.semantic_scenes import scene_mask, write_semantic_scenes
from aistudio.worker.context import JobInputError
from aistudio.workspace import Workspace
from projections.dataset import rebuild
from tests.datasets.scenes import rle_of
from tests.datasets.semantic_support import (
    H,
    W,
    png_bytes,
    stored,
    values,
    write_image,
    write_mask,
)
from tests.datasets.support import events_of, make_project, request_import, write, write_png

CLASSES = ("0", "1", "2")
SIZE = (64, 48)


def _scenes(root: Path, count: int = 4, seed: int = 0, **kwargs: Any) -> list[Any]:
    return write_semantic_scenes(
        root, count, size=SIZE, seed=seed, digit_px=(12, 20), per_image=(1, 3), **kwargs
    )


def _import_into(workspace: Workspace, project_id: str, source: Path, fmt: str = "auto") -> Any:
    ctx = request_import(workspace, project_id, source, fmt)
    result = run_import(ctx)
    ctx.log.append_many(result.events)
    result.release()
    return result


def _import(workspace: Workspace, source: Path, fmt: str = "auto") -> tuple[str, Any]:
    project_id = make_project(workspace, "segmentation")
    return project_id, _import_into(workspace, project_id, source, fmt)


def _by_name(workspace: Workspace, project_id: str) -> dict[str, Any]:
    return {e.filename: e for e in rebuild(events_of(workspace, project_id)).images.values()}


def _mask(workspace: Workspace, project_id: str, annotation: dict[str, Any]) -> np.ndarray:
    ref = annotation["mask"]
    return stored(workspace.image_path(project_id, ref["sha256"], ref["ext"]))


def _skips(workspace: Workspace, project_id: str) -> dict[str, str]:
    return {
        item["path"]: item["reason"]
        for e in events_of(workspace, project_id)
        if e.type == "ImportSkipped"
        for item in e.data["items"]
    }


def _classes(workspace: Workspace, project_id: str) -> list[list[str]]:
    return [
        e.data["classes"] for e in events_of(workspace, project_id) if e.type == "ClassesDefined"
    ]


# ---------------------------------------------------------------------- the masks format
def test_a_masks_folder_imports_its_masks_exactly(workspace: Workspace, tmp_path: Path) -> None:
    scenes = _scenes(tmp_path / "src", 5)
    project_id, result = _import(workspace, tmp_path / "src")
    assert [e.type for e in result.events] == [
        "ImagesAdded",
        "ClassesDefined",
        "AnnotationsSet",
        "ImportCompleted",
    ]
    assert _classes(workspace, project_id) == [["background", *CLASSES]]
    [annotations] = [e.data["annotations"] for e in result.events if e.type == "AnnotationsSet"]
    assert len(annotations) == 5
    by_name = _by_name(workspace, project_id)
    for scene in scenes:
        annotation = by_name[f"images/{scene.file_name}"].annotation
        assert annotation["kind"] == "semantic"
        assert annotation["classes"] == ["background", *CLASSES]
        assert (_mask(workspace, project_id, annotation) == scene_mask(scene, CLASSES)).all()
    refs = {by_name[f"images/{s.file_name}"].annotation["mask"]["sha256"] for s in scenes}
    assert result.summary["format"] == "masks"
    assert result.summary["masks"] == len(refs) == 5
    assert result.summary["objects"] is None and result.summary["classes"] == 4
    view = rebuild(events_of(workspace, project_id))
    assert view.unlabeled == 0 and view.classes == ["background", *CLASSES]
    assert not list(workspace.tmp_dir(project_id).glob("*.part"))


def test_bad_masks_are_listed_skips_and_the_rest_comes_in(
    workspace: Workspace, tmp_path: Path
) -> None:
    root = tmp_path / "src"
    write(root / "classes.txt", b"background\nroad\ncar\n")
    good = values(1, 2)
    write_image(root / "images" / "good.png", 1)
    write_mask(root / "masks" / "good.png", good)
    bad = {
        "jpeg": (png_bytes(good, fmt="JPEG"), "is a JPEG file: masks must be PNG"),
        "size": (png_bytes(np.zeros((H + 1, W), np.uint8)), "8x7, the image is 8x6 (upright)"),
        "deep": (png_bytes(np.zeros((H, W), np.uint16)), "a 16-bit PNG"),
        "range": (png_bytes(np.full((H, W), 9, np.uint8)), "values 9 name no class"),
        "colour": (png_bytes(np.dstack([good * 40, good, good])), "no class colours"),
    }
    for n, (stem, (data, _)) in enumerate(bad.items(), start=2):
        write_image(root / "images" / f"{stem}.png", n)
        write(root / "masks" / f"{stem}.png", data)
    write_image(root / "images" / "nomask.png", 20)
    project_id, result = _import(workspace, root, "masks")
    assert list(_by_name(workspace, project_id)) == ["images/good.png"]
    skips = _skips(workspace, project_id)
    for stem, (_, reason) in bad.items():
        assert skips[f"images/{stem}.png"].startswith(f"masks/{stem}.png: ")
        assert reason in skips[f"images/{stem}.png"]
    assert skips["images/nomask.png"] == "no mask (expected masks/nomask.png)"
    assert result.summary["skipped"] == len(bad) + 1 and result.summary["masks"] == 1
    ref = _by_name(workspace, project_id)["images/good.png"].annotation["mask"]
    store = workspace.image_path(project_id, ref["sha256"], "png").parents[1]
    grey = [p for p in store.rglob("*.png") if Image.open(p).mode == "L"]
    assert [p.stem for p in grey] == [ref["sha256"]], "no refused mask is stored"


def test_without_classes_txt_the_values_name_the_classes(
    workspace: Workspace, tmp_path: Path
) -> None:
    root = tmp_path / "src"
    for n, top in enumerate((1, 3, 2)):
        write_image(root / "images" / f"{n}.png", n + 1)
        write_mask(root / "masks" / f"{n}.png", values(n, top))
    project_id, _ = _import(workspace, root)
    assert _classes(workspace, project_id) == [["background", "1", "2", "3"]]
    legends = [e.annotation["classes"] for e in _by_name(workspace, project_id).values()]
    assert legends == [["background", "1"], ["background", "1", "2", "3"], ["background", "1", "2"]]


def test_a_second_import_with_another_order_keeps_each_masks_legend(
    workspace: Workspace, tmp_path: Path
) -> None:
    first = _scenes(tmp_path / "first", 2, seed=1)
    project_id, _ = _import(workspace, tmp_path / "first")
    second = _scenes(tmp_path / "second", 2, seed=2, classes=("2", "5", "0"))
    _import_into(workspace, project_id, tmp_path / "second")
    assert _classes(workspace, project_id)[-1] == ["background", "0", "1", "2", "5"]
    entries = list(rebuild(events_of(workspace, project_id)).images.values())
    assert len(entries) == 4
    for scenes, classes in ((first, CLASSES), (second, ("2", "5", "0"))):
        for scene in scenes:
            [entry] = [
                e
                for e in entries
                if e.filename == f"images/{scene.file_name}"
                and e.annotation["classes"] == ["background", *classes]
            ]
            truth = scene_mask(scene, classes)
            assert (_mask(workspace, project_id, entry.annotation) == truth).all()


def test_copies_with_the_same_mask_are_duplicates_with_another_a_conflict(
    workspace: Workspace, tmp_path: Path
) -> None:
    root = tmp_path / "src"
    image = write_png(root / "images" / "a.png", 3, (W, H)).read_bytes()
    write_mask(root / "masks" / "a.png", values(1, 2))
    write(root / "images" / "b.png", image)
    write_mask(root / "masks" / "b.png", values(1, 2))
    write(root / "images" / "c.png", image)
    write_mask(root / "masks" / "c.png", values(2, 2))
    project_id, result = _import(workspace, root)
    assert (result.summary["added"], result.summary["duplicates"]) == (1, 1)
    assert result.summary["conflicts"] == 1
    assert _skips(workspace, project_id) == {
        "images/c.png": (
            "same image as images/a.png, which has another mask or legend; this copy's differs "
            "(kept images/a.png's)"
        )
    }
    again = _import_into(workspace, project_id, root)  # the same masks again: duplicates
    assert (again.summary["added"], again.summary["duplicates"]) == (0, 2)


def test_gc_keeps_class_mask_files(workspace: Workspace, tmp_path: Path) -> None:
    _scenes(tmp_path / "src", 2)
    project_id, _ = _import(workspace, tmp_path / "src")
    collect_garbage(workspace, project_id)
    for entry in _by_name(workspace, project_id).values():
        assert workspace.image_path(project_id, entry.annotation["mask"]["sha256"], "png").exists()


# ---------------------------------------------------------------------- VOC and COCO
def test_a_voc_segmentation_folder_imports_with_void_kept(
    workspace: Workspace, tmp_path: Path
) -> None:
    from aistudio.datasets.formats.semantic import VOC_CLASSES, voc_colour

    root = tmp_path / "voc"
    colours = [v for i in range(256) for v in voc_colour(i)]
    truths = {}
    for n in range(3):
        truth = values(n, 20)
        truth[:, 0] = 255
        truths[f"JPEGImages/{n}.jpg"] = truth
        write_image(root / "JPEGImages" / f"{n}.jpg", n + 1)
        write_mask(root / "SegmentationClass" / f"{n}.png", truth, mode="P", palette=colours)
    write_image(root / "JPEGImages" / "extra.jpg", 9)
    project_id, result = _import(workspace, root)
    assert result.summary["format"] == "voc"
    assert _classes(workspace, project_id) == [list(VOC_CLASSES)]
    by_name = _by_name(workspace, project_id)
    for name, truth in truths.items():
        assert by_name[name].annotation["classes"] == list(VOC_CLASSES)
        assert (_mask(workspace, project_id, by_name[name].annotation) == truth).all()
    assert _skips(workspace, project_id) == {
        "JPEGImages/extra.jpg": "no mask (expected SegmentationClass/extra.png)"
    }


def test_a_coco_file_is_painted_by_class(workspace: Workspace, tmp_path: Path) -> None:
    from tests.datasets.scenes import write_instances_coco

    path, scenes = write_instances_coco(tmp_path / "coco", 4, "compressed", seed=3)
    doc = json.loads(path.read_text())
    doc["annotations"][0]["segmentation"] = {"size": [1, 1], "counts": [1]}  # refused
    path.write_text(json.dumps(doc))
    project_id, result = _import(workspace, path)
    assert _classes(workspace, project_id) == [["background", *CLASSES]]
    by_name = _by_name(workspace, project_id)
    for scene in scenes[1:]:
        truth = np.zeros((scene.height, scene.width), np.uint8)
        masks = [(o.mask(scene.width, scene.height), o.label) for o in scene.objects]
        for mask, label in sorted(masks, key=lambda m: -int(m[0].sum())):  # larger first
            truth[mask] = 1 + CLASSES.index(label)
        annotation = by_name[f"images/{scene.file_name}"].annotation
        assert (_mask(workspace, project_id, annotation) == truth).all()
    first = f"images/{scenes[0].file_name}"
    assert first not in by_name
    assert "annotation id 1: its RLE is 1x1" in _skips(workspace, project_id)[first]
    assert result.summary["masks"] == len(scenes) - 1


def test_coco_crowds_become_ignore(workspace: Workspace, tmp_path: Path) -> None:
    from tests.datasets.scenes import write_instances_coco

    path, scenes = write_instances_coco(tmp_path / "coco", 1, per_image=(1, 1), seed=4)
    doc = json.loads(path.read_text())
    crowd = np.zeros((48, 64), dtype=bool)
    crowd[:10, :10] = True
    doc["annotations"].append(
        {"id": 99, "image_id": 1, "category_id": 1, "iscrowd": 1, "segmentation": rle_of(crowd)}
    )
    path.write_text(json.dumps(doc))
    project_id, _ = _import(workspace, path)
    [entry] = _by_name(workspace, project_id).values()
    mask = _mask(workspace, project_id, entry.annotation)
    obj = scenes[0].objects[0].mask(64, 48)
    assert (mask[crowd & ~obj] == 255).all() and (
        mask[obj] == 1 + CLASSES.index(scenes[0].objects[0].label)
    ).all()


# ---------------------------------------------------------------------- fitting the task
def test_a_segmentation_project_refuses_a_source_without_masks(
    workspace: Workspace, tmp_path: Path
) -> None:
    write_png(tmp_path / "src" / "cat" / "a.png", 1)
    project_id = make_project(workspace, "segmentation")
    with pytest.raises(JobInputError, match="needs a class mask per image: images/ with masks/"):
        run_import(request_import(workspace, project_id, tmp_path / "src"))


def test_a_masks_folder_into_a_detection_project_is_refused(
    workspace: Workspace, tmp_path: Path
) -> None:
    _scenes(tmp_path / "src", 1)
    project_id = make_project(workspace, "detection")
    with pytest.raises(JobInputError, match=r"masks format .* gives class masks"):
        run_import(request_import(workspace, project_id, tmp_path / "src"))


# ---------------------------------------------------------------------- the command line
@pytest.fixture
def run(workspace: Workspace) -> Callable[..., str]:
    runner = CliRunner()

    def invoke(*args: str, code: int = 0) -> str:
        result = runner.invoke(cli, ["--workspace", str(workspace.root), *args])
        assert result.exit_code == code, (result.exit_code, result.output)
        return result.output

    return invoke


def test_cli_import_of_a_masks_folder(
    run: Callable[..., str], tmp_path: Path, workspace: Workspace
) -> None:
    scenes = _scenes(tmp_path / "src", 3)
    shutil.copy(
        tmp_path / "src" / "images" / scenes[0].file_name, tmp_path / "src" / "images" / "x.png"
    )
    run("project", "create", "Roads", "--task", "segmentation")
    out = run("import", "Roads", str(tmp_path / "src"), "--format", "masks", "--wait")
    assert "added 3, duplicates 0, skipped 1" in out
    shown = json.loads(run("show", "Roads", "dataset"))
    assert shown["classes"] == ["background", *CLASSES]
    project_id = commands.resolve_project(workspace, "Roads")
    by_name = {i["filename"]: i for i in shown["images"].values()}
    for scene in scenes:
        annotation = by_name[f"images/{scene.file_name}"]["structured"]
        assert (_mask(workspace, project_id, annotation) == scene_mask(scene, CLASSES)).all()


def test_a_mask_is_in_the_upright_frame_of_a_turned_photo(
    workspace: Workspace, tmp_path: Path
) -> None:
    """A photo stored 32x48 with orientation 6 shows 48x32: its mask is 48x32."""
    from tests.exif_images import oriented_bytes, upright_image

    root = tmp_path / "photo"
    photo = oriented_bytes(upright_image(48, 32), 6)
    write(root / "images" / "turned.jpg", photo)
    upright = values(1, 2, (48, 32))
    write_mask(root / "masks" / "turned.png", upright)
    other = upright_image(48, 32)
    other.paste((90, 90, 90), (20, 10, 30, 20))  # other content, so not a duplicate
    write(root / "images" / "stored.jpg", oriented_bytes(other, 6))
    write_mask(root / "masks" / "stored.png", upright.T.copy())  # the stored frame: refused
    project_id, _ = _import(workspace, root)
    (entry,) = _by_name(workspace, project_id).values()
    assert (entry.filename, entry.upright_size) == ("images/turned.jpg", (48, 32))
    assert (_mask(workspace, project_id, entry.annotation) == upright).all()
    assert _skips(workspace, project_id) == {
        "images/stored.jpg": (
            "masks/stored.png: 32x48, the image is 48x32 (upright): a mask must have its "
            "image's size"
        )
    }
