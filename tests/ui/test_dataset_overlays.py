"""Boxes drawn over the Dataset page's thumbnails and detail view of a detection project."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from aistudio import commands
from aistudio.datasets.importer import run_import
from aistudio.worker.context import JobContext
from aistudio.workspace import Workspace
from events import EventLog
from tests.datasets.scenes import write_coco
from tests.ui.layout_tree import text_of, walk
from tests.ui.test_dataset_page import grid, page  # noqa: F401 - the page fixture
from ui.components.annotation_overlay import PALETTE, box_style, class_color, overlay_boxes
from ui.components.dataset_detail import detail_body
from ui.state import AppState


def _detection_project(workspace: Workspace, tmp_path: Path) -> tuple[str, list[Any]]:
    project_id = str(commands.create_project(workspace, "Scenes", "detection").data["project_id"])
    path, scenes = write_coco(tmp_path / "coco", 6, seed=4, per_image=(1, 3))
    command = commands.request_import(workspace, project_id, path)
    ctx = JobContext(workspace, project_id, command)
    result = run_import(ctx)
    EventLog(workspace.events_path(project_id)).append_many(result.events)
    result.release()
    return project_id, scenes


def _boxes(tree: Any) -> list[Any]:
    return [n for n in walk(tree) if "overlay-box" in (getattr(n, "className", "") or "")]


def test_box_styles_place_boxes_in_the_letterboxed_square() -> None:
    # A 64x48 image in a square frame: it spans the full width, 75 % of the height, centred.
    assert box_style([0, 0, 64, 48], 64, 48) == {
        "left": "0.000%",
        "top": "12.500%",
        "width": "100.000%",
        "height": "75.000%",
    }
    assert box_style([16, 12, 48, 24], 64, 48, fit="image") == {
        "left": "25.000%",
        "top": "25.000%",
        "width": "50.000%",
        "height": "25.000%",
    }


def test_colours_follow_the_class_list() -> None:
    assert class_color("b", ["a", "b"]) == PALETTE[1]
    assert class_color("zz", ["a"]) in PALETTE
    flagged = overlay_boxes(
        {"kind": "boxes", "objects": [{"class": "a", "box": [0, 0, 1, 1], "crowd": True}]},
        4,
        4,
        ["a"],
    )
    assert "overlay-flagged" in flagged[0].className and text_of(flagged[0]) == "a (crowd)"
    assert overlay_boxes({"kind": "semantic", "mask": {}}, 4, 4, []) == []
    assert overlay_boxes(None, 4, 4, []) == []


def test_thumbnails_and_the_detail_view_draw_every_object(
    page: ModuleType,  # noqa: F811
    ui_workspace: Workspace,
    ui_state: AppState,
    tmp_path: Path,
) -> None:
    project_id, scenes = _detection_project(ui_workspace, tmp_path)
    out = grid(project_id, task="detection")
    thumbs = out["children"]
    assert len(thumbs) == len(scenes)
    drawn = sum(len(_boxes(t)) for t in thumbs)
    assert drawn == sum(len(s.objects) for s in scenes)
    first = thumbs[0]
    count = len(scenes[0].objects)
    assert f"{count} object" in text_of(first)
    dataset = ui_state.view(project_id, "dataset")
    image_id = next(iter(dataset.images))
    body = detail_body(project_id, dataset, image_id, "detection", read_only=False)
    assert len(_boxes(body)) == count
    table = next(n for n in walk(body) if getattr(n, "id", None) == "dataset-detail-objects")
    assert text_of(table).count(scenes[0].objects[0].label) >= 1


@pytest.mark.parametrize(("show", "expected"), [(True, "thumb-grid"), (False, "hide-overlays")])
def test_the_switch_hides_the_boxes_without_re_rendering(
    page: ModuleType,  # noqa: F811
    show: bool,
    expected: str,
) -> None:
    assert expected in page.toggle_boxes(show)


def test_the_detail_view_changes_and_deletes_objects(
    page: ModuleType,  # noqa: F811
    ui_workspace: Workspace,
    ui_state: AppState,
    tmp_path: Path,
) -> None:
    from ui.components.dataset_actions import PageMeta, change_objects

    project_id, scenes = _detection_project(ui_workspace, tmp_path)
    dataset = ui_state.view(project_id, "dataset")
    entry = next(e for e in dataset.images.values() if len(e.structured["objects"]) >= 2)
    objects = entry.structured["objects"]
    meta = PageMeta(project_id, "detection", None)
    body = detail_body(project_id, dataset, entry.image_id, "detection", read_only=False)
    selects = [
        n
        for n in walk(body)
        if getattr(n, "id", None) == {"type": "dataset-object-class", "index": 0}
    ]
    assert selects and selects[0].value == objects[0]["class"]

    same = change_objects(
        meta, entry.image_id, [o["class"] for o in objects], [True] * len(objects)
    )
    assert not same.ok and "Nothing changed" in same.message
    other = next(c for c in dataset.classes if c != objects[0]["class"])
    classes = [other] + [o["class"] for o in objects[1:]]
    keep = [True, False] + [True] * (len(objects) - 2)
    result = change_objects(meta, entry.image_id, classes, keep)
    assert result.ok and "1 object deleted" in result.message
    now = ui_state.view(project_id, "dataset").images[entry.image_id].structured["objects"]
    assert [o["class"] for o in now] == [other] + [o["class"] for o in objects[2:]]
    assert now[0]["box"] == objects[0]["box"]
    stale = change_objects(meta, entry.image_id, classes, keep)
    assert not stale.ok and "changed meanwhile" in stale.message
    read_only = change_objects(PageMeta(project_id, "detection", 3), entry.image_id, [], [])
    assert not read_only.ok and "time-travel" in read_only.message
    assert len(scenes) == 6
