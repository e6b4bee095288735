"""The History page: table, paging, filters, inspector, causation links, time travel, live updates,
and the incremental event index it reads from."""

from __future__ import annotations

import json
import os
import random
import re
import shutil
from collections import Counter
from pathlib import Path
from typing import Any

import dash
import pytest
from dash.exceptions import PreventUpdate

from aistudio import commands
from aistudio.datasets.demo import write_digits_imagefolder
from aistudio.workspace import Workspace
from events import Event, EventLog, NewEvent
from ui.components import history_view as hv
from ui.components.history_log import EventIndex, Query, event_index
from ui.components.history_summary import category, summary
from ui.state import init_state

TICK = "tick"


# ---------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def imported_template(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A workspace with one project: created, 30 digits imported by the worker, a split."""
    from aistudio.worker.service import Worker

    root = tmp_path_factory.mktemp("history-template")
    workspace = Workspace(root / "workspace")
    workspace.ensure()
    project_id = str(
        commands.create_project(workspace, "Digits", "classification", actor="ui").data[
            "project_id"
        ]
    )
    source = root / "digits"
    write_digits_imagefolder(source, n_per_class=3)
    commands.request_import(workspace, project_id, source, actor="ui")
    Worker(workspace).run(once=True)
    commands.create_split(workspace, project_id, "default", actor="ui")
    return workspace.root, project_id


@pytest.fixture
def project(
    dash_app: dash.Dash, imported_template: tuple[Path, str], tmp_path: Path
) -> tuple[Workspace, str]:
    """A copy of the imported project in a fresh workspace, with the app's state pointed at it."""
    template_root, project_id = imported_template
    shutil.copytree(template_root, tmp_path / "workspace")
    workspace = Workspace(tmp_path / "workspace")
    init_state(workspace)
    return workspace, project_id


def full_read(workspace: Workspace, project_id: str) -> list[Event]:
    return list(EventLog(workspace.events_path(project_id)).read())


def of_type(events: list[Event], event_type: str) -> Event:
    return next(e for e in events if e.type == event_type)


def append_renames(workspace: Workspace, project_id: str, count: int) -> None:
    log = EventLog(workspace.events_path(project_id))
    log.append_many(
        [NewEvent("ProjectRenamed", {"name": f"Digits {i}"}, actor="cli") for i in range(count)]
    )


def row_text(component: Any) -> str:
    """All the text a component tree shows, blanks collapsed."""
    return " ".join(_texts(component).split())


def _texts(component: Any) -> str:
    if component is None:
        return ""
    if isinstance(component, str | int | float):
        return str(component)
    if isinstance(component, list | tuple):
        return " ".join(_texts(c) for c in component)
    return _texts(getattr(component, "children", None))


def find_ids(component: Any) -> list[Any]:
    """Every component id in a tree."""
    found: list[Any] = []
    if isinstance(component, list | tuple):
        for child in component:
            found += find_ids(child)
        return found
    if hasattr(component, "to_plotly_json"):
        if getattr(component, "id", None) is not None:
            found.append(component.id)
        found += find_ids(getattr(component, "children", None))
    return found


# ---------------------------------------------------------------------- page and table
def test_page_is_registered_with_its_path(dash_app: dash.Dash) -> None:
    pages = [p for p in dash.page_registry.values() if p["module"].endswith("history")]
    assert [p["path_template"] for p in pages] == ["/project/<project_id>/history"]


def test_table_lists_events_newest_first_with_summaries(project: tuple[Workspace, str]) -> None:
    workspace, project_id = project
    events = full_read(workspace, project_id)
    table = hv.history_table(project_id)
    assert table is not None
    assert [r.seq for r in table.rows] == [e.seq for e in reversed(events)]
    assert table.matching == table.last_seq == len(events)
    by_type = {r.type: r for r in table.rows}

    split = hv.get_state().view(project_id, "splits").splits["default"]
    c = split.counts
    assert by_type["SplitCreated"].summary == (
        f"default (train {c['train']} · val {c['val']} · test {c['test']})"
    )
    assert by_type["ImagesAdded"].summary == "30 images"
    source = of_type(events, "ImportRequested").data["source"]
    assert by_type["ImportRequested"].summary == f"{source} (auto)"
    assert by_type["ProjectCreated"].summary == "“Digits” (classification)"
    assert by_type["ImportCompleted"].summary.startswith("30 added · 0 duplicates · 0 skipped")

    rows = hv.table_rows(table, selected=events[-1].seq)
    assert rows[0].id == {"type": "history-row", "seq": events[-1].seq}
    assert "history-selected" in rows[0].className
    assert "history-selected" not in rows[1].className
    text = row_text(rows[0])
    assert f"#{events[-1].seq}" in text and "SplitCreated" in text and "ui" in text
    badge = rows[0].children[2].children  # the type, coloured by category
    assert "history-badge-split" in badge.className
    assert hv.count_text(table) == f"Showing 1\u2013{len(events)} of {len(events)} events"


