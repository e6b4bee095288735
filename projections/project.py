"""The project view: name, task, description, creation, last activity, deletion, image count."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from events import Event
from projections.base import Projection, SharedContainers, SkippedEvent


@dataclass(slots=True, eq=True)
class ProjectView(SharedContainers):
    """One project as of event ``seq``.

    Attributes:
        seq: the seq of the last event folded.
        project_id: the project's id (empty until ``ProjectCreated``).
        name: the project's current name.
        task: the task (``classification``, ``detection``, …).
        description: free text.
        created_ts: time of ``ProjectCreated`` (None until then).
        last_activity_ts: time of the last event of any type (None for an empty log).
        deleted: whether the project was deleted.
        image_count: number of images in the dataset.
    """

    seq: int = 0
    project_id: str = ""
    name: str = ""
    task: str = ""
    description: str = ""
    created_ts: str | None = None
    last_activity_ts: str | None = None
    deleted: bool = False
    image_count: int = 0
    skipped: tuple[SkippedEvent, ...] = ()
    """The events this view could not read (kept in the log, skipped): see ``SkippedEvent``."""
    _image_ids: set[str] = field(default_factory=set, init=False, repr=False, compare=False)
    _shared: set[str] = field(default_factory=set, init=False, repr=False, compare=False)

    _COPIERS = {"_image_ids": set.copy}


projection: Projection[ProjectView] = Projection("project", ProjectView)


@projection.on("ProjectCreated")
def _created(view: ProjectView, event: Event) -> ProjectView:
    data = event.data
    view.project_id = data["project_id"]
    view.name = data["name"]
    view.task = data["task"]
    view.description = data.get("description", "")
    view.created_ts = event.ts
    view.deleted = False
    return view


@projection.on("ProjectRenamed")
def _renamed(view: ProjectView, event: Event) -> ProjectView:
    view.name = event.data["name"]
    return view


@projection.on("ProjectDeleted")
def _deleted(view: ProjectView, event: Event) -> ProjectView:
    view.deleted = True
    return view


@projection.on("ImagesAdded")
def _images_added(view: ProjectView, event: Event) -> ProjectView:
    if view._shared:
        view._own("_image_ids")
    ids = view._image_ids
    ids.update([record["image_id"] for record in event.data["images"]])
    view.image_count = len(ids)
    return view


@projection.on("ImageRemoved")
def _image_removed(view: ProjectView, event: Event) -> ProjectView:
    image_id = event.data["image_id"]
    if image_id in view._image_ids:
        view._own("_image_ids")
        view._image_ids.discard(image_id)
        view.image_count = len(view._image_ids)
    return view


@projection.on_every
def _activity(view: ProjectView, event: Event) -> ProjectView:
    view.last_activity_ts = event.ts
    return view


def rebuild(events: Iterable[Event], until_seq: int | None = None) -> ProjectView:
    """The project view folded from ``events`` (only ``seq <= until_seq`` when given)."""
    return projection.rebuild(events, until_seq)
