"""The History page lists the events this version does not read, and shows a damaged log."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aistudio.workspace import Workspace
from events import Event, EventLog
from ui.components import history_view as hv
from ui.state import init_state

PROJECT = "proj-0000abcd"


def _texts(component: Any) -> str:
    if component is None:
        return ""
    if isinstance(component, str | int | float):
        return str(component)
    if isinstance(component, list | tuple):
        return " ".join(_texts(c) for c in component)
    return _texts(getattr(component, "children", None))


def _text(component: Any) -> str:
    return " ".join(_texts(component).split())


def _find(component: Any, wanted: str) -> Any:
    """The component whose id is ``wanted`` in a tree, or None."""
    if isinstance(component, list | tuple):
        for child in component:
            found = _find(child, wanted)
            if found is not None:
                return found
        return None
    if not hasattr(component, "to_plotly_json"):
        return None
    if getattr(component, "id", None) == wanted:
        return component
    return _find(getattr(component, "children", None), wanted)


def _project(workspace: Workspace) -> Path:
    workspace.project_dir(PROJECT).mkdir(parents=True)
    path = workspace.events_path(PROJECT)
    data = {"project_id": PROJECT, "name": "Pets", "task": "classification", "description": ""}
    EventLog(path).append("ProjectCreated", data, actor="cli")
    return path


def _raw(path: Path, event_type: str, v: int, data: dict) -> Event:
    seq = EventLog(path).last_seq() + 1
    event = Event(
        seq, f"evt-{seq:016x}", "2026-01-01T00:00:00.000Z", event_type, v, "script", None, data
    )
    with path.open("ab") as handle:
        handle.write(event.to_line())
    return event


def test_events_not_read_by_this_version_are_listed(workspace: Workspace) -> None:
    path = _project(workspace)
    training = {"experiment_id": "exp-0000beef", "name": "future", "config": {}}
    _raw(path, "TrainingRequested", 2, training)
    _raw(path, "ProjectRenamed", 1, {"title": "no name"})
    init_state(workspace)

    page = hv.history_layout(PROJECT)
    notice = _find(page, "history-skipped")
    text = _text(notice)
    assert "2 events of this log not read by this version" in text
    assert "not read by this version: seq 2, TrainingRequested v2 is newer" in text
    assert "not read by this version: seq 3, invalid for its schema: ProjectRenamed" in text
    assert "TrainingRequested #2" in text, "a link that selects the event"
    # The rest of the page is there as usual.
    assert _find(page, "history-table") is not None


def test_no_notice_without_skipped_events(workspace: Workspace) -> None:
    _project(workspace)
    init_state(workspace)
    assert _text(_find(hv.history_layout(PROJECT), "history-skipped")) == ""


def test_a_log_damaged_from_the_start_shows_its_damage(workspace: Workspace) -> None:
    path = _project(workspace)
    EventLog(path).append("ProjectRenamed", {"name": "Pets 2"}, actor="cli")
    first, second = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(first + b"{garbage\n" + second)
    init_state(workspace)
    text = _text(hv.history_layout(PROJECT))
    assert "This project's log is damaged" in text and "line 2" in text