def test_paging_shows_fifty_rows_a_page(project: tuple[Workspace, str]) -> None:
    workspace, project_id = project
    base = len(full_read(workspace, project_id))
    append_renames(workspace, project_id, 130 - base)
    first = hv.history_table(project_id, page=1)
    assert first is not None
    assert (first.pages, first.matching) == (3, 130)
    assert [r.seq for r in first.rows] == list(range(130, 80, -1))
    last = hv.history_table(project_id, page=3)
    assert last is not None and [r.seq for r in last.rows] == list(range(30, 0, -1))
    assert hv.count_text(last) == "Showing 101\u2013130 of 130 events"
    assert hv.history_table(project_id, page=99).page == 3  # clamped
    assert hv.history_table(project_id, page=0).page == 1
    # The selected event's page is shown when asked to jump to it (?seq=, links).
    assert hv.history_table(project_id, page=1, selected=5, jump=True).page == 3
    assert hv.history_table(project_id, page=1, selected=5, jump=False).page == 1

    everything = Query()
    out = hv.table_update(project_id, "history-pagination", everything, 2, None, None)
    tbody, pages, page, pager_style, count, *_rest, seen = out
    assert (pages, page, pager_style, seen[0]) == (3, 2, {}, 130)
    assert tbody[0].id["seq"] == 80 and len(tbody) == 50
    assert count == "Showing 51\u2013100 of 130 events"
    # A filter change goes back to page 1; the first render jumps to ?seq=.
    query = hv.build_query(["ProjectRenamed"], None)
    assert hv.table_update(project_id, "history-filter-type", query, 3, None, 130)[2] == 1
    assert hv.table_update(project_id, None, everything, 1, 12, None)[2] == 3


def test_filters_by_type_actor_and_seq_range(project: tuple[Workspace, str]) -> None:
    workspace, project_id = project
    events = full_read(workspace, project_id)

    def seqs(query: Query) -> list[int]:
        table = hv.history_table(project_id, query)
        assert table is not None
        return [r.seq for r in table.rows]

    def expected(keep: Any) -> list[int]:
        return [e.seq for e in reversed(events) if keep(e)]

    wanted = {"ImagesAdded", "SplitCreated"}
    assert seqs(hv.build_query(sorted(wanted), None)) == expected(lambda e: e.type in wanted)
    assert seqs(hv.build_query(None, ["job"])) == expected(lambda e: e.actor == "job")
    assert seqs(hv.build_query(None, None, "3", 6)) == [6, 5, 4, 3]
    assert seqs(hv.build_query(None, None, 8, None)) == expected(lambda e: e.seq >= 8)
    assert seqs(hv.build_query(None, ["ui", "worker"], None, "5")) == expected(
        lambda e: e.actor in ("ui", "worker") and e.seq <= 5
    )
    both = hv.build_query(["JobClaimed", "ImportRequested"], ["worker"])
    assert seqs(both) == expected(lambda e: e.type == "JobClaimed")
    # Nonsense in the seq boxes is ignored; no match shows an empty state.
    assert seqs(hv.build_query(None, None, "abc", -4)) == expected(lambda e: True)
    nothing = hv.history_table(project_id, hv.build_query(["ProjectDeleted"], None))
    assert nothing is not None and nothing.matching == 0
    empty_rows = hv.table_rows(nothing, None)
    assert "No event matches these filters" in row_text(empty_rows)
    assert hv.count_text(nothing).startswith("No matching events")
    # A selected event the filters hide is pointed out.
    only_jobs = hv.history_table(project_id, hv.build_query(None, ["job"]), selected=1)
    assert only_jobs is not None and only_jobs.hidden_selection == 1
    assert hv.count_text(only_jobs).endswith("the selected #1 is hidden by the filters")
    shown = hv.history_table(project_id, hv.build_query(None, ["ui"]), selected=1)
    assert shown is not None and shown.hidden_selection is None

    # The filters offer the types and actors present, with their counts.
    table = hv.history_table(project_id)
    assert table is not None
    type_counts = Counter(e.type for e in events)
    assert hv.type_options(table.type_counts) == [
        {"label": f"{name} ({type_counts[name]})", "value": name} for name in sorted(type_counts)
    ]
    actors = sorted({e.actor for e in events})
    assert [o["value"] for o in hv.actor_options(table.actor_counts)] == actors


