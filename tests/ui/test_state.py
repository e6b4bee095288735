"""``AppState``: one damaged project, or one holding events of a newer version, never stops the
pages of another project nor the project menu; the damage and the skipped events are exposed."""

from __future__ import annotations

from pathlib import Path

from aistudio.workspace import Workspace
from events import Event, EventLog
from ui.state import AppState

TRAINING_V2 = {"experiment_id": "exp-0000beef", "name": "future", "config": {}}  # no split


def _project(workspace: Workspace, project_id: str, name: str) -> Path:
    workspace.project_dir(project_id).mkdir(parents=True)
    path = workspace.events_path(project_id)
    data = {"project_id": project_id, "name": name, "task": "classification", "description": ""}
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


def _damage_line_2(path: Path) -> None:
    """Garbage between the first line and a valid second one (damage mid-file)."""
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(lines[0] + b"{not json\n" + b"".join(lines[1:]))


def test_a_newer_event_and_a_damaged_log_break_no_other_project(workspace: Workspace) -> None:
    healthy = _project(workspace, "proj-0000000a", "Healthy")
    newer = _project(workspace, "proj-0000000b", "Newer")
    damaged = _project(workspace, "proj-0000000c", "Damaged")
    future = _raw(newer, "TrainingRequested", 2, TRAINING_V2)
    EventLog(newer).append("ProjectRenamed", {"name": "Newer still"}, actor="cli")
    EventLog(damaged).append("ProjectRenamed", {"name": "Damaged too"}, actor="cli")
    _damage_line_2(damaged)

    state = AppState(workspace)
    assert [p.name for p in state.project_list()] == ["Healthy", "Newer still"]
    assert state.damage("proj-0000000c") is not None
    assert "line 2" in state.damage("proj-0000000c")
    assert state.damaged() == {"proj-0000000c": state.damage("proj-0000000c")}
    assert state.damage("proj-0000000a") is None and state.damage("proj-0000000b") is None
    assert state.view("proj-0000000c", "dataset") is None
    assert state.live_project("proj-0000000c") is None

    # The project with the newer event: every view reads, the event is listed as skipped.
    assert state.view("proj-0000000b", "experiments").experiments == {}
    assert state.view("proj-0000000b", "jobs").get(future.id).status == "pending"
    (skipped,) = state.skipped("proj-0000000b")
    assert (skipped.seq, skipped.id, skipped.type) == (2, future.id, "TrainingRequested")
    assert "newer" in skipped.reason
    assert state.view("proj-0000000b", "experiments", at=2).skipped == (skipped,)
    assert state.event_at("proj-0000000b", 2).v == 2
    assert state.skipped("proj-0000000a") == ()
    assert state.view("proj-0000000a", "project").name == "Healthy"
    assert healthy.exists()


def test_a_project_damaged_after_it_was_read_keeps_its_views_until_repaired(
    workspace: Workspace,
) -> None:
    path = _project(workspace, "proj-0000000d", "Cats")
    EventLog(path).append("ProjectRenamed", {"name": "Cats 2"}, actor="cli")
    state = AppState(workspace)
    assert [p.name for p in state.project_list()] == ["Cats 2"]
    good = path.read_bytes()

    # By hand: a garbage line, then a valid event after it.
    with path.open("ab") as handle:
        handle.write(b"garbage\n")
    _raw(path, "ProjectRenamed", 1, {"name": "after the garbage"})  # seq 3 after line 3
    assert [p.name for p in state.project_list()] == ["Cats 2"], "the views it last read"
    assert "line 3" in state.damage("proj-0000000d")
    assert state.view("proj-0000000d", "project").name == "Cats 2"
    assert state.event_at("proj-0000000d", 2).data == {"name": "Cats 2"}
    assert state.event_at("proj-0000000d", 3) is None

    # Repaired in place (the garbage cut): it reads on.
    with path.open("r+b") as handle:
        handle.truncate(len(good))
    EventLog(path).append("ProjectRenamed", {"name": "Cats 3"}, actor="cli")
    assert [p.name for p in state.project_list()] == ["Cats 3"]
    assert state.damage("proj-0000000d") is None
