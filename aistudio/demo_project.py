"""The demo project a new workspace starts with: handwritten digits, imported and split."""

from __future__ import annotations

import logging

from aistudio import commands
from aistudio.workspace import Workspace
from events import Event

logger = logging.getLogger(__name__)

DEMO_NAME = "Digits demo"
DEMO_DESCRIPTION = "scikit-learn's handwritten digits as 32 px PNGs: 10 classes, 300 images."


def ensure_demo_project(workspace: Workspace) -> tuple[str, Event | None]:
    """Create the demo project and request its import, unless a live one exists.

    Returns:
        The demo project's id and the ``ImportRequested`` command appended (None when the
        project already had images or an import pending).
    """
    live = {v.name: pid for pid, v in commands.project_views(workspace).items() if not v.deleted}
    project_id = live.get(DEMO_NAME)
    if project_id is None:
        created = commands.create_project(
            workspace, DEMO_NAME, "classification", DEMO_DESCRIPTION, actor="cli"
        )
        project_id = str(created.data["project_id"])
        logger.info("created the demo project %s", project_id)
    if commands.dataset_view(workspace, project_id).images:
        return project_id, None
    from projections.jobs import rebuild as rebuild_jobs

    jobs = rebuild_jobs(commands.events_of(workspace, project_id))
    if any(j.command_type == "ImportRequested" and not j.is_terminal for j in jobs.jobs.values()):
        return project_id, None
    command = commands.request_import(workspace, project_id, workspace.demo_source(), "imagefolder")
    return project_id, command
