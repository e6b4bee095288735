"""The incremental projectors, on real log files: refreshes equal full rebuilds."""

from __future__ import annotations

import random
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from events import Event, EventLog, NewEvent
from projections import ALL_PROJECTIONS, ProjectProjector, WorkspaceProjector
from projections.base import Projection
from projections.project import ProjectView
from tests.projections.helpers import CLASSES, image, image_id, project_created, snapshot

RATIOS = {"train": 0.6, "val": 0.2, "test": 0.2}


class Scenario:
    """Random but valid events for one project, aware of what it appended before."""

    def __init__(self, rnd: random.Random) -> None:
        self.rnd = rnd
        self.images: list[str] = []
        self.jobs: list[str] = []
        self.splits = ["default", "other", "third"]
        self.exports: list[tuple[str, str]] = []

    def _new_id(self) -> str:
        return f"evt-{self.rnd.getrandbits(64):016x}"

    def _model_event(self, kind: str) -> NewEvent:
        """An evaluation or export command, result or reset (results name a random job)."""
        rnd = self.rnd
        exp = rnd.choice(["exp-0000beef", "exp-0000f00d"])
        if kind in ("evaluation", "export") or not self.jobs:
            job_id = self._new_id()
            self.jobs.append(job_id)
            if kind == "export":
                self.exports.append((job_id, f"xpt-{rnd.randrange(16**8):08x}"))
                data = {"experiment_id": exp, "export_id": self.exports[-1][1]}
                return NewEvent("ExportRequested", data, actor="cli", id=job_id)
            subsets = rnd.sample(["train", "val", "test"], rnd.randint(1, 3))
            data = {"experiment_id": exp, "subsets": subsets}
            return NewEvent("EvaluationRequested", data, actor="cli", id=job_id)
        if kind == "reset":
            return NewEvent("EvaluationReset", {"experiment_id": exp})
        cause = rnd.choice(self.jobs)
        ref = {"name": "evaluation/results.jsonl", "sha256": "cd" * 32, "size_bytes": 10}
        if kind == "evaluated":
            data = {
                "experiment_id": exp,
                "checkpoint": "best",
                "checkpoint_epoch": 1,
                "checkpoint_sha256": "ab" * 32,
                "split": "default",
                "subsets": ["test"],
                "images": rnd.randrange(50),
                "trained_seq": 1,
                "primary_metric": "accuracy",
                "metrics": {"accuracy": round(rnd.random(), 3)},
                "results": ref,
                "report": ref,
                "duration_s": 1.0,
            }
            return NewEvent("EvaluationCompleted", data, actor="job", causation=cause)
        data = {
            "export_id": f"xpt-{rnd.randrange(16**8):08x}",
            "experiment_id": exp,
            "checkpoint": "best",
            "checkpoint_epoch": 1,
            "checkpoint_sha256": "ab" * 32,
            "format": "onnx",
            "file": ref,
            "validation": {
                "images": 4,
                "max_abs_diff": 0.0,
                "agreement": 1.0,
                "tolerance": 0.001,
                "passed": rnd.random() < 0.7,
            },
            "duration_s": 1.0,
        }
        if self.exports and rnd.random() < 0.8:  # mostly about a requested export, by its job
            cause, data["export_id"] = rnd.choice(self.exports)
        return NewEvent("ExportCompleted", data, actor="job", causation=cause)

    def event(self) -> NewEvent:
        """One random event (a fair share of every type the projections handle)."""
        rnd = self.rnd
        kind = rnd.choice(
            ["images"] * 4
            + ["label"] * 6
            + ["remove", "classes", "split", "split_del", "import_done", "skipped", "rename"]
            + ["command"] * 2
            + ["job"] * 5
            + ["evaluation", "evaluated", "reset", "export", "exported"]
        )
        if kind == "images" or not self.images:
            records = []
            for _ in range(rnd.randint(1, 5)):
                if self.images and rnd.random() < 0.1:
                    n = int(rnd.choice(self.images)[4:], 16)  # the same id again
                else:
                    n = len(self.images) + 1
                    self.images.append(image_id(n))
                label = rnd.choice([*CLASSES, None])
                value = round(rnd.random(), 3) if label is None and rnd.random() < 0.3 else None
                records.append(image(n, label, value, sha=rnd.randrange(10**6)))
            return NewEvent("ImagesAdded", {"images": records}, actor="job")
        if kind == "label":
            change: dict[str, Any] = rnd.choice(
                [
                    {"label": rnd.choice(CLASSES)},
                    {"label": f"new{rnd.randrange(3)}"},
                    {"label": None},
                    {"value": round(rnd.uniform(-5, 5), 2)},
                ]
            )
            return NewEvent("LabelChanged", {"image_id": rnd.choice(self.images), **change})
        if kind == "remove":
            return NewEvent("ImageRemoved", {"image_id": rnd.choice(self.images)})
        if kind == "classes":
            classes = rnd.sample([*CLASSES, "new0", "new1", "fish"], rnd.randint(0, 4))
            return NewEvent("ClassesDefined", {"classes": classes}, actor="job")
        if kind == "split":
            ids = list(self.images)
            rnd.shuffle(ids)
            a, b = sorted(rnd.randint(0, len(ids)) for _ in range(2))
            data = {
                "name": rnd.choice(self.splits),
                "ratios": RATIOS,
                "seed": rnd.randrange(100),
                "stratify": rnd.random() < 0.5,
                "dataset_seq": 0,
                "assignments": {"train": ids[:a], "val": ids[a:b], "test": ids[b:]},
            }
            return NewEvent("SplitCreated", data)
        if kind == "split_del":
            return NewEvent("SplitDeleted", {"name": rnd.choice(self.splits)})
        if kind == "import_done":
            data = {"source": "/d", "format": "csv", "added": 1, "duplicates": 0, "skipped": 0}
            return NewEvent("ImportCompleted", {**data, "duration_s": 0.1}, actor="job")
        if kind == "skipped":
            return NewEvent("ImportSkipped", {"items": [{"path": "x", "reason": "bad"}]}, "job")
        if kind == "rename":
            return NewEvent("ProjectRenamed", {"name": f"name {rnd.randrange(100)}"})
        if kind in ("evaluation", "evaluated", "reset", "export", "exported"):
            return self._model_event(kind)
        if kind == "command" or not self.jobs:
            job_id = self._new_id()
            self.jobs.append(job_id)
            return NewEvent("ImportRequested", {"source": "/data"}, actor="cli", id=job_id)
        job_id = rnd.choice(self.jobs)
        job_type, data = rnd.choice(
            [
                (
                    "JobClaimed",
                    {"command_type": "ImportRequested", "worker_id": "w", "host": "h", "pid": 1},
                ),
                ("JobStarted", {"pid": 2}),
                ("JobProgress", {"done": rnd.randrange(10), "total": 10}),
                ("JobSucceeded", {"summary": {"n": 1}}),
                ("JobFailed", {"error": "boom"}),
                ("CancelRequested", {}),
                ("JobCancelled", {}),
            ]
        )
        return NewEvent(job_type, {"job_id": job_id, **data}, actor="worker", causation=job_id)