def test_clicking_a_row_or_link_selects_its_event() -> None:
    click_row = [{"prop_id": '{"seq":7,"type":"history-row"}.n_clicks', "value": 1}]
    assert hv.selection_update({"type": "history-row", "seq": 7}, click_row, None) == 7
    click_link = [{"prop_id": '{"seq":2,"type":"history-goto"}.n_clicks', "value": 1}]
    assert hv.selection_update({"type": "history-goto", "seq": 2}, click_link, None) == 2
    # Rows re-rendered by a refresh trigger the callback without a click: nothing changes.
    rerendered = [{"prop_id": '{"seq":7,"type":"history-row"}.n_clicks', "value": None}]
    with pytest.raises(PreventUpdate):
        hv.selection_update({"type": "history-row", "seq": 7}, rerendered, None)
    with pytest.raises(PreventUpdate):
        hv.selection_update(None, [{"prop_id": ".", "value": None}], None)
    assert hv.selection_update("history-inspector-close", [], 1) is None


def test_inspector_shows_the_full_envelope(project: tuple[Workspace, str]) -> None:
    workspace, project_id = project
    events = full_read(workspace, project_id)
    split = of_type(events, "SplitCreated")
    out = hv.inspector_update(project_id, split.seq, "history-selected", None)
    body, text, hidden, travel_style, *_links, _key = out
    assert json.loads(text) == split.to_dict()
    assert set(json.loads(text)) >= {"seq", "id", "ts", "type", "v", "actor", "causation", "data"}
    assert text.startswith('{\n  "seq"')  # pretty-printed
    assert (hidden, travel_style) == (False, {})
    shown = row_text(body)
    assert "SplitCreated" in shown and f"#{split.seq}" in shown
    # Nothing selected: a hint, no JSON, no travel links.
    body, text, hidden, travel_style, d_href, d_off, s_href, s_off, *_rest = hv.inspector_update(
        project_id, None, None, None
    )
    assert (text, hidden, travel_style, d_href, d_off, s_href, s_off) == (
        "",
        True,
        {"display": "none"},
        None,
        True,
        None,
        True,
    )
    assert "Select an event" in row_text(body)
    # An unknown seq says so.
    assert "No event #999" in row_text(hv.inspector_update(project_id, 999, None, None)[0])


def test_causation_links_both_ways(project: tuple[Workspace, str]) -> None:
    workspace, project_id = project
    events = full_read(workspace, project_id)
    command = of_type(events, "ImportRequested")
    job_events = [e for e in events if e.causation == command.id]
    assert {"JobClaimed", "JobStarted", "ImagesAdded", "JobSucceeded"} <= {
        e.type for e in job_events
    }

    # The command links to every event of its job, and shows the job's status.
    inspection = hv.inspect_event(project_id, command.seq)
    assert inspection is not None
    assert [link.seq for link in inspection.effects] == [e.seq for e in job_events]
    assert inspection.effects_total == len(job_events)
    assert inspection.effect_types == dict(Counter(e.type for e in job_events))
    assert inspection.job_status == "succeeded"
    assert inspection.cause is None
    body = hv.inspector_body(inspection, command.seq)
    ids = find_ids(body)
    for event in job_events:
        assert {"type": "history-goto", "seq": event.seq} in ids
    assert f"Caused {len(job_events)} events" in row_text(body)

    # Each job event links back to its command ("caused by ImportRequested #2").
    ended = of_type(events, "JobSucceeded")
    inspection = hv.inspect_event(project_id, ended.seq)
    assert inspection is not None and inspection.cause is not None
    assert (inspection.cause.seq, inspection.cause.type) == (command.seq, "ImportRequested")
    assert inspection.cause.label == f"ImportRequested #{command.seq}"
    assert inspection.job_status == "succeeded"
    body = hv.inspector_body(inspection, ended.seq)
    assert {"type": "history-goto", "seq": command.seq} in find_ids(body)
    assert f"Caused by ImportRequested #{command.seq}" in row_text(body)
    # Clicking that link selects the command.
    click = [{"prop_id": json.dumps({"seq": command.seq, "type": "history-goto"}) + ".n_clicks",
              "value": 1}]  # fmt: skip
    assert hv.selection_update(None, click, None) == command.seq

    # A plain user action has neither.
    split = hv.inspect_event(project_id, of_type(events, "SplitCreated").seq)
    assert split is not None
    assert (split.cause, split.effects, split.job_status) == (None, [], None)


