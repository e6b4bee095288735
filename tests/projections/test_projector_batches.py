"""Large reads are decoded (and, by ``update``, folded) batch by batch: the views are the same.

These tests shrink the reader's batch size so that every refresh and every time-travel rebuild
spans many batches, and check that views equal full rebuilds, that handed-out views never
change, and that damage found after some batches were folded leaves the projector as it was.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import events.reader
from events import Event, LogCorruptedError
from projections import ALL_PROJECTIONS, ProjectProjector, WorkspaceProjector
from projections.base import Projection
from projections.project import ProjectView
from tests.projections.helpers import image, image_id, snapshot
from tests.projections.test_projector import Scenario, _append_some, _new_log, _rebuilt

Read = Callable[[ProjectProjector], int]
READS: dict[str, Read] = {
    "refresh": lambda projector: len(projector.refresh()),
    "update": lambda projector: projector.update(),
}


@pytest.fixture(params=[1, 300, 5000])
def small_batches(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> int:
    monkeypatch.setattr(events.reader, "BATCH_BYTES", request.param)
    return int(request.param)


@pytest.fixture(params=READS.values(), ids=READS.keys())
def read(request: pytest.FixtureRequest) -> Read:
    return request.param  # type: ignore[no-any-return]


def _views(projector: ProjectProjector) -> dict[str, Any]:
    """Snapshots of the projector's current views, without handing them out."""
    return {name: snapshot(view) for name, view in projector._views.items()}


def test_reads_in_many_batches_equal_full_rebuilds(
    tmp_path: Path, small_batches: int, read: Read
) -> None:
    rnd = random.Random(small_batches)
    log = _new_log(tmp_path / "events.jsonl")
    scenario = Scenario(rnd)
    projector = ProjectProjector(log.path)
    handed_out: list[tuple[object, object]] = []
    while log.last_seq() < 250:
        for _ in range(rnd.randint(1, 8)):  # from one append to many batches' worth
            _append_some(log, scenario, rnd)
        already = projector.last_seq
        assert read(projector) == log.last_seq() - already
        assert projector.last_seq == log.last_seq()
        expected = _rebuilt(log)
        for name in rnd.sample(list(ALL_PROJECTIONS), rnd.randint(0, 4)):
            view = projector.view(name)
            assert view == expected[name], name
            handed_out.append((view, snapshot(view)))
    assert read(projector) == 0
    assert projector.views() == _rebuilt(log)
    for view, frozen in handed_out:
        assert snapshot(view) == frozen
    for seq in [0, 1, *rnd.sample(range(2, log.last_seq()), 8)]:
        expected = _rebuilt(log, until_seq=seq)
        assert projector.views_at(seq) == expected, seq


@pytest.mark.parametrize("loaded", [False, True], ids=["first load", "later read"])
def test_damage_after_some_batches_leaves_views_and_offset_as_they_were(
    tmp_path: Path, small_batches: int, read: Read, loaded: bool
) -> None:
    log = _new_log(tmp_path / "events.jsonl")
    log.append("ImagesAdded", {"images": [image(1, "cat"), image(2, "dog")]}, actor="job")
    projector = ProjectProjector(log.path)
    if loaded:
        read(projector)
        handed_out = projector.view("dataset")
    before = _views(projector)
    offset, last_seq = projector.offset, projector.last_seq
    good = log.path.read_bytes()
    for n in range(3, 60):
        log.append("ImagesAdded", {"images": [image(n, "cat")]}, actor="job")
        log.append("LabelChanged", {"image_id": image_id(n - 1), "label": "bird"})
    full = log.path.read_bytes()
    lines = full.splitlines(keepends=True)
    damaged_line = len(lines) - 20
    lines[damaged_line] = b"not an event\n"
    log.path.write_bytes(b"".join(lines))

    with pytest.raises(LogCorruptedError, match=f"line {damaged_line + 1} "):
        read(projector)
    assert (projector.offset, projector.last_seq) == (offset, last_seq)
    assert _views(projector) == before
    if loaded:
        assert snapshot(handed_out) == before["dataset"]
    else:
        with pytest.raises(LogCorruptedError):
            projector.view("dataset")

    log.path.write_bytes(full)  # repaired
    assert read(projector) == full.count(b"\n") - (good.count(b"\n") if loaded else 0)
    assert projector.views() == _rebuilt(log)
    if loaded:
        assert snapshot(handed_out) == before["dataset"]


def test_a_handler_failing_in_a_later_batch_starts_again_from_scratch(
    tmp_path: Path, small_batches: int, read: Read
) -> None:
    fail = {"on": False}
    flaky: Projection[ProjectView] = Projection("flaky", ProjectView)

    @flaky.on("ProjectRenamed")
    def _renamed(view: ProjectView, event: Event) -> ProjectView:
        if fail["on"] and event.data["name"] == "B":
            raise RuntimeError("handler bug")
        view.name = event.data["name"]
        return view

    log = _new_log(tmp_path / "events.jsonl")
    for n in range(1, 30):
        log.append("ImagesAdded", {"images": [image(n, "cat")]}, actor="job")
    log.append("ProjectRenamed", {"name": "B"})
    projector = ProjectProjector(log.path, {**ALL_PROJECTIONS, "flaky": flaky})
    fail["on"] = True
    with pytest.raises(RuntimeError, match="handler bug"):
        read(projector)
    assert projector.last_seq == 0
    fail["on"] = False
    assert read(projector) == 31
    assert projector.view("flaky").name == "B"
    assert projector.view("dataset") == _rebuilt(log)["dataset"]


def test_a_read_of_one_batch_folds_views_not_handed_out_in_place(
    tmp_path: Path, read: Read
) -> None:
    log = _new_log(tmp_path / "events.jsonl")
    log.append("ImagesAdded", {"images": [image(1, "cat")]}, actor="job")
    projector = ProjectProjector(log.path)
    read(projector)
    kept = projector._views["dataset"]
    log.append("LabelChanged", {"image_id": image_id(1), "label": "dog"})
    with log.path.open("ab") as f:
        f.write(b'{"seq":4,"id":"evt-')  # an append being written: a torn tail for now
    assert read(projector) == 1
    assert projector._views["dataset"] is kept  # no copy: nothing was handed out
    assert kept.label_counts == {"cat": 0, "dog": 1}


def test_workspace_update_counts_what_refresh_returns(tmp_path: Path) -> None:
    projects = tmp_path / "projects"
    logs = [_new_log(projects / f"proj-0000000{n}" / "events.jsonl") for n in (1, 2)]
    logs[1].append("ProjectRenamed", {"name": "Two"})
    workspace = WorkspaceProjector(projects)
    assert workspace.update() == {"proj-00000001": 1, "proj-00000002": 2}
    assert workspace.update() == {}
    logs[0].append("ProjectRenamed", {"name": "One"})
    assert workspace.update() == {"proj-00000001": 1}
    assert [p.name for p in workspace.project_list()] == ["One", "Two"]
