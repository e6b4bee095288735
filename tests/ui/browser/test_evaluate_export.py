"""Evaluate, find the mistakes, export, download, and run the downloaded model with the snippet.

In headless Chromium against ``aistudio serve`` (web app and worker) on a workspace holding a
trained digits classifier: evaluate it on its test subset from the Evaluation page, filter the
results to the wrong predictions and open one, export it as ONNX from the Export page, download
the file, and run the inference snippet the page shows on a dataset image: it must print the
prediction the evaluation made for that image.
"""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

try:
    from playwright.sync_api import Page, expect
except ImportError as exc:  # a clear reason instead of a bare collection error
    raise ImportError("playwright is not installed: run `make test` (dev dependencies)") from exc

from tests.trained import Trained
from tests.ui.browser import ServeProcess, project_events

pytestmark = pytest.mark.browser

JOB_TIMEOUT_MS = 120_000


def _results(trained: Trained) -> list[dict[str, object]]:
    path = trained.workspace.evaluation_results_path(trained.project_id, trained.experiment_id)
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_evaluate_find_mistakes_export_download_and_predict(
    served_trained: ServeProcess,
    trained_classification: Trained,
    app_page: Page,
    tmp_path: Path,
) -> None:
    page = app_page
    trained = trained_classification
    project_id, exp = trained.project_id, trained.experiment_id

    # ------------------------------------------------------------------ evaluate
    page.goto(f"{served_trained.url}project/{project_id}/evaluate")
    experiments = page.locator("#eval-experiments")
    expect(experiments).to_contain_text("tiny")
    experiments.get_by_text("tiny").first.click()
    expect(page.locator("#eval-run")).to_be_enabled()
    page.locator("#eval-run").click()
    expect(page.locator("#eval-cards")).to_contain_text("Accuracy", timeout=JOB_TIMEOUT_MS)
    requested = [
        e
        for e in project_events(served_trained.workspace, project_id)
        if e.type == "EvaluationRequested"
    ]
    assert [e.data["subsets"] for e in requested] == [["test"]] and requested[0].actor == "ui"

    rows = _results(trained)
    wrong = [r for r in rows if not r["correct"]]
    assert rows and all(r["subset"] == "test" for r in rows)
    grid = page.locator("#eval-grid")
    expect(grid.locator(".eval-tile")).to_have_count(min(len(rows), 48))

    # ------------------------------------------------------------------ the mistakes
    page.locator("#eval-f-wrong").check()
    if wrong:
        expect(grid.locator(".eval-tile-ok")).to_have_count(0)
        expect(grid.locator(".eval-tile-wrong")).to_have_count(min(len(wrong), 48))
        grid.locator(".eval-tile-wrong").first.click()
        modal = page.locator("#eval-detail-modal")
        expect(modal).to_be_visible()
        most_confident = max(wrong, key=lambda r: float(r["confidence"]))  # sorted first
        expect(modal).to_contain_text(str(most_confident["prediction"]))
        expect(modal).to_contain_text(str(most_confident["target"]))
        page.keyboard.press("Escape")
        expect(modal).to_be_hidden()
    else:  # a perfect model: the filter leaves nothing, and says so
        expect(grid.locator(".eval-tile")).to_have_count(0)

    # ------------------------------------------------------------------ export
    page.locator("#step-export").click()
    expect(page).to_have_url(re.compile(rf"/project/{project_id}/export"))
    expect(page.locator("#export-start")).to_be_enabled()
    page.locator("#export-start").click()
    download_button = page.locator("[id*='export-download']").first
    expect(download_button).to_be_visible(timeout=JOB_TIMEOUT_MS)
    done = [
        e
        for e in project_events(served_trained.workspace, project_id)
        if e.type == "ExportCompleted"
    ]
    assert len(done) == 1 and done[0].data["validation"]["passed"] is True
    assert done[0].data["experiment_id"] == exp

    with page.expect_download() as waiting:
        download_button.click()
    download = waiting.value
    model = tmp_path / download.suggested_filename
    download.save_as(model)
    assert model.suffix == ".onnx"
    assert hashlib.sha256(model.read_bytes()).hexdigest() == done[0].data["file"]["sha256"]

    # ------------------------------------------------------------------ the snippet, as shown
    snippet = page.locator("[id*='export-snippet'] code").first.inner_text()
    program = tmp_path / "predict.py"
    program.write_text(snippet)
    row = rows[0]
    image = _image_file(trained, str(row["image_id"]))
    run = subprocess.run(
        [sys.executable, str(program), str(image), str(model)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    last = run.stdout.strip().splitlines()[-1]
    assert last.startswith(f"prediction: {row['prediction']} (probability "), (last, row)


def _image_file(trained: Trained, image_id: str) -> Path:
    """The stored original of ``image_id``."""
    from aistudio import commands

    entry = commands.dataset_view(trained.workspace, trained.project_id).images[image_id]
    return trained.workspace.image_path(trained.project_id, entry.sha256, entry.ext)
