"""Runs that do not end normally: cancelled, or their worker killed, then resumed."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import pytest

from aistudio import commands
from aistudio.worker.locks import is_held
from aistudio.worker.service import Worker
from aistudio.workspace import Workspace
from tests.helpers import terminal_events, wait_until
from tests.training.support import (
    TINY,
    digits_project,
    kill_group,
    of_experiment,
    of_job,
    worker_process,
)

LONG = {**TINY, "epochs": 40}
"""A run that is still going when the test steps in."""


def _first_last_checkpoint(workspace: Workspace, project_id: str, exp: str) -> None:
    wait_until(
        lambda: any(
            e.data["which"] == "last"
            for e in of_experiment(workspace, project_id, exp, "CheckpointSaved")
        ),
        timeout_s=90,
        what="the first last.ckpt",
    )


@pytest.mark.slow
def test_cancel_stops_the_run_within_seconds_and_keeps_last(
    workspace: Workspace, tmp_path: Path
) -> None:
    project_id = digits_project(workspace, tmp_path)
    command = commands.request_training(workspace, project_id, "long", "default", LONG)
    exp = command.data["experiment_id"]
    worker = worker_process(workspace)
    try:
        _first_last_checkpoint(workspace, project_id, exp)
        asked = time.monotonic()
        commands.request_cancel(workspace, project_id, command.id)
        wait_until(
            lambda: bool(terminal_events(workspace, project_id, command.id)),
            timeout_s=30,
            what="the end of the cancelled job",
        )
        took = time.monotonic() - asked
    finally:
        worker.terminate()
        worker.wait(timeout=30)
    (end,) = terminal_events(workspace, project_id, command.id)
    assert end.type == "JobCancelled"
    assert end.data["reason"] == "cancelled on request"  # it stopped itself, was not killed
    assert took < 8, f"the run took {took:.1f} s to stop"
    assert not of_job(workspace, project_id, command.id, "TrainingCompleted")
    lasts = [
        e
        for e in of_experiment(workspace, project_id, exp, "CheckpointSaved")
        if e.data["which"] == "last"
    ]
    path = workspace.checkpoint_path(project_id, exp, "last")
    assert hashlib.sha256(path.read_bytes()).hexdigest() == lasts[-1].data["sha256"]
    assert lasts[-1].data["epoch"] < LONG["epochs"]


@pytest.mark.slow
def test_killed_worker_leaves_a_run_that_resumes(workspace: Workspace, tmp_path: Path) -> None:
    project_id = digits_project(workspace, tmp_path)
    command = commands.request_training(workspace, project_id, "doomed", "default", LONG)
    exp = command.data["experiment_id"]
    worker = worker_process(workspace)
    try:
        _first_last_checkpoint(workspace, project_id, exp)
        (started,) = of_job(workspace, project_id, command.id, "JobStarted")
    finally:
        kill_group(worker.pid)
        worker.wait(timeout=30)
    kill_group(started.data["pid"])  # the job process and its data loader workers
    lock = workspace.job_lock_path(project_id, command.id)
    wait_until(lambda: not is_held(lock), timeout_s=30, what="the job's processes to be gone")
    saved = max(
        e.data["epoch"]
        for e in of_experiment(workspace, project_id, exp, "CheckpointSaved")
        if e.data["which"] == "last"
    )

    Worker(workspace).run(once=True)  # the next worker finds the orphan
    (end,) = terminal_events(workspace, project_id, command.id)
    assert end.type == "JobFailed" and end.data["reason"] == "worker_lost"

    target = saved + 2
    resume = commands.request_training(
        workspace, project_id, None, None, {"epochs": target}, resume_experiment=exp
    )
    assert resume.data["resume"] and resume.data["experiment_id"] == exp
    Worker(workspace).run(once=True)
    assert [e.type for e in terminal_events(workspace, project_id, resume.id)] == ["JobSucceeded"]
    (again,) = of_job(workspace, project_id, resume.id, "TrainingStarted")
    start = again.data["start_epoch"]
    assert start >= saved and again.data["epochs"] == target
    assert "resumed" in again.data["weights"]
    epochs = [e.data["epoch"] for e in of_job(workspace, project_id, resume.id, "EpochCompleted")]
    assert epochs == list(range(start + 1, target + 1))
    (done,) = of_job(workspace, project_id, resume.id, "TrainingCompleted")
    assert done.data["epochs_completed"] == target
