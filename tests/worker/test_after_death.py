"""A job that dies without its end: the worker appends ``JobFailed`` and then tidies up after
it (``handlers.AFTER_DEATH``): a killed import's stored files go at once."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from aistudio.worker import supervisor
from aistudio.worker.handlers import AFTER_DEATH, resolve_after_death
from aistudio.workspace import Workspace
from tests.datasets.support import events_of, leftovers, make_project, request_import


def _claimed_and_killed(
    workspace: Workspace, project_id: str, job_id: str
) -> supervisor.RunningJob:
    """The job claimed by this 'worker', its process killed by SIGKILL mid-way."""
    projector = supervisor.jobs_projector(workspace, project_id)
    lock = supervisor.claim(workspace, projector, project_id, job_id, "worker-test")
    assert lock is not None
    process = subprocess.Popen(
        [sys.executable, "-c", "import os, signal; os.kill(os.getpid(), signal.SIGKILL)"]
    )
    process.wait(timeout=30)
    log_path = workspace.job_log_path(project_id, job_id)
    return supervisor.RunningJob(project_id, job_id, process, lock, log_path)  # type: ignore[arg-type]


def test_a_killed_import_has_its_files_removed_by_the_worker(
    workspace: Workspace, tmp_path: Path
) -> None:
    project_id = make_project(workspace)
    job_id = request_import(workspace, project_id, tmp_path / "src").job_id
    left = leftovers(workspace, project_id)
    running = _claimed_and_killed(workspace, project_id, job_id)
    supervisor.reap(workspace, supervisor.jobs_projector(workspace, project_id), running)
    ends = [e for e in events_of(workspace, project_id) if e.type == "JobFailed"]
    assert [e.data["reason"] for e in ends] == ["process_died"]
    assert not any(path.exists() for path in left)


def test_an_import_whose_worker_was_lost_is_tidied_too(
    workspace: Workspace, tmp_path: Path
) -> None:
    project_id = make_project(workspace)
    job_id = request_import(workspace, project_id, tmp_path / "src").job_id
    projector = supervisor.jobs_projector(workspace, project_id)
    lock = supervisor.claim(workspace, projector, project_id, job_id, "worker-gone")
    assert lock is not None
    left = leftovers(workspace, project_id)
    lock.release()  # the worker and its job died: nobody holds the job's lock
    assert supervisor.recover_orphans(workspace, projector, project_id, set()) == [job_id]
    assert not any(path.exists() for path in left)


def test_other_jobs_leave_image_files_alone(workspace: Workspace) -> None:
    """Only imports store image files: a dead training job (or an unknown job) sweeps nothing."""
    assert resolve_after_death("TrainingRequested") is None
    assert set(AFTER_DEATH) == {"ImportRequested"}
    project_id = make_project(workspace)
    left = leftovers(workspace, project_id)
    projector = supervisor.jobs_projector(workspace, project_id)
    supervisor.tidy_after_death(workspace, projector, project_id, "evt-0000000000000000")
    assert all(path.exists() for path in left)


def test_every_tidy_up_resolves() -> None:
    for command_type in AFTER_DEATH:
        assert callable(resolve_after_death(command_type))