def _new_log(path: Path) -> EventLog:
    log = EventLog(path)
    log.append("ProjectCreated", project_created(), actor="cli")
    return log


def _append_unknown(log: EventLog, rnd: random.Random) -> None:
    """A line of a type this version does not know (as a newer version would write it)."""
    seq = log.last_seq() + 1
    event = Event(
        seq,
        f"evt-{rnd.getrandbits(64):016x}",
        "2027-01-01T00:00:00.000Z",
        "FromTheFuture",
        3,
        "script",
        None,
        {"x": seq},
    )
    with log.path.open("ab") as f:
        f.write(event.to_line())


def _rebuilt(log: EventLog, until_seq: int | None = None) -> dict[str, Any]:
    events = list(log.read())
    return {name: p.rebuild(events, until_seq) for name, p in ALL_PROJECTIONS.items()}


def _append_some(log: EventLog, scenario: Scenario, rnd: random.Random) -> None:
    if rnd.random() < 0.08:
        _append_unknown(log, rnd)
    else:
        log.append_many([scenario.event() for _ in range(rnd.randint(1, 12))])


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_incremental_refreshes_equal_full_rebuilds(tmp_path: Path, seed: int) -> None:
    rnd = random.Random(seed)
    # Which views to read is drawn separately, so that the events drawn do not depend on how
    # many projections there are.
    pick = random.Random(seed + 1000)
    log = _new_log(tmp_path / "events.jsonl")
    scenario = Scenario(rnd)
    projector = ProjectProjector(log.path)
    handed_out: list[tuple[object, object]] = []
    refreshes = 0
    while log.last_seq() < 300:
        _append_some(log, scenario, rnd)
        if rnd.random() < 0.6:
            fresh = projector.refresh()
            refreshes += 1
            assert fresh and fresh[-1].seq == projector.last_seq == log.last_seq()
            expected = _rebuilt(log)
            names = list(ALL_PROJECTIONS)
            for name in pick.sample(names, pick.randint(0, len(names))):
                view = projector.view(name)
                assert view == expected[name], name
                handed_out.append((view, snapshot(view)))
    projector.refresh()
    assert projector.views() == _rebuilt(log)
    assert projector.refresh() == []
    assert refreshes > 10 and len(handed_out) > 20
    for view, frozen in handed_out:  # nothing handed out was changed by a later refresh
        assert snapshot(view) == frozen
    last = projector.view("dataset")
    kinds = {event.type for event in log.read()}
    assert {"SplitCreated", "LabelChanged", "ImageRemoved"} <= kinds  # a real workout
    assert len(last.images) > 50 and last.label_counts
    assert projector.view("jobs").jobs
    assert projector.view("evaluation").jobs and projector.view("exports").jobs
    assert any(e.validation for e in projector.view("exports").exports.values())


