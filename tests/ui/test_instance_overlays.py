"""Instance shapes drawn over the Dataset page's thumbnails, detail view and time travel, the
object editor keeping them, and the route that serves mask files by project id + sha256.

The projects are imported from generated scenes (COCO polygons, or compressed RLE, which the
import stores as 1-bit PNG masks) through the import job's code, in-process.
"""

from __future__ import annotations

import re
from pathlib import Path
from types import ModuleType
from typing import Any

import dash
import numpy as np
import pytest
from PIL import Image

from aistudio import commands
from aistudio.datasets.importer import run_import
from aistudio.worker.context import JobContext
from aistudio.workspace import Workspace
from events import EventLog
from tests.datasets.scenes import write_instances_coco
from tests.ui.layout_tree import text_of, walk
from tests.ui.test_dataset_page import grid, page  # noqa: F401 - the page fixture
from ui.components.annotation_overlay import (
    DEFAULT_MASK_OPACITY,
    annotated,
    mask_url,
    opacity_style,
    overlay_shapes,
    polygon_clip,
    shape_element,
)
from ui.components.dataset_detail import detail_body
from ui.state import AppState

W, H = 64, 48


def _instances_project(
    workspace: Workspace,
    tmp_path: Path,
    segmentation: str = "polygons",
    count: int = 5,
    seed: int = 8,
) -> tuple[str, list[Any]]:
    name = f"Shapes {segmentation} {tmp_path.name}"
    project_id = str(
        commands.create_project(workspace, name, "instance_segmentation").data["project_id"]
    )
    path, scenes = write_instances_coco(
        tmp_path / f"coco-{segmentation}", count, segmentation, seed=seed, per_image=(1, 3)
    )
    command = commands.request_import(workspace, project_id, path)
    result = run_import(JobContext(workspace, project_id, command))
    EventLog(workspace.events_path(project_id)).append_many(result.events)
    result.release()
    return project_id, scenes


def _masks(tree: Any) -> list[Any]:
    return [n for n in walk(tree) if "overlay-mask" in (getattr(n, "className", "") or "").split()]


def _boxes(tree: Any) -> list[Any]:
    return [n for n in walk(tree) if "overlay-box" in (getattr(n, "className", "") or "").split()]


def _percent_pairs(clip: str) -> list[tuple[float, float]]:
    return [(float(x), float(y)) for x, y in re.findall(r"([\d.]+)% ([\d.]+)%", clip)]


# ---------------------------------------------------------------------- drawing
def test_an_outline_becomes_a_clip_path_in_percent_of_the_image() -> None:
    ring = [0, 0, 32, 0, 32, 24, 32.1, 24.1, 0, 24]
    # Full size: every point, at 0.01 %.
    assert polygon_clip(ring, W, H) == (
        "polygon(0.00% 0.00%, 50.00% 0.00%, 50.00% 50.00%, 50.16% 50.21%, 0.00% 50.00%)"
    )
    # Over a thumbnail: the point within 1 % of the last one kept is left out, at 0.1 %.
    assert polygon_clip(ring, W, H, step=1.0) == (
        "polygon(0.0% 0.0%, 50.0% 0.0%, 50.0% 50.0%, 0.0% 50.0%)"
    )
    assert polygon_clip([0, 0, 0.1, 0.1, 0.2, 0], W, H, step=1.0) is None
    assert polygon_clip([0, 0, 0.1, 0.1], W, H) is None


def test_a_shape_covers_the_image_in_its_letterboxed_frame() -> None:
    obj = {"class": "a", "box": [0, 0, 32, 24], "polygons": [[0, 0, 32, 0, 32, 24]]}
    element = shape_element(obj, W, H, "#123456", "square")
    assert element is not None and element.className == "overlay-mask"
    # A 64x48 image spans the square's width and 75 % of its height, centred.
    assert element.style["top"] == "12.500%" and element.style["height"] == "75.000%"
    assert element.style["--shape-color"] == "#123456"
    (ring,) = element.children
    assert _percent_pairs(ring.style["clipPath"]) == [(0, 0), (50, 0), (50, 50)]
    full = shape_element(obj, W, H, "#123456", "image")
    assert full is not None and full.style["top"] == "0.000%" and full.style["height"] == "100.000%"


def test_a_mask_file_is_painted_through_its_route_and_needs_the_project() -> None:
    sha = "ab" * 32
    obj = {"class": "a", "box": [0, 0, 8, 8], "mask": {"sha256": sha, "ext": "png"}}
    element = shape_element(obj, W, H, "#000000", "image", "proj-00000001")
    assert element is not None and "overlay-mask-file" in element.className
    assert element.style["maskImage"] == f"url(/media/proj-00000001/mask/{sha})"
    assert mask_url("proj-00000001", sha) == f"/media/proj-00000001/mask/{sha}"
    assert shape_element(obj, W, H, "#000000", "image") is None  # nowhere to fetch it from


