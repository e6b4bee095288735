"""Events a view cannot read (a newer version, data invalid for its schema): kept, skipped.

Each case folds a small project with one bad event in the middle and checks that every view
that skips it equals the one folded with a harmless event in its place (so a handler that failed
half-way left nothing behind) and lists it in ``skipped``, that the views with no handler for it
are unchanged, and that the incremental projector agrees with a full replay and warns once. A
view whose handler reads the event without failing keeps what it read (events are validated
only when a handler fails: never on the hot path).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import projections.base
from events import Event, EventLog
from projections import ALL_PROJECTIONS, Projection, ProjectProjector
from projections.base import SkippedEvent
from projections.experiments import ExperimentsView
from projections.serialize import to_jsonable
from tests.projections.helpers import (
    Events,
    event_id,
    image,
    image_id,
    project_created,
    snapshot,
    split_data,
    timestamp,
)

EXPERIMENT = "exp-0000beef"
CONFIG = {"model": "resnet18", "epochs": 1}


@dataclass(frozen=True)
class Bad:
    """One unreadable event: its type, version and data, the views that skip it, and a word of
    the reason they give."""

    type: str
    v: int
    data: dict[str, Any]
    views: frozenset[str]
    reason: str


def _training(**changes: Any) -> dict[str, Any]:
    data = {"experiment_id": EXPERIMENT, "name": "run", "split": "default", "config": CONFIG}
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


BAD: dict[str, Bad] = {
    "training of a newer version, split missing": Bad(
        "TrainingRequested", 2, _training(split=None), frozenset({"experiments"}), "newer"
    ),
    "training with split missing": Bad(
        "TrainingRequested", 1, _training(split=None), frozenset({"experiments"}), "split"
    ),
    # The dataset's handler stores the images, then fails on the unhashable sha256: half-way.
    # (The project view reads only the ids, and counts them.)
    "images whose sha256 is a list": Bad(
        "ImagesAdded",
        1,
        {"images": [image(50, "cat"), {**image(51, "dog"), "sha256": ["a"]}]},
        frozenset({"dataset"}),
        "sha256",
    ),
    "images of a newer version": Bad(
        "ImagesAdded", 3, {"images": [image(60, "cat")]}, frozenset({"dataset", "project"}), "v3"
    ),
    "a label change of a newer version": Bad(
        "LabelChanged",
        2,
        {"image_id": image_id(1), "label": "dog", "value": None},
        frozenset({"dataset"}),
        "newer",
    ),
    "a rename without a name": Bad("ProjectRenamed", 1, {}, frozenset({"project"}), "name"),
    "a split whose assignments are a list": Bad(
        "SplitCreated",
        1,
        {**split_data("other", [], [], []), "assignments": [1, 2]},
        frozenset({"dataset", "splits"}),
        "assignments",
    ),
    "an export without its id": Bad(
        "ExportRequested",
        1,
        {"experiment_id": EXPERIMENT, "checkpoint": "best", "format": "onnx", "options": {}},
        frozenset({"exports"}),
        "export_id",
    ),
    "an evaluation result of a newer version": Bad(
        "EvaluationCompleted", 2, {"experiment_id": EXPERIMENT}, frozenset({"evaluation"}), "v2"
    ),
}


def _project(bad: Event | None) -> Events:
    """A small project; at seq 6, ``bad`` (or, without it, an event no view reads)."""
    log = Events()
    log.add("ProjectCreated", project_created())
    log.add("ClassesDefined", {"classes": ["cat", "dog"]})
    log.add("ImagesAdded", {"images": [image(n, "cat" if n % 2 else "dog") for n in range(1, 7)]})
    ids = [image_id(n) for n in range(1, 7)]
    log.add("SplitCreated", split_data("default", ids[:4], ids[4:5], ids[5:]))
    log.add("TrainingRequested", _training(experiment_id="exp-00000001", name="first"))
    if bad is None:
        log.add("NothingAnyViewReads", {"note": "stands in for the bad event"})
    else:
        log.events.append(bad)
    log.add("LabelChanged", {"image_id": image_id(2), "label": "cat", "value": None})
    log.add("TrainingRequested", _training(experiment_id="exp-00000002", name="second"))
    log.add("ImagesAdded", {"images": [image(70, "dog")]})
    log.add("ProjectRenamed", {"name": "Pets again"})
    return log


def _bad_event(case: Bad) -> Event:
    return Event(6, event_id(6), timestamp(6), case.type, case.v, "script", None, case.data)


def _plain(view: Any) -> Any:
    """The view as plain data, without ``skipped``."""
    data = to_jsonable(view)
    data.pop("skipped")
    return data


def _reads(name: str, case: Bad) -> bool:
    """Whether the view ``name`` reads (does not skip) the case's event although it handles it."""
    return name not in case.views and ALL_PROJECTIONS[name].resolve(case.type) is not None


@pytest.fixture(params=list(BAD), ids=list(BAD))
def case(request: pytest.FixtureRequest) -> Bad:
    return BAD[request.param]


def test_every_view_skips_the_event_and_equals_the_view_without_it(case: Bad) -> None:
    bad = _bad_event(case)
    with_bad = _project(bad)
    without = _project(None)
    for name, projection in ALL_PROJECTIONS.items():
        view = projection.rebuild(with_bad)
        expected = projection.rebuild(without)
        if name == "jobs" and case.type.endswith("Requested"):
            # A command is a job whatever its data: the worker refuses it (invalid_command).
            assert view.get(bad.id).status == "pending"
        if _reads(name, case):
            assert view.skipped == (), name
            continue
        assert _plain(view) == _plain(expected), name
        if name in case.views:
            (skipped,) = view.skipped
            assert skipped[:3] == (6, bad.id, case.type), name
            assert case.reason in skipped.reason, (name, skipped.reason)
        else:
            assert view.skipped == (), name
        # Time travel up to and past it.
        assert _plain(projection.rebuild(with_bad, until_seq=6)) == _plain(
            projection.rebuild(without, until_seq=6)
        )