def test_a_failed_job_shows_its_error(project: tuple[Workspace, str]) -> None:
    workspace, project_id = project
    log = EventLog(workspace.events_path(project_id))
    command = log.append("ImportRequested", {"source": "/nowhere"}, actor="script")
    log.append(
        "JobFailed",
        {"job_id": command.id, "error": "source vanished\nTraceback: …"},
        actor="worker",
        causation=command.id,
    )
    table = hv.history_table(project_id)
    assert table is not None
    assert table.rows[0].summary == "source vanished"
    assert "text-danger" in hv.table_rows(table, None)[0].children[4].className
    inspection = hv.inspect_event(project_id, command.seq)
    assert inspection is not None
    assert (inspection.job_status, inspection.job_error) == (
        "failed",
        "source vanished\nTraceback: …",
    )


def test_time_travel_links(project: tuple[Workspace, str]) -> None:
    workspace, project_id = project
    events = full_read(workspace, project_id)
    before_split = of_type(events, "SplitCreated").seq - 1
    out = hv.inspector_update(project_id, before_split, "history-selected", None)
    pages = [page for page, _what, _icon in hv.TRAVEL_PAGES]
    assert pages == ["dataset", "split", "train", "evaluate", "export"]
    n = len(pages)
    links, labels = out[4 : 4 + 2 * n], out[4 + 2 * n : 4 + 3 * n]
    assert len(out) == 4 + 3 * n + 1
    for i, page in enumerate(pages):
        assert links[2 * i] == f"/project/{project_id}/{page}?at={before_split}"
        assert links[2 * i + 1] is False  # enabled
    shown = [row_text(label) for label in labels]
    assert shown == [
        f"View {what} as of #{before_split}"
        for what in ("dataset", "split", "training", "evaluation", "exports")
    ]
    ids = find_ids(hv.history_layout(project_id))
    assert {f"history-travel-{page}" for page in pages} | {"history-inspector"} <= set(ids)


def test_layout_preselects_and_handles_unknown_projects(project: tuple[Workspace, str]) -> None:
    workspace, project_id = project
    page = hv.history_layout(project_id, "5")
    stores = {c.id: c for c in page.children if getattr(c, "id", None)}
    assert stores["history-selected"].data == 5
    assert stores["history-project"].data == project_id
    ids = set(find_ids(page))
    assert {
        "history-table",
        "history-filter-type",
        "history-filter-actor",
        "history-filter-from",
        "history-filter-to",
        "history-inspector",
    } <= ids
    assert hv.history_layout(project_id, "abc").children[1].data is None
    for unknown in ("proj-00000000", "nonsense", None):
        assert "No such project" in row_text(hv.history_layout(unknown))
    commands.delete_project(workspace, project_id, actor="ui")
    assert "No such project" in row_text(hv.history_layout(project_id))
    assert hv.history_table(project_id) is None
    with pytest.raises(PreventUpdate):
        hv.table_update(project_id, None, Query(), 1, None, None)


def test_a_damaged_log_is_reported(project: tuple[Workspace, str]) -> None:
    workspace, project_id = project
    path = workspace.events_path(project_id)
    lines = path.read_bytes().splitlines(keepends=True)
    lines[2] = b"this is not an event\n"
    path.write_bytes(b"".join(lines))
    init_state(workspace)  # a fresh web process meets the damaged log
    text = row_text(hv.history_layout(project_id))
    assert "This project's log is damaged" in text and "line 3" in text


