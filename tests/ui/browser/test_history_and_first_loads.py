"""Issue 11 in headless Chromium against ``aistudio serve``.

* History shows whole timestamps (date and time to the millisecond, none cut off by its column)
  and hides progress events behind a switch that is on by default.
* The Evaluation page's live parts render on the first load from the signature its layout
  holds, without waiting for the signature callback's answer (one round trip less).
"""

from __future__ import annotations

import json
import re
import time
from typing import Any

import pytest

try:
    from playwright.sync_api import Page, expect
except ImportError as exc:  # a clear reason instead of a bare collection error
    raise ImportError("playwright is not installed: run `make test` (dev dependencies)") from exc

from aistudio import commands
from aistudio.workspace import Workspace
from events import EventLog, NewEvent
from tests.trained import Trained
from tests.ui.browser import ServeProcess, project_events

pytestmark = pytest.mark.browser

IMPORT_TIMEOUT_S = 60.0
WHOLE_TIME = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}")
PROGRESS_ROWS = "#history-tbody .history-badge-job:has-text('JobProgress')"


def _demo_after_import(server: ServeProcess) -> str:
    """The demo project's id, once serve's worker has imported it."""
    workspace = Workspace(server.workspace)
    deadline = time.monotonic() + IMPORT_TIMEOUT_S
    while time.monotonic() < deadline:
        ids = [pid for pid, v in commands.project_views(workspace).items() if not v.deleted]
        if ids and any(
            e.type == "ImportCompleted" for e in project_events(server.workspace, ids[0])
        ):
            return ids[0]
        time.sleep(0.2)
    raise AssertionError(f"the demo import did not end within {IMPORT_TIMEOUT_S:.0f} s")


def test_history_shows_whole_timestamps_and_hides_progress_until_asked(
    served: ServeProcess, app_page: Page
) -> None:
    page = app_page
    project_id = _demo_after_import(served)
    events = project_events(served.workspace, project_id)
    job = next(e for e in events if e.type == "ImportRequested")
    progress = [
        NewEvent(
            "JobProgress",
            {"job_id": job.id, "done": n, "total": 3, "message": "checking"},
            actor="script",
            causation=job.id,
        )
        for n in range(3)
    ]
    EventLog(Workspace(served.workspace).events_path(project_id)).append_many(progress)
    hidden = sum(e.type == "JobProgress" for e in project_events(served.workspace, project_id))

    page.goto(f"{served.url}project/{project_id}/history")
    rows = page.locator("#history-tbody .history-row")
    expect(rows.first).to_be_visible()
    expect(page.locator(PROGRESS_ROWS)).to_have_count(0)
    word = "event" if hidden == 1 else "events"
    expect(page.locator("#history-count")).to_contain_text(f"{hidden} progress {word} hidden")
    expect(page.locator("#history-hide-progress")).to_be_checked()

    times = page.locator("#history-tbody .history-time").all_inner_texts()
    assert times and all(WHOLE_TIME.fullmatch(t) for t in times), times[:3]
    cut = page.evaluate(
        """() => [...document.querySelectorAll('#history-tbody .history-time')]
               .filter((td) => td.scrollWidth > td.clientWidth).length"""
    )
    assert cut == 0, f"{cut} timestamps are cut off by their column"

    page.locator("#history-hide-progress").click()
    expect(page.locator(PROGRESS_ROWS).first).to_be_visible()
    expect(page.locator("#history-count")).not_to_contain_text("hidden")
    page.locator("#history-hide-progress").click()
    expect(page.locator(PROGRESS_ROWS)).to_have_count(0)


def test_the_evaluation_page_renders_without_waiting_for_its_signature(
    served_trained: ServeProcess, trained_classification: Trained, app_page: Page
) -> None:
    page = app_page
    calls: list[dict[str, Any]] = []
    page.on(
        "request",
        lambda r: (
            calls.append(json.loads(r.post_data))
            if "_dash-update-component" in r.url and r.post_data
            else None
        ),
    )
    project_id = trained_classification.project_id
    page.goto(f"{served_trained.url}project/{project_id}/evaluate")
    expect(page.locator("#eval-experiments")).to_contain_text("tiny")
    first_load = []
    for call in calls:
        if "tick.n_intervals" in call["changedPropIds"]:
            break  # the first tick: the first load is over
        first_load.append(call)
    outputs = [c["output"] for c in first_load]
    assert any("eval-experiments.children" in o for o in outputs), outputs
    # The layout held the signature: nothing asked for it before the first tick.
    assert "eval-sig.data" not in outputs, outputs
    runs = next(c for c in first_load if "eval-experiments.children" in c["output"])
    assert runs["changedPropIds"] == [], runs["changedPropIds"]  # an initial call
