"""Waiting for a job from the command line, running it here when no worker is alive.

This is what ``aistudio … --wait`` uses, so a script needs no server: the job still runs in its
own process, claimed and ended exactly as a worker would.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from aistudio.worker import supervisor
from aistudio.worker.service import any_worker_alive
from aistudio.workspace import Workspace
from projections.jobs import JobEntry

logger = logging.getLogger(__name__)


def wait_for_job(
    workspace: Workspace,
    project_id: str,
    job_id: str,
    on_update: Callable[[JobEntry], None] | None = None,
    poll_s: float = 0.2,
) -> JobEntry:
    """Block until ``job_id`` has ended and return its final state.

    When no worker is alive, the job is claimed and run here (in a child process). Ctrl-C stops
    a job started here and records its end before re-raising.
    """
    projector = supervisor.jobs_projector(workspace, project_id)
    worker_id = supervisor.new_worker_id("cli")
    running: supervisor.RunningJob | None = None
    try:
        while True:
            job = supervisor.jobs_view(projector).get(job_id)
            if job is None:
                raise KeyError(f"no job {job_id} in project {project_id}")
            if job.status in supervisor.TERMINAL:
                return job
            if on_update is not None:
                on_update(job)
            if running is not None:
                supervisor.enforce_cancel(running, job)
                if running.process.poll() is not None:
                    supervisor.reap(workspace, projector, running)
                    running = None
                    continue
            elif not any_worker_alive(workspace):
                supervisor.recover_orphans(workspace, projector, project_id, mine=set())
                supervisor.cancel_pending(workspace, projector, project_id)
                if job.status == "pending" and not job.cancel_requested:
                    if supervisor.fail_invalid(
                        workspace, projector, project_id, job, worker_id, "cli"
                    ):
                        continue
                    lock = supervisor.claim(
                        workspace, projector, project_id, job_id, worker_id, "cli"
                    )
                    if lock is not None:
                        running = supervisor.start(workspace, project_id, job_id, lock)
                        continue
            time.sleep(poll_s)
    except KeyboardInterrupt:
        if running is not None:
            supervisor.stop(running)
            supervisor.reap(workspace, projector, running)
        raise