def test_crowds_are_hatched_and_objects_without_shapes_draw_no_fill() -> None:
    annotation = {
        "kind": "instances",
        "objects": [
            {"class": "a", "box": [0, 0, 8, 8], "polygons": [[0, 0, 8, 0, 8, 8]]},
            {"class": "b", "box": [0, 0, 8, 8], "polygons": [[0, 0, 8, 0, 0, 8]], "crowd": True},
        ],
    }
    shapes = overlay_shapes(annotation, W, H, ["a", "b"])
    assert [s.className for s in shapes] == ["overlay-mask", "overlay-mask overlay-crowd"]
    assert shapes[1].title == "b (crowd: ignored)"
    boxes = {"kind": "boxes", "objects": [{"class": "a", "box": [0, 0, 8, 8]}]}
    assert overlay_shapes(boxes, W, H, ["a"]) == []
    drawn = annotated(dash.html.Img(), annotation, W, H, ["a", "b"])
    # Shapes under the boxes; the boxes of filled objects are thin outlines.
    kinds = [c.className.split()[0] for c in drawn.children[1:]]
    assert kinds == ["overlay-mask", "overlay-mask", "overlay-box", "overlay-box"]
    assert all("overlay-outline" in b.className for b in _boxes(drawn))
    assert annotated(dash.html.Img(), annotation, W, H, ["a"], show=False).children[1:] == []


def test_the_opacity_is_one_clamped_css_variable() -> None:
    assert opacity_style(None) == {"--mask-opacity": f"{DEFAULT_MASK_OPACITY:g}"}
    assert opacity_style(0.7) == {"--mask-opacity": "0.7"}
    assert opacity_style(3) == {"--mask-opacity": "1"}
    assert opacity_style(-1) == {"--mask-opacity": "0"}
    css = (Path(__file__).parents[2] / "ui" / "assets" / "instances.css").read_text()
    assert "opacity: var(--mask-opacity" in css and ".hide-overlays .overlay-mask" in css


# ---------------------------------------------------------------------- the Dataset page
def test_thumbnails_and_the_detail_fill_every_outline(
    page: ModuleType,  # noqa: F811
    ui_workspace: Workspace,
    ui_state: AppState,
    tmp_path: Path,
) -> None:
    project_id, scenes = _instances_project(ui_workspace, tmp_path)
    thumbs = grid(project_id, task="instance_segmentation")["children"]
    assert len(thumbs) == len(scenes)
    objects = sum(len(s.objects) for s in scenes)
    assert sum(len(_masks(t)) for t in thumbs) == objects
    assert sum(len(_boxes(t)) for t in thumbs) == objects
    dataset = ui_state.view(project_id, "dataset")
    entry = next(iter(dataset.images.values()))
    body = detail_body(project_id, dataset, entry.image_id, "instance_segmentation", False)
    shapes = _masks(body)
    assert len(shapes) == len(entry.structured["objects"])
    # Each outline is the object's own, in percent of the image.
    first = entry.structured["objects"][0]
    ring = first["polygons"][0]
    points = _percent_pairs(shapes[0].children[0].style["clipPath"])
    assert points[0] == pytest.approx((ring[0] / W * 100, ring[1] / H * 100), abs=0.006)
    table = text_of(
        next(n for n in walk(body) if getattr(n, "id", None) == "dataset-detail-objects")
    )
    assert "Shape" in table and "outline" in table


