"""Semantic masks drawn in headless Chromium against ``aistudio serve``: the Dataset page's grid and
detail view, and the Evaluation page's tiles (truth beside prediction), the opacity slider and the
error view.

The workspace holds a segmentation project built from events (images, thumbnails and masks
written into the content store first, as an import would: ``tests.ui.test_semantic_overlays``),
an experiment and its evaluation as the jobs would have written them (no model runs). The test
proves the masks are painted, not only laid out: a pixel inside the cat's region changes colour
when the masks' opacity goes to 0, and a background pixel does not (the background is
transparent); in the error view the cat taken for a dog turns red.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

try:
    from playwright.sync_api import Locator, Page, expect
except ImportError as exc:  # a clear reason instead of a bare collection error
    raise ImportError("playwright is not installed: run `make test` (dev dependencies)") from exc

from aistudio.workspace import Workspace
from tests.ui.browser import ServeProcess, start_serve
from tests.ui.test_semantic_evaluation import evaluated_project
from tests.ui.test_semantic_overlays import SemanticProject

pytestmark = pytest.mark.browser

from ui.tasks.base import ERROR_VIEW_ID, MASK_OPACITY_ID  # noqa: E402

W, H = 96, 72
CHANGED = 40
"""A pixel's summed RGB difference above which it counts as painted."""
CAT = (23.5 / W, 25.5 / H)
"""A point deep inside every image's cat square (``scene_mask``), in fractions of the image."""
BACKGROUND = (48.5 / W, 6.5 / H)
"""A point of the background of every image (no class there)."""


@pytest.fixture
def served_masks(tmp_path: Path) -> Iterator[tuple[ServeProcess, SemanticProject]]:
    """``aistudio serve --no-worker`` on a workspace with an evaluated segmentation project."""
    workspace = Workspace(tmp_path / "workspace")
    workspace.ensure()
    made, _exp = evaluated_project(workspace, size=(W, H))
    server = start_serve(workspace.root, tmp_path / "serve.log", "--no-worker")
    try:
        server.wait_until_serving()
    except BaseException:
        server.kill()
        raise
    yield server, made
    code = server.stop()
    assert code == 0, f"`aistudio serve` exited with code {code} after Ctrl-C:\n{server.output()}"
    assert "Traceback (most recent call last)" not in server.output(), server.output()


def _in_square(point: tuple[float, float]) -> tuple[float, float]:
    """A point of the image in fractions of its letterboxed square frame (wider than tall)."""
    x, y = point
    top = (1 - H / W) / 2
    return x, top + y * H / W


def _pixels(frame: Locator, points: list[tuple[float, float]]) -> list[np.ndarray]:
    shot = Image.open(io.BytesIO(frame.screenshot())).convert("RGB")
    return [
        np.asarray(shot.getpixel((int(fx * shot.width), int(fy * shot.height))), dtype=int)
        for fx, fy in points
    ]


def _assert_painted(frame: Locator, inside: tuple[float, float], outside: tuple[float, float]):
    """The mask tints the pixel inside the cat and leaves the background pixel alone."""
    shown = _pixels(frame, [inside, outside])
    frame.evaluate("el => el.style.setProperty('--mask-opacity', '0')")
    bare = _pixels(frame, [inside, outside])
    frame.evaluate("el => el.style.removeProperty('--mask-opacity')")
    assert np.abs(shown[0] - bare[0]).sum() > CHANGED, (shown[0], bare[0])
    assert np.abs(shown[1] - bare[1]).sum() < CHANGED / 4, (shown[1], bare[1])
    return shown[0]


