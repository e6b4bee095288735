"""History (issue 11, item 6): whole timestamps, and progress events hidden by a switch that is
on by default (picking their type in the type filter still shows them)."""

from __future__ import annotations

import random
import sys
from typing import Any

import dash
import pytest

from aistudio import commands
from aistudio.workspace import Workspace
from events import EventLog, NewEvent
from tests.ui.layout_tree import by_id, text_of
from ui.components import history_view as hv
from ui.components.history_log import EventIndex, Query
from ui.components.history_summary import PROGRESS_TYPES, is_progress
from ui.components.timefmt import full_time


@pytest.fixture
def busy_project(ui_workspace: Workspace) -> tuple[Workspace, str, list[int]]:
    """A project whose log holds a job's progress between renames: (workspace, id, the seqs
    of its JobProgress events)."""
    created = commands.create_project(ui_workspace, "Busy", "classification", actor="ui")
    project_id = str(created.data["project_id"])
    log = EventLog(ui_workspace.events_path(project_id))
    new = []
    for n in range(30):
        if n % 3 == 0:
            new.append(NewEvent("ProjectRenamed", {"name": f"Busy {n}"}, actor="cli"))
        else:
            data = {"job_id": created.id, "done": n, "total": 30, "message": "training"}
            new.append(NewEvent("JobProgress", data, actor="job", causation=created.id))
    log.append_many(new)
    progress = [e.seq for e in log.read() if e.type == "JobProgress"]
    return ui_workspace, project_id, progress


def test_full_time_is_the_whole_timestamp_to_the_millisecond() -> None:
    assert full_time("2026-11-28T12:00:00.123Z") == "2026-11-28 12:00:00.123"
    assert full_time("2026-11-28T12:00:00Z") == "2026-11-28 12:00:00.000"
    assert full_time("2026-11-28T13:30:05.5+01:30") == "2026-11-28 12:00:05.500"  # as UTC
    assert full_time("not a time") == "not a time"
    assert full_time(None) == "—" and full_time("") == "—"


def test_rows_and_inspector_show_whole_timestamps(
    busy_project: tuple[Workspace, str, list[int]],
) -> None:
    workspace, project_id, _progress = busy_project
    events = {e.seq: e for e in EventLog(workspace.events_path(project_id)).read()}
    table = hv.history_table(project_id)
    assert table is not None
    rows = hv.table_rows(table, None)
    for row in rows:
        seq = row.id["seq"]
        time_cell = row.children[1]
        assert time_cell.children == full_time(events[seq].ts)
        assert time_cell.title == events[seq].ts
        assert len(time_cell.children) == len("2026-11-28 12:00:00.123")
    inspection = hv.inspect_event(project_id, 1)
    body = text_of(hv.inspector_body(inspection, 1))
    assert f"{full_time(events[1].ts)} UTC" in body


def test_progress_events_are_hidden_by_a_switch_on_by_default(
    busy_project: tuple[Workspace, str, list[int]],
) -> None:
    _workspace, project_id, progress = busy_project
    assert frozenset({"JobProgress"}) == PROGRESS_TYPES and is_progress("JobProgress")
    assert not is_progress("JobSucceeded") and not is_progress("EpochCompleted")
    page = hv.history_layout(project_id)
    (switch,) = by_id(page, hv.HIDE_PROGRESS)
    assert switch.value is True
    assert (switch.persistence, switch.persistence_type) == (project_id, "session")

    total = 31
    hidden = hv.build_query(None, None, hide_progress=True)
    table = hv.history_table(project_id, hidden)
    assert table is not None and table.matching == total - len(progress)
    assert all(row.type != "JobProgress" for row in table.rows)
    assert table.hidden_progress == len(progress)
    assert hv.count_text(table) == (
        f"Showing 1\u2013{total - len(progress)} of {total - len(progress)} events"
        f" · {len(progress)} progress events hidden"
    )
    shown = hv.history_table(project_id, hv.build_query(None, None, hide_progress=False))
    assert shown is not None and shown.matching == total and shown.hidden_progress == 0
    assert "hidden" not in hv.count_text(shown)

    # Picking the type in the type filter shows them, switch or not.
    asked = hv.history_table(project_id, hv.build_query(["JobProgress"], None, hide_progress=True))
    assert asked is not None and [r.seq for r in asked.rows] == progress[::-1]
    assert asked.hidden_progress == 0
    # With other filters: the hidden count is of the events those filters keep.
    ranged = hv.history_table(project_id, hv.build_query(None, None, 2, 7, hide_progress=True))
    assert ranged is not None
    assert [r.seq for r in ranged.rows] == [s for s in range(7, 1, -1) if s not in progress]
    assert ranged.hidden_progress == len([s for s in progress if 2 <= s <= 7])
    actors = hv.history_table(project_id, hv.build_query(None, ["job"], hide_progress=True))
    assert actors is not None and actors.matching == 0
    assert actors.hidden_progress == len(progress)
    # A selected progress event hidden by the switch is said to be hidden.
    selected = hv.history_table(project_id, hidden, selected=progress[0])
    assert selected is not None and selected.hidden_selection == progress[0]


