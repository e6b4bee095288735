"""The first half of the lifecycle, clicked through in headless Chromium against ``aistudio serve``.

Create a project, import a folder of digits, see the thumbnails and the histogram, create a split
and see its counts, then time-travel from History to before the split and back. A second test
checks that a second tab sees a change made in the first without reloading.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

try:
    from playwright.sync_api import Locator, Page, expect
except ImportError as exc:  # a clear reason instead of a bare collection error
    raise ImportError("playwright is not installed: run `make test` (dev dependencies)") from exc

from aistudio.datasets.demo import write_digits_imagefolder
from events import Event
from tests.ui.browser import BrowserSession, ServeProcess, project_events

pytestmark = pytest.mark.browser

IMPORT_TIMEOUT_MS = 45_000
LIVE_TIMEOUT_MS = 5_000
HEAVY_LIBRARIES = ("libtorch", "torch/_C", "onnxruntime")
ADDED_20 = re.compile(r"(?<![\d:])20\s*added", re.IGNORECASE)  # the import summary
_PROJECT_URL = re.compile(r"/project/(proj-[0-9a-f]{8})/dataset$")


def _create_project(page: Page, name: str, description: str = "") -> None:
    """Fill the Projects page's form and create the project."""
    page.locator("#projects-new-name").fill(name)
    page.locator("#projects-new-task").select_option("classification")
    if description:
        page.locator("#projects-new-description").fill(description)
    page.locator("#projects-create").click()


def _project_link(page: Page, name: str) -> Locator:
    return page.get_by_role("link", name=name, exact=True)


def _last_of(events: list[Event], event_type: str) -> Event:
    found = [e for e in events if e.type == event_type]
    assert found, f"no {event_type} in the log: {[e.type for e in events]}"
    return found[-1]


def _assert_no_heavy_libraries(pid: int) -> None:
    """The web process (after all the clicking) has no torch or onnxruntime library mapped."""
    maps = Path(f"/proc/{pid}/maps")
    if not maps.exists():  # not Linux: tests/ui/test_serve.py checks sys.modules instead
        return
    loaded = {line.split()[-1] for line in maps.read_text().splitlines() if "/" in line}
    heavy = sorted(lib for lib in loaded if any(h in lib for h in HEAVY_LIBRARIES))
    assert not heavy, f"the web process loaded {heavy}"


