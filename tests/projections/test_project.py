"""The project view and the project list."""

from __future__ import annotations

from projections import project
from projections.project import ProjectView
from projections.project_list import project_list
from tests.projections.helpers import Events, image, image_id, project_created, snapshot


def test_empty_log() -> None:
    view = project.rebuild([])
    assert view == ProjectView()
    assert view.created_ts is None and view.last_activity_ts is None


def test_created_renamed_deleted() -> None:
    log = Events()
    created = log.add(
        "ProjectCreated", {**project_created("Pets"), "description": "d"}, actor="cli"
    )
    view = project.rebuild(log)
    assert (view.project_id, view.name, view.task, view.description) == (
        "proj-0000cafe",
        "Pets",
        "classification",
        "d",
    )
    assert view.created_ts == created.ts == view.last_activity_ts
    assert not view.deleted
    log.add("ProjectRenamed", {"name": "Animals"})
    log.add("ProjectDeleted", {})
    view = project.rebuild(log)
    assert view.name == "Animals" and view.deleted and view.seq == 3
    assert view.created_ts == created.ts


def test_last_activity_follows_every_event_unknown_types_included() -> None:
    log = Events()
    log.add("ProjectCreated", project_created())
    log.add("JobProgress", {"job_id": "evt-00000000000000aa", "done": 1})
    last = log.add("NotAKnownType", {"anything": 1})
    view = project.rebuild(log)
    assert view.last_activity_ts == last.ts
    assert view.seq == 3
    assert project.rebuild(log, until_seq=2).last_activity_ts == log.events[1].ts


def test_image_count_ignores_repeats_and_unknown_removals() -> None:
    log = Events()
    log.add("ProjectCreated", project_created())
    log.add("ImagesAdded", {"images": [image(1), image(2), image(3)]})
    log.add("ImagesAdded", {"images": [image(3), image(4)]})
    assert project.rebuild(log).image_count == 4
    log.add("ImageRemoved", {"image_id": image_id(1)})
    log.add("ImageRemoved", {"image_id": image_id(1)})
    log.add("ImageRemoved", {"image_id": image_id(99)})
    assert project.rebuild(log).image_count == 3


def test_copy_is_independent() -> None:
    log = Events()
    log.add("ProjectCreated", project_created())
    log.add("ImagesAdded", {"images": [image(1), image(2)]})
    view = project.rebuild(log)
    frozen = snapshot(view)
    copied = view.copy()
    project.projection.apply(copied, log.add("ImageRemoved", {"image_id": image_id(1)}))
    project.projection.apply(copied, log.add("ProjectRenamed", {"name": "New"}))
    assert snapshot(view) == frozen and view.image_count == 2
    assert copied.image_count == 1 and copied.name == "New"
    project.projection.apply(view, log.add("ImagesAdded", {"images": [image(5)]}))
    assert view.image_count == 3 and copied.image_count == 1


def _view(project_id: str, created_ts: str | None, deleted: bool = False) -> ProjectView:
    return ProjectView(
        seq=1, project_id=project_id, name=project_id, created_ts=created_ts, deleted=deleted
    )


def test_project_list_sorts_by_creation_and_leaves_out_deleted_and_empty() -> None:
    views = {
        "proj-00000003": _view("proj-00000003", "2026-01-02T00:00:00.000Z"),
        "proj-00000001": _view("proj-00000001", "2026-01-03T00:00:00.000Z"),
        "proj-00000002": _view("proj-00000002", "2026-01-01T00:00:00.000Z"),
        "proj-00000004": _view("proj-00000004", "2026-01-01T00:00:00.000Z", deleted=True),
        "proj-00000005": ProjectView(),
        "proj-00000000": _view("proj-00000000", "2026-01-02T00:00:00.000Z"),
    }
    assert [v.project_id for v in project_list(views)] == [
        "proj-00000002",
        "proj-00000000",
        "proj-00000003",
        "proj-00000001",
    ]
    assert project_list({}) == []
