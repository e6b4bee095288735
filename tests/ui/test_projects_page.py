"""The Projects page: list, create, rename and delete, through its functions and callbacks."""

from __future__ import annotations

import sys
from datetime import datetime, timedelta, timezone
from types import ModuleType
from typing import Any

import dash
import pytest
from dash.exceptions import PreventUpdate

from aistudio import commands
from aistudio.workspace import Workspace
from events.schemas.common import TASKS
from projections.project import ProjectView
from tests.ui.layout_tree import by_id, text_of, walk
from ui.state import AppState


@pytest.fixture
def page(dash_app: dash.Dash, ui_state: AppState) -> ModuleType:
    """The page module as Dash loaded it (importing it again would register it twice).

    Dash's ``@callback`` returns the function itself, so callbacks are called directly.
    """
    module = next(p["module"] for p in dash.page_registry.values() if p["path"] == "/")
    return sys.modules[module]


def links(node: Any) -> dict[str, str]:
    """Link text -> href of every plain-text link in a tree."""
    return {
        n.children: n.href
        for n in walk(node)
        if type(n).__name__ == "Link" and isinstance(getattr(n, "children", None), str)
    }


def test_empty_workspace_shows_the_form_and_a_first_project_hint(page: ModuleType) -> None:
    tree = page.layout()
    assert "Create your first project" in text_of(tree)
    for stable_id in (
        "projects-new-name",
        "projects-new-task",
        "projects-new-description",
        "projects-create",
        "projects-list",
    ):
        assert len(by_id(tree, stable_id)) == 1, stable_id
    (task,) = by_id(tree, "projects-new-task")
    assert [o["value"] for o in task.options] == list(TASKS)
    assert "Object detection" in [o["label"].split(" (")[0] for o in task.options]
    assert task.value == "classification"


def test_created_project_is_listed_with_its_task_figures_and_link(
    page: ModuleType, ui_workspace: Workspace
) -> None:
    result = page.create_project("  Screw defects ", "anomaly_detection", "Find scratches")
    assert result.error is None and result.name == "Screw defects"
    tree = page.layout()
    text = text_of(tree)
    assert links(tree)["Screw defects"] == f"/project/{result.project_id}/dataset"
    assert "Anomaly detection" in text
    assert "Find scratches" in text
    assert "0 images" in text
    assert "active just now" in text
    assert "1 project · 0 images" in text
    views = commands.project_views(ui_workspace)
    assert views[result.project_id].task == "anomaly_detection"
    assert commands.events_of(ui_workspace, result.project_id)[0].actor == "ui"


@pytest.mark.parametrize(
    ("name", "description", "field", "message"),
    [
        ("", "", "name", "Enter a name."),
        ("   ", "", "name", "Enter a name."),
        ("x" * 81, "", "name", "The name is too long: 80 characters at most."),
        ("DIGITS", "", "name", "A project named 'DIGITS' already exists."),
        ("Other", "d" * 2001, "description", "The description is too long"),
    ],
)
def test_create_refusals_are_shown_on_the_field_and_append_nothing(
    page: ModuleType,
    ui_workspace: Workspace,
    name: str,
    description: str,
    field: str,
    message: str,
) -> None:
    commands.create_project(ui_workspace, "Digits", "classification")
    result = page.create_project(name, "classification", description)
    assert result.project_id is None
    assert result.field == field
    assert result.error is not None and result.error.startswith(message)
    assert len(commands.project_views(ui_workspace)) == 1


def test_create_callback_clears_the_form_and_bumps_the_list(
    page: ModuleType, ui_workspace: Workspace
) -> None:
    out = page.on_create(1, 0, "Cars", "detection", "Aerial", 4)
    assert {k: v for k, v in out.items() if k not in ("status", "go_to")} == {
        "name_invalid": False,
        "name_feedback": "",
        "description_invalid": False,
        "description_feedback": "",
        "name": "",
        "description": "",
        "version": 5,
    }
    assert "Cars" in text_of(out["status"]) and "created." in text_of(out["status"])
    (project,) = page.get_state().project_list()
    assert project.name == "Cars" and project.task == "detection"
    # Creating a project takes the person into it, to import.
    assert out["go_to"] == f"/project/{project.project_id}/dataset"

    refused = page.on_create(2, 0, "cars", "detection", "", 5)
    assert refused["name_invalid"] is True
    assert refused["name_feedback"] == "A project named 'cars' already exists."
    assert refused["version"] is dash.no_update  # the list has nothing new to show
    assert refused["go_to"] is dash.no_update  # a refusal stays on the form
    with pytest.raises(PreventUpdate):
        page.on_create(0, 0, "Idle", "detection", "", 5)


