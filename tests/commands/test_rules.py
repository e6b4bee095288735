"""One set of rules for every writer: submit, the dedicated commands and the worker's re-check.

Each case here was accepted before the rules table (aistudio/commands/rules.py): an import of
the working directory from ``{"sauce": "/tmp"}``, a rename to a taken name, a relabel of an image
that does not exist, an unknown import option dropped silently.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from aistudio import commands
from aistudio.commands import CommandError
from aistudio.commands.rules import JOB_ONLY_TYPES, RULES, USE_INSTEAD
from aistudio.worker.service import Worker
from aistudio.workspace import Workspace
from events import EventLog, registry
from tests.helpers import digits_folder, events_of, make_project, terminal_events


def _refused(workspace: Workspace, project_id: str, match: str, call: Callable[[], Any]) -> None:
    """``call`` raises a CommandError matching ``match`` and appends nothing."""
    before = workspace.events_path(project_id).read_bytes()
    with pytest.raises(CommandError, match=match):
        call()
    assert workspace.events_path(project_id).read_bytes() == before


def test_every_event_type_is_submittable_job_only_or_refused_with_a_reason() -> None:
    names = set(registry.names())
    assert set(RULES) | JOB_ONLY_TYPES | set(USE_INSTEAD) == names
    assert not (set(RULES) & JOB_ONLY_TYPES) and not (set(RULES) & set(USE_INSTEAD))
    assert all(name in RULES for name in registry.commands())


@pytest.mark.parametrize(
    ("data", "match"),
    [
        ({"sauce": "/tmp"}, "unknown field 'sauce'"),
        ({"source": "/tmp", "sauce": 1}, "unknown field 'sauce'"),
        ({"source": ""}, "source"),
        ({"source": "   "}, "must not be empty"),
        ({"source": "."}, "not an absolute path"),
        ({"source": "relative/folder"}, "not an absolute path"),
        ({"source": 5}, "source"),
        ({"source": "/tmp", "options": {"recursive": True}}, "unknown import option 'recursive'"),
        ({"source": "/tmp", "format": "coco-ish"}, "format"),
        ({"source": "/no/such/folder"}, "does not exist"),
        ({"source": "/tmp/caf\udce9"}, "valid UTF-8"),
    ],
)
def test_submitted_imports_follow_the_import_rules(
    workspace: Workspace, data: dict[str, Any], match: str
) -> None:
    project_id = make_project(workspace)
    _refused(
        workspace,
        project_id,
        match,
        lambda: commands.submit(workspace, project_id, "ImportRequested", data),
    )


def test_a_submitted_import_is_stored_resolved(workspace: Workspace, tmp_path: Path) -> None:
    project_id = make_project(workspace)
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real")
    event = commands.submit(
        workspace, project_id, "ImportRequested", {"source": str(tmp_path / "link")}
    )
    assert event.data == {
        "source": str((tmp_path / "real").resolve()),
        "format": "auto",
        "options": {},
    }


def test_relative_sources_need_a_stated_base(workspace: Workspace, tmp_path: Path) -> None:
    project_id = make_project(workspace)
    (tmp_path / "data").mkdir()
    _refused(
        workspace,
        project_id,
        "not an absolute path",
        lambda: commands.request_import(workspace, project_id, "data"),
    )
    event = commands.request_import(workspace, project_id, "data", base=tmp_path)
    assert event.data["source"] == str((tmp_path / "data").resolve())


def test_rename_by_submit_keeps_names_unique(workspace: Workspace) -> None:
    a = make_project(workspace, "A")
    make_project(workspace, "B")
    _refused(
        workspace,
        a,
        "already exists",
        lambda: commands.submit(workspace, a, "ProjectRenamed", {"name": " b "}),
    )
    assert commands.submit(workspace, a, "ProjectRenamed", {"name": "C"}).data == {"name": "C"}


def test_label_and_removal_by_submit_need_an_existing_image(workspace: Workspace) -> None:
    project_id = make_project(workspace)
    ghost = "img-0000beef"
    for event_type, data in (
        ("LabelChanged", {"image_id": ghost, "label": "cat"}),
        ("ImageRemoved", {"image_id": ghost}),
    ):
        _refused(
            workspace,
            project_id,
            "no image",
            lambda t=event_type, d=data: commands.submit(workspace, project_id, t, d),
        )


def test_a_label_change_fits_the_task(workspace: Workspace, tmp_path: Path) -> None:
    project_id = make_project(workspace)
    commands.request_import(workspace, project_id, digits_folder(tmp_path, 1), "imagefolder")
    Worker(workspace).run(once=True)
    image_id = next(iter(commands.dataset_view(workspace, project_id).images))
    _refused(
        workspace,
        project_id,
        "class label, not a value",
        lambda: commands.submit(
            workspace, project_id, "LabelChanged", {"image_id": image_id, "value": 3.0}
        ),
    )
    event = commands.submit(
        workspace, project_id, "LabelChanged", {"image_id": image_id, "label": "7"}
    )
    assert event.data["label"] == "7"


def test_split_deletion_by_submit_needs_the_split(workspace: Workspace) -> None:
    project_id = make_project(workspace)
    _refused(
        workspace,
        project_id,
        "no split named",
        lambda: commands.submit(workspace, project_id, "SplitDeleted", {"name": "nope"}),
    )
    _refused(
        workspace,
        project_id,
        "aistudio split",
        lambda: commands.submit(workspace, project_id, "SplitCreated", {}),
    )


def test_deeply_nested_data_is_refused(workspace: Workspace) -> None:
    project_id = make_project(workspace)
    deep: Any = "x"
    for _ in range(100):
        deep = {"a": deep}
    _refused(
        workspace,
        project_id,
        "nests deeper",
        lambda: commands.submit(workspace, project_id, "TrainingRequested", {"config": deep}),
    )


@pytest.mark.parametrize("source", [".", "relative", "/no/such/place"])
@pytest.mark.parametrize("defaults", [True, False])
def test_the_worker_rechecks_raw_commands(
    workspace: Workspace, source: str, defaults: bool
) -> None:
    project_id = make_project(workspace)
    data: dict[str, Any] = {"source": source}
    if not defaults:  # written out in full, or leaving the schema's defaults out
        data |= {"format": "auto", "options": {}}
    command = EventLog(workspace.events_path(project_id)).append(
        "ImportRequested", data, actor="script"
    )
    Worker(workspace).run(once=True)
    ends = terminal_events(workspace, project_id, command.id)
    assert [e.type for e in ends] == ["JobFailed"]
    assert ends[0].data["reason"] == "invalid_command"
    assert "absolute path" in ends[0].data["error"] or "does not exist" in ends[0].data["error"]
    assert not [e for e in events_of(workspace, project_id) if e.type == "ImagesAdded"]


def test_the_worker_runs_raw_commands_that_keep_the_rules(
    workspace: Workspace, tmp_path: Path
) -> None:
    project_id = make_project(workspace)
    folder = digits_folder(tmp_path, 1)
    command = EventLog(workspace.events_path(project_id)).append(
        "ImportRequested",
        {"source": os.fspath(folder.resolve()), "format": "imagefolder", "options": {}},
        actor="script",
    )
    Worker(workspace).run(once=True)
    ends = terminal_events(workspace, project_id, command.id)
    assert [e.type for e in ends] == ["JobSucceeded"]


def test_a_source_named_with_bytes_that_are_not_utf8_is_refused_in_words(
    workspace: Workspace,
) -> None:
    project_id = make_project(workspace)
    _refused(
        workspace,
        project_id,
        r"source '/tmp/caf\\\\xe9' is not valid UTF-8",
        lambda: commands.request_import(workspace, project_id, "/tmp/caf\udce9"),
    )