def test_live_refresh_shows_new_events_and_keeps_filters(project: tuple[Workspace, str]) -> None:
    workspace, project_id = project
    last = len(full_read(workspace, project_id))
    query = hv.build_query(None, ["ui"])
    out = hv.table_update(project_id, None, query, 1, 2, None)
    seen = out[-1]
    assert seen[0] == last
    with pytest.raises(PreventUpdate):  # a tick with nothing new changes nothing
        hv.table_update(project_id, TICK, query, 1, 2, seen)
    # A tick that overtook a filter change (Dash dropped that change's answer) shows it.
    everyone = hv.build_query(None, None)
    overtaken = hv.table_update(project_id, TICK, everyone, 1, 2, seen)
    assert overtaken[4] == f"Showing 1\u2013{last} of {last} events"
    with pytest.raises(PreventUpdate):
        hv.table_update(project_id, TICK, everyone, 1, 2, overtaken[-1])

    renamed = commands.rename_project(workspace, project_id, "Digits v2", actor="ui")
    EventLog(workspace.events_path(project_id)).append(
        "ProjectRenamed", {"name": "by a script"}, actor="script"
    )
    tbody, _pages, page, *_rest, seen = hv.table_update(project_id, TICK, query, 1, 2, seen)
    assert seen[0] == last + 2
    assert page == 1
    # The filter (actor ui) still holds: the script's rename is not shown, the ui's is, on top.
    assert tbody[0].id["seq"] == renamed.seq
    assert "renamed to “Digits v2”" in row_text(tbody[0])
    assert all(row.id["seq"] != last + 2 for row in tbody)
    # The data function called again returns the new event.
    table = hv.history_table(project_id)
    assert table is not None and table.rows[0].seq == last + 2


def test_inspector_follows_a_running_job(project: tuple[Workspace, str], tmp_path: Path) -> None:
    workspace, project_id = project
    source = tmp_path / "more"
    source.mkdir()
    command = commands.request_import(workspace, project_id, source, actor="ui")
    out = hv.inspector_update(project_id, command.seq, "history-selected", None)
    assert "pending" in row_text(out[0])
    key = out[-1]
    with pytest.raises(PreventUpdate):  # nothing new for the inspector
        hv.inspector_update(project_id, command.seq, TICK, key)
    log = EventLog(workspace.events_path(project_id))
    claim = {"job_id": command.id, "command_type": "ImportRequested", "worker_id": "w-1",
             "host": "here", "pid": 1}  # fmt: skip
    log.append("JobClaimed", claim, actor="worker", causation=command.id)
    body, *_rest, key = hv.inspector_update(project_id, command.seq, TICK, key)
    assert "claimed" in row_text(body) and "Caused 1 event" in row_text(body)
    log.append("JobStarted", {"job_id": command.id, "pid": 2}, actor="job", causation=command.id)
    log.append("JobSucceeded", {"job_id": command.id}, actor="job", causation=command.id)
    body, *_rest, new_key = hv.inspector_update(project_id, command.seq, TICK, key)
    assert new_key != key
    assert "succeeded" in row_text(body) and "Caused 3 events" in row_text(body)


# ---------------------------------------------------------------------- summaries
def test_categories() -> None:
    assert category("ImportRequested") == "command"
    assert category("CancelRequested") == "command"
    assert category("TrainingRequested") == "command"
    assert category("ProjectCreated") == "project"
    assert category("ImagesAdded") == "dataset"
    assert category("LabelChanged") == "dataset"
    assert category("SplitCreated") == "split"
    assert category("JobFailed") == "job"
    assert category("EpochCompleted") == "model"
    assert category("EvaluationCompleted") == "model"
    assert category("ExportCompleted") == "model"
    assert category("FromTheFuture") == "other"