def test_rename_dialog_opens_refuses_and_renames(page: ModuleType, ui_workspace: Workspace) -> None:
    pid = str(commands.create_project(ui_workspace, "Digits", "classification").data["project_id"])
    commands.create_project(ui_workspace, "Cars", "detection")
    opener = {"type": "projects-rename-open", "index": pid}

    with pytest.raises(PreventUpdate):  # a card merely re-rendered (n_clicks 0)
        page.rename_dialog(opener, 0, None, None)
    is_open, value, target, invalid, _, renamed = page.rename_dialog(opener, 1, None, None)
    assert (is_open, value, target, invalid, renamed) == (True, "Digits", pid, False, False)

    is_open, _, _, invalid, feedback, renamed = page.rename_dialog(
        "projects-rename-save", 1, pid, "cars"
    )
    assert (is_open, invalid, renamed) == (True, True, False)
    assert feedback == "A project named 'cars' already exists."
    _, _, _, invalid, feedback, _ = page.rename_dialog("projects-rename-save", 2, pid, " ")
    assert invalid and feedback == "Enter a name."

    is_open, _, target, invalid, _, renamed = page.rename_dialog(
        "projects-rename-name", 1, pid, "Handwritten digits"
    )
    assert (is_open, target, invalid, renamed) == (False, None, False, True)
    assert page.get_state().live_project(pid).name == "Handwritten digits"
    assert "Handwritten digits" in links(page.layout())

    closed = page.rename_dialog("projects-rename-cancel", 1, pid, "whatever")
    assert closed[0] is False and closed[2] is None


def test_delete_asks_naming_the_project_then_deletes(
    page: ModuleType, ui_workspace: Workspace
) -> None:
    pid = str(commands.create_project(ui_workspace, "Digits", "classification").data["project_id"])
    opener = {"type": "projects-delete-open", "index": pid}
    is_open, body, target, error, deleted = page.delete_dialog(opener, 1, None)
    assert (is_open, target, error, deleted) == (True, pid, None, False)
    assert "“Digits”" in text_of(body)
    assert page.get_state().live_project(pid) is not None  # asking deletes nothing

    cancelled = page.delete_dialog("projects-delete-cancel", 1, pid)
    assert cancelled[0] is False and cancelled[4] is False
    assert page.get_state().live_project(pid) is not None

    is_open, _, target, error, deleted = page.delete_dialog("projects-delete-confirm", 1, pid)
    assert (is_open, target, error, deleted) == (False, None, None, True)
    assert page.get_state().live_project(pid) is None
    assert "Create your first project" in text_of(page.layout())
    # Deleting it again (another tab was quicker) says so instead of failing.
    assert page.delete_project(pid) == "This project no longer exists."


def test_list_follows_other_tabs_and_skips_unchanged_ticks(
    page: ModuleType, ui_workspace: Workspace
) -> None:
    commands.create_project(ui_workspace, "Digits", "classification")
    tree = page.layout()
    (store,) = by_id(tree, "projects-sig")
    with pytest.raises(PreventUpdate):
        page.refresh_list(1, 0, "activity", "", store.data)

    commands.create_project(ui_workspace, "Made elsewhere", "regression", actor="cli")
    listing, signature, summary = page.refresh_list(2, 0, "activity", "", store.data)
    assert set(links(listing)) == {"Digits", "Made elsewhere"}
    assert summary == "2 projects · 0 images"
    with pytest.raises(PreventUpdate):
        page.refresh_list(3, 0, "activity", "", signature)

    found, _, _ = page.refresh_list(4, 0, "name", "ELSE", signature)
    assert set(links(found)) == {"Made elsewhere"}
    nothing, _, _ = page.refresh_list(5, 0, "name", "zzz", signature)
    assert "No project matches" in text_of(nothing)


