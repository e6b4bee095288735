"""The Dataset page's logic, called as functions: grid paging and filters, detail, label changes,
import requests, job progress and summaries, time travel, histogram."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import dash
import pytest
from dash.development.base_component import Component
from dash.exceptions import PreventUpdate

from aistudio import commands
from aistudio.datasets.demo import write_digits_imagefolder
from aistudio.workspace import Workspace
from events import EventLog, NewEvent
from ui.components.dataset_actions import (
    PageMeta,
    change_label,
    detail_signature,
    detail_update,
    grid_update,
    jobs_update,
    live_seq,
    remove_image,
    start_import,
)
from ui.components.dataset_charts import histogram_figure, value_bins
from ui.components.dataset_grid import PAGE_SIZE, UNLABELED_OPTION
from ui.components.dataset_import import upload_status
from ui.state import AppState

CLASSES = ("cat", "dog", "bird")


# ---------------------------------------------------------------------- helpers
@pytest.fixture
def page(dash_app: dash.Dash) -> ModuleType:
    """The page module as Dash loaded it (its callbacks are registered once per session)."""
    for entry in dash.page_registry.values():
        if entry.get("path_template") == "/project/<project_id>/dataset":
            return sys.modules[entry["module"]]
    raise AssertionError("the dataset page is not registered")


def walk(component: Any) -> Iterator[Any]:
    """Every component of a tree (depth first)."""
    if isinstance(component, (list, tuple)):
        for child in component:
            yield from walk(child)
        return
    if not isinstance(component, Component):
        return
    yield component
    for name in ("children", "title", "label"):
        value = getattr(component, name, None)
        if isinstance(value, (Component, list, tuple)):
            yield from walk(value)


def find(tree: Any, component_id: Any) -> Any:
    """The component with this id in ``tree`` (None when absent)."""
    return next((c for c in walk(tree) if getattr(c, "id", None) == component_id), None)


def text(tree: Any) -> str:
    """All the strings of a tree, joined by spaces."""
    parts: list[str] = []

    def collect(node: Any) -> None:
        if isinstance(node, str):
            parts.append(node)
        elif isinstance(node, (int, float)) and not isinstance(node, bool):
            parts.append(str(node))
        elif isinstance(node, (list, tuple)):
            for child in node:
                collect(child)
        elif isinstance(node, Component):
            collect(getattr(node, "children", None))

    collect(tree)
    return " ".join(parts)


def thumbs(grid: list[Any]) -> list[str]:
    """The image ids of the thumbnails of a rendered grid."""
    return [c.id["index"] for c in grid if isinstance(getattr(c, "id", None), dict)]


def new_project(workspace: Workspace, task: str = "classification", name: str = "Pets") -> str:
    return str(commands.create_project(workspace, name, task, actor="ui").data["project_id"])


def add_fake_images(
    workspace: Workspace,
    project_id: str,
    n: int,
    *,
    unlabeled_every: int = 0,
    values: bool = False,
) -> list[str]:
    """Append ``n`` images (no files: for the grid's logic only); their ids in order."""
    records = []
    for i in range(n):
        unlabeled = bool(unlabeled_every) and i % unlabeled_every == 0
        records.append(
            {
                "image_id": f"img-{i:08x}",
                "sha256": f"{i + 1:064x}",
                "ext": "png",
                "filename": f"{CLASSES[i % 3]}/{'special_' if i % 10 == 7 else ''}{i:04d}.png",
                "width": 32 + i % 5,
                "height": 24,
                "size_bytes": 1000 + i,
                "label": None if (unlabeled or values) else CLASSES[i % 3],
                "value": float(i) / 2 if values and not unlabeled else None,
            }
        )
    new = [NewEvent("ImagesAdded", {"images": records}, actor="job")]
    if not values:
        new.insert(0, NewEvent("ClassesDefined", {"classes": list(CLASSES)}, actor="job"))
    EventLog(workspace.events_path(project_id)).append_many(new)
    return [r["image_id"] for r in records]


def meta_of(project_id: str, task: str = "classification", at: int | None = None) -> PageMeta:
    return PageMeta(project_id, task, at)


def grid(
    project_id: str,
    label: str | None = None,
    split: str | None = None,
    subset: str | None = None,
    name: str | None = None,
    page_no: int | None = 1,
    trigger: Any = None,
    task: str = "classification",
) -> dict[str, Any]:
    """The grid callback's outputs, by name."""
    out = grid_update(
        meta_of(project_id, task).to_store(), label, split, subset, name, page_no, trigger
    )
    keys = (
        "children",
        "count",
        "pages",
        "page",
        "class_options",
        "split_options",
        "subset_disabled",
        "stats",
        "empty_style",
        "browser_style",
        "pager_style",
    )
    return dict(zip(keys, out, strict=True))


def events(workspace: Workspace, project_id: str) -> list[Any]:
    return list(EventLog(workspace.events_path(project_id)).read())


def import_with_worker(workspace: Workspace, project_id: str, source: Path) -> str:
    """Request an import as the page does and run it with a worker; the job id."""
    from aistudio.worker.service import Worker

    result = start_import(meta_of(project_id), str(source), "auto")
    assert result.ok, result.message
    job_id = events(workspace, project_id)[-1].id
    Worker(workspace).run(once=True)
    return job_id


# ---------------------------------------------------------------------- layout
def test_unknown_project_shows_not_found(page: ModuleType, ui_workspace: Workspace) -> None:
    for project_id in ("proj-00000000", "not-an-id", None):
        assert "No such project" in text(page.layout(project_id=project_id))


def test_empty_project_shows_the_import_panel_and_an_empty_state(
    page: ModuleType, ui_workspace: Workspace
) -> None:
    project_id = new_project(ui_workspace)
    tree = page.layout(project_id=project_id)
    for component_id in (
        "dataset-source",
        "dataset-format",
        "dataset-import",
        "dataset-progress",
        "dataset-import-summary",
        "dataset-grid",
        "dataset-histogram",
        "dataset-filter-class",
        "dataset-filter-split",
        "dataset-filter-subset",
        "dataset-filter-name",
        "dataset-page",
    ):
        assert find(tree, component_id) is not None, component_id
    assert find(tree, "dataset-import-collapse").is_open is True
    assert "Import a dataset" in text(find(tree, "dataset-empty"))
    assert find(tree, "dataset-empty").style == {"display": "block"}
    assert "0 images match" in text(find(tree, "dataset-count"))
    zone = find(tree, "dataset-upload")
    assert zone.to_plotly_json()["props"]["data-upload-url"] == f"/upload/{project_id}/zip"
    assert "1.0 GB" in text(tree)  # the upload limit is shown


def test_layout_with_images_renders_the_first_page(
    page: ModuleType, ui_workspace: Workspace
) -> None:
    project_id = new_project(ui_workspace)
    ids = add_fake_images(ui_workspace, project_id, 70)
    tree = page.layout(project_id=project_id)
    rendered = thumbs(find(tree, "dataset-grid").children)
    assert rendered == ids[:PAGE_SIZE]
    first = find(tree, {"type": "dataset-thumb", "index": ids[0]})
    assert "thumb" in first.className
    img = first.children[0]
    assert img.src == f"/media/{project_id}/thumb/{ids[0]}"
    assert find(tree, "dataset-import-collapse").is_open is False
    assert find(tree, "dataset-page").max_value == 2
    assert find(tree, "dataset-seq").data == len(events(ui_workspace, project_id))


# ---------------------------------------------------------------------- grid
def test_grid_pages_through_the_images(ui_workspace: Workspace, ui_state: AppState) -> None:
    project_id = new_project(ui_workspace)
    ids = add_fake_images(ui_workspace, project_id, 130)
    first = grid(project_id)
    assert thumbs(first["children"]) == ids[:60]
    assert first["count"] == "130 images match"
    assert (first["pages"], first["page"], first["pager_style"]) == (3, 1, {"display": "block"})
    assert thumbs(grid(project_id, page_no=2)["children"]) == ids[60:120]
    last = grid(project_id, page_no=3)
    assert thumbs(last["children"]) == ids[120:]
    past = grid(project_id, page_no=99)
    assert past["page"] == 3 and thumbs(past["children"]) == ids[120:]


def test_class_filter_and_unlabeled(ui_workspace: Workspace, ui_state: AppState) -> None:
    project_id = new_project(ui_workspace)
    ids = add_fake_images(ui_workspace, project_id, 30, unlabeled_every=5)
    dogs = grid(project_id, label="dog")
    expected = [i for n, i in enumerate(ids) if n % 3 == 1 and n % 5 != 0]
    assert thumbs(dogs["children"]) == expected
    assert dogs["count"] == f"{len(expected)} images match (of 30)"
    unlabeled = grid(project_id, label=UNLABELED_OPTION)
    assert thumbs(unlabeled["children"]) == ids[::5]
    options = {o["value"]: o["label"] for o in dogs["class_options"]}
    assert options[UNLABELED_OPTION] == "Unlabeled (6)"
    assert options["cat"] == "cat (8)"
    thumb = dogs["children"][0]
    assert thumb.children[1].children == "dog"
    assert "unlabeled" in text(unlabeled["children"][0])


def test_name_filter_is_a_case_insensitive_substring(
    ui_workspace: Workspace, ui_state: AppState
) -> None:
    project_id = new_project(ui_workspace)
    ids = add_fake_images(ui_workspace, project_id, 40)
    special = grid(project_id, name="  SPECIAL_ ")
    assert thumbs(special["children"]) == [ids[7], ids[17], ids[27], ids[37]]
    assert special["count"] == "4 images match (of 40)"
    combined = grid(project_id, name="special", label="dog")  # 7 and 37 are dogs (n % 3 == 1)
    assert thumbs(combined["children"]) == [ids[7], ids[37]]
    nothing = grid(project_id, name="no-such-file")
    assert nothing["count"] == "0 images match (of 40)"
    assert "No image matches these filters" in text(nothing["children"])
    assert nothing["children"][0].style == {"gridColumn": "1 / -1"}, "the grid's whole width"


def test_split_and_subset_filters(ui_workspace: Workspace, ui_state: AppState) -> None:
    project_id = new_project(ui_workspace)
    add_fake_images(ui_workspace, project_id, 60)
    commands.create_split(ui_workspace, project_id, "main", 0.5, 0.25, 0.25, actor="ui")
    dataset = ui_state.view(project_id, "dataset")
    members = dataset.splits["main"]
    everything = grid(project_id, split="main")
    assert everything["subset_disabled"] is False
    assert everything["split_options"] == [{"label": "main (60)", "value": "main"}]
    assert len(thumbs(everything["children"])) == 60
    for subset in ("train", "val", "test"):
        shown = thumbs(grid(project_id, split="main", subset=subset)["children"])
        assert shown == [i for i, s in members.items() if s == subset]
        assert shown
    cats_in_val = thumbs(grid(project_id, split="main", subset="val", label="cat")["children"])
    assert cats_in_val == [
        i for i, s in members.items() if s == "val" and dataset.images[i].label == "cat"
    ]
    # A subset without a split is ignored, and an unknown split matches nothing.
    assert len(thumbs(grid(project_id, subset="val")["children"])) == 60
    assert grid(project_id, subset="val")["subset_disabled"] is True
    assert grid(project_id, split="gone")["count"] == "0 images match (of 60)"


def test_a_filter_change_goes_back_to_the_first_page(
    ui_workspace: Workspace, ui_state: AppState
) -> None:
    project_id = new_project(ui_workspace)
    add_fake_images(ui_workspace, project_id, 200)
    assert grid(project_id, page_no=3)["page"] == 3
    assert grid(project_id, page_no=3, trigger="dataset-seq")["page"] == 3
    assert grid(project_id, label="cat", page_no=3, trigger="dataset-filter-class")["page"] == 1
    assert grid(project_id, name="0", page_no=2, trigger="dataset-filter-name")["page"] == 1


def test_grid_callback_shows_the_browser_once_there_are_images(
    page: ModuleType, ui_workspace: Workspace, ui_state: AppState
) -> None:
    project_id = new_project(ui_workspace)
    meta = meta_of(project_id).to_store()
    empty = page.update_grid(1, None, None, None, None, 1, meta)
    assert empty[8] == {"display": "block"}  # the empty state
    assert empty[9]["visibility"] == "hidden"  # the browser
    add_fake_images(ui_workspace, project_id, 3)
    full = page.update_grid(3, None, None, None, None, 1, meta)
    assert thumbs(full[0]) and full[8] == {"display": "none"} and full[9] == {"display": "block"}
    assert "3 images" in text(full[7])


# ---------------------------------------------------------------------- live
def test_live_seq_changes_only_when_the_log_moved(
    page: ModuleType, ui_workspace: Workspace, ui_state: AppState
) -> None:
    project_id = new_project(ui_workspace)
    meta = meta_of(project_id)
    seq = live_seq(meta, None)
    with pytest.raises(PreventUpdate):
        page.on_tick(5, meta.to_store(), seq)
    add_fake_images(ui_workspace, project_id, 2)
    assert page.on_tick(6, meta.to_store(), seq) == seq + 2
    with pytest.raises(PreventUpdate):  # time travel never refreshes
        live_seq(meta_of(project_id, at=1), 0)
    with pytest.raises(PreventUpdate):  # not on this page
        page.on_tick(7, None, seq)


# ---------------------------------------------------------------------- detail and labels
def test_detail_shows_the_image_its_metadata_and_subsets(
    ui_workspace: Workspace, ui_state: AppState
) -> None:
    project_id = new_project(ui_workspace)
    ids = add_fake_images(ui_workspace, project_id, 12)
    commands.create_split(ui_workspace, project_id, "main", actor="ui")
    dataset = ui_state.view(project_id, "dataset")
    image_id = ids[4]
    body, title, signature, feedback = detail_update(meta_of(project_id), image_id)
    entry = dataset.images[image_id]
    assert title == entry.filename
    assert find(body, "dataset-detail-image").src == f"/media/{project_id}/image/{image_id}"
    shown = text(body)
    for expected in (
        entry.filename,
        image_id,
        entry.sha256,
        "1,004 bytes",
        f"{entry.width} x 24 px",
        f"at event #{entry.added_seq}",
        "Split “main”",
        {"train": "Train", "val": "Validation", "test": "Test"}[
            dataset.subset_of(image_id, "main")
        ],
    ):
        assert expected in shown, expected
    editor = find(body, "dataset-label-editor")
    assert editor is not None
    select = find(body, "dataset-label-select")
    assert select.value == "dog"
    assert [o["value"] for o in select.options] == [*CLASSES, UNLABELED_OPTION]
    assert signature == detail_signature(dataset, image_id)
    assert feedback is None
    missing, _, _, _ = detail_update(meta_of(project_id), "img-ffffffff")
    assert "not in the dataset" in text(missing)


def test_label_change_appends_an_event_and_shows_the_result(
    page: ModuleType, ui_workspace: Workspace, ui_state: AppState
) -> None:
    project_id = new_project(ui_workspace)
    ids = add_fake_images(ui_workspace, project_id, 6)
    meta = meta_of(project_id)
    before = len(events(ui_workspace, project_id))
    alert, seq = page.on_save_label(1, "bird", "", None, ids[0], meta.to_store())
    last = events(ui_workspace, project_id)[-1]
    assert (last.type, last.actor, last.data) == (
        "LabelChanged",
        "ui",
        {"image_id": ids[0], "label": "bird", "value": None},
    )
    assert seq == last.seq == before + 1
    assert "Label changed to “bird”" in text(alert)
    assert alert.color == "success"
    assert ui_state.view(project_id, "dataset").images[ids[0]].label == "bird"
    assert thumbs(grid(project_id, label="bird")["children"])[0] == ids[0]
    # A new class name wins over the dropdown; "(no label)" clears the label.
    assert change_label(meta, ids[1], "cat", "  hamster ", None).ok
    assert ui_state.view(project_id, "dataset").images[ids[1]].label == "hamster"
    assert change_label(meta, ids[2], UNLABELED_OPTION, None, None).ok
    assert ui_state.view(project_id, "dataset").images[ids[2]].label is None


def test_label_change_refusals_are_clear_and_append_nothing(
    ui_workspace: Workspace, ui_state: AppState
) -> None:
    project_id = new_project(ui_workspace)
    ids = add_fake_images(ui_workspace, project_id, 3)
    meta = meta_of(project_id)
    count = len(events(ui_workspace, project_id))
    unknown = change_label(meta, "img-0badcafe", "cat", None, None)
    assert not unknown.ok
    assert unknown.message == "No image 'img-0badcafe' in this project."
    assert not change_label(meta, ids[0], None, None, None).ok  # nothing chosen
    same = change_label(meta, ids[0], "cat", None, None)
    assert (same.ok, same.message) == (False, "That is already this image's label.")
    bad = change_label(meta, ids[0], None, "x" * 101, None)
    assert not bad.ok and "\n" not in bad.message
    read_only = change_label(meta_of(project_id, at=2), ids[0], "dog", None, None)
    assert not read_only.ok and "time-travel" in read_only.message
    assert len(events(ui_workspace, project_id)) == count


def test_regression_values_are_edited_as_numbers(
    ui_workspace: Workspace, ui_state: AppState
) -> None:
    project_id = new_project(ui_workspace, task="regression", name="Sizes")
    ids = add_fake_images(ui_workspace, project_id, 5, values=True, unlabeled_every=4)
    meta = meta_of(project_id, task="regression")
    body, _, _, _ = detail_update(meta, ids[1])
    assert find(body, "dataset-label-value").value == 0.5
    assert find(body, "dataset-label-select") is not None  # rendered, hidden
    result = change_label(meta, ids[1], None, None, "2.75")
    assert result.ok and "2.75" in result.message
    assert ui_state.view(project_id, "dataset").images[ids[1]].value == 2.75
    assert change_label(meta, ids[1], None, None, "abc").message == "'abc' is not a number."
    assert change_label(meta, ids[1], None, None, float("inf")).message.startswith("The value")
    assert change_label(meta, ids[1], None, None, None).message == "Enter a number."
    assert grid(project_id, task="regression")["children"][1].children[1].children == "2.75"


def test_remove_image(page: ModuleType, ui_workspace: Workspace, ui_state: AppState) -> None:
    project_id = new_project(ui_workspace)
    ids = add_fake_images(ui_workspace, project_id, 4)
    meta = meta_of(project_id).to_store()
    alert, is_open, seq = page.on_remove(1, ids[2], meta)
    assert "Removed" in text(alert) and is_open is False
    last = events(ui_workspace, project_id)[-1]
    assert (last.type, last.actor, last.data, last.seq) == (
        "ImageRemoved",
        "ui",
        {"image_id": ids[2]},
        seq,
    )
    assert thumbs(grid(project_id)["children"]) == [ids[0], ids[1], ids[3]]
    again = remove_image(meta_of(project_id), ids[2])
    assert not again.ok and "No image" in again.message


def test_detail_is_rerendered_only_when_the_image_changed(
    page: ModuleType, ui_workspace: Workspace, ui_state: AppState
) -> None:
    project_id = new_project(ui_workspace)
    ids = add_fake_images(ui_workspace, project_id, 3)
    meta = meta_of(project_id)
    _body, title, shown, feedback = page.update_detail(ids[0], 2, meta.to_store(), None)
    assert title == "cat/0000.png" and feedback is None
    rename = NewEvent("ProjectRenamed", {"name": "Other"}, actor="ui")
    EventLog(ui_workspace.events_path(project_id)).append_many([rename])
    with pytest.raises(PreventUpdate):  # the log moved, the image did not change
        detail_update(meta, ids[0], shown, trigger="dataset-seq")
    assert change_label(meta, ids[0], "dog", None, None).ok
    body, _, signature, feedback = detail_update(meta, ids[0], shown, trigger="dataset-seq")
    assert signature != shown and "dog" in text(find(body, "dataset-detail-label"))
    assert feedback is dash.no_update  # the "label changed" message stays
    *_, feedback = detail_update(meta, ids[1], signature, trigger="dataset-selected")
    assert feedback is None
    with pytest.raises(PreventUpdate):
        page.update_detail(None, 3, meta.to_store(), shown)


# ---------------------------------------------------------------------- import
def test_import_request_appends_a_command(
    page: ModuleType, ui_workspace: Workspace, ui_state: AppState, tmp_path: Path
) -> None:
    project_id = new_project(ui_workspace)
    folder = tmp_path / "photos"
    folder.mkdir()
    alert, seq = page.on_import(1, f"  {folder}  ", "imagefolder", meta_of(project_id).to_store())
    last = events(ui_workspace, project_id)[-1]
    assert (last.type, last.actor, last.seq) == ("ImportRequested", "ui", seq)
    assert last.data == {"source": str(folder.resolve()), "format": "imagefolder", "options": {}}
    assert "Import requested" in text(alert) and alert.color == "success"
    assert last.id not in text(alert)  # no job id: a link to the job's events instead
    (link,) = [c for c in walk(alert) if getattr(c, "href", None)]
    assert link.href == f"/project/{project_id}/history?seq={seq}"
    # The progress area shows the pending job right away.
    progress, _summary = jobs_update(meta_of(project_id))
    assert "Waiting for the worker" in text(progress)
    assert find(progress, {"type": "dataset-cancel", "index": last.id}) is not None


def test_import_of_a_missing_folder_is_refused(
    page: ModuleType, ui_workspace: Workspace, ui_state: AppState, tmp_path: Path
) -> None:
    project_id = new_project(ui_workspace)
    count = len(events(ui_workspace, project_id))
    alert, seq = page.on_import(
        1, str(tmp_path / "nowhere"), "auto", meta_of(project_id).to_store()
    )
    assert alert.color == "danger"
    assert f"Source '{tmp_path / 'nowhere'}' does not exist." in text(alert)
    assert seq is dash.no_update
    empty = start_import(meta_of(project_id), "   ", "auto")
    assert (empty.ok, empty.message) == (
        False,
        "Enter the folder to import, or upload a zip first.",
    )
    bad_format = start_import(meta_of(project_id), str(tmp_path), "dota")
    assert not bad_format.ok and "Unknown format 'dota'" in bad_format.message
    assert len(events(ui_workspace, project_id)) == count
    with pytest.raises(PreventUpdate):
        page.on_import(0, str(tmp_path), "auto", meta_of(project_id).to_store())


def append_job_events(workspace: Workspace, project_id: str, *new: tuple[str, dict]) -> None:
    EventLog(workspace.events_path(project_id)).append_many(
        [NewEvent(t, d, actor="worker") for t, d in new]
    )


def test_progress_of_a_running_import(ui_workspace: Workspace, ui_state: AppState) -> None:
    project_id = new_project(ui_workspace)
    job = commands.request_import(ui_workspace, project_id, str(ui_workspace.root), actor="ui")
    claimed = {"job_id": job.id, "command_type": "ImportRequested", "worker_id": "w", "host": "h"}
    append_job_events(ui_workspace, project_id, ("JobClaimed", {**claimed, "pid": 1}))
    progress, summary = jobs_update(meta_of(project_id))
    assert "Reading the source" in text(progress) and summary == []
    append_job_events(
        ui_workspace,
        project_id,
        ("JobStarted", {"job_id": job.id, "pid": 2}),
        ("JobProgress", {"job_id": job.id, "done": 30, "total": 120, "message": "30/120 files"}),
    )
    progress, summary = jobs_update(meta_of(project_id))
    bar = next(c for c in walk(progress) if type(c).__name__ == "Progress")
    assert bar.value == 25.0 and bar.label == "25 %"
    assert "30/120 files" in text(progress)
    assert summary == []
    commands.request_cancel(ui_workspace, project_id, job.id, actor="ui")
    progress, _ = jobs_update(meta_of(project_id))
    assert "Cancelling" in text(progress)
    assert find(progress, {"type": "dataset-cancel", "index": job.id}) is None


def test_failed_import_is_shown_with_its_error(ui_workspace: Workspace, ui_state: AppState) -> None:
    project_id = new_project(ui_workspace)
    job = commands.request_import(ui_workspace, project_id, str(ui_workspace.root), actor="ui")
    append_job_events(
        ui_workspace,
        project_id,
        (
            "JobFailed",
            {"job_id": job.id, "error": "no importable image in /x: no image file found"},
        ),
    )
    progress, summary = jobs_update(meta_of(project_id))
    assert progress == []
    assert "The import failed" in text(summary)
    assert "no importable image in /x: no image file found" in text(summary)
    assert summary[0].color == "danger"
    assert len(summary) == 1  # no import ever succeeded: nothing else to show


def test_a_failed_import_does_not_hide_the_last_good_ones_summary(
    ui_workspace: Workspace, ui_state: AppState
) -> None:
    project_id = new_project(ui_workspace)
    good = commands.request_import(ui_workspace, project_id, str(ui_workspace.root), actor="ui")
    append_job_events(
        ui_workspace,
        project_id,
        ("JobSucceeded", {"job_id": good.id, "summary": {"added": 40, "duplicates": 2}}),
    )
    bad = commands.request_import(ui_workspace, project_id, str(ui_workspace.root), actor="ui")
    append_job_events(
        ui_workspace, project_id, ("JobFailed", {"job_id": bad.id, "error": "corrupt zip"})
    )
    _progress, summary = jobs_update(meta_of(project_id))
    failed, last_good = summary
    assert failed.color == "danger" and "corrupt zip" in text(failed)
    assert "Last successful import" in text(last_good)
    assert "40" in text(last_good) and "added" in text(last_good)
    # A later success is the last import again, shown alone.
    again = commands.request_import(ui_workspace, project_id, str(ui_workspace.root), actor="ui")
    append_job_events(
        ui_workspace,
        project_id,
        ("JobSucceeded", {"job_id": again.id, "summary": {"added": 3}}),
    )
    _progress, summary = jobs_update(meta_of(project_id))
    (only,) = summary
    assert "Last import" in text(only) and "Last successful" not in text(only)


def test_summary_of_a_real_import_with_duplicates_and_skipped_files(
    ui_workspace: Workspace, ui_state: AppState, tmp_path: Path
) -> None:
    project_id = new_project(ui_workspace)
    source = tmp_path / "digits"
    write_digits_imagefolder(source, n_per_class=2)
    (source / "3" / "broken.png").write_bytes(b"not a png")
    first = sorted((source / "3").glob("*.png"))[0]
    (source / "3" / "zz-copy.png").write_bytes(first.read_bytes())
    job_id = import_with_worker(ui_workspace, project_id, source)
    progress, summary = jobs_update(meta_of(project_id))
    assert progress == []
    shown = text(summary)
    assert "Last import" in shown and "digits" in shown and "Image folder" in shown
    figures = {
        label: text(
            next(
                c
                for c in walk(summary)
                if f"dataset-summary-{label}" in (getattr(c, "className", "") or "")
            )
        )
        for label in ("added", "duplicates", "skipped")
    }
    assert figures == {"added": "20 added", "duplicates": "1 duplicates", "skipped": "1 skipped"}
    assert "Why 1 file was skipped" in shown
    assert "broken.png" in shown
    grid_now = grid(project_id)
    assert grid_now["count"] == "20 images match"
    assert job_id


# ---------------------------------------------------------------------- time travel
def test_time_travel_is_read_only_and_shows_the_past(
    page: ModuleType, ui_workspace: Workspace, ui_state: AppState
) -> None:
    project_id = new_project(ui_workspace)
    ids = add_fake_images(ui_workspace, project_id, 5)
    seq_before = len(events(ui_workspace, project_id))
    assert change_label(meta_of(project_id), ids[0], "bird", None, None).ok
    late_images = [
        {
            "image_id": "img-10000000",
            "sha256": "f" * 64,
            "ext": "jpg",
            "filename": "late.jpg",
            "width": 8,
            "height": 8,
            "size_bytes": 10,
            "label": "cat",
        }
    ]
    EventLog(ui_workspace.events_path(project_id)).append(
        "ImagesAdded", {"images": late_images}, actor="job"
    )
    tree = page.layout(project_id=project_id, at=str(seq_before))
    banner = find(tree, "time-travel-banner")
    assert banner is not None and f"#{seq_before}" in text(banner)
    assert find(tree, "time-travel-back").href == f"/project/{project_id}/dataset"
    for absent in ("dataset-import", "dataset-source", "dataset-import-collapse"):
        assert find(tree, absent) is None, absent
    assert thumbs(find(tree, "dataset-grid").children) == ids
    assert find(tree, "dataset-meta").data["at"] == seq_before
    meta = meta_of(project_id, at=seq_before)
    past = grid_update(meta.to_store(), "cat", None, None, None, 1)
    assert thumbs(past[0]) == [ids[0], ids[3]]  # ids[0] was still a cat then
    body, _, _, _ = detail_update(meta, ids[0])
    assert find(body, "dataset-label-editor") is None
    assert "cat" in text(find(body, "dataset-detail-label"))
    assert jobs_update(meta) == ([], [])
    now = grid_update(meta_of(project_id).to_store(), None, None, None, None, 1)
    assert len(thumbs(now[0])) == 6


def test_time_travel_to_an_unknown_event(page: ModuleType, ui_workspace: Workspace) -> None:
    project_id = new_project(ui_workspace)
    tree = page.layout(project_id=project_id, at="999")
    assert "No event #999 in this project" in text(tree)
    assert find(page.layout(project_id=project_id, at="garbage"), "dataset-import") is not None


def test_time_travel_before_any_image_shows_an_empty_past(
    page: ModuleType, ui_workspace: Workspace
) -> None:
    project_id = new_project(ui_workspace)
    add_fake_images(ui_workspace, project_id, 3)
    tree = page.layout(project_id=project_id, at="1")
    assert "No images yet at this point" in text(find(tree, "dataset-empty"))


# ---------------------------------------------------------------------- histogram
def test_histogram_counts_classes_and_subsets(
    page: ModuleType, ui_workspace: Workspace, ui_state: AppState
) -> None:
    project_id = new_project(ui_workspace)
    add_fake_images(ui_workspace, project_id, 31, unlabeled_every=10)
    meta = meta_of(project_id).to_store()
    figure = page.update_histogram(3, "dark", None, meta)
    bar = figure.data[0]
    assert list(bar.y) == [*CLASSES, "(unlabeled)"]
    assert list(bar.x) == [9, 9, 9, 4]
    assert figure.layout.template.layout.paper_bgcolor is not None
    commands.create_split(ui_workspace, project_id, "s", actor="ui")
    stacked = page.update_histogram(4, "light", "s", meta)
    assert [trace.name for trace in stacked.data] == ["Train", "Validation", "Test"]
    totals = [sum(t.x[i] for t in stacked.data) for i in range(3)]
    assert totals == [9, 9, 9]
    assert stacked.layout.barmode == "stack"


def test_histogram_of_regression_values_and_of_nothing(
    ui_workspace: Workspace, ui_state: AppState
) -> None:
    project_id = new_project(ui_workspace, task="regression", name="Sizes")
    assert (
        "No images yet"
        in histogram_figure(ui_state.view(project_id, "dataset"), "regression", None)
        .layout.annotations[0]
        .text
    )
    add_fake_images(ui_workspace, project_id, 41, values=True, unlabeled_every=20)
    figure = histogram_figure(ui_state.view(project_id, "dataset"), "regression", "light")
    assert sum(figure.data[0].y) == 38
    assert "3 images without a value" in figure.layout.title.text
    centres, counts, width = value_bins([0.0, 1.0, 2.0, 2.0], bins=2)
    assert (centres, counts, width) == ([0.5, 1.5], [1, 3], 1.0)
    assert value_bins([5.0, 5.0]) == ([5.0], [2], 1.0)


# ---------------------------------------------------------------------- upload status
def test_upload_status_messages() -> None:
    assert upload_status(None) is None
    error = upload_status({"error": "big.zip is 2.0 GB: uploads are limited to 1.0 GB"})
    assert error.color == "danger" and "limited to 1.0 GB" in text(error)
    done = upload_status(
        {"filename": "digits.zip", "files": 1500, "unpacked_bytes": 902_000, "source": "/x"}
    )
    assert done.color == "success" and "1,500 files" in text(done) and "digits.zip" in text(done)
