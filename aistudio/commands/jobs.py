"""Jobs: cancel."""

from __future__ import annotations

from aistudio.commands.base import (
    CommandError,
    append_event,
    log_of,
)
from aistudio.workspace import Workspace
from events import Event


def request_cancel(workspace: Workspace, project_id: str, job_id: str, actor: str = "cli") -> Event:
    """Ask the job ``job_id`` to stop."""
    from projections.jobs import rebuild as rebuild_jobs

    jobs = rebuild_jobs(log_of(workspace, project_id).read())
    job = jobs.get(job_id)
    if job is None:
        raise CommandError(f"no job {job_id!r} in this project")
    if job.status in ("succeeded", "failed", "cancelled"):
        raise CommandError(f"job {job_id} has already ended ({job.status})")
    return append_event(workspace, project_id, "CancelRequested", {"job_id": job_id}, actor)
