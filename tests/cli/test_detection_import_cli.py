"""``aistudio import`` of a COCO file into a detection project, from the command line."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from aistudio import commands
from aistudio.workspace import Workspace
from tests.datasets.scenes import expected_annotation, write_coco


def test_coco_import_prints_objects_and_shows_the_boxes(
    workspace: Workspace, run: Callable[..., str], tmp_path: Path
) -> None:
    path, scenes = write_coco(tmp_path / "coco", 5, seed=2)
    doc = json.loads(path.read_text())
    doc["images"].append({"id": 99, "file_name": "../../etc/passwd"})
    path.write_text(json.dumps(doc))
    run("project", "create", "Digits", "--task", "detection")
    out = run("import", "Digits", str(path), "--wait")
    objects = sum(len(s.objects) for s in scenes)
    assert "added 5, duplicates 0, skipped 1" in out
    assert f"objects {objects}" in out
    assert "skipped ../../etc/passwd: file_name escapes the COCO file's folder" in out
    shown = json.loads(run("show", "Digits", "dataset"))
    by_name = {i["filename"]: i for i in shown["images"].values()}
    for scene in scenes:
        assert by_name[f"images/{scene.file_name}"]["structured"] == expected_annotation(scene)
    assert shown["object_counts"] == {
        c: sum(o.label == c for s in scenes for o in s.objects) for c in ("0", "1", "2")
    }
    project_id = commands.resolve_project(workspace, "Digits")
    assert commands.dataset_view(workspace, project_id).classes == ["0", "1", "2"]


def test_an_imagefolder_into_a_detection_project_says_what_fits(
    run: Callable[..., str], tmp_path: Path
) -> None:
    from tests.datasets.scenes import write_scenes

    write_scenes(tmp_path / "folder" / "cat", 2)
    run("project", "create", "Boxes", "--task", "detection")
    out = run(
        "import", "Boxes", str(tmp_path / "folder"), "--format", "imagefolder", "--wait", code=2
    )
    assert "a detection project needs boxes: a COCO JSON, a Pascal VOC folder or a YOLO" in out
    assert "the imagefolder format (one sub-folder per class) gives class names" in out