def test_mask_files_are_drawn_and_served_only_when_the_log_names_them(
    dash_app: dash.Dash,
    ui_workspace: Workspace,
    ui_state: AppState,
    tmp_path: Path,
) -> None:
    project_id, scenes = _instances_project(ui_workspace, tmp_path, "compressed", count=3)
    other_id, _ = _instances_project(
        ui_workspace, tmp_path / "other", "compressed", count=1, seed=99
    )
    dataset = ui_state.view(project_id, "dataset")
    entry = next(iter(dataset.images.values()))
    body = detail_body(project_id, dataset, entry.image_id, "instance_segmentation", True)
    files = [s for s in _masks(body) if "overlay-mask-file" in s.className]
    assert len(files) == len(entry.structured["objects"])
    ref = entry.structured["objects"][0]["mask"]
    url = mask_url(project_id, ref["sha256"])
    assert files[0].style["maskImage"] == f"url({url})"

    client = dash_app.server.test_client()
    served = client.get(url)
    assert served.status_code == 200 and served.mimetype == "image/png"
    assert served.headers["X-Content-Type-Options"] == "nosniff"
    stored = ui_workspace.image_path(project_id, ref["sha256"], "png").read_bytes()
    assert served.data == stored
    served.close()
    with Image.open(ui_workspace.image_path(project_id, ref["sha256"], "png")) as png:
        assert png.mode == "1" and png.size == entry.upright_size
        assert np.asarray(png).any()
    # An original of the store is a file too, but no mask the log names: not served.
    assert client.get(mask_url(project_id, entry.sha256)).status_code == 404
    # Another project's mask, malformed ids and hashes, traversal: 404.
    other_ref = next(iter(ui_state.view(other_id, "dataset").images.values())).structured
    other_sha = other_ref["objects"][0]["mask"]["sha256"]
    assert client.get(mask_url(project_id, other_sha)).status_code == 404
    assert client.get(mask_url(other_id, other_sha)).status_code == 200
    for bad in (
        mask_url("proj-zz", ref["sha256"]),
        mask_url(project_id, ref["sha256"].upper()),
        mask_url(project_id, ref["sha256"][:-1]),
        f"/media/{project_id}/mask/..%2F..%2Fevents.jsonl",
        mask_url("proj-00000000", ref["sha256"]),
    ):
        assert client.get(bad).status_code == 404, bad
    assert len(scenes) == 3


def test_time_travel_draws_and_serves_the_masks_of_then(
    page: ModuleType,  # noqa: F811
    dash_app: dash.Dash,
    ui_workspace: Workspace,
    ui_state: AppState,
    tmp_path: Path,
) -> None:
    project_id, _ = _instances_project(ui_workspace, tmp_path, "compressed", count=2)
    dataset = ui_state.view(project_id, "dataset")
    entry = next(e for e in dataset.images.values() if e.structured["objects"])
    before = dataset.seq
    old = entry.structured["objects"][0]
    # A person redraws the object as an outline: the mask file is not in the annotation now.
    x1, y1, x2, y2 = old["box"]
    outline = {"class": old["class"], "box": old["box"], "polygons": [[x1, y1, x2, y1, x2, y2]]}
    annotation = {**entry.structured, "objects": [outline, *entry.structured["objects"][1:]]}
    commands.change_annotation(ui_workspace, project_id, entry.image_id, annotation, "ui")
    now = ui_state.view(project_id, "dataset")
    current = detail_body(project_id, now, entry.image_id, "instance_segmentation", True)
    assert f"url({mask_url(project_id, old['mask']['sha256'])})" not in str(current)
    then = ui_state.view(project_id, "dataset", at=before)
    shown = detail_body(project_id, then, entry.image_id, "instance_segmentation", True, before)
    files = [s for s in _masks(shown) if "overlay-mask-file" in s.className]
    assert files[0].style["maskImage"] == f"url({mask_url(project_id, old['mask']['sha256'])})"
    # The log still names the old file, so time travel gets it.
    served = dash_app.server.test_client().get(mask_url(project_id, old["mask"]["sha256"]))
    assert served.status_code == 200
    served.close()
    thumbs = grid(project_id, task="instance_segmentation")["children"]
    assert sum(len(_masks(t)) for t in thumbs) >= 1  # the new outline is drawn on the grid


def test_the_editor_changes_classes_and_deletes_objects_keeping_their_shapes(
    page: ModuleType,  # noqa: F811
    ui_workspace: Workspace,
    ui_state: AppState,
    tmp_path: Path,
) -> None:
    from ui.components.dataset_actions import PageMeta, change_objects

    for segmentation in ("polygons", "compressed"):
        project_id, _ = _instances_project(ui_workspace, tmp_path / segmentation, segmentation)
        dataset = ui_state.view(project_id, "dataset")
        entry = next(e for e in dataset.images.values() if len(e.structured["objects"]) >= 2)
        objects = entry.structured["objects"]
        meta = PageMeta(project_id, "instance_segmentation", None)
        other = next(c for c in dataset.classes if c != objects[0]["class"])
        classes = [other] + [o["class"] for o in objects[1:]]
        keep = [True, False] + [True] * (len(objects) - 2)
        result = change_objects(meta, entry.image_id, classes, keep)
        assert result.ok and "1 object deleted" in result.message
        now = ui_state.view(project_id, "dataset").images[entry.image_id].structured
        assert now["kind"] == "instances"
        assert now["objects"][0] == {**objects[0], "class": other}
        assert now["objects"][1:] == objects[2:]
        shape = "polygons" if segmentation == "polygons" else "mask"
        assert all(shape in o for o in now["objects"])