def test_the_reason_names_the_version_or_the_field() -> None:
    view = ALL_PROJECTIONS["experiments"].rebuild(
        _project(_bad_event(BAD["training of a newer version, split missing"]))
    )
    assert view.skipped == (
        SkippedEvent(
            6,
            event_id(6),
            "TrainingRequested",
            "TrainingRequested v2 is newer than this version knows (v1)",
        ),
    )
    invalid = ALL_PROJECTIONS["experiments"].rebuild(
        _project(_bad_event(BAD["training with split missing"]))
    )
    assert invalid.skipped[0].reason.startswith("invalid for its schema: TrainingRequested: split")


def test_a_command_of_a_newer_version_is_still_a_job_for_the_worker_to_refuse() -> None:
    bad = _bad_event(BAD["training of a newer version, split missing"])
    views = {n: p.rebuild(_project(bad)) for n, p in ALL_PROJECTIONS.items()}
    experiments: ExperimentsView = views["experiments"]
    assert EXPERIMENT not in experiments.experiments
    job = views["jobs"].get(bad.id)
    assert job is not None and (job.status, job.command_type) == ("pending", "TrainingRequested")
    assert views["jobs"].skipped == ()


def test_a_generator_of_events_is_folded_again_without_the_bad_one() -> None:
    log = _project(_bad_event(BAD["images whose sha256 is a list"]))
    view = ALL_PROJECTIONS["dataset"].rebuild(iter(log.events))
    assert _plain(view) == _plain(ALL_PROJECTIONS["dataset"].rebuild(_project(None)))
    assert image_id(50) not in view.images


def test_a_handler_that_fails_on_a_valid_event_is_a_bug_and_is_not_hidden() -> None:
    proj: Projection[ExperimentsView] = Projection("broken", ExperimentsView)

    @proj.on("ProjectRenamed")
    def _broken(view: ExperimentsView, event: Event) -> ExperimentsView:
        return event.data["no such field"]

    log = Events()
    log.add("ProjectRenamed", {"name": "valid"})
    with pytest.raises(KeyError, match="no such field"):
        proj.rebuild(log)


# ---------------------------------------------------------------- the incremental projector
def _write(path: Path, events: list[Event]) -> None:
    with path.open("ab") as handle:
        handle.write(b"".join(event.to_line() for event in events))


def test_the_incremental_projector_skips_it_equals_a_replay_and_warns_once(
    case: Bad, tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(projections.base, "_warned", set())  # what this process warned about
    path = tmp_path / "events.jsonl"
    events = _project(_bad_event(case)).events
    projector = ProjectProjector(path)
    handed_out: list[tuple[Any, Any]] = []
    with caplog.at_level(logging.WARNING, logger="projections.base"):
        for event in events:  # one refresh per event, each view handed out in between
            _write(path, [event])
            projector.update()
            for name in ALL_PROJECTIONS:
                view = projector.view(name)
                handed_out.append((view, snapshot(view)))
        incremental = projector.views()
        fresh = ProjectProjector(path)
        replay = fresh.views()
        later = fresh.at("dataset", 7)
    for name in ALL_PROJECTIONS:
        assert incremental[name] == replay[name], name
        if not _reads(name, case):
            expected = ALL_PROJECTIONS[name].rebuild(_project(None))
            assert _plain(incremental[name]) == _plain(expected), name
    for view, before in handed_out:
        assert snapshot(view) == before, "a view handed out changed"
    assert _plain(later) == _plain(ALL_PROJECTIONS["dataset"].rebuild(_project(None), 7))
    assert [s.seq for s in projector.skipped()] == [6]
    assert projector.skipped() == fresh.skipped()
    warnings = [r.getMessage() for r in caplog.records if "seq 6" in r.getMessage()]
    assert len(warnings) == 1, warnings
    assert case.type in warnings[0]


def test_a_whole_log_read_at_once_skips_it_too(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    _write(path, _project(_bad_event(BAD["images whose sha256 is a list"])).events)
    projector = ProjectProjector(path)
    assert len(projector.refresh()) == 10
    assert _plain(projector.view("dataset")) == _plain(
        ALL_PROJECTIONS["dataset"].rebuild(_project(None))
    )
    assert [s.seq for s in projector.view("dataset").skipped] == [6]
    # What follows is folded as usual.
    EventLog(path).append("ProjectRenamed", {"name": "after"}, actor="cli")
    projector.update()
    assert projector.view("project").name == "after"
    assert [s.seq for s in projector.skipped()] == [6]


def test_views_kept_under_other_names_and_time_travel_skip_it_too(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    _write(path, _project(_bad_event(BAD["images whose sha256 is a list"])).events[:5])
    projector = ProjectProjector(path, {"images": ALL_PROJECTIONS["dataset"]})
    projector.update()
    _write(path, _project(_bad_event(BAD["images whose sha256 is a list"])).events[5:])
    projector.update()
    expected = ALL_PROJECTIONS["dataset"].rebuild(_project(None))
    assert _plain(projector.view("images")) == _plain(expected)
    fresh = ProjectProjector(path, {"images": ALL_PROJECTIONS["dataset"]})
    for seq in (5, 6, 8):
        travelled = fresh.at("images", seq)
        assert _plain(travelled) == _plain(ALL_PROJECTIONS["dataset"].rebuild(_project(None), seq))
        assert [s.seq for s in travelled.skipped] == ([6] if seq >= 6 else [])