def test_masks_are_drawn_on_the_dataset_and_evaluation_pages(
    served_masks: tuple[ServeProcess, SemanticProject], app_page: Page
) -> None:
    server, made = served_masks
    page = app_page
    project_id = made.project_id
    images = len(made.image_ids)

    # Dataset page: every mask drawn over its thumbnail through the semantic route; the legend.
    with page.expect_response(lambda r: "/semantic/" in r.url) as response:
        page.goto(f"{server.url}project/{project_id}/dataset")
    assert response.value.status == 200
    assert response.value.headers["content-type"] == "image/png"
    grid = page.locator("#dataset-grid")
    expect(grid.locator(".thumb")).to_have_count(images)
    masks = grid.locator("img.overlay-semantic")
    expect(masks).to_have_count(images)
    expect(masks.first).to_be_visible()
    assert masks.first.evaluate("el => getComputedStyle(el).imageRendering") == "pixelated"
    assert masks.first.evaluate("el => el.complete && el.naturalWidth") == W
    expect(page.locator("#dataset-class-legend")).to_contain_text("cat")
    expect(page.locator("#dataset-class-legend")).to_contain_text("ignored (255)")
    first = grid.locator(".thumb").first.locator(".annotated")
    _assert_painted(first, _in_square(CAT), _in_square(BACKGROUND))
    page.locator("#dataset-show-boxes").uncheck()
    expect(masks.first).to_be_hidden()
    page.locator("#dataset-show-boxes").check()
    expect(masks.first).to_be_visible()

    # The detail view draws the mask at the image's own aspect ratio.
    page.locator(f"#dataset-grid .thumb[id*='{made.image_ids[1]}']").click()
    detail = page.locator("#dataset-detail-body .annotated")
    expect(detail.locator("img.overlay-semantic")).to_have_count(1)
    page.wait_for_timeout(300)  # the offcanvas slides in
    _assert_painted(detail, CAT, BACKGROUND)

    # Evaluation page: truth beside prediction in every tile, worst first.
    page.goto(f"{server.url}project/{project_id}/evaluate")
    expect(page.locator("#eval-cards")).to_contain_text("mIoU")
    tiles = page.locator("#eval-grid .eval-tile")
    expect(tiles).to_have_count(images)
    expect(tiles.first).to_have_attribute("id", re.compile(made.image_ids[1]))
    expect(page.locator("#eval-grid img.semantic-truth")).to_have_count(images)
    expect(page.locator("#eval-grid img.semantic-prediction")).to_have_count(images)
    errors = page.locator("#eval-grid img.semantic-errors")
    expect(errors).to_have_count(images)
    expect(errors.first).to_be_hidden()
    # Image 2 (its cat taken for a dog): the truth and the prediction both paint the cat.
    tile = page.locator(f"#eval-grid .eval-tile[id*='{made.image_ids[2]}']")
    truth_half, predicted_half = tile.locator(".semantic-half .annotated").all()
    _assert_painted(truth_half, _in_square(CAT), _in_square(BACKGROUND))
    predicted = _assert_painted(predicted_half, _in_square(CAT), _in_square(BACKGROUND))

    # The error view: the wrong pixels red instead of the prediction (no re-render).
    page.locator(f"#{ERROR_VIEW_ID}").check()
    expect(page.locator("#eval-sections")).to_have_class(re.compile(r"\bshow-errors\b"))
    expect(errors.first).to_be_visible()
    expect(page.locator("#eval-grid img.semantic-prediction").first).to_be_hidden()
    wrong = _assert_painted(predicted_half, _in_square(CAT), _in_square(BACKGROUND))
    assert wrong[0] > wrong[1] + 40 and wrong[0] > wrong[2] + 40, wrong  # red
    assert np.abs(wrong - predicted).sum() > CHANGED, (wrong, predicted)

    # The detail: truth, prediction and errors side by side.
    tile.click()
    modal = page.locator("#eval-detail-modal")
    expect(modal).to_be_visible()
    expect(modal.locator("#eval-detail-truth img.semantic-truth")).to_have_count(1)
    expect(modal.locator("#eval-detail-prediction img.semantic-prediction")).to_be_visible()
    expect(modal.locator("#eval-detail-errors img.semantic-errors-shown")).to_be_visible()
    expect(modal.locator("#eval-detail-table")).to_contain_text("Wrong pixels")
    page.wait_for_timeout(300)  # the dialog fades in
    _assert_painted(modal.locator("#eval-detail-truth .annotated"), CAT, BACKGROUND)
    page.keyboard.press("Escape")
    expect(modal).to_be_hidden()

    # The opacity slider sets the masks' opacity on the results (one CSS variable).
    page.locator(f"#{ERROR_VIEW_ID}").uncheck()
    expect(errors.first).to_be_hidden()
    thumb = page.locator(f"#{MASK_OPACITY_ID} [role=slider]").first
    thumb.focus()
    thumb.press("Home")  # the slider's minimum, 0
    sections = page.locator("#eval-sections")
    expect(sections).to_have_attribute("style", re.compile(r"--mask-opacity: ?0(;|$)"))
    shape = page.locator("#eval-grid img.semantic-prediction").first
    assert shape.evaluate("el => getComputedStyle(el).opacity") == "0"
    bare = _pixels(predicted_half, [_in_square(CAT)])[0]
    assert np.abs(bare - predicted).sum() > CHANGED, (bare, predicted)