def test_sorting_and_search(page: ModuleType) -> None:
    def view(pid: str, name: str, created: str, active: str) -> ProjectView:
        return ProjectView(
            seq=1,
            project_id=pid,
            name=name,
            task="classification",
            created_ts=f"2026-11-{created}T12:00:00.000Z",
            last_activity_ts=f"2026-11-{active}T12:00:00.000Z",
        )

    projects = [
        view("proj-00000001", "beta", "01", "20"),
        view("proj-00000002", "Alpha", "02", "10"),
        view("proj-00000003", "gamma", "03", "05"),
    ]
    names = [p.name for p in page.sorted_projects(projects, "name")]
    assert names == ["Alpha", "beta", "gamma"]
    names = [p.name for p in page.sorted_projects(projects, "created")]
    assert names == ["gamma", "Alpha", "beta"]
    names = [p.name for p in page.sorted_projects(projects, "activity", " A")]
    assert names == ["beta", "Alpha", "gamma"]
    assert [p.name for p in page.sorted_projects(projects, "activity", "amm")] == ["gamma"]


def test_time_ago_and_dates(page: ModuleType) -> None:
    now = datetime(2026, 11, 28, 12, 0, tzinfo=timezone.utc)

    def ago(**delta: float) -> str:
        ts = (now - timedelta(**delta)).isoformat().replace("+00:00", "Z")
        return page.time_ago(ts, now)

    assert ago(seconds=10) == "just now"
    assert ago(seconds=-30) == "just now"  # another machine's clock a little ahead
    assert ago(minutes=3) == "3 min ago"
    assert ago(hours=2, minutes=5) == "2 h ago"
    assert ago(hours=30) == "yesterday"
    assert ago(days=5) == "5 days ago"
    assert ago(days=60) == page.format_date("2026-09-29T12:00:00.000Z")
    assert page.time_ago(None, now) == "never"
    assert page.format_date("not a time") == "—"


def test_friendly_errors(page: ModuleType) -> None:
    for message, words in [
        ("ProjectRenamed: name: must not be empty", "Enter a name."),
        ("ProjectCreated: name: must have at most 80 characters", "The name is too long: 80"),
        ("ProjectCreated: description: must have at most 2000 characters", "2,000 characters"),
    ]:
        assert words in page.friendly_error(message)
    assert page.friendly_error("no project 'x'") == "No project 'x'."
    assert page.error_field("ProjectCreated: description: too long") == "description"
    assert page.task_info("something_new").label == "Something new"
    assert set(page.TASK_INFO) == set(TASKS)  # every task has a label, an icon and a hint


def test_a_project_whose_log_cannot_be_read_is_named_not_hidden(
    page: ModuleType, ui_workspace: Workspace
) -> None:
    good = commands.create_project(ui_workspace, "Good", "classification")
    broken = commands.create_project(ui_workspace, "Broken", "classification")
    broken_id = broken.data["project_id"]
    path = ui_workspace.events_path(broken_id)
    path.write_bytes(b"not json\n" + path.read_bytes())
    tree = page.layout()
    notice = by_id(tree, "projects-damaged")
    assert broken_id in text_of(notice) and "line 1" in text_of(notice)
    assert "Good" in text_of(tree) and good.data["project_id"] not in text_of(notice)


def test_the_new_project_form_marks_tasks_that_cannot_be_trained_yet(page: ModuleType) -> None:
    tree = page.layout()
    (select,) = by_id(tree, "projects-new-task")
    labels = {o["value"]: o["label"] for o in select.options}
    assert not labels["classification"].endswith(page.NOT_TRAINABLE_YET)
    assert not labels["regression"].endswith(page.NOT_TRAINABLE_YET)
    assert not labels["segmentation"].endswith(page.NOT_TRAINABLE_YET)
    assert labels["anomaly_detection"].endswith(page.NOT_TRAINABLE_YET)
    assert "not available yet" in page.task_help("anomaly_detection")
    assert "not available yet" not in page.task_help("classification")
