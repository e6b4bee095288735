"""Commands: validation against the project's state; refusals append nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from aistudio import commands
from aistudio.commands import CommandError
from aistudio.workspace import Workspace
from events import EventLog
from tests.helpers import events_of, make_project


def test_create_project_validates_name_and_task(workspace: Workspace) -> None:
    project_id = make_project(workspace, "Cats")
    first = events_of(workspace, project_id)[0]
    assert first.type == "ProjectCreated" and first.seq == 1 and first.actor == "cli"
    with pytest.raises(CommandError, match="already exists"):
        commands.create_project(workspace, "  cats ", "classification")
    with pytest.raises(CommandError, match="unknown task"):
        commands.create_project(workspace, "Dogs", "poetry")
    with pytest.raises(CommandError, match="name"):
        commands.create_project(workspace, "", "classification")
    with pytest.raises(CommandError, match="control characters"):
        commands.create_project(workspace, "bad\x07name", "classification")
    assert workspace.project_ids() == [project_id]


def test_resolve_project_by_id_or_unique_name(workspace: Workspace) -> None:
    a = make_project(workspace, "A")
    make_project(workspace, "B")
    assert commands.resolve_project(workspace, "A") == a
    assert commands.resolve_project(workspace, a) == a
    with pytest.raises(CommandError, match="no project"):
        commands.resolve_project(workspace, "C")
    commands.delete_project(workspace, a)
    with pytest.raises(CommandError, match="no project"):
        commands.resolve_project(workspace, "A")
    make_project(workspace, "A")  # the name is free again


def test_import_source_must_exist(workspace: Workspace, tmp_path: Path) -> None:
    project_id = make_project(workspace)
    before = workspace.events_path(project_id).read_bytes()
    with pytest.raises(CommandError, match="does not exist"):
        commands.request_import(workspace, project_id, tmp_path / "missing")
    with pytest.raises(CommandError, match="unknown format"):
        commands.request_import(workspace, project_id, tmp_path, "coco-ish")
    assert workspace.events_path(project_id).read_bytes() == before
    event = commands.request_import(workspace, project_id, tmp_path)
    assert event.data["source"] == str(tmp_path.resolve())


def test_submit_refuses_job_only_and_unknown_types(workspace: Workspace) -> None:
    project_id = make_project(workspace)
    for event_type in ("ImagesAdded", "JobSucceeded", "ProjectCreated"):
        with pytest.raises(CommandError, match="appended by jobs"):
            commands.submit(workspace, project_id, event_type, {})
    with pytest.raises(CommandError, match="unknown event type"):
        commands.submit(workspace, project_id, "Nope", {})
    with pytest.raises(CommandError, match="JSON object"):
        commands.submit(workspace, project_id, "ProjectRenamed", ["x"])
    event = commands.submit(workspace, project_id, "ProjectRenamed", {"name": "New"})
    assert event.actor == "script"


def test_label_change_needs_existing_image(workspace: Workspace) -> None:
    project_id = make_project(workspace)
    with pytest.raises(CommandError, match="no image"):
        commands.change_label(workspace, project_id, "img-00000000", label="x")


def test_split_needs_images_and_unique_name(workspace: Workspace, tmp_path: Path) -> None:
    from tests.helpers import digits_folder

    project_id = make_project(workspace)
    with pytest.raises(CommandError, match="no images"):
        commands.create_split(workspace, project_id)
    command = commands.request_import(workspace, project_id, digits_folder(tmp_path, 2))
    from aistudio.worker.service import Worker

    Worker(workspace).run(once=True)
    event = commands.create_split(workspace, project_id, "s1", 0.5, 0.25, 0.25, seed=3)
    assert event.data["dataset_seq"] == event.seq - 1
    with pytest.raises(CommandError, match="already exists"):
        commands.create_split(workspace, project_id, "s1")
    commands.delete_split(workspace, project_id, "s1")
    with pytest.raises(CommandError, match="no split"):
        commands.delete_split(workspace, project_id, "s1")
    again = commands.create_split(workspace, project_id, "s1", 0.5, 0.25, 0.25, seed=3)
    assert again.data["assignments"] == event.data["assignments"]
    assert command.id  # the import ran
    assert EventLog(workspace.events_path(project_id)).last_seq() == again.seq