def test_every_event_type_of_the_golden_log_has_a_readable_summary() -> None:
    golden = Path(__file__).parents[1] / "events" / "golden" / "v1.jsonl"
    lines = [json.loads(line) for line in golden.read_text().splitlines() if line.strip()]
    for line in lines:
        text = summary(line["type"], line["data"])
        assert text and not text.startswith("{"), (line["type"], text)  # not the raw JSON
    by_type = {line["type"]: summary(line["type"], line["data"]) for line in lines}
    assert by_type["EvaluationCompleted"] == "exp-0badcafe: accuracy 0.9 on 90 images (val + test)"
    assert by_type["ExportCompleted"] == (
        "xpt-0c0ffee1 onnx validated: max diff 2.1e-06, agreement 100% on 32 images"
    )
    assert by_type["EvaluationRequested"] == "evaluate exp-0badcafe (best) on val + test"
    assert by_type["AnnotationsSet"] == "9 images annotated, 5 objects"
    assert by_type["AnnotationChanged"] == "img-00c0ffee: 1 object (7)"


def test_summaries_of_each_kind() -> None:
    assert summary("ImagesAdded", {"images": [{}]}) == "1 image"
    assert summary("ImportRequested", {"source": "/data/cats", "format": "auto"}) == (
        "/data/cats (auto)"
    )
    split = {
        "name": "default",
        "assignments": {"train": [1] * 140, "val": [1] * 30, "test": [1] * 30},
    }
    assert summary("SplitCreated", split) == "default (train 140 · val 30 · test 30)"
    failed = {"job_id": "evt-0", "error": "disk full\n  at line 3", "reason": "error"}
    assert summary("JobFailed", failed) == "disk full"
    lost = {"job_id": "evt-0", "error": "worker died", "reason": "worker_lost"}
    assert summary("JobFailed", lost) == "[worker lost] worker died"
    assert summary("LabelChanged", {"image_id": "img-1", "label": "cat"}) == "img-1 → cat"
    assert summary("LabelChanged", {"image_id": "img-1", "value": 2.5}) == "img-1 → 2.5"
    assert summary("LabelChanged", {"image_id": "img-1"}) == "img-1: label cleared"
    assert summary("JobProgress", {"done": 5, "total": 10, "message": "reading"}) == (
        "5/10 · reading"
    )
    skipped = {
        "items": [{"path": "/a/b.txt", "reason": "not an image"}, {"path": "c", "reason": "x"}]
    }
    assert summary("ImportSkipped", skipped) == "2 files skipped: b.txt (not an image) and 1 more"
    assert summary("ClassesDefined", {"classes": list("abcdefgh")}) == (
        "8 classes: a, b, c, d, e, f, … (+2)"
    )
    assert summary("ProjectDeleted", {}) == "project deleted"
    # Unknown types and odd data never fail: a compact JSON summary instead.
    assert summary("EpochCompleted", {"epoch": 3}) == '{"epoch":3}'
    assert summary("ImagesAdded", {"images": 5}) == '{"images":5}'
    assert summary("SomethingNew", {}) == "—"
    long = summary("ImportRequested", {"source": "/x" * 500})
    assert len(long) == 160 and long.endswith("…")


# ---------------------------------------------------------------------- the event index
_IDS = [f"img-{i:08x}" for i in range(20)]


def random_events(rng: random.Random, commands_so_far: list[str]) -> list[NewEvent]:
    """One random append (1 to 4 events) of varied types, actors and causations."""
    out: list[NewEvent] = []
    for _ in range(rng.choice([1, 1, 1, 2, 4])):
        kind = rng.random()
        if kind < 0.2 or not commands_so_far:
            new_id = f"evt-{rng.getrandbits(64):016x}"
            out.append(
                NewEvent(
                    "ImportRequested", {"source": f"/data/{rng.randint(0, 9)}"}, "ui", id=new_id
                )
            )
            commands_so_far.append(new_id)
        elif kind < 0.6:
            job = rng.choice(commands_so_far)
            data = {"job_id": job, "done": rng.randint(0, 9), "total": 10}
            out.append(NewEvent("JobProgress", data, "job", causation=job))
        elif kind < 0.8:
            data = {"image_id": rng.choice(_IDS), "label": rng.choice("abc")}
            out.append(NewEvent("LabelChanged", data, rng.choice(["ui", "cli", "script"])))
        else:
            out.append(NewEvent("ProjectRenamed", {"name": f"n{rng.randint(0, 99)}"}, "cli"))
    return out


