"""Projects: create, rename, delete, resolve a name, list."""

from __future__ import annotations

import logging

from aistudio.commands.base import (
    CommandError,
    append_event,
    log_of,
    validate_data,
)
from aistudio.workspace import Workspace, new_id
from events import Event, EventLogError
from events.schemas.common import TASKS
from projections import project as project_projection
from projections.project import ProjectView

logger = logging.getLogger(__name__)


def project_views(workspace: Workspace) -> dict[str, ProjectView]:
    """Every readable project's view (deleted ones included), by id.

    A project whose log cannot be read is left out, so that it cannot stop work on the others;
    :func:`scan_projects` names them and ``aistudio verify`` the damage.
    """
    return scan_projects(workspace)[0]


def scan_projects(workspace: Workspace) -> tuple[dict[str, ProjectView], dict[str, str]]:
    """In one read of every log: the readable projects' views (as :func:`project_views`), and
    project id -> why its log cannot be read (damaged mid-file, unreadable file)."""
    views: dict[str, ProjectView] = {}
    unreadable: dict[str, str] = {}
    for project_id in workspace.project_ids():
        try:
            views[project_id] = project_projection.rebuild(log_of(workspace, project_id).read())
        except (EventLogError, OSError) as exc:
            logger.debug("project %s cannot be read: %s", project_id, exc)
            unreadable[project_id] = str(exc)
    return views, unreadable


def resolve_project(workspace: Workspace, ref: str) -> str:
    """The id of the live project ``ref`` names (an id or a unique name)."""
    if ref in workspace.project_ids():
        try:
            deleted = project_projection.rebuild(log_of(workspace, ref).read()).deleted
        except (EventLogError, OSError):
            return ref  # cannot be read: let the caller (verify, events) report it
        if not deleted:
            return ref
        raise CommandError(f"project {ref} was deleted")
    all_views, unreadable = scan_projects(workspace)
    views = {pid: v for pid, v in all_views.items() if not v.deleted}
    matches = [pid for pid, view in views.items() if view.name == ref]
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        raise CommandError(f"several projects are named {ref!r}: use an id ({', '.join(matches)})")
    hint = ""
    if unreadable:
        ids = ", ".join(sorted(unreadable))
        hint = (
            f" ({len(unreadable)} project log{'s' if len(unreadable) > 1 else ''} cannot be "
            f"read, so {'their names are' if len(unreadable) > 1 else 'its name is'} unknown: "
            f"{ids}; name it by id)"
        )
    raise CommandError(f"no project {ref!r}: see `aistudio project list`{hint}")


def set_aside_reason(workspace: Workspace, project_id: str) -> str | None:
    """Why a live worker has set ``project_id`` aside (its log damaged, unreadable, …), or None.

    Read from the workers' quarantine lists (small files under ``.run/``; torch-free)."""
    from aistudio.worker.quarantine import quarantine_reason

    return quarantine_reason(workspace, project_id)


def create_project(
    workspace: Workspace, name: str, task: str, description: str = "", actor: str = "cli"
) -> Event:
    """Create a project: a new folder whose log starts with ``ProjectCreated``."""
    if task not in TASKS:
        raise CommandError(f"unknown task {task!r}: choose one of {', '.join(TASKS)}")
    clean = name.strip()
    live = [v for v in project_views(workspace).values() if not v.deleted]
    if any(v.name.casefold() == clean.casefold() for v in live):
        raise CommandError(f"a project named {clean!r} already exists")
    project_id = new_id("proj", taken=lambda pid: workspace.project_dir(pid).exists())
    data = {"project_id": project_id, "name": name, "task": task, "description": description}
    validate_data("ProjectCreated", data)
    workspace.project_dir(project_id).mkdir(parents=True)
    return append_event(workspace, project_id, "ProjectCreated", data, actor, expected_seq=0)


def rename_project(workspace: Workspace, project_id: str, name: str, actor: str = "cli") -> Event:
    """Give a project a new (unique) name."""
    clean = name.strip()
    others = [
        v for pid, v in project_views(workspace).items() if not v.deleted and pid != project_id
    ]
    if any(v.name.casefold() == clean.casefold() for v in others):
        raise CommandError(f"a project named {clean!r} already exists")
    return append_event(workspace, project_id, "ProjectRenamed", {"name": name}, actor)


def delete_project(workspace: Workspace, project_id: str, actor: str = "cli") -> Event:
    """Delete a project: it leaves the project list; its log and files are kept."""
    return append_event(workspace, project_id, "ProjectDeleted", {}, actor)
