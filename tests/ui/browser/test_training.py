"""Training from the page, in headless Chromium against ``aistudio serve`` (web app and worker).

On the demo project (300 digits, imported by serve on start): create a split, start a tiny
training from the Training page (ResNet-18, 32 px, 2 epochs), and see the curve grow, with a
point per finished epoch; after a reload the curves are still there (they come from the log).
"""

from __future__ import annotations

import re

import pytest

try:
    from playwright.sync_api import Page, expect
except ImportError as exc:  # a clear reason instead of a bare collection error
    raise ImportError("playwright is not installed: run `make test` (dev dependencies)") from exc

from aistudio.demo_project import DEMO_NAME
from tests.ui.browser import ServeProcess, project_events

pytestmark = pytest.mark.browser

IMPORT_TIMEOUT_MS = 60_000
TRAINING_TIMEOUT_MS = 90_000
_DATASET_URL = re.compile(r"/project/(proj-[0-9a-f]{8})/dataset$")
CURVE_POINTS = "#train-curves .scatterlayer .trace .points path"


def _open_demo(page: Page, served: ServeProcess) -> str:
    """Open the demo project's dataset page once its import finished; returns its id."""
    page.goto(served.url)
    link = page.get_by_role("link", name=DEMO_NAME, exact=True)
    expect(link).to_be_visible()
    link.click()
    expect(page).to_have_url(_DATASET_URL)
    match = _DATASET_URL.search(page.url)
    assert match is not None
    project_id = match.group(1)
    expect(page.locator("#dataset-grid .thumb").first).to_be_visible(timeout=IMPORT_TIMEOUT_MS)
    return project_id


def test_start_a_training_and_see_the_curve_grow(served: ServeProcess, app_page: Page) -> None:
    page = app_page
    project_id = _open_demo(page, served)

    # A split to train on.
    page.locator("#step-split").click()
    expect(page).to_have_url(re.compile(rf"/project/{project_id}/split$"))
    page.locator("#split-name").fill("default")
    expect(page.locator("#split-create")).to_be_enabled()
    page.locator("#split-create").click()
    expect(page.locator("#split-list")).to_contain_text("default")

    # The Training page: a tiny run from the form.
    page.locator("#step-train").click()
    expect(page).to_have_url(re.compile(rf"/project/{project_id}/train$"))
    expect(page.locator("#train-form-card")).to_be_visible()
    expect(page.locator("#train-split")).to_have_value("default")
    page.locator("#train-name").fill("browser run")
    page.locator("#train-model").select_option("resnet18")
    page.locator("#train-image-size").fill("32")
    page.locator("#train-epochs").fill("2")
    page.locator("#train-batch-size").fill("32")
    expect(page.locator("#train-plan")).to_contain_text("Trains on")
    expect(page.locator("#train-start")).to_be_enabled()
    page.locator("#train-start").click()
    expect(page.locator("#train-status")).to_contain_text("queued")

    experiments = page.locator("#train-experiments")
    expect(experiments).to_contain_text("browser run")
    expect(page.locator("#train-detail-head")).to_contain_text("browser run")
    # The job starts (TrainingStarted): the weights sentence shows; then the epochs come in.
    expect(page.locator("#train-weights")).to_be_visible(timeout=TRAINING_TIMEOUT_MS)
    expect(page.locator(CURVE_POINTS).first).to_be_visible(timeout=TRAINING_TIMEOUT_MS)
    expect(page.locator("#train-status-badge")).to_contain_text(
        "Completed", timeout=TRAINING_TIMEOUT_MS
    )
    expect(page.locator("#train-summary")).to_contain_text("2 of 2 epochs")

    events = project_events(served.workspace, project_id)
    command = next(e for e in events if e.type == "TrainingRequested")
    assert command.actor == "ui" and command.data["name"] == "browser run"
    config = command.data["config"]
    assert (config["model"], config["image_size"], config["epochs"]) == ("resnet18", 32, 2)
    epochs = [e for e in events if e.type == "EpochCompleted" and e.causation == command.id]
    assert [e.data["epoch"] for e in epochs] == [1, 2]

    # The curves come from the log: a reload shows them again, one point per epoch and curve.
    page.reload()
    expect(page.locator("#train-detail-head")).to_contain_text("browser run")
    train_loss = page.locator("#train-curves .scatterlayer .trace").first
    expect(train_loss.locator(".points path")).to_have_count(2)