def test_project_import_split_and_time_travel(
    served: ServeProcess, app_page: Page, tmp_path: Path
) -> None:
    """Create → import → thumbnails and histogram → split → History → before the split → now."""
    page = app_page
    source = tmp_path / "digits"
    write_digits_imagefolder(source, n_per_class=2)
    name = "Browser digits"

    # Projects: create one; that takes the browser into it (its Dataset page, to import).
    page.goto(served.url)
    expect(page.locator("#projects-create")).to_be_visible()
    _create_project(page, name, "Clicked together by the browser test")
    expect(page).to_have_url(_PROJECT_URL)
    expect(page.locator("#dataset-source")).to_be_visible()
    # Its card on the Projects page opens it too.
    page.goto(served.url)
    link = _project_link(page, name)
    expect(link).to_be_visible()
    link.click()
    expect(page).to_have_url(_PROJECT_URL)
    match = _PROJECT_URL.search(page.url)
    assert match is not None
    project_id = match.group(1)

    # Dataset: import the folder, wait for the job, see the summary, thumbnails and histogram.
    expect(page.locator("#dataset-source")).to_be_visible()
    page.locator("#dataset-source").fill(str(source))
    page.locator("#dataset-import").click()
    summary = page.locator("#dataset-import-summary")
    expect(summary).to_contain_text(ADDED_20, use_inner_text=True, timeout=IMPORT_TIMEOUT_MS)
    thumbs = page.locator("#dataset-grid .thumb")
    expect(thumbs).to_have_count(20, timeout=IMPORT_TIMEOUT_MS)
    first_image = thumbs.first.locator("img")
    expect(first_image).to_be_visible()
    expect(first_image).to_have_js_property("complete", True)
    assert first_image.evaluate("img => img.naturalWidth") > 0, "the thumbnail did not load"
    histogram = page.locator("#dataset-histogram")
    expect(histogram.locator(".main-svg").first).to_be_visible()
    expect(histogram.locator("g.trace.bars g.point")).to_have_count(10)  # one bar per class

    # Split: preview, create, and see its counts as the log has them.
    page.locator("#step-split").click()
    expect(page).to_have_url(re.compile(rf"/project/{project_id}/split$"))
    page.locator("#split-name").fill("browser")
    expect(page.locator("#split-preview .main-svg").first).to_be_visible()
    page.locator("#split-create").click()
    split_list = page.locator("#split-list")
    expect(split_list).to_contain_text("browser")
    events = project_events(served.workspace, project_id)
    split_event = _last_of(events, "SplitCreated")
    counts = {k: len(v) for k, v in split_event.data["assignments"].items()}
    assert sum(counts.values()) == 20
    counts_text = f"train {counts['train']} · val {counts['val']} · test {counts['test']}"
    expect(split_list).to_contain_text(counts_text)

    # History: select the event right before the split and open the Split page as of it.
    before = max(e.seq for e in events if e.seq < split_event.seq)
    page.locator("#step-history").click()
    expect(page).to_have_url(re.compile(rf"/project/{project_id}/history$"))
    table = page.locator("#history-table")
    expect(table.get_by_text("SplitCreated").first).to_be_visible()
    table.locator("tr").filter(has=page.get_by_text(re.compile(rf"^#?{before}$"))).click()
    expect(page.locator("#history-inspector")).to_contain_text(
        next(e.type for e in events if e.seq == before)
    )
    expect(page.locator("#history-travel-dataset")).to_have_attribute(
        "href", re.compile(rf"/project/{project_id}/dataset\?at={before}$")
    )
    page.locator("#history-travel-split").click()
    expect(page).to_have_url(re.compile(rf"/project/{project_id}/split\?at={before}$"))
    expect(page.locator("#time-travel-banner")).to_be_visible()
    expect(page.locator("#time-travel-banner")).to_contain_text(f"#{before}")
    expect(page.locator("#split-list")).to_be_visible()  # it says there was no split yet
    expect(page.locator("#split-list")).not_to_contain_text(counts_text)
    expect(page.locator("#split-list")).not_to_contain_text("browser")
    expect(page.locator("#split-create")).to_have_count(0)  # the past is read-only

    # Back to now: the split is there again and the banner is gone.
    page.locator("#time-travel-back").click()
    expect(page).to_have_url(re.compile(rf"/project/{project_id}/split$"))
    expect(page.locator("#time-travel-banner")).to_have_count(0)
    expect(page.locator("#split-list")).to_contain_text(counts_text)

    _assert_no_heavy_libraries(served.pid)


def test_second_tab_sees_changes_without_reload(
    served: ServeProcess, browser_session: BrowserSession
) -> None:
    """A project created in one tab shows up in another tab's list within seconds."""
    first, second = browser_session.new_page(), browser_session.new_page()
    for page in (first, second):  # both tabs load at once
        page.goto(served.url, wait_until="commit")
    for page in (first, second):
        expect(page.locator("#projects-create")).to_be_visible()
    name = "Made in the first tab"
    expect(_project_link(second, name)).to_have_count(0)
    navigations: list[str] = []
    second.on("framenavigated", lambda frame: navigations.append(frame.url))

    _create_project(first, name)
    expect(first).to_have_url(_PROJECT_URL)  # creating takes the first tab into the project
    expect(_project_link(second, name)).to_be_visible(timeout=LIVE_TIMEOUT_MS)
    assert navigations == [], f"the second tab reloaded: {navigations}"
