"""Instance masks drawn in headless Chromium against ``aistudio serve``: the Dataset page's grid
and detail view, and the Evaluation page's tiles and detail.

The workspace holds an instance segmentation project of generated scenes imported through the
import job's code in-process (some as COCO polygons, some as compressed RLE, which the import
stores as mask PNGs), an experiment and its evaluation as the jobs would have written them (no
model runs). The test proves the shapes are painted, not only laid out: a pixel inside an object's
mask changes colour when the masks' opacity goes from the default to 0, and a pixel far from every
object does not (a mask file covers the whole image's rectangle: only the mask keeps it there).
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

try:
    from playwright.sync_api import Locator, Page, expect
except ImportError as exc:  # a clear reason instead of a bare collection error
    raise ImportError("playwright is not installed: run `make test` (dev dependencies)") from exc

from aistudio import commands
from aistudio.datasets.importer import run_import
from aistudio.worker.context import JobContext
from aistudio.workspace import Workspace
from events import EventLog
from tests.datasets.scenes import write_instances_coco
from tests.projections.helpers import split_data
from tests.ui.browser import ServeProcess, start_serve
from tests.ui.test_evaluation_detection import trained
from tests.ui.test_evaluation_instances import evaluate, instance_report

pytestmark = pytest.mark.browser

from ui.tasks.base import MASK_OPACITY_ID  # noqa: E402

POLYGON_IMAGES = 4
MASK_IMAGES = 2
CHANGED = 40
"""A pixel's summed RGB difference above which it counts as painted."""


def _import(workspace: Workspace, project_id: str, source: Path) -> None:
    command = commands.request_import(workspace, project_id, source)
    result = run_import(JobContext(workspace, project_id, command))
    EventLog(workspace.events_path(project_id)).append_many(result.events)
    result.release()


def _rows(workspace: Workspace, project_id: str) -> list[dict[str, Any]]:
    """Every object found at 0.9 by a prediction of its own box's outline."""
    dataset = commands.dataset_view(workspace, project_id)
    rows = []
    for entry in dataset.images.values():
        width, height = entry.upright_size
        truth, predictions = [], []
        for k, obj in enumerate(entry.structured["objects"]):
            x1, y1, x2, y2 = obj["box"]
            shape = {key: obj[key] for key in ("polygons", "mask") if key in obj}
            truth.append({"box": obj["box"], "class": obj["class"], "matched_score": 0.9} | shape)
            predictions.append(
                {"box": obj["box"], "class": obj["class"], "score": 0.9, "match": "tp"}
                | {"iou": 0.8, "matched_truth": k, "polygons": [[x1, y1, x2, y1, x2, y2, x1, y2]]}
            )
        rows.append(
            {"image_id": entry.image_id, "subset": "test", "label_changed": False}
            | {"width": width, "height": height, "objects": len(truth)}
            | {"tp": len(truth), "fp": 0, "fn": 0, "errors": 0, "max_score": 0.9}
            | {"display_floor": 0.05, "truth": truth, "predictions": predictions}
        )
    return rows


@pytest.fixture
def served_instances(tmp_path: Path) -> Iterator[tuple[ServeProcess, str]]:
    """``aistudio serve --no-worker`` on a workspace with an evaluated instance project."""
    workspace = Workspace(tmp_path / "workspace")
    workspace.ensure()
    project_id = str(
        commands.create_project(workspace, "Shapes", "instance_segmentation").data["project_id"]
    )
    polygons, _ = write_instances_coco(tmp_path / "poly", POLYGON_IMAGES, seed=2, per_image=(1, 2))
    masks, _ = write_instances_coco(
        tmp_path / "rle", MASK_IMAGES, "compressed", seed=9, per_image=(1, 1)
    )
    _import(workspace, project_id, polygons)
    _import(workspace, project_id, masks)
    ids = list(commands.dataset_view(workspace, project_id).images)
    EventLog(workspace.events_path(project_id)).append(
        "SplitCreated", split_data("default", [], [], ids)
    )
    exp = trained(workspace, project_id)
    report = instance_report()
    report["classes"] = list(commands.dataset_view(workspace, project_id).classes)
    report["per_class"] = []
    evaluate(workspace, project_id, exp, _rows(workspace, project_id), report)
    server = start_serve(workspace.root, tmp_path / "serve.log", "--no-worker")
    try:
        server.wait_until_serving()
    except BaseException:
        server.kill()
        raise
    yield server, project_id
    code = server.stop()
    assert code == 0, f"`aistudio serve` exited with code {code} after Ctrl-C:\n{server.output()}"
    assert "Traceback (most recent call last)" not in server.output(), server.output()


def _mask_entry(workspace: Workspace, project_id: str) -> tuple[Any, np.ndarray]:
    """An image whose object is a mask file, and that mask."""
    dataset = commands.dataset_view(workspace, project_id)
    entry = next(e for e in dataset.images.values() if "mask" in e.structured["objects"][0])
    ref = entry.structured["objects"][0]["mask"]
    with Image.open(workspace.image_path(project_id, ref["sha256"], "png")) as png:
        return entry, np.asarray(png, dtype=bool)