def test_the_switch_drives_the_table_callback_and_clear_turns_it_back_on(
    dash_app: dash.Dash, busy_project: tuple[Workspace, str, list[int]]
) -> None:
    _workspace, project_id, progress = busy_project
    client = dash_app.server.test_client()
    client.get("/")  # the first request registers the pages' callbacks
    deps = client.get("/_dash-dependencies").json
    table = next(d for d in deps if "history-tbody.children" in d["output"])
    assert {"id": hv.HIDE_PROGRESS, "property": "value"} in table["inputs"]
    clear = next(d for d in deps if "history-filter-to.value" in d["output"])
    assert f"{hv.HIDE_PROGRESS}.value" in clear["output"]
    assert hv.HIDE_PROGRESS in hv.FILTER_IDS
    # Turning the switch off goes back to page 1 and shows every event.
    query = hv.build_query(None, None, hide_progress=False)
    out = hv.table_update(project_id, hv.HIDE_PROGRESS, query, 3, None, 31)
    tbody, _pages, page, *_rest = out
    assert page == 1 and len(tbody) == 31
    module = next(
        m
        for m in dash.page_registry.values()
        if (m.get("path_template") or "").endswith("/history")
    )
    assert sys.modules[module["module"]].clear_filters(1) == ([], [], None, None, True)
    assert len(progress) < 31  # the switch had events to hide


def test_hidden_queries_extend_incrementally_as_a_full_filter_would(tmp_path: Any) -> None:
    """The cached result of a query that hides progress, extended with each new batch, equals
    the events a full read keeps."""
    rng = random.Random(7)
    path = tmp_path / "events.jsonl"
    log = EventLog(path)
    log.append(
        "ProjectCreated",
        {"project_id": "proj-0000abcd", "name": "P", "task": "classification", "description": ""},
        actor="cli",
    )
    job = next(iter(log.read())).id
    index = EventIndex(path)
    queries = [
        Query(hidden_types=PROGRESS_TYPES),
        Query(hidden_types=PROGRESS_TYPES, actors=frozenset({"job"})),
        Query(hidden_types=PROGRESS_TYPES, types=frozenset({"JobProgress", "ProjectRenamed"})),
        Query(hidden_types=PROGRESS_TYPES, seq_from=5, seq_to=60),
    ]
    for _round in range(6):
        batch = []
        for n in range(rng.randint(1, 25)):
            if rng.random() < 0.6:
                data = {"job_id": job, "done": n, "message": "x"}
                batch.append(NewEvent("JobProgress", data, actor="job", causation=job))
            else:
                batch.append(NewEvent("ProjectRenamed", {"name": f"P{n}"}, actor="ui"))
        log.append_many(batch)
        index.refresh()
        events = list(log.read())
        for query in queries:
            expected = [
                e.seq
                for e in reversed(events)
                if (e.type in query.types if query.types else e.type != "JobProgress")
                and (not query.actors or e.actor in query.actors)
                and (query.seq_from or 1) <= e.seq <= (query.seq_to or e.seq)
            ]
            assert list(index.query(query)) == expected, query