def test_at_seq_equals_rebuild_until_seq(tmp_path: Path) -> None:
    rnd = random.Random(7)
    log = _new_log(tmp_path / "events.jsonl")
    scenario = Scenario(rnd)
    while log.last_seq() < 150:
        _append_some(log, scenario, rnd)
    projector = ProjectProjector(log.path)
    projector.refresh()
    txn_seqs = [e.seq for e in log.read() if e.txn is not None and e.seq != e.txn[1]]
    assert txn_seqs  # some seqs fall inside a multi-event append
    seqs = [0, 1, 2, txn_seqs[0], txn_seqs[-1], *rnd.sample(range(1, 150), 10), log.last_seq()]
    for seq in seqs:
        expected = _rebuilt(log, until_seq=seq)
        for name in ALL_PROJECTIONS:
            view = projector.at(name, seq)
            assert view == expected[name], (name, seq)
            assert view.seq == seq
    assert projector.views_at(seqs[3]) == _rebuilt(log, until_seq=seqs[3])


def test_at_views_are_cached_and_never_change(tmp_path: Path) -> None:
    log = _new_log(tmp_path / "events.jsonl")
    log.append("ImagesAdded", {"images": [image(1, "cat")]}, actor="job")
    log.append("LabelChanged", {"image_id": image_id(1), "label": "dog"})
    projector = ProjectProjector(log.path)
    old = projector.at("dataset", 2)
    assert old is projector.at("dataset", 2)
    assert old.label_counts == {"cat": 1}
    frozen = snapshot(old)
    assert projector.at("dataset", 3) is projector.view("dataset")
    log.append("ImageRemoved", {"image_id": image_id(1)})
    projector.refresh()
    assert snapshot(old) == frozen
    assert projector.at("dataset", 2) is old
    assert projector.at("dataset", 99).images == {}
    with pytest.raises(KeyError):
        projector.at("nope", 1)


def test_view_before_any_refresh_loads_and_missing_log_is_empty(tmp_path: Path) -> None:
    missing = ProjectProjector(tmp_path / "nothing" / "events.jsonl")
    assert missing.view("project") == ProjectView()
    assert missing.refresh() == []
    log = _new_log(tmp_path / "events.jsonl")
    projector = ProjectProjector(log.path)
    assert projector.view("project").name == "Pets"
    assert projector.last_seq == 1 and projector.offset == log.path.stat().st_size


def test_a_view_handed_out_is_not_changed_by_later_refreshes(tmp_path: Path) -> None:
    log = _new_log(tmp_path / "events.jsonl")
    log.append("ImagesAdded", {"images": [image(1, "cat"), image(2, "dog")]}, actor="job")
    projector = ProjectProjector(log.path)
    views = projector.views()
    frozen = {name: snapshot(v) for name, v in views.items()}
    log.append("LabelChanged", {"image_id": image_id(1), "label": "dog"})
    log.append("ImportRequested", {"source": "/x"}, actor="cli")
    log.append("ImageRemoved", {"image_id": image_id(2)})
    assert len(projector.refresh()) == 3
    assert {name: snapshot(v) for name, v in views.items()} == frozen
    assert projector.view("dataset").label_counts == {"cat": 0, "dog": 1}
    assert projector.view("dataset") is not views["dataset"]
    assert projector.view("project").image_count == 1