def check_index_equals_full_read(index: EventIndex, path: Path) -> None:
    events = list(EventLog(path).read())
    assert index.last_seq == len(events)
    assert index.type_counts() == dict(sorted(Counter(e.type for e in events).items()))
    assert index.actor_counts() == dict(sorted(Counter(e.actor for e in events).items()))
    for event in events:
        assert index.event(event.seq).to_dict() == event.to_dict()  # type: ignore[union-attr]
        row = index.row(event.seq)
        assert row is not None
        assert (row.seq, row.id, row.ts, row.type, row.actor, row.causation) == (
            event.seq,
            event.id,
            event.ts,
            event.type,
            event.actor,
            event.causation,
        )
        assert row.summary == summary(event.type, event.data)
        assert index.type_of(event.seq) == event.type
        effects = [e.seq for e in events if e.causation == event.id]
        assert index.effects(event.id) == effects
    for event in events:
        if event.causation is not None:
            cause = next(e for e in events if e.id == event.causation)
            assert index.seq_of(event.causation) == cause.seq
    for event in events[:: max(1, len(events) // 7)]:
        assert index.seq_of(event.id) == event.seq


def test_incremental_index_equals_full_read_after_random_appends(tmp_path: Path) -> None:
    rng = random.Random(1234)
    path = tmp_path / "proj-0000abcd" / "events.jsonl"
    log = EventLog(path)
    log.append(
        "ProjectCreated",
        {"project_id": "proj-0000abcd", "name": "Fuzz", "task": "classification"},
        actor="ui",
    )
    index = EventIndex(path)
    queries = [
        Query(),
        Query(types=frozenset({"JobProgress"})),
        Query(actors=frozenset({"ui", "script"})),
        Query(types=frozenset({"LabelChanged", "ProjectRenamed"}), actors=frozenset({"cli"})),
        Query(types=frozenset({"JobProgress"}), seq_from=20, seq_to=120),
        Query(seq_from=50),
        Query(types=frozenset({"NotThere"})),
    ]
    commands_so_far: list[str] = []
    for step in range(120):
        log.append_many(random_events(rng, commands_so_far))
        if rng.random() < 0.4:
            index.refresh()
            events = list(log.read(until_seq=index.last_seq))
            for query in queries:  # cached queries extended with new events stay right
                want = [
                    e.seq
                    for e in reversed(events)
                    if (not query.types or e.type in query.types)
                    and (not query.actors or e.actor in query.actors)
                    and (query.seq_from is None or e.seq >= query.seq_from)
                    and (query.seq_to is None or e.seq <= query.seq_to)
                ]
                assert list(index.query(query)) == want, (step, query)
        if step == 60:
            # A torn tail (an append cut short) is not indexed, then cut by the next writer.
            index.refresh()
            with path.open("ab") as f:
                f.write(b'{"seq": 99999, "id": "evt-00')
            before = index.last_seq
            index.refresh()
            assert index.last_seq == before
    index.refresh()
    check_index_equals_full_read(index, path)
    fresh = EventIndex(path)
    fresh.refresh()
    assert [fresh.type_of(s) for s in range(1, fresh.last_seq + 1)] == [
        index.type_of(s) for s in range(1, index.last_seq + 1)
    ]


def test_index_reads_again_a_replaced_log(tmp_path: Path) -> None:
    path = tmp_path / "a" / "events.jsonl"
    other = tmp_path / "b" / "events.jsonl"
    for target, name in ((path, "First"), (other, "Second")):
        EventLog(target).append(
            "ProjectCreated",
            {"project_id": "proj-0000abcd", "name": name, "task": "classification"},
            actor="ui",
        )
    EventLog(path).append("ProjectRenamed", {"name": "First again"}, actor="ui")
    index = event_index(path)
    assert index.last_seq == 2
    assert event_index(path) is index  # one index per log in the process
    os.replace(other, path)
    index.refresh()
    assert index.last_seq == 1
    assert index.row(1).summary == "“Second” (classification)"  # type: ignore[union-attr]
    check_index_equals_full_read(index, path)


def test_rows_are_decoded_only_for_the_page_shown(project: tuple[Workspace, str]) -> None:
    workspace, project_id = project
    append_renames(workspace, project_id, 500)
    table = hv.history_table(project_id, page=2)
    assert table is not None and len(table.rows) == hv.PAGE_SIZE
    index = event_index(workspace.events_path(project_id))
    assert len(index._rows) == hv.PAGE_SIZE  # what was decoded
    assert re.fullmatch(r"renamed to “Digits \d+”", table.rows[0].summary)
