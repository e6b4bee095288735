"""Events of a project's life: created, renamed, deleted."""

from __future__ import annotations

from events.registry import EventData, registry
from events.schemas.common import Description, Name, ProjectId, Task


@registry.register("ProjectCreated")
class ProjectCreated(EventData):
    """A project was created; the first event of every project log."""

    project_id: ProjectId
    name: Name
    task: Task
    description: Description = ""


@registry.register("ProjectRenamed")
class ProjectRenamed(EventData):
    """The project got a new name."""

    name: Name


@registry.register("ProjectDeleted")
class ProjectDeleted(EventData):
    """The project was deleted: it leaves the project list; its log is kept."""