def test_a_torn_tail_waits_for_its_end(tmp_path: Path) -> None:
    log = _new_log(tmp_path / "events.jsonl")
    projector = ProjectProjector(log.path)
    projector.refresh()
    line = Event(
        2,
        "evt-00000000000000aa",
        "2026-01-01T00:00:00.000Z",
        "ProjectRenamed",
        1,
        "ui",
        None,
        {"name": "B"},
    ).to_line()
    with log.path.open("ab") as f:
        f.write(line[:20])
    assert projector.refresh() == []
    with log.path.open("ab") as f:
        f.write(line[20:])
    assert [e.seq for e in projector.refresh()] == [2]
    assert projector.view("project").name == "B"


def test_a_failing_handler_leaves_no_half_folded_views(tmp_path: Path) -> None:
    fail = {"on": False}
    flaky: Projection[ProjectView] = Projection("flaky", ProjectView)

    @flaky.on("ProjectRenamed")
    def _renamed(view: ProjectView, event: Event) -> ProjectView:
        if fail["on"]:
            raise RuntimeError("handler bug")
        view.name = event.data["name"]
        return view

    log = _new_log(tmp_path / "events.jsonl")
    projector = ProjectProjector(log.path, {**ALL_PROJECTIONS, "flaky": flaky})
    projector.refresh()
    log.append("ImagesAdded", {"images": [image(1, "cat")]}, actor="job")
    log.append("ProjectRenamed", {"name": "B"})
    fail["on"] = True
    with pytest.raises(RuntimeError, match="handler bug"):
        projector.refresh()
    fail["on"] = False
    assert projector.last_seq == 0  # it starts again from scratch
    assert [e.seq for e in projector.refresh()] == [1, 2, 3]
    assert projector.view("flaky").name == "B"
    assert projector.view("dataset") == _rebuilt(log)["dataset"]


def test_concurrent_refreshes_from_threads(tmp_path: Path) -> None:
    rnd = random.Random(11)
    log = _new_log(tmp_path / "events.jsonl")
    scenario = Scenario(rnd)
    projector = ProjectProjector(log.path)
    stop = threading.Event()
    seen: list[tuple[object, object]] = []

    def reader() -> int:
        rounds = 0
        while not stop.is_set():
            projector.refresh()
            view = projector.view("dataset")
            seen.append((view, snapshot(view)))
            rounds += 1
        return rounds

    with ThreadPoolExecutor(max_workers=3) as pool:
        futures = [pool.submit(reader) for _ in range(3)]
        for _ in range(30):
            log.append_many([scenario.event() for _ in range(rnd.randint(1, 5))])
        stop.set()
        rounds = [f.result() for f in futures]  # re-raises what a reader raised
    assert all(n > 0 for n in rounds)
    projector.refresh()
    assert projector.views() == _rebuilt(log)
    assert all(snapshot(view) == frozen for view, frozen in seen[-100:])


def _project(projects: Path, project_id: str, name: str) -> EventLog:
    log = EventLog(projects / project_id / "events.jsonl")
    log.append("ProjectCreated", {**project_created(name), "project_id": project_id}, actor="cli")
    return log


def test_workspace_projector_picks_up_new_projects(tmp_path: Path) -> None:
    projects = tmp_path / "projects"
    workspace = WorkspaceProjector(projects)
    assert workspace.project_list() == []
    first = _project(projects, "proj-00000001", "First")
    (projects / "not-a-project").mkdir()
    (projects / "proj-00000009").mkdir()  # no log yet
    assert workspace.refresh() == {"proj-00000001": [first.read().__next__()]}
    assert [v.name for v in workspace.project_list()] == ["First"]

    _project(projects, "proj-00000002", "Second")
    assert [v.name for v in workspace.project_list()] == ["First"]  # until the next refresh
    fresh = workspace.refresh()
    assert list(fresh) == ["proj-00000002"]
    assert [v.name for v in workspace.project_list()] == ["First", "Second"]
    assert workspace.project_ids() == ["proj-00000001", "proj-00000002"]

    first.append("ProjectDeleted", {})
    workspace.refresh()
    assert [v.name for v in workspace.project_list()] == ["Second"]
    assert workspace.project_views()["proj-00000001"].deleted

    third = _project(projects, "proj-00000003", "Third")
    third.append("ImagesAdded", {"images": [image(1, "cat")]}, actor="job")
    assert workspace.projector("proj-00000003").view("dataset").label_counts == {"cat": 1}
    with pytest.raises(KeyError):
        workspace.projector("proj-0000000f")


def test_workspace_projector_needs_the_project_view(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="project"):
        WorkspaceProjector(tmp_path, {"dataset": ALL_PROJECTIONS["dataset"]})
