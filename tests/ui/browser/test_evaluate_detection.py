"""A detection project's Evaluation page in headless Chromium against ``aistudio serve``.

The workspace holds a detection project of real images (generated scenes, imported through the
import job's code in-process), an experiment and its evaluation as the jobs would have written
them (result files first, then ``EvaluationCompleted``; no model runs). The page draws the boxes
over the thumbnails; moving the confidence slider redraws them (a missed object becomes found);
Set threshold appends ``ThresholdSet``, and after a reload the page shows the chosen threshold
and the slider starts there.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

try:
    from playwright.sync_api import Page, expect
except ImportError as exc:  # a clear reason instead of a bare collection error
    raise ImportError("playwright is not installed: run `make test` (dev dependencies)") from exc

from aistudio import commands
from aistudio.datasets.importer import run_import
from aistudio.worker.context import JobContext
from aistudio.workspace import Workspace
from events import EventLog
from tests.datasets.scenes import write_coco
from tests.projections.helpers import split_data
from tests.ui.browser import ServeProcess, project_events, start_serve
from tests.ui.test_evaluation_detection import evaluate, trained

pytestmark = pytest.mark.browser

IMAGES = 6
FOUND_LOW = 0.35
"""The score of the detection of every second object: missed at 0.5, found at 0.3."""
FALSE_SCORE = 0.31
"""The lowest score of the false detections (one per image, each 0.01 higher): shown at 0.3."""
GRID_FN = "#eval-grid .overlay-box.overlay-fn"
GRID_TP = "#eval-grid .overlay-box.overlay-tp"
GRID_FP = "#eval-grid .overlay-box.overlay-fp"


def _rows(workspace: Workspace, project_id: str) -> list[dict[str, Any]]:
    """What a detection evaluation of the imported images could have written: every object
    detected (every second one only at :data:`FOUND_LOW`), a false detection per image."""
    dataset = commands.dataset_view(workspace, project_id)
    rows = []
    for n, entry in enumerate(dataset.images.values()):
        width, height = entry.upright_size
        truth, predictions = [], []
        for k, obj in enumerate((entry.structured or {}).get("objects") or []):
            score = 0.9 if k % 2 == 0 else FOUND_LOW
            box = [float(v) for v in obj["box"]]
            truth.append({"box": box, "class": obj["class"], "matched_score": score})
            predictions.append(
                {"box": box, "class": obj["class"], "score": score, "match": "tp"}
                | {"iou": 1.0, "matched_truth": k}
            )
        predictions.append(
            {"box": [0.0, 0.0, width / 4, height / 4], "class": dataset.classes[0]}
            | {"score": FALSE_SCORE + n / 100, "match": "fp", "iou": None, "matched_truth": None}
        )
        predictions.sort(key=lambda p: -p["score"])
        fn = sum(1 for t in truth if t["matched_score"] < 0.5)
        rows.append(
            {"image_id": entry.image_id, "subset": "test", "label_changed": False}
            | {"width": width, "height": height, "objects": len(truth)}
            | {"tp": len(truth) - fn, "fp": 0, "fn": fn, "errors": fn}
            | {"max_score": predictions[0]["score"], "display_floor": 0.05}
            | {"truth": truth, "predictions": predictions}
        )
    return rows


def _report(classes: list[str]) -> dict[str, Any]:
    recall = [i / 100 for i in range(101)]
    return {
        "task": "detection",
        "metrics": {"map": 0.52, "map50": 0.71, "map75": 0.5, "mar100": 0.6}
        | {"precision": 0.8, "recall": 0.6, "f1": 0.69, "confidence_threshold": 0.5},
        "classes": classes,
        "iou": 0.5,
        "threshold": {"value": 0.5, "source": "f1_optimal_this_subset"},
        "per_class": [
            {"class": c, "ap": 0.5, "ap50": 0.7, "ap75": 0.5, "precision": 0.8, "recall": 0.6}
            | {"f1": 0.69, "objects": 3, "detections": 2, "tp": 2, "fp": 0, "fn": 1}
            for c in classes
        ],
        "pr_curves": [
            {"class": c, "ap50": 0.7, "recall": recall, "precision": [0.8] * 101} for c in classes
        ],
        "pr_curve_mean": {"recall": recall, "precision": [0.8] * 101, "map50": 0.7},
        "f1_curve": {
            "thresholds": [0.1, 0.3, 0.5, 0.7, 0.9],
            "precision": [0.5, 0.7, 0.8, 0.9, 1.0],
            "recall": [1.0, 1.0, 0.6, 0.6, 0.5],
            "f1": [0.67, 0.82, 0.69, 0.72, 0.67],
        },
        "confusion": {
            "labels": [*classes, "background"],
            "matrix": [[1] * (len(classes) + 1) for _ in range(len(classes) + 1)],
            "iou": 0.5,
            "threshold": 0.5,
        },
        "totals": {"images": IMAGES},
        "notes": [],
    }


@pytest.fixture
def served_detection(tmp_path: Path) -> Iterator[tuple[ServeProcess, str, str]]:
    """``aistudio serve --no-worker`` on a workspace with an evaluated detection experiment:
    ``(server, project id, experiment id)``."""
    workspace = Workspace(tmp_path / "workspace")
    workspace.ensure()
    project_id = str(commands.create_project(workspace, "Scenes", "detection").data["project_id"])
    path, _scenes = write_coco(tmp_path / "coco", IMAGES, seed=3, per_image=(2, 3))
    command = commands.request_import(workspace, project_id, path)
    result = run_import(JobContext(workspace, project_id, command))
    log = EventLog(workspace.events_path(project_id))
    log.append_many(result.events)
    result.release()
    ids = list(commands.dataset_view(workspace, project_id).images)
    log.append("SplitCreated", split_data("default", [], [], ids))
    exp = trained(workspace, project_id)
    classes = list(commands.dataset_view(workspace, project_id).classes)
    evaluate(workspace, project_id, exp, _rows(workspace, project_id), _report(classes))
    server = start_serve(workspace.root, tmp_path / "serve.log", "--no-worker")
    try:
        server.wait_until_serving()
    except BaseException:
        server.kill()
        raise
    yield server, project_id, exp
    code = server.stop()
    assert code == 0, f"`aistudio serve` exited with code {code} after Ctrl-C:\n{server.output()}"
    assert "Traceback (most recent call last)" not in server.output(), server.output()


def _move_slider(page: Page, value: float) -> None:
    """Type ``value`` into the confidence slider's own input box (Dash 4's direct input, which
    sets the value when it loses the focus, as a slider with ``updatemode="mouseup"`` does)."""
    box = page.locator("#eval-threshold input").first
    box.fill(f"{value:g}")
    box.press("Tab")


def test_boxes_follow_the_slider_and_the_threshold_is_kept(
    served_detection: tuple[ServeProcess, str, str], app_page: Page
) -> None:
    server, project_id, exp = served_detection
    page = app_page
    rows = _rows(Workspace(server.workspace), project_id)
    objects = sum(len(r["truth"]) for r in rows)
    missed = sum(1 for r in rows for t in r["truth"] if t["matched_score"] < 0.5)
    assert 0 < missed < objects

    page.goto(f"{server.url}project/{project_id}/evaluate")
    expect(page.locator("#eval-cards")).to_contain_text("mAP@[.50:.95]")
    expect(page.locator("#eval-cards")).to_contain_text("F1-optimal on these images")
    grid = page.locator("#eval-grid")
    expect(grid.locator(".eval-tile")).to_have_count(IMAGES)
    # At the evaluation's threshold (0.5): the objects found at 0.35 are missed.
    expect(page.locator(GRID_FN)).to_have_count(missed)
    expect(page.locator(GRID_TP)).to_have_count(objects - missed)
    expect(grid.locator(".overlay-tag").first).to_be_visible()
    expect(page.locator("#eval-threshold-summary")).to_contain_text("At 0.50")
    expect(page.locator("#eval-threshold-chosen")).to_contain_text("No threshold chosen yet")

    expect(page.locator(GRID_FP)).to_have_count(0)

    # Lower the threshold: every object is found, and the false detections appear.
    _move_slider(page, 0.3)
    expect(page.locator("#eval-threshold-summary")).to_contain_text("At 0.30")
    expect(page.locator(GRID_FN)).to_have_count(0)
    expect(page.locator(GRID_TP)).to_have_count(objects)
    expect(page.locator(GRID_FP)).to_have_count(IMAGES)
    expect(grid.locator(".eval-tile-wrong")).to_have_count(IMAGES)

    # Choose it: ThresholdSet, and the page says so.
    expect(page.locator("#eval-set-threshold")).to_be_enabled()
    page.locator("#eval-set-threshold").click()
    expect(page.locator("#eval-threshold-chosen")).to_contain_text("Chosen threshold: 0.30")
    expect(page.locator("#eval-set-threshold")).to_be_disabled()
    chosen = [e for e in project_events(server.workspace, project_id) if e.type == "ThresholdSet"]
    assert [(e.data, e.actor) for e in chosen] == [({"experiment_id": exp, "threshold": 0.3}, "ui")]

    # After a reload the chosen threshold is still there, and the slider starts at it.
    page.reload()
    expect(page.locator("#eval-threshold-chosen")).to_contain_text("Chosen threshold: 0.30")
    expect(page.locator("#eval-threshold-summary")).to_contain_text("At 0.30")
    expect(page.locator(GRID_FN)).to_have_count(0)

    # The detail shows the same boxes, large.
    grid.locator(".eval-tile").first.click()
    modal = page.locator("#eval-detail-modal")
    expect(modal).to_be_visible()
    expect(modal.locator("#eval-detail-boxes .overlay-tp").first).to_be_visible()
    expect(modal.locator("#eval-detail-box-list")).to_contain_text("found (true positive)")
    assert re.search(r"At 0\.30", modal.locator("#eval-detail-table").inner_text())