def _probe_points(entry: Any, mask: np.ndarray) -> tuple[tuple[float, float], tuple[float, float]]:
    """``(inside, outside)`` in fractions of the image: a pixel deep inside the object's mask, and
    one far from every object's box."""
    height, width = mask.shape
    inner = mask.copy()
    for axis in (0, 1):  # erode by 1 px so the pixel is not on the mask's edge
        inner &= np.roll(mask, 1, axis) & np.roll(mask, -1, axis)
    ys, xs = np.nonzero(inner)
    k = len(xs) // 2
    inside = ((xs[k] + 0.5) / width, (ys[k] + 0.5) / height)
    near = np.zeros_like(mask)
    for obj in entry.structured["objects"]:
        x1, y1, x2, y2 = obj["box"]
        near[max(0, int(y1) - 6) : int(y2) + 7, max(0, int(x1) - 6) : int(x2) + 7] = True
    free_ys, free_xs = np.nonzero(~near)
    j = len(free_xs) // 2
    outside = ((free_xs[j] + 0.5) / width, (free_ys[j] + 0.5) / height)
    return inside, outside


def _pixels(frame: Locator, points: list[tuple[float, float]]) -> list[np.ndarray]:
    shot = Image.open(io.BytesIO(frame.screenshot())).convert("RGB")
    return [
        np.asarray(shot.getpixel((int(fx * shot.width), int(fy * shot.height))), dtype=int)
        for fx, fy in points
    ]


def _assert_painted(frame: Locator, inside: tuple[float, float], outside: tuple[float, float]):
    """The mask tints the pixel inside it and leaves the one outside alone."""
    shown = _pixels(frame, [inside, outside])
    frame.evaluate("el => el.style.setProperty('--mask-opacity', '0')")
    bare = _pixels(frame, [inside, outside])
    frame.evaluate("el => el.style.removeProperty('--mask-opacity')")
    assert np.abs(shown[0] - bare[0]).sum() > CHANGED, (shown[0], bare[0])
    assert np.abs(shown[1] - bare[1]).sum() < CHANGED / 4, (shown[1], bare[1])


def test_masks_are_drawn_on_the_dataset_and_evaluation_pages(
    served_instances: tuple[ServeProcess, str], app_page: Page
) -> None:
    server, project_id = served_instances
    workspace = Workspace(server.workspace)
    page = app_page
    entry, mask = _mask_entry(workspace, project_id)
    inside, outside = _probe_points(entry, mask)
    dataset = commands.dataset_view(workspace, project_id)
    objects = [o for e in dataset.images.values() for o in e.structured["objects"]]
    outlines = sum(1 for o in objects if "polygons" in o)
    assert outlines >= POLYGON_IMAGES and len(objects) - outlines == MASK_IMAGES

    # Dataset page: every shape filled over the thumbnails (mask files painted through the
    # mask route); the switch hides them.
    with page.expect_response(lambda r: "/mask/" in r.url) as response:
        page.goto(f"{server.url}project/{project_id}/dataset")
    assert response.value.status == 200
    assert response.value.headers["content-type"] == "image/png"
    grid = page.locator("#dataset-grid")
    expect(grid.locator(".thumb")).to_have_count(POLYGON_IMAGES + MASK_IMAGES)
    shapes = grid.locator(".overlay-mask")
    expect(shapes).to_have_count(len(objects))
    expect(grid.locator(".overlay-mask-file")).to_have_count(MASK_IMAGES)
    expect(shapes.first).to_be_visible()
    assert "polygon(" in shapes.first.locator(".overlay-ring").first.evaluate(
        "el => getComputedStyle(el).clipPath"
    )
    page.locator("#dataset-show-boxes").uncheck()
    expect(shapes.first).to_be_hidden()
    page.locator("#dataset-show-boxes").check()
    expect(shapes.first).to_be_visible()

    # The detail view paints the mask file too.
    page.locator(f"#dataset-grid .thumb[id*='{entry.image_id}']").click()
    detail = page.locator("#dataset-detail-body .annotated")
    expect(detail.locator(".overlay-mask-file")).to_have_count(1)
    expect(page.locator("#dataset-detail-objects")).to_contain_text("mask")
    page.wait_for_timeout(300)  # the offcanvas slides in
    _assert_painted(detail, inside, outside)

    # Evaluation page: the predicted masks filled over the tiles, the truth's in the detail.
    page.goto(f"{server.url}project/{project_id}/evaluate")
    expect(page.locator("#eval-cards")).to_contain_text("Mask mAP@[.50:.95]")
    tiles = page.locator("#eval-grid .eval-tile")
    expect(tiles).to_have_count(POLYGON_IMAGES + MASK_IMAGES)
    objects = sum(len(e.structured["objects"]) for e in dataset.images.values())
    expect(page.locator("#eval-grid .overlay-mask.overlay-prediction")).to_have_count(objects)
    page.locator(f"#eval-grid .eval-tile[id*='{entry.image_id}']").click()
    modal = page.locator("#eval-detail-modal")
    expect(modal).to_be_visible()
    truth = modal.locator("#eval-detail-truth .annotated")
    expect(truth.locator(".overlay-mask-file")).to_have_count(1)
    expect(modal.locator("#eval-detail-boxes .overlay-prediction")).to_have_count(1)
    page.wait_for_timeout(300)  # the dialog fades in
    _assert_painted(truth, inside, outside)

    # The opacity slider sets the masks' opacity on the results (one CSS variable).
    page.keyboard.press("Escape")
    expect(modal).to_be_hidden()
    thumb = page.locator(f"#{MASK_OPACITY_ID} [role=slider]").first
    thumb.focus()
    thumb.press("Home")  # the slider's minimum, 0
    sections = page.locator("#eval-sections")
    expect(sections).to_have_attribute("style", re.compile(r"--mask-opacity: ?0(;|$)"))
    tile_shape = page.locator("#eval-grid .overlay-mask.overlay-prediction").first
    assert tile_shape.evaluate("el => getComputedStyle(el).opacity") == "0"
